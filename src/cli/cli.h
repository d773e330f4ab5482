/*
 * cli.h - flowctl internals: one signed CloudFlow API call over libcurl.
 *
 * main.c parses the command line into an fl_cli_req_t (cmd_admin.c does the same for
 * `flowctl admin ...`); client.c signs it (V1 like @alicloud/pop-core, or V3
 * ACS3-HMAC-SHA256) with the same signers as the server, sends it and parses the reply.
 * Nothing here keeps state between calls.
 */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/base.h"

#define FL_CLI_API_VERSION "2019-03-15"
#define FL_CLI_TIMEOUT_S 30L
#define FL_CLI_MAX_FILE_BYTES (64L * 1024 * 1024)

/* Exit statuses of flowctl. */
#define FL_CLI_EXIT_OK 0
#define FL_CLI_EXIT_REPLY 1     /* error reply: HTTP status >= 400, a "Code", or not JSON */
#define FL_CLI_EXIT_USAGE 2     /* bad command line */
#define FL_CLI_EXIT_TRANSPORT 2 /* bad endpoint, connect failure, timeout */

/* Options shared by every command, as given on the command line (borrowed from argv);
 * NULL or false when absent. */
typedef struct {
    const char *endpoint;
    const char *ak_id;
    const char *ak_secret;
    const char *sign;   /* "v1" or "v3" once checked */
    const char *method; /* "GET" or "POST" once checked; `call` only */
    bool verbose;
    bool help;
} fl_cli_globals_t;

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

/* Returns the slot in g of the global option that takes a value named name (len bytes,
 * without the leading "--"), or NULL when name is not one. */
const char **fl_cli_global_slot(fl_cli_globals_t *g, const char *name, size_t len);

/* Fills rq's endpoint, keys, signature version, verbosity and method from g, falling back
 * to the FLOWD_* environment variables and, for the method, to dflt_method. Checks --sign,
 * --method and that both keys are known. Returns FL_CLI_EXIT_OK, or FL_CLI_EXIT_USAGE
 * after printing why on stderr. rq's other fields are left alone. */
int fl_cli_prepare(const fl_cli_globals_t *g, const char *dflt_method, fl_cli_req_t *rq);

/* Reads the whole file into a new string (caller frees); NULL with a message on stderr
 * when it cannot be read, is larger than FL_CLI_MAX_FILE_BYTES or holds a NUL byte. */
char *fl_cli_read_file(const char *path);

/* Returns true when action is one that flowctl sends with GET by default (Describe*,
 * List*, GetExecutionHistory, UpdateMapRun), as the official V1 SDK does. */
bool fl_cli_action_is_get(const char *action);

/* Signs and sends rq. On FL_OK the reply body is appended to body (caller frees it) and
 * *status holds the HTTP status, whatever it is. On a transport failure (bad URL, connect,
 * timeout) returns FL_EUNAVAILABLE with a message in err (errlen bytes, NUL-terminated).
 * Not thread-safe: call curl_global_init first. */
int fl_cli_call(const fl_cli_req_t *rq, fl_buf_t *body /* OUT */, long *status /* OUT */,
                char *err, size_t errlen);

/* Sends rq with fl_cli_call (wrapped in curl_global_init/cleanup) and parses the reply.
 * Returns FL_CLI_EXIT_OK with *reply set to the parsed JSON (new reference, any JSON
 * type); FL_CLI_EXIT_TRANSPORT after printing the transport error; FL_CLI_EXIT_REPLY after
 * printing "Code: Message" (or the HTTP status and body) for an error reply or a body that
 * is not JSON. *reply is NULL on failure. Not thread-safe. */
int fl_cli_send(const fl_cli_req_t *rq, json_t **reply /* OUT */);

/* `flowctl admin ...`: argv is flowctl's whole command line, of which the first
 * positional argument is "admin". Returns the exit status. */
int fl_cli_admin_main(int argc, char **argv);

/* `flowctl tasks ...` and `flowctl task fail|succeed ...` (cmd_task.c). */
int fl_cli_task_main(int argc, char **argv);

#endif
