/*
 * dispatch.c - the path of every request before its handler: path and method, body type
 * and size, parameter merge, API version, action lookup, signature (V1 or V3), timestamp
 * window, required parameters; then the handler from actions.def. Errors found here use
 * the codes and messages of the public service (flowd's decisions section 1).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define API_VERSION "2019-03-15"

typedef int (*handler_fn)(api_req_t *, api_resp_t *);

enum { SCOPE_FLOW_NAME, SCOPE_FLOW, SCOPE_TOKEN, SCOPE_ALL, SCOPE_ADMIN };

static const struct action {
    const char *name;
    handler_fn fn;
    int scope;
    const char *required;
} actions[] = {
#define X(name, method, fn, scope, required) {#name, fn, scope, required},
#include "actions.def"
#undef X
};

size_t fl_api_action_count(void)
{
    return FL_ARRAY_LEN(actions);
}

const char *fl_api_action_name(size_t i)
{
    return i < FL_ARRAY_LEN(actions) ? actions[i].name : NULL;
}

int fl_api_action_index(const char *name)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(actions); i++)
        if (strcmp(actions[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- helpers for handlers ---- */

const char *api_param(const api_req_t *rq, const char *name)
{
    /* params are sorted by key (api_merge): binary search */
    size_t lo = 0, hi = rq->n_params;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rq->params[mid].key, name);
        if (c == 0)
            return rq->params[mid].val;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int api_err(api_resp_t *rs, int err, ...)
{
    va_list ap;
    va_start(ap, err);
    vsnprintf(rs->msg, sizeof rs->msg, fl_strerror(err), ap);
    va_end(ap);
    rs->err = err;
    return err;
}

int api_errf(api_resp_t *rs, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->msg, sizeof rs->msg, fmt, ap);
    va_end(ap);
    rs->err = err;
    return err;
}

const char *api_flow_arn(api_req_t *rq, const char *flow)
{
    return fl_arena_printf(rq->a, "acs:fnf:%s:%llu:flow/%s", rq->api->region,
                           (unsigned long long)rq->account, flow ? flow : "");
}

int api_authorize(api_req_t *rq, api_resp_t *rs, const char *resource)
{
    rq->resource = resource;
    if (!rq->user)
        return FL_OK; /* a root key may do anything within its own account */
    char action[96];
    snprintf(action, sizeof action, "fnf:%s", rq->action);
    fl_authz_ctx_t ctx = {.source_ip = rq->peer_ip, .secure_transport = false,
                          .now_ms = rq->now_ms};
    if (fl_keys_allowed(rq->api->keys, rq->account, rq->user, action, resource, &ctx))
        return FL_OK;
    return api_errf(rs, FL_EACCESS_DENIED,
                    "The caller is not authorized to perform '%s' on resource '%s'.", action,
                    resource);
}

int api_invalid(api_resp_t *rs, const char *fmt, ...)
{
    char detail[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return api_err(rs, FL_EINVALID_ARGUMENT, detail);
}

int api_int_param(const api_req_t *rq, api_resp_t *rs, const char *name, long lo, long hi,
                  long def, long *out)
{
    const char *v = api_param(rq, name);
    if (!v || !*v) {
        *out = def;
        return FL_OK;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
        return api_invalid(rs, "%s must be an integer from %ld to %ld.", name, lo, hi);
    *out = x;
    return FL_OK;
}

/* ---- signatures ---- */

static int check_time(api_req_t *rq, api_resp_t *rs, const char *name, const char *ts,
                      int64_t *signed_ms)
{
    int64_t t;
    if (fl_time_parse(ts, &t) != FL_OK)
        return api_invalid(rs, "%s must be a UTC time like 2024-01-01T00:00:00Z.", name);
    int64_t d = t - rq->now_ms;
    if (d > rq->api->max_skew_ms || -d > rq->api->max_skew_ms) {
        char now[32];
        fl_time_iso_sec(rq->now_ms, now);
        return api_err(rs, FL_EREQUEST_TIME_TOO_SKEWED, ts, now);
    }
    *signed_ms = t;
    return FL_OK;
}

/* Resolves the access key; a disabled key is as unknown as a missing one. */
static int lookup_key(api_req_t *rq, api_resp_t *rs, const char *ak, char *secret, size_t len)
{
    fl_key_info_t k;
    rq->ak = fl_arena_strdup(rq->a, ak);
    bool known = fl_keys_get(rq->api->keys, ak, &k) && k.enabled;
    if (!known && rq->api->sync) { /* made or enabled on another node a moment ago? */
        fl_api_sync_key_miss(rq->api);
        known = fl_keys_get(rq->api->keys, ak, &k) && k.enabled;
    }
    if (!known)
        return api_err(rs, FL_EINVALID_ACCESS_KEY_ID, ak);
    snprintf(secret, len, "%s", k.secret);
    rq->account = k.account;
    rq->user = k.user[0] ? fl_arena_strdup(rq->a, k.user) : NULL;
    return FL_OK;
}

/* Only requests with a valid signature consume their nonce, so a forger cannot burn them. */
static int check_nonce(api_req_t *rq, api_resp_t *rs, const char *ak, const char *nonce,
                       int64_t signed_ms)
{
    if (!*nonce)
        return api_invalid(rs, "the signature nonce must not be empty.");
    if (fl_nonces_check(rq->api->nonces, ak, nonce, signed_ms, rq->now_ms) != FL_OK)
        return api_err(rs, FL_ESIGNATURE_NONCE_USED);
    if (rq->api->sync) {
        /* Several nodes: the nonce may have been used on another one. It matters while the
         * signed time is within the allowed skew (plus a minute for the nodes' clocks). */
        bool fresh = false;
        int rc = fl_db_nonce_claim(fl_store_reader(rq->api->store), ak, nonce,
                                   signed_ms + rq->api->max_skew_ms + 60000, &fresh);
        if (rc)
            return rc;
        if (!fresh)
            return api_err(rs, FL_ESIGNATURE_NONCE_USED);
    }
    return FL_OK;
}

static int verify_v1(api_req_t *rq, api_resp_t *rs, const fl_http_req_t *hr)
{
    static const char *common[] = {"AccessKeyId", "Signature", "SignatureMethod",
                                   "SignatureNonce", "SignatureVersion", "Timestamp"};
    for (size_t i = 0; i < FL_ARRAY_LEN(common); i++)
        if (!api_param(rq, common[i]))
            return api_err(rs, FL_EMISSING_REQUIRED_PARAMS, common[i]);
    if (strcmp(api_param(rq, "SignatureMethod"), "HMAC-SHA1") != 0)
        return api_invalid(rs, "SignatureMethod must be HMAC-SHA1.");
    if (strcmp(api_param(rq, "SignatureVersion"), "1.0") != 0)
        return api_invalid(rs, "SignatureVersion must be 1.0.");
    if (api_param(rq, "SecurityToken"))
        return api_invalid(rs, "SecurityToken (STS) is not supported by this server.");
    char secret[256];
    int64_t signed_ms = 0;
    const char *ak = api_param(rq, "AccessKeyId");
    int rc = lookup_key(rq, rs, ak, secret, sizeof secret);
    if (!rc)
        rc = check_time(rq, rs, "Timestamp", api_param(rq, "Timestamp"), &signed_ms);
    if (rc)
        return rc;
    char sig[29];
    fl_sign_v1(hr->method, rq->params, rq->n_params, secret, sig);
    if (!fl_sign_equal(sig, api_param(rq, "Signature")))
        return api_err(rs, FL_ESIGNATURE_NOT_MATCH);
    return check_nonce(rq, rs, ak, api_param(rq, "SignatureNonce"), signed_ms);
}

static const char *v3_required[] = {"x-acs-action", "x-acs-content-sha256", "x-acs-date",
                                    "x-acs-signature-nonce", "x-acs-version"};

static int verify_v3(api_req_t *rq, api_resp_t *rs, const fl_http_req_t *hr, const char *authz,
                     const fl_kv_t *query, size_t n_query)
{
    char ak[256], sh[1024], sig[256];
    if (hr->header(hr->conn, "x-acs-security-token") || api_param(rq, "SecurityToken"))
        return api_invalid(rs, "SecurityToken (STS) is not supported by this server.");
    if (fl_sign_v3_parse_authz(authz, ak, sizeof ak, sh, sizeof sh, sig, sizeof sig) != FL_OK)
        return api_invalid(rs, "the Authorization header is malformed.");
    /* Every mandatory header must be covered by the signature. */
    static const char *must_sign[] = {"host", "x-acs-action", "x-acs-content-sha256",
                                      "x-acs-date", "x-acs-signature-nonce", "x-acs-version"};
    for (size_t i = 0; i < FL_ARRAY_LEN(must_sign); i++) {
        bool found = false;
        for (const char *p = sh; *p;) {
            const char *e = strchr(p, ';');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (n == strlen(must_sign[i]) && strncmp(p, must_sign[i], n) == 0)
                found = true;
            p += n + (e ? 1 : 0);
        }
        if (!found)
            return api_invalid(rs, "SignedHeaders must include %s.", must_sign[i]);
    }
    fl_kv_t hdrs[64];
    size_t nh = 0;
    for (const char *p = sh; *p;) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (nh == FL_ARRAY_LEN(hdrs))
            return api_invalid(rs, "SignedHeaders lists too many headers.");
        char *name = fl_arena_strndup(rq->a, p, n);
        const char *v = hr->header(hr->conn, name);
        if (!v)
            return api_err(rs, FL_EMISSING_REQUIRED_HEADER, name);
        hdrs[nh].key = name;
        hdrs[nh].val = v;
        nh++;
        p += n + (e ? 1 : 0);
    }
    char secret[256];
    int64_t signed_ms = 0;
    int rc = lookup_key(rq, rs, ak, secret, sizeof secret);
    if (!rc)
        rc = check_time(rq, rs, "x-acs-date", hr->header(hr->conn, "x-acs-date"), &signed_ms);
    if (rc)
        return rc;
    char body_hash[65];
    fl_sha256_hex(hr->body ? hr->body : "", hr->body_len, body_hash);
    if (strcasecmp(body_hash, hr->header(hr->conn, "x-acs-content-sha256")) != 0)
        return api_err(rs, FL_ESIGNATURE_NOT_MATCH);
    fl_v3_req_t r = {hr->method, "/", query, n_query, hdrs, nh, body_hash};
    char want[65];
    fl_sign_v3(&r, secret, want);
    if (!fl_sign_equal(want, sig))
        return api_err(rs, FL_ESIGNATURE_NOT_MATCH);
    return check_nonce(rq, rs, ak, hr->header(hr->conn, "x-acs-signature-nonce"), signed_ms);
}

/* ---- the request path ---- */

/* A client RequestId is echoed when it is short and plain; anything else is ignored. */
static bool request_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool media_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, want, n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

static int route(api_req_t *rq, api_resp_t *rs, const fl_http_req_t *hr)
{
    fl_api_t *api = rq->api;
    if (strcmp(hr->path, "/") != 0)
        return api_err(rs, FL_ENOT_FOUND, hr->path);
    if (strcmp(hr->method, "GET") != 0 && strcmp(hr->method, "POST") != 0)
        return api_err(rs, FL_EMETHOD_NOT_ALLOWED, hr->method);
    if (hr->body_too_large || hr->body_len > api->max_body) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", api->max_body);
        return api_err(rs, FL_EENTITY_TOO_LARGE, lim);
    }

    fl_kv_t *kv = NULL;
    size_t n = 0, cap = 0;
    if (api_parse_urlencoded(rq->a, hr->raw_query, strlen(hr->raw_query), false, &kv, &n, &cap))
        return api_invalid(rs, "the query string has a malformed percent-escape.");
    /* The V3 signature covers the query parameters only; keep them apart. */
    size_t n_query = n;
    fl_kv_t *query = fl_arena_alloc(rq->a, (n ? n : 1) * sizeof *query);
    if (n)
        memcpy(query, kv, n * sizeof *kv);

    if (hr->body_len > 0) {
        const char *ct = hr->header(hr->conn, "content-type");
        if (!ct || media_is(ct, "application/x-www-form-urlencoded")) {
            if (api_parse_urlencoded(rq->a, hr->body, hr->body_len, true, &kv, &n, &cap))
                return api_invalid(rs, "the form body has a malformed percent-escape.");
        } else if (media_is(ct, "application/json")) {
            char err[256];
            if (api_parse_json_body(rq->a, hr->body, hr->body_len, &kv, &n, &cap, err,
                                    sizeof err))
                return api_invalid(rs, "%s", err);
        } else {
            return api_err(rs, FL_EUNSUPPORTED_MEDIA_TYPE);
        }
    }
    const char *dup = NULL;
    if (api_merge(kv, &n, &dup))
        return api_invalid(rs, "%s is given twice with different values.", dup);

    rq->params = kv;
    rq->n_params = n;
    const char *client = api_param(rq, "RequestId");
    if (client && request_id_ok(client)) {
        rq->client_request_id = client;
        rq->request_id = client;
    }

    const char *authz = hr->header(hr->conn, "authorization");
    bool v3 = authz && strncmp(authz, "ACS3-HMAC-SHA256", 16) == 0;
    const char *action, *version;
    if (v3) {
        for (size_t i = 0; i < FL_ARRAY_LEN(v3_required); i++)
            if (!hr->header(hr->conn, v3_required[i]))
                return api_err(rs, FL_EMISSING_REQUIRED_HEADER, v3_required[i]);
        action = hr->header(hr->conn, "x-acs-action");
        version = hr->header(hr->conn, "x-acs-version");
    } else {
        action = api_param(rq, "Action");
        version = api_param(rq, "Version");
        if (!action)
            action = hr->header(hr->conn, "x-acs-action");
        if (!version)
            version = hr->header(hr->conn, "x-acs-version");
        if (!action)
            return api_err(rs, FL_EMISSING_REQUIRED_PARAMS, "Action");
        if (!version)
            return api_err(rs, FL_EMISSING_REQUIRED_PARAMS, "Version");
    }
    if (strcmp(version, API_VERSION) != 0)
        return api_err(rs, FL_EAPI_VERSION_NOT_SUPPORTED, version);
    int idx = fl_api_action_index(action);
    const struct action *act = idx >= 0 ? &actions[idx] : NULL;
    if (!act)
        return api_err(rs, FL_EACTION_NOT_SUPPORTED, action);
    rq->action = act->name;

    int rc = v3 ? verify_v3(rq, rs, hr, authz, query, n_query) : verify_v1(rq, rs, hr);
    if (rc)
        return rc;

    /* Every parameter is text: names and values must be valid UTF-8 (NULs were refused by
     * the parsers). Checked once here, so nothing invalid is ever stored or echoed. Tokens
     * are checked by their own rule ("TaskToken is invalid"). */
    for (size_t i = 0; i < n; i++) {
        if (fl_utf8_count(kv[i].key, strlen(kv[i].key)) < 0)
            return api_invalid(rs, "parameter names must be valid UTF-8.");
        if (strcmp(kv[i].key, "TaskToken") && strcmp(kv[i].key, "CallbackFnFTaskToken") &&
            fl_utf8_count(kv[i].val, strlen(kv[i].val)) < 0)
            return api_invalid(rs, "%s must be valid UTF-8.", kv[i].key);
    }

    for (const char *p = act->required; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *name = fl_arena_strndup(rq->a, p, len);
        if (!api_param(rq, name))
            return api_err(rs, FL_EMISSING_REQUIRED_PARAMS, name);
        p += len + (e ? 1 : 0);
    }
    if (api->throttle &&
        fl_throttle_take(api->throttle, rq->account, (size_t)(act - actions), rq->now_ms,
                         &rs->retry_after) != FL_OK)
        return api_err(rs, FL_ERESOURCE_THROTTLED);
    switch (act->scope) {
    case SCOPE_FLOW_NAME:
        rc = api_authorize(rq, rs, api_flow_arn(rq, api_param(rq, "Name")));
        break;
    case SCOPE_FLOW:
        rc = api_authorize(rq, rs, api_flow_arn(rq, api_param(rq, "FlowName")));
        break;
    case SCOPE_ALL:
        rc = api_authorize(rq, rs, "*");
        break;
    case SCOPE_ADMIN:
        rq->resource = fl_arena_printf(rq->a, "acs:fnf:%s:%llu:*", api->region,
                                       (unsigned long long)rq->account);
        if (rq->user)
            rc = api_errf(rs, FL_EACCESS_DENIED,
                          "The caller is not authorized to perform 'fnf:%s': administrative "
                          "actions need a root access key.", act->name);
        break;
    default: /* SCOPE_TOKEN: the handler checks once it has verified the token */
        break;
    }
    if (rc)
        return rc;
    rs->err = FL_OK;
    rc = act->fn(rq, rs);
    if (rc && !rs->err)
        api_err(rs, rc);
    return rc;
}

/* One structured log line per request turned away for who sent it or how often: never a
 * secret, only the key id, account, action and resource. */
static void audit(const api_req_t *rq, const api_resp_t *rs)
{
    switch (rs->err) {
    case FL_EACCESS_DENIED:
    case FL_EINVALID_ACCESS_KEY_ID:
    case FL_ESIGNATURE_NOT_MATCH:
    case FL_EREQUEST_TIME_TOO_SKEWED:
    case FL_ESIGNATURE_NONCE_USED:
    case FL_ERESOURCE_THROTTLED:
        break;
    default:
        return;
    }
    fl_log(FL_LOG_WARN,
           "audit: denied code=%s account=%llu key=%s user=%s action=%s resource=%s ip=%s "
           "request=%s",
           fl_err_code(rs->err), (unsigned long long)rq->account, fl_log_safe(rq->a, rq->ak),
           fl_log_safe(rq->a, rq->user), fl_log_safe(rq->a, rq->action),
           fl_log_safe(rq->a, rq->resource), fl_log_safe(rq->a, rq->peer_ip),
           fl_log_safe(rq->a, rq->request_id));
}

void fl_api_handle(fl_api_t *api, const fl_http_req_t *hr, fl_http_resp_t *out)
{
    fl_arena_t a;
    fl_arena_init(&a);
    char rid[37];
    fl_uuid(rid, true);
    api_req_t rq = {.api = api, .a = &a, .request_id = rid, .now_ms = fl_now_ms(),
                    .peer_ip = hr->peer_ip ? hr->peer_ip : ""};
    api_resp_t rs = {0};
    route(&rq, &rs, hr);
    audit(&rq, &rs);
    const char *host = hr->header(hr->conn, "host");
    out->body = api_reply_body(&rq, &rs, host ? host : "flowd", &out->status);
    snprintf(out->request_id, sizeof out->request_id, "%s", rq.request_id);
    out->retry_after = rs.retry_after;
    if (rs.err && out->status >= 500)
        fl_warn("api: %s -> %d %s: %s", rq.action ? rq.action : "?", out->status,
                fl_err_code(rs.err), rs.msg);
    json_decref(rs.body);
    fl_arena_close(&a);
}
