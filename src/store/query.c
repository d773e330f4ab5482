/*
 * query.c - every query of store.h, written once in SQL that SQLite and PostgreSQL both
 * run (a driver overrides the few that need a backend's own words, such as row locks).
 *
 * Portability rules the text below keeps: ?N placeholders (the PostgreSQL driver turns them
 * into $N); a placeholder's first use fixes its type in PostgreSQL, so a column comparison
 * comes before "?N = 0" or "?N IS NULL"; inserts that may meet a duplicate say ON CONFLICT
 * DO NOTHING and RETURNING, so no statement fails inside a transaction on purpose; new ids
 * come back through RETURNING.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---------------------------------------------------------------------------------------- */
/* Statements                                                                               */
/* ---------------------------------------------------------------------------------------- */

const char *const fl_sql_text[Q__COUNT] = {
    [Q_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [Q_META_PUT] = "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = ?2",
    [Q_META_ADD] = "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO NOTHING",
    [Q_ACCOUNT_PUT] = "INSERT INTO accounts(id, region, created_ms) VALUES(?1, ?2, ?3)"
                      " ON CONFLICT(id) DO NOTHING",
    [Q_KEY_PUT] = "INSERT INTO access_keys(ak, secret, account_id, created_ms)"
                  " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(ak) DO UPDATE SET secret = ?2,"
                  " account_id = ?3, enabled = 1",
    [Q_KEYS_ALL] = "SELECT ak, secret, account_id, user_name, enabled, created_ms"
                   " FROM access_keys",
    [Q_ACCOUNT_INSERT] = "INSERT INTO accounts(id, region, created_ms) VALUES(?1, ?2, ?3)"
                         " ON CONFLICT DO NOTHING RETURNING id",
    [Q_ACCOUNT_GET] = "SELECT id, region, created_ms FROM accounts WHERE id = ?1",
    [Q_ACCOUNT_LIST] = "SELECT id, region, created_ms FROM accounts ORDER BY id",
    [Q_USER_INSERT] = "INSERT INTO users(account_id, name, created_ms) VALUES(?1, ?2, ?3)"
                      " ON CONFLICT DO NOTHING RETURNING 1",
    [Q_USER_GET] = "SELECT name, created_ms FROM users WHERE account_id = ?1 AND name = ?2",
    [Q_USER_LIST] = "SELECT name, created_ms FROM users WHERE account_id = ?1 ORDER BY name",
    [Q_KEY_INSERT] = "INSERT INTO access_keys(ak, secret, account_id, user_name, enabled,"
                     " created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING RETURNING 1",
    [Q_KEY_ENABLE] = "UPDATE access_keys SET enabled = ?3 WHERE account_id = ?1 AND ak = ?2",
    [Q_KEY_DELETE] = "DELETE FROM access_keys WHERE account_id = ?1 AND ak = ?2",
    [Q_KEY_LIST] = "SELECT ak, NULL, account_id, user_name, enabled, created_ms FROM access_keys"
                   " WHERE account_id = ?1 AND (user_name = ?2 OR ?2 IS NULL) ORDER BY created_ms, ak",
    [Q_QUEUE_PUT] = "INSERT INTO queues(account_id, name, attrs, created_ms, modified_ms)"
                    " VALUES(?1, ?2, ?3, ?4, ?4) ON CONFLICT(account_id, name) DO UPDATE SET"
                    " attrs = ?3, modified_ms = ?4 WHERE ?5 = 1",
    [Q_QUEUE_GET] = "SELECT name, attrs, created_ms, modified_ms FROM queues"
                    " WHERE account_id = ?1 AND name = ?2",
    [Q_QUEUE_LIST] = "SELECT name, attrs, created_ms, modified_ms FROM queues WHERE account_id = ?1"
                     " AND name >= ?2 AND substr(name, 1, length(?3)) = ?3 ORDER BY name LIMIT ?4",
    [Q_QUEUE_DELETE] = "DELETE FROM queues WHERE account_id = ?1 AND name = ?2",
    [Q_QUEUE_PURGE] = "DELETE FROM messages WHERE account_id = ?1 AND queue = ?2",
    [Q_QUEUE_COUNTS] = "SELECT count(*), coalesce(sum(CASE WHEN visible_ms > ?3 AND dequeue_count > 0"
                       " THEN 1 ELSE 0 END), 0), coalesce(sum(CASE WHEN visible_ms > ?3 AND"
                       " dequeue_count = 0 THEN 1 ELSE 0 END), 0) FROM messages"
                       " WHERE account_id = ?1 AND queue = ?2",
    [Q_MSG_INSERT] = "INSERT INTO messages(account_id, queue, body, priority, enqueue_ms,"
                     " visible_ms, expire_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
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
                       " WHERE e.flow_id = ?1 AND t.done = 0 AND (e.name = ?2 OR ?2 IS NULL)"
                       " AND (t.exec_id > ?3 OR (t.exec_id = ?3 AND t.seq >= ?4))"
                       " ORDER BY t.exec_id, t.seq LIMIT ?5",
    [Q_POLICY_PUT] = "INSERT INTO policies(account_id, user_name, name, document, created_ms)"
                     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(account_id, user_name, name)"
                     " DO UPDATE SET document = ?4, created_ms = ?5",
    [Q_POLICY_DELETE] = "DELETE FROM policies WHERE account_id = ?1 AND user_name = ?2 AND name = ?3",
    [Q_POLICY_LIST] = "SELECT account_id, user_name, name, document, created_ms FROM policies"
                      " WHERE (account_id = ?1 OR ?1 = 0) AND (user_name = ?2 OR ?2 IS NULL)"
                      " ORDER BY account_id, user_name, name",
    [Q_DEF_FIND] = "SELECT id FROM defs WHERE hash = ?1",
    [Q_DEF_INSERT] = "INSERT INTO defs(hash, text) VALUES(?1, ?2) ON CONFLICT DO NOTHING"
                     " RETURNING id",
    [Q_DEF_GET] = "SELECT text FROM defs WHERE id = ?1",
    [Q_FLOW_INSERT] = "INSERT INTO flows(account_id, name, uuid, def_id, description, type,"
                      " role_arn, mode, environment, created_ms, modified_ms)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING"
                      " RETURNING id",
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
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                      " ON CONFLICT DO NOTHING RETURNING id",
    [Q_EXEC_UPDATE] = "UPDATE executions SET status = ?2, output = ?3, error_code = ?4,"
                      " error_message = ?5, stopped_ms = ?6, state = ?7 WHERE id = ?1",
    [Q_EXEC_GET] = "SELECT " EXEC_COLS ", d.text FROM executions e JOIN flows f ON"
                   " f.id = e.flow_id JOIN defs d ON d.id = e.def_id"
                   " WHERE e.flow_id = ?1 AND e.name = ?2",
    [Q_EXEC_GET_ID] = "SELECT " EXEC_COLS ", NULL FROM executions e JOIN flows f ON"
                      " f.id = e.flow_id WHERE e.id = ?1",
    [Q_EXEC_LIST] = "SELECT " EXEC_COLS ", d.text FROM executions e JOIN flows f ON"
                    " f.id = e.flow_id JOIN defs d ON d.id = e.def_id"
                    " WHERE e.flow_id = ?1 AND e.id >= ?2 AND (e.status = ?3 OR ?3 = 0)"
                    " AND (substr(e.name, 1, length(?4)) = ?4 OR ?4 IS NULL)"
                    " AND (e.started_ms >= ?5 OR ?5 = 0) AND (e.started_ms <= ?6 OR ?6 = 0)"
                    " ORDER BY e.id LIMIT ?7",
    [Q_EXEC_LOCK] = "SELECT " EXEC_COLS ", NULL FROM executions e JOIN flows f ON"
                    " f.id = e.flow_id WHERE e.id = ?1",
    [Q_EXEC_TASK_LOCK] = "SELECT " EXEC_COLS ", NULL, " TASK_COLS " FROM executions e"
                         " JOIN flows f ON f.id = e.flow_id JOIN tasks t ON"
                         " t.exec_id = e.id AND t.seq = ?2 WHERE e.id = ?1",
    [Q_EXEC_LOCK_ID] = "SELECT id FROM executions WHERE id = ?1",
    [Q_EVENT_INSERT] = "INSERT INTO events(exec_id, event_id, type, step, sched_id, time_ms,"
                       " detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_EVENT_INSERT4] = "INSERT INTO events(exec_id, event_id, type, step, sched_id, time_ms,"
                        " detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7), (?1, ?8, ?9, ?10, ?11,"
                        " ?12, ?13), (?1, ?14, ?15, ?16, ?17, ?18, ?19), (?1, ?20, ?21, ?22,"
                        " ?23, ?24, ?25)",
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
                    " AND lease_ms <= ?1 ORDER BY due_ms LIMIT ?2",
    [Q_TIMER_NEXT] = "SELECT min(due_ms) FROM timers",
    [Q_OUTBOX_NEXT] = "SELECT min(next_ms) FROM outbox WHERE next_ms > ?1",
    [Q_OUTBOX_INSERT] = "INSERT INTO outbox(exec_id, seq, payload, next_ms) VALUES(?1, ?2, ?3, ?4)",
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    [Q_OUTBOX_DELETE_EXEC] = "DELETE FROM outbox WHERE exec_id = ?1",
    [Q_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_ms = ?2, lease_ms = 0"
                       " WHERE id = ?1",
    [Q_OUTBOX_DUE] = "SELECT id, exec_id, seq, payload, attempts, next_ms FROM outbox"
                     " WHERE next_ms <= ?1 AND lease_ms <= ?1 ORDER BY id LIMIT ?2",
    [Q_OUTBOX_RELEASE] = "UPDATE outbox SET lease_ms = 0 WHERE id = ?1",
    [Q_NONCE_CLAIM] = "INSERT INTO nonces(ak, nonce, expire_ms) VALUES(?1, ?2, ?3)"
                      " ON CONFLICT DO NOTHING RETURNING 1",
    [Q_NONCE_PURGE] = "DELETE FROM nonces WHERE expire_ms < ?1",
    [Q_TIMER_UNCLAIM] = "UPDATE timers SET lease_ms = 0 WHERE owner = ?1 AND lease_ms > 0",
    [Q_OUTBOX_UNCLAIM] = "UPDATE outbox SET lease_ms = 0 WHERE owner = ?1 AND lease_ms > 0",
};

#define PREP(db, q)                                                                            \
    fl_stmt_t *s = sq_prep((db), (q));                                                         \
    if (!s)                                                                                    \
        return FL_EINTERNAL

/* Runs an insert ... ON CONFLICT DO NOTHING RETURNING <id>: FL_OK with *id set, dup when
 * the row existed already, FL_EINTERNAL on failure. */
static int insert_returning(fl_stmt_t *s, int dup, int64_t *id)
{
    int rc = sq_step(s);
    if (rc == SQ_ROW && id)
        *id = sq_col(s, 0);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    if (rc == SQ_DONE || rc == SQ_CONFLICT)
        return dup;
    return FL_EINTERNAL;
}

/* ---------------------------------------------------------------------------------------- */
/* Meta, accounts, keys                                                                     */
/* ---------------------------------------------------------------------------------------- */

int fl_db_meta_get(fl_db_t *db, const char *key, fl_arena_t *a, char **val, size_t *len)
{
    PREP(db, Q_META_GET);
    sq_str(s, 1, key);
    int rc = sq_step(s);
    if (rc == SQ_ROW) {
        const char *v = s->db->ops->col_bytes(s, 0, len);
        *val = fl_arena_alloc(a, *len + 1);
        if (*len) /* an empty blob may read as NULL */
            memcpy(*val, v, *len);
        sq_reset(s);
        return FL_OK;
    }
    sq_reset(s);
    return rc == SQ_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_meta_put(fl_db_t *db, const char *key, const void *val, size_t len)
{
    PREP(db, Q_META_PUT);
    sq_str(s, 1, key);
    sq_blob(s, 2, val, len);
    return sq_run(s);
}

int fl_db_meta_add(fl_db_t *db, const char *key, const void *val, size_t len)
{
    PREP(db, Q_META_ADD);
    sq_str(s, 1, key);
    sq_blob(s, 2, val, len);
    return sq_run(s);
}

int fl_db_account_put(fl_db_t *db, uint64_t id, const char *region, int64_t now_ms)
{
    PREP(db, Q_ACCOUNT_PUT);
    sq_int(s, 1, (int64_t)id);
    sq_str(s, 2, region);
    sq_int(s, 3, now_ms);
    return sq_run(s);
}

int fl_db_key_put(fl_db_t *db, const char *ak, const char *secret, uint64_t account, int64_t now_ms)
{
    PREP(db, Q_KEY_PUT);
    sq_str(s, 1, ak);
    sq_str(s, 2, secret);
    sq_int(s, 3, (int64_t)account);
    sq_int(s, 4, now_ms);
    return sq_run(s);
}

static void key_row(fl_stmt_t *s, fl_arena_t *a, fl_key_row_t *k)
{
    k->ak = sq_text(s, 0, a);
    k->secret = sq_text(s, 1, a);
    k->account = (uint64_t)sq_col(s, 2);
    k->user = sq_text(s, 3, a);
    k->enabled = (int)sq_col(s, 4) != 0;
    k->created_ms = sq_col(s, 5);
}

int fl_db_keys_each(fl_db_t *db, void (*fn)(void *arg, const fl_key_row_t *k), void *arg)
{
    PREP(db, Q_KEYS_ALL);
    int rc;
    while ((rc = sq_step(s)) == SQ_ROW) {
        fl_arena_t a;
        fl_arena_init(&a);
        fl_key_row_t k;
        key_row(s, &a, &k);
        fn(arg, &k);
        fl_arena_close(&a);
    }
    sq_reset(s);
    return rc == SQ_DONE ? FL_OK : FL_EINTERNAL;
}

int fl_db_account_insert(fl_db_t *db, uint64_t id, const char *region, int64_t now_ms)
{
    PREP(db, Q_ACCOUNT_INSERT);
    sq_int(s, 1, (int64_t)id);
    sq_str(s, 2, region);
    sq_int(s, 3, now_ms);
    return insert_returning(s, FL_EACCOUNT_ALREADY_EXISTS, NULL);
}

static void account_row(fl_stmt_t *s, fl_arena_t *a, fl_account_row_t *r)
{
    r->id = (uint64_t)sq_col(s, 0);
    r->region = sq_text(s, 1, a);
    r->created_ms = sq_col(s, 2);
}

int fl_db_account_get(fl_db_t *db, uint64_t id, fl_arena_t *a, fl_account_row_t *out)
{
    PREP(db, Q_ACCOUNT_GET);
    sq_int(s, 1, (int64_t)id);
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        account_row(s, a, out);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_EACCOUNT_NOT_EXISTS : FL_EINTERNAL;
}

/* Collects every row of a prepared list query with the row function fn. */
#define COLLECT(db, s, a, type, rows, n, fn)                                                   \
    do {                                                                                       \
        size_t cap_ = 16;                                                                      \
        *(rows) = fl_arena_alloc((a), cap_ * sizeof(type));                                    \
        *(n) = 0;                                                                              \
        int rc_;                                                                               \
        while ((rc_ = sq_step(s)) == SQ_ROW) {                                        \
            if ((size_t)*(n) == cap_) {                                                        \
                type *nr_ = fl_arena_alloc((a), 2 * cap_ * sizeof(type));                      \
                memcpy(nr_, *(rows), cap_ * sizeof(type));                                     \
                *(rows) = nr_;                                                                 \
                cap_ *= 2;                                                                     \
            }                                                                                  \
            fn((s), (a), &(*(rows))[(*(n))++]);                                                \
        }                                                                                      \
        sq_reset(s);                                                                               \
        if (rc_ != SQ_DONE)                                                                \
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
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, name);
    sq_int(s, 3, now_ms);
    return insert_returning(s, FL_EUSER_ALREADY_EXISTS, NULL);
}

static void user_row(fl_stmt_t *s, fl_arena_t *a, fl_user_row_t *u)
{
    u->name = sq_text(s, 0, a);
    u->created_ms = sq_col(s, 1);
}

int fl_db_user_get(fl_db_t *db, uint64_t account, const char *name, fl_arena_t *a,
                   fl_user_row_t *out)
{
    PREP(db, Q_USER_GET);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, name);
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        user_row(s, a, out);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_EUSER_NOT_EXISTS : FL_EINTERNAL;
}

int fl_db_user_list(fl_db_t *db, uint64_t account, fl_arena_t *a, fl_user_row_t **rows, int *n)
{
    PREP(db, Q_USER_LIST);
    sq_int(s, 1, (int64_t)account);
    COLLECT(db, s, a, fl_user_row_t, rows, n, user_row);
    return FL_OK;
}

int fl_db_key_insert(fl_db_t *db, const fl_key_row_t *k)
{
    PREP(db, Q_KEY_INSERT);
    sq_str(s, 1, k->ak);
    sq_str(s, 2, k->secret);
    sq_int(s, 3, (int64_t)k->account);
    sq_str(s, 4, k->user);
    sq_int(s, 5, k->enabled);
    sq_int(s, 6, k->created_ms);
    return insert_returning(s, FL_EINTERNAL, NULL);
}

/* Runs an update/delete; *found (when not NULL) tells whether it changed a row. */
static int change_one(fl_stmt_t *s, bool *found)
{
    if (!found)
        return sq_run(s); /* nobody reads the count: a driver may only send it */
    int rc = sq_step(s);
    if (found)
        *found = rc == SQ_DONE && sq_changes(s) > 0;
    sq_reset(s);
    return rc == SQ_DONE ? FL_OK : FL_EINTERNAL;
}

int fl_db_key_set_enabled(fl_db_t *db, uint64_t account, const char *ak, bool enabled,
                          bool *found)
{
    PREP(db, Q_KEY_ENABLE);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, ak);
    sq_int(s, 3, enabled);
    return change_one(s, found);
}

int fl_db_key_delete(fl_db_t *db, uint64_t account, const char *ak, bool *found)
{
    PREP(db, Q_KEY_DELETE);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, ak);
    return change_one(s, found);
}

int fl_db_key_list(fl_db_t *db, uint64_t account, const char *user, fl_arena_t *a,
                   fl_key_row_t **rows, int *n)
{
    PREP(db, Q_KEY_LIST);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, user);
    COLLECT(db, s, a, fl_key_row_t, rows, n, key_row);
    return FL_OK;
}

int fl_db_policy_put(fl_db_t *db, const fl_policy_row_t *p)
{
    PREP(db, Q_POLICY_PUT);
    sq_int(s, 1, (int64_t)p->account);
    sq_str(s, 2, p->user);
    sq_str(s, 3, p->name);
    sq_str(s, 4, p->document);
    sq_int(s, 5, p->created_ms);
    return sq_run(s);
}

int fl_db_policy_delete(fl_db_t *db, uint64_t account, const char *user, const char *name,
                        bool *found)
{
    PREP(db, Q_POLICY_DELETE);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, user);
    sq_str(s, 3, name);
    return change_one(s, found);
}

static void policy_row(fl_stmt_t *s, fl_arena_t *a, fl_policy_row_t *p)
{
    p->account = (uint64_t)sq_col(s, 0);
    p->user = sq_text(s, 1, a);
    p->name = sq_text(s, 2, a);
    p->document = sq_text(s, 3, a);
    p->created_ms = sq_col(s, 4);
}

int fl_db_policy_list(fl_db_t *db, uint64_t account, const char *user, fl_arena_t *a,
                      fl_policy_row_t **rows, int *n)
{
    PREP(db, Q_POLICY_LIST);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, user);
    COLLECT(db, s, a, fl_policy_row_t, rows, n, policy_row);
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Flows                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static int def_find(fl_db_t *db, const char *key, int64_t *id)
{
    PREP(db, Q_DEF_FIND);
    sq_str(s, 1, key);
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        *id = sq_col(s, 0);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_def_put(fl_db_t *db, const char *text, int64_t *id)
{
    /* Definitions are stored once per distinct text (keyed by SHA-256), so a flow and the
     * snapshots its executions keep share one row. */
    unsigned char md[SHA256_DIGEST_LENGTH];
    char key[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)text, strlen(text), md);
    fl_hex(md, sizeof md, key);
    int rc = def_find(db, key, id);
    if (rc != FL_ENOT_FOUND)
        return rc;
    PREP(db, Q_DEF_INSERT);
    sq_str(s, 1, key);
    sq_str(s, 2, text);
    rc = insert_returning(s, FL_ENOT_FOUND, id);
    if (rc == FL_ENOT_FOUND) /* another node stored the same text a moment ago */
        rc = def_find(db, key, id);
    return rc == FL_ENOT_FOUND ? FL_EINTERNAL : rc;
}

int fl_db_def_get(fl_db_t *db, int64_t id, fl_arena_t *a, char **text)
{
    PREP(db, Q_DEF_GET);
    sq_int(s, 1, id);
    int rc = sq_step(s);
    if (rc == SQ_ROW) {
        *text = sq_text(s, 0, a);
        sq_reset(s);
        return FL_OK;
    }
    sq_reset(s);
    return rc == SQ_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_flow_insert(fl_db_t *db, fl_flow_row_t *f)
{
    PREP(db, Q_FLOW_INSERT);
    sq_int(s, 1, (int64_t)f->account);
    sq_str(s, 2, f->name);
    sq_str(s, 3, f->uuid);
    sq_int(s, 4, f->def_id);
    sq_str(s, 5, f->description ? f->description : "");
    sq_str(s, 6, f->type ? f->type : "FDL");
    sq_str(s, 7, f->role_arn ? f->role_arn : "");
    sq_str(s, 8, f->mode ? f->mode : "Standard");
    sq_str(s, 9, f->environment ? f->environment : "");
    sq_int(s, 10, f->created_ms);
    sq_int(s, 11, f->modified_ms);
    return insert_returning(s, FL_EFLOW_ALREADY_EXISTS, &f->id);
}

int fl_db_flow_update(fl_db_t *db, const fl_flow_row_t *f)
{
    PREP(db, Q_FLOW_UPDATE);
    sq_int(s, 1, f->id);
    sq_int(s, 2, f->def_id);
    sq_str(s, 3, f->description ? f->description : "");
    sq_str(s, 4, f->type ? f->type : "FDL");
    sq_str(s, 5, f->role_arn ? f->role_arn : "");
    sq_str(s, 6, f->environment ? f->environment : "");
    sq_int(s, 7, f->modified_ms);
    return sq_run(s);
}

static void flow_row(fl_stmt_t *s, fl_arena_t *a, fl_flow_row_t *f)
{
    f->id = sq_col(s, 0);
    f->account = (uint64_t)sq_col(s, 1);
    f->name = sq_text(s, 2, a);
    f->uuid = sq_text(s, 3, a);
    f->def_id = sq_col(s, 4);
    f->description = sq_text(s, 5, a);
    f->type = sq_text(s, 6, a);
    f->role_arn = sq_text(s, 7, a);
    f->mode = sq_text(s, 8, a);
    f->environment = sq_text(s, 9, a);
    f->created_ms = sq_col(s, 10);
    f->modified_ms = sq_col(s, 11);
    f->definition = sq_text(s, 12, a);
}

static int flow_one(fl_stmt_t *s, fl_arena_t *a, fl_flow_row_t *out)
{
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        flow_row(s, a, out);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_EFLOW_NOT_EXISTS : FL_EINTERNAL;
}

int fl_db_flow_get(fl_db_t *db, uint64_t account, const char *name, bool with_def, fl_arena_t *a,
                   fl_flow_row_t *out)
{
    (void)with_def; /* the definition is shared and small next to a round trip; always read */
    PREP(db, Q_FLOW_GET);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, name);
    return flow_one(s, a, out);
}

int fl_db_flow_get_by_id(fl_db_t *db, int64_t id, fl_arena_t *a, fl_flow_row_t *out)
{
    PREP(db, Q_FLOW_GET_ID);
    sq_int(s, 1, id);
    return flow_one(s, a, out);
}

int fl_db_flow_list(fl_db_t *db, uint64_t account, const char *start, int limit, fl_arena_t *a,
                    fl_flow_row_t **rows, int *n)
{
    PREP(db, Q_FLOW_LIST);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, start ? start : "");
    sq_int(s, 3, limit);
    *rows = fl_arena_alloc(a, sizeof(fl_flow_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = sq_step(s)) == SQ_ROW && *n < limit)
        flow_row(s, a, &(*rows)[(*n)++]);
    sq_reset(s);
    return rc == SQ_DONE || rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
}

int fl_db_flow_delete(fl_db_t *db, int64_t flow_id)
{
    static const int qs[] = {Q_FLOW_DEL_EVENTS, Q_FLOW_DEL_TASKS, Q_FLOW_DEL_TIMERS,
                             Q_FLOW_DEL_OUTBOX, Q_FLOW_DEL_EXECS, Q_FLOW_DELETE};
    for (size_t i = 0; i < FL_ARRAY_LEN(qs); i++) {
        PREP(db, qs[i]);
        sq_int(s, 1, flow_id);
        int rc = sq_run(s);
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
    sq_int(s, 1, e->flow_id);
    sq_str(s, 2, e->name);
    sq_int(s, 3, e->status);
    sq_int(s, 4, e->def_id);
    sq_str(s, 5, e->input ? e->input : "{}");
    sq_str(s, 6, e->output);
    sq_str(s, 7, e->error_code);
    sq_str(s, 8, e->error_message);
    sq_int(s, 9, e->started_ms);
    sq_int(s, 10, e->stopped_ms);
    sq_str(s, 11, e->state ? e->state : "{}");
    sq_str(s, 12, e->parent_token);
    return insert_returning(s, FL_EEXECUTION_ALREADY_EXISTS, &e->id);
}

int fl_db_exec_update(fl_db_t *db, const fl_exec_row_t *e)
{
    PREP(db, Q_EXEC_UPDATE);
    sq_int(s, 1, e->id);
    sq_int(s, 2, e->status);
    sq_str(s, 3, e->output);
    sq_str(s, 4, e->error_code);
    sq_str(s, 5, e->error_message);
    sq_int(s, 6, e->stopped_ms);
    sq_str(s, 7, e->state ? e->state : "{}");
    return sq_run(s);
}

static void exec_row(fl_stmt_t *s, fl_arena_t *a, fl_exec_row_t *e, bool meta_only)
{
    e->id = sq_col(s, 0);
    e->flow_id = sq_col(s, 1);
    e->flow_name = sq_text(s, 2, a);
    e->name = sq_text(s, 3, a);
    e->status = (int)sq_col(s, 4);
    e->def_id = sq_col(s, 5);
    e->error_code = sq_text(s, 8, a);
    e->error_message = sq_text(s, 9, a);
    e->started_ms = sq_col(s, 10);
    e->stopped_ms = sq_col(s, 11);
    e->account = (uint64_t)sq_col(s, 13);
    if (meta_only)
        return;
    e->input = sq_text(s, 6, a);
    e->output = sq_text(s, 7, a);
    e->state = sq_text(s, 12, a);
    e->parent_token = sq_text(s, 14, a);
    e->definition = sq_text(s, 15, a);
}

static int exec_one(fl_stmt_t *s, fl_arena_t *a, fl_exec_row_t *out)
{
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        exec_row(s, a, out, false);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_EEXECUTION_NOT_EXISTS : FL_EINTERNAL;
}

int fl_db_exec_get(fl_db_t *db, int64_t flow_id, const char *name, bool with_def, fl_arena_t *a,
                   fl_exec_row_t *out)
{
    (void)with_def;
    PREP(db, Q_EXEC_GET);
    sq_int(s, 1, flow_id);
    sq_str(s, 2, name);
    return exec_one(s, a, out);
}

int fl_db_exec_get_by_id(fl_db_t *db, int64_t id, fl_arena_t *a, fl_exec_row_t *out)
{
    PREP(db, Q_EXEC_GET_ID);
    sq_int(s, 1, id);
    return exec_one(s, a, out);
}

int fl_db_exec_task_locked(fl_db_t *db, int64_t exec_id, uint32_t seq, fl_arena_t *a,
                           fl_exec_row_t *e, fl_task_row_t *t, bool *has_task)
{
    PREP(db, Q_EXEC_TASK_LOCK);
    sq_int(s, 1, exec_id);
    sq_int(s, 2, seq);
    int rc = sq_step(s);
    *has_task = false;
    if (rc == SQ_ROW) {
        exec_row(s, a, e, false);
        *has_task = true;
        t->exec_id = exec_id;
        t->seq = seq;
        t->step = sq_text(s, 16, a);
        t->sched_id = sq_col(s, 17);
        t->created_ms = sq_col(s, 18);
        t->timeout_ms = sq_col(s, 19);
        t->done = sq_col(s, 20) != 0;
        t->request_id = sq_text(s, 21, a);
        t->event_id = sq_col(s, 22);
    }
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    /* No such attempt (or no such execution): which one, the execution alone tells. */
    return rc == SQ_DONE ? fl_db_exec_get_locked(db, exec_id, a, e) : FL_EINTERNAL;
}

int fl_db_exec_lock(fl_db_t *db, int64_t id)
{
    PREP(db, Q_EXEC_LOCK_ID);
    sq_int(s, 1, id);
    int rc = sq_step(s);
    sq_reset(s);
    return rc == SQ_ROW || rc == SQ_DONE ? FL_OK : FL_EINTERNAL;
}

int fl_db_exec_get_locked(fl_db_t *db, int64_t id, fl_arena_t *a, fl_exec_row_t *out)
{
    PREP(db, Q_EXEC_LOCK);
    sq_int(s, 1, id);
    return exec_one(s, a, out);
}

int fl_db_exec_list(fl_db_t *db, const fl_exec_query_t *q, fl_arena_t *a, fl_exec_row_t **rows,
                    int *n)
{
    PREP(db, Q_EXEC_LIST);
    sq_int(s, 1, q->flow_id);
    sq_int(s, 2, q->after_id);
    sq_int(s, 3, q->status);
    sq_str(s, 4, q->prefix);
    sq_int(s, 5, q->started_begin);
    sq_int(s, 6, q->started_end);
    sq_int(s, 7, q->limit);
    *rows = fl_arena_alloc(a, sizeof(fl_exec_row_t) * (size_t)(q->limit > 0 ? q->limit : 1));
    *n = 0;
    int rc;
    while ((rc = sq_step(s)) == SQ_ROW && *n < q->limit)
        exec_row(s, a, &(*rows)[(*n)++], q->metadata_only);
    sq_reset(s);
    return rc == SQ_DONE || rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
}

/* ---------------------------------------------------------------------------------------- */
/* History                                                                                  */
/* ---------------------------------------------------------------------------------------- */

int fl_db_event_insert(fl_db_t *db, int64_t exec_id, const fl_event_row_t *ev)
{
    PREP(db, Q_EVENT_INSERT);
    sq_int(s, 1, exec_id);
    sq_int(s, 2, ev->event_id);
    sq_str(s, 3, ev->type);
    sq_str(s, 4, ev->step ? ev->step : "");
    sq_int(s, 5, ev->sched_id);
    sq_int(s, 6, ev->time_ms);
    sq_str(s, 7, ev->detail ? ev->detail : "{}");
    return sq_run(s);
}

int fl_db_events_insert(fl_db_t *db, int64_t exec_id, const fl_event_row_t *evs, int n)
{
    /* Four to a statement: one round of parsing and executing instead of four. */
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        PREP(db, Q_EVENT_INSERT4);
        sq_int(s, 1, exec_id);
        for (int k = 0; k < 4; k++) {
            const fl_event_row_t *ev = &evs[i + k];
            int b = 2 + 6 * k;
            sq_int(s, b, ev->event_id);
            sq_str(s, b + 1, ev->type);
            sq_str(s, b + 2, ev->step ? ev->step : "");
            sq_int(s, b + 3, ev->sched_id);
            sq_int(s, b + 4, ev->time_ms);
            sq_str(s, b + 5, ev->detail ? ev->detail : "{}");
        }
        int rc = sq_run(s);
        if (rc)
            return rc;
    }
    for (; i < n; i++) {
        int rc = fl_db_event_insert(db, exec_id, &evs[i]);
        if (rc)
            return rc;
    }
    return FL_OK;
}

int fl_db_event_list(fl_db_t *db, int64_t exec_id, int64_t from, int limit, fl_arena_t *a,
                     fl_event_row_t **rows, int *n)
{
    PREP(db, Q_EVENT_LIST);
    sq_int(s, 1, exec_id);
    sq_int(s, 2, from);
    sq_int(s, 3, limit);
    *rows = fl_arena_alloc(a, sizeof(fl_event_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = sq_step(s)) == SQ_ROW && *n < limit) {
        fl_event_row_t *ev = &(*rows)[(*n)++];
        ev->event_id = sq_col(s, 0);
        ev->sched_id = sq_col(s, 1);
        ev->type = sq_text(s, 2, a);
        ev->step = sq_text(s, 3, a);
        ev->time_ms = sq_col(s, 4);
        ev->detail = sq_text(s, 5, a);
    }
    sq_reset(s);
    return rc == SQ_DONE || rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
}

/* ---------------------------------------------------------------------------------------- */
/* Task attempts                                                                            */
/* ---------------------------------------------------------------------------------------- */

int fl_db_task_insert(fl_db_t *db, const fl_task_row_t *t)
{
    PREP(db, Q_TASK_INSERT);
    sq_int(s, 1, t->exec_id);
    sq_int(s, 2, t->seq);
    sq_str(s, 3, t->step);
    sq_int(s, 4, t->sched_id);
    sq_int(s, 5, t->created_ms);
    sq_int(s, 6, t->timeout_ms);
    sq_int(s, 7, t->attempt > 0 ? t->attempt : 1);
    return sq_run(s);
}

int fl_db_task_get(fl_db_t *db, int64_t exec_id, uint32_t seq, fl_arena_t *a, fl_task_row_t *out)
{
    PREP(db, Q_TASK_GET);
    sq_int(s, 1, exec_id);
    sq_int(s, 2, seq);
    int rc = sq_step(s);
    if (rc == SQ_ROW) {
        out->exec_id = exec_id;
        out->seq = seq;
        out->step = sq_text(s, 0, a);
        out->sched_id = sq_col(s, 1);
        out->created_ms = sq_col(s, 2);
        out->timeout_ms = sq_col(s, 3);
        out->done = (int)sq_col(s, 4) != 0;
        out->request_id = sq_text(s, 5, a);
        out->event_id = sq_col(s, 6);
    }
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_task_complete(fl_db_t *db, int64_t exec_id, uint32_t seq, const char *request_id,
                        int64_t event_id)
{
    PREP(db, Q_TASK_COMPLETE);
    sq_int(s, 1, exec_id);
    sq_int(s, 2, seq);
    sq_str(s, 3, request_id);
    sq_int(s, 4, event_id);
    return sq_run(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Timers and outbox                                                                        */
/* ---------------------------------------------------------------------------------------- */

int fl_db_timer_insert(fl_db_t *db, int64_t exec_id, int kind, uint32_t seq, int64_t due_ms)
{
    PREP(db, Q_TIMER_INSERT);
    sq_int(s, 1, due_ms);
    sq_int(s, 2, exec_id);
    sq_int(s, 3, kind);
    sq_int(s, 4, seq);
    db->kicked = true;
    return sq_run(s);
}

static int delete_one(fl_db_t *db, int q, int64_t id, bool *found)
{
    PREP(db, q);
    sq_int(s, 1, id);
    return change_one(s, found);
}

int fl_db_timer_delete(fl_db_t *db, int64_t id, bool *found)
{
    return delete_one(db, Q_TIMER_DELETE, id, found);
}

int fl_db_timer_delete_exec(fl_db_t *db, int64_t exec_id)
{
    return delete_one(db, Q_TIMER_DELETE_EXEC, exec_id, NULL);
}

int fl_db_timer_claim(fl_db_t *db, int64_t now_ms, int64_t until_ms, int limit, fl_arena_t *a,
                      fl_timer_row_t **rows, int *n)
{
    PREP(db, Q_TIMER_DUE);
    sq_int(s, 1, now_ms);
    sq_int(s, 2, limit);
    sq_int(s, 3, until_ms); /* used by drivers that lease their claims */
    sq_str(s, 4, db->store->node);
    *rows = fl_arena_alloc(a, sizeof(fl_timer_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = sq_step(s)) == SQ_ROW && *n < limit) {
        fl_timer_row_t *t = &(*rows)[(*n)++];
        t->id = sq_col(s, 0);
        t->due_ms = sq_col(s, 1);
        t->exec_id = sq_col(s, 2);
        t->kind = (int)sq_col(s, 3);
        t->seq = (uint32_t)sq_col(s, 4);
    }
    sq_reset(s);
    return rc == SQ_DONE || rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
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
    sq_int(s, 1, *due_ms); /* queries without ?1 ignore it */
    int rc = sq_step(s);
    *due_ms = INT64_MAX;
    if (rc == SQ_ROW && !sq_null(s, 0))
        *due_ms = sq_col(s, 0);
    sq_reset(s);
    return rc == SQ_ROW || rc == SQ_DONE ? FL_OK : FL_EINTERNAL;
}

int fl_db_outbox_insert(fl_db_t *db, int64_t exec_id, uint32_t seq, const char *payload,
                        int64_t now_ms)
{
    PREP(db, Q_OUTBOX_INSERT);
    sq_int(s, 1, exec_id);
    sq_int(s, 2, seq);
    sq_str(s, 3, payload);
    sq_int(s, 4, now_ms);
    db->kicked = true;
    return sq_run(s);
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
    sq_int(s, 1, id);
    sq_int(s, 2, next_ms);
    db->kicked = true;
    return sq_run(s);
}

int fl_db_unclaim_node(fl_db_t *db, const char *node)
{
    static const int qs[] = {Q_TIMER_UNCLAIM, Q_OUTBOX_UNCLAIM};
    for (size_t i = 0; i < FL_ARRAY_LEN(qs); i++) {
        PREP(db, qs[i]);
        sq_str(s, 1, node);
        int rc = sq_run(s);
        if (rc)
            return rc;
    }
    return FL_OK;
}

int fl_db_outbox_release(fl_db_t *db, int64_t id)
{
    PREP(db, Q_OUTBOX_RELEASE);
    sq_int(s, 1, id);
    return sq_run(s);
}

int fl_db_outbox_claim(fl_db_t *db, int64_t now_ms, int64_t until_ms, int limit, fl_arena_t *a,
                       fl_outbox_row_t **rows, int *n)
{
    PREP(db, Q_OUTBOX_DUE);
    sq_int(s, 1, now_ms);
    sq_int(s, 2, limit);
    sq_int(s, 3, until_ms);
    sq_str(s, 4, db->store->node);
    *rows = fl_arena_alloc(a, sizeof(fl_outbox_row_t) * (size_t)(limit > 0 ? limit : 1));
    *n = 0;
    int rc;
    while ((rc = sq_step(s)) == SQ_ROW && *n < limit) {
        fl_outbox_row_t *o = &(*rows)[(*n)++];
        o->id = sq_col(s, 0);
        o->exec_id = sq_col(s, 1);
        o->seq = (uint32_t)sq_col(s, 2);
        o->payload = sq_text(s, 3, a);
        o->attempts = (int)sq_col(s, 4);
        o->next_ms = sq_col(s, 5);
    }
    sq_reset(s);
    return rc == SQ_DONE || rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
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

static void queue_row(fl_stmt_t *s, fl_arena_t *a, fl_queue_row_t *q)
{
    q->name = sq_text(s, 0, a);
    q->attrs = sq_text(s, 1, a);
    q->created_ms = sq_col(s, 2);
    q->modified_ms = sq_col(s, 3);
}

int fl_db_queue_put(fl_db_t *db, uint64_t account, const char *name, const char *attrs,
                    bool replace, int64_t now_ms)
{
    PREP(db, Q_QUEUE_PUT);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, name);
    sq_str(s, 3, attrs);
    sq_int(s, 4, now_ms);
    sq_int(s, 5, replace);
    return sq_run(s);
}

int fl_db_queue_get(fl_db_t *db, uint64_t account, const char *name, fl_arena_t *a,
                    fl_queue_row_t *out)
{
    PREP(db, Q_QUEUE_GET);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, name);
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        queue_row(s, a, out);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_queue_list(fl_db_t *db, uint64_t account, const char *start, const char *prefix,
                     int limit, fl_arena_t *a, fl_queue_row_t **rows, int *n)
{
    PREP(db, Q_QUEUE_LIST);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, start ? start : "");
    sq_str(s, 3, prefix ? prefix : "");
    sq_int(s, 4, limit);
    COLLECT(db, s, a, fl_queue_row_t, rows, n, queue_row);
    return FL_OK;
}

int fl_db_queue_delete(fl_db_t *db, uint64_t account, const char *name)
{
    int qs[] = {Q_QUEUE_PURGE, Q_QUEUE_DELETE};
    for (size_t i = 0; i < FL_ARRAY_LEN(qs); i++) {
        PREP(db, qs[i]);
        sq_int(s, 1, (int64_t)account);
        sq_str(s, 2, name);
        int rc = sq_run(s);
        if (rc)
            return rc;
    }
    return FL_OK;
}

int fl_db_queue_counts(fl_db_t *db, uint64_t account, const char *name, int64_t now_ms,
                       int64_t *total, int64_t *inactive, int64_t *delayed)
{
    PREP(db, Q_QUEUE_COUNTS);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, name);
    sq_int(s, 3, now_ms);
    int rc = sq_step(s);
    if (rc == SQ_ROW) {
        *total = sq_col(s, 0);
        *inactive = sq_col(s, 1);
        *delayed = sq_col(s, 2);
    }
    sq_reset(s);
    return rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
}

int fl_db_msg_insert(fl_db_t *db, uint64_t account, const char *queue, const char *body,
                     int priority, int64_t visible_ms, int64_t expire_ms, int64_t now_ms,
                     int64_t *id)
{
    PREP(db, Q_MSG_INSERT);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, queue);
    sq_str(s, 3, body);
    sq_int(s, 4, priority);
    sq_int(s, 5, now_ms);
    sq_int(s, 6, visible_ms);
    sq_int(s, 7, expire_ms);
    return insert_returning(s, FL_EINTERNAL, id);
}

static void msg_row(fl_stmt_t *s, fl_arena_t *a, fl_msg_row_t *m)
{
    m->id = sq_col(s, 0);
    m->body = sq_text(s, 1, a);
    m->priority = (int)sq_col(s, 2);
    m->enqueue_ms = sq_col(s, 3);
    m->visible_ms = sq_col(s, 4);
    m->expire_ms = sq_col(s, 5);
    m->first_dequeue_ms = sq_col(s, 6);
    m->dequeue_count = (int)sq_col(s, 7);
    m->receipt = sq_text(s, 8, a);
}

int fl_db_msg_ready(fl_db_t *db, uint64_t account, const char *queue, int64_t now_ms, int limit,
                    bool peek, fl_arena_t *a, fl_msg_row_t **rows, int *n)
{
    /* Expired messages leave first, so they are never handed out. */
    if (!peek) {
        PREP(db, Q_MSG_EXPIRE);
        sq_int(s, 1, (int64_t)account);
        sq_str(s, 2, queue);
        sq_int(s, 3, now_ms);
        int rc = sq_run(s);
        if (rc)
            return rc;
    }
    PREP(db, peek ? Q_MSG_PEEK : Q_MSG_READY);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, queue);
    sq_int(s, 3, now_ms);
    sq_int(s, 4, limit);
    COLLECT(db, s, a, fl_msg_row_t, rows, n, msg_row);
    return FL_OK;
}

int fl_db_msg_take(fl_db_t *db, int64_t id, int64_t visible_ms, const char *receipt,
                   int64_t now_ms)
{
    PREP(db, Q_MSG_TAKE);
    sq_int(s, 1, id);
    sq_int(s, 2, visible_ms);
    sq_str(s, 3, receipt);
    sq_int(s, 4, now_ms);
    return sq_run(s);
}

int fl_db_msg_by_receipt(fl_db_t *db, uint64_t account, const char *queue, const char *receipt,
                         fl_arena_t *a, fl_msg_row_t *out)
{
    PREP(db, Q_MSG_BY_RECEIPT);
    sq_int(s, 1, (int64_t)account);
    sq_str(s, 2, queue);
    sq_str(s, 3, receipt);
    int rc = sq_step(s);
    if (rc == SQ_ROW)
        msg_row(s, a, out);
    sq_reset(s);
    if (rc == SQ_ROW)
        return FL_OK;
    return rc == SQ_DONE ? FL_ENOT_FOUND : FL_EINTERNAL;
}

int fl_db_msg_delete(fl_db_t *db, int64_t id)
{
    return delete_one(db, Q_MSG_DELETE, id, NULL);
}

int fl_db_msg_set_visible(fl_db_t *db, int64_t id, int64_t visible_ms, const char *receipt)
{
    PREP(db, Q_MSG_VISIBLE);
    sq_int(s, 1, id);
    sq_int(s, 2, visible_ms);
    sq_str(s, 3, receipt);
    return sq_run(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Waiting tasks                                                                            */
/* ---------------------------------------------------------------------------------------- */

static void waiting_row(fl_stmt_t *s, fl_arena_t *a, fl_waiting_row_t *w)
{
    w->exec_id = sq_col(s, 0);
    w->seq = (uint32_t)sq_col(s, 1);
    w->step = sq_text(s, 2, a);
    w->created_ms = sq_col(s, 3);
    w->timeout_ms = sq_col(s, 4);
    w->exec_name = sq_text(s, 5, a);
    w->attempt = (int)sq_col(s, 6);
}

int fl_db_task_waiting(fl_db_t *db, int64_t flow_id, const char *exec_name, int64_t from_exec,
                       uint32_t from_seq, int limit, fl_arena_t *a, fl_waiting_row_t **rows,
                       int *n)
{
    PREP(db, Q_TASK_WAITING);
    sq_int(s, 1, flow_id);
    sq_str(s, 2, exec_name);
    sq_int(s, 3, from_exec);
    sq_int(s, 4, from_seq);
    sq_int(s, 5, limit);
    COLLECT(db, s, a, fl_waiting_row_t, rows, n, waiting_row);
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Nonces shared by several nodes                                                           */
/* ---------------------------------------------------------------------------------------- */

int fl_db_nonce_claim(fl_db_t *db, const char *ak, const char *nonce, int64_t expire_ms,
                      bool *fresh)
{
    PREP(db, Q_NONCE_CLAIM);
    sq_str(s, 1, ak);
    sq_str(s, 2, nonce);
    sq_int(s, 3, expire_ms);
    int rc = insert_returning(s, FL_ESIGNATURE_NONCE_USED, NULL);
    *fresh = rc == FL_OK;
    return rc == FL_ESIGNATURE_NONCE_USED ? FL_OK : rc;
}

int fl_db_nonce_purge(fl_db_t *db, int64_t now_ms)
{
    PREP(db, Q_NONCE_PURGE);
    sq_int(s, 1, now_ms);
    return sq_run(s);
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
