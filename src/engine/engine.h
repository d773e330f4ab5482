/*
 * engine.h - runs executions.
 *
 * The heart is fl_engine_step(): a pure function (flow, runtime state, command) -> (new
 * state, history events, effects). It does no I/O and reads no clock: time comes in the
 * command, task tokens from a deterministic minting callback. Around it, exec.c loads an
 * execution, steps it and writes the outcome in the caller's store transaction, and
 * worker.c fires due timers and sends outbox dispatches (HTTP) on a background thread.
 */
#ifndef FL_ENGINE_H
#define FL_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"
#include "store/store.h"

/* ---- commands ---- */

typedef enum {
    FL_CMD_START,          /* input */
    FL_CMD_SUBMITTED,      /* seq: the worker accepted the dispatch */
    FL_CMD_SUBMIT_FAILED,  /* seq, error, cause */
    FL_CMD_TASK_SUCCEEDED, /* seq, output (a report or a RequestComplete result) */
    FL_CMD_TASK_FAILED,    /* seq, error, cause */
    FL_CMD_TIMER,          /* timer_kind, seq */
    FL_CMD_STOP,           /* error, cause (both optional) */
} fl_cmd_kind_t;

typedef enum {
    FL_TIMER_TASK_TIMEOUT = 1,
    FL_TIMER_RETRY = 2,
    FL_TIMER_WAIT = 3,
    FL_TIMER_EXEC_TIMEOUT = 4,
} fl_timer_kind_t;

typedef struct {
    fl_cmd_kind_t kind;
    int64_t now_ms;
    uint32_t seq;
    int timer_kind;
    json_t *data;      /* START: input object; TASK_SUCCEEDED: output object (borrowed) */
    const char *error; /* may be NULL */
    const char *cause; /* may be NULL */
    const char *request_id; /* reports: the client's RequestId, kept with the attempt */
} fl_cmd_t;

/* ---- what a step produces ---- */

typedef struct {
    int64_t event_id;
    int64_t sched_id;
    const char *type; /* static string */
    char *step;
    int64_t time_ms;
    char *detail; /* JSON text */
} fl_ev_t;

typedef struct {
    uint32_t seq;
    char *payload; /* JSON text: {"Action","Mode","Parameters"} */
} fl_dispatch_t;

typedef struct {
    int kind;
    uint32_t seq;
    int64_t due_ms;
} fl_timer_t;

typedef struct {
    uint32_t seq;
    char *step;
    int64_t sched_id;
    int64_t timeout_ms; /* 0 = none */
    int attempt;        /* 1, 2, ... within the state's current visit */
} fl_task_new_t;

typedef struct {
    fl_ev_t *events;
    size_t n_events;
    fl_dispatch_t *dispatches;
    size_t n_dispatches;
    fl_timer_t *timers;
    size_t n_timers;
    fl_task_new_t *tasks;   /* callback attempts that start waiting */
    size_t n_tasks;
    uint32_t *done_seqs;    /* callback attempts that ended */
    size_t n_done;
    int64_t result_event;   /* TASK_SUCCEEDED/FAILED: id of the TaskSucceeded/Failed event */
    bool finished;          /* the execution ended in this step */
    int status;             /* FL_EXEC_* after the step */
    char *output;           /* when finished: output JSON text (may be NULL) */
    char *error_code;       /* when finished with an error */
    char *error_message;
} fl_out_t;

void fl_out_init(fl_out_t *o);
void fl_out_close(fl_out_t *o);

/* ---- the execution being stepped ---- */

typedef struct fl_run fl_run_t; /* runtime state, serialized into the execution row */

/* Identity and services of one execution, for $Context and tokens. All borrowed. */
typedef struct {
    uint64_t account;
    int64_t exec_id;
    const char *exec_name;
    const char *flow_name;
    const char *role_arn;
    json_t *exec_input;
    int64_t started_ms;
    /* Writes the task token of attempt seq into out (at most 127 chars + NUL). */
    void (*mint)(void *arg, uint64_t account, int64_t exec_id, uint32_t seq, char out[128]);
    void *mint_arg;
    size_t max_payload; /* bytes of a state input/output, 65536 by default */
} fl_exec_ctx_t;

fl_run_t *fl_run_new(void);
/* Loads runtime state from text written by fl_run_dump; FL_EINTERNAL if corrupt. */
int fl_run_load(const char *text, fl_run_t **out /* OUT */);
char *fl_run_dump(const fl_run_t *r); /* returns new heap text */
void fl_run_free(fl_run_t *r);
int fl_run_status(const fl_run_t *r);
/* The attempt currently waiting for a callback, or 0. */
uint32_t fl_run_waiting_seq(const fl_run_t *r);

/* Applies cmd to run. Returns FL_OK with out filled; FL_ETASK_ALREADY_COMPLETED when a task
 * result names an attempt that is not the one in progress; FL_EEXECUTION_ALREADY_COMPLETED
 * for a STOP of an ended execution. Stale timers and duplicate submissions are ignored
 * (FL_OK, nothing produced). Pure: no I/O, no clock, no randomness. */
int fl_engine_step(const fl_flow_t *flow, const fl_exec_ctx_t *ctx, fl_run_t *run,
                   const fl_cmd_t *cmd, fl_out_t *out);

/* ---- exec.c: stepping stored executions inside a store write job ---- */

typedef struct {
    const uint8_t *token_key; /* FL_TOKEN_KEY_LEN bytes */
    size_t max_payload;
    json_t *functions;        /* function map: "service/function" or "function" -> URL */
    int dispatch_retries;     /* re-sends after a connection failure before the task fails */
    int dispatch_backoff_ms;  /* first pause before a re-send; doubles each time */
    int dispatch_timeout_ms;  /* whole request to a worker or function */
    int dispatch_per_target;  /* requests in flight to one host:port */
} fl_engine_t;

/* Returns the parsed flow of definition def_id (cached; borrowed, valid until
 * fl_engine_cache_clear). Must be called on the writer thread. */
int fl_engine_flow(fl_db_t *db, int64_t def_id, const fl_flow_t **out /* OUT */);
void fl_engine_cache_clear(void);

/* Inserts a new execution (e->id set) and runs it until it waits. Runs in a write job.
 * Returns FL_EEXECUTION_ALREADY_EXISTS, FL_OK, or an internal error. */
int fl_engine_start(const fl_engine_t *eng, fl_db_t *db, fl_exec_row_t *e, int64_t now_ms);

/* Applies cmd to execution exec_id and persists the outcome (events, tasks, timers, outbox,
 * execution row). result_event receives out.result_event. Runs in a write job.
 * Returns FL_OK, FL_EEXECUTION_NOT_EXISTS, FL_ETASK_ALREADY_COMPLETED,
 * FL_EEXECUTION_ALREADY_COMPLETED or an internal error. */
int fl_engine_apply(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, const fl_cmd_t *cmd,
                    int64_t *result_event /* OUT, may be NULL */);

/* Applies a callback report (cmd: TASK_SUCCEEDED or TASK_FAILED, seq set) to attempt seq of
 * exec_id as flowd's decisions section 4 orders it, in a write job: a waiting attempt records
 * the outcome and answers FL_OK with *event_id; an attempt that already ended answers
 * FL_ETASK_ALREADY_COMPLETED with what = "<step> of execution <name>", unless request_id
 * equals the one that completed it (then FL_OK with the original event id). */
int fl_engine_report(const fl_engine_t *eng, fl_db_t *db, int64_t exec_id, uint32_t seq,
                     const fl_cmd_t *cmd, const char *request_id, int64_t *event_id /* OUT */,
                     char *what /* OUT */, size_t what_len);

/* ---- worker.c: timers and dispatches ---- */

typedef struct fl_worker fl_worker_t;
/* Starts the background thread that fires timers and sends outbox dispatches. */
int fl_worker_start(const fl_engine_t *eng, fl_store_t *st, fl_worker_t **out /* OUT */);
/* Wakes the worker (new timers or dispatches were committed). Thread-safe. */
void fl_worker_kick(void *worker);
void fl_worker_stop(fl_worker_t *w); /* NULL-safe */

#endif
