/*
 * exec.c - steps stored executions: load the execution row and its parsed flow, run
 * fl_engine_step(), and write the outcome (events, task rows, timers, outbox rows, the
 * execution row) in the caller's write job, so a state change and its effects commit
 * together or not at all. Runs on the store's writer thread only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "engine.h"

/* ---- parsed-flow cache, keyed by definition id (definitions never change) ---- */

#define CACHE_SLOTS 256

static struct {
    int64_t def_id;
    fl_flow_t *flow;
} cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

int fl_engine_flow(fl_db_t *db, int64_t def_id, const fl_flow_t **out)
{
    size_t slot = (size_t)def_id % CACHE_SLOTS;
    pthread_mutex_lock(&cache_mu);
    if (cache[slot].flow && cache[slot].def_id == def_id) {
        *out = cache[slot].flow;
        pthread_mutex_unlock(&cache_mu);
        return FL_OK;
    }
    pthread_mutex_unlock(&cache_mu);

    fl_arena_t a;
    fl_arena_init(&a);
    char *text = NULL;
    fl_flow_t *flow = NULL;
    fl_diag_t diag = {0};
    int rc = fl_db_def_get(db, def_id, &a, &text);
    if (rc == FL_OK && fl_spec_parse(text, strlen(text), &flow, &diag) != FL_OK) {
        /* Definitions are validated before they are stored; this means a bug or damage. */
        fl_error("engine: stored definition %lld does not parse: line %d: %s: %s",
                 (long long)def_id, diag.line, diag.path, diag.msg);
        rc = FL_EINTERNAL;
    }
    fl_arena_close(&a);
    if (rc)
        return rc == FL_ENOT_FOUND ? FL_EINTERNAL : rc;
    pthread_mutex_lock(&cache_mu);
    /* Only the writer thread steps executions and it is done with any earlier flow, so
     * the one this slot held can go. */
    if (cache[slot].flow)
        fl_flow_free(cache[slot].flow);
    cache[slot].def_id = def_id;
    cache[slot].flow = flow;
    pthread_mutex_unlock(&cache_mu);
    *out = flow;
    return FL_OK;
}

void fl_engine_cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        fl_flow_free(cache[i].flow);
        cache[i].flow = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
}

/* ---- stepping ---- */

static void mint(void *arg, uint64_t account, int64_t exec_id, uint32_t seq, char out[128])
{
    const fl_engine_t *eng = arg;
    fl_token_t t = {account, exec_id, seq};
    char buf[FL_TOKEN_MAX];
    fl_token_mint(eng->token_key, &t, buf);
    snprintf(out, 128, "%s", buf);
}

/* A sub-flow ended: queue its outcome for the parent's task (through the outbox, so the
 * parent is stepped in a transaction of its own). StopExecution's Error propagates. */
static int report_parent(fl_db_t *db, const fl_exec_row_t *e, const fl_out_t *out,
                         int64_t now_ms)
{
    json_t *p = json_pack("{s:s, s:s}", "Action", "FnF:ReportTask", "TaskToken",
                          e->parent_token);
    if (out->status == FL_EXEC_SUCCEEDED) {
        json_t *o = out->output ? json_loads(out->output, 0, NULL) : NULL;
        json_object_set_new(p, "Output", o ? o : json_object());
    } else {
        static const char *deflt[] = {"", "", "", "FnF.RuntimeError", "FnF.ExecutionStopped",
                                      "FnF.Timeout"};
        const char *err = out->error_code && *out->error_code ? out->error_code
                                                              : deflt[out->status];
        char cause[256];
        snprintf(cause, sizeof cause, "sub-flow execution %s ended %s", e->name,
                 fl_exec_status_name(out->status));
        json_object_set_new(p, "Error", json_string(err));
        json_object_set_new(p, "Cause", json_string(out->error_message && *out->error_message
                                                        ? out->error_message
                                                        : cause));
    }
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    int rc = fl_db_outbox_insert(db, e->id, 0, text, now_ms);
    free(text);
    return rc;
}

/* Writes everything out says, for execution e (already updated in memory). */
static int persist(fl_db_t *db, fl_exec_row_t *e, const fl_out_t *out, const fl_cmd_t *cmd)
{
    int64_t now_ms = cmd->now_ms;
    fl_event_row_t rows[16];
    int rc = FL_OK;
    for (size_t i = 0; i < out->n_events && !rc; i += FL_ARRAY_LEN(rows)) {
        size_t n = FL_MIN(out->n_events - i, FL_ARRAY_LEN(rows));
        for (size_t k = 0; k < n; k++) {
            const fl_ev_t *ev = &out->events[i + k];
            rows[k] = (fl_event_row_t){ev->event_id, ev->sched_id, ev->type, ev->step,
                                       ev->time_ms, ev->detail};
        }
        rc = fl_db_events_insert(db, e->id, rows, (int)n);
    }
    for (size_t i = 0; i < out->n_tasks && !rc; i++) {
        const fl_task_new_t *t = &out->tasks[i];
        fl_task_row_t row = {.exec_id = e->id, .seq = t->seq, .step = t->step,
                             .sched_id = t->sched_id, .created_ms = now_ms,
                             .timeout_ms = t->timeout_ms, .attempt = t->attempt};
        rc = fl_db_task_insert(db, &row);
    }
    /* The reported attempt keeps the report's RequestId and event: a retried report with
     * the same RequestId gets the same answer. */
    for (size_t i = 0; i < out->n_done && !rc; i++) {
        bool reported = cmd->request_id && out->done_seqs[i] == cmd->seq;
        rc = fl_db_task_complete(db, e->id, out->done_seqs[i], reported ? cmd->request_id : NULL,
                                 reported ? out->result_event : 0);
    }
    if (!rc && out->finished) {
        /* Nothing may fire or be sent for an ended execution. */
        rc = fl_db_timer_delete_exec(db, e->id);
        if (!rc)
            rc = fl_db_outbox_delete_exec(db, e->id);
        if (!rc && e->parent_token)
            rc = report_parent(db, e, out, now_ms);
    }
    for (size_t i = 0; i < out->n_timers && !rc && !out->finished; i++)
        rc = fl_db_timer_insert(db, e->id, out->timers[i].kind, out->timers[i].seq,
                                out->timers[i].due_ms);
    for (size_t i = 0; i < out->n_dispatches && !rc && !out->finished; i++)
        rc = fl_db_outbox_insert(db, e->id, out->dispatches[i].seq, out->dispatches[i].payload,
                                 now_ms);
    if (rc)
        return rc;
    if (out->finished) {
        e->status = out->status;
        e->output = out->output;
        e->error_code = out->error_code;
        e->error_message = out->error_message;
        e->stopped_ms = now_ms;
    }
    return e->id ? fl_db_exec_update(db, e) : FL_OK;
}

/* Steps execution e with cmd and persists the result. */
static int step_exec(const fl_engine_t *eng, fl_db_t *db, fl_exec_row_t *e, fl_run_t *run,
                     const fl_cmd_t *cmd, int64_t *result_event)
{
    const fl_flow_t *flow = NULL;
    int rc = fl_engine_flow(db, e->def_id, &flow);
    if (rc)
        return rc;
    json_t *input = json_loads(e->input ? e->input : "{}", 0, NULL);
    fl_exec_ctx_t ctx = {
        .account = e->account,
        .exec_id = e->id,
        .exec_name = e->name,
        .flow_name = e->flow_name ? e->flow_name : "",
        .role_arn = "",
        .exec_input = input,
        .started_ms = e->started_ms,
        .mint = mint,
        .mint_arg = (void *)eng,
        .max_payload = eng->max_payload,
    };
    fl_out_t out;
    fl_out_init(&out);
    rc = fl_engine_step(flow, &ctx, run, cmd, &out);
    if (rc == FL_OK) {
        char *state = fl_run_dump(run);
        e->state = state;
        rc = persist(db, e, &out, cmd);
        /* The row's strings that point into out/state are not used after this call. */
        free(state);
        e->state = NULL;
        e->output = e->error_code = e->error_message = NULL;
        if (result_event)
            *result_event = out.result_event;
        if (rc == FL_OK && (out.n_timers || out.n_dispatches || (out.finished && e->parent_token)))
            fl_db_kick(db);
    }
    fl_out_close(&out);
    json_decref(input);
    return rc;
}

int fl_engine_start(const fl_engine_t *eng, fl_db_t *db, fl_exec_row_t *e, int64_t now_ms)
{
    json_t *input = json_loads(e->input ? e->input : "{}", 0, NULL);
    if (!input)
        return FL_EINVALID_ARGUMENT;
    fl_run_t *run = fl_run_new();
    char *state = fl_run_dump(run);
    e->state = state;
    e->status = FL_EXEC_RUNNING;
    e->started_ms = now_ms;
    int rc = fl_db_exec_insert(db, e);
    free(state);
    e->state = NULL;
    if (rc == FL_OK) {
        fl_cmd_t cmd = {.kind = FL_CMD_START, .now_ms = now_ms, .data = input};
        rc = step_exec(eng, db, e, run, &cmd, NULL);
    }
    fl_run_free(run);
    json_decref(input);
    return rc;
}

/* Applies cmd to execution e, read (and locked) by this transaction. */
static int apply_row(const fl_engine_t *eng, fl_db_t *db, fl_exec_row_t *e, const fl_cmd_t *cmd,
                     int64_t *result_event)
{
    fl_run_t *run = NULL;
    int rc = fl_run_load(e->state, &run);
    if (rc == FL_OK)
        rc = step_exec(eng, db, e, run, cmd, result_event);
    fl_run_free(run);
    return rc;
}

/* Every state change reads its execution with a row lock (nothing with one SQLite node):
 * another node may be stepping the same execution, and what is read must not change
 * before this transaction ends. */
int fl_engine_apply(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, const fl_cmd_t *cmd,
                    int64_t *result_event)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_exec_row_t e;
    int rc = fl_db_exec_get_locked(db, exec_id, &a, &e);
    if (rc == FL_OK)
        rc = apply_row(eng, db, &e, cmd, result_event);
    fl_arena_close(&a);
    return rc;
}

int fl_engine_report(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, uint32_t seq,
                     const fl_cmd_t *cmd, const char *request_id, int64_t *event_id, char *what,
                     size_t what_len)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_task_row_t t;
    fl_exec_row_t e;
    /* The execution locked, and the attempt read with it: it cannot change under us. */
    bool has_task = false;
    int rc = fl_db_exec_task_locked(db, exec_id, seq, &a, &e, &t, &has_task);
    if (rc == FL_EEXECUTION_NOT_EXISTS || (rc == FL_OK && !has_task)) {
        /* A valid token whose attempt is gone: its execution was deleted. */
        snprintf(what, what_len, "%u of execution %lld", seq, (long long)exec_id);
        rc = FL_ETASK_ALREADY_COMPLETED;
        goto out;
    }
    if (rc)
        goto out;
    if (t.done) {
        if (t.request_id && request_id && strcmp(t.request_id, request_id) == 0) {
            /* The same report again (a client retry): the same answer. */
            *event_id = t.event_id;
            goto out;
        }
        snprintf(what, what_len, "%s of execution %s", t.step, e.name);
        rc = FL_ETASK_ALREADY_COMPLETED;
        goto out;
    }
    fl_cmd_t c = *cmd;
    c.request_id = request_id; /* stored with the attempt the step completes */
    rc = apply_row(eng, db, &e, &c, event_id);
    if (rc == FL_ETASK_ALREADY_COMPLETED || rc == FL_EEXECUTION_NOT_EXISTS) {
        snprintf(what, what_len, "%s", t.step);
        rc = FL_ETASK_ALREADY_COMPLETED;
    }
out:
    fl_arena_close(&a);
    return rc;
}
