/*
 * h_executions.c - execution actions: StartExecution, StopExecution, DescribeExecution,
 * ListExecutions, GetExecutionHistory. State changes run as store write jobs through the
 * engine; reads use the calling thread's read connection.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

#define MAX_ERROR_CHARS 128
#define MAX_CAUSE_CHARS 4096

/* The execution shape of Start/Stop/Describe/ListExecutions. */
static json_t *exec_json(const fl_exec_row_t *e, bool metadata_only)
{
    char started[32], stopped[32] = "";
    fl_time_iso(e->started_ms, started);
    if (e->stopped_ms)
        fl_time_iso(e->stopped_ms, stopped);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "FlowName", e->flow_name, "Name", e->name,
                          "Status", fl_exec_status_name(e->status), "StartedTime", started,
                          "StoppedTime", stopped);
    FL_ASSERT(o != NULL);
    if (!metadata_only) {
        json_object_set_new(o, "Input", json_string(e->input ? e->input : ""));
        json_object_set_new(o, "Output", json_string(e->output ? e->output : ""));
        json_object_set_new(o, "FlowDefinition", json_string(e->definition ? e->definition : ""));
    }
    if (e->error_code) {
        json_object_set_new(o, "ErrorCode", json_string(e->error_code));
        json_object_set_new(o, "ErrorMessage", json_string(e->error_message ? e->error_message : ""));
    }
    return o;
}

int api_check_object_param(const api_req_t *rq, api_resp_t *rs, const char *name, const char *v)
{
    size_t len = strlen(v);
    if (len > rq->api->max_payload) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", rq->api->max_payload);
        return api_err(rs, FL_EENTITY_TOO_LARGE, lim);
    }
    json_error_t jerr;
    json_t *o = json_loadb(v, len, 0, &jerr);
    bool ok = json_is_object(o);
    json_decref(o);
    if (!ok)
        return api_invalid(rs, "%s must be a JSON object.", name);
    return FL_OK;
}

int api_check_error_cause(api_resp_t *rs, const char *error, const char *cause, bool need_error)
{
    if (error || need_error) {
        long n = error ? fl_utf8_count(error, strlen(error)) : 0;
        if (n < 0)
            return api_invalid(rs, "Error must be valid UTF-8 without NUL characters.");
        if (n < 1 || n > MAX_ERROR_CHARS)
            return api_invalid(rs, "Error must be 1 to %d characters.", MAX_ERROR_CHARS);
    }
    if (cause) {
        long n = fl_utf8_count(cause, strlen(cause));
        if (n < 0)
            return api_invalid(rs, "Cause must be valid UTF-8 without NUL characters.");
        if (n > MAX_CAUSE_CHARS)
            return api_invalid(rs, "Cause must be at most %d characters.", MAX_CAUSE_CHARS);
    }
    return FL_OK;
}

/* Looks up flow and execution by name in the caller's account (read connection). */
static int find_exec(api_req_t *rq, api_resp_t *rs, fl_db_t *db, fl_exec_row_t *e)
{
    const char *flow = api_param(rq, "FlowName");
    const char *name = api_param(rq, "ExecutionName");
    fl_flow_row_t f;
    int rc = fl_db_flow_get(db, rq->account, flow, false, rq->a, &f);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, flow);
    if (!rc)
        rc = fl_db_exec_get(db, f.id, name, true, rq->a, e);
    if (rc == FL_EEXECUTION_NOT_EXISTS)
        return api_err(rs, rc, name, flow);
    return rc;
}

/* ---- StartExecution ---- */

typedef struct {
    api_req_t *rq;
    fl_exec_row_t e;
} start_job_t;

static int start_job(fl_db_t *db, void *arg)
{
    start_job_t *j = arg;
    api_req_t *rq = j->rq;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_flow_row_t f;
    int rc = fl_db_flow_get(db, rq->account, api_param(rq, "FlowName"), false, &a, &f);
    if (!rc) {
        j->e.flow_id = f.id;
        j->e.def_id = f.def_id;
        j->e.account = rq->account;
        rc = fl_engine_start(&rq->api->engine, db, &j->e, rq->now_ms);
    }
    fl_arena_close(&a);
    return rc;
}

int h_start_execution(api_req_t *rq, api_resp_t *rs)
{
    const char *flow = api_param(rq, "FlowName");
    const char *name = api_param(rq, "ExecutionName");
    const char *input = api_param(rq, "Input");
    char uuid[37];
    if (!fl_name_is_valid(flow))
        return api_invalid(rs, "FlowName must be 1 to 128 characters of letters, digits, '_' "
                               "and '-', starting with a letter or '_'.");
    if (name && *name) {
        if (!fl_name_is_valid(name))
            return api_invalid(rs, "ExecutionName must be 1 to 128 characters of letters, "
                                   "digits, '_' and '-', starting with a letter or '_'.");
    } else {
        fl_uuid(uuid, false);
        name = uuid;
    }
    if (input && *input) {
        int rc = api_check_object_param(rq, rs, "Input", input);
        if (rc)
            return rc;
    } else {
        input = "{}";
    }
    const char *parent = api_param(rq, "CallbackFnFTaskToken");
    if (parent) {
        /* Ownership comes first: another account's token is not even looked at. */
        fl_token_t t;
        if (fl_token_verify(rq->api->token_key, parent, strlen(parent), &t) != FL_OK)
            return api_invalid(rs, "CallbackFnFTaskToken is invalid.");
        if (t.account != rq->account)
            return api_err(rs, FL_EACCESS_DENIED);
    }
    const char *q = api_param(rq, "Qualifier");
    if (q && *q)
        return api_invalid(rs, "Qualifier is not supported by this server yet.");
    /* With CallbackFnFTaskToken the new execution reports its end to that task. */
    start_job_t j = {.rq = rq, .e = {.name = (char *)name, .input = (char *)input,
                                     .parent_token = (char *)parent}};
    int rc = fl_store_write(rq->api->store, start_job, &j);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, flow);
    if (rc == FL_EEXECUTION_ALREADY_EXISTS)
        return api_err(rs, rc, name, flow);
    if (rc)
        return rc;
    fl_exec_row_t e;
    rc = find_exec(rq, rs, fl_store_reader(rq->api->store), &e);
    if (rc == FL_EEXECUTION_NOT_EXISTS || rc == FL_EFLOW_NOT_EXISTS) {
        /* Deleted in the moment since the start: answer from what was started. */
        rs->err = FL_OK;
        j.e.flow_name = (char *)flow;
        j.e.status = FL_EXEC_RUNNING;
        rs->body = exec_json(&j.e, false);
        return FL_OK;
    }
    if (rc)
        return rc;
    rs->body = exec_json(&e, false);
    return FL_OK;
}

/* ---- StopExecution ---- */

typedef struct {
    api_req_t *rq;
    int64_t exec_id;
} stop_job_t;

static int stop_job(fl_db_t *db, void *arg)
{
    stop_job_t *j = arg;
    api_req_t *rq = j->rq;
    fl_cmd_t cmd = {.kind = FL_CMD_STOP, .now_ms = rq->now_ms,
                    .error = api_param(rq, "Error"), .cause = api_param(rq, "Cause")};
    if (cmd.cause && !*cmd.cause)
        cmd.cause = NULL;
    return fl_engine_apply(&rq->api->engine, db, j->exec_id, &cmd, NULL);
}

int h_stop_execution(api_req_t *rq, api_resp_t *rs)
{
    int rc = api_check_error_cause(rs, api_param(rq, "Error"), api_param(rq, "Cause"), false);
    if (rc)
        return rc;
    fl_db_t *db = fl_store_reader(rq->api->store);
    fl_exec_row_t e;
    if ((rc = find_exec(rq, rs, db, &e)))
        return rc;
    stop_job_t j = {rq, e.id};
    rc = fl_store_write(rq->api->store, stop_job, &j);
    if (rc == FL_EEXECUTION_ALREADY_COMPLETED)
        return api_err(rs, rc, e.name, e.flow_name);
    if (rc == FL_EEXECUTION_NOT_EXISTS)
        return api_err(rs, rc, e.name, e.flow_name);
    if (rc)
        return rc;
    if ((rc = find_exec(rq, rs, db, &e)))
        return rc;
    rs->body = exec_json(&e, false);
    return FL_OK;
}

/* ---- DescribeExecution ---- */

int h_describe_execution(api_req_t *rq, api_resp_t *rs)
{
    long wait_s;
    int rc = api_int_param(rq, rs, "WaitTimeSeconds", 0, 60, 0, &wait_s);
    if (rc)
        return rc;
    fl_db_t *db = fl_store_reader(rq->api->store);
    fl_exec_row_t e;
    int64_t deadline = fl_mono_ms() + wait_s * 1000;
    /* Long poll: re-read until the execution ends or the wait is over. */
    for (;;) {
        if ((rc = find_exec(rq, rs, db, &e)))
            return rc;
        if (e.status != FL_EXEC_RUNNING || fl_mono_ms() >= deadline)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rs->body = exec_json(&e, false);
    return FL_OK;
}

/* ---- ListExecutions ---- */

int h_list_executions(api_req_t *rq, api_resp_t *rs)
{
    long limit;
    int rc = api_int_param(rq, rs, "Limit", 1, 100, 60, &limit);
    if (rc)
        return rc;
    fl_db_t *db = fl_store_reader(rq->api->store);
    const char *flow = api_param(rq, "FlowName");
    fl_flow_row_t f;
    rc = fl_db_flow_get(db, rq->account, flow, false, rq->a, &f);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, flow);
    if (rc)
        return rc;
    fl_exec_query_t q = {.flow_id = f.id, .limit = (int)limit + 1};
    const char *v;
    if ((v = api_param(rq, "NextToken")) && *v) {
        fl_exec_row_t from;
        rc = fl_db_exec_get(db, f.id, v, false, rq->a, &from);
        if (rc == FL_EEXECUTION_NOT_EXISTS)
            return api_invalid(rs, "NextToken is invalid.");
        if (rc)
            return rc;
        q.after_id = from.id;
    }
    if ((v = api_param(rq, "Status")) && *v && !(q.status = fl_exec_status_parse(v)))
        return api_invalid(rs, "Status must be one of Running, Succeeded, Failed, Stopped, "
                               "TimedOut.");
    if ((v = api_param(rq, "ExecutionNamePrefix")) && *v)
        q.prefix = v;
    if ((v = api_param(rq, "StartedTimeBegin")) && *v && fl_time_parse(v, &q.started_begin))
        return api_invalid(rs, "StartedTimeBegin must be an RFC 3339 time.");
    if ((v = api_param(rq, "StartedTimeEnd")) && *v && fl_time_parse(v, &q.started_end))
        return api_invalid(rs, "StartedTimeEnd must be an RFC 3339 time.");
    v = api_param(rq, "MetadataOnly");
    q.metadata_only = v && strcmp(v, "true") == 0;
    fl_exec_row_t *rows;
    int n;
    if ((rc = fl_db_exec_list(db, &q, rq->a, &rows, &n)))
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(arr, exec_json(&rows[i], q.metadata_only));
    rs->body = json_pack("{s:o}", "Executions", arr);
    if (n > limit)
        json_object_set_new(rs->body, "NextToken", json_string(rows[limit].name));
    return FL_OK;
}

/* ---- GetExecutionHistory ---- */

int h_get_execution_history(api_req_t *rq, api_resp_t *rs)
{
    long limit;
    int rc = api_int_param(rq, rs, "Limit", 1, 999, 60, &limit);
    if (rc)
        return rc;
    int64_t from = 1;
    const char *tok = api_param(rq, "NextToken");
    if (tok && *tok) {
        char *end;
        long long x = strtoll(tok, &end, 10);
        if (*end || x < 1)
            return api_invalid(rs, "NextToken is invalid.");
        from = x;
    }
    fl_db_t *db = fl_store_reader(rq->api->store);
    fl_exec_row_t e;
    if ((rc = find_exec(rq, rs, db, &e)))
        return rc;
    fl_event_row_t *rows;
    int n;
    if ((rc = fl_db_event_list(db, e.id, from, (int)limit + 1, rq->a, &rows, &n)))
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++) {
        char t[32];
        fl_time_iso(rows[i].time_ms, t);
        json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "EventId",
                                             (json_int_t)rows[i].event_id, "ScheduleEventId",
                                             (json_int_t)rows[i].sched_id, "Type", rows[i].type,
                                             "StepName", rows[i].step, "Time", t, "EventDetail",
                                             rows[i].detail));
    }
    rs->body = json_pack("{s:o}", "Events", arr);
    if (n > limit) {
        char next[32];
        snprintf(next, sizeof next, "%lld", (long long)rows[limit].event_id);
        json_object_set_new(rs->body, "NextToken", json_string(next));
    }
    return FL_OK;
}
