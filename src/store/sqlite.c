/*
 * sqlite.c - the embedded SQLite store: schema, the writer thread with group commit, per-thread
 * read connections, and every query of store.h.
 *
 * Durability: WAL mode with synchronous=FULL, so a COMMIT returns only once the WAL is synced.
 * Many jobs share one transaction (group commit); each job has its own savepoint so one job's
 * failure rolls back only that job. Statements are prepared once per connection and cached.
 */
#include <openssl/sha.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* ---------------------------------------------------------------------------------------- */
/* Schema and statements                                                                    */
/* ---------------------------------------------------------------------------------------- */

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
    "CREATE INDEX IF NOT EXISTS outbox_exec ON outbox(exec_id);";

#define FLOW_COLS                                                                              \
    "f.id, f.account_id, f.name, f.uuid, f.def_id, f.description, f.type, f.role_arn, f.mode," \
    " f.environment, f.created_ms, f.modified_ms"
#define EXEC_COLS                                                                              \
    "e.id, e.flow_id, f.name, e.name, e.status, e.def_id, e.input, e.output, e.error_code,"    \
    " e.error_message, e.started_ms, e.stopped_ms, e.state, f.account_id, e.parent_token"

enum {
    Q_META_GET, Q_META_PUT, Q_ACCOUNT_PUT, Q_KEY_PUT, Q_KEYS_ALL,
    Q_ACCOUNT_INSERT, Q_ACCOUNT_GET, Q_ACCOUNT_LIST, Q_USER_INSERT, Q_USER_GET, Q_USER_LIST,
    Q_KEY_INSERT, Q_KEY_ENABLE, Q_KEY_DELETE, Q_KEY_LIST, Q_POLICY_PUT, Q_POLICY_DELETE,
    Q_POLICY_LIST, Q_QUEUE_PUT, Q_QUEUE_GET, Q_QUEUE_LIST, Q_QUEUE_DELETE, Q_QUEUE_PURGE,
    Q_QUEUE_COUNTS, Q_MSG_INSERT, Q_MSG_READY, Q_MSG_TAKE, Q_MSG_PEEK, Q_MSG_BY_RECEIPT,
    Q_MSG_DELETE, Q_MSG_VISIBLE, Q_MSG_EXPIRE, Q_TASK_WAITING, Q_OUTBOX_NEXT,
    Q_DEF_FIND, Q_DEF_INSERT, Q_DEF_GET,
    Q_FLOW_INSERT, Q_FLOW_UPDATE, Q_FLOW_GET, Q_FLOW_GET_ID, Q_FLOW_LIST, Q_FLOW_DELETE,
    Q_FLOW_DEL_EVENTS, Q_FLOW_DEL_TASKS, Q_FLOW_DEL_TIMERS, Q_FLOW_DEL_OUTBOX, Q_FLOW_DEL_EXECS,
    Q_EXEC_INSERT, Q_EXEC_UPDATE, Q_EXEC_GET, Q_EXEC_GET_ID, Q_EXEC_LIST,
    Q_EVENT_INSERT, Q_EVENT_LIST,
    Q_TASK_INSERT, Q_TASK_GET, Q_TASK_COMPLETE,
    Q_TIMER_INSERT, Q_TIMER_DELETE, Q_TIMER_DELETE_EXEC, Q_TIMER_DUE, Q_TIMER_NEXT,
    Q_OUTBOX_INSERT, Q_OUTBOX_DELETE, Q_OUTBOX_DELETE_EXEC, Q_OUTBOX_RETRY, Q_OUTBOX_DUE,
    Q__COUNT
};

static const char *const sql_text[Q__COUNT] = {
    [Q_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [Q_META_PUT] = "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)",
    [Q_ACCOUNT_PUT] = "INSERT OR IGNORE INTO accounts(id, region, created_ms) VALUES(?1, ?2, ?3)",
    [Q_KEY_PUT] = "INSERT INTO access_keys(ak, secret, account_id, created_ms)"
                  " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(ak) DO UPDATE SET secret = ?2,"
                  " account_id = ?3, enabled = 1",
    [Q_KEYS_ALL] = "SELECT ak, secret, account_id, user_name, enabled, created_ms"
                   " FROM access_keys",
    [Q_ACCOUNT_INSERT] = "INSERT INTO accounts(id, region, created_ms) VALUES(?1, ?2, ?3)",
    [Q_ACCOUNT_GET] = "SELECT id, region, created_ms FROM accounts WHERE id = ?1",
    [Q_ACCOUNT_LIST] = "SELECT id, region, created_ms FROM accounts ORDER BY id",
    [Q_USER_INSERT] = "INSERT INTO users(account_id, name, created_ms) VALUES(?1, ?2, ?3)",
    [Q_USER_GET] = "SELECT name, created_ms FROM users WHERE account_id = ?1 AND name = ?2",
    [Q_USER_LIST] = "SELECT name, created_ms FROM users WHERE account_id = ?1 ORDER BY name",
    [Q_KEY_INSERT] = "INSERT INTO access_keys(ak, secret, account_id, user_name, enabled,"
                     " created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_KEY_ENABLE] = "UPDATE access_keys SET enabled = ?3 WHERE account_id = ?1 AND ak = ?2",
    [Q_KEY_DELETE] = "DELETE FROM access_keys WHERE account_id = ?1 AND ak = ?2",
    [Q_KEY_LIST] = "SELECT ak, NULL, account_id, user_name, enabled, created_ms FROM access_keys"
                   " WHERE account_id = ?1 AND (?2 IS NULL OR user_name = ?2) ORDER BY created_ms, ak",
    [Q_QUEUE_PUT] = "INSERT INTO queues(account_id, name, attrs, created_ms, modified_ms)"
                    " VALUES(?1, ?2, ?3, ?4, ?4) ON CONFLICT(account_id, name) DO UPDATE SET"
                    " attrs = ?3, modified_ms = ?4 WHERE ?5",
    [Q_QUEUE_GET] = "SELECT name, attrs, created_ms, modified_ms FROM queues"
                    " WHERE account_id = ?1 AND name = ?2",
    [Q_QUEUE_LIST] = "SELECT name, attrs, created_ms, modified_ms FROM queues WHERE account_id = ?1"
                     " AND name >= ?2 AND substr(name, 1, length(?3)) = ?3 ORDER BY name LIMIT ?4",
    [Q_QUEUE_DELETE] = "DELETE FROM queues WHERE account_id = ?1 AND name = ?2",
    [Q_QUEUE_PURGE] = "DELETE FROM messages WHERE account_id = ?1 AND queue = ?2",
    [Q_QUEUE_COUNTS] = "SELECT count(*), coalesce(sum(visible_ms > ?3 AND dequeue_count > 0), 0),"
                       " coalesce(sum(visible_ms > ?3 AND dequeue_count = 0), 0) FROM messages"
                       " WHERE account_id = ?1 AND queue = ?2",
    [Q_MSG_INSERT] = "INSERT INTO messages(account_id, queue, body, priority, enqueue_ms,"
                     " visible_ms, expire_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_MSG_READY] = "SELECT id, body, priority, enqueue_ms, visible_ms, expire_ms,"
                    " first_dequeue_ms, dequeue_count, receipt FROM messages"
                    " WHERE account_id = ?1 AND queue = ?2 AND visible_ms <= ?3"
                    " ORDER BY priority, id LIMIT ?4",
    [Q_MSG_TAKE] = "UPDATE messages SET visible_ms = ?2, receipt = ?3, dequeue_count ="
                   " dequeue_count + 1, first_dequeue_ms = CASE WHEN first_dequeue_ms = 0 THEN ?4"
                   " ELSE first_dequeue_ms END WHERE id = ?1",
    [Q_MSG_PEEK] = "SELECT id, body, priority, enqueue_ms, visible_ms, expire_ms,"
                   " first_dequeue_ms, dequeue_count, NULL FROM messages"
                   " WHERE account_id = ?1 AND queue = ?2 AND visible_ms <= ?3"
                   " ORDER BY priority, id LIMIT ?4",
    [Q_MSG_BY_RECEIPT] = "SELECT id, body, priority, enqueue_ms, visible_ms, expire_ms,"
                         " first_dequeue_ms, dequeue_count, receipt FROM messages"
                         " WHERE account_id = ?1 AND queue = ?2 AND receipt = ?3",
    [Q_MSG_DELETE] = "DELETE FROM messages WHERE id = ?1",
    [Q_MSG_VISIBLE] = "UPDATE messages SET visible_ms = ?2, receipt = ?3 WHERE id = ?1",
    [Q_MSG_EXPIRE] = "DELETE FROM messages WHERE account_id = ?1 AND queue = ?2 AND expire_ms <= ?3",
    [Q_TASK_WAITING] = "SELECT t.exec_id, t.seq, t.step, t.created_ms, t.timeout_ms, e.name,"
                       " t.attempt FROM tasks t"
                       " JOIN executions e ON e.id = t.exec_id"
                       " WHERE e.flow_id = ?1 AND t.done = 0 AND (?2 IS NULL OR e.name = ?2)"
                       " AND (t.exec_id > ?3 OR (t.exec_id = ?3 AND t.seq >= ?4))"
                       " ORDER BY t.exec_id, t.seq LIMIT ?5",
    [Q_POLICY_PUT] = "INSERT OR REPLACE INTO policies(account_id, user_name, name, document,"
                     " created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_POLICY_DELETE] = "DELETE FROM policies WHERE account_id = ?1 AND user_name = ?2 AND name = ?3",
    [Q_POLICY_LIST] = "SELECT account_id, user_name, name, document, created_ms FROM policies"
                      " WHERE (?1 = 0 OR account_id = ?1) AND (?2 IS NULL OR user_name = ?2)"
                      " ORDER BY account_id, user_name, name",
    [Q_DEF_FIND] = "SELECT id FROM defs WHERE hash = ?1",
    [Q_DEF_INSERT] = "INSERT INTO defs(hash, text) VALUES(?1, ?2)",
    [Q_DEF_GET] = "SELECT text FROM defs WHERE id = ?1",
    [Q_FLOW_INSERT] = "INSERT INTO flows(account_id, name, uuid, def_id, description, type,"
                      " role_arn, mode, environment, created_ms, modified_ms)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_FLOW_UPDATE] = "UPDATE flows SET def_id = ?2, description = ?3, type = ?4, role_arn = ?5,"
                      " environment = ?6, modified_ms = ?7 WHERE id = ?1",
    [Q_FLOW_GET] = "SELECT " FLOW_COLS ", d.text FROM flows f JOIN defs d ON d.id = f.def_id"
                   " WHERE f.account_id = ?1 AND f.name = ?2",
    [Q_FLOW_GET_ID] = "SELECT " FLOW_COLS ", d.text FROM flows f JOIN defs d ON d.id = f.def_id"
                      " WHERE f.id = ?1",
    [Q_FLOW_LIST] = "SELECT " FLOW_COLS ", d.text FROM flows f JOIN defs d ON d.id = f.def_id"
                    " WHERE f.account_id = ?1 AND f.name >= ?2 ORDER BY f.name LIMIT ?3",
    [Q_FLOW_DELETE] = "DELETE FROM flows WHERE id = ?1",
    [Q_FLOW_DEL_EVENTS] = "DELETE FROM events WHERE exec_id IN"
                          " (SELECT id FROM executions WHERE flow_id = ?1)",
    [Q_FLOW_DEL_TASKS] = "DELETE FROM tasks WHERE exec_id IN"
                         " (SELECT id FROM executions WHERE flow_id = ?1)",
    [Q_FLOW_DEL_TIMERS] = "DELETE FROM timers WHERE exec_id IN"
                          " (SELECT id FROM executions WHERE flow_id = ?1)",
    [Q_FLOW_DEL_OUTBOX] = "DELETE FROM outbox WHERE exec_id IN"
                          " (SELECT id FROM executions WHERE flow_id = ?1)",
    [Q_FLOW_DEL_EXECS] = "DELETE FROM executions WHERE flow_id = ?1",
    [Q_EXEC_INSERT] = "INSERT INTO executions(flow_id, name, status, def_id, input, output,"
                      " error_code, error_message, started_ms, stopped_ms, state, parent_token)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [Q_EXEC_UPDATE] = "UPDATE executions SET status = ?2, output = ?3, error_code = ?4,"
                      " error_message = ?5, stopped_ms = ?6, state = ?7 WHERE id = ?1",
    [Q_EXEC_GET] = "SELECT " EXEC_COLS ", d.text FROM executions e JOIN flows f ON"
                   " f.id = e.flow_id JOIN defs d ON d.id = e.def_id"
                   " WHERE e.flow_id = ?1 AND e.name = ?2",
    [Q_EXEC_GET_ID] = "SELECT " EXEC_COLS ", NULL FROM executions e JOIN flows f ON"
                      " f.id = e.flow_id WHERE e.id = ?1",
    [Q_EXEC_LIST] = "SELECT " EXEC_COLS ", d.text FROM executions e JOIN flows f ON"
                    " f.id = e.flow_id JOIN defs d ON d.id = e.def_id"
                    " WHERE e.flow_id = ?1 AND e.id >= ?2 AND (?3 = 0 OR e.status = ?3)"
                    " AND (?4 IS NULL OR substr(e.name, 1, length(?4)) = ?4)"
                    " AND (?5 = 0 OR e.started_ms >= ?5) AND (?6 = 0 OR e.started_ms <= ?6)"
                    " ORDER BY e.id LIMIT ?7",
    [Q_EVENT_INSERT] = "INSERT INTO events(exec_id, event_id, type, step, sched_id, time_ms,"
                       " detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_EVENT_LIST] = "SELECT event_id, sched_id, type, step, time_ms, detail FROM events"
                     " WHERE exec_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3",
    [Q_TASK_INSERT] = "INSERT INTO tasks(exec_id, seq, step, sched_id, created_ms, timeout_ms,"
                      " attempt) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_TASK_GET] = "SELECT step, sched_id, created_ms, timeout_ms, done, request_id, event_id"
                   " FROM tasks WHERE exec_id = ?1 AND seq = ?2",
    [Q_TASK_COMPLETE] = "UPDATE tasks SET done = 1, request_id = ?3, event_id = ?4"
                        " WHERE exec_id = ?1 AND seq = ?2",
    [Q_TIMER_INSERT] = "INSERT INTO timers(due_ms, exec_id, kind, seq) VALUES(?1, ?2, ?3, ?4)",
    [Q_TIMER_DELETE] = "DELETE FROM timers WHERE id = ?1",
    [Q_TIMER_DELETE_EXEC] = "DELETE FROM timers WHERE exec_id = ?1",
    [Q_TIMER_DUE] = "SELECT id, due_ms, exec_id, kind, seq FROM timers WHERE due_ms <= ?1"
                    " ORDER BY due_ms LIMIT ?2",
    [Q_TIMER_NEXT] = "SELECT min(due_ms) FROM timers",
    [Q_OUTBOX_NEXT] = "SELECT min(next_ms) FROM outbox WHERE next_ms > ?1",
    [Q_OUTBOX_INSERT] = "INSERT INTO outbox(exec_id, seq, payload, next_ms) VALUES(?1, ?2, ?3, ?4)",
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    [Q_OUTBOX_DELETE_EXEC] = "DELETE FROM outbox WHERE exec_id = ?1",
    [Q_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_ms = ?2 WHERE id = ?1",
    [Q_OUTBOX_DUE] = "SELECT id, exec_id, seq, payload, attempts, next_ms FROM outbox"
                     " WHERE next_ms <= ?1 ORDER BY id LIMIT ?2",
};

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                              */
/* ---------------------------------------------------------------------------------------- */

struct fl_db {
    sqlite3 *h;
    sqlite3_stmt *stmt[Q__COUNT];
    bool kicked; /* the current write job inserted timer/outbox rows */
    bool writer; /* the writer thread's connection */
    fl_db_t *next_reader; /* in the store's idle list */
    fl_store_t *store;
};

struct job {
    fl_store_job_fn fn;
    void *arg;
    int rc;
    sem_t done; /* posted once the job's transaction has ended: wakes only its caller */
    struct job *next;
};

struct fl_store {
    char *path;
    fl_db_t *writer;
    pthread_t thread;
    pthread_t checkpointer;
    pthread_cond_t stop_cv; /* wakes the checkpointer at close */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* jobs queued or stopping */
    struct job *head, *tail;
    bool stopping;
    pthread_key_t reader_key;
    fl_db_t *idle;    /* read connections of threads that ended, for reuse (guarded by mu) */
    int n_idle;
    void (*on_commit)(void *);
    void *on_commit_arg;
};

/* Fault injection for tests: with FL_FAULT_STORE=N, the Nth statement (or COMMIT) that the
 * writer runs after fl_store_arm_faults() fails as an I/O error would. Reads never fail,
 * so background polling cannot consume the fault. */
static atomic_long fault_at = -1;
static atomic_long fault_count;
static atomic_bool fault_armed;

static int fault_hit(const fl_db_t *db)
{
    long at = atomic_load(&fault_at);
    if (at < 0 || !atomic_load(&fault_armed) || !db->writer)
        return 0;
    return atomic_fetch_add(&fault_count, 1) + 1 == at;
}

void fl_store_arm_faults(void)
{
    atomic_store(&fault_armed, true);
}

static int db_exec(fl_db_t *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &err) != SQLITE_OK) {
        fl_error("sqlite: %s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return FL_EINTERNAL;
    }
    return FL_OK;
}

/* Brings a database made by an older flowd up to this schema; PRAGMA user_version counts
 * the steps applied. Version 2 added executions.parent_token (sub-flows), version 3
 * tasks.attempt, version 4 made timer and outbox ids never reused, version 5 execution
 * ids, version 6 message ids. */
static int migrate(fl_db_t *db)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
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
    return db_exec(db, "PRAGMA user_version = 6");
}

static fl_db_t *db_open(const char *path, bool writer)
{
    fl_db_t *db = xcalloc(1, sizeof *db);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        fl_error("sqlite: cannot open %s: %s", path, sqlite3_errmsg(db->h));
        sqlite3_close(db->h);
        free(db);
        return NULL;
    }
    sqlite3_busy_timeout(db->h, 5000);
    db->writer = writer;
    /* A larger page cache and memory-mapped reads keep random-order reports (scattered
     * task and execution pages) off the read syscalls. The writer never checkpoints: that
     * would put a database fsync inside a commit (the p99 tail); the checkpointer thread
     * does it beside the commits. */
    if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                    " PRAGMA cache_size=-65536; PRAGMA mmap_size=134217728;") ||
        (writer && db_exec(db, "PRAGMA wal_autocheckpoint=0")) ||
        (writer && (db_exec(db, schema_sql) || migrate(db)))) {
        sqlite3_close(db->h);
        free(db);
        return NULL;
    }
    return db;
}

static void db_close(fl_db_t *db)
{
    if (!db)
        return;
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(db->stmt[i]);
    sqlite3_close(db->h);
    free(db);
}

/* Returns the cached, reset statement q of db, or NULL (logged) if it cannot be prepared. */
static sqlite3_stmt *stmt(fl_db_t *db, int q)
{
    sqlite3_stmt *s = db->stmt[q];
    if (!s) {
        if (sqlite3_prepare_v3(db->h, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            fl_error("sqlite: prepare %s: %s", sql_text[q], sqlite3_errmsg(db->h));
            return NULL;
        }
        db->stmt[q] = s;
    }
    return s;
}

/* Steps s; returns SQLITE_ROW, SQLITE_DONE, or another code (logged). */
static int step(fl_db_t *db, sqlite3_stmt *s)
{
    if (fault_hit(db)) {
        fl_warn("sqlite: injected fault at %s", sqlite3_sql(s));
        return SQLITE_IOERR;
    }
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT)
        fl_error("sqlite: %s: %s", sqlite3_sql(s), sqlite3_errmsg(db->h));
    return rc;
}

/* Runs a statement that returns no rows; the statement is reset afterwards. */
static int run(fl_db_t *db, sqlite3_stmt *s)
{
    int rc = step(db, s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? FL_OK : FL_EINTERNAL;
}

static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static char *col_str(sqlite3_stmt *s, int i, fl_arena_t *a)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    return fl_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

static void bind_str(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

#define PREP(db, q)                                                                            \
    sqlite3_stmt *s = stmt((db), (q));                                                         \
    if (!s)                                                                                    \
        return FL_EINTERNAL

/* ---------------------------------------------------------------------------------------- */
/* Writer thread and group commit                                                           */
/* ---------------------------------------------------------------------------------------- */

#define BATCH_MAX 512

static void *writer_main(void *arg)
{
    fl_store_t *st = arg;
    fl_db_t *db = st->writer;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping)
            pthread_cond_wait(&st->work_cv, &st->mu);
        if (!st->head && st->stopping)
            break;
        struct job *batch = st->head;
        int n = 0;
        struct job *last = batch;
        while (last->next && n < BATCH_MAX - 1) {
            last = last->next;
            n++;
        }
        st->head = last->next;
        if (!st->head)
            st->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&st->mu);

        bool kicked = false;
        int crc = db_exec(db, "BEGIN IMMEDIATE");
        for (struct job *j = batch; j; j = j->next) {
            if (crc) {
                j->rc = FL_EINTERNAL;
                continue;
            }
            db->kicked = false;
            if (db_exec(db, "SAVEPOINT job")) {
                j->rc = FL_EINTERNAL;
                continue;
            }
            j->rc = j->fn(db, j->arg);
            if (j->rc != FL_OK) {
                db_exec(db, "ROLLBACK TO job");
            } else if (db->kicked) {
                kicked = true;
            }
            db_exec(db, "RELEASE job");
        }
        if (!crc && (fault_hit(db) || db_exec(db, "COMMIT"))) {
            fl_error("sqlite: group commit failed; rolling back the batch");
            crc = FL_EINTERNAL;
        }
        if (crc) {
            if (!sqlite3_get_autocommit(db->h))
                db_exec(db, "ROLLBACK");
            for (struct job *j = batch; j; j = j->next)
                j->rc = FL_EINTERNAL;
            kicked = false;
        }
        if (kicked && st->on_commit)
            st->on_commit(st->on_commit_arg);

        /* Wake each caller on its own semaphore (a broadcast would wake every waiting
         * thread for every batch). A posted job may vanish at once: read next first. */
        for (struct job *j = batch, *next; j; j = next) {
            next = j->next;
            sem_post(&j->done);
        }
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int fl_store_write(fl_store_t *st, fl_store_job_fn fn, void *arg)
{
    struct job j = {.fn = fn, .arg = arg, .rc = FL_EINTERNAL};
    sem_init(&j.done, 0, 0);
    pthread_mutex_lock(&st->mu);
    if (st->stopping) {
        pthread_mutex_unlock(&st->mu);
        sem_destroy(&j.done);
        return FL_EUNAVAILABLE;
    }
    if (st->tail)
        st->tail->next = &j;
    else
        st->head = &j;
    st->tail = &j;
    pthread_cond_signal(&st->work_cv);
    pthread_mutex_unlock(&st->mu);
    while (sem_wait(&j.done) != 0) /* EINTR: keep waiting */
        ;
    sem_destroy(&j.done);
    return j.rc;
}

void fl_store_on_commit(fl_store_t *st, void (*fn)(void *), void *arg)
{
    st->on_commit = fn;
    st->on_commit_arg = arg;
}

void fl_db_kick(fl_db_t *db)
{
    db->kicked = true;
}

/* Keeps at most this many idle read connections; threads come and go with HTTP
 * connections, and opening a connection costs more than a query. */
#define MAX_IDLE_READERS 64

/* Thread-exit destructor of a read connection: back to the idle list, or closed. */
static void reader_release(void *p)
{
    fl_db_t *db = p;
    fl_store_t *st = db->store;
    pthread_mutex_lock(&st->mu);
    if (st->n_idle < MAX_IDLE_READERS) {
        db->next_reader = st->idle;
        st->idle = db;
        st->n_idle++;
        db = NULL;
    }
    pthread_mutex_unlock(&st->mu);
    db_close(db);
}

/* Checkpoints the WAL into the database from its own connection every 200 ms (PASSIVE: it
 * never waits for the writer or readers), so commits only ever append to the WAL. A WAL
 * that keeps growing past 64 MiB gets a RESTART checkpoint, which waits for readers. */
static void *checkpointer_main(void *arg)
{
    fl_store_t *st = arg;
    fl_db_t *db = db_open(st->path, false);
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
    db_close(db);
    return NULL;
}

int fl_store_open(const char *path, fl_store_t **out)
{
    const char *f = getenv("FL_FAULT_STORE");
    if (f && *f)
        atomic_store(&fault_at, atol(f));
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    fl_store_t *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    st->writer = db_open(path, true);
    if (!st->writer) {
        free(st->path);
        free(st);
        return FL_EINTERNAL;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->work_cv, NULL);
    pthread_cond_init(&st->stop_cv, NULL);
    pthread_key_create(&st->reader_key, reader_release);
    if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
        db_close(st->writer);
        free(st->path);
        free(st);
        return FL_EINTERNAL;
    }
    if (pthread_create(&st->checkpointer, NULL, checkpointer_main, st) != 0)
        FL_ASSERT(!"cannot start the checkpointer thread");
    *out = st;
    return FL_OK;
}

void fl_store_close(fl_store_t *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_signal(&st->work_cv);
    pthread_cond_signal(&st->stop_cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    pthread_join(st->checkpointer, NULL);
    db_close(st->writer);
    /* The calling thread's own reader is not idle yet: close it too. */
    fl_db_t *own = pthread_getspecific(st->reader_key);
    if (own) {
        pthread_setspecific(st->reader_key, NULL);
        db_close(own);
    }
    fl_db_t *r = st->idle;
    while (r) {
        fl_db_t *n = r->next_reader;
        db_close(r);
        r = n;
    }
    pthread_key_delete(st->reader_key);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->work_cv);
    pthread_cond_destroy(&st->stop_cv);
    free(st->path);
    free(st);
}

fl_db_t *fl_store_reader(fl_store_t *st)
{
    fl_db_t *db = pthread_getspecific(st->reader_key);
    if (db)
        return db;
    pthread_mutex_lock(&st->mu);
    db = st->idle;
    if (db) {
        st->idle = db->next_reader;
        st->n_idle--;
    }
    pthread_mutex_unlock(&st->mu);
    if (!db) {
        db = db_open(st->path, false);
        FL_ASSERT(db != NULL); /* the file opened fine for the writer a moment ago */
        db->store = st;
    }
    pthread_setspecific(st->reader_key, db);
    return db;
}

/* ---------------------------------------------------------------------------------------- */
/* Meta, accounts, keys                                                                     */
/* ---------------------------------------------------------------------------------------- */

int fl_db_meta_get(fl_db_t *db, const char *key, fl_arena_t *a, char **val, size_t *len)
{
    PREP(db, Q_META_GET);
    bind_str(s, 1, key);
    int rc = step(db, s);
    if (rc == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(s, 0);
        *val = fl_arena_alloc(a, *len + 1);
        if (*len) /* an empty blob reads as NULL */
            memcpy(*val, sqlite3_column_blob(s, 0), *len);
        done(s);
        return FL_OK;
    }
    done(s);
    return rc == SQLITE_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_meta_put(fl_db_t *db, const char *key, const void *val, size_t len)
{
    PREP(db, Q_META_PUT);
    bind_str(s, 1, key);
    sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC);
    return run(db, s);
}

int fl_db_account_put(fl_db_t *db, uint64_t id, const char *region, int64_t now_ms)
{
    PREP(db, Q_ACCOUNT_PUT);
    sqlite3_bind_int64(s, 1, (int64_t)id);
    bind_str(s, 2, region);
    sqlite3_bind_int64(s, 3, now_ms);
    return run(db, s);
}

int fl_db_key_put(fl_db_t *db, const char *ak, const char *secret, uint64_t account, int64_t now_ms)
{
    PREP(db, Q_KEY_PUT);
    bind_str(s, 1, ak);
    bind_str(s, 2, secret);
    sqlite3_bind_int64(s, 3, (int64_t)account);
    sqlite3_bind_int64(s, 4, now_ms);
    return run(db, s);
}

static void key_row(sqlite3_stmt *s, fl_arena_t *a, fl_key_row_t *k)
{
    k->ak = col_str(s, 0, a);
    k->secret = col_str(s, 1, a);
    k->account = (uint64_t)sqlite3_column_int64(s, 2);
    k->user = col_str(s, 3, a);
    k->enabled = sqlite3_column_int(s, 4) != 0;
    k->created_ms = sqlite3_column_int64(s, 5);
}

int fl_db_keys_each(fl_db_t *db, void (*fn)(void *arg, const fl_key_row_t *k), void *arg)
{
    PREP(db, Q_KEYS_ALL);
    int rc;
    while ((rc = step(db, s)) == SQLITE_ROW) {
        fl_arena_t a;
        fl_arena_init(&a);
        fl_key_row_t k;
        key_row(s, &a, &k);
        fn(arg, &k);
        fl_arena_close(&a);
    }
    done(s);
    return rc == SQLITE_DONE ? FL_OK : FL_EINTERNAL;
}

/* Runs an insert whose only expected failure is a uniqueness conflict, reported as dup. */
static int insert_unique(fl_db_t *db, sqlite3_stmt *s, int dup)
{
    int rc = step(db, s);
    done(s);
    if (rc == SQLITE_CONSTRAINT)
        return dup;
    return rc == SQLITE_DONE ? FL_OK : FL_EINTERNAL;
}

int fl_db_account_insert(fl_db_t *db, uint64_t id, const char *region, int64_t now_ms)
{
    PREP(db, Q_ACCOUNT_INSERT);
    sqlite3_bind_int64(s, 1, (int64_t)id);
    bind_str(s, 2, region);
    sqlite3_bind_int64(s, 3, now_ms);
    return insert_unique(db, s, FL_EACCOUNT_ALREADY_EXISTS);
}

static void account_row(sqlite3_stmt *s, fl_arena_t *a, fl_account_row_t *r)
{
    r->id = (uint64_t)sqlite3_column_int64(s, 0);
    r->region = col_str(s, 1, a);
    r->created_ms = sqlite3_column_int64(s, 2);
}

int fl_db_account_get(fl_db_t *db, uint64_t id, fl_arena_t *a, fl_account_row_t *out)
{
    PREP(db, Q_ACCOUNT_GET);
    sqlite3_bind_int64(s, 1, (int64_t)id);
    int rc = step(db, s);
    if (rc == SQLITE_ROW)
        account_row(s, a, out);
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_EACCOUNT_NOT_EXISTS : FL_EINTERNAL;
}

/* Collects every row of a prepared list query with the row function fn. */
#define COLLECT(db, s, a, type, rows, n, fn)                                                   \
    do {                                                                                       \
        size_t cap_ = 16;                                                                      \
        *(rows) = fl_arena_alloc((a), cap_ * sizeof(type));                                    \
        *(n) = 0;                                                                              \
        int rc_;                                                                               \
        while ((rc_ = step((db), (s))) == SQLITE_ROW) {                                        \
            if ((size_t)*(n) == cap_) {                                                        \
                type *nr_ = fl_arena_alloc((a), 2 * cap_ * sizeof(type));                      \
                memcpy(nr_, *(rows), cap_ * sizeof(type));                                     \
                *(rows) = nr_;                                                                 \
                cap_ *= 2;                                                                     \
            }                                                                                  \
            fn((s), (a), &(*(rows))[(*(n))++]);                                                \
        }                                                                                      \
        done(s);                                                                               \
        if (rc_ != SQLITE_DONE)                                                                \
            return FL_EINTERNAL;                                                               \
    } while (0)

int fl_db_account_list(fl_db_t *db, fl_arena_t *a, fl_account_row_t **rows, int *n)
{
    PREP(db, Q_ACCOUNT_LIST);
    COLLECT(db, s, a, fl_account_row_t, rows, n, account_row);
    return FL_OK;
}

int fl_db_user_insert(fl_db_t *db, uint64_t account, const char *name, int64_t now_ms)
{
    PREP(db, Q_USER_INSERT);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, name);
    sqlite3_bind_int64(s, 3, now_ms);
    return insert_unique(db, s, FL_EUSER_ALREADY_EXISTS);
}

static void user_row(sqlite3_stmt *s, fl_arena_t *a, fl_user_row_t *u)
{
    u->name = col_str(s, 0, a);
    u->created_ms = sqlite3_column_int64(s, 1);
}

int fl_db_user_get(fl_db_t *db, uint64_t account, const char *name, fl_arena_t *a,
                   fl_user_row_t *out)
{
    PREP(db, Q_USER_GET);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, name);
    int rc = step(db, s);
    if (rc == SQLITE_ROW)
        user_row(s, a, out);
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_EUSER_NOT_EXISTS : FL_EINTERNAL;
}

int fl_db_user_list(fl_db_t *db, uint64_t account, fl_arena_t *a, fl_user_row_t **rows, int *n)
{
    PREP(db, Q_USER_LIST);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    COLLECT(db, s, a, fl_user_row_t, rows, n, user_row);
    return FL_OK;
}

int fl_db_key_insert(fl_db_t *db, const fl_key_row_t *k)
{
    PREP(db, Q_KEY_INSERT);
    bind_str(s, 1, k->ak);
    bind_str(s, 2, k->secret);
    sqlite3_bind_int64(s, 3, (int64_t)k->account);
    bind_str(s, 4, k->user);
    sqlite3_bind_int(s, 5, k->enabled);
    sqlite3_bind_int64(s, 6, k->created_ms);
    return insert_unique(db, s, FL_EINTERNAL);
}

/* Runs an update/delete of one row; *found tells whether the row existed. */
static int change_one(fl_db_t *db, sqlite3_stmt *s, bool *found)
{
    int rc = run(db, s);
    *found = rc == FL_OK && sqlite3_changes(db->h) > 0;
    return rc;
}

int fl_db_key_set_enabled(fl_db_t *db, uint64_t account, const char *ak, bool enabled,
                          bool *found)
{
    PREP(db, Q_KEY_ENABLE);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, ak);
    sqlite3_bind_int(s, 3, enabled);
    return change_one(db, s, found);
}

int fl_db_key_delete(fl_db_t *db, uint64_t account, const char *ak, bool *found)
{
    PREP(db, Q_KEY_DELETE);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, ak);
    return change_one(db, s, found);
}

int fl_db_key_list(fl_db_t *db, uint64_t account, const char *user, fl_arena_t *a,
                   fl_key_row_t **rows, int *n)
{
    PREP(db, Q_KEY_LIST);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, user);
    COLLECT(db, s, a, fl_key_row_t, rows, n, key_row);
    return FL_OK;
}

int fl_db_policy_put(fl_db_t *db, const fl_policy_row_t *p)
{
    PREP(db, Q_POLICY_PUT);
    sqlite3_bind_int64(s, 1, (int64_t)p->account);
    bind_str(s, 2, p->user);
    bind_str(s, 3, p->name);
    bind_str(s, 4, p->document);
    sqlite3_bind_int64(s, 5, p->created_ms);
    return run(db, s);
}

int fl_db_policy_delete(fl_db_t *db, uint64_t account, const char *user, const char *name,
                        bool *found)
{
    PREP(db, Q_POLICY_DELETE);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, user);
    bind_str(s, 3, name);
    return change_one(db, s, found);
}

static void policy_row(sqlite3_stmt *s, fl_arena_t *a, fl_policy_row_t *p)
{
    p->account = (uint64_t)sqlite3_column_int64(s, 0);
    p->user = col_str(s, 1, a);
    p->name = col_str(s, 2, a);
    p->document = col_str(s, 3, a);
    p->created_ms = sqlite3_column_int64(s, 4);
}

int fl_db_policy_list(fl_db_t *db, uint64_t account, const char *user, fl_arena_t *a,
                      fl_policy_row_t **rows, int *n)
{
    PREP(db, Q_POLICY_LIST);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, user);
    COLLECT(db, s, a, fl_policy_row_t, rows, n, policy_row);
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Flows                                                                                    */
/* ---------------------------------------------------------------------------------------- */

int fl_db_def_put(fl_db_t *db, const char *text, int64_t *id)
{
    /* Definitions are stored once per distinct text (keyed by SHA-256), so a flow and the
     * snapshots its executions keep share one row. */
    unsigned char md[SHA256_DIGEST_LENGTH];
    char key[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)text, strlen(text), md);
    fl_hex(md, sizeof md, key);
    {
        PREP(db, Q_DEF_FIND);
        bind_str(s, 1, key);
        int rc = step(db, s);
        if (rc == SQLITE_ROW)
            *id = sqlite3_column_int64(s, 0);
        done(s);
        if (rc == SQLITE_ROW)
            return FL_OK;
        if (rc != SQLITE_DONE)
            return FL_EINTERNAL;
    }
    PREP(db, Q_DEF_INSERT);
    bind_str(s, 1, key);
    bind_str(s, 2, text);
    int rc = run(db, s);
    if (rc == FL_OK)
        *id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

int fl_db_def_get(fl_db_t *db, int64_t id, fl_arena_t *a, char **text)
{
    PREP(db, Q_DEF_GET);
    sqlite3_bind_int64(s, 1, id);
    int rc = step(db, s);
    if (rc == SQLITE_ROW) {
        *text = col_str(s, 0, a);
        done(s);
        return FL_OK;
    }
    done(s);
    return rc == SQLITE_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_flow_insert(fl_db_t *db, fl_flow_row_t *f)
{
    PREP(db, Q_FLOW_INSERT);
    sqlite3_bind_int64(s, 1, (int64_t)f->account);
    bind_str(s, 2, f->name);
    bind_str(s, 3, f->uuid);
    sqlite3_bind_int64(s, 4, f->def_id);
    bind_str(s, 5, f->description ? f->description : "");
    bind_str(s, 6, f->type ? f->type : "FDL");
    bind_str(s, 7, f->role_arn ? f->role_arn : "");
    bind_str(s, 8, f->mode ? f->mode : "Standard");
    bind_str(s, 9, f->environment ? f->environment : "");
    sqlite3_bind_int64(s, 10, f->created_ms);
    sqlite3_bind_int64(s, 11, f->modified_ms);
    int rc = step(db, s);
    done(s);
    if (rc == SQLITE_CONSTRAINT)
        return FL_EFLOW_ALREADY_EXISTS;
    if (rc != SQLITE_DONE)
        return FL_EINTERNAL;
    f->id = sqlite3_last_insert_rowid(db->h);
    return FL_OK;
}

int fl_db_flow_update(fl_db_t *db, const fl_flow_row_t *f)
{
    PREP(db, Q_FLOW_UPDATE);
    sqlite3_bind_int64(s, 1, f->id);
    sqlite3_bind_int64(s, 2, f->def_id);
    bind_str(s, 3, f->description ? f->description : "");
    bind_str(s, 4, f->type ? f->type : "FDL");
    bind_str(s, 5, f->role_arn ? f->role_arn : "");
    bind_str(s, 6, f->environment ? f->environment : "");
    sqlite3_bind_int64(s, 7, f->modified_ms);
    return run(db, s);
}

static void flow_row(sqlite3_stmt *s, fl_arena_t *a, fl_flow_row_t *f)
{
    f->id = sqlite3_column_int64(s, 0);
    f->account = (uint64_t)sqlite3_column_int64(s, 1);
    f->name = col_str(s, 2, a);
    f->uuid = col_str(s, 3, a);
    f->def_id = sqlite3_column_int64(s, 4);
    f->description = col_str(s, 5, a);
    f->type = col_str(s, 6, a);
    f->role_arn = col_str(s, 7, a);
    f->mode = col_str(s, 8, a);
    f->environment = col_str(s, 9, a);
    f->created_ms = sqlite3_column_int64(s, 10);
    f->modified_ms = sqlite3_column_int64(s, 11);
    f->definition = col_str(s, 12, a);
}

static int flow_one(fl_db_t *db, sqlite3_stmt *s, fl_arena_t *a, fl_flow_row_t *out)
{
    int rc = step(db, s);
    if (rc == SQLITE_ROW)
        flow_row(s, a, out);
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_EFLOW_NOT_EXISTS : FL_EINTERNAL;
}

int fl_db_flow_get(fl_db_t *db, uint64_t account, const char *name, bool with_def, fl_arena_t *a,
                   fl_flow_row_t *out)
{
    (void)with_def; /* the definition is shared and small next to a round trip; always read */
    PREP(db, Q_FLOW_GET);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, name);
    return flow_one(db, s, a, out);
}

int fl_db_flow_get_by_id(fl_db_t *db, int64_t id, fl_arena_t *a, fl_flow_row_t *out)
{
    PREP(db, Q_FLOW_GET_ID);
    sqlite3_bind_int64(s, 1, id);
    return flow_one(db, s, a, out);
}

int fl_db_flow_list(fl_db_t *db, uint64_t account, const char *start, int limit, fl_arena_t *a,
                    fl_flow_row_t **rows, int *n)
{
    PREP(db, Q_FLOW_LIST);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, start ? start : "");
    sqlite3_bind_int(s, 3, limit);
    *rows = fl_arena_alloc(a, sizeof(fl_flow_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = step(db, s)) == SQLITE_ROW && *n < limit)
        flow_row(s, a, &(*rows)[(*n)++]);
    done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FL_OK : FL_EINTERNAL;
}

int fl_db_flow_delete(fl_db_t *db, int64_t flow_id)
{
    static const int qs[] = {Q_FLOW_DEL_EVENTS, Q_FLOW_DEL_TASKS, Q_FLOW_DEL_TIMERS,
                             Q_FLOW_DEL_OUTBOX, Q_FLOW_DEL_EXECS, Q_FLOW_DELETE};
    for (size_t i = 0; i < FL_ARRAY_LEN(qs); i++) {
        PREP(db, qs[i]);
        sqlite3_bind_int64(s, 1, flow_id);
        int rc = run(db, s);
        if (rc)
            return rc;
    }
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Executions                                                                               */
/* ---------------------------------------------------------------------------------------- */

int fl_db_exec_insert(fl_db_t *db, fl_exec_row_t *e)
{
    PREP(db, Q_EXEC_INSERT);
    sqlite3_bind_int64(s, 1, e->flow_id);
    bind_str(s, 2, e->name);
    sqlite3_bind_int(s, 3, e->status);
    sqlite3_bind_int64(s, 4, e->def_id);
    bind_str(s, 5, e->input ? e->input : "{}");
    bind_str(s, 6, e->output);
    bind_str(s, 7, e->error_code);
    bind_str(s, 8, e->error_message);
    sqlite3_bind_int64(s, 9, e->started_ms);
    sqlite3_bind_int64(s, 10, e->stopped_ms);
    bind_str(s, 11, e->state ? e->state : "{}");
    bind_str(s, 12, e->parent_token);
    int rc = step(db, s);
    done(s);
    if (rc == SQLITE_CONSTRAINT)
        return FL_EEXECUTION_ALREADY_EXISTS;
    if (rc != SQLITE_DONE)
        return FL_EINTERNAL;
    e->id = sqlite3_last_insert_rowid(db->h);
    return FL_OK;
}

int fl_db_exec_update(fl_db_t *db, const fl_exec_row_t *e)
{
    PREP(db, Q_EXEC_UPDATE);
    sqlite3_bind_int64(s, 1, e->id);
    sqlite3_bind_int(s, 2, e->status);
    bind_str(s, 3, e->output);
    bind_str(s, 4, e->error_code);
    bind_str(s, 5, e->error_message);
    sqlite3_bind_int64(s, 6, e->stopped_ms);
    bind_str(s, 7, e->state ? e->state : "{}");
    return run(db, s);
}

static void exec_row(sqlite3_stmt *s, fl_arena_t *a, fl_exec_row_t *e, bool meta_only)
{
    e->id = sqlite3_column_int64(s, 0);
    e->flow_id = sqlite3_column_int64(s, 1);
    e->flow_name = col_str(s, 2, a);
    e->name = col_str(s, 3, a);
    e->status = sqlite3_column_int(s, 4);
    e->def_id = sqlite3_column_int64(s, 5);
    e->error_code = col_str(s, 8, a);
    e->error_message = col_str(s, 9, a);
    e->started_ms = sqlite3_column_int64(s, 10);
    e->stopped_ms = sqlite3_column_int64(s, 11);
    e->account = (uint64_t)sqlite3_column_int64(s, 13);
    if (meta_only)
        return;
    e->input = col_str(s, 6, a);
    e->output = col_str(s, 7, a);
    e->state = col_str(s, 12, a);
    e->parent_token = col_str(s, 14, a);
    e->definition = col_str(s, 15, a);
}

static int exec_one(fl_db_t *db, sqlite3_stmt *s, fl_arena_t *a, fl_exec_row_t *out)
{
    int rc = step(db, s);
    if (rc == SQLITE_ROW)
        exec_row(s, a, out, false);
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_EEXECUTION_NOT_EXISTS : FL_EINTERNAL;
}

int fl_db_exec_get(fl_db_t *db, int64_t flow_id, const char *name, bool with_def, fl_arena_t *a,
                   fl_exec_row_t *out)
{
    (void)with_def;
    PREP(db, Q_EXEC_GET);
    sqlite3_bind_int64(s, 1, flow_id);
    bind_str(s, 2, name);
    return exec_one(db, s, a, out);
}

int fl_db_exec_get_by_id(fl_db_t *db, int64_t id, fl_arena_t *a, fl_exec_row_t *out)
{
    PREP(db, Q_EXEC_GET_ID);
    sqlite3_bind_int64(s, 1, id);
    return exec_one(db, s, a, out);
}

int fl_db_exec_list(fl_db_t *db, const fl_exec_query_t *q, fl_arena_t *a, fl_exec_row_t **rows,
                    int *n)
{
    PREP(db, Q_EXEC_LIST);
    sqlite3_bind_int64(s, 1, q->flow_id);
    sqlite3_bind_int64(s, 2, q->after_id);
    sqlite3_bind_int(s, 3, q->status);
    bind_str(s, 4, q->prefix);
    sqlite3_bind_int64(s, 5, q->started_begin);
    sqlite3_bind_int64(s, 6, q->started_end);
    sqlite3_bind_int(s, 7, q->limit);
    *rows = fl_arena_alloc(a, sizeof(fl_exec_row_t) * (size_t)(q->limit > 0 ? q->limit : 1));
    *n = 0;
    int rc;
    while ((rc = step(db, s)) == SQLITE_ROW && *n < q->limit)
        exec_row(s, a, &(*rows)[(*n)++], q->metadata_only);
    done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FL_OK : FL_EINTERNAL;
}

/* ---------------------------------------------------------------------------------------- */
/* History                                                                                  */
/* ---------------------------------------------------------------------------------------- */

int fl_db_event_insert(fl_db_t *db, int64_t exec_id, const fl_event_row_t *ev)
{
    PREP(db, Q_EVENT_INSERT);
    sqlite3_bind_int64(s, 1, exec_id);
    sqlite3_bind_int64(s, 2, ev->event_id);
    bind_str(s, 3, ev->type);
    bind_str(s, 4, ev->step ? ev->step : "");
    sqlite3_bind_int64(s, 5, ev->sched_id);
    sqlite3_bind_int64(s, 6, ev->time_ms);
    bind_str(s, 7, ev->detail ? ev->detail : "{}");
    return run(db, s);
}

int fl_db_event_list(fl_db_t *db, int64_t exec_id, int64_t from, int limit, fl_arena_t *a,
                     fl_event_row_t **rows, int *n)
{
    PREP(db, Q_EVENT_LIST);
    sqlite3_bind_int64(s, 1, exec_id);
    sqlite3_bind_int64(s, 2, from);
    sqlite3_bind_int(s, 3, limit);
    *rows = fl_arena_alloc(a, sizeof(fl_event_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = step(db, s)) == SQLITE_ROW && *n < limit) {
        fl_event_row_t *ev = &(*rows)[(*n)++];
        ev->event_id = sqlite3_column_int64(s, 0);
        ev->sched_id = sqlite3_column_int64(s, 1);
        ev->type = col_str(s, 2, a);
        ev->step = col_str(s, 3, a);
        ev->time_ms = sqlite3_column_int64(s, 4);
        ev->detail = col_str(s, 5, a);
    }
    done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FL_OK : FL_EINTERNAL;
}

/* ---------------------------------------------------------------------------------------- */
/* Task attempts                                                                            */
/* ---------------------------------------------------------------------------------------- */

int fl_db_task_insert(fl_db_t *db, const fl_task_row_t *t)
{
    PREP(db, Q_TASK_INSERT);
    sqlite3_bind_int64(s, 1, t->exec_id);
    sqlite3_bind_int64(s, 2, t->seq);
    bind_str(s, 3, t->step);
    sqlite3_bind_int64(s, 4, t->sched_id);
    sqlite3_bind_int64(s, 5, t->created_ms);
    sqlite3_bind_int64(s, 6, t->timeout_ms);
    sqlite3_bind_int(s, 7, t->attempt > 0 ? t->attempt : 1);
    return run(db, s);
}

int fl_db_task_get(fl_db_t *db, int64_t exec_id, uint32_t seq, fl_arena_t *a, fl_task_row_t *out)
{
    PREP(db, Q_TASK_GET);
    sqlite3_bind_int64(s, 1, exec_id);
    sqlite3_bind_int64(s, 2, seq);
    int rc = step(db, s);
    if (rc == SQLITE_ROW) {
        out->exec_id = exec_id;
        out->seq = seq;
        out->step = col_str(s, 0, a);
        out->sched_id = sqlite3_column_int64(s, 1);
        out->created_ms = sqlite3_column_int64(s, 2);
        out->timeout_ms = sqlite3_column_int64(s, 3);
        out->done = sqlite3_column_int(s, 4) != 0;
        out->request_id = col_str(s, 5, a);
        out->event_id = sqlite3_column_int64(s, 6);
    }
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_task_complete(fl_db_t *db, int64_t exec_id, uint32_t seq, const char *request_id,
                        int64_t event_id)
{
    PREP(db, Q_TASK_COMPLETE);
    sqlite3_bind_int64(s, 1, exec_id);
    sqlite3_bind_int64(s, 2, seq);
    bind_str(s, 3, request_id);
    sqlite3_bind_int64(s, 4, event_id);
    return run(db, s);
}

/* ---------------------------------------------------------------------------------------- */
/* Timers and outbox                                                                        */
/* ---------------------------------------------------------------------------------------- */

int fl_db_timer_insert(fl_db_t *db, int64_t exec_id, int kind, uint32_t seq, int64_t due_ms)
{
    PREP(db, Q_TIMER_INSERT);
    sqlite3_bind_int64(s, 1, due_ms);
    sqlite3_bind_int64(s, 2, exec_id);
    sqlite3_bind_int(s, 3, kind);
    sqlite3_bind_int64(s, 4, seq);
    db->kicked = true;
    return run(db, s);
}

static int delete_one(fl_db_t *db, int q, int64_t id, bool *found)
{
    PREP(db, q);
    sqlite3_bind_int64(s, 1, id);
    int rc = run(db, s);
    if (found)
        *found = rc == FL_OK && sqlite3_changes(db->h) > 0;
    return rc;
}

int fl_db_timer_delete(fl_db_t *db, int64_t id, bool *found)
{
    return delete_one(db, Q_TIMER_DELETE, id, found);
}

int fl_db_timer_delete_exec(fl_db_t *db, int64_t exec_id)
{
    return delete_one(db, Q_TIMER_DELETE_EXEC, exec_id, NULL);
}

int fl_db_timer_due(fl_db_t *db, int64_t now_ms, int limit, fl_arena_t *a, fl_timer_row_t **rows,
                    int *n)
{
    PREP(db, Q_TIMER_DUE);
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int(s, 2, limit);
    *rows = fl_arena_alloc(a, sizeof(fl_timer_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = step(db, s)) == SQLITE_ROW && *n < limit) {
        fl_timer_row_t *t = &(*rows)[(*n)++];
        t->id = sqlite3_column_int64(s, 0);
        t->due_ms = sqlite3_column_int64(s, 1);
        t->exec_id = sqlite3_column_int64(s, 2);
        t->kind = sqlite3_column_int(s, 3);
        t->seq = (uint32_t)sqlite3_column_int64(s, 4);
    }
    done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FL_OK : FL_EINTERNAL;
}

static int min_time(fl_db_t *db, int q, int64_t *due_ms);

int fl_db_outbox_next(fl_db_t *db, int64_t now_ms, int64_t *due_ms)
{
    *due_ms = now_ms;
    return min_time(db, Q_OUTBOX_NEXT, due_ms);
}

int fl_db_timer_next(fl_db_t *db, int64_t *due_ms)
{
    return min_time(db, Q_TIMER_NEXT, due_ms);
}

/* Runs a "SELECT min(...)" query q; INT64_MAX when there are no rows. */
static int min_time(fl_db_t *db, int q, int64_t *due_ms)
{
    PREP(db, q);
    sqlite3_bind_int64(s, 1, *due_ms); /* queries without ?1 ignore it */
    int rc = step(db, s);
    *due_ms = INT64_MAX;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        *due_ms = sqlite3_column_int64(s, 0);
    done(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FL_OK : FL_EINTERNAL;
}

int fl_db_outbox_insert(fl_db_t *db, int64_t exec_id, uint32_t seq, const char *payload,
                        int64_t now_ms)
{
    PREP(db, Q_OUTBOX_INSERT);
    sqlite3_bind_int64(s, 1, exec_id);
    sqlite3_bind_int64(s, 2, seq);
    bind_str(s, 3, payload);
    sqlite3_bind_int64(s, 4, now_ms);
    db->kicked = true;
    return run(db, s);
}

int fl_db_outbox_delete(fl_db_t *db, int64_t id, bool *found)
{
    return delete_one(db, Q_OUTBOX_DELETE, id, found);
}

int fl_db_outbox_delete_exec(fl_db_t *db, int64_t exec_id)
{
    return delete_one(db, Q_OUTBOX_DELETE_EXEC, exec_id, NULL);
}

int fl_db_outbox_retry(fl_db_t *db, int64_t id, int64_t next_ms)
{
    PREP(db, Q_OUTBOX_RETRY);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, next_ms);
    db->kicked = true;
    return run(db, s);
}

int fl_db_outbox_due(fl_db_t *db, int64_t now_ms, int limit, fl_arena_t *a,
                     fl_outbox_row_t **rows, int *n)
{
    PREP(db, Q_OUTBOX_DUE);
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_int(s, 2, limit);
    *rows = fl_arena_alloc(a, sizeof(fl_outbox_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = step(db, s)) == SQLITE_ROW && *n < limit) {
        fl_outbox_row_t *o = &(*rows)[(*n)++];
        o->id = sqlite3_column_int64(s, 0);
        o->exec_id = sqlite3_column_int64(s, 1);
        o->seq = (uint32_t)sqlite3_column_int64(s, 2);
        o->payload = col_str(s, 3, a);
        o->attempts = sqlite3_column_int(s, 4);
        o->next_ms = sqlite3_column_int64(s, 5);
    }
    done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FL_OK : FL_EINTERNAL;
}

/* ---------------------------------------------------------------------------------------- */
/* Status names                                                                             */
/* ---------------------------------------------------------------------------------------- */

static const char *const status_names[] = {"", "Running", "Succeeded", "Failed", "Stopped",
                                           "TimedOut"};

const char *fl_exec_status_name(int status)
{
    if (status < 1 || status > 5)
        return "Running";
    return status_names[status];
}

int fl_exec_status_parse(const char *s)
{
    for (int i = 1; i <= 5; i++)
        if (strcmp(s, status_names[i]) == 0)
            return i;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Queues                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void queue_row(sqlite3_stmt *s, fl_arena_t *a, fl_queue_row_t *q)
{
    q->name = col_str(s, 0, a);
    q->attrs = col_str(s, 1, a);
    q->created_ms = sqlite3_column_int64(s, 2);
    q->modified_ms = sqlite3_column_int64(s, 3);
}

int fl_db_queue_put(fl_db_t *db, uint64_t account, const char *name, const char *attrs,
                    bool replace, int64_t now_ms)
{
    PREP(db, Q_QUEUE_PUT);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, name);
    bind_str(s, 3, attrs);
    sqlite3_bind_int64(s, 4, now_ms);
    sqlite3_bind_int(s, 5, replace);
    return run(db, s);
}

int fl_db_queue_get(fl_db_t *db, uint64_t account, const char *name, fl_arena_t *a,
                    fl_queue_row_t *out)
{
    PREP(db, Q_QUEUE_GET);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, name);
    int rc = step(db, s);
    if (rc == SQLITE_ROW)
        queue_row(s, a, out);
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_queue_list(fl_db_t *db, uint64_t account, const char *start, const char *prefix,
                     int limit, fl_arena_t *a, fl_queue_row_t **rows, int *n)
{
    PREP(db, Q_QUEUE_LIST);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, start ? start : "");
    bind_str(s, 3, prefix ? prefix : "");
    sqlite3_bind_int(s, 4, limit);
    COLLECT(db, s, a, fl_queue_row_t, rows, n, queue_row);
    return FL_OK;
}

int fl_db_queue_delete(fl_db_t *db, uint64_t account, const char *name)
{
    int qs[] = {Q_QUEUE_PURGE, Q_QUEUE_DELETE};
    for (size_t i = 0; i < FL_ARRAY_LEN(qs); i++) {
        PREP(db, qs[i]);
        sqlite3_bind_int64(s, 1, (int64_t)account);
        bind_str(s, 2, name);
        int rc = run(db, s);
        if (rc)
            return rc;
    }
    return FL_OK;
}

int fl_db_queue_counts(fl_db_t *db, uint64_t account, const char *name, int64_t now_ms,
                       int64_t *total, int64_t *inactive, int64_t *delayed)
{
    PREP(db, Q_QUEUE_COUNTS);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, name);
    sqlite3_bind_int64(s, 3, now_ms);
    int rc = step(db, s);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_int64(s, 0);
        *inactive = sqlite3_column_int64(s, 1);
        *delayed = sqlite3_column_int64(s, 2);
    }
    done(s);
    return rc == SQLITE_ROW ? FL_OK : FL_EINTERNAL;
}

int fl_db_msg_insert(fl_db_t *db, uint64_t account, const char *queue, const char *body,
                     int priority, int64_t visible_ms, int64_t expire_ms, int64_t now_ms,
                     int64_t *id)
{
    PREP(db, Q_MSG_INSERT);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, queue);
    bind_str(s, 3, body);
    sqlite3_bind_int(s, 4, priority);
    sqlite3_bind_int64(s, 5, now_ms);
    sqlite3_bind_int64(s, 6, visible_ms);
    sqlite3_bind_int64(s, 7, expire_ms);
    int rc = run(db, s);
    if (rc == FL_OK)
        *id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

static void msg_row(sqlite3_stmt *s, fl_arena_t *a, fl_msg_row_t *m)
{
    m->id = sqlite3_column_int64(s, 0);
    m->body = col_str(s, 1, a);
    m->priority = sqlite3_column_int(s, 2);
    m->enqueue_ms = sqlite3_column_int64(s, 3);
    m->visible_ms = sqlite3_column_int64(s, 4);
    m->expire_ms = sqlite3_column_int64(s, 5);
    m->first_dequeue_ms = sqlite3_column_int64(s, 6);
    m->dequeue_count = sqlite3_column_int(s, 7);
    m->receipt = col_str(s, 8, a);
}

int fl_db_msg_ready(fl_db_t *db, uint64_t account, const char *queue, int64_t now_ms, int limit,
                    bool peek, fl_arena_t *a, fl_msg_row_t **rows, int *n)
{
    /* Expired messages leave first, so they are never handed out. */
    if (!peek) {
        PREP(db, Q_MSG_EXPIRE);
        sqlite3_bind_int64(s, 1, (int64_t)account);
        bind_str(s, 2, queue);
        sqlite3_bind_int64(s, 3, now_ms);
        int rc = run(db, s);
        if (rc)
            return rc;
    }
    PREP(db, peek ? Q_MSG_PEEK : Q_MSG_READY);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, queue);
    sqlite3_bind_int64(s, 3, now_ms);
    sqlite3_bind_int(s, 4, limit);
    COLLECT(db, s, a, fl_msg_row_t, rows, n, msg_row);
    return FL_OK;
}

int fl_db_msg_take(fl_db_t *db, int64_t id, int64_t visible_ms, const char *receipt,
                   int64_t now_ms)
{
    PREP(db, Q_MSG_TAKE);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, visible_ms);
    bind_str(s, 3, receipt);
    sqlite3_bind_int64(s, 4, now_ms);
    return run(db, s);
}

int fl_db_msg_by_receipt(fl_db_t *db, uint64_t account, const char *queue, const char *receipt,
                         fl_arena_t *a, fl_msg_row_t *out)
{
    PREP(db, Q_MSG_BY_RECEIPT);
    sqlite3_bind_int64(s, 1, (int64_t)account);
    bind_str(s, 2, queue);
    bind_str(s, 3, receipt);
    int rc = step(db, s);
    if (rc == SQLITE_ROW)
        msg_row(s, a, out);
    done(s);
    if (rc == SQLITE_ROW)
        return FL_OK;
    return rc == SQLITE_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_msg_delete(fl_db_t *db, int64_t id)
{
    return delete_one(db, Q_MSG_DELETE, id, NULL);
}

int fl_db_msg_set_visible(fl_db_t *db, int64_t id, int64_t visible_ms, const char *receipt)
{
    PREP(db, Q_MSG_VISIBLE);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, visible_ms);
    bind_str(s, 3, receipt);
    return run(db, s);
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting tasks                                                                            */
/* ---------------------------------------------------------------------------------------- */

static void waiting_row(sqlite3_stmt *s, fl_arena_t *a, fl_waiting_row_t *w)
{
    w->exec_id = sqlite3_column_int64(s, 0);
    w->seq = (uint32_t)sqlite3_column_int64(s, 1);
    w->step = col_str(s, 2, a);
    w->created_ms = sqlite3_column_int64(s, 3);
    w->timeout_ms = sqlite3_column_int64(s, 4);
    w->exec_name = col_str(s, 5, a);
    w->attempt = sqlite3_column_int(s, 6);
}

int fl_db_task_waiting(fl_db_t *db, int64_t flow_id, const char *exec_name, int64_t from_exec,
                       uint32_t from_seq, int limit, fl_arena_t *a, fl_waiting_row_t **rows,
                       int *n)
{
    PREP(db, Q_TASK_WAITING);
    sqlite3_bind_int64(s, 1, flow_id);
    bind_str(s, 2, exec_name);
    sqlite3_bind_int64(s, 3, from_exec);
    sqlite3_bind_int64(s, 4, from_seq);
    sqlite3_bind_int(s, 5, limit);
    COLLECT(db, s, a, fl_waiting_row_t, rows, n, waiting_row);
    return FL_OK;
}

void fl_msg_id(int64_t id, char out[33])
{
    /* The row id, then a mix of it: unique per row and not a bare counter to the eye. */
    uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    snprintf(out, 33, "%016llX%016llX", (unsigned long long)id, (unsigned long long)x);
}

bool fl_queue_name_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 120 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}
