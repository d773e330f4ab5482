/*
 * test_conformance.c - the data-driven conformance suite of both flow languages (CloudFlow
 * and the legacy FDL). Each folder under tests/cases/flows/ is one case:
 *
 *   flow.yaml | flow.json  the definition, parsed with fl_spec_parse
 *   input.json             the execution input (optional, default {})
 *   script                 the scripted worker (optional), one rule a line, '#' comments:
 *                            <Step>#<k> <verb> [args]     k = the k-th dispatch of that step
 *                            <Step>#* <verb> [args]       every dispatch not matched otherwise
 *                          verbs: succeed <json> | result <json> | fail <Error> [cause...] |
 *                                 submitfail <Error> [cause...] | hang | stop [Error] [cause...]
 *                          Without a rule a callback task hangs and a RequestComplete task
 *                          gets result {}.
 *   expect.json            what must hold at the end: {"status" (required), "output",
 *                          "error", "cause_has", "events", "events_has", "events_not",
 *                          "event_count", "event_times", "history_has", "dispatch_has",
 *                          "dispatch_count", "open_tasks"} (see check_expect)
 *
 * The driver is a deterministic world around the pure fl_engine_step(): a virtual clock
 * starting at T0, tokens "tok-<seq>", START, then every new dispatch is answered in order
 * (callback modes get SUBMITTED first, as the worker sends it, except for submitfail); when
 * nothing is pending the earliest timer fires (the clock jumps to its due time; ties in
 * creation order; task timeouts of attempts that already ended are dropped). The run ends
 * when the execution finishes or no timer is left (status Running). The run state goes
 * through fl_run_dump / fl_run_load between every command. Invariants are checked on every
 * step: event ids 1..n without gaps, event times = the command's time, each task result
 * event's ScheduleEventId = its attempt's TaskScheduled, every dispatch payload a JSON object
 * with Action and Mode, finishing exactly once with its end event last.
 *
 * FL_CONFORMANCE_CASE=<substring> runs only the matching cases. Each case runs in its own
 * process so one failure does not hide the others; a failing case prints its name, the
 * differences and its history.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "spec/spec.h"
#include "test.h"

#define CASES_DIR "tests/cases/flows"
#define T0 1700000000000LL   /* 2023-11-14T22:13:20Z: the start of every case */
#define MAX_COMMANDS 20000   /* a case that needs more is looping */

/* ---------------------------------------------------------------------------------------- */
/* Files                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Returns the whole file (NUL-terminated) or NULL when it does not exist. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fl_buf_t b;
    fl_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        fl_buf_append(&b, chunk, n);
    fclose(fp);
    if (len)
        *len = b.len;
    if (!b.data)
        fl_buf_puts(&b, "");
    return fl_buf_take(&b);
}

/* ---------------------------------------------------------------------------------------- */
/* The script                                                                               */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    char *step;
    int k;       /* 0 = every dispatch not matched otherwise */
    char *verb;  /* succeed, result, fail, submitfail, hang, stop */
    json_t *data; /* succeed / result */
    char *error; /* fail, submitfail, stop */
    char *cause;
    int line;
} rule_t;

/* ---------------------------------------------------------------------------------------- */
/* One case's world                                                                         */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    int kind;
    uint32_t seq;
    int64_t due;
    size_t order; /* creation order, for ties */
} ptimer_t;

typedef struct {
    uint32_t seq;
    char *step;
    int k; /* the k-th dispatch of its step name */
    bool callback;
    char *payload;
} disp_t;

typedef struct {
    int64_t id, sched, time_ms;
    char *type, *step, *detail;
} hist_t;

typedef struct {
    const char *name;
    fl_buf_t problems; /* empty = the case passes so far */
    fl_flow_t *flow;
    json_t *input;
    fl_exec_ctx_t ctx;
    rule_t *rules;
    size_t n_rules;

    char *state; /* dumped run state between commands */
    int64_t now;
    size_t n_cmds;

    hist_t *hist;
    size_t n_hist;
    disp_t *disp; /* every dispatch, in order; head = the next to answer */
    size_t n_disp, head;
    ptimer_t *timers;
    size_t n_timers, timer_order;
    int64_t *sched_of; /* by seq: the TaskScheduled event id of the attempt */
    bool *done;        /* by seq: the attempt ended */
    size_t n_seq;
    struct {
        char *step;
        int n;
    } *counts; /* dispatches per step name */
    size_t n_counts;

    bool finished, broken;
    int status;
    char *output, *error, *message;
} world_t;

#define PROBLEM(w, ...)                                                                        \
    do {                                                                                       \
        fl_buf_printf(&(w)->problems, "    ");                                                 \
        fl_buf_printf(&(w)->problems, __VA_ARGS__);                                            \
        fl_buf_printf(&(w)->problems, "\n");                                                   \
    } while (0)

/* An invariant broke: record it and stop driving the case. */
#define BROKEN(w, ...)                                                                         \
    do {                                                                                       \
        PROBLEM(w, __VA_ARGS__);                                                               \
        (w)->broken = true;                                                                    \
    } while (0)

static void mint(void *arg, uint64_t account, int64_t exec_id, uint32_t seq, char out[128])
{
    (void)arg;
    (void)account;
    (void)exec_id;
    snprintf(out, 128, "tok-%u", seq);
}

static void grow_seq(world_t *w, uint32_t seq)
{
    if (seq < w->n_seq)
        return;
    size_t n = (size_t)seq + 16;
    w->sched_of = xrealloc(w->sched_of, n * sizeof *w->sched_of);
    w->done = xrealloc(w->done, n * sizeof *w->done);
    for (size_t i = w->n_seq; i < n; i++) {
        w->sched_of[i] = 0;
        w->done[i] = false;
    }
    w->n_seq = n;
}

static bool is_task_result(const char *type)
{
    return !strcmp(type, "TaskSucceeded") || !strcmp(type, "TaskFailed") ||
           !strcmp(type, "TaskTimedOut") || !strcmp(type, "TaskSubmitted") ||
           !strcmp(type, "TaskStarted") || !strcmp(type, "TaskSubmitFailed");
}

static const char *const end_event[] = {"", "", "ExecutionSucceeded", "ExecutionFailed",
                                        "ExecutionStopped", "ExecutionTimedOut"};

static const char *cmd_name(fl_cmd_kind_t k)
{
    static const char *const names[] = {"START", "SUBMITTED", "SUBMIT_FAILED", "TASK_SUCCEEDED",
                                        "TASK_FAILED", "TIMER", "STOP"};
    return (unsigned)k < FL_ARRAY_LEN(names) ? names[k] : "?";
}

static int count_dispatch(world_t *w, const char *step)
{
    for (size_t i = 0; i < w->n_counts; i++)
        if (!strcmp(w->counts[i].step, step))
            return ++w->counts[i].n;
    w->counts = xrealloc(w->counts, (w->n_counts + 1) * sizeof *w->counts);
    w->counts[w->n_counts].step = xstrdup(step);
    w->counts[w->n_counts].n = 1;
    return w->n_counts++, 1;
}

/* Applies one command at the current clock and checks every invariant of the step. */
static void apply(world_t *w, fl_cmd_t *cmd)
{
    if (w->broken || w->finished)
        return;
    if (++w->n_cmds > MAX_COMMANDS) {
        BROKEN(w, "more than %d commands: the execution does not settle", MAX_COMMANDS);
        return;
    }
    fl_run_t *run = NULL;
    if (!w->state)
        run = fl_run_new();
    else if (fl_run_load(w->state, &run) != FL_OK) {
        BROKEN(w, "the dumped run state does not load: %s", w->state);
        return;
    }
    cmd->now_ms = w->now;
    fl_out_t out;
    fl_out_init(&out);
    int rc = fl_engine_step(w->flow, &w->ctx, run, cmd, &out);
    const char *what = cmd_name(cmd->kind);
    if (rc != FL_OK)
        BROKEN(w, "%s seq %u: fl_engine_step returned %d (%s)", what, cmd->seq, rc,
               fl_err_code(rc));
    if (out.status != fl_run_status(run))
        BROKEN(w, "%s: out.status %d != run status %d", what, out.status, fl_run_status(run));

    /* ---- events ---- */
    size_t n_sched = 0;
    int64_t sched_ids[256];
    for (size_t k = 0; k < out.n_events; k++) {
        const fl_ev_t *ev = &out.events[k];
        if (ev->event_id != (int64_t)w->n_hist + 1)
            BROKEN(w, "%s: event id %lld, expected %zu (ids must be 1..n without gaps)", what,
                   (long long)ev->event_id, w->n_hist + 1);
        if (ev->time_ms != w->now)
            BROKEN(w, "%s: event %lld time %lld != the command's time %lld", what,
                   (long long)ev->event_id, (long long)ev->time_ms, (long long)w->now);
        json_t *dj = json_loads(ev->detail ? ev->detail : "", 0, NULL);
        if (!json_is_object(dj))
            BROKEN(w, "event %lld (%s) detail is not a JSON object: %s", (long long)ev->event_id,
                   ev->type, ev->detail ? ev->detail : "(null)");
        json_decref(dj);
        if (is_task_result(ev->type)) {
            int64_t sid = ev->sched_id;
            bool ok = sid >= 1 && sid <= (int64_t)w->n_hist &&
                      !strcmp(w->hist[sid - 1].type, "TaskScheduled") &&
                      !strcmp(w->hist[sid - 1].step, ev->step);
            /* The command's own attempt, when it names one. */
            bool has_seq = cmd->kind == FL_CMD_SUBMITTED || cmd->kind == FL_CMD_SUBMIT_FAILED ||
                           cmd->kind == FL_CMD_TASK_SUCCEEDED || cmd->kind == FL_CMD_TASK_FAILED ||
                           (cmd->kind == FL_CMD_TIMER && cmd->timer_kind == FL_TIMER_TASK_TIMEOUT);
            if (ok && has_seq && cmd->seq < w->n_seq && w->sched_of[cmd->seq] &&
                w->sched_of[cmd->seq] != sid)
                ok = false;
            if (!ok)
                BROKEN(w, "event %lld (%s of %s) has ScheduleEventId %lld, not its attempt's "
                          "TaskScheduled (%lld)",
                       (long long)ev->event_id, ev->type, ev->step, (long long)sid,
                       (long long)(has_seq && cmd->seq < w->n_seq ? w->sched_of[cmd->seq] : 0));
        } else if (ev->sched_id != 0) {
            BROKEN(w, "event %lld (%s) has ScheduleEventId %lld", (long long)ev->event_id,
                   ev->type, (long long)ev->sched_id);
        }
        if (!strcmp(ev->type, "TaskScheduled") && n_sched < FL_ARRAY_LEN(sched_ids))
            sched_ids[n_sched++] = ev->event_id;
        if (!strcmp(ev->type, end_event[2]) || !strcmp(ev->type, end_event[3]) ||
            !strcmp(ev->type, end_event[4]) || !strcmp(ev->type, end_event[5])) {
            if (k + 1 != out.n_events)
                BROKEN(w, "%s: %s is not the last event of its step", what, ev->type);
        }
        w->hist = xrealloc(w->hist, (w->n_hist + 1) * sizeof *w->hist);
        hist_t *h = &w->hist[w->n_hist++];
        h->id = ev->event_id;
        h->sched = ev->sched_id;
        h->time_ms = ev->time_ms;
        h->type = xstrdup(ev->type);
        h->step = xstrdup(ev->step ? ev->step : "");
        h->detail = xstrdup(ev->detail ? ev->detail : "");
    }

    /* ---- dispatches: the k-th TaskScheduled of the step is the k-th dispatch ---- */
    if (out.n_dispatches != n_sched)
        BROKEN(w, "%s: %zu dispatches but %zu TaskScheduled events", what, out.n_dispatches,
               n_sched);
    for (size_t k = 0; k < out.n_dispatches; k++) {
        const fl_dispatch_t *d = &out.dispatches[k];
        json_t *p = json_loads(d->payload ? d->payload : "", 0, NULL);
        const char *mode = json_string_value(json_object_get(p, "Mode"));
        if (!json_is_object(p) || !json_is_string(json_object_get(p, "Action")) || !mode)
            BROKEN(w, "dispatch %u payload is not a JSON object with Action and Mode: %s",
                   d->seq, d->payload ? d->payload : "(null)");
        grow_seq(w, d->seq);
        if (w->sched_of[d->seq])
            BROKEN(w, "dispatch seq %u used twice", d->seq);
        int64_t sid = k < n_sched ? sched_ids[k] : 0;
        w->sched_of[d->seq] = sid;
        disp_t nd = {.seq = d->seq,
                     .k = count_dispatch(w, sid ? w->hist[sid - 1].step : "?"),
                     .step = xstrdup(sid ? w->hist[sid - 1].step : "?"),
                     .callback = mode && strcmp(mode, "RequestComplete") != 0,
                     .payload = xstrdup(d->payload ? d->payload : "")};
        json_decref(p);
        w->disp = xrealloc(w->disp, (w->n_disp + 1) * sizeof *w->disp);
        w->disp[w->n_disp++] = nd;
    }
    for (size_t k = 0; k < out.n_tasks; k++) {
        const fl_task_new_t *t = &out.tasks[k];
        grow_seq(w, t->seq);
        if (t->sched_id != w->sched_of[t->seq])
            BROKEN(w, "task row %u (%s): sched_id %lld, its TaskScheduled is %lld", t->seq,
                   t->step, (long long)t->sched_id, (long long)w->sched_of[t->seq]);
    }
    for (size_t k = 0; k < out.n_done; k++) {
        grow_seq(w, out.done_seqs[k]);
        w->done[out.done_seqs[k]] = true;
    }
    for (size_t k = 0; k < out.n_timers; k++) {
        const fl_timer_t *t = &out.timers[k];
        if (t->due_ms < w->now)
            BROKEN(w, "timer kind %d due %lld before now %lld", t->kind, (long long)t->due_ms,
                   (long long)w->now);
        w->timers = xrealloc(w->timers, (w->n_timers + 1) * sizeof *w->timers);
        w->timers[w->n_timers++] = (ptimer_t){t->kind, t->seq, t->due_ms, w->timer_order++};
    }

    /* ---- the end ---- */
    if (out.finished) {
        if (!out.n_events || strcmp(out.events[out.n_events - 1].type,
                                    end_event[out.status >= 2 && out.status <= 5 ? out.status : 0]))
            BROKEN(w, "%s: finished with status %d without its end event last", what,
                   out.status);
        w->finished = true;
        w->status = out.status;
        w->output = out.output ? xstrdup(out.output) : NULL;
        w->error = out.error_code ? xstrdup(out.error_code) : NULL;
        w->message = out.error_message ? xstrdup(out.error_message) : NULL;
    } else if (out.output || out.error_code || out.error_message) {
        BROKEN(w, "%s: output or error set on a step that did not finish", what);
    }
    w->status = out.status;

    /* ---- the state survives a dump / load round trip ---- */
    free(w->state);
    w->state = fl_run_dump(run);
    fl_run_t *again = NULL;
    if (fl_run_load(w->state, &again) != FL_OK) {
        BROKEN(w, "%s: the dumped state does not load: %s", what, w->state);
    } else {
        char *s2 = fl_run_dump(again);
        if (strcmp(w->state, s2))
            BROKEN(w, "%s: the state changed in a round trip:\n      %s\n      %s", what,
                   w->state, s2);
        free(s2);
        fl_run_free(again);
    }
    fl_run_free(run);
    fl_out_close(&out);
}

/* ---------------------------------------------------------------------------------------- */
/* Answering dispatches                                                                     */
/* ---------------------------------------------------------------------------------------- */

static const rule_t *find_rule(const world_t *w, const char *step, int k)
{
    const rule_t *any = NULL;
    for (size_t i = 0; i < w->n_rules; i++) {
        if (strcmp(w->rules[i].step, step))
            continue;
        if (w->rules[i].k == k)
            return &w->rules[i];
        if (w->rules[i].k == 0 && !any)
            any = &w->rules[i];
    }
    return any;
}

static void answer(world_t *w, const disp_t *d)
{
    const rule_t *r = find_rule(w, d->step, d->k);
    const char *verb = r ? r->verb : d->callback ? "hang" : "result";
    fl_cmd_t cmd = {.seq = d->seq};

    if (!strcmp(verb, "submitfail")) {
        cmd.kind = FL_CMD_SUBMIT_FAILED;
        cmd.error = r->error;
        cmd.cause = r->cause;
        apply(w, &cmd);
        return;
    }
    if (d->callback) { /* the worker accepted the dispatch */
        fl_cmd_t sub = {.kind = FL_CMD_SUBMITTED, .seq = d->seq};
        apply(w, &sub);
    }
    if (!strcmp(verb, "hang"))
        return;
    if (!strcmp(verb, "stop")) {
        cmd.kind = FL_CMD_STOP;
        cmd.seq = 0;
        cmd.error = r->error;
        cmd.cause = r->cause;
    } else if (!strcmp(verb, "fail")) {
        cmd.kind = FL_CMD_TASK_FAILED;
        cmd.error = r->error;
        cmd.cause = r->cause;
    } else { /* succeed, result */
        json_t *empty = json_object();
        cmd.kind = FL_CMD_TASK_SUCCEEDED;
        cmd.data = r && r->data ? r->data : empty;
        apply(w, &cmd);
        json_decref(empty);
        return;
    }
    apply(w, &cmd);
}

/* ---------------------------------------------------------------------------------------- */
/* Loading a case                                                                           */
/* ---------------------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* Splits the next whitespace-separated word off *p. */
static char *word(char **p)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return NULL;
    char *e = s;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    if (*e)
        *e++ = 0;
    *p = e;
    return s;
}

static bool parse_script(world_t *w, char *text)
{
    int line = 0;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        line++;
        char *hash = NULL;
        /* A '#' comment starts a line or follows a space (the '#' of Step#k does not). */
        for (char *c = ln; *c; c++)
            if (*c == '#' && (c == ln || c[-1] == ' ' || c[-1] == '\t')) {
                hash = c;
                break;
            }
        if (hash)
            *hash = 0;
        char *p = trim(ln);
        if (!*p)
            continue;
        char *key = word(&p), *verb = word(&p);
        char *sharp = key ? strrchr(key, '#') : NULL;
        if (!sharp || !verb) {
            PROBLEM(w, "script line %d: expected '<Step>#<k> <verb> [args]'", line);
            return false;
        }
        *sharp = 0;
        rule_t r = {.step = xstrdup(key), .line = line};
        if (!strcmp(sharp + 1, "*")) {
            r.k = 0;
        } else {
            r.k = atoi(sharp + 1);
            if (r.k < 1) {
                free(r.step);
                PROBLEM(w, "script line %d: bad dispatch number '%s'", line, sharp + 1);
                return false;
            }
        }
        r.verb = xstrdup(verb);
        p = trim(p);
        bool ok = true;
        if (!strcmp(verb, "succeed") || !strcmp(verb, "result")) {
            json_error_t je;
            r.data = json_loads(*p ? p : "{}", JSON_DECODE_ANY, &je);
            ok = r.data != NULL;
        } else if (!strcmp(verb, "fail") || !strcmp(verb, "submitfail") ||
                   !strcmp(verb, "stop")) {
            char *e = word(&p);
            ok = e || !strcmp(verb, "stop");
            r.error = e ? xstrdup(e) : NULL;
            p = trim(p);
            r.cause = *p ? xstrdup(p) : NULL;
        } else if (strcmp(verb, "hang")) {
            ok = false;
        }
        for (size_t i = 0; ok && i < w->n_rules; i++)
            if (!strcmp(w->rules[i].step, r.step) && w->rules[i].k == r.k)
                ok = false;
        w->rules = xrealloc(w->rules, (w->n_rules + 1) * sizeof *w->rules);
        w->rules[w->n_rules++] = r;
        if (!ok) {
            PROBLEM(w, "script line %d: bad or duplicate rule (verb '%s')", line, verb);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Expectations                                                                             */
/* ---------------------------------------------------------------------------------------- */

static char *event_types(const world_t *w)
{
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "");
    for (size_t i = 0; i < w->n_hist; i++)
        fl_buf_printf(&b, "%s%s", i ? "," : "", w->hist[i].type);
    return fl_buf_take(&b);
}

static bool has_type(const world_t *w, const char *type)
{
    for (size_t i = 0; i < w->n_hist; i++)
        if (!strcmp(w->hist[i].type, type))
            return true;
    return false;
}

static char *pretty(json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : xstrdup("(none)");
}

static void check_expect(world_t *w, json_t *ex)
{
    const char *status = json_string_value(json_object_get(ex, "status"));
    const char *got_status = fl_exec_status_name(w->status);
    if (!status)
        PROBLEM(w, "expect.json has no \"status\"");
    else if (strcmp(status, got_status))
        PROBLEM(w, "status: got %s, expected %s%s%s%s", got_status, status,
                w->error ? " (error " : "", w->error ? w->error : "", w->error ? ")" : "");

    json_t *v;
    if ((v = json_object_get(ex, "output"))) {
        json_t *got = w->output ? json_loads(w->output, JSON_DECODE_ANY, NULL) : NULL;
        if (!got || !json_equal(got, v)) {
            char *a = pretty(got), *b = pretty(v);
            PROBLEM(w, "output:\n      got:      %s\n      expected: %s", a, b);
            free(a);
            free(b);
        }
        json_decref(got);
    }
    if ((v = json_object_get(ex, "error"))) {
        const char *want = json_string_value(v);
        if (!want || !w->error || strcmp(want, w->error))
            PROBLEM(w, "error: got '%s', expected '%s'", w->error ? w->error : "(none)",
                    want ? want : "?");
    }
    if ((v = json_object_get(ex, "cause_has"))) {
        const char *want = json_string_value(v);
        if (!want || !w->message || !strstr(w->message, want))
            PROBLEM(w, "cause: got '%s', expected it to contain '%s'",
                    w->message ? w->message : "(none)", want ? want : "?");
    }
    char *types = event_types(w);
    if ((v = json_object_get(ex, "events"))) {
        const char *want = json_string_value(v);
        if (!want || strcmp(want, types)) {
            /* Point at the first differing event. */
            size_t i = 0;
            while (want && want[i] && want[i] == types[i])
                i++;
            size_t at = 1;
            for (size_t j = 0; j < i; j++)
                at += types[j] == ',';
            PROBLEM(w, "events differ from event #%zu:\n      got:      %s\n      expected: %s",
                    at, types, want ? want : "?");
        }
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(ex, "events_has"), i, e)
        if (!json_is_string(e) || !has_type(w, json_string_value(e)))
            PROBLEM(w, "events: no %s event in %s", json_string_value(e), types);
    json_array_foreach(json_object_get(ex, "events_not"), i, e)
        if (json_is_string(e) && has_type(w, json_string_value(e)))
            PROBLEM(w, "events: unexpected %s event in %s", json_string_value(e), types);
    if ((v = json_object_get(ex, "event_count")) &&
        json_integer_value(v) != (json_int_t)w->n_hist)
        PROBLEM(w, "event_count: got %zu, expected %lld", w->n_hist,
                (long long)json_integer_value(v));
    free(types);

    /* event_times: {"Type": [seconds since the start of each event of that type, ...]} */
    const char *type;
    json_object_foreach(json_object_get(ex, "event_times"), type, v) {
        fl_buf_t got, want;
        fl_buf_init(&got);
        fl_buf_init(&want);
        fl_buf_puts(&got, "");
        fl_buf_puts(&want, "");
        size_t n = 0;
        for (size_t h = 0; h < w->n_hist; h++)
            if (!strcmp(w->hist[h].type, type))
                fl_buf_printf(&got, "%s%g", n++ ? "," : "",
                              (double)(w->hist[h].time_ms - T0) / 1000);
        json_array_foreach(v, i, e)
            fl_buf_printf(&want, "%s%g", i ? "," : "", json_number_value(e));
        if (strcmp(got.data, want.data))
            PROBLEM(w, "times of %s events (s): got [%s], expected [%s]", type, got.data,
                    want.data);
        fl_buf_free(&got);
        fl_buf_free(&want);
    }
    /* history_has: substrings of some line "<Type> <Step> <detail>" */
    json_array_foreach(json_object_get(ex, "history_has"), i, e) {
        const char *want = json_string_value(e);
        bool found = false;
        for (size_t h = 0; want && h < w->n_hist && !found; h++) {
            char *line = NULL;
            if (asprintf(&line, "%s %s %s", w->hist[h].type, w->hist[h].step,
                         w->hist[h].detail) < 0)
                abort();
            found = strstr(line, want) != NULL;
            free(line);
        }
        if (!found)
            PROBLEM(w, "history: no event line contains %s", want ? want : "?");
    }
    json_array_foreach(json_object_get(ex, "dispatch_has"), i, e) {
        const char *want = json_string_value(e);
        bool found = false;
        for (size_t k = 0; want && k < w->n_disp && !found; k++)
            found = strstr(w->disp[k].payload, want) != NULL;
        if (!found)
            PROBLEM(w, "dispatches: none contains %s", want ? want : "?");
    }
    if ((v = json_object_get(ex, "open_tasks"))) {
        /* callback attempts still waiting at the end (neither answered nor ended) */
        json_int_t open = 0;
        for (size_t k = 0; k < w->n_disp; k++)
            open += w->disp[k].callback && !(w->disp[k].seq < w->n_seq && w->done[w->disp[k].seq]);
        if (open != json_integer_value(v))
            PROBLEM(w, "open_tasks: got %lld callback attempts still waiting, expected %lld",
                    (long long)open, (long long)json_integer_value(v));
    }
    if ((v = json_object_get(ex, "dispatch_count")) &&
        json_integer_value(v) != (json_int_t)w->n_disp)
        PROBLEM(w, "dispatch_count: got %zu, expected %lld", w->n_disp,
                (long long)json_integer_value(v));
}

/* ---------------------------------------------------------------------------------------- */
/* Running a case                                                                           */
/* ---------------------------------------------------------------------------------------- */

static void world_free(world_t *w)
{
    for (size_t i = 0; i < w->n_rules; i++) {
        free(w->rules[i].step);
        free(w->rules[i].verb);
        json_decref(w->rules[i].data);
        free(w->rules[i].error);
        free(w->rules[i].cause);
    }
    free(w->rules);
    for (size_t i = 0; i < w->n_hist; i++) {
        free(w->hist[i].type);
        free(w->hist[i].step);
        free(w->hist[i].detail);
    }
    free(w->hist);
    for (size_t i = 0; i < w->n_disp; i++) {
        free(w->disp[i].step);
        free(w->disp[i].payload);
    }
    free(w->disp);
    for (size_t i = 0; i < w->n_counts; i++)
        free(w->counts[i].step);
    free(w->counts);
    free(w->timers);
    free(w->sched_of);
    free(w->done);
    free(w->state);
    free(w->output);
    free(w->error);
    free(w->message);
    json_decref(w->input);
    fl_flow_free(w->flow);
    fl_buf_free(&w->problems);
}

/* The next timer to fire: the earliest, ties in creation order. Removes it. */
static bool next_timer(world_t *w, ptimer_t *t)
{
    size_t best = w->n_timers;
    for (size_t i = 0; i < w->n_timers; i++) {
        const ptimer_t *c = &w->timers[i];
        if (c->kind == FL_TIMER_TASK_TIMEOUT && c->seq < w->n_seq && w->done[c->seq])
            continue; /* the attempt ended: the store deletes its timeout */
        if (best == w->n_timers || c->due < w->timers[best].due ||
            (c->due == w->timers[best].due && c->order < w->timers[best].order))
            best = i;
    }
    if (best == w->n_timers) {
        w->n_timers = 0;
        return false;
    }
    *t = w->timers[best];
    memmove(&w->timers[best], &w->timers[best + 1],
            (w->n_timers - best - 1) * sizeof *w->timers);
    w->n_timers--;
    return true;
}

static void print_history(const world_t *w)
{
    fprintf(stderr, "    history:\n");
    for (size_t i = 0; i < w->n_hist; i++)
        fprintf(stderr, "      %3lld +%-6g %-18s %-14s %s\n", (long long)w->hist[i].id,
                (double)(w->hist[i].time_ms - T0) / 1000, w->hist[i].type, w->hist[i].step,
                w->hist[i].detail);
    if (w->n_disp)
        fprintf(stderr, "    dispatches:\n");
    for (size_t i = 0; i < w->n_disp; i++)
        fprintf(stderr, "      %u %s %s\n", w->disp[i].seq, w->disp[i].step, w->disp[i].payload);
}

/* Runs the case in folder dir; returns true when it passes (prints why not otherwise). */
static bool run_case(const char *dir, const char *name)
{
    world_t w;
    memset(&w, 0, sizeof w);
    w.name = name;
    fl_buf_init(&w.problems);
    w.now = T0;
    json_t *ex = NULL;
    size_t len = 0;
    char *text = slurp(dir, "flow.yaml", &len);
    if (!text)
        text = slurp(dir, "flow.json", &len);
    char *etext = slurp(dir, "expect.json", NULL);
    char *itext = slurp(dir, "input.json", NULL);
    char *stext = slurp(dir, "script", NULL);
    json_error_t je;

    if (!text) {
        PROBLEM(&w, "no flow.yaml or flow.json");
        goto out;
    }
    if (!etext || !(ex = json_loads(etext, 0, &je)) || !json_is_object(ex)) {
        PROBLEM(&w, "expect.json is missing or not a JSON object%s%s", etext ? ": " : "",
                etext ? je.text : "");
        goto out;
    }
    w.input = itext ? json_loads(itext, 0, &je) : json_object();
    if (!w.input) {
        PROBLEM(&w, "input.json: %s", je.text);
        goto out;
    }
    if (stext && !parse_script(&w, stext))
        goto out;
    fl_diag_t d;
    memset(&d, 0, sizeof d);
    if (fl_spec_parse(text, len, &w.flow, &d) != FL_OK) {
        PROBLEM(&w, "the flow does not parse: line %d col %d: %s: %s", d.line, d.col, d.path,
                d.msg);
        goto out;
    }
    w.ctx = (fl_exec_ctx_t){
        .account = 1234,
        .exec_id = 42,
        .exec_name = "exec1",
        .flow_name = w.flow->name ? w.flow->name : "flow1",
        .role_arn = "acs:ram::1234:role/fnf",
        .exec_input = w.input,
        .started_ms = T0,
        .mint = mint,
    };

    fl_cmd_t start = {.kind = FL_CMD_START, .data = w.input};
    apply(&w, &start);
    while (!w.finished && !w.broken) {
        if (w.head < w.n_disp) {
            disp_t *dp = &w.disp[w.head++];
            if (dp->seq < w.n_seq && w.done[dp->seq])
                continue; /* its attempt ended before the worker got to it */
            disp_t copy = *dp; /* answering may grow w.disp */
            answer(&w, &copy);
            continue;
        }
        ptimer_t t;
        if (!next_timer(&w, &t))
            break;
        if (t.due > w.now)
            w.now = t.due;
        fl_cmd_t cmd = {.kind = FL_CMD_TIMER, .timer_kind = t.kind, .seq = t.seq};
        apply(&w, &cmd);
    }
    if (!w.broken)
        check_expect(&w, ex);

out:;
    bool ok = w.problems.len == 0;
    if (!ok) {
        fprintf(stderr, "  conformance case %s FAILED:\n%s", name, w.problems.data);
        if (w.n_hist)
            print_history(&w);
    }
    json_decref(ex);
    free(text);
    free(etext);
    free(itext);
    free(stext);
    world_free(&w);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(conformance)
{
    const char *only = getenv("FL_CONFORMANCE_CASE");
    DIR *dp = opendir(CASES_DIR);
    if (!dp)
        FAIL_AT("cannot open %s (run from the repository root)", CASES_DIR);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", CASES_DIR, de->d_name);
        if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(de->d_name);
    }
    closedir(dp);
    qsort(names, n, sizeof *names, cmp_str);

    int ran = 0, failed = 0;
    fl_buf_t failures;
    fl_buf_init(&failures);
    for (size_t i = 0; i < n; i++) {
        if (only && !strstr(names[i], only))
            continue;
        ran++;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", CASES_DIR, names[i]);
        fflush(NULL);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            bool ok = run_case(dir, names[i]);
            for (size_t k = 0; k < n; k++) /* the parent's, inherited */
                free(names[k]);
            free(names);
            fl_buf_free(&failures);
            LEAK_CHECK();
            fflush(NULL);
            _exit(ok ? 0 : 1);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (WIFSIGNALED(st))
                fprintf(stderr, "  conformance case %s crashed (signal %d)\n", names[i],
                        WTERMSIG(st));
            fl_buf_printf(&failures, " %s", names[i]);
            failed++;
        }
    }
    fprintf(stderr, "  conformance: %d cases, %d failed%s%s\n", ran, failed,
            failed ? ":" : "", failed ? failures.data : "");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    fl_buf_free(&failures);
    if (ran == 0)
        FAIL_AT("no case under %s%s%s", CASES_DIR, only ? " matches " : "", only ? only : "");
    ASSERT_EQ(failed, 0);
}
