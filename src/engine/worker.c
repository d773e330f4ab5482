/*
 * worker.c - the background thread that fires due timers (task timeouts, retry backoffs,
 * Wait states, execution timeouts) and sends outbox dispatches over HTTP with libcurl's
 * multi interface, feeding results back to the engine as commands.
 *
 * Delivery is at least once: an outbox row is deleted in the same transaction that applies
 * its result, so a crash in between re-sends it (with the same token) after a restart. The
 * engine ignores results for attempts that are no longer current.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "engine.h"

#define MAX_INFLIGHT 64
#define MAX_RESPONSE (1024 * 1024)   /* bytes of a worker's reply kept */
#define HTTP_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 5000
#define IDLE_POLL_MS 1000
/* With several nodes, rows due but leased by another node are retried this often. */
#define LEASED_POLL_MS 50
/* A timer claim lasts this long: firing takes one write, so a claim that outlives it means
 * the node died (or its writes failed) and another node may fire the timer. */
#define TIMER_LEASE_MS 10000
/* An outbox claim outlives the longest send (the request timeout) by this margin. */
#define OUTBOX_LEASE_MARGIN_MS 15000

typedef struct {
    int64_t outbox_id;
    int64_t exec_id;
    uint32_t seq;
    bool callback;          /* WaitForCustomCallback: a 2xx only means "submitted" */
    bool fc;                /* a function call (error names FC.*, result under Body) */
    bool fdl;               /* called from an FDL step (its result is $local as it is) */
    int attempts;           /* sends of this outbox row before this one */
    char target[256];       /* scheme://host:port, for the per-target limit */
    CURL *h;
    struct curl_slist *hdrs;
    char *body;             /* request body */
    fl_buf_t resp;          /* response body */
    json_t *resp_headers;   /* object */
    bool too_big;
    char err[CURL_ERROR_SIZE];
} call_t;

/* A finished call, turned into an engine command. */
typedef struct {
    int64_t outbox_id;
    int64_t exec_id;
    bool resend;            /* a connection failure with re-sends left: try again later */
    int attempts;
    fl_cmd_t cmd;
    json_t *data;
    char *error;
    char *cause;
} result_t;

struct fl_worker {
    const fl_engine_t *eng;
    fl_store_t *st;
    pthread_t thread;
    CURLM *multi;
    atomic_int stopping;
    call_t *calls[MAX_INFLIGHT];
    int n_calls;
};

/* Applies a background command. An execution that ended or vanished meanwhile is not an
 * error: the timer or result simply has nothing left to do. */
static int apply(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, const fl_cmd_t *cmd)
{
    int rc = fl_engine_apply(eng, db, exec_id, cmd, NULL);
    if (rc == FL_EEXECUTION_NOT_EXISTS || rc == FL_ETASK_ALREADY_COMPLETED ||
        rc == FL_EEXECUTION_ALREADY_COMPLETED)
        return FL_OK;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Timers                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    const fl_engine_t *eng;
    fl_timer_row_t *rows;
    int n;
    int64_t now_ms;
} timers_job_t;

static int timers_job(fl_db_t *db, void *arg)
{
    timers_job_t *j = arg;
    for (int i = 0; i < j->n; i++) {
        bool found = false;
        int rc = fl_db_exec_lock(db, j->rows[i].exec_id); /* the execution first, always */
        if (!rc)
            rc = fl_db_timer_delete(db, j->rows[i].id, &found);
        if (rc)
            return rc;
        if (!found)
            continue; /* already consumed (or the execution ended) */
        fl_cmd_t cmd = {.kind = FL_CMD_TIMER, .now_ms = j->now_ms, .seq = j->rows[i].seq,
                        .timer_kind = j->rows[i].kind};
        if ((rc = apply(j->eng, db, j->rows[i].exec_id, &cmd)))
            return rc;
    }
    return FL_OK;
}

/* Fires every due timer; returns the number fired, or -1 on a store error. */
static int fire_timers(fl_worker_t *w)
{
    fl_arena_t a;
    fl_arena_init(&a);
    timers_job_t j = {.eng = w->eng, .now_ms = fl_now_ms()};
    int rc = fl_db_timer_claim(fl_store_reader(w->st), j.now_ms, j.now_ms + TIMER_LEASE_MS, 256,
                               &a, &j.rows, &j.n);
    if (rc == FL_OK && j.n > 0)
        rc = fl_store_write(w->st, timers_job, &j);
    int n = j.n;
    fl_arena_close(&a);
    if (rc)
        fl_warn("worker: firing %d timers failed: %s", n, fl_err_code(rc));
    return rc ? -1 : n;
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch over HTTP                                                                       */
/* ---------------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    call_t *c = arg;
    if (c->resp.len + size * n > MAX_RESPONSE) {
        c->too_big = true;
        return 0;
    }
    fl_buf_append(&c->resp, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    call_t *c = arg;
    size_t len = size * n;
    char *colon = memchr(p, ':', len);
    if (!colon || colon == p)
        return len; /* status line or blank line */
    char *name = xstrndup(p, (size_t)(colon - p));
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    json_object_set_new(c->resp_headers, name, json_stringn(v, (size_t)(end - v)));
    free(name);
    return len;
}

static void call_free(call_t *c)
{
    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
    free(c->body);
    fl_buf_free(&c->resp);
    json_decref(c->resp_headers);
    free(c);
}

/* Builds the HTTP request of an HTTP:Request dispatch. Returns NULL with *why set when the
 * payload cannot be sent (then the task fails at once). */
/* Resolves a function (FC:InvokeFunction's Parameters.resourceArn, or an FDL resourceArn
 * acs:fc:<region>:<account>:services/<s>/functions/<f>) through the function map:
 * "<s>/<f>" first, then "<f>". Returns the URL or NULL. */
static const char *function_url(const fl_engine_t *eng, const char *arn)
{
    const char *fn = arn ? strstr(arn, "functions/") : NULL;
    if (!fn || !eng->functions)
        return NULL;
    fn += 10;
    const char *svc = strstr(arn, "services/");
    if (svc) {
        svc += 9;
        const char *slash = strchr(svc, '/');
        if (slash) {
            char key[512];
            snprintf(key, sizeof key, "%.*s/%s", (int)(slash - svc), svc, fn);
            const char *u = json_string_value(json_object_get(eng->functions, key));
            if (u)
                return u;
        }
    }
    return json_string_value(json_object_get(eng->functions, fn));
}

static call_t *call_new(const fl_engine_t *eng, const fl_outbox_row_t *o, const char **why)
{
    json_error_t jerr;
    json_t *p = json_loads(o->payload, 0, &jerr);
    json_t *params = json_object_get(p, "Parameters");
    const char *action = json_string_value(json_object_get(p, "Action"));
    const char *mode = json_string_value(json_object_get(p, "Mode"));
    const char *url = json_string_value(json_object_get(params, "URL"));
    const char *method = json_string_value(json_object_get(params, "Method"));
    json_t *headers = json_object_get(params, "Headers");
    json_t *body = json_object_get(params, "Body");
    bool fc = false, fdl = false;
    call_t *c = NULL;
    *why = NULL;
    if (action && (strcmp(action, "FC:InvokeFunction") == 0 || strncmp(action, "acs:fc:", 7) == 0)) {
        /* Functions are plain HTTP endpoints from the function map; the event is the body. */
        fc = true;
        fdl = strncmp(action, "acs:fc:", 7) == 0;
        const char *arn = fdl ? action : json_string_value(json_object_get(params, "resourceArn"));
        url = function_url(eng, arn);
        method = "POST";
        headers = NULL;
        body = fdl ? params : json_object_get(params, "body");
        if (!url) {
            *why = "the function is not in flowd's function map (config key functions)";
            goto out;
        }
    } else if (!p || !action || strcmp(action, "HTTP:Request") != 0) {
        *why = "this integration is not supported by this server";
        goto out;
    }
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        *why = "Parameters.URL must be an http:// or https:// URL";
        goto out;
    }
    c = xcalloc(1, sizeof *c);
    c->outbox_id = o->id;
    c->exec_id = o->exec_id;
    c->seq = o->seq;
    c->callback = mode && strcmp(mode, "WaitForCustomCallback") == 0;
    c->attempts = o->attempts;
    {
        const char *h = strstr(url, "://");
        size_t n = h ? strcspn(h + 3, "/?#") + (size_t)(h + 3 - url) : strlen(url);
        snprintf(c->target, sizeof c->target, "%.*s", (int)n, url);
    }
    c->fc = fc;
    c->fdl = fdl;
    c->resp_headers = json_object();
    fl_buf_init(&c->resp);
    c->h = curl_easy_init();
    FL_ASSERT(c->h != NULL);
    bool has_ct = false;
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v)
    {
        char *line;
        if (json_is_string(v)) {
            if (asprintf(&line, "%s: %s", k, json_string_value(v)) < 0)
                abort();
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (asprintf(&line, "%s: %s", k, t ? t : "") < 0)
                abort();
            free(t);
        }
        if (strcasecmp(k, "content-type") == 0)
            has_ct = true;
        c->hdrs = curl_slist_append(c->hdrs, line);
        free(line);
    }
    if (body) {
        c->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!has_ct)
            c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
    }
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method ? method : "POST");
    if (c->body) {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
    } else if (!method || strcmp(method, "GET") != 0) {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, "");
    }
    if (method && strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS,
                     (long)(eng->dispatch_timeout_ms > 0 ? eng->dispatch_timeout_ms
                                                         : HTTP_TIMEOUT_MS));
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
out:
    json_decref(p);
    return c;
}

/* Turns a finished call into a result. */
static void call_result(const fl_engine_t *eng, call_t *c, CURLcode code, result_t *r)
{
    memset(r, 0, sizeof *r);
    r->outbox_id = c->outbox_id;
    r->exec_id = c->exec_id;
    r->cmd.seq = c->seq;
    r->attempts = c->attempts;
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK) {
        /* The worker may be restarting: re-send a few times before the task fails. A reply
         * that came too big or too late is an answer, not a connection failure. */
        r->resend = !c->too_big && code != CURLE_OPERATION_TIMEDOUT &&
                    c->attempts < eng->dispatch_retries;
        r->cmd.kind = c->callback ? FL_CMD_SUBMIT_FAILED : FL_CMD_TASK_FAILED;
        r->error = xstrdup("HTTP.ConnectionError");
        r->cause = xstrdup(c->too_big ? "the response body exceeds 1048576 bytes"
                           : c->err[0] ? c->err : curl_easy_strerror(code));
        return;
    }
    json_t *body = c->resp.len ? json_loadb(c->resp.data, c->resp.len, 0, NULL) : NULL;
    if (!body)
        body = json_stringn(c->resp.data ? c->resp.data : "", c->resp.len);
    if (!body) /* not valid UTF-8 */
        body = json_string("");
    if (status >= 400) {
        r->cmd.kind = c->callback ? FL_CMD_SUBMIT_FAILED : FL_CMD_TASK_FAILED;
        size_t n = c->resp.len > 4096 ? 4096 : c->resp.len;
        const char *etype = json_string_value(json_object_get(body, "errorType"));
        const char *emsg = json_string_value(json_object_get(body, "errorMessage"));
        if (c->fc && etype) { /* a function's own error, as Function Compute reports it */
            r->error = xstrndup(etype, 128);
        } else if (c->fc) {
            r->error = xstrdup(status == 429   ? "FC.ResourceThrottled"
                               : status == 503 ? "FC.ResourceExhausted"
                               : status == 500 ? "FC.InternalServerError"
                                               : "FC.Unknown");
        } else if (asprintf(&r->error, "HTTP.StatusCode.%ld", status) < 0) {
            abort();
        }
        r->cause = c->fc && emsg ? xstrndup(emsg, 4096)
                                 : xstrndup(c->resp.data ? c->resp.data : "", n);
        json_decref(body);
        return;
    }
    if (c->callback) {
        r->cmd.kind = FL_CMD_SUBMITTED;
        json_decref(body);
        return;
    }
    r->cmd.kind = FL_CMD_TASK_SUCCEEDED;
    if (c->fdl) /* FDL: the function's result is the step's $local */
        r->data = json_is_object(body) ? body : json_pack("{s:o}", "result", body);
    else if (c->fc) /* CloudFlow: a function's result sits under $Output.Body */
        r->data = json_pack("{s:o}", "Body", body);
    else
        r->data = json_pack("{s:i, s:O, s:o}", "StatusCode", (int)status, "Headers",
                            c->resp_headers, "Body", body);
}

typedef struct {
    const fl_engine_t *eng;
    result_t *res;
    int n;
    int64_t now_ms;
} results_job_t;

static int results_job(fl_db_t *db, void *arg)
{
    results_job_t *j = arg;
    for (int i = 0; i < j->n; i++) {
        result_t *r = &j->res[i];
        bool found = false;
        int rc = fl_db_exec_lock(db, r->exec_id); /* the execution first, always */
        if (rc)
            return rc;
        if (r->resend) {
            int64_t pause = (int64_t)j->eng->dispatch_backoff_ms << (r->attempts < 20 ? r->attempts : 20);
            rc = fl_db_outbox_retry(db, r->outbox_id, j->now_ms + pause);
            if (rc)
                return rc;
            continue;
        }
        rc = fl_db_outbox_delete(db, r->outbox_id, &found);
        if (rc)
            return rc;
        if (!found)
            continue; /* the execution ended meanwhile */
        r->cmd.now_ms = j->now_ms;
        r->cmd.data = r->data;
        r->cmd.error = r->error;
        r->cmd.cause = r->cause;
        if ((rc = apply(j->eng, db, r->exec_id, &r->cmd)))
            return rc;
    }
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Local actions: sub-flows, done in a write job instead of over the network                */
/* ---------------------------------------------------------------------------------------- */

/* Is the dispatch's action served inside flowd? */
static bool is_local(const char *action)
{
    return action && (strcmp(action, "FnF:StartExecution") == 0 ||
                      strcmp(action, "FNF:StartExecution") == 0 ||
                      strcmp(action, "FnF:ReportTask") == 0 ||
                      strcmp(action, "MNS:SendMessage") == 0 ||
                      strncmp(action, "acs:fnf:", 8) == 0 || strncmp(action, "acs:mns:", 8) == 0);
}

/* Puts the message of an MNS:SendMessage (CloudFlow: Parameters QueueName, MessageBody,
 * DelaySeconds, Priority) or FDL acs:mns:::/queues/<q>/messages (serviceParams MessageBody,
 * DelaySeconds, Priority) dispatch into flowd's built-in queue, creating the queue on first
 * use, then tells the task: submitted (callback) or done with {"MessageId"}. */
static int send_message(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, uint32_t seq,
                        json_t *p, int64_t now_ms)
{
    const char *action = json_string_value(json_object_get(p, "Action"));
    const char *mode = json_string_value(json_object_get(p, "Mode"));
    json_t *params = json_object_get(p, "Parameters");
    char queue[300] = "";
    const char *err = NULL, *cause = NULL;
    if (strncmp(action, "acs:mns:", 8) == 0) {
        const char *q = strstr(action, "/queues/");
        const char *end = q ? strstr(q + 8, "/messages") : NULL;
        if (q && end && end - (q + 8) > 0 && end - (q + 8) < (long)sizeof queue)
            snprintf(queue, sizeof queue, "%.*s", (int)(end - (q + 8)), q + 8);
    } else {
        const char *qn = json_string_value(json_object_get(params, "QueueName"));
        snprintf(queue, sizeof queue, "%s", qn ? qn : "");
    }
    json_t *body = json_object_get(params, "MessageBody");
    if (!body)
        body = params; /* FDL without MessageBody: the mapped input is the message */
    char *text = json_is_string(body) ? xstrdup(json_string_value(body))
                                      : json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *delay = json_object_get(params, "DelaySeconds");
    json_t *prio = json_object_get(params, "Priority");
    int64_t id = 0;
    int rc = FL_OK;
    if (strstr(action, ":/topics/")) {
        err = "FnF.RuntimeError";
        cause = "MNS topics are not served by flowd; use a queue";
    } else if (!fl_queue_name_is_valid(queue)) {
        err = "FnF.RuntimeError";
        cause = "the MNS queue name must be 1 to 120 letters, digits and hyphens, not "
                "starting with a hyphen";
    } else if (strlen(text) > 65536) {
        err = "MNS.MessageBodyTooLarge";
        cause = "the message body exceeds 65536 bytes";
    } else {
        fl_arena_t a;
        fl_exec_row_t e;
        fl_arena_init(&a);
        rc = fl_db_exec_get_by_id(db, exec_id, &a, &e);
        if (!rc)
            rc = fl_db_queue_put(db, e.account, queue, "{}", false, now_ms);
        if (!rc) {
            int64_t d = json_is_integer(delay) ? json_integer_value(delay) : 0;
            int pr = json_is_integer(prio) ? (int)json_integer_value(prio) : 8;
            if (d < 0 || d > 604800)
                d = 0;
            if (pr < 1 || pr > 16)
                pr = 8;
            rc = fl_db_msg_insert(db, e.account, queue, text, pr, now_ms + d * 1000,
                                  now_ms + 4LL * 86400 * 1000, now_ms, &id);
        }
        fl_arena_close(&a);
    }
    free(text);
    if (rc)
        return rc;
    fl_cmd_t cmd = {.now_ms = now_ms, .seq = seq};
    char mid[33];
    fl_msg_id(id, mid);
    if (err) {
        cmd.kind = FL_CMD_SUBMIT_FAILED;
        cmd.error = err;
        cmd.cause = cause;
    } else if (mode && strcmp(mode, "WaitForCustomCallback") == 0) {
        cmd.kind = FL_CMD_SUBMITTED;
    } else {
        cmd.kind = FL_CMD_TASK_SUCCEEDED;
        cmd.data = json_pack("{s:s}", "MessageId", mid);
    }
    rc = apply(eng, db, exec_id, &cmd);
    json_decref(cmd.data);
    return rc;
}

/* The flow name of a sub-flow dispatch: Parameters.FlowName, or the FDL resource ARN's
 * "...:flow/<name>". */
static const char *subflow_name(const char *action, json_t *params)
{
    const char *f = json_string_value(json_object_get(params, "FlowName"));
    if (f)
        return f;
    const char *p = action ? strstr(action, ":flow/") : NULL;
    return p ? p + 6 : NULL;
}

/* Starts the sub-flow of a dispatch of parent execution exec_id, then tells the parent. */
static int start_subflow(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, uint32_t seq,
                         json_t *p, int64_t now_ms)
{
    const char *action = json_string_value(json_object_get(p, "Action"));
    const char *mode = json_string_value(json_object_get(p, "Mode"));
    json_t *params = json_object_get(p, "Parameters");
    bool sync = mode && strcmp(mode, "WaitForSystemCallback") == 0;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_exec_row_t parent, child = {0};
    fl_flow_row_t flow;
    const char *err = NULL;
    char cause[512] = "";
    int rc = fl_db_exec_get_by_id(db, exec_id, &a, &parent);
    if (rc)
        goto out;
    const char *name = subflow_name(action, params);
    rc = name ? fl_db_flow_get(db, parent.account, name, false, &a, &flow) : FL_EFLOW_NOT_EXISTS;
    if (rc == FL_EFLOW_NOT_EXISTS) {
        err = "FnF.FlowNotExists";
        snprintf(cause, sizeof cause, "Flow %s does not exist.", name ? name : "(none)");
    } else if (rc) {
        goto out;
    } else {
        /* Input: Parameters.Input (an object or its JSON text); FDL without serviceParams.Input
         * hands over the mapped step input. */
        json_t *in = json_object_get(params, "Input");
        if (!in && strncmp(action, "acs:fnf:", 8) == 0)
            in = params;
        json_t *obj = json_is_string(in) ? json_loads(json_string_value(in), 0, NULL)
                                         : json_incref(in ? in : json_object());
        const char *ename = json_string_value(json_object_get(params, "ExecutionName"));
        char uuid[37];
        if (!ename) {
            fl_uuid(uuid, false);
            ename = uuid;
        }
        if (!json_is_object(obj)) {
            err = "FnF.RuntimeError";
            snprintf(cause, sizeof cause, "the sub-flow Input must be a JSON object");
        } else if (!fl_name_is_valid(ename)) {
            err = "FnF.RuntimeError";
            snprintf(cause, sizeof cause, "the sub-flow ExecutionName is not a valid name");
        } else {
            char *text = json_dumps(obj, JSON_COMPACT);
            child.flow_id = flow.id;
            child.def_id = flow.def_id;
            child.account = parent.account;
            child.name = fl_arena_strdup(&a, ename);
            child.input = fl_arena_strdup(&a, text);
            child.parent_token = sync ? (char *)json_string_value(json_object_get(p, "TaskToken"))
                                      : NULL;
            free(text);
            rc = fl_engine_start(eng, db, &child, now_ms);
            if (rc == FL_EEXECUTION_ALREADY_EXISTS) {
                err = "FnF.ExecutionAlreadyExists";
                snprintf(cause, sizeof cause, "Execution %s for flow %s already exists.", ename,
                         name);
            } else if (rc) {
                json_decref(obj);
                goto out;
            }
        }
        json_decref(obj);
    }
    fl_cmd_t cmd = {.now_ms = now_ms, .seq = seq};
    if (err) {
        cmd.kind = FL_CMD_SUBMIT_FAILED;
        cmd.error = err;
        cmd.cause = cause;
    } else if (sync) {
        cmd.kind = FL_CMD_SUBMITTED;
    } else {
        cmd.kind = FL_CMD_TASK_SUCCEEDED;
        cmd.data = json_pack("{s:s, s:s}", "FlowName", name, "ExecutionName", child.name);
    }
    rc = apply(eng, db, exec_id, &cmd);
    json_decref(cmd.data);
out:
    fl_arena_close(&a);
    return rc;
}

/* A sub-flow ended: report its outcome to the parent's task, like ReportTask* would. */
static int report_to_parent(const fl_engine_t *eng, fl_db_t *db, json_t *p, int64_t now_ms)
{
    const char *tok = json_string_value(json_object_get(p, "TaskToken"));
    fl_token_t t;
    if (!tok || fl_token_verify(eng->token_key, tok, strlen(tok), &t) != FL_OK)
        return FL_OK; /* nothing to report to */
    json_t *output = json_object_get(p, "Output");
    fl_cmd_t cmd = {.now_ms = now_ms, .seq = t.seq, .data = output,
                    .kind = output ? FL_CMD_TASK_SUCCEEDED : FL_CMD_TASK_FAILED,
                    .error = json_string_value(json_object_get(p, "Error")),
                    .cause = json_string_value(json_object_get(p, "Cause"))};
    if (!output && !cmd.error)
        cmd.error = "FnF.RuntimeError";
    int64_t ev = 0;
    char what[256];
    int rc = fl_engine_report(eng, db, t.exec_id, t.seq, &cmd, NULL, &ev, what, sizeof what);
    return rc == FL_ETASK_ALREADY_COMPLETED ? FL_OK : rc;
}

typedef struct {
    const fl_engine_t *eng;
    fl_outbox_row_t *rows;
    int n;
    int64_t now_ms;
} local_job_t;

static int local_job(fl_db_t *db, void *arg)
{
    local_job_t *j = arg;
    for (int i = 0; i < j->n; i++) {
        bool found = false;
        int rc = fl_db_exec_lock(db, j->rows[i].exec_id); /* the execution first, always */
        if (!rc)
            rc = fl_db_outbox_delete(db, j->rows[i].id, &found);
        if (rc)
            return rc;
        if (!found)
            continue;
        json_t *p = json_loads(j->rows[i].payload, 0, NULL);
        const char *action = json_string_value(json_object_get(p, "Action"));
        if (action && strcmp(action, "FnF:ReportTask") == 0)
            rc = report_to_parent(j->eng, db, p, j->now_ms);
        else if (action && (strcmp(action, "MNS:SendMessage") == 0 ||
                            strncmp(action, "acs:mns:", 8) == 0))
            rc = send_message(j->eng, db, j->rows[i].exec_id, j->rows[i].seq, p, j->now_ms);
        else
            rc = start_subflow(j->eng, db, j->rows[i].exec_id, j->rows[i].seq, p, j->now_ms);
        json_decref(p);
        if (rc)
            return rc;
    }
    return FL_OK;
}

static bool inflight(fl_worker_t *w, int64_t id)
{
    for (int i = 0; i < w->n_calls; i++)
        if (w->calls[i]->outbox_id == id)
            return true;
    return false;
}

/* Gives claimed rows that this node will not send now back to every node (shared stores;
 * an SQLite node holds no leases). */
static void release_claims(fl_worker_t *w, const fl_outbox_row_t *rows, int n)
{
    if (!fl_store_shared(w->st))
        return;
    for (int i = 0; i < n; i++)
        fl_db_outbox_release(fl_store_reader(w->st), rows[i].id);
}

/* Starts sending due outbox rows; rows that cannot be sent fail their task at once.
 * Returns true when due rows may remain that were not started for lack of slots. */
static bool start_dispatches(fl_worker_t *w)
{
    if (w->n_calls >= MAX_INFLIGHT)
        return true;
    bool more = false;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_outbox_row_t *rows = NULL;
    int n = 0;
    int64_t now = fl_now_ms();
    result_t bad[MAX_INFLIGHT * 2];
    fl_outbox_row_t locals[MAX_INFLIGHT * 2];
    int n_bad = 0, n_local = 0;
    int64_t send_ms = w->eng->dispatch_timeout_ms > 0 ? w->eng->dispatch_timeout_ms
                                                      : HTTP_TIMEOUT_MS;
    /* With several nodes, claims no more than there are free slots: a claimed row another
     * node could have sent would otherwise wait for its lease (or be released row by row).
     * One SQLite node holds no leases; it reads past the rows it has in flight. */
    int limit = fl_store_shared(w->st) ? MAX_INFLIGHT - w->n_calls : MAX_INFLIGHT * 2;
    if (fl_db_outbox_claim(fl_store_reader(w->st), now, now + send_ms + OUTBOX_LEASE_MARGIN_MS,
                           limit, &a, &rows, &n) == FL_OK) {
        more = n == limit;
        for (int i = 0; i < n; i++) {
            if (w->n_calls >= MAX_INFLIGHT) {
                more = true;
                release_claims(w, rows + i, n - i);
                break;
            }
            if (inflight(w, rows[i].id))
                continue;
            json_t *p = json_loads(rows[i].payload, 0, NULL);
            bool local = is_local(json_string_value(json_object_get(p, "Action")));
            json_decref(p);
            if (local) {
                locals[n_local++] = rows[i];
                continue;
            }
            const char *why = NULL;
            call_t *c = call_new(w->eng, &rows[i], &why);
            if (!c) {
                result_t *r = &bad[n_bad++];
                memset(r, 0, sizeof *r);
                r->outbox_id = rows[i].id;
                r->exec_id = rows[i].exec_id;
                r->cmd.kind = FL_CMD_SUBMIT_FAILED;
                r->cmd.seq = rows[i].seq;
                r->error = xstrdup("FnF.RuntimeError");
                r->cause = xstrdup(why);
                continue;
            }
            int same = 0;
            for (int k = 0; k < w->n_calls; k++)
                same += strcmp(w->calls[k]->target, c->target) == 0;
            if (w->eng->dispatch_per_target > 0 && same >= w->eng->dispatch_per_target) {
                /* One slow endpoint must not take every slot: this row waits its turn, which
                 * comes when one of that endpoint's calls finishes (that wakes the loop). */
                call_free(c);
                release_claims(w, rows + i, 1);
                continue;
            }
            w->calls[w->n_calls++] = c;
            curl_multi_add_handle(w->multi, c->h);
        }
    }
    if (n_local) {
        local_job_t lj = {w->eng, locals, n_local, now};
        int rc = fl_store_write(w->st, local_job, &lj);
        if (rc)
            fl_warn("worker: %d sub-flow actions failed (%s); they will be retried", n_local,
                    fl_err_code(rc));
    }
    fl_arena_close(&a);
    if (n_bad) {
        results_job_t j = {w->eng, bad, n_bad, now};
        fl_store_write(w->st, results_job, &j);
        for (int i = 0; i < n_bad; i++) {
            free(bad[i].error);
            free(bad[i].cause);
        }
    }
    return more;
}

/* Collects finished calls and applies their results in one write; returns how many. */
static int finish_dispatches(fl_worker_t *w)
{
    result_t res[MAX_INFLIGHT];
    int n = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        call_t *c = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        call_result(w->eng, c, m->data.result, &res[n++]);
        curl_multi_remove_handle(w->multi, c->h);
        for (int i = 0; i < w->n_calls; i++) {
            if (w->calls[i] == c) {
                w->calls[i] = w->calls[--w->n_calls];
                break;
            }
        }
        call_free(c);
    }
    if (!n)
        return 0;
    results_job_t j = {w->eng, res, n, fl_now_ms()};
    int rc = fl_store_write(w->st, results_job, &j);
    if (rc)
        fl_warn("worker: applying %d dispatch results failed (%s); they will be re-sent", n,
                fl_err_code(rc));
    for (int i = 0; i < n; i++) {
        json_decref(res[i].data);
        free(res[i].error);
        free(res[i].cause);
    }
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Thread                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    fl_worker_t *w = arg;
    while (!w->stopping) {
        int fired = fire_timers(w);
        bool more = start_dispatches(w);
        int running = 0;
        curl_multi_perform(w->multi, &running);
        int finished = finish_dispatches(w);

        int64_t next = INT64_MAX, next_send = INT64_MAX, now = fl_now_ms();
        fl_db_timer_next(fl_store_reader(w->st), &next);
        fl_db_outbox_next(fl_store_reader(w->st), now, &next_send);
        if (next_send < next)
            next = next_send; /* a re-send's backoff ends */
        int timeout = IDLE_POLL_MS;
        if (fired < 0)
            timeout = IDLE_POLL_MS; /* store trouble: back off */
        else if (fired == 256 || (next <= now && fired > 0) || finished ||
                 (more && w->n_calls < MAX_INFLIGHT))
            timeout = 0; /* work is waiting, or calls ended and freed slots: loop at once */
        else if (next <= now) /* fell due meanwhile, or claimed by another node for now */
            timeout = fl_store_shared(w->st) ? LEASED_POLL_MS : 0;
        else if (next - now < timeout)
            timeout = (int)(next - now);
        if (timeout > 0)
            curl_multi_poll(w->multi, NULL, 0, timeout, NULL);
    }
    return NULL;
}

int fl_worker_start(const fl_engine_t *eng, fl_store_t *st, fl_worker_t **out)
{
    fl_worker_t *w = xcalloc(1, sizeof *w);
    w->eng = eng;
    w->st = st;
    w->multi = curl_multi_init();
    FL_ASSERT(w->multi != NULL);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_INFLIGHT);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        curl_multi_cleanup(w->multi);
        free(w);
        return FL_EINTERNAL;
    }
    *out = w;
    return FL_OK;
}

void fl_worker_kick(void *worker)
{
    fl_worker_t *w = worker;
    if (w)
        curl_multi_wakeup(w->multi);
}

void fl_worker_stop(fl_worker_t *w)
{
    if (!w)
        return;
    w->stopping = 1;
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    for (int i = 0; i < w->n_calls; i++) {
        curl_multi_remove_handle(w->multi, w->calls[i]->h);
        call_free(w->calls[i]);
    }
    curl_multi_cleanup(w->multi);
    free(w);
}
