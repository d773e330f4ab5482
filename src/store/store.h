/*
 * store.h - durable state of flowd: accounts and keys, flows, executions, history events,
 * task attempts, timers and the dispatch outbox, behind one interface.
 *
 * Threading: every write runs on the store's single writer thread inside a transaction
 * shared with other writes (group commit): callers hand a job to fl_store_write(), which
 * returns only after the transaction holding the job is durable (or rolled back). Each job
 * runs inside its own savepoint, so a failing job leaves no trace while its neighbours
 * commit. Reads run on the calling thread through a per-thread read connection.
 *
 * Rows returned by reads are copied into the caller's arena; no pointer into the database
 * library outlives a call. Two backends implement it (store_int.h): SQLite, embedded, for
 * one node; PostgreSQL, shared by several nodes (execution rows locked for a state change,
 * timer and outbox rows claimed with leases, nonces shared).
 */
#ifndef FL_STORE_H
#define FL_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

typedef struct fl_store fl_store_t; /* the database: writer thread + read connections */
typedef struct fl_db fl_db_t;       /* one connection, used by one thread at a time */

/* Execution status, as stored and as shown on the wire. */
typedef enum {
    FL_EXEC_RUNNING = 1,
    FL_EXEC_SUCCEEDED = 2,
    FL_EXEC_FAILED = 3,
    FL_EXEC_STOPPED = 4,
    FL_EXEC_TIMED_OUT = 5,
} fl_exec_status_t;

const char *fl_exec_status_name(int status);
int fl_exec_status_parse(const char *s); /* 0 when unknown */

typedef struct {
    int64_t id;
    uint64_t account;
    char *name;
    char *uuid;
    int64_t def_id;
    char *definition;
    char *description;
    char *type;
    char *role_arn;
    char *mode; /* ExecutionMode: Standard | Express */
    char *environment;
    int64_t created_ms;
    int64_t modified_ms;
} fl_flow_row_t;

typedef struct {
    int64_t id;
    int64_t flow_id;
    uint64_t account; /* owner of the flow */
    char *flow_name;
    char *name;
    int status;
    int64_t def_id;
    char *definition; /* only filled by reads that ask for it */
    char *input;
    char *output;
    char *error_code;
    char *error_message;
    int64_t started_ms;
    int64_t stopped_ms; /* 0 while running */
    char *state;        /* engine runtime state (JSON text) */
    char *parent_token; /* task token to report to when it ends (sub-flows), may be NULL */
} fl_exec_row_t;

typedef struct {
    int64_t event_id;
    int64_t sched_id; /* ScheduleEventId, 0 = none */
    const char *type;
    const char *step;
    int64_t time_ms;
    const char *detail; /* JSON object text */
} fl_event_row_t;

typedef struct {
    int64_t exec_id;
    uint32_t seq;
    char *step;
    int64_t sched_id;
    int64_t created_ms;
    int64_t timeout_ms; /* 0 = none */
    int attempt;        /* 1 for the first attempt of the step, 2 for its first retry, ... */
    bool done;
    char *request_id; /* client RequestId of the report that completed it, may be NULL */
    int64_t event_id; /* event recorded by that report */
} fl_task_row_t;

typedef struct {
    int64_t id;
    int64_t due_ms;
    int64_t exec_id;
    int kind;
    uint32_t seq;
} fl_timer_row_t;

typedef struct {
    int64_t id;
    int64_t exec_id;
    uint32_t seq;
    char *payload;
    int attempts;
    int64_t next_ms;
} fl_outbox_row_t;

/* ---- lifecycle ---- */

/* Opens the database and starts the writer thread. target is a file path (SQLite, created
 * if needed) or a postgres:// or postgresql:// URL (libpq syntax). Pending schema
 * migrations run first. Returns FL_OK or FL_EINTERNAL (logged). */
int fl_store_open(const char *target, fl_store_t **out /* OUT */);
/* Runs the pending schema migrations of target and closes it again; *from and *to tell the
 * schema versions before and after. FL_EINTERNAL (logged) on failure or when the database
 * is newer than this flowd. */
int fl_store_migrate(const char *target, int *from /* OUT */, int *to /* OUT */);
/* True when several nodes may share the database (PostgreSQL). */
bool fl_store_shared(const fl_store_t *st);
/* "sqlite" or "postgres". */
const char *fl_store_backend(const fl_store_t *st);
/* Names this node in its claims (a stable name: the same node restarted keeps it) and ends
 * the claims an earlier run of it left, so its unfinished timers and dispatches go again
 * at once instead of after their leases. Call before the worker starts. */
int fl_store_set_node(fl_store_t *st, const char *node);
/* Stops the writer (after draining queued jobs) and closes every connection. NULL-safe. */
void fl_store_close(fl_store_t *st);

/* A write job: runs on the writer thread with db inside a savepoint. Returning non-zero
 * rolls the savepoint back and that value becomes fl_store_write's result. */
typedef int (*fl_store_job_fn)(fl_db_t *db, void *arg);
/* Runs fn(db, arg) in the next group commit and waits until it is durable. Returns fn's
 * result, or FL_EINTERNAL when the commit failed (then nothing of the job remains), or
 * FL_ECONCURRENT_UPDATE when the job kept meeting row locks of other nodes (after several
 * tries, each in a new transaction). fn may run more than once: it must not keep state
 * between runs other than through the database. */
int fl_store_write(fl_store_t *st, fl_store_job_fn fn, void *arg);
/* Registers a function the writer calls after each durable commit that inserted timer or
 * outbox rows (to wake the background worker). */
void fl_store_on_commit(fl_store_t *st, void (*fn)(void *), void *arg);
/* Returns this thread's read connection (created on first use; valid until close). */
fl_db_t *fl_store_reader(fl_store_t *st);
/* Marks that the current write job inserted timer/outbox rows (wake the worker after). */
void fl_db_kick(fl_db_t *db);

/* Fault injection for tests: when FL_FAULT_STORE=N is set, the Nth statement (or commit)
 * that the writer runs after this call fails. Called by flowd once it is set up. */
void fl_store_arm_faults(void);

/* ---- meta ---- */
int fl_db_meta_get(fl_db_t *db, const char *key, fl_arena_t *a, char **val /* OUT */, size_t *len /* OUT */);
int fl_db_meta_put(fl_db_t *db, const char *key, const void *val, size_t len);
/* Stores the value unless the key exists (nodes starting together agree on one). */
int fl_db_meta_add(fl_db_t *db, const char *key, const void *val, size_t len);

/* ---- identity: accounts, RAM users, access keys, policies ---- */

typedef struct {
    uint64_t id;
    char *region;
    int64_t created_ms;
} fl_account_row_t;

typedef struct {
    char *name;
    int64_t created_ms;
} fl_user_row_t;

typedef struct {
    char *ak;
    char *secret;   /* NULL in listings */
    uint64_t account;
    char *user;     /* NULL for a root key */
    bool enabled;
    int64_t created_ms;
} fl_key_row_t;

typedef struct {
    uint64_t account;
    char *user;
    char *name;
    char *document;
    int64_t created_ms;
} fl_policy_row_t;

/* Inserts the account unless it exists (start-up). */
int fl_db_account_put(fl_db_t *db, uint64_t id, const char *region, int64_t now_ms);
/* FL_EACCOUNT_ALREADY_EXISTS when it exists. */
int fl_db_account_insert(fl_db_t *db, uint64_t id, const char *region, int64_t now_ms);
/* FL_EACCOUNT_NOT_EXISTS when absent. */
int fl_db_account_get(fl_db_t *db, uint64_t id, fl_arena_t *a, fl_account_row_t *out /* OUT */);
int fl_db_account_list(fl_db_t *db, fl_arena_t *a, fl_account_row_t **rows /* OUT */, int *n /* OUT */);
/* FL_EUSER_ALREADY_EXISTS when it exists. */
int fl_db_user_insert(fl_db_t *db, uint64_t account, const char *name, int64_t now_ms);
/* FL_EUSER_NOT_EXISTS when absent. */
int fl_db_user_get(fl_db_t *db, uint64_t account, const char *name, fl_arena_t *a,
                   fl_user_row_t *out /* OUT */);
int fl_db_user_list(fl_db_t *db, uint64_t account, fl_arena_t *a, fl_user_row_t **rows /* OUT */,
                    int *n /* OUT */);
/* Inserts or replaces a root key (start-up: the key from the environment). */
int fl_db_key_put(fl_db_t *db, const char *ak, const char *secret, uint64_t account, int64_t now_ms);
int fl_db_key_insert(fl_db_t *db, const fl_key_row_t *k);
int fl_db_key_set_enabled(fl_db_t *db, uint64_t account, const char *ak, bool enabled,
                          bool *found /* OUT */);
int fl_db_key_delete(fl_db_t *db, uint64_t account, const char *ak, bool *found /* OUT */);
/* Lists the keys of account (of one user when user is not NULL), without secrets. */
int fl_db_key_list(fl_db_t *db, uint64_t account, const char *user, fl_arena_t *a,
                   fl_key_row_t **rows /* OUT */, int *n /* OUT */);
/* Calls fn for every key, enabled or not, secrets included (start-up load). */
int fl_db_keys_each(fl_db_t *db, void (*fn)(void *arg, const fl_key_row_t *k), void *arg);
/* Attaches (or replaces) a policy of a user. */
int fl_db_policy_put(fl_db_t *db, const fl_policy_row_t *p);
int fl_db_policy_delete(fl_db_t *db, uint64_t account, const char *user, const char *name,
                        bool *found /* OUT */);
/* Lists policies: of one account (0 = all) and one user (NULL = all). */
int fl_db_policy_list(fl_db_t *db, uint64_t account, const char *user, fl_arena_t *a,
                      fl_policy_row_t **rows /* OUT */, int *n /* OUT */);

/* ---- flows ---- */
/* Finds or inserts the definition text, returning its id. */
int fl_db_def_put(fl_db_t *db, const char *text, int64_t *id /* OUT */);
int fl_db_def_get(fl_db_t *db, int64_t id, fl_arena_t *a, char **text /* OUT */);
/* FL_EFLOW_ALREADY_EXISTS when the name is taken. */
int fl_db_flow_insert(fl_db_t *db, fl_flow_row_t *f /* id set on return */);
int fl_db_flow_update(fl_db_t *db, const fl_flow_row_t *f);
/* FL_EFLOW_NOT_EXISTS when absent. with_def also loads the definition text. */
int fl_db_flow_get(fl_db_t *db, uint64_t account, const char *name, bool with_def, fl_arena_t *a,
                   fl_flow_row_t *out /* OUT */);
int fl_db_flow_get_by_id(fl_db_t *db, int64_t id, fl_arena_t *a, fl_flow_row_t *out /* OUT */);
/* Lists up to limit flows with name >= start (NULL = from the first), by name. */
int fl_db_flow_list(fl_db_t *db, uint64_t account, const char *start, int limit, fl_arena_t *a,
                    fl_flow_row_t **rows /* OUT */, int *n /* OUT */);
/* Deletes the flow with all its executions, events, tasks, timers and outbox rows. */
int fl_db_flow_delete(fl_db_t *db, int64_t flow_id);

/* ---- executions ---- */
/* FL_EEXECUTION_ALREADY_EXISTS when the name is taken in the flow. */
int fl_db_exec_insert(fl_db_t *db, fl_exec_row_t *e /* id set on return */);
/* Writes status, output, errors, stopped time and state. */
int fl_db_exec_update(fl_db_t *db, const fl_exec_row_t *e);
int fl_db_exec_get(fl_db_t *db, int64_t flow_id, const char *name, bool with_def, fl_arena_t *a,
                   fl_exec_row_t *out /* OUT */);
int fl_db_exec_get_by_id(fl_db_t *db, int64_t id, fl_arena_t *a, fl_exec_row_t *out /* OUT */);
/* In a write job: reads the execution and locks its row until the transaction ends (shared
 * stores; other nodes' changes of it wait). FL_EEXECUTION_NOT_EXISTS when absent. */
int fl_db_exec_get_locked(fl_db_t *db, int64_t id, fl_arena_t *a, fl_exec_row_t *out /* OUT */);
/* Only locks the execution's row (a missing one is not an error). Every write job locks the
 * execution before any other row of it (timer, outbox, task): one lock order for all nodes. */
int fl_db_exec_lock(fl_db_t *db, int64_t id);
/* The same, with task attempt seq of it in the same read (*has_task false when absent; the
 * attempt's row is locked too, so what it says is current). */
int fl_db_exec_task_locked(fl_db_t *db, int64_t exec_id, uint32_t seq, fl_arena_t *a,
                           fl_exec_row_t *e /* OUT */, fl_task_row_t *t /* OUT */,
                           bool *has_task /* OUT */);

typedef struct {
    int64_t flow_id;
    int64_t after_id;       /* list executions with id >= after_id */
    int limit;
    int status;             /* 0 = any */
    const char *prefix;     /* ExecutionNamePrefix, NULL = any */
    int64_t started_begin;  /* 0 = unbounded */
    int64_t started_end;    /* 0 = unbounded */
    bool metadata_only;
} fl_exec_query_t;
int fl_db_exec_list(fl_db_t *db, const fl_exec_query_t *q, fl_arena_t *a,
                    fl_exec_row_t **rows /* OUT */, int *n /* OUT */);

/* ---- history ---- */
int fl_db_event_insert(fl_db_t *db, int64_t exec_id, const fl_event_row_t *ev);
/* Inserts n events (several per statement). */
int fl_db_events_insert(fl_db_t *db, int64_t exec_id, const fl_event_row_t *evs, int n);
/* Lists up to limit events with event_id >= from. */
int fl_db_event_list(fl_db_t *db, int64_t exec_id, int64_t from, int limit, fl_arena_t *a,
                     fl_event_row_t **rows /* OUT */, int *n /* OUT */);

/* ---- task attempts ---- */
int fl_db_task_insert(fl_db_t *db, const fl_task_row_t *t);
/* FL_ENOT_FOUND when absent. */
int fl_db_task_get(fl_db_t *db, int64_t exec_id, uint32_t seq, fl_arena_t *a,
                   fl_task_row_t *out /* OUT */);
int fl_db_task_complete(fl_db_t *db, int64_t exec_id, uint32_t seq, const char *request_id,
                        int64_t event_id);

/* Callback attempts still waiting, of one flow (and one execution when exec_name is set),
 * from (from_exec, from_seq) on, in that order. */
typedef struct {
    int64_t exec_id;
    uint32_t seq;
    char *step;
    char *exec_name;
    int attempt;
    int64_t created_ms;
    int64_t timeout_ms; /* 0 = none */
} fl_waiting_row_t;
int fl_db_task_waiting(fl_db_t *db, int64_t flow_id, const char *exec_name, int64_t from_exec,
                       uint32_t from_seq, int limit, fl_arena_t *a,
                       fl_waiting_row_t **rows /* OUT */, int *n /* OUT */);

/* ---- timers ---- */
int fl_db_timer_insert(fl_db_t *db, int64_t exec_id, int kind, uint32_t seq, int64_t due_ms);
/* Deletes one timer; *found tells whether it existed (a fired timer is consumed once). */
int fl_db_timer_delete(fl_db_t *db, int64_t id, bool *found /* OUT */);
int fl_db_timer_delete_exec(fl_db_t *db, int64_t exec_id);
/* Claims up to limit timers due at or before now, earliest first, that no other node holds:
 * shared backends write a lease until until_ms so other nodes leave them alone until then
 * (a fired timer is deleted; one whose firing failed comes free when the lease ends). */
int fl_db_timer_claim(fl_db_t *db, int64_t now_ms, int64_t until_ms, int limit, fl_arena_t *a,
                      fl_timer_row_t **rows /* OUT */, int *n /* OUT */);
/* Earliest next send time after now of any outbox row (a re-send waiting out its backoff),
 * or INT64_MAX. Rows due already are the sender's business. */
int fl_db_outbox_next(fl_db_t *db, int64_t now_ms, int64_t *due_ms /* OUT */);
/* Earliest due time of any timer, or INT64_MAX. */
int fl_db_timer_next(fl_db_t *db, int64_t *due_ms /* OUT */);

/* ---- outbox ---- */
int fl_db_outbox_insert(fl_db_t *db, int64_t exec_id, uint32_t seq, const char *payload,
                        int64_t now_ms);
int fl_db_outbox_delete(fl_db_t *db, int64_t id, bool *found /* OUT */);
int fl_db_outbox_delete_exec(fl_db_t *db, int64_t exec_id);
int fl_db_outbox_retry(fl_db_t *db, int64_t id, int64_t next_ms);
/* Ends every claim of the named node (fl_store_set_node). */
int fl_db_unclaim_node(fl_db_t *db, const char *node);
/* Ends this node's claim of a row it will not send now. */
int fl_db_outbox_release(fl_db_t *db, int64_t id);
/* Claims due outbox rows like fl_db_timer_claim; a row is deleted once delivered and its
 * lease cleared by fl_db_outbox_retry. */
int fl_db_outbox_claim(fl_db_t *db, int64_t now_ms, int64_t until_ms, int limit, fl_arena_t *a,
                       fl_outbox_row_t **rows /* OUT */, int *n /* OUT */);

/* ---- nonces shared by several nodes ---- */
/* Records a signature nonce of ak until expire_ms; *fresh is false when any node saw it. */
int fl_db_nonce_claim(fl_db_t *db, const char *ak, const char *nonce, int64_t expire_ms,
                      bool *fresh /* OUT */);
int fl_db_nonce_purge(fl_db_t *db, int64_t now_ms);

/* ---- queues (MNS-compatible) ---- */

typedef struct {
    char *name;
    char *attrs; /* JSON object text: VisibilityTimeout, MaximumMessageSize, ... */
    int64_t created_ms;
    int64_t modified_ms;
} fl_queue_row_t;

typedef struct {
    int64_t id;
    char *body;
    int priority; /* 1 (first) .. 16 */
    int64_t enqueue_ms;
    int64_t visible_ms; /* next time it may be received */
    int64_t expire_ms;
    int64_t first_dequeue_ms;
    int dequeue_count;
    char *receipt; /* the handle of the last receive, NULL before */
} fl_msg_row_t;

/* Creates a queue; an existing one is left alone unless replace (then its attrs change). */
int fl_db_queue_put(fl_db_t *db, uint64_t account, const char *name, const char *attrs,
                    bool replace, int64_t now_ms);
/* FL_ENOT_FOUND when absent. */
int fl_db_queue_get(fl_db_t *db, uint64_t account, const char *name, fl_arena_t *a,
                    fl_queue_row_t *out /* OUT */);
int fl_db_queue_list(fl_db_t *db, uint64_t account, const char *start, const char *prefix,
                     int limit, fl_arena_t *a, fl_queue_row_t **rows /* OUT */, int *n /* OUT */);
/* Deletes the queue and its messages. */
int fl_db_queue_delete(fl_db_t *db, uint64_t account, const char *name);
/* Messages in all, received and not yet visible again, and delayed (never received). */
int fl_db_queue_counts(fl_db_t *db, uint64_t account, const char *name, int64_t now_ms,
                       int64_t *total /* OUT */, int64_t *inactive /* OUT */,
                       int64_t *delayed /* OUT */);
int fl_db_msg_insert(fl_db_t *db, uint64_t account, const char *queue, const char *body,
                     int priority, int64_t visible_ms, int64_t expire_ms, int64_t now_ms,
                     int64_t *id /* OUT */);
/* Up to limit visible messages by priority then age (expired ones are removed first unless
 * peek). Receiving is fl_db_msg_take on each, in the same write job. */
int fl_db_msg_ready(fl_db_t *db, uint64_t account, const char *queue, int64_t now_ms, int limit,
                    bool peek, fl_arena_t *a, fl_msg_row_t **rows /* OUT */, int *n /* OUT */);
/* Marks a message received: invisible until visible_ms, with a new receipt handle. */
int fl_db_msg_take(fl_db_t *db, int64_t id, int64_t visible_ms, const char *receipt,
                   int64_t now_ms);
/* FL_ENOT_FOUND when no message of the queue has that receipt handle (any more). */
int fl_db_msg_by_receipt(fl_db_t *db, uint64_t account, const char *queue, const char *receipt,
                         fl_arena_t *a, fl_msg_row_t *out /* OUT */);
int fl_db_msg_delete(fl_db_t *db, int64_t id);
int fl_db_msg_set_visible(fl_db_t *db, int64_t id, int64_t visible_ms, const char *receipt);
/* MNS queue names: 1-120 of letters, digits and '-', starting with a letter or digit. */
bool fl_queue_name_is_valid(const char *s);
/* The MNS MessageId of message row id: 32 uppercase hex digits, stable for the row. */
void fl_msg_id(int64_t id, char out[33]);

#endif
