/*
 * step.c - the pure transition function of an execution: fl_engine_step().
 *
 * An execution is at one state at a time (this version has no Parallel or Map). Its runtime
 * state (fl_run_t) records where it is and what it waits for: a task attempt's result, a
 * retry backoff, or a Wait timer. Each command moves it forward until it waits again or
 * ends, appending history events and effects (dispatches, timers, task rows) to fl_out_t.
 * No I/O, no clock, no randomness: the same inputs always give the same outputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* What the current state waits for. */
enum { PH_NONE, PH_TASK, PH_RETRY, PH_WAIT };

/* Longest chain of states run in one step without waiting (guards against Pass loops). */
#define MAX_TRANSITIONS 1000
/* History events per execution, as the public service. */
#define MAX_EVENTS 5000

struct fl_run {
    int status;
    int64_t next_event; /* id of the next history event */
    uint32_t next_seq;  /* seq of the next task attempt */
    uint32_t gen;       /* generation of Wait/retry timers, so stale ones are ignored */
    int cur;            /* current state index, -1 when ended */
    json_t *input;      /* raw input of the current state */
    json_t *eff;        /* input after InputConstructor */
    int phase;
    uint32_t seq;       /* attempt in progress (PH_TASK) */
    int64_t sched_id;   /* its TaskScheduled event */
    bool submitted;     /* TaskSubmitted recorded */
    int attempt;        /* attempts started in the current step */
    json_t *retries;    /* array: retries used per Retry rule */
};

fl_run_t *fl_run_new(void)
{
    fl_run_t *r = xcalloc(1, sizeof *r);
    r->status = FL_EXEC_RUNNING;
    r->next_event = 1;
    r->next_seq = 1;
    r->cur = -1;
    return r;
}

void fl_run_free(fl_run_t *r)
{
    if (!r)
        return;
    json_decref(r->input);
    json_decref(r->eff);
    json_decref(r->retries);
    free(r);
}

int fl_run_status(const fl_run_t *r) { return r->status; }

uint32_t fl_run_waiting_seq(const fl_run_t *r)
{
    return r->phase == PH_TASK ? r->seq : 0;
}

char *fl_run_dump(const fl_run_t *r)
{
    json_t *o = json_pack("{s:i, s:I, s:I, s:I, s:i, s:i, s:I, s:I, s:b, s:i}", "st", r->status,
                          "ne", (json_int_t)r->next_event, "ns", (json_int_t)r->next_seq, "gen",
                          (json_int_t)r->gen, "cur", r->cur, "ph", r->phase, "seq",
                          (json_int_t)r->seq, "sid", (json_int_t)r->sched_id, "sub",
                          r->submitted, "att", r->attempt);
    FL_ASSERT(o != NULL);
    if (r->input)
        json_object_set(o, "in", r->input);
    if (r->eff && r->eff != r->input)
        json_object_set(o, "eff", r->eff);
    if (r->retries)
        json_object_set(o, "rt", r->retries);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    FL_ASSERT(s != NULL);
    return s;
}

int fl_run_load(const char *text, fl_run_t **out)
{
    json_t *o = json_loads(text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return FL_EINTERNAL;
    }
    fl_run_t *r = fl_run_new();
    json_int_t ne = 1, ns = 1, gen = 0, seq = 0, sid = 0;
    int sub = 0;
    if (json_unpack(o, "{s:i, s:I, s:I, s:I, s:i, s:i, s:I, s:I, s:b, s:i}", "st", &r->status,
                    "ne", &ne, "ns", &ns, "gen", &gen, "cur", &r->cur, "ph", &r->phase, "seq",
                    &seq, "sid", &sid, "sub", &sub, "att", &r->attempt) != 0) {
        json_decref(o);
        fl_run_free(r);
        return FL_EINTERNAL;
    }
    r->next_event = ne;
    r->next_seq = (uint32_t)ns;
    r->gen = (uint32_t)gen;
    r->seq = (uint32_t)seq;
    r->sched_id = sid;
    r->submitted = sub;
    r->input = json_incref(json_object_get(o, "in"));
    json_t *eff = json_object_get(o, "eff");
    r->eff = json_incref(eff ? eff : r->input);
    r->retries = json_incref(json_object_get(o, "rt"));
    json_decref(o);
    *out = r;
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Output helpers                                                                           */
/* ---------------------------------------------------------------------------------------- */

void fl_out_init(fl_out_t *o)
{
    memset(o, 0, sizeof *o);
}

void fl_out_close(fl_out_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_events; i++) {
        free(o->events[i].step);
        free(o->events[i].detail);
    }
    for (size_t i = 0; i < o->n_dispatches; i++)
        free(o->dispatches[i].payload);
    for (size_t i = 0; i < o->n_tasks; i++)
        free(o->tasks[i].step);
    free(o->events);
    free(o->dispatches);
    free(o->timers);
    free(o->tasks);
    free(o->done_seqs);
    free(o->output);
    free(o->error_code);
    free(o->error_message);
    fl_out_init(o);
}

#define PUSH(arr, n, item)                                                                     \
    do {                                                                                       \
        (arr) = xrealloc((arr), sizeof(*(arr)) * ((n) + 1));                                   \
        (arr)[(n)++] = (item);                                                                 \
    } while (0)

/* Everything one step needs, so helpers take a single argument. */
typedef struct {
    const fl_flow_t *flow;
    const fl_exec_ctx_t *ctx;
    fl_run_t *run;
    const fl_cmd_t *cmd;
    fl_out_t *out;
    char token[128]; /* token of the attempt being scheduled */
    int pending;     /* state to enter next, -1 none */
    json_t *pending_input;
    int transitions;
} step_t;

static char *dumps(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    FL_ASSERT(s != NULL);
    return s;
}

/* Appends a history event; detail is stolen (may be NULL for {}). Returns its id. */
static int64_t emit(step_t *s, const char *type, const char *step_name, int64_t sched_id,
                    json_t *detail)
{
    if (!detail)
        detail = json_object();
    fl_ev_t ev = {
        .event_id = s->run->next_event++,
        .sched_id = sched_id,
        .type = type,
        .step = xstrdup(step_name ? step_name : ""),
        .time_ms = s->cmd->now_ms,
        .detail = dumps(detail),
    };
    json_decref(detail);
    PUSH(s->out->events, s->out->n_events, ev);
    return ev.event_id;
}

static const fl_state_t *cur_state(step_t *s)
{
    return s->run->cur >= 0 ? &s->flow->root.states[s->run->cur] : NULL;
}

/* Builds $Context for expressions: Execution and Current (state name, input, retry count,
 * token, error). Returns a new reference. */
static json_t *context(step_t *s, const char *err, const char *cause)
{
    const fl_exec_ctx_t *c = s->ctx;
    const fl_state_t *st = cur_state(s);
    char started[32];
    fl_time_iso(c->started_ms, started);
    json_t *exec = json_pack("{s:s, s:O, s:s, s:s, s:s}", "Name", c->exec_name, "Input",
                             c->exec_input ? c->exec_input : json_null(), "RoleArn",
                             c->role_arn ? c->role_arn : "", "StartTime", started, "FlowName",
                             c->flow_name ? c->flow_name : "");
    json_t *cur = json_pack("{s:s, s:O, s:i}", "Name", st ? st->name : "", "Input",
                            s->run->eff ? s->run->eff : json_null(), "RetryCount",
                            s->run->attempt > 0 ? s->run->attempt - 1 : 0);
    FL_ASSERT(exec && cur);
    if (s->token[0])
        json_object_set_new(cur, "TaskToken", json_string(s->token));
    if (err)
        json_object_set_new(cur, "Error",
                            json_pack("{s:s, s:s}", "Code", err, "Detail", cause ? cause : ""));
    return json_pack("{s:o, s:o}", "Execution", exec, "Current", cur);
}

/* Evaluates a constructor. Returns FL_OK with a new reference in *out, or an error with
 * msg set (the caller raises FnF.RuntimeError). */
static int construct(step_t *s, const fl_tmpl_t *t, json_t *input, json_t *output,
                     const char *err, const char *cause, json_t **out, char *msg, size_t len)
{
    json_t *ctx = context(s, err, cause);
    fl_env_t env = {.input = input, .output = output, .context = ctx};
    int rc = fl_tmpl_eval(t, &env, out, msg, len);
    json_decref(ctx);
    return rc;
}

/* Checks a state input/output: a JSON object of at most max_payload bytes. */
static int check_payload(step_t *s, json_t *v, const char *what, char *msg, size_t len)
{
    if (!json_is_object(v)) {
        snprintf(msg, len, "the %s of state must be a JSON object", what);
        return FL_EINVALID_ARGUMENT;
    }
    size_t max = s->ctx->max_payload ? s->ctx->max_payload : 65536;
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    if (n > max) {
        snprintf(msg, len, "the %s of state is %zu bytes, above the limit of %zu bytes", what, n,
                 max);
        return FL_EENTITY_TOO_LARGE;
    }
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Ending                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void end_task(step_t *s)
{
    if (s->run->phase == PH_TASK && s->run->seq) {
        PUSH(s->out->done_seqs, s->out->n_done, s->run->seq);
    }
    s->run->phase = PH_NONE;
}

static void finish(step_t *s, int status, json_t *output, const char *err, const char *cause)
{
    static const char *types[] = {"", "", "ExecutionSucceeded", "ExecutionFailed",
                                  "ExecutionStopped", "ExecutionTimedOut"};
    end_task(s);
    json_t *detail = json_object();
    if (output)
        json_object_set(detail, "Output", output);
    if (err)
        json_object_set_new(detail, "Error", json_string(err));
    if (cause)
        json_object_set_new(detail, "Cause", json_string(cause));
    emit(s, types[status], "", 0, detail);
    fl_run_t *r = s->run;
    r->status = status;
    r->cur = -1;
    json_decref(r->input);
    json_decref(r->eff);
    json_decref(r->retries);
    r->input = r->eff = r->retries = NULL;
    s->out->finished = true;
    s->out->status = status;
    s->out->output = output ? dumps(output) : NULL;
    s->out->error_code = err ? xstrdup(err) : NULL;
    s->out->error_message = err ? xstrdup(cause ? cause : "") : NULL;
    s->pending = -1;
    json_decref(s->pending_input);
    s->pending_input = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Moving between states                                                                    */
/* ---------------------------------------------------------------------------------------- */

static void fail_state(step_t *s, const char *err, const char *cause);

/* Queues entering state idx with input (stolen). */
static void go(step_t *s, int idx, json_t *input)
{
    json_decref(s->pending_input);
    s->pending = idx;
    s->pending_input = input;
}

/* Leaves the current state with output (stolen): StepExited, then Next or the end. */
static void leave(step_t *s, json_t *output)
{
    const fl_state_t *st = cur_state(s);
    char msg[256];
    int rc = check_payload(s, output, "output", msg, sizeof msg);
    if (rc) {
        json_decref(output);
        fail_state(s, rc == FL_EENTITY_TOO_LARGE ? "FnF.PayloadTooLarge" : "FnF.RuntimeError",
                   msg);
        return;
    }
    emit(s, "StepExited", st->name, 0, json_pack("{s:O}", "Output", output));
    s->run->phase = PH_NONE;
    if (st->type == FL_ST_SUCCEED || st->end || st->next < 0) {
        finish(s, FL_EXEC_SUCCEEDED, output, NULL, NULL);
        json_decref(output);
        return;
    }
    go(s, st->next, output);
}

/* Applies the OutputConstructor of the current state to result, then leaves. */
static void leave_with(step_t *s, json_t *result)
{
    const fl_state_t *st = cur_state(s);
    if (!st->output_ctor) {
        leave(s, json_incref(result));
        return;
    }
    json_t *out = NULL;
    char msg[256];
    if (construct(s, st->output_ctor, s->run->eff, result, NULL, NULL, &out, msg, sizeof msg)) {
        fail_state(s, "FnF.RuntimeError", msg);
        return;
    }
    leave(s, out);
}

static void schedule_attempt(step_t *s);

/* The current state failed with err: Retry, then Catch, then fail the execution. */
static void fail_state(step_t *s, const char *err, const char *cause)
{
    const fl_state_t *st = cur_state(s);
    fl_run_t *r = s->run;
    end_task(s);
    if (st->type == FL_ST_TASK) {
        for (size_t i = 0; i < st->n_retry; i++) {
            const fl_retry_t *rt = &st->retry[i];
            if (!fl_spec_errors_match(rt->errors, rt->n_errors, err))
                continue;
            /* Only the first matching rule applies, as in the public service. */
            if (!r->retries)
                r->retries = json_array();
            while (json_array_size(r->retries) <= i)
                json_array_append_new(r->retries, json_integer(0));
            json_int_t used = json_integer_value(json_array_get(r->retries, i));
            if (used >= rt->max_attempts)
                break;
            json_array_set_new(r->retries, i, json_integer(used + 1));
            double delay = rt->interval_s * pow(rt->backoff_rate > 0 ? rt->backoff_rate : 1,
                                                (double)used);
            if (rt->max_backoff_s > 0 && delay > rt->max_backoff_s)
                delay = rt->max_backoff_s;
            if (delay <= 0) {
                schedule_attempt(s);
                return;
            }
            r->phase = PH_RETRY;
            r->gen++;
            fl_timer_t t = {FL_TIMER_RETRY, r->gen, s->cmd->now_ms + (int64_t)(delay * 1000)};
            PUSH(s->out->timers, s->out->n_timers, t);
            return;
        }
        for (size_t i = 0; i < st->n_catches; i++) {
            const fl_catch_t *c = &st->catches[i];
            if (!fl_spec_errors_match(c->errors, c->n_errors, err))
                continue;
            json_t *in = NULL;
            char msg[256];
            if (c->output_ctor) {
                if (construct(s, c->output_ctor, r->eff, NULL, err, cause, &in, msg,
                              sizeof msg)) {
                    /* The handler's input cannot be built: the failure stands, uncaught. */
                    break;
                }
            } else {
                in = json_pack("{s:s, s:s}", "Error", err, "Cause", cause ? cause : "");
            }
            emit(s, "StepExited", st->name, 0,
                 json_pack("{s:s, s:s, s:O}", "Error", err, "Cause", cause ? cause : "",
                           "Output", in));
            go(s, c->next, in);
            return;
        }
    }
    emit(s, "StepFailed", st->name, 0,
         json_pack("{s:s, s:s}", "Error", err, "Cause", cause ? cause : ""));
    finish(s, FL_EXEC_FAILED, NULL, err, cause ? cause : "");
}

/* Starts a new attempt of the current Task state: mint its token, build Parameters, record
 * TaskScheduled, queue the dispatch and the timeout. */
static void schedule_attempt(step_t *s)
{
    const fl_state_t *st = cur_state(s);
    fl_run_t *r = s->run;
    uint32_t seq = r->next_seq++;
    r->attempt++;
    s->ctx->mint(s->ctx->mint_arg, s->ctx->account, s->ctx->exec_id, seq, s->token);
    json_t *params = NULL;
    char msg[256];
    if (st->parameters) {
        if (construct(s, st->parameters, r->eff, NULL, NULL, NULL, &params, msg, sizeof msg)) {
            s->token[0] = 0;
            fail_state(s, "FnF.RuntimeError", msg);
            return;
        }
    } else {
        params = json_object();
    }
    bool callback = st->mode == FL_MODE_WAIT_CALLBACK;
    int64_t sched = emit(s, "TaskScheduled", st->name, 0,
                         json_pack("{s:s, s:O, s:i}", "Resource", st->action, "Input", params,
                                   "Attempt", r->attempt));
    r->phase = PH_TASK;
    r->seq = seq;
    r->sched_id = sched;
    r->submitted = false;
    json_t *payload = json_pack("{s:s, s:s, s:o}", "Action", st->action, "Mode",
                                callback ? "WaitForCustomCallback" : "RequestComplete",
                                "Parameters", params);
    fl_dispatch_t d = {seq, dumps(payload)};
    json_decref(payload);
    PUSH(s->out->dispatches, s->out->n_dispatches, d);
    int64_t timeout_ms = st->timeout_s > 0 ? s->cmd->now_ms + st->timeout_s * 1000 : 0;
    if (timeout_ms) {
        fl_timer_t t = {FL_TIMER_TASK_TIMEOUT, seq, timeout_ms};
        PUSH(s->out->timers, s->out->n_timers, t);
    }
    if (callback) {
        fl_task_new_t tn = {seq, xstrdup(st->name), sched, timeout_ms};
        PUSH(s->out->tasks, s->out->n_tasks, tn);
    }
    s->token[0] = 0;
}

/* Enters state idx with input (stolen) and runs it as far as it goes without waiting. */
static void enter(step_t *s, int idx, json_t *input)
{
    fl_run_t *r = s->run;
    const fl_state_t *st = &s->flow->root.states[idx];
    json_decref(r->input);
    json_decref(r->eff);
    json_decref(r->retries);
    r->cur = idx;
    r->input = input;
    r->eff = json_incref(input);
    r->retries = NULL;
    r->attempt = 0;
    r->phase = PH_NONE;
    emit(s, "StepEntered", st->name, 0, json_pack("{s:O}", "Input", input));

    char msg[256];
    int rc = check_payload(s, input, "input", msg, sizeof msg);
    if (rc) {
        fail_state(s, rc == FL_EENTITY_TOO_LARGE ? "FnF.PayloadTooLarge" : "FnF.RuntimeError",
                   msg);
        return;
    }
    if (st->input_ctor) {
        json_t *eff = NULL;
        if (construct(s, st->input_ctor, input, NULL, NULL, NULL, &eff, msg, sizeof msg)) {
            fail_state(s, "FnF.RuntimeError", msg);
            return;
        }
        json_decref(r->eff);
        r->eff = eff;
    }

    switch (st->type) {
    case FL_ST_PASS:
    case FL_ST_SUCCEED:
        leave_with(s, r->eff);
        return;
    case FL_ST_TASK:
        schedule_attempt(s);
        return;
    case FL_ST_CHOICE: {
        json_t *ctx = context(s, NULL, NULL);
        fl_env_t env = {.input = r->eff, .context = ctx};
        int next = st->default_next;
        for (size_t i = 0; i < st->n_choices; i++) {
            bool yes = false;
            if (fl_expr_eval_bool(st->choices[i].cond, &env, &yes, msg, sizeof msg)) {
                json_decref(ctx);
                fail_state(s, "FnF.RuntimeError", msg);
                return;
            }
            if (yes) {
                next = st->choices[i].next;
                break;
            }
        }
        json_decref(ctx);
        if (next < 0) {
            fail_state(s, "FnF.RuntimeError", "no Choice branch matched and there is no Default");
            return;
        }
        json_t *out = json_incref(r->eff);
        emit(s, "StepExited", st->name, 0, json_pack("{s:O}", "Output", out));
        go(s, next, out);
        return;
    }
    case FL_ST_WAIT: {
        double secs = (double)st->wait_s;
        if (st->wait_expr) {
            json_t *ctx = context(s, NULL, NULL), *v = NULL;
            fl_env_t env = {.input = r->eff, .context = ctx};
            rc = fl_expr_eval(st->wait_expr, &env, &v, msg, sizeof msg);
            json_decref(ctx);
            if (rc == FL_OK && (!json_is_number(v) || json_number_value(v) < 0)) {
                snprintf(msg, sizeof msg, "Seconds.$ must give a number of seconds >= 0");
                rc = FL_EINVALID_ARGUMENT;
            }
            if (rc) {
                json_decref(v);
                fail_state(s, "FnF.RuntimeError", msg);
                return;
            }
            secs = json_number_value(v);
            json_decref(v);
        }
        r->phase = PH_WAIT;
        r->gen++;
        fl_timer_t t = {FL_TIMER_WAIT, r->gen, s->cmd->now_ms + (int64_t)(secs * 1000)};
        PUSH(s->out->timers, s->out->n_timers, t);
        return;
    }
    case FL_ST_FAIL: {
        const char *code = st->fail_code ? st->fail_code : "";
        const char *detail = st->fail_detail ? st->fail_detail : "";
        emit(s, "StepFailed", st->name, 0, json_pack("{s:s, s:s}", "Error", code, "Cause", detail));
        finish(s, FL_EXEC_FAILED, NULL, code, detail);
        return;
    }
    default:
        fail_state(s, "FnF.RuntimeError", "state type not supported");
        return;
    }
}

/* Runs queued transitions until the execution waits or ends. */
static void advance(step_t *s)
{
    while (s->pending >= 0 && s->run->status == FL_EXEC_RUNNING) {
        int idx = s->pending;
        json_t *in = s->pending_input;
        s->pending = -1;
        s->pending_input = NULL;
        if (++s->transitions > MAX_TRANSITIONS || s->run->next_event > MAX_EVENTS) {
            json_decref(in);
            finish(s, FL_EXEC_FAILED, NULL, "FnF.RuntimeError",
                   s->transitions > MAX_TRANSITIONS
                       ? "too many state transitions without waiting"
                       : "the execution history reached its limit of 5000 events");
            return;
        }
        enter(s, idx, in);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Commands                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* Is seq the attempt in progress? */
static bool is_current(const fl_run_t *r, uint32_t seq)
{
    return r->status == FL_EXEC_RUNNING && r->phase == PH_TASK && r->seq == seq;
}

/* Records TaskSubmitted if the worker's acceptance was not recorded yet: a fast worker may
 * report before flowd has recorded the submission, and the history keeps its order. */
static void mark_submitted(step_t *s)
{
    if (s->run->submitted)
        return;
    const fl_state_t *st = cur_state(s);
    s->run->submitted = true;
    emit(s, st->mode == FL_MODE_WAIT_CALLBACK ? "TaskSubmitted" : "TaskStarted", st->name,
         s->run->sched_id, NULL);
}

int fl_engine_step(const fl_flow_t *flow, const fl_exec_ctx_t *ctx, fl_run_t *run,
                   const fl_cmd_t *cmd, fl_out_t *out)
{
    step_t s = {.flow = flow, .ctx = ctx, .run = run, .cmd = cmd, .out = out, .pending = -1};
    fl_run_t *r = run;
    int rc = FL_OK;

    switch (cmd->kind) {
    case FL_CMD_START: {
        json_t *in = cmd->data ? json_incref(cmd->data) : json_object();
        emit(&s, "ExecutionStarted", "", 0, json_pack("{s:O}", "Input", in));
        r->status = FL_EXEC_RUNNING;
        if (flow->timeout_s > 0) {
            fl_timer_t t = {FL_TIMER_EXEC_TIMEOUT, 0, cmd->now_ms + flow->timeout_s * 1000};
            PUSH(out->timers, out->n_timers, t);
        }
        go(&s, flow->root.start, in);
        break;
    }
    case FL_CMD_SUBMITTED:
        if (is_current(r, cmd->seq))
            mark_submitted(&s);
        break;
    case FL_CMD_SUBMIT_FAILED:
        if (!is_current(r, cmd->seq))
            break;
        emit(&s, "TaskSubmitFailed", cur_state(&s)->name, r->sched_id,
             json_pack("{s:s, s:s}", "Error", cmd->error ? cmd->error : "",
                       "Cause", cmd->cause ? cmd->cause : ""));
        fail_state(&s, cmd->error ? cmd->error : "FnF.RuntimeError", cmd->cause);
        break;
    case FL_CMD_TASK_SUCCEEDED:
        if (!is_current(r, cmd->seq)) {
            rc = FL_ETASK_ALREADY_COMPLETED;
            break;
        }
        mark_submitted(&s);
        out->result_event = emit(&s, "TaskSucceeded", cur_state(&s)->name, r->sched_id,
                                 json_pack("{s:O}", "Output", cmd->data));
        end_task(&s);
        leave_with(&s, cmd->data);
        break;
    case FL_CMD_TASK_FAILED:
        if (!is_current(r, cmd->seq)) {
            rc = FL_ETASK_ALREADY_COMPLETED;
            break;
        }
        mark_submitted(&s);
        out->result_event = emit(&s, "TaskFailed", cur_state(&s)->name, r->sched_id,
                                 json_pack("{s:s, s:s}", "Error", cmd->error,
                                           "Cause", cmd->cause ? cmd->cause : ""));
        fail_state(&s, cmd->error, cmd->cause);
        break;
    case FL_CMD_TIMER:
        if (r->status != FL_EXEC_RUNNING)
            break;
        if (cmd->timer_kind == FL_TIMER_TASK_TIMEOUT && is_current(r, cmd->seq)) {
            const fl_state_t *st = cur_state(&s);
            char cause[128];
            snprintf(cause, sizeof cause, "task timed out after %lld seconds",
                     (long long)st->timeout_s);
            emit(&s, "TaskTimedOut", st->name, r->sched_id,
                 json_pack("{s:s, s:s}", "Error", "FnF.TaskTimeout", "Cause", cause));
            fail_state(&s, "FnF.TaskTimeout", cause);
        } else if (cmd->timer_kind == FL_TIMER_RETRY && r->phase == PH_RETRY &&
                   r->gen == cmd->seq) {
            schedule_attempt(&s);
        } else if (cmd->timer_kind == FL_TIMER_WAIT && r->phase == PH_WAIT &&
                   r->gen == cmd->seq) {
            r->phase = PH_NONE;
            leave_with(&s, r->eff);
        } else if (cmd->timer_kind == FL_TIMER_EXEC_TIMEOUT) {
            finish(&s, FL_EXEC_TIMED_OUT, NULL, "FnF.Timeout", "the execution timed out");
        }
        break;
    case FL_CMD_STOP:
        if (r->status != FL_EXEC_RUNNING) {
            rc = FL_EEXECUTION_ALREADY_COMPLETED;
            break;
        }
        finish(&s, FL_EXEC_STOPPED, NULL, cmd->error, cmd->cause);
        break;
    }
    advance(&s);
    json_decref(s.pending_input);
    out->status = r->status;
    return rc;
}
