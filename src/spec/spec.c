/*
 * spec.c - loads a definition (YAML or JSON text; JSON is YAML flow syntax, so libyaml's
 * event parser reads both) into a tree of nodes that remember their line and column, tells
 * the two languages apart, validates CloudFlow (Type: StateMachine) and builds the
 * immutable fl_flow_t; FDL documents go to fdl.c. Also fl_flow_free and the helpers both
 * parsers share (spec_int.h).
 *
 * The node tree lives in one arena for the duration of fl_spec_parse. The first problem
 * found stops everything and fills fl_diag_t: line/column of the offending node, a path
 * such as "States[2].Branches[1].States[0].Next" and one English sentence. States live in
 * scopes (the top level, Parallel branches, Map processors); transitions stay in a scope.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "spec/spec_int.h"

/* ---- diagnostics and paths ---- */

static int failv(cx_t *c, int line, int col, const char *fmt, va_list ap)
{
    c->diag->line = line;
    c->diag->col = col;
    snprintf(c->diag->path, sizeof c->diag->path, "%s", c->path);
    vsnprintf(c->diag->msg, sizeof c->diag->msg, fmt, ap);
    return FL_EINVALID_ARGUMENT;
}

/* Reports a problem at node n; with key set, the path names that field of n. */
int spec_bad(cx_t *c, const node_t *n, const char *key, const char *fmt, ...)
{
    if (key)
        snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s", c->plen ? "." : "", key);
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(c, n ? n->line : 0, n ? n->col : 0, fmt, ap);
    va_end(ap);
    return rc;
}

size_t spec_push_key(cx_t *c, const char *k)
{
    size_t m = c->plen;
    snprintf(c->path + m, sizeof c->path - m, "%s%s", m ? "." : "", k);
    c->plen = strlen(c->path);
    return m;
}

size_t spec_push_idx(cx_t *c, size_t i)
{
    size_t m = c->plen;
    snprintf(c->path + m, sizeof c->path - m, "[%zu]", i);
    c->plen = strlen(c->path);
    return m;
}

void spec_pop(cx_t *c, size_t m)
{
    c->plen = m;
    c->path[m] = 0;
}

/* ---- YAML events -> node tree ---- */

static bool plain_is_int(const char *s)
{
    s += *s == '-' || *s == '+';
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool plain_is_float(const char *s)
{
    size_t digits = 0;
    s += *s == '-' || *s == '+';
    for (; *s >= '0' && *s <= '9'; s++)
        digits++;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        s += *s == '-' || *s == '+';
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return !*s;
}

/* Resolves a plain (unquoted) scalar the way JSON would read it: null, true/false,
 * integers and floats; everything else, including YAML 1.1's yes/no/on/off, is a string. */
static void resolve_plain(node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < FL_ARRAY_LEN(nulls); i++)
        if (!strcmp(n->s, nulls[i]))
            n->kind = N_NULL;
    for (size_t i = 0; i < 3; i++) {
        if (!strcmp(n->s, trues[i]) || !strcmp(n->s, falses[i])) {
            n->kind = N_BOOL;
            n->b = n->s[0] == 't' || n->s[0] == 'T';
        }
    }
    if (n->kind != N_STR)
        return;
    if (plain_is_int(n->s)) {
        errno = 0;
        long long v = strtoll(n->s, NULL, 10);
        if (!errno) {
            n->kind = N_INT;
            n->i = v;
            return;
        }
    }
    if (plain_is_int(n->s) || plain_is_float(n->s)) {
        double d = strtod(n->s, NULL);
        if (isfinite(d)) { /* 1e999 stays a string rather than becoming infinity */
            n->kind = N_REAL;
            n->d = d;
        }
    }
}

typedef struct {
    node_t *n;
    bool want_key;  /* N_MAP: the next scalar is a key */
    const char *key;
    int kline, kcol;
} frame_t;

static int key_cmp(const void *a, const void *b)
{
    const node_t *x = *(node_t *const *)a, *y = *(node_t *const *)b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->kline > y->kline) - (x->kline < y->kline);
}

/* Rebuilds, while loading, the path of the node open in frame d from the frames above. */
static void frame_path(cx_t *c, const frame_t *st, int d)
{
    spec_pop(c, 0);
    for (int k = 1; k <= d; k++) {
        if (st[k - 1].n->kind == N_MAP)
            spec_push_key(c, st[k].n->key);
        else
            spec_push_idx(c, st[k - 1].n->n - 1); /* frame k is its parent's last child so far */
    }
}

/* Rejects duplicate keys in map m: sorting keeps a map with many keys from costing n^2. */
static int check_dups(cx_t *c, node_t *m)
{
    if (m->n < 2)
        return FL_OK;
    node_t **v = xmalloc(m->n * sizeof *v);
    size_t k = 0;
    int rc = FL_OK;
    for (node_t *ch = m->first; ch; ch = ch->next)
        v[k++] = ch;
    qsort(v, k, sizeof *v, key_cmp);
    for (size_t i = 1; i < k && rc == FL_OK; i++)
        if (!strcmp(v[i]->key, v[i - 1]->key)) {
            node_t at = {.line = v[i]->kline, .col = v[i]->kcol};
            rc = spec_bad(c, &at, v[i]->key, "duplicate key '%s' (first given on line %d)",
                     v[i]->key, v[i - 1]->kline);
        }
    free(v);
    return rc;
}

static int yaml_fail(cx_t *c, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yaml_fail(cx_t *c, const yaml_mark_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    spec_pop(c, 0);
    int rc = failv(c, (int)m->line + 1, (int)m->column + 1, fmt, ap);
    va_end(ap);
    return rc;
}

/* Turns one libyaml event into tree changes. Sets *done at the end of the stream. */
static int on_event(cx_t *c, yaml_event_t *ev, frame_t *st, int *depth, int *docs,
                    node_t **root, bool *done)
{
    const yaml_mark_t *m = &ev->start_mark;
    const char *anchor = NULL, *tag = NULL;
    nkind_t kind = N_NULL;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return FL_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return yaml_fail(c, m, "a definition must be a single YAML document");
        return FL_OK;
    case YAML_ALIAS_EVENT:
        return yaml_fail(c, m, "YAML aliases (*name) are not supported");
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (--*depth, ev->type == YAML_SEQUENCE_END_EVENT)
            return FL_OK;
        frame_path(c, st, *depth);
        return check_dups(c, st[*depth].n);
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        tag = (const char *)ev->data.scalar.tag;
        kind = N_STR;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        tag = (const char *)ev->data.sequence_start.tag;
        kind = N_SEQ;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        tag = (const char *)ev->data.mapping_start.tag;
        kind = N_MAP;
        break;
    default:
        return FL_OK;
    }
    /* Anchors exist only to be referenced by aliases, which we refuse (an alias bomb
     * expands a few lines into gigabytes), so an anchor is refused where it is written. */
    if (anchor)
        return yaml_fail(c, m, "YAML anchors (&%s) are not supported", anchor);
    if (tag && strcmp(tag, "!") &&
        strcmp(tag, kind == N_STR ? YAML_STR_TAG : kind == N_SEQ ? YAML_SEQ_TAG : YAML_MAP_TAG))
        return yaml_fail(c, m, "YAML tag '%s' is not supported", tag);
    frame_t *top = *depth ? &st[*depth - 1] : NULL;
    if (kind == N_STR) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (fl_utf8_count(v, len) < 0)
            return yaml_fail(c, m, "text is not valid UTF-8 or contains a NUL character");
        if (top && top->want_key) {
            top->key = fl_arena_strndup(&c->arena, v, len);
            top->kline = (int)m->line + 1;
            top->kcol = (int)m->column + 1;
            top->want_key = false;
            return FL_OK;
        }
    } else if (top && top->want_key) {
        return yaml_fail(c, m, "mapping keys must be plain strings");
    }
    node_t *n = fl_arena_alloc(&c->arena, sizeof *n);
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    if (kind == N_STR) {
        n->s = fl_arena_strndup(&c->arena, (const char *)ev->data.scalar.value,
                                ev->data.scalar.length);
        n->len = ev->data.scalar.length;
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
            resolve_plain(n);
    }
    if (!top) {
        *root = n;
    } else {
        if (top->n->kind == N_MAP) {
            n->key = top->key;
            n->kline = top->kline;
            n->kcol = top->kcol;
            top->want_key = true;
        }
        if (top->n->last)
            top->n->last->next = n;
        else
            top->n->first = n;
        top->n->last = n;
        top->n->n++;
    }
    if (kind == N_MAP || kind == N_SEQ) {
        if (*depth >= FL_SPEC_MAX_DEPTH)
            return yaml_fail(c, m, "the definition nests deeper than %d levels",
                             FL_SPEC_MAX_DEPTH);
        st[(*depth)++] = (frame_t){n, kind == N_MAP, NULL, 0, 0};
    }
    return FL_OK;
}

/* libyaml reports errors at the end of the input one line past the last one; point at
 * the end of the last line instead. */
static void clamp_mark(const char *text, size_t len, yaml_mark_t *m)
{
    size_t line = 0, col = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && i + 1 < len)
            line++, col = 0;
        else if (text[i] != '\n')
            col++;
    }
    if (m->line > line)
        m->line = line, m->column = col;
}

static int load(cx_t *c, const char *text, size_t len, node_t **root)
{
    yaml_parser_t p;
    frame_t st[FL_SPEC_MAX_DEPTH];
    int depth = 0, docs = 0, rc = FL_OK;
    bool done = false;
    *root = NULL;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && rc == FL_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_mark_t at = p.problem_mark;
            clamp_mark(text, len, &at);
            rc = yaml_fail(c, &at, "YAML syntax error: %s%s%s",
                           p.problem ? p.problem : "malformed text",
                           p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        rc = on_event(c, &ev, st, &depth, &docs, root, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc == FL_OK)
        spec_pop(c, 0);
    if (rc == FL_OK && !*root) {
        rc = spec_bad(c, &(node_t){.line = 1, .col = 1}, NULL, "the definition is empty");
    }
    return rc;
}

json_t *spec_to_json(const node_t *n)
{
    json_t *v;
    switch (n->kind) {
    case N_BOOL: return json_boolean(n->b);
    case N_INT: return json_integer(n->i);
    case N_REAL: return json_real(n->d);
    case N_STR: return json_stringn(n->s, n->len);
    case N_MAP:
        v = json_object();
        for (const node_t *ch = n->first; ch; ch = ch->next)
            json_object_set_new(v, ch->key, spec_to_json(ch));
        return v;
    case N_SEQ:
        v = json_array();
        for (const node_t *ch = n->first; ch; ch = ch->next)
            json_array_append_new(v, spec_to_json(ch));
        return v;
    default: return json_null();
    }
}

/* ---- field helpers ---- */

const node_t *spec_get(const node_t *map, const char *key)
{
    for (const node_t *ch = map->first; ch; ch = ch->next)
        if (!strcmp(ch->key, key))
            return ch;
    return NULL;
}

bool spec_in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

/* Rejects keys of map not in allowed (NULL-terminated); what names the object. */
int spec_check_keys(cx_t *c, const node_t *map, const char *const *allowed, const char *what)
{
    for (const node_t *ch = map->first; ch; ch = ch->next)
        if (!spec_in_list(ch->key, allowed))
            return spec_bad(c, &(node_t){.line = ch->kline, .col = ch->kcol}, ch->key,
                       "unknown field '%s' in %s", ch->key, what);
    return FL_OK;
}

const char *spec_kind_name(const node_t *n)
{
    static const char *const names[] = {"null", "a boolean", "an integer", "a number",
                                        "a string", "an object", "a list"};
    return names[n->kind];
}

/* Fetches map[key] as a string (NULL when absent; required = error when absent). */
int spec_get_str(cx_t *c, const node_t *map, const char *key, bool required,
                   const char **out)
{
    const node_t *n = spec_get(map, key);
    *out = NULL;
    if (!n)
        return required ? spec_bad(c, map, key, "%s is required", key) : FL_OK;
    if (n->kind != N_STR)
        return spec_bad(c, n, key, "%s must be a string, not %s", key, spec_kind_name(n));
    *out = n->s;
    return FL_OK;
}

/* Fetches an optional integer map[key] within [lo, hi]; leaves *out alone when absent. */
int spec_get_int(cx_t *c, const node_t *map, const char *key, int64_t lo, int64_t hi,
                   int64_t *out)
{
    const node_t *n = spec_get(map, key);
    if (!n)
        return FL_OK;
    if (n->kind != N_INT || n->i < lo || n->i > hi)
        return spec_bad(c, n, key, "%s must be an integer from %lld to %lld", key, (long long)lo,
                   (long long)hi);
    *out = n->i;
    return FL_OK;
}

int spec_get_num(cx_t *c, const node_t *map, const char *key, double lo, double hi,
                   double *out)
{
    const node_t *n = spec_get(map, key);
    if (!n)
        return FL_OK;
    double v = n->kind == N_INT ? (double)n->i : n->d;
    if ((n->kind != N_INT && n->kind != N_REAL) || v < lo || v > hi)
        return spec_bad(c, n, key, "%s must be a number from %g to %g", key, lo, hi);
    *out = v;
    return FL_OK;
}

/* Description and Comment are free text; any scalar is accepted, as YAML users write
 * numbers or dates there without quotes. */
static int check_text(cx_t *c, const node_t *map, const char *key)
{
    const node_t *n = spec_get(map, key);
    if (n && (n->kind == N_MAP || n->kind == N_SEQ))
        return spec_bad(c, n, key, "%s must be text, not %s", key, spec_kind_name(n));
    return FL_OK;
}

int spec_name_states(cx_t *c, fl_scope_t *scope, const node_t *list, const char *key,
                     const char *noun, const char *list_name)
{
    size_t i = 0;
    for (const node_t *n = list->first; n; n = n->next, i++) {
        fl_state_t *st = &scope->states[i];
        const char *name;
        size_t mi = spec_push_idx(c, i);
        st->next = st->default_next = -1;
        st->line = n->line;
        if (n->kind != N_MAP)
            return spec_bad(c, n, NULL, "a %s must be an object, not %s", noun,
                            spec_kind_name(n));
        if (spec_get_str(c, n, key, true, &name))
            return FL_EINVALID_ARGUMENT;
        long chars = fl_utf8_count(name, strlen(name));
        if (chars < 1 || chars > 128)
            return spec_bad(c, spec_get(n, key), key, "%s must be 1 to 128 characters", key);
        int dup = spec_find_state(scope, name);
        if (dup >= 0)
            return spec_bad(c, spec_get(n, key), key, "duplicate %s name '%s' (also %s[%d], line %d)",
                            noun, name, list_name, dup, scope->states[dup].line);
        st->name = xstrdup(name);
        spec_pop(c, mi);
    }
    return FL_OK;
}

int spec_find_state(const fl_scope_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_states; i++)
        if (s->states[i].name && !strcmp(s->states[i].name, name))
            return (int)i;
    return -1;
}

/* Resolves map[key] (a state name) to an index in scope; required decides absence. */
static int get_target(cx_t *c, const fl_scope_t *scope, const node_t *map, const char *key,
                      bool required, int *out)
{
    const char *name;
    int rc = spec_get_str(c, map, key, required, &name);
    if (rc != FL_OK || !name)
        return rc;
    if ((*out = spec_find_state(scope, name)) < 0)
        return spec_bad(c, spec_get(map, key), key, "%s names an unknown state '%s'", key, name);
    return FL_OK;
}

/* Checks every "key.$" expression below n, so each error gets its own line. */
static int check_exprs(cx_t *c, const node_t *n)
{
    size_t i = 0;
    for (const node_t *ch = n->first; ch; ch = ch->next, i++) {
        size_t m = n->kind == N_MAP ? spec_push_key(c, ch->key) : spec_push_idx(c, i);
        size_t kl = ch->key ? strlen(ch->key) : 0;
        if (n->kind == N_MAP && kl >= 2 && !strcmp(ch->key + kl - 2, ".$")) {
            fl_expr_t *e;
            fl_diag_t d;
            char *plain = xstrndup(ch->key, kl - 2);
            bool twice = spec_get(n, plain) != NULL;
            free(plain);
            if (twice)
                return spec_bad(c, ch, NULL, "'%.*s' is given both as '%.*s' and as '%s'",
                           (int)(kl - 2), ch->key, (int)(kl - 2), ch->key, ch->key);
            if (ch->kind != N_STR)
                return spec_bad(c, ch, NULL, "the value of '%s' must be an expression string",
                           ch->key);
            if (fl_expr_compile(ch->s, &e, &d) != FL_OK)
                return spec_bad(c, ch, NULL, "invalid expression '%.200s': %s (column %d)", ch->s,
                           d.msg, d.col);
            fl_expr_free(e);
        } else if (check_exprs(c, ch) != FL_OK) {
            return FL_EINVALID_ARGUMENT;
        }
        spec_pop(c, m);
    }
    return FL_OK;
}

/* Compiles the constructor map[key] (an object) into *out; absent leaves *out NULL. */
static int get_ctor(cx_t *c, const node_t *map, const char *key, fl_tmpl_t **out)
{
    const node_t *n = spec_get(map, key);
    fl_diag_t d;
    if (!n)
        return FL_OK;
    if (n->kind != N_MAP)
        return spec_bad(c, n, key, "%s must be an object, not %s", key, spec_kind_name(n));
    size_t m = spec_push_key(c, key);
    if (check_exprs(c, n) != FL_OK)
        return FL_EINVALID_ARGUMENT;
    json_t *j = spec_to_json(n);
    int rc = fl_tmpl_compile(j, out, &d);
    json_decref(j);
    if (rc != FL_OK)
        return spec_bad(c, n, d.path, "%s", d.msg);
    spec_pop(c, m);
    return FL_OK;
}

/*
 * Compiles src, the text of node at (or of at's field key), into *out (free with
 * fl_expr_free). Returns FL_OK, or FL_EINVALID_ARGUMENT with the compiler's message.
 */
int spec_compile_expr(cx_t *c, const node_t *at, const char *key, const char *src,
                      fl_expr_t **out)
{
    fl_diag_t d;
    if (fl_expr_compile(src, out, &d) != FL_OK)
        return spec_bad(c, at, key, "invalid expression '%.200s': %s (column %d)", src, d.msg,
                        d.col);
    return FL_OK;
}

/*
 * Returns a new expression that evaluates to the string ts, an RFC 3339 time that
 * fl_time_parse accepted (so it holds only digits, letters and "-:.+", nothing to escape).
 */
fl_expr_t *spec_time_literal(const char *ts)
{
    size_t n = strlen(ts);
    char *src = xmalloc(n + 3);
    fl_expr_t *e = NULL;
    fl_diag_t d;
    FL_ASSERT(strspn(ts, "0123456789TtZz:.+-") == n);
    snprintf(src, n + 3, "\"%s\"", ts);
    int rc = fl_expr_compile(src, &e, &d);
    FL_ASSERT(rc == FL_OK);
    free(src);
    return e;
}

/* Compiles the required expression string map[key] into *out. */
static int get_expr(cx_t *c, const node_t *map, const char *key, fl_expr_t **out)
{
    const char *src;
    int rc = spec_get_str(c, map, key, true, &src);
    return rc != FL_OK ? rc : spec_compile_expr(c, spec_get(map, key), key, src, out);
}

/*
 * Reads map[key] (CloudFlow "Errors", FDL "errors"): a non-empty list of error names of 1
 * to 128 characters. Sets *out (new strings) and *n_out before filling, so a partly filled
 * list is freed with its owner when a later name is wrong.
 */
int spec_get_errors(cx_t *c, const node_t *map, const char *key, char ***out, size_t *n_out)
{
    const node_t *n = spec_get(map, key);
    size_t i = 0;
    if (!n)
        return spec_bad(c, map, key, "%s is required", key);
    if (n->kind != N_SEQ || !n->n)
        return spec_bad(c, n, key, "%s must be a non-empty list of error names", key);
    *out = xcalloc(n->n, sizeof **out);
    *n_out = n->n;
    size_t m = spec_push_key(c, key);
    for (const node_t *e = n->first; e; e = e->next, i++) {
        if (e->kind != N_STR || !e->len || e->len > 128) {
            spec_push_idx(c, i);
            return spec_bad(c, e, NULL, "an error name must be a string of 1 to 128 characters");
        }
        (*out)[i] = xstrdup(e->s);
    }
    spec_pop(c, m);
    return FL_OK;
}

/* Counts n more states (steps) against the limit for the whole definition. */
int spec_count_states(cx_t *c, const node_t *at, const char *key, size_t n)
{
    c->n_states += n;
    if (c->n_states > FL_SPEC_MAX_STATES)
        return spec_bad(c, at, key,
                        "the definition holds %zu states (nested ones included); at most %d are "
                        "allowed",
                        c->n_states, FL_SPEC_MAX_STATES);
    return FL_OK;
}

/* ------------------------------------------------------------------------------------------
 * CloudFlow states
 * ------------------------------------------------------------------------------------------ */

static int parse_scope(cx_t *c, const node_t *map, fl_scope_t *scope);

static int parse_retry(cx_t *c, const node_t *list, fl_state_t *st)
{
    static const char *const keys[] = {"Errors", "Description", "IntervalSeconds", "MaxAttempts",
                                       "BackoffRate", "MaxBackoffSeconds", NULL};
    if (list->kind != N_SEQ)
        return spec_bad(c, list, NULL, "Retry must be a list");
    st->retry = xcalloc(list->n, sizeof *st->retry);
    st->n_retry = list->n;
    size_t i = 0;
    for (const node_t *r = list->first; r; r = r->next, i++) {
        fl_retry_t *rt = &st->retry[i];
        int64_t attempts = 3;
        size_t m = spec_push_idx(c, i);
        /* CloudFlow documents that without BackoffRate "the interval stays constant",
         * hence 1.0 rather than Step Functions' 2.0. */
        rt->interval_s = 1;
        rt->backoff_rate = 1;
        rt->max_backoff_s = 0;
        if (r->kind != N_MAP)
            return spec_bad(c, r, NULL, "a Retry rule must be an object");
        if (spec_check_keys(c, r, keys, "a Retry rule") ||
            spec_get_errors(c, r, "Errors", &rt->errors, &rt->n_errors) ||
            check_text(c, r, "Description") ||
            spec_get_num(c, r, "IntervalSeconds", 0, SPEC_MAX_RETRY_SECONDS, &rt->interval_s) ||
            spec_get_int(c, r, "MaxAttempts", 0, INT32_MAX, &attempts) ||
            spec_get_num(c, r, "BackoffRate", 1, 1000, &rt->backoff_rate) ||
            spec_get_num(c, r, "MaxBackoffSeconds", 0, SPEC_MAX_RETRY_SECONDS, &rt->max_backoff_s))
            return FL_EINVALID_ARGUMENT;
        rt->max_attempts = (int)attempts;
        spec_pop(c, m);
    }
    return FL_OK;
}

static int parse_catch(cx_t *c, const fl_scope_t *scope, const node_t *list, fl_state_t *st)
{
    static const char *const keys[] = {"Errors", "Description", "OutputConstructor", "Next",
                                       NULL};
    if (list->kind != N_SEQ)
        return spec_bad(c, list, NULL, "Catch must be a list");
    st->catches = xcalloc(list->n, sizeof *st->catches);
    st->n_catches = list->n;
    size_t i = 0;
    for (const node_t *r = list->first; r; r = r->next, i++) {
        fl_catch_t *ct = &st->catches[i];
        size_t m = spec_push_idx(c, i);
        if (r->kind != N_MAP)
            return spec_bad(c, r, NULL, "a Catch rule must be an object");
        if (spec_check_keys(c, r, keys, "a Catch rule") ||
            spec_get_errors(c, r, "Errors", &ct->errors, &ct->n_errors) ||
            check_text(c, r, "Description") ||
            get_ctor(c, r, "OutputConstructor", &ct->output_ctor) ||
            get_target(c, scope, r, "Next", true, &ct->next))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, m);
    }
    return FL_OK;
}

static char **dup_names(char *const *v, size_t n)
{
    char **out = xcalloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

/*
 * The 2023 preview's OnErrors list: each entry {Errors, Description, Retry: {MaxAttempts,
 * FixedBackoff, Multiplier}, Next, OutputConstructor} becomes a retry rule (when Retry is
 * given) and a catch rule (when Next is given), in list order, so the engine knows one
 * model only. Retry defaults are CloudFlow's: 3 attempts, 1 s, constant interval.
 */
static int parse_on_errors(cx_t *c, const fl_scope_t *scope, const node_t *list,
                           fl_state_t *st)
{
    static const char *const keys[] = {"Errors", "Description", "Retry", "Next",
                                       "OutputConstructor", NULL};
    static const char *const rkeys[] = {"MaxAttempts", "FixedBackoff", "Multiplier", NULL};
    size_t nr = 0, nc = 0, ir = 0, ic = 0, i = 0;
    if (list->kind != N_SEQ || !list->n)
        return spec_bad(c, list, NULL, "OnErrors must be a non-empty list");
    for (const node_t *e = list->first; e; e = e->next) {
        nr += e->kind == N_MAP && spec_get(e, "Retry");
        nc += e->kind == N_MAP && spec_get(e, "Next");
    }
    st->retry = xcalloc(nr, sizeof *st->retry);
    st->n_retry = nr;
    st->catches = xcalloc(nc, sizeof *st->catches);
    st->n_catches = nc;
    for (const node_t *e = list->first; e; e = e->next, i++) {
        size_t m = spec_push_idx(c, i);
        const node_t *r, *next;
        if (e->kind != N_MAP)
            return spec_bad(c, e, NULL, "an OnErrors entry must be an object");
        if (spec_check_keys(c, e, keys, "an OnErrors entry") || check_text(c, e, "Description"))
            return FL_EINVALID_ARGUMENT;
        r = spec_get(e, "Retry");
        next = spec_get(e, "Next");
        if (!r && !next)
            return spec_bad(c, e, NULL, "an OnErrors entry needs Retry, Next or both");
        if (!next && spec_get(e, "OutputConstructor"))
            return spec_bad(c, spec_get(e, "OutputConstructor"), "OutputConstructor",
                            "OutputConstructor in OnErrors needs Next");
        if (r) {
            fl_retry_t *rt = &st->retry[ir++];
            int64_t attempts = 3;
            rt->interval_s = 1;
            rt->backoff_rate = 1;
            if (spec_get_errors(c, e, "Errors", &rt->errors, &rt->n_errors))
                return FL_EINVALID_ARGUMENT;
            if (r->kind != N_MAP)
                return spec_bad(c, r, "Retry", "Retry must be an object, not %s",
                                spec_kind_name(r));
            size_t mr = spec_push_key(c, "Retry");
            if (spec_check_keys(c, r, rkeys, "an OnErrors Retry") ||
                spec_get_int(c, r, "MaxAttempts", 0, INT32_MAX, &attempts) ||
                spec_get_num(c, r, "FixedBackoff", 0, SPEC_MAX_RETRY_SECONDS, &rt->interval_s) ||
                spec_get_num(c, r, "Multiplier", 1, 1000, &rt->backoff_rate))
                return FL_EINVALID_ARGUMENT;
            rt->max_attempts = (int)attempts;
            spec_pop(c, mr);
        }
        if (next) {
            fl_catch_t *ct = &st->catches[ic++];
            if (r) {
                ct->errors = dup_names(st->retry[ir - 1].errors, st->retry[ir - 1].n_errors);
                ct->n_errors = st->retry[ir - 1].n_errors;
            } else if (spec_get_errors(c, e, "Errors", &ct->errors, &ct->n_errors)) {
                return FL_EINVALID_ARGUMENT;
            }
            if (get_ctor(c, e, "OutputConstructor", &ct->output_ctor) ||
                get_target(c, scope, e, "Next", true, &ct->next))
                return FL_EINVALID_ARGUMENT;
        }
        spec_pop(c, m);
    }
    return FL_OK;
}

/* Retry, Catch or OnErrors of a Task, Parallel or Map state. */
static int parse_handlers(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    const node_t *r = spec_get(n, "Retry"), *k = spec_get(n, "Catch");
    const node_t *oe = spec_get(n, "OnErrors");
    int rc = FL_OK;
    size_t m;
    if (oe && (r || k))
        return spec_bad(c, &(node_t){.line = oe->kline, .col = oe->kcol}, "OnErrors",
                        "OnErrors cannot be combined with %s on the same state",
                        r ? "Retry" : "Catch");
    if (oe) {
        m = spec_push_key(c, "OnErrors");
        if ((rc = parse_on_errors(c, scope, oe, st)) != FL_OK)
            return rc;
        spec_pop(c, m);
    }
    if (r) {
        m = spec_push_key(c, "Retry");
        if ((rc = parse_retry(c, r, st)) != FL_OK)
            return rc;
        spec_pop(c, m);
    }
    if (k) {
        m = spec_push_key(c, "Catch");
        if ((rc = parse_catch(c, scope, k, st)) != FL_OK)
            return rc;
        spec_pop(c, m);
    }
    return FL_OK;
}

/* Rejects a key given both plain and with ".$" in p; keys holds such pairs. */
static int check_pairs(cx_t *c, const node_t *p, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i += 2)
        if (spec_get(p, keys[i]) && spec_get(p, keys[i + 1]))
            return spec_bad(c, spec_get(p, keys[i + 1]), keys[i + 1],
                            "give either %s or %s, not both", keys[i], keys[i + 1]);
    return FL_OK;
}

/* Checks Parameters of HTTP:Request: URL (or URL.$) required, Method from a fixed set. */
static int check_http(cx_t *c, const node_t *state, const node_t *p)
{
    static const char *const keys[] = {"URL", "URL.$", "Method", "Method.$", "Headers",
                                       "Headers.$", "Body", "Body.$", NULL};
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", NULL};
    const char *s;
    if (!p)
        return spec_bad(c, state, "Parameters",
                        "Parameters with a URL is required for HTTP:Request");
    if (p->kind != N_MAP)
        return spec_bad(c, p, "Parameters", "Parameters must be an object, not %s",
                        spec_kind_name(p));
    size_t m = spec_push_key(c, "Parameters");
    if (spec_check_keys(c, p, keys, "HTTP:Request Parameters") || check_pairs(c, p, keys))
        return FL_EINVALID_ARGUMENT;
    if (!spec_get(p, "URL") && !spec_get(p, "URL.$"))
        return spec_bad(c, p, "URL", "URL is required for HTTP:Request");
    if (spec_get_str(c, p, "URL", false, &s))
        return FL_EINVALID_ARGUMENT;
    if (s && strncasecmp(s, "http://", 7) && strncasecmp(s, "https://", 8))
        return spec_bad(c, spec_get(p, "URL"), "URL", "URL must start with http:// or https://");
    if (spec_get_str(c, p, "Method", false, &s))
        return FL_EINVALID_ARGUMENT;
    if (s && !spec_in_list(s, methods))
        return spec_bad(c, spec_get(p, "Method"), "Method",
                        "Method '%s' is not supported (use GET, POST, PUT, DELETE, PATCH or HEAD)",
                        s);
    const node_t *h = spec_get(p, "Headers");
    if (h && h->kind != N_MAP)
        return spec_bad(c, h, "Headers", "Headers must be an object, not %s", spec_kind_name(h));
    spec_pop(c, m);
    return FL_OK;
}

/* Checks Parameters of FnF:StartExecution: FlowName required, Input and ExecutionName
 * optional, each either literal or ".$". */
static int check_fnf(cx_t *c, const node_t *state, const node_t *p)
{
    static const char *const keys[] = {"FlowName", "FlowName.$", "Input", "Input.$",
                                       "ExecutionName", "ExecutionName.$", NULL};
    static const char *const names[] = {"FlowName", "ExecutionName"};
    const char *s;
    if (!p)
        return spec_bad(c, state, "Parameters",
                        "Parameters with a FlowName is required for FnF:StartExecution");
    if (p->kind != N_MAP)
        return spec_bad(c, p, "Parameters", "Parameters must be an object, not %s",
                        spec_kind_name(p));
    size_t m = spec_push_key(c, "Parameters");
    if (spec_check_keys(c, p, keys, "FnF:StartExecution Parameters") || check_pairs(c, p, keys))
        return FL_EINVALID_ARGUMENT;
    if (!spec_get(p, "FlowName") && !spec_get(p, "FlowName.$"))
        return spec_bad(c, p, "FlowName", "FlowName is required for FnF:StartExecution");
    for (size_t i = 0; i < FL_ARRAY_LEN(names); i++) {
        if (spec_get_str(c, p, names[i], false, &s))
            return FL_EINVALID_ARGUMENT;
        if (s && !fl_name_is_valid(s))
            return spec_bad(c, spec_get(p, names[i]), names[i],
                            "%s must be 1 to 128 of A-Z a-z 0-9 _ -, starting with a letter or _",
                            names[i]);
    }
    const node_t *in = spec_get(p, "Input");
    if (in && in->kind != N_MAP && in->kind != N_STR)
        return spec_bad(c, in, "Input", "Input must be an object or a JSON text, not %s",
                        spec_kind_name(in));
    spec_pop(c, m);
    return FL_OK;
}

/* Checks Parameters of FC:InvokeFunction: resourceArn (a function ARN, or .$) required,
 * invocationType Sync or Async, body any JSON (or body.$). */
static int check_fc(cx_t *c, const node_t *state, const node_t *p)
{
    static const char *const keys[] = {"resourceArn", "resourceArn.$", "invocationType",
                                       "invocationType.$", "body", "body.$", NULL};
    const char *s;
    if (!p)
        return spec_bad(c, state, "Parameters",
                        "Parameters with a resourceArn is required for FC:InvokeFunction");
    if (p->kind != N_MAP)
        return spec_bad(c, p, "Parameters", "Parameters must be an object, not %s",
                        spec_kind_name(p));
    size_t m = spec_push_key(c, "Parameters");
    if (spec_check_keys(c, p, keys, "FC:InvokeFunction Parameters") || check_pairs(c, p, keys))
        return FL_EINVALID_ARGUMENT;
    if (!spec_get(p, "resourceArn") && !spec_get(p, "resourceArn.$"))
        return spec_bad(c, p, "resourceArn", "resourceArn is required for FC:InvokeFunction");
    if (spec_get_str(c, p, "resourceArn", false, &s))
        return FL_EINVALID_ARGUMENT;
    if (s && (strncmp(s, "acs:fc:", 7) || !strstr(s, "functions/")))
        return spec_bad(c, spec_get(p, "resourceArn"), "resourceArn",
                        "resourceArn must be a function ARN like acs:fc:::functions/<name>");
    if (spec_get_str(c, p, "invocationType", false, &s))
        return FL_EINVALID_ARGUMENT;
    if (s && strcmp(s, "Sync") && strcmp(s, "Async"))
        return spec_bad(c, spec_get(p, "invocationType"), "invocationType",
                        "invocationType must be Sync or Async");
    spec_pop(c, m);
    return FL_OK;
}

/* Checks Parameters of MNS:SendMessage: QueueName and MessageBody required (literal or .$),
 * DelaySeconds and Priority optional. */
static int check_mns(cx_t *c, const node_t *state, const node_t *p)
{
    static const char *const keys[] = {"QueueName", "QueueName.$", "MessageBody",
                                       "MessageBody.$", "DelaySeconds", "DelaySeconds.$",
                                       "Priority", "Priority.$", NULL};
    int64_t v;
    if (!p)
        return spec_bad(c, state, "Parameters",
                        "Parameters with a QueueName is required for MNS:SendMessage");
    if (p->kind != N_MAP)
        return spec_bad(c, p, "Parameters", "Parameters must be an object, not %s",
                        spec_kind_name(p));
    size_t m = spec_push_key(c, "Parameters");
    if (spec_check_keys(c, p, keys, "MNS:SendMessage Parameters") || check_pairs(c, p, keys))
        return FL_EINVALID_ARGUMENT;
    if (!spec_get(p, "QueueName") && !spec_get(p, "QueueName.$"))
        return spec_bad(c, p, "QueueName", "QueueName is required for MNS:SendMessage");
    if (!spec_get(p, "MessageBody") && !spec_get(p, "MessageBody.$"))
        return spec_bad(c, p, "MessageBody", "MessageBody is required for MNS:SendMessage");
    if (spec_get_int(c, p, "DelaySeconds", 0, 604800, &v) ||
        spec_get_int(c, p, "Priority", 1, 16, &v))
        return FL_EINVALID_ARGUMENT;
    spec_pop(c, m);
    return FL_OK;
}

static int parse_task(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    const char *s;
    const node_t *mode = spec_get(n, "TaskMode");
    if (spec_get_str(c, n, "Action", true, &s))
        return FL_EINVALID_ARGUMENT;
    /* The CloudFlow console writes FnF; older samples spell the product FNF. */
    bool fnf = !strcmp(s, "FnF:StartExecution") || !strcmp(s, "FNF:StartExecution");
    bool fc = !strcmp(s, "FC:InvokeFunction");
    bool mns = !strcmp(s, "MNS:SendMessage");
    if (!fnf && !fc && !mns && strcmp(s, "HTTP:Request"))
        return spec_bad(c, spec_get(n, "Action"), "Action", "Action '%s' is not supported yet",
                        s);
    st->action = xstrdup(fnf ? "FnF:StartExecution" : s);
    if (spec_get_str(c, n, "TaskMode", false, &s))
        return FL_EINVALID_ARGUMENT;
    if (!s || !strcmp(s, "RequestComplete")) {
        st->mode = FL_MODE_REQUEST_COMPLETE;
    } else if (!strcmp(s, "WaitForCustomCallback")) {
        if (fnf)
            return spec_bad(c, mode, "TaskMode",
                            "TaskMode 'WaitForCustomCallback' is not supported with "
                            "FnF:StartExecution (use WaitForSystemCallback or RequestComplete)");
        st->mode = FL_MODE_WAIT_CALLBACK;
    } else if (!strcmp(s, "WaitForSystemCallback")) {
        if (!fnf)
            return spec_bad(c, mode, "TaskMode",
                            "TaskMode 'WaitForSystemCallback' is not supported with %s (only "
                            "with FnF:StartExecution)",
                            st->action);
        st->mode = FL_MODE_SYNC;
    } else {
        return spec_bad(c, mode, "TaskMode",
                        "unknown TaskMode '%s' (use RequestComplete, WaitForCustomCallback or "
                        "WaitForSystemCallback)",
                        s);
    }
    if ((fnf ? check_fnf : fc ? check_fc : mns ? check_mns : check_http)(c, n,
                                                                         spec_get(n, "Parameters")) ||
        get_ctor(c, n, "Parameters", &st->parameters) ||
        spec_get_int(c, n, "Timeout", 0, SPEC_MAX_TASK_TIMEOUT_S, &st->timeout_s))
        return FL_EINVALID_ARGUMENT;
    return parse_handlers(c, scope, n, st);
}

static int parse_choice(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"Condition", "Next", "Description", NULL};
    const node_t *br = spec_get(n, "Branches");
    if (!br)
        return spec_bad(c, n, "Branches", "Branches is required for a Choice state");
    if (br->kind != N_SEQ || !br->n)
        return spec_bad(c, br, "Branches", "Branches must be a non-empty list");
    st->choices = xcalloc(br->n, sizeof *st->choices);
    st->n_choices = br->n;
    size_t m = spec_push_key(c, "Branches"), i = 0;
    for (const node_t *b = br->first; b; b = b->next, i++) {
        size_t mi = spec_push_idx(c, i);
        if (b->kind != N_MAP)
            return spec_bad(c, b, NULL, "a branch must be an object with Condition and Next");
        if (spec_check_keys(c, b, keys, "a Choice branch") ||
            get_expr(c, b, "Condition", &st->choices[i].cond) ||
            get_target(c, scope, b, "Next", true, &st->choices[i].next))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    /* The CloudFlow docs mark Default as required; an execution that matches no branch
     * would otherwise have nowhere to go. */
    return get_target(c, scope, n, "Default", true, &st->default_next);
}

static int parse_wait(cx_t *c, const node_t *n, fl_state_t *st)
{
    static const char *const forms[] = {"Seconds", "Seconds.$", "Timestamp", "Timestamp.$",
                                        NULL};
    /* flowd's decisions: 0 up to the execution's own time limit, not the small published range. */
    int64_t max = c->flow_timeout_s ? c->flow_timeout_s : SPEC_MAX_EXEC_TIMEOUT_S;
    const node_t *given = NULL;
    const char *ts;
    int64_t ms;
    for (const node_t *ch = n->first; ch; ch = ch->next) {
        if (!spec_in_list(ch->key, forms))
            continue;
        if (given)
            return spec_bad(c, ch, ch->key,
                            "give only one of Seconds, Seconds.$, Timestamp and Timestamp.$ "
                            "(%s is given too)",
                            given->key);
        given = ch;
    }
    if (!given)
        return spec_bad(c, n, "Seconds",
                        "Seconds, Seconds.$, Timestamp or Timestamp.$ is required for a Wait "
                        "state");
    if (!strcmp(given->key, "Seconds"))
        return spec_get_int(c, n, "Seconds", 0, max, &st->wait_s);
    if (!strcmp(given->key, "Seconds.$"))
        return get_expr(c, n, "Seconds.$", &st->wait_expr);
    if (!strcmp(given->key, "Timestamp.$"))
        return get_expr(c, n, "Timestamp.$", &st->wait_until);
    if (spec_get_str(c, n, "Timestamp", true, &ts))
        return FL_EINVALID_ARGUMENT;
    if (fl_time_parse(ts, &ms) != FL_OK)
        return spec_bad(c, given, "Timestamp",
                        "Timestamp must be an RFC 3339 time such as 2024-01-31T08:00:00Z, not "
                        "'%.100s'",
                        ts);
    st->wait_until = spec_time_literal(ts);
    return FL_OK;
}

static int parse_parallel(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"StartAt", "States", "Description", "Comment", NULL};
    const node_t *br = spec_get(n, "Branches");
    size_t i = 0;
    if (!br)
        return spec_bad(c, n, "Branches", "Branches is required for a Parallel state");
    if (br->kind != N_SEQ || !br->n || br->n > 50)
        return spec_bad(c, br, "Branches",
                        "Branches must be a list of 1 to 50 branches (this one has %zu)",
                        br->kind == N_SEQ ? br->n : (size_t)0);
    st->branches = xcalloc(br->n, sizeof *st->branches);
    st->n_branches = br->n;
    size_t m = spec_push_key(c, "Branches");
    for (const node_t *b = br->first; b; b = b->next, i++) {
        size_t mi = spec_push_idx(c, i);
        if (b->kind != N_MAP)
            return spec_bad(c, b, NULL, "a Parallel branch must be an object with StartAt and "
                                        "States");
        if (spec_check_keys(c, b, keys, "a Parallel branch") || check_text(c, b, "Description") ||
            check_text(c, b, "Comment") || parse_scope(c, b, &st->branches[i]))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    return parse_handlers(c, scope, n, st);
}

static int parse_map(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"StartAt", "States", "Description", "Comment", NULL};
    const node_t *p = spec_get(n, "Processor");
    /* "MaxConcuccency" is how a CloudFlow help page spells it; definitions copied from
     * there must keep working. */
    const char *mc_key = spec_get(n, "MaxConcuccency") ? "MaxConcuccency" : "MaxConcurrency";
    int64_t mc = 0;
    if (spec_get(n, "MaxConcuccency") && spec_get(n, "MaxConcurrency"))
        return spec_bad(c, spec_get(n, "MaxConcuccency"), "MaxConcuccency",
                        "give either MaxConcurrency or MaxConcuccency, not both");
    if (get_expr(c, n, "ItemsPath", &st->items) ||
        spec_get_int(c, n, mc_key, 0, INT32_MAX, &mc) ||
        get_ctor(c, n, "ItemConstructor", &st->item_ctor))
        return FL_EINVALID_ARGUMENT;
    st->max_concurrency = (int)mc;
    if (!p)
        return spec_bad(c, n, "Processor", "Processor is required for a Map state");
    if (p->kind != N_MAP)
        return spec_bad(c, p, "Processor", "Processor must be an object with StartAt and "
                                            "States, not %s",
                        spec_kind_name(p));
    st->processor = xcalloc(1, sizeof *st->processor);
    size_t m = spec_push_key(c, "Processor");
    if (spec_check_keys(c, p, keys, "a Map Processor") || check_text(c, p, "Description") ||
        check_text(c, p, "Comment") || parse_scope(c, p, st->processor))
        return FL_EINVALID_ARGUMENT;
    spec_pop(c, m);
    return parse_handlers(c, scope, n, st);
}

static const char *const state_types[] = {
    [FL_ST_PASS] = "Pass", [FL_ST_TASK] = "Task", [FL_ST_CHOICE] = "Choice",
    [FL_ST_WAIT] = "Wait", [FL_ST_SUCCEED] = "Succeed", [FL_ST_FAIL] = "Fail",
    [FL_ST_PARALLEL] = "Parallel", [FL_ST_MAP] = "Map", NULL,
};

static int parse_state(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const common[] = {"Name", "Type", "Description", "Comment",
                                         "InputConstructor", "OutputConstructor", NULL};
    static const char *const extra[][12] = {
        [FL_ST_PASS] = {"Next", "End", NULL},
        [FL_ST_TASK] = {"Next", "End", "Action", "TaskMode", "Parameters", "Timeout", "Retry",
                        "Catch", "OnErrors", NULL},
        [FL_ST_CHOICE] = {"Branches", "Default", NULL},
        [FL_ST_WAIT] = {"Next", "End", "Seconds", "Seconds.$", "Timestamp", "Timestamp.$", NULL},
        [FL_ST_SUCCEED] = {NULL},
        [FL_ST_FAIL] = {"Code", "Detail", NULL},
        [FL_ST_PARALLEL] = {"Next", "End", "Branches", "Retry", "Catch", "OnErrors", NULL},
        [FL_ST_MAP] = {"Next", "End", "ItemsPath", "Processor", "MaxConcurrency",
                       "MaxConcuccency", "ItemConstructor", "Retry", "Catch", "OnErrors", NULL},
    };
    /* Distributed mode runs each item as a child execution (a "MapRun"); flowd runs Map
     * inline only, so these fields are refused by name rather than as unknown. */
    static const char *const distributed[] = {"ProcessorConfig", "ItemReader", "ItemBatcher",
                                              "ResultWriter", "ToleratedFailureCount",
                                              "ToleratedFailurePercentage", NULL};
    const char *type;
    int t = 0;
    if (spec_get_str(c, n, "Type", true, &type))
        return FL_EINVALID_ARGUMENT;
    while (state_types[t] && strcmp(state_types[t], type))
        t++;
    if (!state_types[t])
        return spec_bad(c, spec_get(n, "Type"), "Type",
                        "unknown state type '%s' (use Pass, Task, Choice, Wait, Succeed, Fail, "
                        "Parallel or Map)",
                        type);
    st->type = (fl_state_type_t)t;
    for (const node_t *ch = n->first; ch; ch = ch->next) {
        node_t at = {.line = ch->kline, .col = ch->kcol};
        if (spec_in_list(ch->key, common) || spec_in_list(ch->key, extra[t]))
            continue;
        if (!strcmp(ch->key, "Next") || !strcmp(ch->key, "End"))
            return spec_bad(c, &at, ch->key, "a %s state cannot have %s", type, ch->key);
        if (t == FL_ST_FAIL && (!strcmp(ch->key, "Code.$") || !strcmp(ch->key, "Detail.$")))
            return spec_bad(c, &at, ch->key, "%s is not supported yet", ch->key);
        if (t == FL_ST_MAP && spec_in_list(ch->key, distributed))
            return spec_bad(c, &at, ch->key, "distributed Map is not supported (%s)", ch->key);
        return spec_bad(c, &at, ch->key, "unknown field '%s' in a %s state", ch->key, type);
    }
    if (check_text(c, n, "Description") || check_text(c, n, "Comment") ||
        get_ctor(c, n, "InputConstructor", &st->input_ctor) ||
        get_ctor(c, n, "OutputConstructor", &st->output_ctor))
        return FL_EINVALID_ARGUMENT;
    if (spec_in_list("Next", extra[t])) {
        const node_t *end = spec_get(n, "End");
        if (end && end->kind != N_BOOL)
            return spec_bad(c, end, "End", "End must be true or false, not %s",
                            spec_kind_name(end));
        st->end = end && end->b;
        if (get_target(c, scope, n, "Next", false, &st->next))
            return FL_EINVALID_ARGUMENT;
        if (st->end && st->next >= 0)
            return spec_bad(c, end, "End", "a state cannot have both Next and End: true");
        if (!st->end && st->next < 0)
            return spec_bad(c, n, NULL, "state '%s' needs either Next or End: true", st->name);
    }
    switch (st->type) {
    case FL_ST_TASK: return parse_task(c, scope, n, st);
    case FL_ST_CHOICE: return parse_choice(c, scope, n, st);
    case FL_ST_WAIT: return parse_wait(c, n, st);
    case FL_ST_PARALLEL: return parse_parallel(c, scope, n, st);
    case FL_ST_MAP: return parse_map(c, scope, n, st);
    case FL_ST_FAIL: {
        const char *code, *detail;
        if (spec_get_str(c, n, "Code", false, &code) ||
            spec_get_str(c, n, "Detail", false, &detail))
            return FL_EINVALID_ARGUMENT;
        st->fail_code = code ? xstrdup(code) : NULL;
        st->fail_detail = detail ? xstrdup(detail) : NULL;
        return FL_OK;
    }
    default: return FL_OK;
    }
}

/* Fails on the first state (in list order) that no transition leads to from StartAt.
 * Transitions never leave a scope, so each scope is checked on its own. */
static int check_reachable(cx_t *c, const fl_scope_t *s, const node_t *list)
{
    bool *seen = xcalloc(s->n_states, sizeof *seen);
    int *todo = xmalloc(s->n_states * sizeof *todo), n = 0, rc = FL_OK;
    seen[s->start] = true;
    todo[n++] = s->start;
    while (n) {
        const fl_state_t *st = &s->states[todo[--n]];
        int out[2] = {st->next, st->default_next};
        for (size_t k = 0; k < 2 + st->n_choices + st->n_catches; k++) {
            int to = k < 2                  ? out[k]
                     : k < 2 + st->n_choices ? st->choices[k - 2].next
                                             : st->catches[k - 2 - st->n_choices].next;
            if (to >= 0 && !seen[to]) {
                seen[to] = true;
                todo[n++] = to;
            }
        }
    }
    size_t i = 0;
    for (const node_t *st = list->first; st && rc == FL_OK; st = st->next, i++)
        if (!seen[i]) {
            spec_push_idx(c, i);
            rc = spec_bad(c, st, NULL, "state '%s' is not reachable from StartAt",
                          s->states[i].name);
        }
    free(seen);
    free(todo);
    return rc;
}

/* Parses {StartAt, States} of map into scope: the top level, a Parallel branch or a Map
 * processor, which have the same shape and rules. Transitions stay within the scope. */
static int parse_scope(cx_t *c, const node_t *map, fl_scope_t *scope)
{
    const node_t *list = spec_get(map, "States");
    const char *start;
    size_t i = 0;
    if (spec_get_str(c, map, "StartAt", true, &start))
        return FL_EINVALID_ARGUMENT;
    if (!list)
        return spec_bad(c, map, "States", "States is required");
    if (list->kind != N_SEQ || !list->n)
        return spec_bad(c, list, "States", "States must be a non-empty list of states");
    if (spec_count_states(c, list, "States", list->n))
        return FL_EINVALID_ARGUMENT;
    scope->states = xcalloc(list->n, sizeof *scope->states);
    scope->n_states = list->n;
    size_t m = spec_push_key(c, "States");
    /* Names first, so that Next may point forward. */
    if (spec_name_states(c, scope, list, "Name", "state", "States"))
        return FL_EINVALID_ARGUMENT;
    for (const node_t *n = list->first; n; n = n->next, i++) {
        size_t mi = spec_push_idx(c, i);
        if (parse_state(c, scope, n, &scope->states[i]))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    if ((scope->start = spec_find_state(scope, start)) < 0)
        return spec_bad(c, spec_get(map, "StartAt"), "StartAt",
                        "StartAt names an unknown state '%s'", start);
    size_t ms = spec_push_key(c, "States");
    if (check_reachable(c, scope, list))
        return FL_EINVALID_ARGUMENT;
    spec_pop(c, ms);
    return FL_OK;
}

static int parse_flow(cx_t *c, const node_t *root, fl_flow_t *f)
{
    static const char *const keys[] = {"Type", "SpecVersion", "Name", "StartAt", "States",
                                       "Description", "Comment", "Timeout", NULL};
    const char *s;
    f->dialect = FL_DIALECT_CLOUDFLOW;
    if (spec_check_keys(c, root, keys, "the flow definition"))
        return FL_EINVALID_ARGUMENT;
    if (spec_get_str(c, root, "Type", true, &s))
        return FL_EINVALID_ARGUMENT;
    if (strcmp(s, "StateMachine"))
        return spec_bad(c, spec_get(root, "Type"), "Type", "Type must be 'StateMachine', not '%s'",
                        s);
    if (spec_get_str(c, root, "SpecVersion", true, &s))
        return FL_EINVALID_ARGUMENT;
    if (strcmp(s, "v1"))
        return spec_bad(c, spec_get(root, "SpecVersion"), "SpecVersion",
                        "SpecVersion '%s' is not supported (use 'v1')", s);
    if (spec_get_str(c, root, "Name", false, &s))
        return FL_EINVALID_ARGUMENT;
    if (s && !fl_name_is_valid(s))
        return spec_bad(c, spec_get(root, "Name"), "Name",
                        "Name must be 1 to 128 of A-Z a-z 0-9 _ -, starting with a letter or _");
    f->name = s ? xstrdup(s) : NULL;
    if (check_text(c, root, "Description") || check_text(c, root, "Comment") ||
        spec_get_int(c, root, "Timeout", 0, SPEC_MAX_EXEC_TIMEOUT_S, &f->timeout_s))
        return FL_EINVALID_ARGUMENT;
    c->flow_timeout_s = f->timeout_s;
    return parse_scope(c, root, &f->root);
}

/* Tells the two languages apart. "Type" is CloudFlow's; without it, any of FDL's
 * lower-case keys selects FDL, so that an FDL document missing one of them is told what
 * is missing rather than that it is not CloudFlow. */
static int parse_root(cx_t *c, const node_t *root, fl_flow_t *f)
{
    static const char *const cloudflow[] = {"SpecVersion", "StartAt", "States", NULL};
    if (root->kind != N_MAP)
        return spec_bad(c, root, NULL, "the definition must be an object, not %s",
                        spec_kind_name(root));
    if (spec_get(root, "Type"))
        return parse_flow(c, root, f);
    if (spec_is_fdl(root))
        return spec_parse_fdl(c, root, f);
    for (size_t i = 0; cloudflow[i]; i++)
        if (spec_get(root, cloudflow[i]))
            return parse_flow(c, root, f);
    return spec_bad(c, root, NULL,
                    "the definition is neither CloudFlow (Type: StateMachine, SpecVersion, "
                    "StartAt, States) nor FDL (version, type: flow, steps)");
}

/* ------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------ */

/*
 * Parses and validates text (len bytes, YAML or JSON, CloudFlow or FDL). Returns FL_OK with
 * a new flow in *out (free with fl_flow_free), or FL_EINVALID_ARGUMENT with diag (optional)
 * filled. Keeps no state; safe to call from several threads at once.
 */
int fl_spec_parse(const char *text, size_t len, fl_flow_t **out /* OUT */, fl_diag_t *diag)
{
    fl_diag_t local;
    cx_t c = {.diag = diag ? diag : &local};
    fl_flow_t *f = xcalloc(1, sizeof *f);
    node_t *root;
    int rc = FL_EINVALID_ARGUMENT;
    *out = NULL;
    memset(c.diag, 0, sizeof *c.diag);
    fl_arena_init(&c.arena);
    if (len > FL_SPEC_MAX_BYTES) {
        spec_bad(&c, NULL, NULL, "the definition is larger than %d bytes", FL_SPEC_MAX_BYTES);
        goto out;
    }
    if ((rc = load(&c, text, len, &root)) != FL_OK || (rc = parse_root(&c, root, f)) != FL_OK)
        goto out;
    *out = f;
    f = NULL;
out:
    fl_flow_free(f);
    fl_arena_close(&c.arena);
    return rc;
}

int fl_yaml_parse(const char *text, size_t len, json_t **out, fl_diag_t *diag)
{
    fl_diag_t local;
    cx_t c = {.diag = diag ? diag : &local};
    node_t *root;
    *out = NULL;
    memset(c.diag, 0, sizeof *c.diag);
    fl_arena_init(&c.arena);
    int rc = len > FL_SPEC_MAX_BYTES ? spec_bad(&c, NULL, NULL, "the text is larger than %d bytes",
                                                FL_SPEC_MAX_BYTES)
                                     : load(&c, text, len, &root);
    if (rc == FL_OK)
        *out = spec_to_json(root);
    fl_arena_close(&c.arena);
    return rc;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n && v; i++)
        free(v[i]);
    free(v);
}

static void scope_free(fl_scope_t *s)
{
    if (s) {
        spec_scope_clear(s);
        free(s);
    }
}

static void state_clear(fl_state_t *st)
{
    free(st->name);
    free(st->action);
    free(st->fail_code);
    free(st->fail_detail);
    fl_tmpl_free(st->input_ctor);
    fl_tmpl_free(st->output_ctor);
    fl_tmpl_free(st->parameters);
    fl_tmpl_free(st->error_map);
    fl_expr_free(st->wait_expr);
    fl_expr_free(st->wait_until);
    for (size_t k = 0; k < st->n_retry; k++)
        free_names(st->retry[k].errors, st->retry[k].n_errors);
    free(st->retry);
    for (size_t k = 0; k < st->n_catches; k++) {
        free_names(st->catches[k].errors, st->catches[k].n_errors);
        fl_tmpl_free(st->catches[k].output_ctor);
    }
    free(st->catches);
    for (size_t k = 0; k < st->n_choices; k++) {
        fl_expr_free(st->choices[k].cond);
        scope_free(st->choices[k].scope);
    }
    free(st->choices);
    scope_free(st->default_scope);
    for (size_t k = 0; k < st->n_branches; k++)
        spec_scope_clear(&st->branches[k]);
    free(st->branches);
    fl_expr_free(st->items);
    scope_free(st->processor);
    fl_tmpl_free(st->item_ctor);
    free(st->item_name);
    free(st->index_name);
}

/* Frees the states of s and everything they own, nested scopes included (recursion depth
 * is bounded by FL_SPEC_MAX_DEPTH, as the YAML nesting was). Leaves s empty. */
void spec_scope_clear(fl_scope_t *s)
{
    for (size_t i = 0; s->states && i < s->n_states; i++)
        state_clear(&s->states[i]);
    free(s->states);
    s->states = NULL;
    s->n_states = 0;
}

/* Frees f and everything it owns. NULL-safe. */
void fl_flow_free(fl_flow_t *f)
{
    if (!f)
        return;
    spec_scope_clear(&f->root);
    fl_tmpl_free(f->input_ctor);
    fl_tmpl_free(f->output_ctor);
    free(f->name);
    free(f);
}

/* True when err equals one of names exactly (case-sensitive) or names holds "FnF.ALL". */
bool fl_spec_errors_match(char *const *names, size_t n, const char *err)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], "FnF.ALL") || (err && !strcmp(names[i], err)))
            return true;
    return false;
}
