/*
 * cli.h - flowctl internals: one signed CloudFlow API call over libcurl.
 *
 * main.c parses the command line into an fl_cli_req_t; client.c signs it (V1 like
 * @alicloud/pop-core, or V3 ACS3-HMAC-SHA256) with the same signers as the server and
 * sends it. Nothing here keeps state between calls.
 */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "base/base.h"

#define FL_CLI_API_VERSION "2019-03-15"
#define FL_CLI_TIMEOUT_S 30L

typedef struct {
    const char *endpoint;      /* "http://127.0.0.1:8080"; a missing scheme means http */
    const char *ak_id;         /* AccessKeyId */
    const char *ak_secret;     /* AccessKeySecret */
    bool v3;                   /* sign with ACS3-HMAC-SHA256 instead of V1 */
    const char *method;        /* "GET" or "POST" */
    bool verbose;              /* request line, signing text and status to stderr */
    const char *action;        /* "ListFlows" */
    const fl_kv_t *params;     /* the action's own parameters, decoded */
    size_t n_params;
} fl_cli_req_t;

/* Returns true when action is one that flowctl sends with GET by default (Describe*,
 * List*, GetExecutionHistory, UpdateMapRun), as the official V1 SDK does. */
bool fl_cli_action_is_get(const char *action);

/* Signs and sends rq. On FL_OK the reply body is appended to body (caller frees it) and
 * *status holds the HTTP status, whatever it is. On a transport failure (bad URL, connect,
 * timeout) returns FL_EUNAVAILABLE with a message in err (errlen bytes, NUL-terminated).
 * Not thread-safe: call curl_global_init first. */
int fl_cli_call(const fl_cli_req_t *rq, fl_buf_t *body /* OUT */, long *status /* OUT */,
                char *err, size_t errlen);

#endif
