/*
 * store.c - what every backend shares: opening by target (a file path or a postgres:// URL),
 * the writer thread with group commit, per-thread read connections, fault injection, and
 * the statement wrappers query.c calls.
 *
 * Group commit: the writer takes every queued job (up to BATCH_MAX), runs each inside its
 * own savepoint of one transaction, commits once and only then wakes the callers. A job
 * whose statement met a row lock held by another node (PostgreSQL: lock timeout or
 * deadlock) is rolled back to its savepoint and runs again in a later transaction, after
 * this one has committed and released its own locks; one that keeps meeting locks gives up
 * with FL_ECONCURRENT_UPDATE.
 */
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define BATCH_MAX 512
/* A job that met a row lock is tried this many times in all (each wait is bounded by the
 * backend's lock timeout), then answered FL_ECONCURRENT_UPDATE. */
#define LOCK_TRIES 12

struct job {
    fl_store_job_fn fn;
    void *arg;
    int rc;
    int tries;
    sem_t done; /* posted once the job's transaction has ended: wakes only its caller */
    struct job *next;
};

/* ---------------------------------------------------------------------------------------- */
/* Fault injection                                                                          */
/* ---------------------------------------------------------------------------------------- */

/* With FL_FAULT_STORE=N, the Nth statement (or COMMIT) that the writer runs after
 * fl_store_arm_faults() fails as an I/O error would. Reads never fail, so background
 * polling cannot consume the fault. */
static atomic_long fault_at = -1;
static atomic_long fault_count;
static atomic_bool fault_armed;

bool fl_store_fault_hit(const fl_db_t *db)
{
    long at = atomic_load(&fault_at);
    if (at < 0 || !atomic_load(&fault_armed) || !db->writer)
        return false;
    return atomic_fetch_add(&fault_count, 1) + 1 == at;
}

void fl_store_arm_faults(void)
{
    atomic_store(&fault_armed, true);
}

/* ---------------------------------------------------------------------------------------- */
/* Statements                                                                               */
/* ---------------------------------------------------------------------------------------- */

int sq_count_params(const char *sql)
{
    int max = 0;
    for (const char *p = sql; *p; p++) {
        if (*p != '?' || p[1] < '0' || p[1] > '9')
            continue;
        int n = (int)strtol(p + 1, NULL, 10);
        if (n > max)
            max = n;
    }
    return max;
}

fl_stmt_t *sq_prep(fl_db_t *db, int q)
{
    fl_stmt_t *s = db->stmt[q];
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->db = db;
        s->q = q;
        if (db->ops->prepare(s) != FL_OK) {
            free(s);
            return NULL;
        }
        FL_ASSERT(s->n_params <= SQ_MAX_PARAMS);
        db->stmt[q] = s;
    }
    return s;
}

static void param(fl_stmt_t *s, int i, sq_param_t v)
{
    if (i >= 1 && i <= SQ_MAX_PARAMS)
        s->p[i - 1] = v;
}

void sq_int(fl_stmt_t *s, int i, int64_t v)
{
    param(s, i, (sq_param_t){.type = SQ_INT, .i = v});
}

void sq_str(fl_stmt_t *s, int i, const char *v)
{
    param(s, i, (sq_param_t){.type = v ? SQ_TEXT : SQ_NULL, .p = v, .len = v ? strlen(v) : 0});
}

void sq_blob(fl_stmt_t *s, int i, const void *p, size_t len)
{
    param(s, i, (sq_param_t){.type = SQ_BLOB, .p = p, .len = len});
}

/* Fault injection before a statement reaches the driver (the writer's only). */
static bool faulted(fl_stmt_t *s)
{
    if (!fl_store_fault_hit(s->db))
        return false;
    fl_warn("store: injected fault at query %d", s->q);
    s->db->failed = true;
    return true;
}

/* Notes a failure for the writer, which rolls the job back (and retries it after a lock). */
static int noted(fl_db_t *db, int rc)
{
    if (rc == SQ_LOCKED || rc == SQ_ERROR) {
        db->failed = true;
        db->locked |= rc == SQ_LOCKED;
    }
    return rc;
}

int sq_step(fl_stmt_t *s)
{
    if (!s->running && faulted(s))
        return SQ_ERROR;
    s->running = true;
    return noted(s->db, s->db->ops->step(s));
}

void sq_reset(fl_stmt_t *s)
{
    if (s->running)
        s->db->ops->reset(s);
    s->running = false;
    free(s->buf);
    s->buf = NULL;
    memset(s->p, 0, sizeof s->p);
}

int sq_run(fl_stmt_t *s)
{
    fl_db_t *db = s->db;
    int rc;
    if (!db->ops->run) {
        rc = sq_step(s);
    } else if (faulted(s)) {
        rc = SQ_ERROR;
    } else {
        s->running = true;
        rc = noted(db, db->ops->run(s));
    }
    sq_reset(s);
    return rc == SQ_DONE || rc == SQ_ROW ? FL_OK : FL_EINTERNAL;
}

bool sq_null(fl_stmt_t *s, int col)
{
    return s->db->ops->is_null(s, col);
}

int64_t sq_col(fl_stmt_t *s, int col)
{
    return s->db->ops->col_int(s, col);
}

char *sq_text(fl_stmt_t *s, int col, fl_arena_t *a)
{
    size_t len = 0;
    const char *t = s->db->ops->col_bytes(s, col, &len);
    return t ? fl_arena_strndup(a, t, len) : NULL;
}

int64_t sq_changes(fl_stmt_t *s)
{
    return s->db->ops->changes(s);
}

static void db_close(fl_db_t *db)
{
    if (!db)
        return;
    for (int i = 0; i < Q__COUNT; i++) {
        if (db->stmt[i]) {
            sq_reset(db->stmt[i]);
            db->ops->finalize(db->stmt[i]);
            free(db->stmt[i]);
        }
    }
    db->ops->close(db);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer thread and group commit                                                           */
/* ---------------------------------------------------------------------------------------- */

/* Runs SQL of the transaction frame; a failure is logged by the driver. */
static int frame(fl_db_t *db, const char *sql)
{
    return db->ops->exec(db, sql) == FL_OK ? FL_OK : FL_EINTERNAL;
}

/* Runs one batch in one transaction and sets every job's rc. Returns whether the commit
 * inserted timer/outbox rows. When a deferred write of one job failed after that job had
 * ended (db->doomed), nothing commits: *culprit is that job's index, for a run without it. */
static bool run_batch(fl_store_t *st, struct job *batch, int *culprit, bool *locked)
{
    fl_db_t *db = st->writer;
    bool kicked = false;
    *culprit = -1;
    db->doomed = false;
    db->job_no = -1; /* BEGIN's failure belongs to no job */
    int crc = frame(db, db->ops->begin_sql);
    int no = 0;
    for (struct job *j = batch; j; j = j->next, no++) {
        if (crc) {
            j->rc = FL_EINTERNAL;
            continue;
        }
        db->kicked = db->failed = db->locked = false;
        db->job_no = no;
        if (frame(db, "SAVEPOINT job")) {
            j->rc = FL_EINTERNAL;
            continue;
        }
        j->rc = j->fn(db, j->arg);
        /* A job that went on after a failed statement must not commit half its work. */
        if (db->failed && j->rc == FL_OK)
            j->rc = FL_EINTERNAL;
        if (j->rc != FL_OK) {
            frame(db, "ROLLBACK TO SAVEPOINT job");
            if (db->locked)
                j->rc = FL_ECONCURRENT_UPDATE;
        } else if (db->kicked) {
            kicked = true;
        }
        frame(db, "RELEASE SAVEPOINT job");
        if (db->doomed)
            break;
    }
    db->job_no = -1; /* the COMMIT's own failure belongs to no job */
    if (!crc && !db->doomed && (fl_store_fault_hit(db) || frame(db, "COMMIT")) && !db->doomed) {
        fl_error("store: group commit failed; rolling back the batch");
        crc = FL_EINTERNAL;
    }
    if (db->doomed) {
        db->doomed = false;
        if (db->doomed_job >= 0 && db->doomed_job < no) {
            fl_warn("store: a write of job %d failed late; running its batch again without it",
                    db->doomed_job);
            *culprit = db->doomed_job;
            *locked = db->doomed_locked;
            frame(db, "ROLLBACK");
            return false;
        }
        crc = FL_EINTERNAL; /* no job to blame (the connection, BEGIN): the batch failed */
    }
    if (crc) {
        frame(db, "ROLLBACK");
        for (struct job *j = batch; j; j = j->next)
            j->rc = FL_EINTERNAL;
        return false;
    }
    return kicked;
}

static void *writer_main(void *arg)
{
    fl_store_t *st = arg;
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

        bool kicked, locked = false;
        int culprit;
        struct job *held = NULL; /* culprits that met a lock: for the next transaction */
        while (!(kicked = run_batch(st, batch, &culprit, &locked)) && culprit >= 0) {
            /* Take out the job whose late write failed and run the others again. */
            struct job **pp = &batch;
            for (int k = 0; *pp && k < culprit; k++)
                pp = &(*pp)->next;
            if (!*pp)
                break;
            struct job *bad = *pp;
            *pp = bad->next;
            if (locked && bad->tries + 1 < LOCK_TRIES) {
                bad->rc = FL_ECONCURRENT_UPDATE;
                bad->next = held;
                held = bad;
            } else {
                bad->rc = locked ? FL_ECONCURRENT_UPDATE : FL_EINTERNAL;
                sem_post(&bad->done);
            }
            if (!batch)
                break;
        }
        while (held) { /* joins the retries below (after the batch's own jobs) */
            struct job *h = held;
            held = h->next;
            h->next = batch;
            batch = h;
        }
        if (kicked && st->on_commit)
            st->on_commit(st->on_commit_arg);

        /* Wake each caller on its own semaphore (a broadcast would wake every waiting
         * thread for every batch). A posted job may vanish at once: read next first. Jobs
         * that met another node's row lock go first into the next transaction, after this
         * commit released this node's own locks (so two nodes cannot wait on each other). */
        struct job *again = NULL, *again_last = NULL;
        for (struct job *j = batch, *next; j; j = next) {
            next = j->next;
            if (j->rc == FL_ECONCURRENT_UPDATE && ++j->tries < LOCK_TRIES) {
                j->next = NULL;
                if (again_last)
                    again_last->next = j;
                else
                    again = j;
                again_last = j;
                continue;
            }
            sem_post(&j->done);
        }
        pthread_mutex_lock(&st->mu);
        if (again) {
            again_last->next = st->head;
            if (!st->head)
                st->tail = again_last;
            st->head = again;
        }
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

int fl_store_set_node(fl_store_t *st, const char *node)
{
    snprintf(st->node, sizeof st->node, "%s", node);
    return fl_db_unclaim_node(fl_store_reader(st), st->node);
}

bool fl_store_shared(const fl_store_t *st)
{
    return st->ops->shared;
}

const char *fl_store_backend(const fl_store_t *st)
{
    return st->ops->name;
}

/* ---------------------------------------------------------------------------------------- */
/* Opening, readers                                                                         */
/* ---------------------------------------------------------------------------------------- */

static const fl_store_ops_t *ops_for(const char *target)
{
    if (strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0)
        return &fl_pg_ops;
    return &fl_sqlite_ops;
}

/* A store without threads yet; reader_done closes or keeps a reader whose thread ended. */
static fl_store_t *store_new(const char *target, void (*reader_done)(void *))
{
    fl_store_t *st = xcalloc(1, sizeof *st);
    st->ops = ops_for(target);
    st->target = xstrdup(target);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->work_cv, NULL);
    pthread_cond_init(&st->stop_cv, NULL);
    pthread_key_create(&st->reader_key, reader_done);
    return st;
}

static void store_free(fl_store_t *st)
{
    pthread_key_delete(st->reader_key);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->work_cv);
    pthread_cond_destroy(&st->stop_cv);
    free(st->target);
    free(st);
}

int fl_store_migrate(const char *target, int *from, int *to)
{
    fl_store_t *st = store_new(target, NULL); /* the writer connection only */
    fl_db_t *db = st->ops->open(st, true);
    int rc = db ? st->ops->migrate(db, from, to) : FL_EINTERNAL;
    db_close(db);
    store_free(st);
    return rc;
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

int fl_store_open(const char *target, fl_store_t **out)
{
    const char *f = getenv("FL_FAULT_STORE");
    if (f && *f)
        atomic_store(&fault_at, atol(f));
    fl_store_t *st = store_new(target, reader_release);
    int from = 0, to = 0;
    st->writer = st->ops->open(st, true);
    if (!st->writer || st->ops->migrate(st->writer, &from, &to) != FL_OK) {
        db_close(st->writer);
        store_free(st);
        return FL_EINTERNAL;
    }
    if (from != to && from > 0)
        fl_info("store: %s schema migrated from version %d to %d", st->ops->name, from, to);
    if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
        db_close(st->writer);
        store_free(st);
        return FL_EINTERNAL;
    }
    if (st->ops->start)
        st->ops->start(st);
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
    pthread_cond_broadcast(&st->stop_cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    if (st->ops->stop)
        st->ops->stop(st);
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
    store_free(st);
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
        db = st->ops->open(st, false);
        FL_ASSERT(db != NULL); /* the database opened fine for the writer a moment ago */
    }
    pthread_setspecific(st->reader_key, db);
    return db;
}
