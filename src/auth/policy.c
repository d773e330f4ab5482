/*
 * policy.c - RAM policy documents: parsing (JSON text -> immutable fl_policy_t) and
 * evaluation of one request (action, resource ARN, request context) against one or more
 * policies. Everything a policy can get wrong is found at parse time (unknown keys,
 * operators or condition keys, malformed CIDRs and dates), so evaluation cannot fail and
 * allocates nothing. A parsed policy is never modified, so many threads may evaluate it.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth.h"

/* Limits on untrusted documents; FL_POLICY_MAX_BYTES already bounds the total. */
#define MAX_STATEMENTS 100
#define MAX_ITEMS 100      /* actions or resources per statement */
#define MAX_CONDITIONS 100 /* operator/key pairs per statement */
#define MAX_VALUES 100     /* values per condition key */

/* ---- data model ---- */

typedef enum { KEY_SOURCE_IP, KEY_SECURE_TRANSPORT, KEY_CURRENT_TIME } cond_key_t;

static const char *const key_names[] = {"acs:SourceIp", "acs:SecureTransport",
                                        "acs:CurrentTime"};

typedef enum { K_STR, K_STR_CI, K_LIKE, K_IP, K_BOOL, K_DATE } op_kind_t;
typedef enum { CMP_EQ, CMP_LT, CMP_LE, CMP_GT, CMP_GE } date_cmp_t;

static const struct {
    const char *name;
    op_kind_t kind;
    date_cmp_t cmp; /* K_DATE only */
    bool negated;   /* true: the condition holds when no value matches */
} ops[] = {
    {"StringEquals", K_STR, CMP_EQ, false},
    {"StringNotEquals", K_STR, CMP_EQ, true},
    {"StringEqualsIgnoreCase", K_STR_CI, CMP_EQ, false},
    {"StringNotEqualsIgnoreCase", K_STR_CI, CMP_EQ, true},
    {"StringLike", K_LIKE, CMP_EQ, false},
    {"StringNotLike", K_LIKE, CMP_EQ, true},
    {"IpAddress", K_IP, CMP_EQ, false},
    {"NotIpAddress", K_IP, CMP_EQ, true},
    {"Bool", K_BOOL, CMP_EQ, false},
    {"DateEquals", K_DATE, CMP_EQ, false},
    {"DateNotEquals", K_DATE, CMP_EQ, true},
    {"DateLessThan", K_DATE, CMP_LT, false},
    {"DateLessThanEquals", K_DATE, CMP_LE, false},
    {"DateGreaterThan", K_DATE, CMP_GT, false},
    {"DateGreaterThanEquals", K_DATE, CMP_GE, false},
};

/* An IP address of either family. IPv4-mapped IPv6 addresses are stored as IPv4, so
 * "::ffff:127.0.0.1" and "127.0.0.1" are the same address. */
typedef struct {
    uint8_t b[16]; /* IPv4 uses the first 4 bytes */
    bool v4;
} ipaddr_t;

typedef struct {
    ipaddr_t ip;   /* host bits already cleared */
    unsigned bits; /* prefix length within the family: 0-32 or 0-128 */
} cidr_t;

typedef struct {
    char *s;     /* the value as text (string operators) */
    cidr_t cidr; /* K_IP */
    int64_t ms;  /* K_DATE, ms since the epoch */
    bool b;      /* K_BOOL */
} cond_val_t;

typedef struct {
    size_t op; /* index into ops[] */
    cond_key_t key;
    cond_val_t *vals;
    size_t n_vals;
} cond_t;

typedef struct {
    bool deny;
    char **actions;
    size_t n_actions;
    char **resources;
    char **res_alt; /* per resource: the flow form of an executions-form pattern, or NULL */
    size_t n_resources;
    cond_t *conds;
    size_t n_conds;
} stmt_t;

struct fl_policy {
    stmt_t *stmts;
    size_t n_stmts;
};

/* ---- freeing (safe on partially built policies) ---- */

static void free_strs(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Frees p and everything it owns. NULL-safe; also used on half-parsed policies. */
void fl_policy_free(fl_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_stmts; i++) {
        stmt_t *st = &p->stmts[i];
        free_strs(st->actions, st->n_actions);
        free_strs(st->resources, st->n_resources);
        free_strs(st->res_alt, st->n_resources);
        for (size_t j = 0; j < st->n_conds; j++) {
            cond_t *c = &st->conds[j];
            for (size_t k = 0; k < c->n_vals; k++)
                free(c->vals[k].s);
            free(c->vals);
        }
        free(st->conds);
    }
    free(p->stmts);
    free(p);
}

/* ---- IP addresses ---- */

/* Parses an IPv4 or IPv6 address (no prefix, no zone). */
static bool ip_parse(const char *s, ipaddr_t *out /* OUT */)
{
    memset(out, 0, sizeof *out);
    if (strchr(s, ':')) {
        uint8_t b[16];
        if (inet_pton(AF_INET6, s, b) != 1)
            return false;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            memcpy(out->b, b + 12, 4);
            out->v4 = true;
        } else {
            memcpy(out->b, b, 16);
        }
        return true;
    }
    if (inet_pton(AF_INET, s, out->b) != 1)
        return false;
    out->v4 = true;
    return true;
}

/* Parses "addr" or "addr/prefix". A mapped IPv6 CIDR ("::ffff:10.0.0.0/104") becomes the
 * IPv4 CIDR it denotes. Host bits beyond the prefix are ignored (cleared). */
static bool cidr_parse(const char *s, cidr_t *out /* OUT */)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof buf)
        return false;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    bool written_v6 = strchr(buf, ':') != NULL;
    if (!ip_parse(buf, &out->ip))
        return false;
    unsigned max = written_v6 ? 128 : 32;
    unsigned bits = max;
    if (slash) {
        const char *d = slash + 1;
        size_t nd = strlen(d);
        if (nd == 0 || nd > 3 || strspn(d, "0123456789") != nd)
            return false;
        bits = (unsigned)atoi(d);
        if (bits > max)
            return false;
    }
    if (written_v6 && out->ip.v4) {
        /* A mapped address written in IPv6 form: its prefix counts the 96 mapped bits. */
        if (bits < 96) {
            /* Wider than the mapped block: keep it as the IPv6 network it literally is. */
            uint8_t b[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            memcpy(b + 12, out->ip.b, 4);
            memcpy(out->ip.b, b, 16);
            out->ip.v4 = false;
        } else {
            bits -= 96;
        }
    }
    unsigned nbytes = out->ip.v4 ? 4 : 16;
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned lo = i * 8;
        if (bits <= lo)
            out->ip.b[i] = 0;
        else if (bits < lo + 8)
            out->ip.b[i] &= (uint8_t)(0xff << (8 - (bits - lo)));
    }
    out->bits = bits;
    return true;
}

/* Whether ip lies in c. The families never mix: 0.0.0.0/0 does not contain ::1 and ::/0
 * does not contain 127.0.0.1 (nor ::ffff:127.0.0.1, which is an IPv4 address here). */
static bool cidr_contains(const cidr_t *c, const ipaddr_t *ip)
{
    if (c->ip.v4 != ip->v4)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->ip.b, ip->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (ip->b[full] & mask) == c->ip.b[full];
}

/* ---- wildcard matching ---- */

/* ASCII-only case folding, independent of the locale (ARNs and action names are ASCII). */
static int fold(char c, bool nocase)
{
    unsigned char u = (unsigned char)c;
    return nocase && u >= 'A' && u <= 'Z' ? u + ('a' - 'A') : u;
}

/* Matches s against pattern ('*' any run, '?' one byte), iteratively: on a mismatch the
 * most recent '*' absorbs one more byte and matching resumes after it. Earlier stars never
 * need revisiting, so the cost is O(len(pattern) * len(s)) at worst, with no recursion.
 * NULL never matches. */
bool fl_wildcard_match(const char *pattern, const char *s, bool nocase)
{
    if (!pattern || !s)
        return false;
    const char *p = pattern;
    const char *star = NULL; /* the last '*' seen in pattern */
    const char *resume = NULL; /* where in s that star's run currently ends */
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && (*p == '?' || fold(*p, nocase) == fold(*s, nocase))) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* ---- parsing ---- */

typedef struct {
    char *err;
    size_t errlen;
} pctx_t;

__attribute__((format(printf, 2, 3))) static int perr(pctx_t *pc, const char *fmt, ...)
{
    if (pc->err && pc->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pc->err, pc->errlen, fmt, ap);
        va_end(ap);
    }
    return FL_EINVALID_ARGUMENT;
}

/* Appends one string value of a list; the caller checked the count. */
static void push_str(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

/* Reads Action or Resource: a non-empty string or a non-empty list of them. */
static int parse_str_list(pctx_t *pc, json_t *j, const char *path, char ***out /* OUT */,
                          size_t *n /* OUT */)
{
    if (json_is_string(j)) {
        if (json_string_length(j) == 0)
            return perr(pc, "%s must not be empty", path);
        push_str(out, n, json_string_value(j));
        return FL_OK;
    }
    if (!json_is_array(j))
        return perr(pc, "%s must be a string or a list of strings", path);
    size_t cnt = json_array_size(j);
    if (cnt == 0)
        return perr(pc, "%s must not be an empty list", path);
    if (cnt > MAX_ITEMS)
        return perr(pc, "%s has more than %d entries", path, MAX_ITEMS);
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(j, i);
        if (!json_is_string(e))
            return perr(pc, "%s[%zu] must be a string", path, i);
        if (json_string_length(e) == 0)
            return perr(pc, "%s[%zu] must not be empty", path, i);
        push_str(out, n, json_string_value(e));
    }
    return FL_OK;
}

/* Action patterns are "*" or "<service>:<action>" (either side may hold wildcards). */
static int check_actions(pctx_t *pc, const stmt_t *st, const char *path, bool list)
{
    for (size_t i = 0; i < st->n_actions; i++) {
        const char *a = st->actions[i];
        const char *colon = strchr(a, ':');
        if (strcmp(a, "*") == 0 ||
            (colon && colon != a && colon[1] && !strchr(colon + 1, ':')))
            continue;
        if (list)
            return perr(pc, "%s[%zu] must be \"*\" or \"<service>:<action>\", not \"%.64s\"",
                        path, i, a);
        return perr(pc, "%s must be \"*\" or \"<service>:<action>\", not \"%.64s\"", path, a);
    }
    return FL_OK;
}

/* For a pattern "acs:fnf:<r>:<a>:flows/<flow>/executions/<anything>" returns the flow form
 * "acs:fnf:<r>:<a>:flow/<flow>" (flowd's decisions section 9), else NULL. An empty region or
 * account, as in the help page's "acs:fnf:::flows/<name>/executions/<exec>", stands for "*". */
static char *executions_to_flow(const char *pat)
{
    static const char pfx[] = "acs:fnf:";
    if (strncmp(pat, pfx, sizeof pfx - 1) != 0)
        return NULL;
    const char *region = pat + sizeof pfx - 1;
    const char *c1 = strchr(region, ':');
    if (!c1)
        return NULL;
    const char *account = c1 + 1;
    const char *c2 = strchr(account, ':');
    if (!c2 || strncmp(c2 + 1, "flows/", 6) != 0)
        return NULL;
    const char *flow = c2 + 7;
    const char *slash = strchr(flow, '/');
    if (!slash || slash == flow || strncmp(slash, "/executions/", 12) != 0)
        return NULL;
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, pfx);
    if (c1 == region)
        fl_buf_putc(&b, '*');
    else
        fl_buf_append(&b, region, (size_t)(c1 - region));
    fl_buf_putc(&b, ':');
    if (c2 == account)
        fl_buf_putc(&b, '*');
    else
        fl_buf_append(&b, account, (size_t)(c2 - account));
    fl_buf_puts(&b, ":flow/");
    fl_buf_append(&b, flow, (size_t)(slash - flow));
    return fl_buf_take(&b);
}

/* Turns one condition value into text: strings as they are, numbers and booleans as JSON
 * writes them. Objects, arrays and null are refused. */
static int value_text(pctx_t *pc, json_t *v, const char *path, char *buf, size_t len,
                      const char **out /* OUT */)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return FL_OK;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? "true" : "false";
        return FL_OK;
    }
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = buf;
        return FL_OK;
    }
    if (json_is_real(v)) {
        /* The shortest of %.15g/%.17g that reads back as the same double. */
        double d = json_real_value(v);
        snprintf(buf, len, "%.15g", d);
        if (strtod(buf, NULL) != d)
            snprintf(buf, len, "%.17g", d);
        *out = buf;
        return FL_OK;
    }
    return perr(pc, "%s must be a string, number or boolean", path);
}

/* Validates and stores one value of a condition according to the operator's kind. */
static int parse_value(pctx_t *pc, cond_t *c, json_t *v, const char *path)
{
    char num[64];
    const char *text = NULL;
    int rc = value_text(pc, v, path, num, sizeof num, &text);
    if (rc != FL_OK)
        return rc;
    cond_val_t cv;
    memset(&cv, 0, sizeof cv);
    switch (ops[c->op].kind) {
    case K_IP:
        if (!cidr_parse(text, &cv.cidr))
            return perr(pc, "%s is not a valid IP address or CIDR: \"%.64s\"", path, text);
        break;
    case K_BOOL:
        if (strcasecmp(text, "true") == 0)
            cv.b = true;
        else if (strcasecmp(text, "false") == 0)
            cv.b = false;
        else
            return perr(pc, "%s must be \"true\" or \"false\", not \"%.64s\"", path, text);
        break;
    case K_DATE:
        if (fl_time_parse(text, &cv.ms) != FL_OK)
            return perr(pc, "%s is not a valid ISO 8601 time: \"%.64s\"", path, text);
        break;
    case K_STR:
    case K_STR_CI:
    case K_LIKE:
        break;
    }
    cv.s = xstrdup(text);
    c->vals = xrealloc(c->vals, (c->n_vals + 1) * sizeof *c->vals);
    c->vals[c->n_vals++] = cv;
    return FL_OK;
}

/* Which keys an operator kind can be applied to; a mismatch would never match, so it is
 * reported as the mistake it almost certainly is. */
static bool kind_takes_key(op_kind_t kind, cond_key_t key)
{
    switch (kind) {
    case K_IP:
        return key == KEY_SOURCE_IP;
    case K_BOOL:
        return key == KEY_SECURE_TRANSPORT;
    case K_DATE:
        return key == KEY_CURRENT_TIME;
    case K_STR:
    case K_STR_CI:
    case K_LIKE:
        return true;
    }
    return false;
}

/* Reads "Condition": {Operator: {Key: value-or-list}}. */
static int parse_condition(pctx_t *pc, stmt_t *st, json_t *j, const char *spath)
{
    if (!json_is_object(j))
        return perr(pc, "%s.Condition must be an object", spath);
    const char *opname;
    json_t *block;
    json_object_foreach(j, opname, block) {
        size_t op = FL_ARRAY_LEN(ops);
        for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++)
            if (strcmp(ops[i].name, opname) == 0)
                op = i;
        if (op == FL_ARRAY_LEN(ops))
            return perr(pc, "%s.Condition.%.64s: unknown condition operator", spath, opname);
        if (!json_is_object(block))
            return perr(pc, "%s.Condition.%s must be an object", spath, opname);
        const char *keyname;
        json_t *vals;
        json_object_foreach(block, keyname, vals) {
            char kpath[256];
            snprintf(kpath, sizeof kpath, "%s.Condition.%s.%.64s", spath, opname, keyname);
            size_t key = FL_ARRAY_LEN(key_names);
            for (size_t i = 0; i < FL_ARRAY_LEN(key_names); i++)
                if (strcasecmp(key_names[i], keyname) == 0)
                    key = i;
            if (key == FL_ARRAY_LEN(key_names))
                return perr(pc, "%s: unsupported condition key", kpath);
            if (!kind_takes_key(ops[op].kind, (cond_key_t)key))
                return perr(pc, "%s: operator %s does not apply to %s", kpath, opname,
                            key_names[key]);
            if (st->n_conds == MAX_CONDITIONS)
                return perr(pc, "%s.Condition has more than %d keys", spath, MAX_CONDITIONS);
            st->conds = xrealloc(st->conds, (st->n_conds + 1) * sizeof *st->conds);
            cond_t *c = &st->conds[st->n_conds++];
            memset(c, 0, sizeof *c);
            c->op = op;
            c->key = (cond_key_t)key;
            if (!json_is_array(vals)) {
                int rc = parse_value(pc, c, vals, kpath);
                if (rc != FL_OK)
                    return rc;
                continue;
            }
            size_t cnt = json_array_size(vals);
            if (cnt == 0)
                return perr(pc, "%s must not be an empty list", kpath);
            if (cnt > MAX_VALUES)
                return perr(pc, "%s has more than %d values", kpath, MAX_VALUES);
            for (size_t i = 0; i < cnt; i++) {
                char vpath[300];
                snprintf(vpath, sizeof vpath, "%s[%zu]", kpath, i);
                int rc = parse_value(pc, c, json_array_get(vals, i), vpath);
                if (rc != FL_OK)
                    return rc;
            }
        }
    }
    return FL_OK;
}

static int parse_statement(pctx_t *pc, stmt_t *st, json_t *j, const char *spath)
{
    if (!json_is_object(j))
        return perr(pc, "%s must be an object", spath);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (strcmp(k, "Effect") != 0 && strcmp(k, "Action") != 0 &&
            strcmp(k, "Resource") != 0 && strcmp(k, "Condition") != 0)
            return perr(pc, "%s.%.64s is not supported", spath, k);
    }
    char path[128];
    json_t *eff = json_object_get(j, "Effect");
    if (!eff)
        return perr(pc, "%s.Effect is required", spath);
    if (json_is_string(eff) && strcmp(json_string_value(eff), "Allow") == 0)
        st->deny = false;
    else if (json_is_string(eff) && strcmp(json_string_value(eff), "Deny") == 0)
        st->deny = true;
    else
        return perr(pc, "%s.Effect must be Allow or Deny", spath);

    json_t *act = json_object_get(j, "Action");
    snprintf(path, sizeof path, "%s.Action", spath);
    if (!act)
        return perr(pc, "%s is required", path);
    int rc = parse_str_list(pc, act, path, &st->actions, &st->n_actions);
    if (rc == FL_OK)
        rc = check_actions(pc, st, path, json_is_array(act));
    if (rc != FL_OK)
        return rc;

    json_t *res = json_object_get(j, "Resource");
    snprintf(path, sizeof path, "%s.Resource", spath);
    if (!res)
        return perr(pc, "%s is required", path);
    rc = parse_str_list(pc, res, path, &st->resources, &st->n_resources);
    if (rc != FL_OK)
        return rc;
    st->res_alt = xcalloc(st->n_resources, sizeof *st->res_alt);
    for (size_t i = 0; i < st->n_resources; i++)
        st->res_alt[i] = executions_to_flow(st->resources[i]);

    json_t *cond = json_object_get(j, "Condition");
    if (cond)
        return parse_condition(pc, st, cond, spath);
    return FL_OK;
}

/* Parses a policy document; see auth.h. On failure *out is left NULL and err says which
 * part is wrong (JSON path first). */
int fl_policy_parse(const char *doc, size_t len, fl_policy_t **out, char *err, size_t errlen)
{
    pctx_t pc = {err, errlen};
    json_t *root = NULL;
    fl_policy_t *p = NULL;
    int rc = FL_EINVALID_ARGUMENT;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!doc) {
        rc = perr(&pc, "policy document is missing");
        goto out;
    }
    if (len > FL_POLICY_MAX_BYTES) {
        rc = perr(&pc, "policy document is too large (%zu bytes, at most %d)", len,
                  FL_POLICY_MAX_BYTES);
        goto out;
    }
    json_error_t jerr;
    root = json_loadb(doc, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        rc = perr(&pc, "policy document is not valid JSON (line %d, column %d): %s", jerr.line,
                  jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = perr(&pc, "policy document must be a JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "Version") != 0 && strcmp(k, "Statement") != 0) {
            rc = perr(&pc, "%.64s is not supported", k);
            goto out;
        }
    }
    json_t *ver = json_object_get(root, "Version");
    if (!ver) {
        rc = perr(&pc, "Version is required");
        goto out;
    }
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "1") != 0) {
        rc = perr(&pc, "Version must be \"1\"");
        goto out;
    }
    json_t *sts = json_object_get(root, "Statement");
    if (!sts) {
        rc = perr(&pc, "Statement is required");
        goto out;
    }
    if (!json_is_array(sts) && !json_is_object(sts)) {
        rc = perr(&pc, "Statement must be a list of statements");
        goto out;
    }
    size_t n = json_is_object(sts) ? 1 : json_array_size(sts);
    if (n == 0) {
        rc = perr(&pc, "Statement must not be an empty list");
        goto out;
    }
    if (n > MAX_STATEMENTS) {
        rc = perr(&pc, "Statement has more than %d entries", MAX_STATEMENTS);
        goto out;
    }
    p = xcalloc(1, sizeof *p);
    p->stmts = xcalloc(n, sizeof *p->stmts);
    for (size_t i = 0; i < n; i++) {
        char spath[32];
        json_t *sj = json_is_object(sts) ? sts : json_array_get(sts, i);
        if (json_is_object(sts))
            snprintf(spath, sizeof spath, "Statement");
        else
            snprintf(spath, sizeof spath, "Statement[%zu]", i);
        p->n_stmts = i + 1; /* so fl_policy_free sees what this statement allocated */
        rc = parse_statement(&pc, &p->stmts[i], sj, spath);
        if (rc != FL_OK)
            goto out;
    }
    *out = p;
    p = NULL;
    rc = FL_OK;
out:
    fl_policy_free(p);
    json_decref(root);
    return rc;
}

/* ---- evaluation ---- */

/* The request context, prepared once per evaluation. */
typedef struct {
    const fl_authz_ctx_t *ctx; /* may be NULL: every condition is then false */
    bool have_ip;              /* ctx->source_ip parsed as an address */
    ipaddr_t ip;
    char now_text[32]; /* acs:CurrentTime as text, for the string operators */
} ectx_t;

static bool value_matches(const cond_t *c, const cond_val_t *v, const ectx_t *e,
                          const char *text)
{
    switch (ops[c->op].kind) {
    case K_STR:
        return strcmp(v->s, text) == 0;
    case K_STR_CI:
        return strcasecmp(v->s, text) == 0;
    case K_LIKE:
        return fl_wildcard_match(v->s, text, false);
    case K_IP:
        return cidr_contains(&v->cidr, &e->ip);
    case K_BOOL:
        return v->b == e->ctx->secure_transport;
    case K_DATE: {
        int64_t now = e->ctx->now_ms;
        switch (ops[c->op].cmp) {
        case CMP_EQ:
            return now == v->ms;
        case CMP_LT:
            return now < v->ms;
        case CMP_LE:
            return now <= v->ms;
        case CMP_GT:
            return now > v->ms;
        case CMP_GE:
            return now >= v->ms;
        }
        return false;
    }
    }
    return false;
}

/* One operator/key pair: some value matches (or, for the negated operators, none does).
 * A context value that is absent (no source IP, or one that does not parse for the IP
 * operators) makes the condition false either way. */
static bool cond_holds(const cond_t *c, const ectx_t *e)
{
    if (!e->ctx)
        return false;
    const char *text = NULL;
    switch (c->key) {
    case KEY_SOURCE_IP:
        text = e->ctx->source_ip;
        if (!text || (ops[c->op].kind == K_IP && !e->have_ip))
            return false;
        break;
    case KEY_SECURE_TRANSPORT:
        text = e->ctx->secure_transport ? "true" : "false";
        break;
    case KEY_CURRENT_TIME:
        text = e->now_text;
        break;
    }
    bool any = false;
    for (size_t i = 0; i < c->n_vals && !any; i++)
        any = value_matches(c, &c->vals[i], e, text);
    return ops[c->op].negated ? !any : any;
}

static bool resource_matches(const stmt_t *st, const char *resource)
{
    for (size_t i = 0; i < st->n_resources; i++) {
        if (fl_wildcard_match(st->resources[i], resource, false))
            return true;
        if (st->res_alt[i] && fl_wildcard_match(st->res_alt[i], resource, false))
            return true;
    }
    return false;
}

static bool stmt_applies(const stmt_t *st, const char *action, const char *resource,
                         const ectx_t *e)
{
    bool act = false;
    for (size_t i = 0; i < st->n_actions && !act; i++)
        act = fl_wildcard_match(st->actions[i], action, true);
    if (!act || !resource_matches(st, resource))
        return false;
    for (size_t i = 0; i < st->n_conds; i++)
        if (!cond_holds(&st->conds[i], e))
            return false;
    return true;
}

static void ectx_init(ectx_t *e, const fl_authz_ctx_t *ctx)
{
    memset(e, 0, sizeof *e);
    e->ctx = ctx;
    if (!ctx)
        return;
    e->have_ip = ctx->source_ip && ip_parse(ctx->source_ip, &e->ip);
    fl_time_iso(ctx->now_ms, e->now_text);
}

static fl_policy_effect_t eval_one(const fl_policy_t *p, const char *action,
                                   const char *resource, const ectx_t *e)
{
    if (!p || !action || !resource)
        return FL_POLICY_NONE;
    bool allow = false;
    for (size_t i = 0; i < p->n_stmts; i++) {
        const stmt_t *st = &p->stmts[i];
        if (!st->deny && allow)
            continue; /* already allowed; only a Deny can change the answer */
        if (stmt_applies(st, action, resource, e)) {
            if (st->deny)
                return FL_POLICY_DENY;
            allow = true;
        }
    }
    return allow ? FL_POLICY_ALLOW : FL_POLICY_NONE;
}

/* Evaluates p; see auth.h. A NULL policy, action or resource yields FL_POLICY_NONE; a NULL
 * ctx makes every statement with a Condition inapplicable. Thread-safe. */
fl_policy_effect_t fl_policy_eval(const fl_policy_t *p, const char *action,
                                  const char *resource, const fl_authz_ctx_t *ctx)
{
    ectx_t e;
    ectx_init(&e, ctx);
    return eval_one(p, action, resource, &e);
}

/* Evaluates ps[0..n) together; see auth.h. NULL entries are skipped. Thread-safe. */
bool fl_policy_allows(fl_policy_t *const *ps, size_t n, const char *action, const char *resource,
                      const fl_authz_ctx_t *ctx)
{
    ectx_t e;
    ectx_init(&e, ctx);
    bool allow = false;
    for (size_t i = 0; i < n; i++) {
        fl_policy_effect_t r = eval_one(ps ? ps[i] : NULL, action, resource, &e);
        if (r == FL_POLICY_DENY)
            return false;
        if (r == FL_POLICY_ALLOW)
            allow = true;
    }
    return allow;
}
