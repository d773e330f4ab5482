/*
 * step.c - the pure transition function of an execution: fl_engine_step().
 *
 * An execution is a tree of frames. A frame runs one scope (the top level, a Parallel branch,
 * a Map iteration, an FDL choice branch) one state at a time and records what that state
 * waits for: a task attempt's result, a retry backoff, a Wait timer, or its child frames
 * (Parallel, Map, FDL choice steps). Each command moves the tree forward until everything
 * waits again or the execution ends, appending history events and effects (dispatches,
 * timers, task rows) to fl_out_t. No I/O, no clock, no randomness: the same inputs always
 * give the same outputs. Both languages run here; they differ in how data flows between
 * states (CloudFlow: output to next input; FDL: outputs merge into the scope's $local).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* What a frame's current state waits for. */
enum { PH_NONE, PH_TASK, PH_RETRY, PH_WAIT, PH_CHILDREN };
/* What a frame runs. */
enum { FR_ROOT, FR_BRANCH, FR_ITER, FR_CHOICE };

#define MAX_TRANSITIONS 1000 /* states run in one step without waiting (guards Pass loops) */
#define MAX_EVENTS 5000      /* history events per execution, as the public service */
#define MAX_MAP_ITEMS 10000  /* items of one Map, as the public service */
#define MAP_CONCURRENCY 100  /* iterations at a time when MaxConcurrency is 0 */

/* ---------------------------------------------------------------------------------------- */
/* Runtime state                                                                            */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    int id;             /* unique within the execution */
    int parent;         /* id of the enclosing frame, -1 for the root */
    int kind;           /* FR_* */
    int index;          /* branch, iteration or choice branch (-1 = default) number */
    int cur;            /* current state index in the scope, -1 when none */
    json_t *input;      /* raw input of the current state */
    json_t *eff;        /* its input after InputConstructor / inputMappings */
    int phase;
    uint32_t seq;       /* attempt in progress (PH_TASK) */
    uint32_t gen;       /* timer generation of the current wait or backoff */
    int64_t sched_id;   /* TaskScheduled event of the attempt */
    bool submitted;     /* TaskSubmitted recorded */
    int attempt;        /* attempts started in the current state */
    json_t *retries;    /* array: retries used per Retry rule */
    json_t *scope_in;   /* the scope's input (FDL) */
    json_t *local;      /* the scope's $local (FDL) */
    json_t *results;    /* PH_CHILDREN: one slot per child */
    json_t *items;      /* PH_CHILDREN of a Map: the items */
    int n_started;      /* children started */
    int n_done;         /* children finished */
} frame_t;

struct fl_run {
    int status;
    int64_t next_event;
    uint32_t next_seq;
    uint32_t gen;
    int next_frame;
    frame_t *frames;
    size_t n_frames;
};

fl_run_t *fl_run_new(void)
{
    fl_run_t *r = xcalloc(1, sizeof *r);
    r->status = FL_EXEC_RUNNING;
    r->next_event = 1;
    r->next_seq = 1;
    return r;
}

static void frame_clear(frame_t *f)
{
    json_decref(f->input);
    json_decref(f->eff);
    json_decref(f->retries);
    json_decref(f->scope_in);
    json_decref(f->local);
    json_decref(f->results);
    json_decref(f->items);
}

void fl_run_free(fl_run_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_frames; i++)
        frame_clear(&r->frames[i]);
    free(r->frames);
    free(r);
}

int fl_run_status(const fl_run_t *r) { return r->status; }

uint32_t fl_run_waiting_seq(const fl_run_t *r)
{
    for (size_t i = 0; i < r->n_frames; i++)
        if (r->frames[i].phase == PH_TASK)
            return r->frames[i].seq;
    return 0;
}

static void set_json(json_t *o, const char *k, json_t *v)
{
    if (v)
        json_object_set(o, k, v);
}

char *fl_run_dump(const fl_run_t *r)
{
    json_t *fr = json_array();
    for (size_t i = 0; i < r->n_frames; i++) {
        const frame_t *f = &r->frames[i];
        json_t *o = json_pack("[i, i, i, i, i, i, I, I, I, b, i, i, i]", f->id, f->parent,
                              f->kind, f->index, f->cur, f->phase, (json_int_t)f->seq,
                              (json_int_t)f->gen, (json_int_t)f->sched_id, f->submitted,
                              f->attempt, f->n_started, f->n_done);
        json_t *d = json_object();
        set_json(d, "in", f->input);
        if (f->eff != f->input)
            set_json(d, "eff", f->eff);
        set_json(d, "rt", f->retries);
        set_json(d, "si", f->scope_in);
        set_json(d, "lo", f->local);
        set_json(d, "res", f->results);
        set_json(d, "it", f->items);
        json_array_append_new(o, d);
        json_array_append_new(fr, o);
    }
    json_t *o = json_pack("{s:i, s:I, s:I, s:I, s:i, s:o}", "st", r->status, "ne",
                          (json_int_t)r->next_event, "ns", (json_int_t)r->next_seq, "gen",
                          (json_int_t)r->gen, "nf", r->next_frame, "fr", fr);
    FL_ASSERT(o != NULL);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    FL_ASSERT(s != NULL);
    return s;
}

int fl_run_load(const char *text, fl_run_t **out)
{
    json_t *o = json_loads(text ? text : "", 0, NULL), *fr = NULL;
    json_int_t ne, ns, gen;
    fl_run_t *r = fl_run_new();
    if (!o || json_unpack(o, "{s:i, s:I, s:I, s:I, s:i, s:o}", "st", &r->status, "ne", &ne,
                          "ns", &ns, "gen", &gen, "nf", &r->next_frame, "fr", &fr) != 0 ||
        !json_is_array(fr))
        goto bad;
    r->next_event = ne;
    r->next_seq = (uint32_t)ns;
    r->gen = (uint32_t)gen;
    r->frames = xcalloc(json_array_size(fr) + 1, sizeof *r->frames);
    for (size_t i = 0; i < json_array_size(fr); i++) {
        frame_t *f = &r->frames[i];
        json_int_t seq, fgen, sid;
        int sub;
        json_t *d = NULL;
        if (json_unpack(json_array_get(fr, i), "[i, i, i, i, i, i, I, I, I, b, i, i, i, o]",
                        &f->id, &f->parent, &f->kind, &f->index, &f->cur, &f->phase, &seq,
                        &fgen, &sid, &sub, &f->attempt, &f->n_started, &f->n_done, &d) != 0 ||
            !json_is_object(d))
            goto bad;
        r->n_frames++;
        f->seq = (uint32_t)seq;
        f->gen = (uint32_t)fgen;
        f->sched_id = sid;
        f->submitted = sub;
        f->input = json_incref(json_object_get(d, "in"));
        json_t *eff = json_object_get(d, "eff");
        f->eff = json_incref(eff ? eff : f->input);
        f->retries = json_incref(json_object_get(d, "rt"));
        f->scope_in = json_incref(json_object_get(d, "si"));
        f->local = json_incref(json_object_get(d, "lo"));
        f->results = json_incref(json_object_get(d, "res"));
        f->items = json_incref(json_object_get(d, "it"));
    }
    json_decref(o);
    *out = r;
    return FL_OK;
bad:
    json_decref(o);
    fl_run_free(r);
    return FL_EINTERNAL;
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

/* A state to enter once the current transition is done (a work queue keeps the order of
 * events deterministic and the C stack flat). */
typedef struct {
    int frame;
    int state;
    json_t *input;
} pending_t;

/* Everything one step needs. */
typedef struct {
    const fl_flow_t *flow;
    const fl_exec_ctx_t *ctx;
    fl_run_t *run;
    const fl_cmd_t *cmd;
    fl_out_t *out;
    char token[128]; /* token of the attempt being scheduled */
    pending_t *queue;
    size_t n_queue, head;
    int transitions;
} step_t;

static bool fdl(const step_t *s) { return s->flow->dialect == FL_DIALECT_FDL; }

static char *dumps(json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    FL_ASSERT(t != NULL);
    return t;
}

/* Appends a history event; detail is stolen (NULL for {}). Returns its id. */
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

/* ---------------------------------------------------------------------------------------- */
/* Frames and scopes                                                                        */
/* ---------------------------------------------------------------------------------------- */

static frame_t *frame_get(step_t *s, int id)
{
    for (size_t i = 0; i < s->run->n_frames; i++)
        if (s->run->frames[i].id == id)
            return &s->run->frames[i];
    return NULL;
}

static const fl_scope_t *scope_of(step_t *s, const frame_t *f);

static const fl_state_t *state_of(step_t *s, const frame_t *f)
{
    const fl_scope_t *sc = scope_of(s, f);
    return f->cur >= 0 && (size_t)f->cur < sc->n_states ? &sc->states[f->cur] : NULL;
}

/* The scope a frame runs: the root, or a nested scope of its parent's current state. */
static const fl_scope_t *scope_of(step_t *s, const frame_t *f)
{
    if (f->kind == FR_ROOT)
        return &s->flow->root;
    const fl_state_t *ps = state_of(s, frame_get(s, f->parent));
    FL_ASSERT(ps != NULL);
    switch (f->kind) {
    case FR_BRANCH: return &ps->branches[f->index];
    case FR_ITER: return ps->processor;
    default: return f->index >= 0 ? ps->choices[f->index].scope : ps->default_scope;
    }
}

/* Adds a frame and returns its id (pointers into frames move when it grows). */
static int frame_new(step_t *s, int parent, int kind, int index)
{
    fl_run_t *r = s->run;
    r->frames = xrealloc(r->frames, (r->n_frames + 1) * sizeof *r->frames);
    frame_t *f = &r->frames[r->n_frames++];
    memset(f, 0, sizeof *f);
    f->id = r->next_frame++;
    f->parent = parent;
    f->kind = kind;
    f->index = index;
    f->cur = -1;
    return f->id;
}

static void end_task(step_t *s, frame_t *f)
{
    if (f->phase == PH_TASK && f->seq)
        PUSH(s->out->done_seqs, s->out->n_done, f->seq);
    f->phase = PH_NONE;
}

/* Removes frame id and all frames below it; their waiting tasks end. */
static void frame_drop(step_t *s, int id)
{
    for (size_t i = 0; i < s->run->n_frames; i++)
        if (s->run->frames[i].parent == id)
            frame_drop(s, s->run->frames[i--].id);
    frame_t *f = frame_get(s, id);
    if (!f)
        return;
    end_task(s, f);
    frame_clear(f);
    size_t i = (size_t)(f - s->run->frames);
    memmove(f, f + 1, (s->run->n_frames - i - 1) * sizeof *f);
    s->run->n_frames--;
    /* Pending entries for dropped frames are skipped when dequeued. */
}

static void drop_children(step_t *s, int id)
{
    for (size_t i = 0; i < s->run->n_frames; i++)
        if (s->run->frames[i].parent == id)
            frame_drop(s, s->run->frames[i--].id);
}

/* ---------------------------------------------------------------------------------------- */
/* Expressions                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* Builds $Context (CloudFlow) or $context (FDL) for frame f. Returns a new reference. */
static json_t *context(step_t *s, frame_t *f, const char *err, const char *cause)
{
    const fl_exec_ctx_t *c = s->ctx;
    const fl_state_t *st = f ? state_of(s, f) : NULL;
    char started[32];
    fl_time_iso(c->started_ms, started);
    json_t *exec_in = c->exec_input ? c->exec_input : json_null();
    if (fdl(s)) {
        json_t *o = json_pack("{s:{s:s, s:O, s:s}, s:{s:s}, s:{s:s}}", "execution", "name",
                              c->exec_name, "input", exec_in, "startTime", started, "flow",
                              "name", c->flow_name ? c->flow_name : "", "step", "name",
                              st ? st->name : "");
        FL_ASSERT(o != NULL);
        if (s->token[0])
            json_object_set_new(o, "task", json_pack("{s:s}", "token", s->token));
        return o;
    }
    json_t *exec = json_pack("{s:s, s:O, s:s, s:s, s:s}", "Name", c->exec_name, "Input", exec_in,
                             "RoleArn", c->role_arn ? c->role_arn : "", "StartTime", started,
                             "FlowName", c->flow_name ? c->flow_name : "");
    json_t *cur = json_pack("{s:s, s:O, s:i}", "Name", st ? st->name : "", "Input",
                            f && f->eff ? f->eff : json_null(), "RetryCount",
                            f && f->attempt > 0 ? f->attempt - 1 : 0);
    FL_ASSERT(exec && cur);
    if (s->token[0])
        json_object_set_new(cur, "TaskToken", json_string(s->token));
    if (err)
        json_object_set_new(cur, "Error",
                            json_pack("{s:s, s:s}", "Code", err, "Detail", cause ? cause : ""));
    return json_pack("{s:o, s:o}", "Execution", exec, "Current", cur);
}

/* Evaluates a constructor for frame f. FL_OK with a new reference in *out, or an error with
 * msg set (the caller raises FnF.RuntimeError). */
static int construct(step_t *s, frame_t *f, const fl_tmpl_t *t, json_t *input, json_t *output,
                     const char *err, const char *cause, json_t **out, char *msg, size_t len)
{
    json_t *ctx = context(s, f, err, cause);
    fl_env_t env = {.input = input, .output = output, .context = ctx};
    int rc = fl_tmpl_eval(t, &env, out, msg, len);
    json_decref(ctx);
    return rc;
}

static int eval(step_t *s, frame_t *f, const fl_expr_t *e, json_t *input, json_t **out,
                char *msg, size_t len)
{
    json_t *ctx = context(s, f, NULL, NULL);
    fl_env_t env = {.input = input, .context = ctx};
    int rc = fl_expr_eval(e, &env, out, msg, len);
    json_decref(ctx);
    return rc;
}

/* A state input/output is at most max_payload bytes. */
static int check_size(step_t *s, json_t *v, const char *what, char *msg, size_t len)
{
    size_t max = s->ctx->max_payload ? s->ctx->max_payload : 65536;
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > max) {
        snprintf(msg, len, "the %s of state is %zu bytes, above the limit of %zu bytes", what, n,
                 max);
        return FL_EENTITY_TOO_LARGE;
    }
    return FL_OK;
}

/* Returns a new object: a's members overwritten by b's (non-objects count as {}). */
static json_t *merged(json_t *a, json_t *b)
{
    json_t *o = json_is_object(a) ? json_deep_copy(a) : json_object();
    if (json_is_object(b))
        json_object_update(o, b);
    return o;
}

/* ---------------------------------------------------------------------------------------- */
/* Ending the execution                                                                     */
/* ---------------------------------------------------------------------------------------- */

static void finish(step_t *s, int status, json_t *output, const char *err, const char *cause)
{
    static const char *types[] = {"", "", "ExecutionSucceeded", "ExecutionFailed",
                                  "ExecutionStopped", "ExecutionTimedOut"};
    frame_t *root = frame_get(s, 0);
    if (root)
        frame_drop(s, root->id);
    json_t *detail = json_object();
    if (output)
        json_object_set(detail, "Output", output);
    if (err)
        json_object_set_new(detail, "Error", json_string(err));
    if (cause)
        json_object_set_new(detail, "Cause", json_string(cause));
    emit(s, types[status], "", 0, detail);
    s->run->status = status;
    s->out->finished = true;
    s->out->status = status;
    s->out->output = output ? dumps(output) : NULL;
    s->out->error_code = err ? xstrdup(err) : NULL;
    s->out->error_message = err ? xstrdup(cause ? cause : "") : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Moving between states                                                                    */
/* ---------------------------------------------------------------------------------------- */

static void fail_state(step_t *s, int fid, const char *err, const char *cause);
static void start_iteration(step_t *s, int fid);
static void scope_done(step_t *s, int fid, json_t *output);
static void scope_failed(step_t *s, int fid, const char *err, const char *cause);

/* Queues entering state idx of frame fid with input (stolen). */
static void go(step_t *s, int fid, int idx, json_t *input)
{
    pending_t p = {fid, idx, input};
    PUSH(s->queue, s->n_queue, p);
}

/* The current state of frame fid is done with output (stolen): record it, then Next, or the
 * end of the scope. */
static void leave(step_t *s, int fid, json_t *output)
{
    frame_t *f = frame_get(s, fid);
    const fl_state_t *st = state_of(s, f);
    char msg[256];
    int rc = check_size(s, output, "output", msg, sizeof msg);
    if (rc) {
        json_decref(output);
        fail_state(s, fid, "FnF.PayloadTooLarge", msg);
        return;
    }
    emit(s, "StepExited", st->name, 0, json_pack("{s:O}", "Output", output));
    f->phase = PH_NONE;
    if (fdl(s)) {
        /* FDL: a step's output merges into its scope's $local. */
        json_t *lo = merged(f->local, output);
        json_decref(f->local);
        f->local = lo;
    }
    if (st->type == FL_ST_SUCCEED || st->end || st->next < 0) {
        scope_done(s, fid, output);
        return;
    }
    int next = st->next;
    go(s, fid, next, output);
}

/* Applies the output constructor (CloudFlow OutputConstructor, FDL outputMappings) of the
 * current state of fid to result ($Output / $local), then leaves. */
static void leave_with(step_t *s, int fid, json_t *result)
{
    frame_t *f = frame_get(s, fid);
    const fl_state_t *st = state_of(s, f);
    json_t *out = NULL;
    char msg[256];
    if (!st->output_ctor) {
        /* FDL: without outputMappings a task's or a choice's output is its $local, the
         * others' is {}. */
        if (fdl(s) && st->type != FL_ST_TASK && st->type != FL_ST_CHOICE)
            out = json_object();
        else
            out = json_incref(result);
        leave(s, fid, out);
        return;
    }
    if (construct(s, f, st->output_ctor, f->eff, result, NULL, NULL, &out, msg, sizeof msg)) {
        fail_state(s, fid, "FnF.RuntimeError", msg);
        return;
    }
    leave(s, fid, out);
}

static void schedule_attempt(step_t *s, int fid);
static void start_children(step_t *s, int fid);

/* Runs the current state of fid again after a Retry: a new task attempt, or the branches or
 * iterations of a Parallel or Map from the start. */
static void retry_state(step_t *s, int fid)
{
    frame_t *f = frame_get(s, fid);
    if (state_of(s, f)->type == FL_ST_TASK) {
        schedule_attempt(s, fid);
        return;
    }
    f->attempt++;
    start_children(s, fid);
}

/* The current state of fid failed with err: its Retry, then its Catch, then the scope. */
static void fail_state(step_t *s, int fid, const char *err, const char *cause)
{
    frame_t *f = frame_get(s, fid);
    const fl_state_t *st = state_of(s, f);
    end_task(s, f);
    drop_children(s, fid);
    f = frame_get(s, fid); /* dropping frames moves the others */
    for (size_t i = 0; i < st->n_retry; i++) {
        const fl_retry_t *rt = &st->retry[i];
        if (!fl_spec_errors_match(rt->errors, rt->n_errors, err))
            continue;
        /* Only the first matching rule applies, as in the public service. */
        if (!f->retries)
            f->retries = json_array();
        while (json_array_size(f->retries) <= i)
            json_array_append_new(f->retries, json_integer(0));
        json_int_t used = json_integer_value(json_array_get(f->retries, i));
        if (used >= rt->max_attempts)
            break;
        json_array_set_new(f->retries, i, json_integer(used + 1));
        double delay = rt->interval_s * pow(rt->backoff_rate > 0 ? rt->backoff_rate : 1,
                                            (double)used);
        if (rt->max_backoff_s > 0 && delay > rt->max_backoff_s)
            delay = rt->max_backoff_s;
        if (delay <= 0) {
            retry_state(s, fid);
            return;
        }
        f->phase = PH_RETRY;
        f->gen = ++s->run->gen;
        fl_timer_t t = {FL_TIMER_RETRY, f->gen, s->cmd->now_ms + (int64_t)(delay * 1000)};
        PUSH(s->out->timers, s->out->n_timers, t);
        return;
    }
    for (size_t i = 0; i < st->n_catches; i++) {
        const fl_catch_t *c = &st->catches[i];
        if (!fl_spec_errors_match(c->errors, c->n_errors, err))
            continue;
        json_t *in = NULL;
        char msg[256];
        json_t *errobj = json_pack("{s:s, s:s}", fdl(s) ? "error" : "Error", err,
                                   fdl(s) ? "cause" : "Cause", cause ? cause : "");
        if (fdl(s)) {
            /* errorMappings put error and cause into the step's output; the catch target
             * then runs with the scope's data. */
            json_t *mapped = NULL;
            if (st->error_map &&
                construct(s, f, st->error_map, f->eff, errobj, err, cause, &mapped, msg,
                          sizeof msg) == FL_OK) {
                json_t *lo = merged(f->local, mapped);
                json_decref(f->local);
                f->local = lo;
            }
            json_decref(mapped);
            in = json_object();
        } else if (c->output_ctor) {
            if (construct(s, f, c->output_ctor, f->eff, NULL, err, cause, &in, msg,
                          sizeof msg)) {
                json_decref(errobj);
                break; /* the handler's input cannot be built: the failure stands */
            }
        } else {
            in = json_incref(errobj);
        }
        emit(s, "StepExited", st->name, 0,
             json_pack("{s:s, s:s, s:O}", "Error", err, "Cause", cause ? cause : "", "Output",
                       in));
        json_decref(errobj);
        f->phase = PH_NONE;
        go(s, fid, c->next, in);
        return;
    }
    emit(s, "StepFailed", st->name, 0,
         json_pack("{s:s, s:s}", "Error", err, "Cause", cause ? cause : ""));
    scope_failed(s, fid, err, cause);
}

/* The scope of fid ended successfully with output (stolen; FDL scopes output $local). */
static void scope_done(step_t *s, int fid, json_t *output)
{
    frame_t *f = frame_get(s, fid);
    if (fdl(s)) {
        json_decref(output);
        output = json_incref(f->local ? f->local : json_object());
    }
    if (f->kind == FR_ROOT) {
        if (fdl(s) && s->flow->output_ctor) {
            json_t *o = NULL;
            char msg[256];
            if (construct(s, f, s->flow->output_ctor, s->ctx->exec_input, output, NULL, NULL, &o,
                          msg, sizeof msg)) {
                json_decref(output);
                finish(s, FL_EXEC_FAILED, NULL, "FnF.RuntimeError", msg);
                return;
            }
            json_decref(output);
            output = o;
        }
        finish(s, FL_EXEC_SUCCEEDED, output, NULL, NULL);
        json_decref(output);
        return;
    }
    int pid = f->parent, kind = f->kind, index = f->index;
    frame_t *p = frame_get(s, pid);
    const fl_state_t *ps = state_of(s, p);
    if (kind != FR_CHOICE)
        emit(s, kind == FR_BRANCH ? "BranchExited" : "IterationExited", ps->name, 0,
             json_pack("{s:i, s:O}", "Index", index, "Output", output));
    frame_drop(s, fid);
    p = frame_get(s, pid);
    if (kind == FR_CHOICE) {
        /* FDL choice with steps: the branch's $local is the choice step's $local. */
        p->phase = PH_NONE;
        leave_with(s, pid, output);
        json_decref(output);
        return;
    }
    json_array_set_new(p->results, (size_t)index, output);
    p->n_done++;
    size_t total = ps->type == FL_ST_MAP ? json_array_size(p->items) : ps->n_branches;
    if ((size_t)p->n_done < total) {
        if (ps->type == FL_ST_MAP && (size_t)p->n_started < total)
            start_iteration(s, pid); /* a Map slot came free: start the next item */
        return;
    }
    p->phase = PH_NONE;
    json_t *result;
    if (fdl(s)) {
        result = json_incref(p->results); /* $local is the array of branch outputs */
    } else if (ps->type == FL_ST_MAP) {
        result = json_pack("{s:O}", "Items", p->results);
    } else {
        result = json_object();
        for (size_t i = 0; i < total; i++) {
            char k[32];
            snprintf(k, sizeof k, "Branch%zu", i);
            json_object_set(result, k, json_array_get(p->results, i));
        }
    }
    json_decref(p->results);
    json_decref(p->items);
    p->results = p->items = NULL;
    leave_with(s, pid, result);
    json_decref(result);
}

/* The scope of fid failed: the execution (root), or the state that owns the scope. */
static void scope_failed(step_t *s, int fid, const char *err, const char *cause)
{
    frame_t *f = frame_get(s, fid);
    if (f->kind == FR_ROOT) {
        finish(s, FL_EXEC_FAILED, NULL, err, cause ? cause : "");
        return;
    }
    int pid = f->parent, kind = f->kind;
    const fl_state_t *ps = state_of(s, frame_get(s, pid));
    if (kind != FR_CHOICE)
        emit(s, kind == FR_BRANCH ? "BranchExited" : "IterationExited", ps->name, 0,
             json_pack("{s:i, s:s, s:s}", "Index", f->index, "Error", err, "Cause",
                       cause ? cause : ""));
    /* Copy: err and cause may live in a frame about to be dropped. */
    char *e = xstrdup(err), *c = cause ? xstrdup(cause) : NULL;
    frame_t *p = frame_get(s, pid);
    json_decref(p->results);
    json_decref(p->items);
    p->results = p->items = NULL;
    p->phase = PH_NONE;
    fail_state(s, pid, e, c); /* drops every child, so the other branches stop too */
    free(e);
    free(c);
}

/* Starts a new attempt of the Task state of fid: mint its token, build Parameters, record
 * TaskScheduled, queue the dispatch and the timeout. */
static void schedule_attempt(step_t *s, int fid)
{
    frame_t *f = frame_get(s, fid);
    const fl_state_t *st = state_of(s, f);
    uint32_t seq = s->run->next_seq++;
    f->attempt++;
    s->ctx->mint(s->ctx->mint_arg, s->ctx->account, s->ctx->exec_id, seq, s->token);
    json_t *params = NULL;
    char msg[256];
    if (st->input_ctor) {
        json_t *eff = NULL;
        if (construct(s, f, st->input_ctor, f->input, NULL, NULL, NULL, &eff, msg, sizeof msg)) {
            s->token[0] = 0;
            fail_state(s, fid, "FnF.RuntimeError", msg);
            return;
        }
        json_decref(f->eff);
        f->eff = eff;
    }
    if (st->parameters) {
        if (construct(s, f, st->parameters, f->eff, NULL, NULL, NULL, &params, msg, sizeof msg)) {
            s->token[0] = 0;
            fail_state(s, fid, "FnF.RuntimeError", msg);
            return;
        }
    } else {
        params = json_object();
    }
    static const char *modes[] = {"RequestComplete", "WaitForCustomCallback",
                                  "WaitForSystemCallback"};
    int64_t sched = emit(s, "TaskScheduled", st->name, 0,
                         json_pack("{s:s, s:O, s:i}", "Resource", st->action, "Input", params,
                                   "Attempt", f->attempt));
    f->phase = PH_TASK;
    f->seq = seq;
    f->sched_id = sched;
    f->submitted = false;
    /* FDL tasks without serviceParams hand their (mapped) input to the service. */
    json_t *payload = json_pack("{s:s, s:s, s:o, s:s}", "Action", st->action, "Mode",
                                modes[st->mode], "Parameters", params, "TaskToken", s->token);
    if (fdl(s) && !st->parameters)
        json_object_set(payload, "Parameters", f->eff);
    fl_dispatch_t d = {seq, dumps(payload)};
    json_decref(payload);
    PUSH(s->out->dispatches, s->out->n_dispatches, d);
    int64_t timeout_ms = st->timeout_s > 0 ? s->cmd->now_ms + st->timeout_s * 1000 : 0;
    if (timeout_ms) {
        fl_timer_t t = {FL_TIMER_TASK_TIMEOUT, seq, timeout_ms};
        PUSH(s->out->timers, s->out->n_timers, t);
    }
    if (st->mode != FL_MODE_REQUEST_COMPLETE) {
        fl_task_new_t tn = {seq, xstrdup(st->name), sched, timeout_ms, f->attempt};
        PUSH(s->out->tasks, s->out->n_tasks, tn);
    }
    s->token[0] = 0;
}

/* Starts the next item of the Map state of fid. */
static void start_iteration(step_t *s, int fid)
{
    frame_t *p = frame_get(s, fid);
    const fl_state_t *st = state_of(s, p);
    int i = p->n_started++;
    json_t *item = json_array_get(p->items, (size_t)i), *in = NULL;
    char msg[256];
    if (fdl(s)) {
        in = merged(p->eff, NULL);
        json_object_set(in, st->item_name ? st->item_name : "item", item);
        if (st->index_name)
            json_object_set_new(in, st->index_name, json_integer(i));
    } else if (st->item_ctor) {
        if (construct(s, p, st->item_ctor, item, NULL, NULL, NULL, &in, msg, sizeof msg)) {
            fail_state(s, fid, "FnF.RuntimeError", msg);
            return;
        }
    } else {
        in = json_incref(item);
    }
    emit(s, "IterationEntered", st->name, 0, json_pack("{s:i, s:O}", "Index", i, "Input", in));
    int cid = frame_new(s, fid, FR_ITER, i);
    frame_t *c = frame_get(s, cid);
    if (fdl(s)) {
        c->scope_in = json_incref(in);
        c->local = json_object();
    }
    go(s, cid, st->processor->start, in);
}

/* Opens child frames for a Parallel, Map or FDL choice-with-steps state of fid. */
static void start_children(step_t *s, int fid)
{
    frame_t *f = frame_get(s, fid);
    const fl_state_t *st = state_of(s, f);
    char msg[256];
    f->phase = PH_CHILDREN;
    f->n_started = f->n_done = 0;
    if (st->type == FL_ST_PARALLEL) {
        f->results = json_array();
        for (size_t i = 0; i < st->n_branches; i++)
            json_array_append_new(f->results, json_null());
        for (size_t i = 0; i < st->n_branches; i++) {
            f = frame_get(s, fid);
            f->n_started++;
            emit(s, "BranchEntered", st->name, 0, json_pack("{s:i}", "Index", (int)i));
            int cid = frame_new(s, fid, FR_BRANCH, (int)i);
            frame_t *c = frame_get(s, cid);
            f = frame_get(s, fid);
            if (fdl(s)) {
                c->scope_in = json_incref(f->eff);
                c->local = json_object();
            }
            go(s, cid, st->branches[i].start, json_incref(f->eff));
        }
        return;
    }
    /* Map / foreach */
    json_t *items = NULL;
    int rc = eval(s, f, st->items, f->eff, &items, msg, sizeof msg);
    if (rc == FL_OK && !json_is_array(items)) {
        snprintf(msg, sizeof msg, "%s must give an array",
                 fdl(s) ? "iterationMapping.collection" : "ItemsPath");
        rc = FL_EINVALID_ARGUMENT;
    } else if (rc == FL_OK && json_array_size(items) > MAX_MAP_ITEMS) {
        snprintf(msg, sizeof msg, "the Map has %zu items, above the limit of %d",
                 json_array_size(items), MAX_MAP_ITEMS);
        rc = FL_EINVALID_ARGUMENT;
    }
    if (rc) {
        json_decref(items);
        f->phase = PH_NONE;
        fail_state(s, fid, "FnF.RuntimeError", msg);
        return;
    }
    f->items = items;
    f->results = json_array();
    for (size_t i = 0; i < json_array_size(items); i++)
        json_array_append_new(f->results, json_null());
    if (json_array_size(items) == 0) {
        f->phase = PH_NONE;
        json_t *result = fdl(s) ? json_array() : json_pack("{s:[]}", "Items");
        json_decref(f->results);
        json_decref(f->items);
        f->results = f->items = NULL;
        leave_with(s, fid, result);
        json_decref(result);
        return;
    }
    int width = st->max_concurrency > 0 ? st->max_concurrency : MAP_CONCURRENCY;
    size_t n = json_array_size(items);
    for (size_t i = 0; i < n && (int)i < width; i++)
        start_iteration(s, fid);
}

/* Enters state idx of frame fid with input (stolen) and runs it as far as it goes. */
static void enter(step_t *s, int fid, int idx, json_t *input)
{
    frame_t *f = frame_get(s, fid);
    json_decref(f->input);
    json_decref(f->eff);
    json_decref(f->retries);
    f->cur = idx;
    f->retries = NULL;
    f->attempt = 0;
    f->phase = PH_NONE;
    const fl_state_t *st = state_of(s, f);
    if (fdl(s)) {
        /* FDL: a step's input is its scope's input with the scope's $local merged in. */
        json_decref(input);
        input = merged(f->scope_in, f->local);
    }
    f->input = input;
    f->eff = json_incref(input);
    emit(s, "StepEntered", st->name, 0, json_pack("{s:O}", "Input", input));

    char msg[256];
    int rc = check_size(s, input, "input", msg, sizeof msg);
    if (rc) {
        fail_state(s, fid, rc == FL_EENTITY_TOO_LARGE ? "FnF.PayloadTooLarge" : "FnF.RuntimeError",
                   msg);
        return;
    }
    /* A Task builds its input per attempt, once its token exists ($context.task.token). */
    if (st->input_ctor && st->type != FL_ST_TASK) {
        json_t *eff = NULL;
        if (construct(s, f, st->input_ctor, input, NULL, NULL, NULL, &eff, msg, sizeof msg)) {
            fail_state(s, fid, "FnF.RuntimeError", msg);
            return;
        }
        json_decref(f->eff);
        f->eff = eff;
    }

    switch (st->type) {
    case FL_ST_PASS:
        leave_with(s, fid, f->eff);
        return;
    case FL_ST_SUCCEED:
        leave_with(s, fid, f->eff);
        return;
    case FL_ST_TASK:
        schedule_attempt(s, fid);
        return;
    case FL_ST_PARALLEL:
    case FL_ST_MAP:
        start_children(s, fid);
        return;
    case FL_ST_CHOICE: {
        json_t *ctx = context(s, f, NULL, NULL);
        fl_env_t env = {.input = f->eff, .context = ctx};
        int pick = -1; /* choice index, or -1 for the default */
        bool matched = false;
        for (size_t i = 0; i < st->n_choices; i++) {
            bool yes = false;
            if (fl_expr_eval_bool(st->choices[i].cond, &env, &yes, msg, sizeof msg)) {
                json_decref(ctx);
                fail_state(s, fid, "FnF.RuntimeError", msg);
                return;
            }
            if (yes) {
                pick = (int)i;
                matched = true;
                break;
            }
        }
        json_decref(ctx);
        const fl_scope_t *sc = matched ? st->choices[pick].scope : st->default_scope;
        if (sc) {
            /* FDL choice with steps: run them as a nested scope. */
            f->phase = PH_CHILDREN;
            int cid = frame_new(s, fid, FR_CHOICE, pick);
            frame_t *c = frame_get(s, cid);
            f = frame_get(s, fid);
            c->scope_in = json_incref(f->eff);
            c->local = json_object();
            go(s, cid, sc->start, json_incref(f->eff));
            return;
        }
        int next = matched ? st->choices[pick].next : st->default_next;
        if (next < 0) {
            if (fdl(s)) { /* no branch and no default: the step is a no-op */
                json_t *none = json_object();
                leave_with(s, fid, none);
                json_decref(none);
                return;
            }
            fail_state(s, fid, "FnF.RuntimeError",
                       "no Choice branch matched and there is no Default");
            return;
        }
        json_t *out = fdl(s) ? json_object() : json_incref(f->eff);
        emit(s, "StepExited", st->name, 0, json_pack("{s:O}", "Output", out));
        go(s, fid, next, out);
        return;
    }
    case FL_ST_WAIT: {
        double secs = (double)st->wait_s;
        if (st->wait_expr || st->wait_until) {
            json_t *v = NULL;
            rc = eval(s, f, st->wait_expr ? st->wait_expr : st->wait_until, f->eff, &v, msg,
                      sizeof msg);
            if (rc == FL_OK && st->wait_expr) {
                if (json_is_number(v) && json_number_value(v) >= 0)
                    secs = json_number_value(v);
                else if (snprintf(msg, sizeof msg, "%s must give a number of seconds >= 0",
                                  fdl(s) ? "duration" : "Seconds.$"))
                    rc = FL_EINVALID_ARGUMENT;
            } else if (rc == FL_OK) {
                int64_t at;
                if (json_is_string(v) && fl_time_parse(json_string_value(v), &at) == FL_OK)
                    secs = at > s->cmd->now_ms ? (double)(at - s->cmd->now_ms) / 1000 : 0;
                else if (snprintf(msg, sizeof msg, "the Wait timestamp must be an RFC 3339 time"))
                    rc = FL_EINVALID_ARGUMENT;
            }
            json_decref(v);
            if (rc) {
                fail_state(s, fid, "FnF.RuntimeError", msg);
                return;
            }
        }
        f->phase = PH_WAIT;
        f->gen = ++s->run->gen;
        fl_timer_t t = {FL_TIMER_WAIT, f->gen, s->cmd->now_ms + (int64_t)(secs * 1000)};
        PUSH(s->out->timers, s->out->n_timers, t);
        return;
    }
    case FL_ST_FAIL: {
        const char *code = st->fail_code ? st->fail_code : "";
        const char *detail = st->fail_detail ? st->fail_detail : "";
        emit(s, "StepFailed", st->name, 0,
             json_pack("{s:s, s:s}", "Error", code, "Cause", detail));
        scope_failed(s, fid, code, detail);
        return;
    }
    }
}

/* Runs queued transitions until everything waits or the execution ends. */
static void advance(step_t *s)
{
    while (s->head < s->n_queue) {
        pending_t p = s->queue[s->head++];
        frame_t *f = frame_get(s, p.frame);
        if (s->run->status != FL_EXEC_RUNNING || !f) {
            json_decref(p.input); /* its frame ended meanwhile */
            continue;
        }
        if (++s->transitions > MAX_TRANSITIONS || s->run->next_event > MAX_EVENTS) {
            json_decref(p.input);
            finish(s, FL_EXEC_FAILED, NULL, "FnF.RuntimeError",
                   s->transitions > MAX_TRANSITIONS
                       ? "too many state transitions without waiting"
                       : "the execution history reached its limit of 5000 events");
            continue;
        }
        enter(s, p.frame, p.state, p.input);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Commands                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* The frame whose task attempt seq is in progress, or -1. */
static int task_frame(step_t *s, uint32_t seq)
{
    if (s->run->status != FL_EXEC_RUNNING || !seq)
        return -1;
    for (size_t i = 0; i < s->run->n_frames; i++)
        if (s->run->frames[i].phase == PH_TASK && s->run->frames[i].seq == seq)
            return s->run->frames[i].id;
    return -1;
}

/* The frame waiting on timer generation gen in phase ph, or -1. */
static int gen_frame(step_t *s, int ph, uint32_t gen)
{
    for (size_t i = 0; i < s->run->n_frames; i++)
        if (s->run->frames[i].phase == ph && s->run->frames[i].gen == gen)
            return s->run->frames[i].id;
    return -1;
}

/* Records TaskSubmitted if the worker's acceptance was not recorded yet: a fast worker may
 * report before flowd has recorded the submission, and the history keeps its order. */
static void mark_submitted(step_t *s, int fid)
{
    frame_t *f = frame_get(s, fid);
    if (f->submitted)
        return;
    const fl_state_t *st = state_of(s, f);
    f->submitted = true;
    emit(s, st->mode == FL_MODE_REQUEST_COMPLETE ? "TaskStarted" : "TaskSubmitted", st->name,
         f->sched_id, NULL);
}

int fl_engine_step(const fl_flow_t *flow, const fl_exec_ctx_t *ctx, fl_run_t *run,
                   const fl_cmd_t *cmd, fl_out_t *out)
{
    step_t s = {.flow = flow, .ctx = ctx, .run = run, .cmd = cmd, .out = out};
    int rc = FL_OK, fid;

    switch (cmd->kind) {
    case FL_CMD_START: {
        json_t *in = cmd->data ? json_incref(cmd->data) : json_object();
        emit(&s, "ExecutionStarted", "", 0, json_pack("{s:O}", "Input", in));
        run->status = FL_EXEC_RUNNING;
        if (flow->timeout_s > 0) {
            fl_timer_t t = {FL_TIMER_EXEC_TIMEOUT, 0, cmd->now_ms + flow->timeout_s * 1000};
            PUSH(out->timers, out->n_timers, t);
        }
        int root = frame_new(&s, -1, FR_ROOT, 0);
        if (fdl(&s)) {
            frame_t *f = frame_get(&s, root);
            f->local = json_object();
            if (flow->input_ctor) {
                json_t *m = NULL;
                char msg[256];
                if (construct(&s, f, flow->input_ctor, in, NULL, NULL, NULL, &m, msg,
                              sizeof msg)) {
                    json_decref(in);
                    finish(&s, FL_EXEC_FAILED, NULL, "FnF.RuntimeError", msg);
                    break;
                }
                f->scope_in = m;
            } else {
                f->scope_in = json_incref(in);
            }
        }
        go(&s, root, flow->root.start, in);
        break;
    }
    case FL_CMD_SUBMITTED:
        if ((fid = task_frame(&s, cmd->seq)) >= 0)
            mark_submitted(&s, fid);
        break;
    case FL_CMD_SUBMIT_FAILED:
        if ((fid = task_frame(&s, cmd->seq)) < 0)
            break;
        emit(&s, "TaskSubmitFailed", state_of(&s, frame_get(&s, fid))->name,
             frame_get(&s, fid)->sched_id,
             json_pack("{s:s, s:s}", "Error", cmd->error ? cmd->error : "", "Cause",
                       cmd->cause ? cmd->cause : ""));
        fail_state(&s, fid, cmd->error ? cmd->error : "FnF.RuntimeError", cmd->cause);
        break;
    case FL_CMD_TASK_SUCCEEDED:
        if ((fid = task_frame(&s, cmd->seq)) < 0) {
            rc = FL_ETASK_ALREADY_COMPLETED;
            break;
        }
        mark_submitted(&s, fid);
        out->result_event = emit(&s, "TaskSucceeded", state_of(&s, frame_get(&s, fid))->name,
                                 frame_get(&s, fid)->sched_id,
                                 json_pack("{s:O}", "Output", cmd->data));
        end_task(&s, frame_get(&s, fid));
        leave_with(&s, fid, cmd->data);
        break;
    case FL_CMD_TASK_FAILED:
        if ((fid = task_frame(&s, cmd->seq)) < 0) {
            rc = FL_ETASK_ALREADY_COMPLETED;
            break;
        }
        mark_submitted(&s, fid);
        out->result_event = emit(&s, "TaskFailed", state_of(&s, frame_get(&s, fid))->name,
                                 frame_get(&s, fid)->sched_id,
                                 json_pack("{s:s, s:s}", "Error", cmd->error, "Cause",
                                           cmd->cause ? cmd->cause : ""));
        fail_state(&s, fid, cmd->error, cmd->cause);
        break;
    case FL_CMD_TIMER:
        if (run->status != FL_EXEC_RUNNING)
            break;
        if (cmd->timer_kind == FL_TIMER_TASK_TIMEOUT && (fid = task_frame(&s, cmd->seq)) >= 0) {
            const fl_state_t *st = state_of(&s, frame_get(&s, fid));
            char cause[128];
            snprintf(cause, sizeof cause, "task timed out after %lld seconds",
                     (long long)st->timeout_s);
            emit(&s, "TaskTimedOut", st->name, frame_get(&s, fid)->sched_id,
                 json_pack("{s:s, s:s}", "Error", "FnF.TaskTimeout", "Cause", cause));
            fail_state(&s, fid, "FnF.TaskTimeout", cause);
        } else if (cmd->timer_kind == FL_TIMER_RETRY &&
                   (fid = gen_frame(&s, PH_RETRY, cmd->seq)) >= 0) {
            retry_state(&s, fid);
        } else if (cmd->timer_kind == FL_TIMER_WAIT &&
                   (fid = gen_frame(&s, PH_WAIT, cmd->seq)) >= 0) {
            frame_get(&s, fid)->phase = PH_NONE;
            leave_with(&s, fid, frame_get(&s, fid)->eff);
        } else if (cmd->timer_kind == FL_TIMER_EXEC_TIMEOUT) {
            finish(&s, FL_EXEC_TIMED_OUT, NULL, "FnF.Timeout", "the execution timed out");
        }
        break;
    case FL_CMD_STOP:
        if (run->status != FL_EXEC_RUNNING) {
            rc = FL_EEXECUTION_ALREADY_COMPLETED;
            break;
        }
        finish(&s, FL_EXEC_STOPPED, NULL, cmd->error, cmd->cause);
        break;
    }
    advance(&s);
    for (size_t i = s.head; i < s.n_queue; i++)
        json_decref(s.queue[i].input);
    free(s.queue);
    out->status = run->status;
    return rc;
}
