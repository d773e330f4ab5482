/*
 * api.h - the CloudFlow RPC front: one request in (method, raw query, body, headers), one
 * JSON reply out. params.c merges query and body parameters, dispatch.c checks version,
 * action, signature and required parameters and calls the action's handler (h_*.c), and
 * reply.c is the only place that shapes replies and error bodies.
 *
 * Threading: fl_api_handle() may run on many threads at once; writes go through the
 * store's group commit.
 */
#ifndef FL_API_H
#define FL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "engine/engine.h"
#include "store/store.h"

typedef struct fl_sync fl_sync_t;

/* Server-wide settings and services, shared read-only by request threads. */
typedef struct {
    fl_store_t *store;
    fl_keys_t *keys;
    fl_nonces_t *nonces;
    fl_throttle_t *throttle;  /* NULL = no throttling */
    uint64_t admin_account;   /* the root keys of this account administer the instance */
    fl_engine_t engine;
    uint8_t token_key[FL_TOKEN_KEY_LEN];
    const char *region;       /* cn-hangzhou */
    size_t max_body;          /* bytes of a request body, 1 MiB */
    size_t max_payload;       /* bytes of an Input/Output, 64 KiB */
    int64_t max_skew_ms;      /* allowed clock difference of signed requests, 15 min */
    fl_sync_t *sync;          /* keeps step with other nodes (shared stores), else NULL */
} fl_api_t;

/* One HTTP request, as the HTTP layer hands it over (all borrowed for the call). */
typedef struct {
    const char *method;
    const char *path;
    const char *raw_query;    /* after '?', undecoded; "" when none */
    const char *body;
    size_t body_len;
    bool body_too_large;      /* the body passed max_body and was discarded */
    const char *peer_ip;      /* the client's address, "" when unknown */
    const char *(*header)(void *conn, const char *name); /* case-insensitive lookup */
    /* Calls fn for every request header (MNS signs all x-mns-* headers); may be NULL. */
    void (*each_header)(void *conn, void (*fn)(void *arg, const char *name, const char *val),
                        void *arg);
    void *conn;
} fl_http_req_t;

/* The reply: status and a heap body (owned by the caller after the call). */
typedef struct {
    int status;
    char *body;
    char request_id[72];
    int retry_after; /* seconds, 0 = no Retry-After header */
} fl_http_resp_t;

/* Loads access keys and RAM users' policies from the store into api->keys (start-up). */
int fl_api_load_identities(fl_api_t *api);
/* With a shared store: loads the identities and starts the thread that follows other nodes'
 * identity changes and purges expired shared nonces (sync.c). */
int fl_api_sync_start(fl_api_t *api);
void fl_api_sync_stop(fl_api_t *api); /* no-op without sync */
/* An unknown access key arrived: check at once whether another node made it. */
void fl_api_sync_key_miss(fl_api_t *api);
/* In an admin write job: marks the identities changed for the other nodes. */
int fl_api_identity_bump(fl_db_t *db);

/* Handles one request completely. Never fails: errors become error replies. */
void fl_api_handle(fl_api_t *api, const fl_http_req_t *hr, fl_http_resp_t *out);

/* ---- for handlers (internal to the module) ---- */

typedef struct {
    fl_api_t *api;
    fl_arena_t *a;
    fl_kv_t *params; /* merged, decoded */
    size_t n_params;
    const char *action;
    uint64_t account;          /* the caller's account */
    const char *user;          /* the caller's RAM user, NULL for a root key */
    const char *ak;            /* the caller's access key id (for the audit log) */
    const char *resource;      /* what RAM checked the request against (for the audit log) */
    const char *peer_ip;
    const char *request_id;    /* of this reply */
    const char *client_request_id; /* the RequestId parameter, NULL if absent */
    int64_t now_ms;
} api_req_t;

typedef struct {
    json_t *body;  /* success: the reply object (RequestId is added by reply.c) */
    int err;       /* FL_OK or FL_E* */
    char msg[1024];
    int retry_after;
} api_resp_t;

/* Returns parameter name, or NULL. An empty value counts as given. */
const char *api_param(const api_req_t *rq, const char *name);
/* Sets an error reply from err's message template and the arguments; returns err. */
int api_err(api_resp_t *rs, int err, ...);
/* Sets an error reply with its own message instead of the template; returns err. */
int api_errf(api_resp_t *rs, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks that the caller may perform the current action on resource (an ARN or "*"): root
 * keys may do anything in their account; RAM users what their policies allow. FL_OK or
 * AccessDenied naming the action and the resource. */
int api_authorize(api_req_t *rq, api_resp_t *rs, const char *resource);
/* The ARN of a flow of the caller's account: acs:fnf:<region>:<account>:flow/<name>. */
const char *api_flow_arn(api_req_t *rq, const char *flow);
/* Sets InvalidArgument with a message "Parameter error: <formatted>"; returns the code. */
int api_invalid(api_resp_t *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses an integer parameter in [lo, hi]; def when absent. FL_OK or InvalidArgument. */
int api_int_param(const api_req_t *rq, api_resp_t *rs, const char *name, long lo, long hi,
                  long def, long *out /* OUT */);

/* Checks a JSON object text parameter (Input, Output): EntityTooLarge above max_payload,
 * InvalidArgument when it is not a JSON object. */
int api_check_object_param(const api_req_t *rq, api_resp_t *rs, const char *name, const char *v);
/* Checks Error (1-128 characters; required when need_error) and Cause (at most 4096) as
 * valid UTF-8 without NUL. */
int api_check_error_cause(api_resp_t *rs, const char *error, const char *cause, bool need_error);

/* ---- params.c ---- */

/* Splits an urlencoded string into decoded pairs appended to *kv (arena memory). '+' is a
 * space only when plus_space (form bodies). Returns FL_OK or InvalidArgument (bad escape). */
int api_parse_urlencoded(fl_arena_t *a, const char *s, size_t len, bool plus_space,
                         fl_kv_t **kv, size_t *n, size_t *cap);
/* Parses a JSON object body into pairs: strings as they are, other values as JSON text. */
int api_parse_json_body(fl_arena_t *a, const char *s, size_t len, fl_kv_t **kv, size_t *n,
                        size_t *cap, char *err, size_t errlen);
/* Sorts pairs by key and folds duplicates; a key given twice with different values is
 * InvalidArgument (name written to *dup). */
int api_merge(fl_kv_t *kv, size_t *n, const char **dup /* OUT */);

/* ---- handlers ---- */
#define FL_API_HANDLER(fn) int fn(api_req_t *rq, api_resp_t *rs);
#define X(name, method, fn, scope, required) FL_API_HANDLER(fn)
#include "actions.def"
#undef X

/* ---- the action table (dispatch.c), for configuration ---- */
size_t fl_api_action_count(void);
const char *fl_api_action_name(size_t i);
/* Index of an action by name, or -1. */
int fl_api_action_index(const char *name);

/* ---- reply.c ---- */
char *api_reply_body(const api_req_t *rq, api_resp_t *rs, const char *host_id,
                     int *status /* OUT */);

#endif
