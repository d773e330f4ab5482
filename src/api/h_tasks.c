/*
 * h_tasks.c - callback reports: ReportTaskSucceeded and ReportTaskFailed, decided in the
 * order of flowd's decisions section 4: parameters, token MAC (before any storage access),
 * ownership, then one write job that either records the outcome (TaskSucceeded/TaskFailed,
 * Retry, Catch or failure, all in the same transaction) or explains why it cannot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

typedef struct {
    api_req_t *rq;
    fl_token_t tok;
    fl_cmd_t cmd;
    int64_t event_id;
    char what[400]; /* "<step> of execution <name>" for TaskAlreadyCompleted */
} report_job_t;

static int report_job(fl_db_t *db, void *arg)
{
    report_job_t *j = arg;
    return fl_engine_report(&j->rq->api->engine, db, j->tok.exec_id, j->tok.seq, &j->cmd,
                            j->rq->client_request_id, &j->event_id, j->what, sizeof j->what);
}

/* Steps shared by both reports once the action's own parameters are checked. */
static int report(api_req_t *rq, api_resp_t *rs, report_job_t *j)
{
    const char *token = api_param(rq, "TaskToken");
    if (fl_token_verify(rq->api->token_key, token, strlen(token), &j->tok) != FL_OK)
        return api_invalid(rs, "TaskToken is invalid.");
    if (j->tok.account != rq->account)
        return api_err(rs, FL_EACCESS_DENIED);
    if (rq->user) {
        /* A RAM user's policy is checked against the flow of the token's execution. */
        fl_exec_row_t e;
        int rc = fl_db_exec_get_by_id(fl_store_reader(rq->api->store), j->tok.exec_id, rq->a, &e);
        if (rc && rc != FL_EEXECUTION_NOT_EXISTS)
            return rc;
        rc = api_authorize(rq, rs, api_flow_arn(rq, rc ? "*" : e.flow_name));
        if (rc)
            return rc;
    } else {
        rq->resource = "*";
    }
    j->rq = rq;
    j->cmd.now_ms = rq->now_ms;
    j->cmd.seq = j->tok.seq;
    int rc = fl_store_write(rq->api->store, report_job, j);
    if (rc == FL_ETASK_ALREADY_COMPLETED)
        return api_err(rs, rc, j->what);
    if (rc == FL_ECONCURRENT_UPDATE) /* other nodes kept the execution locked: retry later */
        return api_err(rs, FL_ETASK_INVALID_STATE);
    if (rc)
        return rc;
    rs->body = json_pack("{s:I}", "EventId", (json_int_t)j->event_id);
    return FL_OK;
}

int h_report_task_succeeded(api_req_t *rq, api_resp_t *rs)
{
    const char *output = api_param(rq, "Output");
    int rc = api_check_object_param(rq, rs, "Output", output);
    if (rc)
        return rc;
    report_job_t j = {0};
    j.cmd.kind = FL_CMD_TASK_SUCCEEDED;
    j.cmd.data = json_loads(output, 0, NULL);
    rc = report(rq, rs, &j);
    json_decref(j.cmd.data);
    return rc;
}

int h_report_task_failed(api_req_t *rq, api_resp_t *rs)
{
    const char *error = api_param(rq, "Error");
    const char *cause = api_param(rq, "Cause");
    if (cause && !*cause)
        cause = NULL; /* an empty Cause is the same as none */
    int rc = api_check_error_cause(rs, error, cause, true);
    if (rc)
        return rc;
    report_job_t j = {0};
    j.cmd.kind = FL_CMD_TASK_FAILED;
    j.cmd.error = error;
    j.cmd.cause = cause;
    return report(rq, rs, &j);
}

/* ---- ListWaitingTasks (a flowd extension) ---- */

int h_list_waiting_tasks(api_req_t *rq, api_resp_t *rs)
{
    long limit;
    int rc = api_int_param(rq, rs, "Limit", 1, 1000, 100, &limit);
    if (rc)
        return rc;
    const char *flow = api_param(rq, "FlowName");
    const char *exec = api_param(rq, "ExecutionName");
    if (exec && !*exec)
        exec = NULL;
    long long from_exec = 0;
    unsigned from_seq = 0;
    const char *tok = api_param(rq, "NextToken");
    if (tok && *tok) {
        char end;
        if (sscanf(tok, "%lld.%u%c", &from_exec, &from_seq, &end) != 2 || from_exec < 0)
            return api_invalid(rs, "NextToken is invalid.");
    }
    fl_db_t *db = fl_store_reader(rq->api->store);
    fl_flow_row_t f;
    rc = fl_db_flow_get(db, rq->account, flow, false, rq->a, &f);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, flow);
    if (rc)
        return rc;
    fl_waiting_row_t *rows;
    int n = 0;
    if ((rc = fl_db_task_waiting(db, f.id, exec, from_exec, from_seq, (int)limit + 1, rq->a,
                                 &rows, &n)))
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++) {
        char token[FL_TOKEN_MAX], since[32], until[32] = "";
        fl_token_t t = {rq->account, rows[i].exec_id, rows[i].seq};
        fl_token_mint(rq->api->token_key, &t, token);
        fl_time_iso(rows[i].created_ms, since);
        if (rows[i].timeout_ms)
            fl_time_iso(rows[i].timeout_ms, until);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "FlowName",
                                             flow, "ExecutionName", rows[i].exec_name,
                                             "StepName", rows[i].step, "Attempt",
                                             rows[i].attempt, "TaskToken", token,
                                             "WaitingSince", since, "TimeoutAt", until));
    }
    rs->body = json_pack("{s:o}", "Tasks", arr);
    if (n > limit) {
        char next[48];
        snprintf(next, sizeof next, "%lld.%u", (long long)rows[limit].exec_id, rows[limit].seq);
        json_object_set_new(rs->body, "NextToken", json_string(next));
    }
    return FL_OK;
}
