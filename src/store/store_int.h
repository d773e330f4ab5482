/*
 * store_int.h - inside the store: the driver interface (struct fl_store_ops) that each
 * database backend implements, the backend-neutral statement object the queries of
 * query.c use, and the query numbers.
 *
 * Layers: query.c (every fl_db_* function, portable SQL) -> the sq_* wrappers of store.c
 * (the one place for fault injection and lock bookkeeping) -> a driver (sqlite.c, pg.c).
 * store.c also owns the writer thread with group commit and the per-thread readers, the
 * same for every backend.
 */
#ifndef FL_STORE_INT_H
#define FL_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Query numbers; the portable text of each is in query.c, a driver may override some. */
enum {
    Q_META_GET, Q_META_PUT, Q_META_ADD, Q_ACCOUNT_PUT, Q_KEY_PUT, Q_KEYS_ALL,
    Q_ACCOUNT_INSERT, Q_ACCOUNT_GET, Q_ACCOUNT_LIST, Q_USER_INSERT, Q_USER_GET, Q_USER_LIST,
    Q_KEY_INSERT, Q_KEY_ENABLE, Q_KEY_DELETE, Q_KEY_LIST, Q_POLICY_PUT, Q_POLICY_DELETE,
    Q_POLICY_LIST, Q_QUEUE_PUT, Q_QUEUE_GET, Q_QUEUE_LIST, Q_QUEUE_DELETE, Q_QUEUE_PURGE,
    Q_QUEUE_COUNTS, Q_MSG_INSERT, Q_MSG_READY, Q_MSG_TAKE, Q_MSG_PEEK, Q_MSG_BY_RECEIPT,
    Q_MSG_DELETE, Q_MSG_VISIBLE, Q_MSG_EXPIRE, Q_TASK_WAITING, Q_OUTBOX_NEXT,
    Q_DEF_FIND, Q_DEF_INSERT, Q_DEF_GET,
    Q_FLOW_INSERT, Q_FLOW_UPDATE, Q_FLOW_GET, Q_FLOW_GET_ID, Q_FLOW_LIST, Q_FLOW_DELETE,
    Q_FLOW_DEL_EVENTS, Q_FLOW_DEL_TASKS, Q_FLOW_DEL_TIMERS, Q_FLOW_DEL_OUTBOX, Q_FLOW_DEL_EXECS,
    Q_EXEC_INSERT, Q_EXEC_UPDATE, Q_EXEC_GET, Q_EXEC_GET_ID, Q_EXEC_LIST, Q_EXEC_LOCK,
    Q_EXEC_TASK_LOCK, Q_EXEC_LOCK_ID,
    Q_EVENT_INSERT, Q_EVENT_INSERT4, Q_EVENT_LIST,
    Q_TASK_INSERT, Q_TASK_GET, Q_TASK_COMPLETE,
    Q_TIMER_INSERT, Q_TIMER_DELETE, Q_TIMER_DELETE_EXEC, Q_TIMER_DUE, Q_TIMER_NEXT,
    Q_OUTBOX_INSERT, Q_OUTBOX_DELETE, Q_OUTBOX_DELETE_EXEC, Q_OUTBOX_RETRY, Q_OUTBOX_DUE,
    Q_OUTBOX_RELEASE,
    Q_NONCE_CLAIM, Q_NONCE_PURGE, Q_TIMER_UNCLAIM, Q_OUTBOX_UNCLAIM,
    Q__COUNT
};

/* Columns of the flow and execution rows, in the order query.c reads them. */
#define FLOW_COLS                                                                              \
    "f.id, f.account_id, f.name, f.uuid, f.def_id, f.description, f.type, f.role_arn, f.mode," \
    " f.environment, f.created_ms, f.modified_ms"
#define EXEC_COLS                                                                              \
    "e.id, e.flow_id, f.name, e.name, e.status, e.def_id, e.input, e.output, e.error_code,"    \
    " e.error_message, e.started_ms, e.stopped_ms, e.state, f.account_id, e.parent_token"

#define TASK_COLS                                                                              \
    "t.step, t.sched_id, t.created_ms, t.timeout_ms, t.done, t.request_id, t.event_id"

extern const char *const fl_sql_text[Q__COUNT];

/* Results of sq_step(). */
enum { SQ_ROW = 1, SQ_DONE, SQ_CONFLICT, SQ_LOCKED, SQ_ERROR };
/* Parameter types. */
enum { SQ_NULL, SQ_INT, SQ_TEXT, SQ_BLOB };

#define SQ_MAX_PARAMS 32

typedef struct {
    int type;
    int64_t i;
    const char *p; /* text (NUL-terminated) or blob bytes, owned by the caller until reset */
    size_t len;
} sq_param_t;

typedef struct fl_stmt fl_stmt_t;

/* One prepared query of one connection. Parameters are collected here and handed to the
 * driver by the first sq_step(); columns read from the current row. */
struct fl_stmt {
    fl_db_t *db;
    int q;
    int n_params;               /* the highest ?N of the text, set by the driver */
    sq_param_t p[SQ_MAX_PARAMS]; /* p[0] is ?1 */
    bool running;               /* stepped since the last reset */
    void *h;                    /* the driver's handle (sqlite3_stmt, PGresult) */
    int row, n_rows;            /* a driver's cursor over a fetched result */
    char *buf;                  /* driver scratch (decoded column), freed at reset */
};

/* A connection, used by one thread at a time. Drivers embed it first in their own. */
struct fl_db {
    const struct fl_store_ops *ops;
    fl_store_t *store;
    bool writer;   /* the writer thread's connection */
    bool kicked;   /* the current write job inserted timer/outbox rows */
    bool failed;   /* a statement of the current write job failed */
    bool locked;   /* ... and the failure was a lock wait that timed out or a deadlock */
    int job_no;    /* index in its batch of the job the writer is running */
    /* Set by a driver that defers writes (PostgreSQL's pipeline): a deferred statement of
     * job doomed_job failed after that job had ended, so the whole transaction is lost;
     * the writer rolls it back and runs the batch again without that job. */
    bool doomed;
    int doomed_job;
    bool doomed_locked; /* ... because it met another node's row lock: worth another try */
    fl_db_t *next_reader; /* in the store's idle list */
    fl_stmt_t *stmt[Q__COUNT];
};

/* What a backend provides. Every function gets or returns the backend's own fl_db_t. */
typedef struct fl_store_ops {
    const char *name;
    /* Several nodes may share the database: claims need leases, nonces are shared. */
    bool shared;
    /* SQL that opens a write transaction. */
    const char *begin_sql;
    /* Opens a connection to st->target; NULL (logged) on failure. */
    fl_db_t *(*open)(fl_store_t *st, bool writer);
    void (*close)(fl_db_t *db);
    /* Brings the schema to the newest version; *from and *to tell the versions. */
    int (*migrate)(fl_db_t *db, int *from /* OUT */, int *to /* OUT */);
    /* Runs SQL without results; returns FL_OK, or SQ_LOCKED / SQ_ERROR (logged). */
    int (*exec)(fl_db_t *db, const char *sql);
    /* Prepares s (its q names the text: the driver's override or fl_sql_text). */
    int (*prepare)(fl_stmt_t *s);
    void (*finalize)(fl_stmt_t *s);
    /* First call runs the statement with s->p; later calls advance. SQ_ROW/DONE/CONFLICT/
     * LOCKED/ERROR (errors other than conflicts and lock timeouts are logged). */
    int (*step)(fl_stmt_t *s);
    void (*reset)(fl_stmt_t *s);
    bool (*is_null)(fl_stmt_t *s, int col);
    int64_t (*col_int)(fl_stmt_t *s, int col);
    /* Text or blob bytes of a column (NULL for SQL NULL), valid until the next step/reset. */
    const char *(*col_bytes)(fl_stmt_t *s, int col, size_t *len /* OUT */);
    /* Rows changed by the last statement s ran. */
    int64_t (*changes)(fl_stmt_t *s);
    /* Optional: runs a statement whose rows and counts nobody reads; a driver may send it
     * and learn its outcome later (then failures set doomed). NULL = step. */
    int (*run)(fl_stmt_t *s);
    /* Background work of the backend (the SQLite checkpointer), started after open. */
    void (*start)(fl_store_t *st);
    void (*stop)(fl_store_t *st);
} fl_store_ops_t;

extern const fl_store_ops_t fl_sqlite_ops;
extern const fl_store_ops_t fl_pg_ops;

struct job;

struct fl_store {
    const fl_store_ops_t *ops;
    char *target; /* file path or connection URL */
    fl_db_t *writer;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* jobs queued or stopping */
    pthread_cond_t stop_cv;  /* wakes a backend's background thread at close */
    struct job *head, *tail;
    bool stopping;
    pthread_key_t reader_key;
    fl_db_t *idle; /* read connections of threads that ended, for reuse (guarded by mu) */
    int n_idle;
    void (*on_commit)(void *);
    void *on_commit_arg;
    void *backend; /* the driver's own state */
    char node[64];  /* this node's name in claims (fl_store_set_node) */
};

/* ---- statement wrappers for query.c ---- */

/* The prepared statement q of db, or NULL (logged). */
fl_stmt_t *sq_prep(fl_db_t *db, int q);
void sq_int(fl_stmt_t *s, int i, int64_t v);
void sq_str(fl_stmt_t *s, int i, const char *v); /* NULL binds SQL NULL */
void sq_blob(fl_stmt_t *s, int i, const void *p, size_t len);
int sq_step(fl_stmt_t *s);
void sq_reset(fl_stmt_t *s);
/* Runs a statement without rows and resets it: FL_OK or FL_EINTERNAL. */
int sq_run(fl_stmt_t *s);
bool sq_null(fl_stmt_t *s, int col);
int64_t sq_col(fl_stmt_t *s, int col);
char *sq_text(fl_stmt_t *s, int col, fl_arena_t *a); /* NULL for SQL NULL */
int64_t sq_changes(fl_stmt_t *s);

/* Fault injection: true when the writer's next statement (or commit) is the one to fail. */
bool fl_store_fault_hit(const fl_db_t *db);

/* The highest ?N placeholder in sql (drivers size their parameter arrays with it). */
int sq_count_params(const char *sql);

#endif
