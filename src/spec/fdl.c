/*
 * fdl.c - the legacy Serverless Workflow language (FDL: version, type: flow, steps), read
 * from the node tree spec.c loaded, into the same fl_flow_t as CloudFlow, with dialect
 * FL_DIALECT_FDL.
 *
 * Steps run top to bottom: step i continues with step i+1 (state->next) unless it ends its
 * list (end: true, or the last step: next = -1, end = true; succeed and fail: next = -1) or
 * jumps (choice and catch goto). Nested step lists (choice branches, parallel branches,
 * foreach) are scopes of their own, starting at their first step; a goto never leaves its
 * list. Mappings become constructors: a {target, source} pair gives "target.$": source when
 * the source is a path ($input, $local, $context) and "target": source for a constant.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_int.h"

#define FDL_MAX_BRANCHES 100    /* parallel branches, as documented */
#define FDL_MAX_CONCURRENCY 100 /* foreach maxConcurrency, as documented */

static const char *const step_types[] = {
    [FL_ST_PASS] = "pass",         [FL_ST_TASK] = "task",       [FL_ST_CHOICE] = "choice",
    [FL_ST_WAIT] = "wait",         [FL_ST_SUCCEED] = "succeed", [FL_ST_FAIL] = "fail",
    [FL_ST_PARALLEL] = "parallel", [FL_ST_MAP] = "foreach",     NULL,
};

static int parse_steps(cx_t *c, const node_t *owner, fl_scope_t *scope);

/* FDL's top-level keys are lower case; CloudFlow's are capitalized. */
bool spec_is_fdl(const node_t *root)
{
    return spec_get(root, "version") || spec_get(root, "type") || spec_get(root, "steps");
}

static bool ends_with_dollar(const char *k)
{
    size_t n = strlen(k);
    return n >= 2 && !strcmp(k + n - 2, ".$");
}

/* True when s is a mapping path: $input, $local or $context, alone or followed by '.' or
 * '['. Anything else in a source is a constant, as the FDL documentation says. */
static bool is_path(const char *s)
{
    static const char *const roots[] = {"$input", "$local", "$context"};
    for (size_t i = 0; i < FL_ARRAY_LEN(roots); i++) {
        size_t n = strlen(roots[i]);
        if (!strncmp(s, roots[i], n) && (!s[n] || s[n] == '.' || s[n] == '['))
            return true;
    }
    return false;
}

/* Compiles src as an expression only to report its errors at node at; the text itself
 * goes into a template, which compiles it again. */
static int check_expr(cx_t *c, const node_t *at, const char *key, const char *src)
{
    fl_expr_t *e = NULL;
    int rc = spec_compile_expr(c, at, key, src, &e);
    fl_expr_free(e);
    return rc;
}

/*
 * Compiles the mappings map[key], a list of {target (required), source}, into *out (NULL
 * when absent). A path source gives "target.$", anything else a constant "target" (a
 * missing source is null). Targets are unique.
 */
static int get_mappings(cx_t *c, const node_t *map, const char *key, fl_tmpl_t **out)
{
    static const char *const keys[] = {"target", "source", NULL};
    const node_t *list = spec_get(map, key);
    json_t *obj = NULL;
    fl_diag_t d;
    size_t i = 0, m;
    int rc = FL_EINVALID_ARGUMENT;
    if (!list)
        return FL_OK;
    if (list->kind != N_SEQ)
        return spec_bad(c, list, key, "%s must be a list of {target, source}, not %s", key,
                        spec_kind_name(list));
    obj = json_object();
    m = spec_push_key(c, key);
    for (const node_t *e = list->first; e; e = e->next, i++) {
        size_t mi = spec_push_idx(c, i);
        const node_t *src = spec_get(e, "source");
        const char *target;
        if (e->kind != N_MAP) {
            spec_bad(c, e, NULL, "a mapping must be an object with target and source, not %s",
                     spec_kind_name(e));
            goto out;
        }
        if (spec_check_keys(c, e, keys, "a mapping") ||
            spec_get_str(c, e, "target", true, &target))
            goto out;
        if (!*target || ends_with_dollar(target)) {
            spec_bad(c, spec_get(e, "target"), "target",
                     "target must be a non-empty name not ending in '.$'");
            goto out;
        }
        char *xkey = fl_arena_printf(&c->arena, "%s.$", target);
        if (json_object_get(obj, target) || json_object_get(obj, xkey)) {
            spec_bad(c, spec_get(e, "target"), "target", "duplicate target '%s'", target);
            goto out;
        }
        if (src && src->kind == N_STR && is_path(src->s)) {
            if (check_expr(c, src, "source", src->s))
                goto out;
            json_object_set_new(obj, xkey, json_string(src->s));
        } else if (src && (src->kind == N_MAP || src->kind == N_SEQ)) {
            spec_bad(c, src, "source",
                     "source must be a path ($input..., $local..., $context...) or a constant "
                     "string or number, not %s",
                     spec_kind_name(src));
            goto out;
        } else {
            json_object_set_new(obj, target, src ? spec_to_json(src) : json_null());
        }
        spec_pop(c, mi);
    }
    if (fl_tmpl_compile(obj, out, &d) != FL_OK) {
        spec_bad(c, list, NULL, "%s: %s", d.path, d.msg);
        goto out;
    }
    spec_pop(c, m);
    rc = FL_OK;
out:
    json_decref(obj);
    return rc;
}

/* Builds the constructor JSON of serviceParams object n into *out (new): a string value
 * starting with '$' is a path ("$" alone = the whole input), anything else a constant;
 * nested objects are walked the same way. */
static int params_json(cx_t *c, const node_t *n, json_t **out)
{
    json_t *obj = json_object(), *sub;
    *out = NULL;
    for (const node_t *ch = n->first; ch; ch = ch->next) {
        size_t m = spec_push_key(c, ch->key);
        if (ends_with_dollar(ch->key)) {
            json_decref(obj);
            return spec_bad(c, &(node_t){.line = ch->kline, .col = ch->kcol}, NULL,
                            "serviceParams keys cannot end with '.$' (a value starting with $ "
                            "is a path)");
        }
        if (ch->kind == N_STR && ch->s[0] == '$') {
            if (check_expr(c, ch, NULL, ch->s)) {
                json_decref(obj);
                return FL_EINVALID_ARGUMENT;
            }
            json_object_set_new(obj, fl_arena_printf(&c->arena, "%s.$", ch->key),
                                json_string(ch->s));
        } else if (ch->kind == N_MAP) {
            if (params_json(c, ch, &sub)) {
                json_decref(obj);
                return FL_EINVALID_ARGUMENT;
            }
            json_object_set_new(obj, ch->key, sub);
        } else {
            json_object_set_new(obj, ch->key, spec_to_json(ch));
        }
        spec_pop(c, m);
    }
    *out = obj;
    return FL_OK;
}

static int get_params(cx_t *c, const node_t *map, fl_tmpl_t **out)
{
    const node_t *n = spec_get(map, "serviceParams");
    json_t *j;
    fl_diag_t d;
    if (!n)
        return FL_OK;
    if (n->kind != N_MAP)
        return spec_bad(c, n, "serviceParams", "serviceParams must be an object, not %s",
                        spec_kind_name(n));
    size_t m = spec_push_key(c, "serviceParams");
    if (params_json(c, n, &j))
        return FL_EINVALID_ARGUMENT;
    int rc = fl_tmpl_compile(j, out, &d);
    json_decref(j);
    if (rc != FL_OK)
        return spec_bad(c, n, d.path, "%s", d.msg);
    spec_pop(c, m);
    return FL_OK;
}

/* Resolves map[key] (a step name) to an index in scope; required decides absence. */
static int get_goto(cx_t *c, const fl_scope_t *scope, const node_t *map, const char *key,
                    bool required, int *out)
{
    const char *name;
    int rc = spec_get_str(c, map, key, required, &name);
    if (rc != FL_OK || !name)
        return rc;
    if ((*out = spec_find_state(scope, name)) < 0)
        return spec_bad(c, spec_get(map, key), key,
                        "%s names an unknown step '%s' (a goto stays within its step list)",
                        key, name);
    return FL_OK;
}

/* ---- resource ARNs ---- */

/* True when s is pre, then one path segment (non-empty, no '/'), then mid and a second
 * segment when mid is set, then exactly suf. */
static bool arn_res(const char *s, const char *pre, const char *mid, const char *suf)
{
    size_t n = strlen(pre), seg;
    if (strncmp(s, pre, n))
        return false;
    s += n;
    if (!(seg = strcspn(s, "/")))
        return false;
    s += seg;
    if (mid) {
        n = strlen(mid);
        if (strncmp(s, mid, n))
            return false;
        s += n;
        if (!(seg = strcspn(s, "/")))
            return false;
        s += seg;
    }
    return !strcmp(s, suf);
}

/* Checks a resourceArn: acs:<service>:<region>:<account>:<resource> for an FC function, an
 * MNS queue or topic, or a sub-flow (sets *is_flow). Region and account may be empty. */
static int check_arn(cx_t *c, const node_t *at, const char *key, const char *arn, bool *is_flow)
{
    const char *p = arn, *svc, *res;
    size_t svc_len;
    *is_flow = false;
    if (strncmp(p, "acs:", 4))
        goto bad;
    svc = p += 4;
    svc_len = strcspn(p, ":");
    p += svc_len;
    for (int i = 0; i < 3; i++) { /* the colons after service, region and account */
        if (*p != ':')
            goto bad;
        p++;
        if (i < 2)
            p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
    }
    res = p;
    if (svc_len == 2 && !strncmp(svc, "fc", 2) && arn_res(res, "services/", "/functions/", ""))
        return FL_OK;
    if (svc_len == 3 && !strncmp(svc, "mns", 3) &&
        (arn_res(res, "/queues/", NULL, "/messages") ||
         arn_res(res, "/topics/", NULL, "/messages")))
        return FL_OK;
    if (svc_len == 3 && !strncmp(svc, "fnf", 3) && arn_res(res, "flow/", NULL, "") &&
        fl_name_is_valid(res + 5)) {
        *is_flow = true;
        return FL_OK;
    }
bad:
    return spec_bad(c, at, key,
                    "%s '%.200s' is not supported (use "
                    "acs:fc:<region>:<account>:services/<service>/functions/<function>, "
                    "acs:mns:::/queues/<queue>/messages, acs:mns:::/topics/<topic>/messages or "
                    "acs:fnf:::flow/<flow>)",
                    key, arn);
}

/* ---- error handling: retry, catch ---- */

static int parse_retry(cx_t *c, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"errors", "intervalSeconds", "maxAttempts", "multiplier",
                                       "maxIntervalSeconds", NULL};
    const node_t *list = spec_get(n, "retry");
    size_t i = 0;
    if (!list)
        return FL_OK;
    if (list->kind != N_SEQ)
        return spec_bad(c, list, "retry", "retry must be a list, not %s", spec_kind_name(list));
    st->retry = xcalloc(list->n, sizeof *st->retry);
    st->n_retry = list->n;
    size_t m = spec_push_key(c, "retry");
    for (const node_t *r = list->first; r; r = r->next, i++) {
        fl_retry_t *rt = &st->retry[i];
        int64_t attempts = 3;
        size_t mi = spec_push_idx(c, i);
        /* FDL's documented defaults: 1 s, 3 attempts, doubling. */
        rt->interval_s = 1;
        rt->backoff_rate = 2;
        if (r->kind != N_MAP)
            return spec_bad(c, r, NULL, "a retry rule must be an object, not %s",
                            spec_kind_name(r));
        if (spec_check_keys(c, r, keys, "a retry rule") ||
            spec_get_errors(c, r, "errors", &rt->errors, &rt->n_errors) ||
            spec_get_num(c, r, "intervalSeconds", 0, SPEC_MAX_RETRY_SECONDS, &rt->interval_s) ||
            spec_get_int(c, r, "maxAttempts", 0, INT32_MAX, &attempts) ||
            spec_get_num(c, r, "multiplier", 1, 1000, &rt->backoff_rate) ||
            spec_get_num(c, r, "maxIntervalSeconds", 0, SPEC_MAX_RETRY_SECONDS,
                         &rt->max_backoff_s))
            return FL_EINVALID_ARGUMENT;
        rt->max_attempts = (int)attempts;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    return FL_OK;
}

static int parse_catch(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"errors", "goto", NULL};
    const node_t *list = spec_get(n, "catch");
    size_t i = 0;
    if (!list)
        return FL_OK;
    if (list->kind != N_SEQ)
        return spec_bad(c, list, "catch", "catch must be a list, not %s", spec_kind_name(list));
    st->catches = xcalloc(list->n, sizeof *st->catches);
    st->n_catches = list->n;
    size_t m = spec_push_key(c, "catch");
    for (const node_t *r = list->first; r; r = r->next, i++) {
        fl_catch_t *ct = &st->catches[i];
        size_t mi = spec_push_idx(c, i);
        if (r->kind != N_MAP)
            return spec_bad(c, r, NULL, "a catch rule must be an object, not %s",
                            spec_kind_name(r));
        if (spec_check_keys(c, r, keys, "a catch rule") ||
            spec_get_errors(c, r, "errors", &ct->errors, &ct->n_errors) ||
            get_goto(c, scope, r, "goto", true, &ct->next))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    return FL_OK;
}

/* ---- steps ---- */

static int parse_task(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    const char *key = spec_get(n, "action") ? "action" : "resourceArn", *arn, *pat;
    bool flow;
    if (spec_get(n, "action") && spec_get(n, "resourceArn"))
        return spec_bad(c, spec_get(n, "action"), "action",
                        "give either resourceArn or action, not both");
    if (spec_get_str(c, n, key, true, &arn) || check_arn(c, spec_get(n, key), key, arn, &flow))
        return FL_EINVALID_ARGUMENT;
    st->action = xstrdup(arn);
    if (spec_get_str(c, n, "pattern", false, &pat))
        return FL_EINVALID_ARGUMENT;
    if (!pat || !strcmp(pat, "requestResponse")) {
        st->mode = FL_MODE_REQUEST_COMPLETE;
    } else if (!strcmp(pat, "waitForCallback")) {
        st->mode = FL_MODE_WAIT_CALLBACK;
    } else if (!strcmp(pat, "sync")) {
        if (!flow)
            return spec_bad(c, spec_get(n, "pattern"), "pattern",
                            "pattern 'sync' needs a sub-flow resource (acs:fnf:::flow/<flow>), "
                            "not '%.200s'",
                            arn);
        st->mode = FL_MODE_SYNC;
    } else {
        return spec_bad(c, spec_get(n, "pattern"), "pattern",
                        "unknown pattern '%s' (use requestResponse, waitForCallback or sync)",
                        pat);
    }
    /* FDL documents no task limit; a callback may wait as long as an execution lives. */
    if (spec_get_int(c, n, "timeoutSeconds", 0, SPEC_MAX_EXEC_TIMEOUT_S, &st->timeout_s) ||
        get_params(c, n, &st->parameters) || parse_retry(c, n, st) ||
        parse_catch(c, scope, n, st) || get_mappings(c, n, "errorMappings", &st->error_map))
        return FL_EINVALID_ARGUMENT;
    return FL_OK;
}

/* A wait or timestamp given as a string starting with '$' is a path. */
static int parse_wait(cx_t *c, const node_t *n, fl_state_t *st)
{
    const node_t *dur = spec_get(n, "duration"), *ts = spec_get(n, "timestamp");
    int64_t max = c->flow_timeout_s ? c->flow_timeout_s : SPEC_MAX_EXEC_TIMEOUT_S, ms;
    if (dur && ts) {
        const node_t *later = ts->kline > dur->kline ||
                                      (ts->kline == dur->kline && ts->kcol > dur->kcol)
                                  ? ts
                                  : dur;
        return spec_bad(c, later, later->key, "give either duration or timestamp, not both");
    }
    if (!dur && !ts)
        return spec_bad(c, n, "duration", "duration or timestamp is required for a wait step");
    if (dur && dur->kind == N_STR && dur->s[0] == '$')
        return spec_compile_expr(c, dur, "duration", dur->s, &st->wait_expr);
    if (dur)
        return dur->kind == N_INT && dur->i >= 0 && dur->i <= max
                   ? (st->wait_s = dur->i, FL_OK)
                   : spec_bad(c, dur, "duration",
                              "duration must be an integer from 0 to %lld or a path such as "
                              "$input.delay",
                              (long long)max);
    if (ts->kind != N_STR)
        return spec_bad(c, ts, "timestamp", "timestamp must be a path or an RFC 3339 time, not %s",
                        spec_kind_name(ts));
    if (ts->s[0] == '$')
        return spec_compile_expr(c, ts, "timestamp", ts->s, &st->wait_until);
    if (fl_time_parse(ts->s, &ms) != FL_OK)
        return spec_bad(c, ts, "timestamp",
                        "timestamp must be a path such as $input.when or an RFC 3339 time such "
                        "as 2024-01-31T08:00:00Z, not '%.100s'",
                        ts->s);
    st->wait_until = spec_time_literal(ts->s);
    return FL_OK;
}

/* One choice or the default: {goto} or {steps} (then a nested scope), not both. */
static int parse_target(cx_t *c, const fl_scope_t *scope, const node_t *n, const char *what,
                        int *next, fl_scope_t **sub)
{
    bool g = spec_get(n, "goto") != NULL, s = spec_get(n, "steps") != NULL;
    *next = -1;
    if (g && s) {
        const node_t *st = spec_get(n, "steps");
        return spec_bad(c, &(node_t){.line = st->kline, .col = st->kcol}, "steps",
                        "give either goto or steps, not both");
    }
    if (!g && !s)
        return spec_bad(c, n, NULL, "%s needs goto or steps", what);
    if (g)
        return get_goto(c, scope, n, "goto", true, next);
    *sub = xcalloc(1, sizeof **sub);
    return parse_steps(c, n, *sub);
}

static int parse_choice(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"condition", "goto", "steps", NULL};
    static const char *const dkeys[] = {"goto", "steps", NULL};
    const node_t *list = spec_get(n, "choices"), *def = spec_get(n, "default");
    size_t i = 0, m;
    if (!list)
        return spec_bad(c, n, "choices", "choices is required for a choice step");
    if (list->kind != N_SEQ || !list->n)
        return spec_bad(c, list, "choices", "choices must be a non-empty list");
    st->choices = xcalloc(list->n, sizeof *st->choices);
    st->n_choices = list->n;
    m = spec_push_key(c, "choices");
    for (const node_t *ch = list->first; ch; ch = ch->next, i++) {
        fl_choice_t *cs = &st->choices[i];
        size_t mi = spec_push_idx(c, i);
        cs->next = -1;
        if (ch->kind != N_MAP)
            return spec_bad(c, ch, NULL, "a choice must be an object with condition and goto or "
                                         "steps");
        if (spec_check_keys(c, ch, keys, "a choice"))
            return FL_EINVALID_ARGUMENT;
        const char *cond;
        if (spec_get_str(c, ch, "condition", true, &cond) ||
            spec_compile_expr(c, spec_get(ch, "condition"), "condition", cond, &cs->cond) ||
            parse_target(c, scope, ch, "a choice", &cs->next, &cs->scope))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    if (!def)
        return FL_OK;
    if (def->kind != N_MAP)
        return spec_bad(c, def, "default", "default must be an object with goto or steps, not %s",
                        spec_kind_name(def));
    m = spec_push_key(c, "default");
    if (spec_check_keys(c, def, dkeys, "a choice default") ||
        parse_target(c, scope, def, "default", &st->default_next, &st->default_scope))
        return FL_EINVALID_ARGUMENT;
    spec_pop(c, m);
    return FL_OK;
}

static int parse_parallel(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"steps", NULL};
    const node_t *list = spec_get(n, "branches");
    size_t i = 0;
    if (!list)
        return spec_bad(c, n, "branches", "branches is required for a parallel step");
    if (list->kind != N_SEQ || !list->n || list->n > FDL_MAX_BRANCHES)
        return spec_bad(c, list, "branches", "branches must be a list of 1 to %d branches",
                        FDL_MAX_BRANCHES);
    st->branches = xcalloc(list->n, sizeof *st->branches);
    st->n_branches = list->n;
    size_t m = spec_push_key(c, "branches");
    for (const node_t *b = list->first; b; b = b->next, i++) {
        size_t mi = spec_push_idx(c, i);
        if (b->kind != N_MAP)
            return spec_bad(c, b, NULL, "a branch must be an object with steps, not %s",
                            spec_kind_name(b));
        if (spec_check_keys(c, b, keys, "a parallel branch") ||
            parse_steps(c, b, &st->branches[i]))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    return parse_retry(c, n, st) || parse_catch(c, scope, n, st) ? FL_EINVALID_ARGUMENT : FL_OK;
}

static int parse_foreach(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const keys[] = {"collection", "item", "index", NULL};
    const node_t *im = spec_get(n, "iterationMapping");
    const char *coll, *item, *index;
    int64_t mc = 0;
    if (!im)
        return spec_bad(c, n, "iterationMapping", "iterationMapping is required for a foreach "
                                                  "step");
    if (im->kind != N_MAP)
        return spec_bad(c, im, "iterationMapping",
                        "iterationMapping must be an object with collection and item, not %s",
                        spec_kind_name(im));
    size_t m = spec_push_key(c, "iterationMapping");
    if (spec_check_keys(c, im, keys, "iterationMapping") ||
        spec_get_str(c, im, "collection", true, &coll) ||
        spec_compile_expr(c, spec_get(im, "collection"), "collection", coll, &st->items) ||
        spec_get_str(c, im, "item", true, &item) || spec_get_str(c, im, "index", false, &index))
        return FL_EINVALID_ARGUMENT;
    if (!*item || (index && !*index))
        return spec_bad(c, spec_get(im, *item ? "index" : "item"), *item ? "index" : "item",
                        "%s must be a non-empty name", *item ? "index" : "item");
    st->item_name = xstrdup(item);
    st->index_name = index ? xstrdup(index) : NULL;
    spec_pop(c, m);
    if (spec_get_int(c, n, "maxConcurrency", 0, FDL_MAX_CONCURRENCY, &mc))
        return FL_EINVALID_ARGUMENT;
    st->max_concurrency = (int)mc;
    st->processor = xcalloc(1, sizeof *st->processor);
    if (parse_steps(c, n, st->processor) || parse_retry(c, n, st) ||
        parse_catch(c, scope, n, st))
        return FL_EINVALID_ARGUMENT;
    return FL_OK;
}

static int parse_step(cx_t *c, const fl_scope_t *scope, const node_t *n, fl_state_t *st)
{
    static const char *const common[] = {"type", "name", "end", "inputMappings",
                                         "outputMappings", NULL};
    static const char *const extra[][10] = {
        [FL_ST_PASS] = {NULL},
        [FL_ST_TASK] = {"resourceArn", "action", "pattern", "timeoutSeconds", "serviceParams",
                        "retry", "catch", "errorMappings", NULL},
        [FL_ST_CHOICE] = {"choices", "default", NULL},
        [FL_ST_WAIT] = {"duration", "timestamp", NULL},
        [FL_ST_SUCCEED] = {NULL},
        [FL_ST_FAIL] = {"error", "cause", NULL},
        [FL_ST_PARALLEL] = {"branches", "retry", "catch", NULL},
        [FL_ST_MAP] = {"iterationMapping", "steps", "maxConcurrency", "retry", "catch", NULL},
    };
    const node_t *end = spec_get(n, "end");
    const char *type;
    int t = 0;
    if (spec_get_str(c, n, "type", true, &type))
        return FL_EINVALID_ARGUMENT;
    while (step_types[t] && strcmp(step_types[t], type))
        t++;
    if (!strcmp(type, "loop"))
        return spec_bad(c, spec_get(n, "type"), "type", "step type 'loop' is not supported");
    if (!step_types[t])
        return spec_bad(c, spec_get(n, "type"), "type",
                        "unknown step type '%s' (use task, pass, wait, choice, parallel, "
                        "foreach, succeed or fail)",
                        type);
    st->type = (fl_state_type_t)t;
    for (const node_t *ch = n->first; ch; ch = ch->next)
        if (!spec_in_list(ch->key, common) && !spec_in_list(ch->key, extra[t]))
            return spec_bad(c, &(node_t){.line = ch->kline, .col = ch->kcol}, ch->key,
                            "unknown field '%s' in a %s step", ch->key, type);
    if (end && end->kind != N_BOOL)
        return spec_bad(c, end, "end", "end must be true or false, not %s", spec_kind_name(end));
    if (end && end->b) {
        st->next = -1;
        st->end = true;
    }
    if (t == FL_ST_SUCCEED || t == FL_ST_FAIL) { /* they end the list by their nature */
        st->next = -1;
        st->end = false;
    }
    if (get_mappings(c, n, "inputMappings", &st->input_ctor) ||
        get_mappings(c, n, "outputMappings", &st->output_ctor))
        return FL_EINVALID_ARGUMENT;
    switch (st->type) {
    case FL_ST_TASK: return parse_task(c, scope, n, st);
    case FL_ST_CHOICE: return parse_choice(c, scope, n, st);
    case FL_ST_WAIT: return parse_wait(c, n, st);
    case FL_ST_PARALLEL: return parse_parallel(c, scope, n, st);
    case FL_ST_MAP: return parse_foreach(c, scope, n, st);
    case FL_ST_FAIL: {
        const char *code, *cause;
        if (spec_get_str(c, n, "error", false, &code) ||
            spec_get_str(c, n, "cause", false, &cause))
            return FL_EINVALID_ARGUMENT;
        st->fail_code = code ? xstrdup(code) : NULL;
        st->fail_detail = cause ? xstrdup(cause) : NULL;
        return FL_OK;
    }
    default: return FL_OK;
    }
}

/* Parses owner's "steps" list into scope (a new scope starting at its first step). */
static int parse_steps(cx_t *c, const node_t *owner, fl_scope_t *scope)
{
    const node_t *list = spec_get(owner, "steps");
    size_t i = 0;
    if (!list)
        return spec_bad(c, owner, "steps", "steps is required");
    if (list->kind != N_SEQ || !list->n)
        return spec_bad(c, list, "steps", "steps must be a non-empty list of steps");
    if (spec_count_states(c, list, "steps", list->n))
        return FL_EINVALID_ARGUMENT;
    scope->states = xcalloc(list->n, sizeof *scope->states);
    scope->n_states = list->n;
    scope->start = 0;
    size_t m = spec_push_key(c, "steps");
    /* Names first, so that goto may point forward; steps follow each other in order. */
    if (spec_name_states(c, scope, list, "name", "step", "steps"))
        return FL_EINVALID_ARGUMENT;
    for (i = 0; i < list->n; i++) {
        scope->states[i].next = i + 1 < list->n ? (int)i + 1 : -1;
        scope->states[i].end = i + 1 == list->n;
    }
    i = 0;
    for (const node_t *n = list->first; n; n = n->next, i++) {
        size_t mi = spec_push_idx(c, i);
        if (parse_step(c, scope, n, &scope->states[i]))
            return FL_EINVALID_ARGUMENT;
        spec_pop(c, mi);
    }
    spec_pop(c, m);
    return FL_OK;
}

/*
 * Parses the FDL document root (an object) into f: version, type: flow, steps, and the
 * optional timeoutSeconds and flow-level inputMappings / outputMappings. Returns FL_OK or
 * FL_EINVALID_ARGUMENT with c->diag filled; f may then be partly built (fl_flow_free it).
 */
int spec_parse_fdl(cx_t *c, const node_t *root, fl_flow_t *f)
{
    static const char *const keys[] = {"version", "type", "steps", "timeoutSeconds",
                                       "inputMappings", "outputMappings", NULL};
    const char *s;
    f->dialect = FL_DIALECT_FDL;
    if (spec_check_keys(c, root, keys, "the flow definition") ||
        spec_get_str(c, root, "version", true, &s))
        return FL_EINVALID_ARGUMENT;
    if (strcmp(s, "v1") && strcmp(s, "v1beta1"))
        return spec_bad(c, spec_get(root, "version"), "version",
                        "version '%s' is not supported (use v1 or v1beta1)", s);
    if (spec_get_str(c, root, "type", true, &s))
        return FL_EINVALID_ARGUMENT;
    if (strcmp(s, "flow"))
        return spec_bad(c, spec_get(root, "type"), "type", "type must be 'flow', not '%s'", s);
    if (spec_get_int(c, root, "timeoutSeconds", 0, SPEC_MAX_EXEC_TIMEOUT_S, &f->timeout_s))
        return FL_EINVALID_ARGUMENT;
    c->flow_timeout_s = f->timeout_s;
    if (get_mappings(c, root, "inputMappings", &f->input_ctor) ||
        get_mappings(c, root, "outputMappings", &f->output_ctor))
        return FL_EINVALID_ARGUMENT;
    return parse_steps(c, root, &f->root);
}
