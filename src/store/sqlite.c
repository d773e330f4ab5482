/*
 * sqlite.c - the embedded SQLite backend: schema and migrations, connections, statements,
 * and the checkpointer thread.
 *
 * Durability: WAL mode with synchronous=FULL, so a COMMIT returns only once the WAL is synced.
 * The writer never checkpoints (that would put a database fsync inside a commit); the
 * checkpointer thread does it beside the commits. SQLite serves one flowd node: the writer
 * holds an exclusive flock on the database file, so a second flowd on the same file stops
 * at start-up instead of sending every dispatch twice.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

#define SCHEMA_VERSION 7

typedef struct {
    fl_db_t base;
    sqlite3 *h;
    int lock_fd; /* the writer's flock on the database file, or -1 */
} lite_db_t;

typedef struct {
    pthread_t checkpointer;
    bool running;
} lite_store_t;

static const char *schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, region TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS access_keys(ak TEXT PRIMARY KEY, secret TEXT NOT NULL,"
    " account_id INTEGER NOT NULL, user_name TEXT, enabled INTEGER NOT NULL DEFAULT 1,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users(account_id INTEGER NOT NULL, name TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, PRIMARY KEY(account_id, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS policies(account_id INTEGER NOT NULL, user_name TEXT NOT NULL,"
    " name TEXT NOT NULL, document TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    " PRIMARY KEY(account_id, user_name, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS queues(account_id INTEGER NOT NULL, name TEXT NOT NULL,"
    " attrs TEXT NOT NULL, created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL,"
    " PRIMARY KEY(account_id, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL,"
    " queue TEXT NOT NULL, body TEXT NOT NULL, priority INTEGER NOT NULL,"
    " enqueue_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL, expire_ms INTEGER NOT NULL,"
    " first_dequeue_ms INTEGER NOT NULL DEFAULT 0, dequeue_count INTEGER NOT NULL DEFAULT 0,"
    " receipt TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_ready ON messages(account_id, queue, visible_ms);"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages(receipt);"
    "CREATE TABLE IF NOT EXISTS defs(id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
    " text TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS flows(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, uuid TEXT NOT NULL, def_id INTEGER NOT NULL,"
    " description TEXT NOT NULL, type TEXT NOT NULL, role_arn TEXT NOT NULL,"
    " mode TEXT NOT NULL, environment TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    " modified_ms INTEGER NOT NULL, UNIQUE(account_id, name));"
    "CREATE TABLE IF NOT EXISTS executions(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " flow_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, status INTEGER NOT NULL, def_id INTEGER NOT NULL, input TEXT NOT NULL,"
    " output TEXT, error_code TEXT, error_message TEXT, started_ms INTEGER NOT NULL,"
    " stopped_ms INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, parent_token TEXT,"
    " UNIQUE(flow_id, name));"
    "CREATE TABLE IF NOT EXISTS events(exec_id INTEGER NOT NULL, event_id INTEGER NOT NULL,"
    " type TEXT NOT NULL, step TEXT NOT NULL, sched_id INTEGER NOT NULL,"
    " time_ms INTEGER NOT NULL, detail TEXT NOT NULL, PRIMARY KEY(exec_id, event_id))"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tasks(exec_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " step TEXT NOT NULL, sched_id INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    " timeout_ms INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, request_id TEXT,"
    " event_id INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 1,"
    " PRIMARY KEY(exec_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS timers(id INTEGER PRIMARY KEY AUTOINCREMENT, due_ms INTEGER NOT NULL,"
    " exec_id INTEGER NOT NULL, kind INTEGER NOT NULL, seq INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS timers_due ON timers(due_ms);"
    "CREATE INDEX IF NOT EXISTS timers_exec ON timers(exec_id);"
    "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, exec_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_next ON outbox(next_ms);"
    "CREATE INDEX IF NOT EXISTS outbox_exec ON outbox(exec_id);"
    "CREATE TABLE IF NOT EXISTS nonces(ak TEXT NOT NULL, nonce TEXT NOT NULL,"
    " expire_ms INTEGER NOT NULL, PRIMARY KEY(ak, nonce)) WITHOUT ROWID;";

static int db_exec(lite_db_t *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &err) != SQLITE_OK) {
        fl_error("sqlite: %s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return FL_EINTERNAL;
    }
    return FL_OK;
}

static int lite_exec(fl_db_t *base, const char *sql)
{
    lite_db_t *db = (lite_db_t *)base;
    if (strcmp(sql, "ROLLBACK") == 0 && sqlite3_get_autocommit(db->h))
        return FL_OK; /* nothing open: the failed BEGIN or COMMIT already ended it */
    return db_exec(db, sql) == FL_OK ? FL_OK : SQ_ERROR;
}

/* Brings a database made by an older flowd up to this schema; PRAGMA user_version counts
 * the steps applied. Version 2 added executions.parent_token (sub-flows), version 3
 * tasks.attempt, version 4 made timer and outbox ids never reused, version 5 execution
 * ids, version 6 message ids, version 7 claim leases. */
static int lite_migrate(fl_db_t *base, int *from, int *to)
{
    lite_db_t *db = (lite_db_t *)base;
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (db_exec(db, schema_sql))
        return FL_EINTERNAL;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    *from = version;
    *to = SCHEMA_VERSION;
    if (version > SCHEMA_VERSION) {
        fl_error("sqlite: the database has schema version %d, newer than this flowd knows"
                 " (%d); use a newer flowd", version, SCHEMA_VERSION);
        return FL_EINTERNAL;
    }
    if (version < 2) {
        bool has = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM pragma_table_info('executions')"
                               " WHERE name = 'parent_token'", -1, &st, NULL) == SQLITE_OK)
            has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!has && db_exec(db, "ALTER TABLE executions ADD COLUMN parent_token TEXT"))
            return FL_EINTERNAL;
    }
    if (version < 3) {
        bool has = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM pragma_table_info('tasks')"
                               " WHERE name = 'attempt'", -1, &st, NULL) == SQLITE_OK)
            has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!has && db_exec(db, "ALTER TABLE tasks ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1"))
            return FL_EINTERNAL;
    }
    if (version < 4) {
        /* Timer and outbox ids must never be reused: the worker reads due rows, then deletes
         * them by id in a later transaction, and a reused id would name another row. */
        static const char *const sql =
            "CREATE TABLE IF NOT EXISTS timers4(id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " due_ms INTEGER NOT NULL, exec_id INTEGER NOT NULL, kind INTEGER NOT NULL,"
            " seq INTEGER NOT NULL);"
            "INSERT INTO timers4 SELECT id, due_ms, exec_id, kind, seq FROM timers;"
            "DROP TABLE timers; ALTER TABLE timers4 RENAME TO timers;"
            "CREATE INDEX IF NOT EXISTS timers_due ON timers(due_ms);"
            "CREATE INDEX IF NOT EXISTS timers_exec ON timers(exec_id);"
            "CREATE TABLE IF NOT EXISTS outbox4(id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " exec_id INTEGER NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL);"
            "INSERT INTO outbox4 SELECT id, exec_id, seq, payload, attempts, next_ms FROM outbox;"
            "DROP TABLE outbox; ALTER TABLE outbox4 RENAME TO outbox;"
            "CREATE INDEX IF NOT EXISTS outbox_next ON outbox(next_ms);"
            "CREATE INDEX IF NOT EXISTS outbox_exec ON outbox(exec_id);";
        bool autoinc = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM sqlite_master WHERE name = 'outbox'"
                               " AND sql LIKE '%AUTOINCREMENT%'", -1, &st, NULL) == SQLITE_OK)
            autoinc = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!autoinc && (db_exec(db, "BEGIN") || db_exec(db, sql) || db_exec(db, "COMMIT")))
            return FL_EINTERNAL;
    }
    if (version < 5) {
        /* Execution ids must never be reused either: a task token names its execution by
         * id, and a token of a deleted execution must not reach a newer one. */
        static const char *const sql =
            "CREATE TABLE executions5(id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " flow_id INTEGER NOT NULL, name TEXT NOT NULL, status INTEGER NOT NULL,"
            " def_id INTEGER NOT NULL, input TEXT NOT NULL, output TEXT, error_code TEXT,"
            " error_message TEXT, started_ms INTEGER NOT NULL,"
            " stopped_ms INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, parent_token TEXT,"
            " UNIQUE(flow_id, name));"
            "INSERT INTO executions5 SELECT id, flow_id, name, status, def_id, input, output,"
            " error_code, error_message, started_ms, stopped_ms, state, parent_token"
            " FROM executions;"
            "DROP TABLE executions; ALTER TABLE executions5 RENAME TO executions;";
        bool autoinc = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM sqlite_master WHERE name = 'executions'"
                               " AND sql LIKE '%AUTOINCREMENT%'", -1, &st, NULL) == SQLITE_OK)
            autoinc = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!autoinc && (db_exec(db, "BEGIN") || db_exec(db, sql) || db_exec(db, "COMMIT")))
            return FL_EINTERNAL;
    }
    if (version < 6) {
        /* Message ids too: a MessageId names one message for good (workers dedupe by it). */
        static const char *const sql =
            "CREATE TABLE messages6(id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " account_id INTEGER NOT NULL, queue TEXT NOT NULL, body TEXT NOT NULL,"
            " priority INTEGER NOT NULL, enqueue_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL,"
            " expire_ms INTEGER NOT NULL, first_dequeue_ms INTEGER NOT NULL DEFAULT 0,"
            " dequeue_count INTEGER NOT NULL DEFAULT 0, receipt TEXT);"
            "INSERT INTO messages6 SELECT id, account_id, queue, body, priority, enqueue_ms,"
            " visible_ms, expire_ms, first_dequeue_ms, dequeue_count, receipt FROM messages;"
            "DROP TABLE messages; ALTER TABLE messages6 RENAME TO messages;"
            "CREATE INDEX IF NOT EXISTS messages_ready ON messages(account_id, queue, visible_ms);"
            "CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages(receipt);";
        bool autoinc = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM sqlite_master WHERE name = 'messages'"
                               " AND sql LIKE '%AUTOINCREMENT%'", -1, &st, NULL) == SQLITE_OK)
            autoinc = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!autoinc && (db_exec(db, "BEGIN") || db_exec(db, sql) || db_exec(db, "COMMIT")))
            return FL_EINTERNAL;
    }
    if (version < 7) {
        /* Leases on timer and outbox claims (shared with the PostgreSQL schema; one SQLite
         * node never has to wait one out) and the nonce table of several nodes. */
        bool has = false;
        if (sqlite3_prepare_v2(db->h, "SELECT 1 FROM pragma_table_info('timers')"
                               " WHERE name = 'lease_ms'", -1, &st, NULL) == SQLITE_OK)
            has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!has && (db_exec(db, "ALTER TABLE timers ADD COLUMN lease_ms INTEGER NOT NULL"
                                 " DEFAULT 0") ||
                     db_exec(db, "ALTER TABLE timers ADD COLUMN owner TEXT") ||
                     db_exec(db, "ALTER TABLE outbox ADD COLUMN lease_ms INTEGER NOT NULL"
                                 " DEFAULT 0") ||
                     db_exec(db, "ALTER TABLE outbox ADD COLUMN owner TEXT")))
            return FL_EINTERNAL;
    }
    return db_exec(db, "PRAGMA user_version = 7");
}

static void lite_close(fl_db_t *base)
{
    lite_db_t *db = (lite_db_t *)base;
    if (!db)
        return;
    sqlite3_close(db->h);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    free(db);
}

static fl_db_t *lite_open(fl_store_t *st, bool writer)
{
    lite_db_t *db = xcalloc(1, sizeof *db);
    db->base.ops = &fl_sqlite_ops;
    db->base.store = st;
    db->base.writer = writer;
    db->lock_fd = -1;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(st->target, &db->h, flags, NULL) != SQLITE_OK) {
        fl_error("sqlite: cannot open %s: %s", st->target, sqlite3_errmsg(db->h));
        lite_close(&db->base);
        return NULL;
    }
    if (writer) {
        db->lock_fd = open(st->target, O_RDONLY | O_CLOEXEC);
        if (db->lock_fd < 0 || flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            fl_error("sqlite: %s is in use by another flowd; an SQLite database serves one"
                     " node (use PostgreSQL for several)", st->target);
            lite_close(&db->base);
            return NULL;
        }
    }
    sqlite3_busy_timeout(db->h, 5000);
    /* A larger page cache and memory-mapped reads keep random-order reports (scattered
     * task and execution pages) off the read syscalls. */
    if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                    " PRAGMA cache_size=-65536; PRAGMA mmap_size=134217728;") ||
        (writer && db_exec(db, "PRAGMA wal_autocheckpoint=0"))) {
        lite_close(&db->base);
        return NULL;
    }
    return &db->base;
}

static int lite_prepare(fl_stmt_t *s)
{
    lite_db_t *db = (lite_db_t *)s->db;
    sqlite3_stmt *h = NULL;
    if (sqlite3_prepare_v3(db->h, fl_sql_text[s->q], -1, SQLITE_PREPARE_PERSISTENT, &h, NULL) !=
        SQLITE_OK) {
        fl_error("sqlite: prepare %s: %s", fl_sql_text[s->q], sqlite3_errmsg(db->h));
        return FL_EINTERNAL;
    }
    s->h = h;
    s->n_params = sqlite3_bind_parameter_count(h);
    return FL_OK;
}

static void lite_finalize(fl_stmt_t *s)
{
    sqlite3_finalize(s->h);
}

static void bind(fl_stmt_t *s)
{
    sqlite3_stmt *h = s->h;
    for (int i = 0; i < s->n_params; i++) {
        const sq_param_t *p = &s->p[i];
        switch (p->type) {
        case SQ_INT:
            sqlite3_bind_int64(h, i + 1, p->i);
            break;
        case SQ_TEXT:
            sqlite3_bind_text(h, i + 1, p->p, (int)p->len, SQLITE_STATIC);
            break;
        case SQ_BLOB:
            sqlite3_bind_blob(h, i + 1, p->p, (int)p->len, SQLITE_STATIC);
            break;
        default:
            sqlite3_bind_null(h, i + 1);
        }
    }
}

static int lite_step(fl_stmt_t *s)
{
    lite_db_t *db = (lite_db_t *)s->db;
    if (s->row++ == 0)
        bind(s);
    int rc = sqlite3_step(s->h);
    switch (rc) {
    case SQLITE_ROW:
        return SQ_ROW;
    case SQLITE_DONE:
        return SQ_DONE;
    case SQLITE_CONSTRAINT:
        return SQ_CONFLICT;
    default:
        fl_error("sqlite: %s: %s", sqlite3_sql(s->h), sqlite3_errmsg(db->h));
        return SQ_ERROR;
    }
}

static void lite_reset(fl_stmt_t *s)
{
    sqlite3_reset(s->h);
    sqlite3_clear_bindings(s->h);
    s->row = 0;
}

static bool lite_is_null(fl_stmt_t *s, int col)
{
    return sqlite3_column_type(s->h, col) == SQLITE_NULL;
}

static int64_t lite_col_int(fl_stmt_t *s, int col)
{
    return sqlite3_column_int64(s->h, col);
}

static const char *lite_col_bytes(fl_stmt_t *s, int col, size_t *len)
{
    int type = sqlite3_column_type(s->h, col);
    *len = 0;
    if (type == SQLITE_NULL)
        return NULL;
    const char *p = type == SQLITE_BLOB ? sqlite3_column_blob(s->h, col)
                                        : (const char *)sqlite3_column_text(s->h, col);
    *len = (size_t)sqlite3_column_bytes(s->h, col);
    return p ? p : "";
}

static int64_t lite_changes(fl_stmt_t *s)
{
    return sqlite3_changes(((lite_db_t *)s->db)->h);
}

/* Checkpoints the WAL into the database from its own connection every 200 ms (PASSIVE: it
 * never waits for the writer or readers), so commits only ever append to the WAL. A WAL
 * that keeps growing past 64 MiB gets a RESTART checkpoint, which waits for readers. */
static void *checkpointer_main(void *arg)
{
    fl_store_t *st = arg;
    lite_db_t *db = (lite_db_t *)lite_open(st, false);
    if (!db)
        return NULL;
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->stop_cv, &st->mu, &ts);
        if (st->stopping)
            break;
        pthread_mutex_unlock(&st->mu);
        int log = 0, done = 0;
        sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (log > 16384 && done < log) /* pages of 4 KiB: 64 MiB not yet checkpointed */
            sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    lite_close(&db->base);
    return NULL;
}

static void lite_start(fl_store_t *st)
{
    lite_store_t *ls = xcalloc(1, sizeof *ls);
    st->backend = ls;
    ls->running = pthread_create(&ls->checkpointer, NULL, checkpointer_main, st) == 0;
    FL_ASSERT(ls->running);
}

/* Called after stopping was set and the stop condition broadcast. */
static void lite_stop(fl_store_t *st)
{
    lite_store_t *ls = st->backend;
    if (!ls)
        return;
    if (ls->running)
        pthread_join(ls->checkpointer, NULL);
    free(ls);
    st->backend = NULL;
}

const fl_store_ops_t fl_sqlite_ops = {
    .name = "sqlite",
    .shared = false,
    .begin_sql = "BEGIN IMMEDIATE",
    .open = lite_open,
    .close = lite_close,
    .migrate = lite_migrate,
    .exec = lite_exec,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .step = lite_step,
    .reset = lite_reset,
    .is_null = lite_is_null,
    .col_int = lite_col_int,
    .col_bytes = lite_col_bytes,
    .changes = lite_changes,
    .start = lite_start,
    .stop = lite_stop,
};
