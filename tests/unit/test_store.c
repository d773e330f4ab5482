/*
 * test_store.c - the store against a real database (an SQLite file in a fresh temporary
 * directory, or a fresh PostgreSQL schema when FLOWD_TEST_PG is set; fixture.h): group
 * commit with per-job savepoints (a failing job leaves nothing while its neighbours commit, also under 8 concurrent writer threads), flows,
 * executions with list filters and paging, history, task attempts, timers, the outbox,
 * definition dedup, cascading delete, fault injection and durability across a reopen.
 */
#include <dirent.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "store/store.h"
#include "fixture.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------- */
/* Fixture                                                                                  */
/* ---------------------------------------------------------------------------------------- */


#define DEF_TEXT "Type: StateMachine\nSpecVersion: v1\nStartAt: S\nStates:\n  - {Name: S, Type: Succeed}\n"

/* ---- write jobs ---- */

typedef struct {
    uint64_t account;
    const char *name;
    const char *def;
    int fail_with; /* return this after inserting (0 = commit) */
    int64_t def_id, flow_id; /* OUT */
} flow_job_t;

static int job_flow(fl_db_t *db, void *arg)
{
    flow_job_t *j = arg;
    int rc = fl_db_def_put(db, j->def ? j->def : DEF_TEXT, &j->def_id);
    if (rc)
        return rc;
    fl_flow_row_t f = {
        .account = j->account,
        .name = (char *)j->name,
        .uuid = (char *)"00000000-0000-4000-8000-000000000000",
        .def_id = j->def_id,
        .description = (char *)"desc",
        .type = (char *)"FDL",
        .role_arn = (char *)"acs:ram::1:role/x",
        .created_ms = 1000,
        .modified_ms = 2000,
    };
    rc = fl_db_flow_insert(db, &f);
    if (rc)
        return rc;
    j->flow_id = f.id;
    return j->fail_with;
}

static int64_t add_flow(fx_t *f, uint64_t account, const char *name, int64_t *def_id)
{
    flow_job_t j = {.account = account, .name = name};
    ASSERT_OK(fl_store_write(f->st, job_flow, &j));
    ASSERT(j.flow_id > 0);
    if (def_id)
        *def_id = j.def_id;
    return j.flow_id;
}

typedef struct {
    fl_exec_row_t e;
    int64_t id; /* OUT */
} exec_job_t;

static int job_exec(fl_db_t *db, void *arg)
{
    exec_job_t *j = arg;
    int rc = fl_db_exec_insert(db, &j->e);
    j->id = j->e.id;
    return rc;
}

static int64_t add_exec(fx_t *f, int64_t flow_id, int64_t def_id, const char *name, int status,
                        int64_t started_ms)
{
    exec_job_t j = {.e = {.flow_id = flow_id, .def_id = def_id, .name = (char *)name,
                          .status = status, .input = (char *)"{\"in\":1}",
                          .started_ms = started_ms, .state = (char *)"{\"st\":1}"}};
    ASSERT_OK(fl_store_write(f->st, job_exec, &j));
    ASSERT(j.id > 0);
    return j.id;
}

/* ---------------------------------------------------------------------------------------- */
/* Lifecycle, flows                                                                         */
/* ---------------------------------------------------------------------------------------- */

TEST(store_open_close)
{
    fx_t f;
    fx_open(&f);
    ASSERT(f.pg || access(f.path, F_OK) == 0);
    fl_db_t *r = fl_store_reader(f.st);
    ASSERT(r != NULL);
    ASSERT(fl_store_reader(f.st) == r); /* one reader per thread */
    int64_t due = 0;
    ASSERT_OK(fl_db_timer_next(r, &due));
    ASSERT_EQ(due, INT64_MAX); /* fresh schema, no timers */
    fx_close(&f);
    fl_store_close(NULL);

    fl_store_t *st = NULL;
    ASSERT_EQ(fl_store_open("/nonexistent-dir-for-flowd/x/y.db", &st), FL_EINTERNAL);
    ASSERT(st == NULL);
    LEAK_CHECK();
}

TEST(store_flow_insert_get_duplicate)
{
    fx_t f;
    fx_open(&f);
    int64_t def_id = 0;
    int64_t id = add_flow(&f, 7, "orders", &def_id);

    flow_job_t dup = {.account = 7, .name = "orders"};
    ASSERT_EQ(fl_store_write(f.st, job_flow, &dup), FL_EFLOW_ALREADY_EXISTS);
    /* Names are per account. */
    int64_t other = add_flow(&f, 8, "orders", NULL);
    ASSERT(other != id);

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_flow_row_t row;
    memset(&row, 0, sizeof row);
    ASSERT_OK(fl_db_flow_get(r, 7, "orders", true, &a, &row));
    ASSERT_EQ(row.id, id);
    ASSERT_EQ(row.account, 7);
    ASSERT_STR_EQ(row.name, "orders");
    ASSERT_STR_EQ(row.uuid, "00000000-0000-4000-8000-000000000000");
    ASSERT_EQ(row.def_id, def_id);
    ASSERT_STR_EQ(row.definition, DEF_TEXT);
    ASSERT_STR_EQ(row.description, "desc");
    ASSERT_STR_EQ(row.type, "FDL");
    ASSERT_STR_EQ(row.role_arn, "acs:ram::1:role/x");
    ASSERT_STR_EQ(row.mode, "Standard"); /* default */
    ASSERT_STR_EQ(row.environment, "");
    ASSERT_EQ(row.created_ms, 1000);
    ASSERT_EQ(row.modified_ms, 2000);

    fl_flow_row_t by_id;
    memset(&by_id, 0, sizeof by_id);
    ASSERT_OK(fl_db_flow_get_by_id(r, id, &a, &by_id));
    ASSERT_STR_EQ(by_id.name, "orders");
    ASSERT_EQ(by_id.account, 7);

    ASSERT_EQ(fl_db_flow_get(r, 7, "nope", false, &a, &row), FL_EFLOW_NOT_EXISTS);
    ASSERT_EQ(fl_db_flow_get(r, 9, "orders", false, &a, &row), FL_EFLOW_NOT_EXISTS);
    ASSERT_EQ(fl_db_flow_get_by_id(r, 999999, &a, &row), FL_EFLOW_NOT_EXISTS);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    int64_t id, def_id;
} upd_job_t;

static int job_flow_update(fl_db_t *db, void *arg)
{
    upd_job_t *j = arg;
    int rc = fl_db_def_put(db, "Type: StateMachine # v2\n", &j->def_id);
    if (rc)
        return rc;
    fl_flow_row_t f = {.id = j->id, .def_id = j->def_id, .description = (char *)"new",
                       .type = (char *)"FDL", .modified_ms = 5000};
    return fl_db_flow_update(db, &f);
}

TEST(store_flow_update_and_list_paging)
{
    fx_t f;
    fx_open(&f);
    static const char *const names[] = {"delta", "alpha", "echo", "charlie", "bravo"};
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = add_flow(&f, 1, names[i], NULL);
    add_flow(&f, 2, "alpha", NULL); /* another account: never listed */

    upd_job_t u = {.id = ids[0]};
    ASSERT_OK(fl_store_write(f.st, job_flow_update, &u));

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_flow_row_t *rows = NULL;
    int n = -1;
    ASSERT_OK(fl_db_flow_list(r, 1, NULL, 100, &a, &rows, &n));
    ASSERT_EQ(n, 5);
    const char *sorted[] = {"alpha", "bravo", "charlie", "delta", "echo"};
    for (int i = 0; i < 5; i++)
        ASSERT_STR_EQ(rows[i].name, sorted[i]);
    ASSERT_STR_EQ(rows[3].description, "new");
    ASSERT_STR_EQ(rows[3].definition, "Type: StateMachine # v2\n");
    ASSERT_EQ(rows[3].modified_ms, 5000);
    ASSERT_EQ(rows[3].created_ms, 1000); /* unchanged by an update */

    /* Pages of two: each page starts at the name after the previous page's last. */
    ASSERT_OK(fl_db_flow_list(r, 1, NULL, 2, &a, &rows, &n));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(rows[1].name, "bravo");
    ASSERT_OK(fl_db_flow_list(r, 1, "charlie", 2, &a, &rows, &n));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(rows[0].name, "charlie");
    ASSERT_STR_EQ(rows[1].name, "delta");
    ASSERT_OK(fl_db_flow_list(r, 1, "echo", 2, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(fl_db_flow_list(r, 1, "zzz", 2, &a, &rows, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(fl_db_flow_list(r, 3, NULL, 10, &a, &rows, &n));
    ASSERT_EQ(n, 0);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* Group commit: savepoints and concurrency                                                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    const char *names[3];
    int64_t ids[3];
} multi_job_t;

/* Inserts several flows; a duplicate among them fails the job after earlier inserts. */
static int job_multi(fl_db_t *db, void *arg)
{
    multi_job_t *j = arg;
    for (int i = 0; i < 3 && j->names[i]; i++) {
        flow_job_t fj = {.account = 1, .name = j->names[i]};
        int rc = job_flow(db, &fj);
        if (rc)
            return rc;
        j->ids[i] = fj.flow_id;
    }
    return FL_OK;
}

TEST(store_failed_job_leaves_nothing)
{
    fx_t f;
    fx_open(&f);
    add_flow(&f, 1, "taken", NULL);
    multi_job_t m = {.names = {"new1", "new2", "taken"}};
    ASSERT_EQ(fl_store_write(f.st, job_multi, &m), FL_EFLOW_ALREADY_EXISTS);
    flow_job_t custom = {.account = 1, .name = "new3", .fail_with = FL_ECONCURRENT_UPDATE};
    ASSERT_EQ(fl_store_write(f.st, job_flow, &custom), FL_ECONCURRENT_UPDATE);

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_flow_row_t row;
    ASSERT_EQ(fl_db_flow_get(r, 1, "new1", false, &a, &row), FL_EFLOW_NOT_EXISTS);
    ASSERT_EQ(fl_db_flow_get(r, 1, "new2", false, &a, &row), FL_EFLOW_NOT_EXISTS);
    ASSERT_EQ(fl_db_flow_get(r, 1, "new3", false, &a, &row), FL_EFLOW_NOT_EXISTS);
    ASSERT_OK(fl_db_flow_get(r, 1, "taken", false, &a, &row));

    /* The same names commit once the conflict is gone. */
    multi_job_t ok = {.names = {"new1", "new2", "new3"}};
    ASSERT_OK(fl_store_write(f.st, job_multi, &ok));
    ASSERT_OK(fl_db_flow_get(r, 1, "new2", false, &a, &row));
    ASSERT_EQ(row.id, ok.ids[1]);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

#define N_THREADS 8
#define N_JOBS 200

typedef struct {
    fl_store_t *st;
    int t;
    int bad; /* jobs whose return code was not the expected one */
} thr_t;

static void *writer_thread(void *arg)
{
    thr_t *t = arg;
    for (int i = 0; i < N_JOBS; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d-%03d", t->t, i);
        /* Odd jobs insert, then fail: their insert must vanish. */
        flow_job_t j = {.account = (uint64_t)(100 + t->t), .name = name,
                        .fail_with = (i % 2) ? FL_EINVALID_ARGUMENT : FL_OK};
        int rc = fl_store_write(t->st, job_flow, &j);
        if (rc != j.fail_with)
            t->bad++;
    }
    return NULL;
}

TEST(store_concurrent_jobs_commit_or_vanish)
{
    fx_t f;
    fx_open(&f);
    pthread_t th[N_THREADS];
    thr_t args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (thr_t){.st = f.st, .t = i};
        ASSERT_OK(pthread_create(&th[i], NULL, writer_thread, &args[i]));
    }
    for (int i = 0; i < N_THREADS; i++) {
        ASSERT_OK(pthread_join(th[i], NULL));
        ASSERT_EQ(args[i].bad, 0);
    }

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    for (int t = 0; t < N_THREADS; t++) {
        fl_flow_row_t *rows;
        int n = 0;
        ASSERT_OK(fl_db_flow_list(r, (uint64_t)(100 + t), NULL, 1000, &a, &rows, &n));
        ASSERT_EQ(n, N_JOBS / 2);
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "t%d-%03d", t, 2 * i);
            ASSERT_STR_EQ(rows[i].name, name);
        }
    }
    /* Every job shares one definition row: 1600 jobs, one text. */
    int64_t def_id = 0;
    flow_job_t probe = {.account = 999, .name = "probe"};
    ASSERT_OK(fl_store_write(f.st, job_flow, &probe));
    fl_flow_row_t row;
    ASSERT_OK(fl_db_flow_get(r, 100, "t0-000", false, &a, &row));
    def_id = row.def_id;
    ASSERT_EQ(probe.def_id, def_id);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* Executions                                                                               */
/* ---------------------------------------------------------------------------------------- */

static int job_exec_update(fl_db_t *db, void *arg)
{
    return fl_db_exec_update(db, arg);
}

TEST(store_exec_insert_get_update)
{
    fx_t f;
    fx_open(&f);
    int64_t def_id;
    int64_t flow = add_flow(&f, 5, "fl", &def_id);
    int64_t id = add_exec(&f, flow, def_id, "run-1", FL_EXEC_RUNNING, 111);

    exec_job_t dup = {.e = {.flow_id = flow, .def_id = def_id, .name = (char *)"run-1",
                            .status = FL_EXEC_RUNNING}};
    ASSERT_EQ(fl_store_write(f.st, job_exec, &dup), FL_EEXECUTION_ALREADY_EXISTS);
    /* The same execution name in another flow is fine. */
    int64_t flow2 = add_flow(&f, 5, "fl2", NULL);
    add_exec(&f, flow2, def_id, "run-1", FL_EXEC_RUNNING, 111);

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_exec_row_t e;
    memset(&e, 0, sizeof e);
    ASSERT_OK(fl_db_exec_get(r, flow, "run-1", true, &a, &e));
    ASSERT_EQ(e.id, id);
    ASSERT_EQ(e.flow_id, flow);
    ASSERT_EQ(e.account, 5);
    ASSERT_STR_EQ(e.flow_name, "fl");
    ASSERT_STR_EQ(e.name, "run-1");
    ASSERT_EQ(e.status, FL_EXEC_RUNNING);
    ASSERT_EQ(e.def_id, def_id);
    ASSERT_STR_EQ(e.definition, DEF_TEXT);
    ASSERT_STR_EQ(e.input, "{\"in\":1}");
    ASSERT(e.output == NULL && e.error_code == NULL && e.error_message == NULL);
    ASSERT_EQ(e.started_ms, 111);
    ASSERT_EQ(e.stopped_ms, 0);
    ASSERT_STR_EQ(e.state, "{\"st\":1}");

    fl_exec_row_t u = {.id = id, .status = FL_EXEC_FAILED, .error_code = (char *)"Boom",
                       .error_message = (char *)"it broke", .stopped_ms = 999,
                       .state = (char *)"{\"st\":3}"};
    ASSERT_OK(fl_store_write(f.st, job_exec_update, &u));
    memset(&e, 0, sizeof e);
    ASSERT_OK(fl_db_exec_get_by_id(r, id, &a, &e));
    ASSERT_EQ(e.status, FL_EXEC_FAILED);
    ASSERT_STR_EQ(e.error_code, "Boom");
    ASSERT_STR_EQ(e.error_message, "it broke");
    ASSERT_EQ(e.stopped_ms, 999);
    ASSERT_STR_EQ(e.state, "{\"st\":3}");
    ASSERT_STR_EQ(e.input, "{\"in\":1}"); /* not touched by an update */
    ASSERT_STR_EQ(e.name, "run-1");
    ASSERT(e.definition == NULL); /* by id: no definition */

    ASSERT_EQ(fl_db_exec_get(r, flow, "run-2", false, &a, &e), FL_EEXECUTION_NOT_EXISTS);
    ASSERT_EQ(fl_db_exec_get(r, flow + 100, "run-1", false, &a, &e), FL_EEXECUTION_NOT_EXISTS);
    ASSERT_EQ(fl_db_exec_get_by_id(r, 424242, &a, &e), FL_EEXECUTION_NOT_EXISTS);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* Lists with q and returns the names joined by ','. */
static const char *list_names(fl_db_t *r, const fl_exec_query_t *q, fl_arena_t *a)
{
    fl_exec_row_t *rows = NULL;
    int n = -1;
    ASSERT_OK(fl_db_exec_list(r, q, a, &rows, &n));
    ASSERT(n >= 0 && n <= (q->limit > 0 ? q->limit : 0));
    fl_buf_t b;
    fl_buf_init(&b);
    for (int i = 0; i < n; i++)
        fl_buf_printf(&b, "%s%s", i ? "," : "", rows[i].name);
    const char *s = fl_arena_strdup(a, b.data ? b.data : "");
    fl_buf_free(&b);
    return s;
}

TEST(store_exec_list_filters_and_paging)
{
    fx_t f;
    fx_open(&f);
    int64_t def_id;
    int64_t flow = add_flow(&f, 1, "fl", &def_id);
    int64_t other = add_flow(&f, 1, "other", NULL);
    static const struct {
        const char *name;
        int status;
        int64_t started;
    } ex[] = {
        {"e0", FL_EXEC_RUNNING, 1000},   {"e1", FL_EXEC_SUCCEEDED, 2000},
        {"e2", FL_EXEC_FAILED, 3000},    {"e3", FL_EXEC_RUNNING, 4000},
        {"x_y", FL_EXEC_RUNNING, 5000},  {"xzy", FL_EXEC_STOPPED, 6000},
        {"x%1", FL_EXEC_TIMED_OUT, 7000},
    };
    int64_t ids[FL_ARRAY_LEN(ex)];
    for (size_t i = 0; i < FL_ARRAY_LEN(ex); i++)
        ids[i] = add_exec(&f, flow, def_id, ex[i].name, ex[i].status, ex[i].started);
    add_exec(&f, other, def_id, "e9", FL_EXEC_RUNNING, 1500);

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_exec_query_t q = {.flow_id = flow, .limit = 100};
    ASSERT_STR_EQ(list_names(r, &q, &a), "e0,e1,e2,e3,x_y,xzy,x%1");

    /* paging by id: the next page starts at the last id + 1 */
    q.limit = 3;
    ASSERT_STR_EQ(list_names(r, &q, &a), "e0,e1,e2");
    q.after_id = ids[2] + 1;
    ASSERT_STR_EQ(list_names(r, &q, &a), "e3,x_y,xzy");
    q.after_id = ids[5] + 1;
    ASSERT_STR_EQ(list_names(r, &q, &a), "x%1");
    q.after_id = ids[6] + 1;
    ASSERT_STR_EQ(list_names(r, &q, &a), "");

    /* status */
    q = (fl_exec_query_t){.flow_id = flow, .limit = 100, .status = FL_EXEC_RUNNING};
    ASSERT_STR_EQ(list_names(r, &q, &a), "e0,e3,x_y");
    q.status = FL_EXEC_TIMED_OUT;
    ASSERT_STR_EQ(list_names(r, &q, &a), "x%1");

    /* name prefix: plain text, no LIKE wildcards */
    q = (fl_exec_query_t){.flow_id = flow, .limit = 100, .prefix = "e"};
    ASSERT_STR_EQ(list_names(r, &q, &a), "e0,e1,e2,e3");
    q.prefix = "x_";
    ASSERT_STR_EQ(list_names(r, &q, &a), "x_y");
    q.prefix = "x%";
    ASSERT_STR_EQ(list_names(r, &q, &a), "x%1");
    q.prefix = "E";
    ASSERT_STR_EQ(list_names(r, &q, &a), "");
    q.prefix = "";
    ASSERT_STR_EQ(list_names(r, &q, &a), "e0,e1,e2,e3,x_y,xzy,x%1");

    /* started time range, inclusive */
    q = (fl_exec_query_t){.flow_id = flow, .limit = 100, .started_begin = 2000,
                          .started_end = 4000};
    ASSERT_STR_EQ(list_names(r, &q, &a), "e1,e2,e3");
    q.started_end = 0;
    q.started_begin = 6000;
    ASSERT_STR_EQ(list_names(r, &q, &a), "xzy,x%1");

    /* combined */
    q = (fl_exec_query_t){.flow_id = flow, .limit = 1, .status = FL_EXEC_RUNNING,
                          .prefix = "e", .started_begin = 1500};
    ASSERT_STR_EQ(list_names(r, &q, &a), "e3");

    /* metadata only: no input/output/state */
    q = (fl_exec_query_t){.flow_id = flow, .limit = 1, .metadata_only = true};
    fl_exec_row_t *rows;
    int n;
    ASSERT_OK(fl_db_exec_list(r, &q, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(rows[0].name, "e0");
    ASSERT_EQ(rows[0].started_ms, 1000);
    ASSERT(rows[0].input == NULL && rows[0].state == NULL);
    q.metadata_only = false;
    ASSERT_OK(fl_db_exec_list(r, &q, &a, &rows, &n));
    ASSERT_STR_EQ(rows[0].input, "{\"in\":1}");
    ASSERT_STR_EQ(rows[0].flow_name, "fl");
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* History, tasks, timers, outbox                                                           */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    int64_t exec_id;
    const int64_t *ids;
    size_t n;
} ev_job_t;

static int job_events(fl_db_t *db, void *arg)
{
    ev_job_t *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        char detail[64], step[16];
        snprintf(detail, sizeof detail, "{\"n\":%lld}", (long long)j->ids[i]);
        snprintf(step, sizeof step, "S%lld", (long long)j->ids[i]);
        fl_event_row_t ev = {.event_id = j->ids[i], .sched_id = j->ids[i] > 3 ? 3 : 0,
                             .type = "TaskScheduled", .step = step, .time_ms = 100 * j->ids[i],
                             .detail = detail};
        int rc = fl_db_event_insert(db, j->exec_id, &ev);
        if (rc)
            return rc;
    }
    return FL_OK;
}

TEST(store_events_order_and_paging)
{
    fx_t f;
    fx_open(&f);
    int64_t def_id;
    int64_t flow = add_flow(&f, 1, "fl", &def_id);
    int64_t ex = add_exec(&f, flow, def_id, "e", FL_EXEC_RUNNING, 1);
    int64_t ex2 = add_exec(&f, flow, def_id, "e2", FL_EXEC_RUNNING, 1);
    static const int64_t first[] = {3, 1, 2}, second[] = {5, 4}, other[] = {1};
    ev_job_t j1 = {ex, first, 3}, j2 = {ex, second, 2}, j3 = {ex2, other, 1};
    ASSERT_OK(fl_store_write(f.st, job_events, &j1));
    ASSERT_OK(fl_store_write(f.st, job_events, &j2));
    ASSERT_OK(fl_store_write(f.st, job_events, &j3));
    /* An event id used twice fails the job and leaves the history as it was. */
    static const int64_t clash[] = {6, 2};
    ev_job_t j4 = {ex, clash, 2};
    ASSERT(fl_store_write(f.st, job_events, &j4) != FL_OK);

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_event_row_t *rows;
    int n = 0;
    ASSERT_OK(fl_db_event_list(r, ex, 1, 100, &a, &rows, &n));
    ASSERT_EQ(n, 5);
    for (int i = 0; i < n; i++) {
        char detail[64], step[16];
        snprintf(detail, sizeof detail, "{\"n\":%d}", i + 1);
        snprintf(step, sizeof step, "S%d", i + 1);
        ASSERT_EQ(rows[i].event_id, i + 1);
        ASSERT_EQ(rows[i].sched_id, i + 1 > 3 ? 3 : 0);
        ASSERT_STR_EQ(rows[i].type, "TaskScheduled");
        ASSERT_STR_EQ(rows[i].step, step);
        ASSERT_EQ(rows[i].time_ms, 100 * (i + 1));
        ASSERT_STR_EQ(rows[i].detail, detail);
    }
    ASSERT_OK(fl_db_event_list(r, ex, 2, 2, &a, &rows, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(rows[0].event_id, 2);
    ASSERT_EQ(rows[1].event_id, 3);
    ASSERT_OK(fl_db_event_list(r, ex, 6, 10, &a, &rows, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(fl_db_event_list(r, ex2, 1, 10, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    int op; /* 0 insert, 1 complete */
    fl_task_row_t t;
} task_job_t;

static int job_task(fl_db_t *db, void *arg)
{
    task_job_t *j = arg;
    if (j->op == 0)
        return fl_db_task_insert(db, &j->t);
    return fl_db_task_complete(db, j->t.exec_id, j->t.seq, j->t.request_id, j->t.event_id);
}

TEST(store_tasks_insert_get_complete)
{
    fx_t f;
    fx_open(&f);
    task_job_t ins = {0, {.exec_id = 11, .seq = 1, .step = (char *)"Approve", .sched_id = 3,
                          .created_ms = 500, .timeout_ms = 3600500}};
    ASSERT_OK(fl_store_write(f.st, job_task, &ins));
    task_job_t ins2 = {0, {.exec_id = 11, .seq = 2, .step = (char *)"Approve", .sched_id = 6,
                           .created_ms = 600}};
    ASSERT_OK(fl_store_write(f.st, job_task, &ins2));
    /* (exec, seq) is unique */
    ASSERT(fl_store_write(f.st, job_task, &ins) != FL_OK);

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_task_row_t t;
    memset(&t, 0, sizeof t);
    ASSERT_OK(fl_db_task_get(r, 11, 1, &a, &t));
    ASSERT_EQ(t.exec_id, 11);
    ASSERT_EQ(t.seq, 1);
    ASSERT_STR_EQ(t.step, "Approve");
    ASSERT_EQ(t.sched_id, 3);
    ASSERT_EQ(t.created_ms, 500);
    ASSERT_EQ(t.timeout_ms, 3600500);
    ASSERT(!t.done);
    ASSERT(t.request_id == NULL);
    ASSERT_EQ(t.event_id, 0);

    task_job_t done = {1, {.exec_id = 11, .seq = 1, .request_id = (char *)"REQ-1",
                           .event_id = 7}};
    ASSERT_OK(fl_store_write(f.st, job_task, &done));
    memset(&t, 0, sizeof t);
    ASSERT_OK(fl_db_task_get(r, 11, 1, &a, &t));
    ASSERT(t.done);
    ASSERT_STR_EQ(t.request_id, "REQ-1");
    ASSERT_EQ(t.event_id, 7);
    ASSERT_STR_EQ(t.step, "Approve");

    /* The other attempt is untouched. */
    memset(&t, 0, sizeof t);
    ASSERT_OK(fl_db_task_get(r, 11, 2, &a, &t));
    ASSERT(!t.done);
    ASSERT_EQ(t.sched_id, 6);
    ASSERT_EQ(t.timeout_ms, 0);

    /* Completing without a client RequestId stores NULL. */
    task_job_t done2 = {1, {.exec_id = 11, .seq = 2, .event_id = 9}};
    ASSERT_OK(fl_store_write(f.st, job_task, &done2));
    memset(&t, 0, sizeof t);
    ASSERT_OK(fl_db_task_get(r, 11, 2, &a, &t));
    ASSERT(t.done && t.request_id == NULL && t.event_id == 9);

    ASSERT_EQ(fl_db_task_get(r, 11, 3, &a, &t), FL_ENOT_FOUND);
    ASSERT_EQ(fl_db_task_get(r, 12, 1, &a, &t), FL_ENOT_FOUND);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    int op; /* 0 insert, 1 delete, 2 delete_exec */
    int64_t exec_id, id, due;
    int kind;
    uint32_t seq;
    bool found;
} timer_job_t;

static int job_timer(fl_db_t *db, void *arg)
{
    timer_job_t *j = arg;
    switch (j->op) {
    case 0: return fl_db_timer_insert(db, j->exec_id, j->kind, j->seq, j->due);
    case 1: return fl_db_timer_delete(db, j->id, &j->found);
    default: return fl_db_timer_delete_exec(db, j->exec_id);
    }
}

static atomic_int commits_kicked;
static void on_commit(void *arg)
{
    ASSERT(arg == &commits_kicked);
    atomic_fetch_add(&commits_kicked, 1);
}

TEST(store_timers_due_next_delete)
{
    fx_t f;
    fx_open(&f);
    fl_store_on_commit(f.st, on_commit, &commits_kicked);
    timer_job_t ins[] = {
        {0, 1, 0, 300, 1, 1, false},
        {0, 1, 0, 100, 3, 2, false},
        {0, 2, 0, 200, 4, 0, false},
        {0, 2, 0, 400, 2, 7, false},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(ins); i++)
        ASSERT_OK(fl_store_write(f.st, job_timer, &ins[i]));
    ASSERT_EQ(atomic_load(&commits_kicked), 4); /* each commit inserted a timer */

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    int64_t next = 0;
    ASSERT_OK(fl_db_timer_next(r, &next));
    ASSERT_EQ(next, 100);

    fl_timer_row_t *rows;
    int n = 0;
    ASSERT_OK(fl_db_timer_claim(r, 99, 99, 10, &a, &rows, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(fl_db_timer_claim(r, 200, 200, 10, &a, &rows, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(rows[0].due_ms, 100);
    ASSERT_EQ(rows[0].exec_id, 1);
    ASSERT_EQ(rows[0].kind, 3);
    ASSERT_EQ(rows[0].seq, 2);
    ASSERT_EQ(rows[1].due_ms, 200);
    ASSERT_EQ(rows[1].kind, 4);
    ASSERT_OK(fl_db_timer_claim(r, 1000, 1000, 3, &a, &rows, &n));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(rows[2].due_ms, 300);

    /* A fired timer is consumed once: the second delete finds nothing. */
    ASSERT_OK(fl_db_timer_claim(r, 1000, 1000, 1, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(rows[0].due_ms, 100);
    timer_job_t del = {.op = 1, .id = rows[0].id};
    ASSERT_OK(fl_store_write(f.st, job_timer, &del));
    ASSERT(del.found);
    del.found = true;
    ASSERT_OK(fl_store_write(f.st, job_timer, &del));
    ASSERT(!del.found);
    ASSERT_EQ(atomic_load(&commits_kicked), 4); /* deletes do not wake the worker */
    ASSERT_OK(fl_db_timer_next(r, &next));
    ASSERT_EQ(next, 200);

    timer_job_t dx = {.op = 2, .exec_id = 2};
    ASSERT_OK(fl_store_write(f.st, job_timer, &dx));
    ASSERT_OK(fl_db_timer_claim(r, 10000, 10000, 10, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(rows[0].exec_id, 1);
    ASSERT_EQ(rows[0].due_ms, 300);
    del.id = rows[0].id;
    ASSERT_OK(fl_store_write(f.st, job_timer, &del));
    ASSERT(del.found);
    ASSERT_OK(fl_db_timer_next(r, &next));
    ASSERT_EQ(next, INT64_MAX);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    int64_t exec_id;
    bool fail;
} kick_job_t;

static int job_timer_then_fail(fl_db_t *db, void *arg)
{
    kick_job_t *j = arg;
    int rc = fl_db_timer_insert(db, j->exec_id, 1, 1, 50);
    return rc ? rc : (j->fail ? FL_EINVALID_ARGUMENT : FL_OK);
}

TEST(store_on_commit_only_after_durable_kick)
{
    fx_t f;
    fx_open(&f);
    fl_store_on_commit(f.st, on_commit, &commits_kicked);
    kick_job_t bad = {1, true};
    ASSERT_EQ(fl_store_write(f.st, job_timer_then_fail, &bad), FL_EINVALID_ARGUMENT);
    ASSERT_EQ(atomic_load(&commits_kicked), 0); /* rolled back: nothing to wake for */
    flow_job_t plain = {.account = 1, .name = "x"};
    ASSERT_OK(fl_store_write(f.st, job_flow, &plain));
    ASSERT_EQ(atomic_load(&commits_kicked), 0);
    kick_job_t good = {1, false};
    ASSERT_OK(fl_store_write(f.st, job_timer_then_fail, &good));
    ASSERT_EQ(atomic_load(&commits_kicked), 1);
    int64_t next = 0;
    ASSERT_OK(fl_db_timer_next(fl_store_reader(f.st), &next));
    ASSERT_EQ(next, 50);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    int op; /* 0 insert, 1 delete, 2 retry, 3 delete_exec */
    int64_t exec_id, id, ms;
    uint32_t seq;
    const char *payload;
    bool found;
} outbox_job_t;

static int job_outbox(fl_db_t *db, void *arg)
{
    outbox_job_t *j = arg;
    switch (j->op) {
    case 0: return fl_db_outbox_insert(db, j->exec_id, j->seq, j->payload, j->ms);
    case 1: return fl_db_outbox_delete(db, j->id, &j->found);
    case 2: return fl_db_outbox_retry(db, j->id, j->ms);
    default: return fl_db_outbox_delete_exec(db, j->exec_id);
    }
}

TEST(store_outbox_insert_due_retry_delete)
{
    fx_t f;
    fx_open(&f);
    outbox_job_t ins[] = {
        {0, 1, 0, 1000, 1, "{\"Action\":\"HTTP:Request\",\"n\":1}", false},
        {0, 1, 0, 900, 2, "{\"n\":2}", false},
        {0, 2, 0, 1000, 1, "{\"n\":3}", false},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(ins); i++)
        ASSERT_OK(fl_store_write(f.st, job_outbox, &ins[i]));

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_outbox_row_t *rows;
    int n = 0;
    ASSERT_OK(fl_db_outbox_claim(r, 899, 899, 10, &a, &rows, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(fl_db_outbox_claim(r, 1000, 1000, 10, &a, &rows, &n));
    ASSERT_EQ(n, 3);
    /* insertion order */
    ASSERT_EQ(rows[0].exec_id, 1);
    ASSERT_EQ(rows[0].seq, 1);
    ASSERT_STR_EQ(rows[0].payload, "{\"Action\":\"HTTP:Request\",\"n\":1}");
    ASSERT_EQ(rows[0].attempts, 0);
    ASSERT_EQ(rows[0].next_ms, 1000);
    ASSERT_STR_EQ(rows[1].payload, "{\"n\":2}");
    ASSERT_EQ(rows[2].exec_id, 2);
    int64_t first = rows[0].id, second = rows[1].id;

    /* A retry pushes the row into the future and counts the attempt. */
    outbox_job_t retry = {.op = 2, .id = first, .ms = 5000};
    ASSERT_OK(fl_store_write(f.st, job_outbox, &retry));
    ASSERT_OK(fl_db_outbox_claim(r, 1000, 1000, 10, &a, &rows, &n));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(rows[0].id, second);
    ASSERT_OK(fl_db_outbox_claim(r, 5000, 5000, 1, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(rows[0].id, first);
    ASSERT_EQ(rows[0].attempts, 1);
    ASSERT_EQ(rows[0].next_ms, 5000);

    outbox_job_t del = {.op = 1, .id = first};
    ASSERT_OK(fl_store_write(f.st, job_outbox, &del));
    ASSERT(del.found);
    ASSERT_OK(fl_store_write(f.st, job_outbox, &del));
    ASSERT(!del.found);

    outbox_job_t dx = {.op = 3, .exec_id = 1};
    ASSERT_OK(fl_store_write(f.st, job_outbox, &dx));
    ASSERT_OK(fl_db_outbox_claim(r, 100000, 100000, 10, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(rows[0].exec_id, 2);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* Definitions, meta, keys, delete, durability, faults                                      */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    const char *text;
    int64_t id;
} def_job_t;

static int job_def(fl_db_t *db, void *arg)
{
    def_job_t *j = arg;
    return fl_db_def_put(db, j->text, &j->id);
}

TEST(store_def_put_dedups)
{
    fx_t f;
    fx_open(&f);
    def_job_t a1 = {"text A", 0}, a2 = {"text A", 0}, b = {"text B", 0}, a3 = {"text A ", 0};
    ASSERT_OK(fl_store_write(f.st, job_def, &a1));
    ASSERT_OK(fl_store_write(f.st, job_def, &b));
    ASSERT_OK(fl_store_write(f.st, job_def, &a2));
    ASSERT_OK(fl_store_write(f.st, job_def, &a3));
    ASSERT(a1.id > 0);
    ASSERT_EQ(a2.id, a1.id);
    ASSERT(b.id != a1.id);
    ASSERT(a3.id != a1.id && a3.id != b.id);

    fl_arena_t a;
    fl_arena_init(&a);
    char *text = NULL;
    fl_db_t *r = fl_store_reader(f.st);
    ASSERT_OK(fl_db_def_get(r, a1.id, &a, &text));
    ASSERT_STR_EQ(text, "text A");
    ASSERT_OK(fl_db_def_get(r, b.id, &a, &text));
    ASSERT_STR_EQ(text, "text B");
    ASSERT_EQ(fl_db_def_get(r, 987654, &a, &text), FL_ENOT_FOUND);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    const char *key;
    const void *val;
    size_t len;
} meta_job_t;

static int job_meta(fl_db_t *db, void *arg)
{
    meta_job_t *j = arg;
    return fl_db_meta_put(db, j->key, j->val, j->len);
}

TEST(store_meta_blob)
{
    fx_t f;
    fx_open(&f);
    static const unsigned char secret[] = {0x00, 0x01, 0xff, 0x00, 0x7f};
    meta_job_t m = {"token_key", secret, sizeof secret};
    ASSERT_OK(fl_store_write(f.st, job_meta, &m));
    fl_arena_t a;
    fl_arena_init(&a);
    char *val = NULL;
    size_t len = 0;
    fl_db_t *r = fl_store_reader(f.st);
    ASSERT_OK(fl_db_meta_get(r, "token_key", &a, &val, &len));
    ASSERT_EQ(len, sizeof secret);
    ASSERT(memcmp(val, secret, len) == 0);
    ASSERT_EQ(fl_db_meta_get(r, "missing", &a, &val, &len), FL_ENOT_FOUND);
    /* replace */
    meta_job_t m2 = {"token_key", "xyz", 3};
    ASSERT_OK(fl_store_write(f.st, job_meta, &m2));
    ASSERT_OK(fl_db_meta_get(r, "token_key", &a, &val, &len));
    ASSERT_EQ(len, 3);
    ASSERT(memcmp(val, "xyz", 3) == 0 && val[3] == 0);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* A zero-length value reads back as an empty string (SQLite returns a NULL blob for it). */
TEST(store_meta_empty_value)
{
    fx_t f;
    fx_open(&f);
    meta_job_t m = {"empty", "", 0};
    ASSERT_OK(fl_store_write(f.st, job_meta, &m));
    fl_arena_t a;
    fl_arena_init(&a);
    char *val = NULL;
    size_t len = 99;
    /* an empty value is a value, not an absence */
    ASSERT_OK(fl_db_meta_get(fl_store_reader(f.st), "empty", &a, &val, &len));
    ASSERT_EQ(len, 0);
    ASSERT(val != NULL && val[0] == 0);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    const char *ak, *secret;
    uint64_t account;
} key_job_t;

static int job_key(fl_db_t *db, void *arg)
{
    key_job_t *j = arg;
    int rc = fl_db_account_put(db, j->account, "cn-hangzhou", 1);
    return rc ? rc : fl_db_key_put(db, j->ak, j->secret, j->account, 1);
}

typedef struct {
    int n;
    char seen[256];
} keys_seen_t;

static void key_cb(void *arg, const fl_key_row_t *k)
{
    keys_seen_t *s = arg;
    size_t l = strlen(s->seen);
    snprintf(s->seen + l, sizeof s->seen - l, "%s%s:%s:%llu", s->n ? "," : "", k->ak, k->secret,
             (unsigned long long)k->account);
    s->n++;
}

TEST(store_keys_put_each)
{
    fx_t f;
    fx_open(&f);
    key_job_t k1 = {"AK1", "s1", 10}, k2 = {"AK2", "s2", 20}, k1b = {"AK1", "s1-new", 11};
    ASSERT_OK(fl_store_write(f.st, job_key, &k1));
    ASSERT_OK(fl_store_write(f.st, job_key, &k2));
    ASSERT_OK(fl_store_write(f.st, job_key, &k1b)); /* same AK: updated, not duplicated */
    keys_seen_t s = {0, ""};
    ASSERT_OK(fl_db_keys_each(fl_store_reader(f.st), key_cb, &s));
    ASSERT_EQ(s.n, 2);
    ASSERT_CONTAINS(s.seen, "AK1:s1-new:11");
    ASSERT_CONTAINS(s.seen, "AK2:s2:20");
    fx_close(&f);
    LEAK_CHECK();
}

typedef struct {
    int64_t exec_id;
} fill_job_t;

static int job_fill(fl_db_t *db, void *arg)
{
    fill_job_t *j = arg;
    fl_event_row_t ev = {.event_id = 1, .type = "ExecutionStarted", .detail = "{}"};
    fl_task_row_t t = {.exec_id = j->exec_id, .seq = 1, .step = (char *)"T"};
    int rc = fl_db_event_insert(db, j->exec_id, &ev);
    if (!rc)
        rc = fl_db_task_insert(db, &t);
    if (!rc)
        rc = fl_db_timer_insert(db, j->exec_id, 1, 1, 10);
    if (!rc)
        rc = fl_db_outbox_insert(db, j->exec_id, 1, "{}", 10);
    return rc;
}

static int job_flow_delete(fl_db_t *db, void *arg)
{
    return fl_db_flow_delete(db, *(int64_t *)arg);
}

TEST(store_flow_delete_cascades)
{
    fx_t f;
    fx_open(&f);
    int64_t def_id;
    int64_t gone = add_flow(&f, 1, "gone", &def_id);
    int64_t kept = add_flow(&f, 1, "kept", NULL);
    int64_t e1 = add_exec(&f, gone, def_id, "a", FL_EXEC_RUNNING, 1);
    int64_t e2 = add_exec(&f, kept, def_id, "a", FL_EXEC_RUNNING, 1);
    fill_job_t j1 = {e1}, j2 = {e2};
    ASSERT_OK(fl_store_write(f.st, job_fill, &j1));
    ASSERT_OK(fl_store_write(f.st, job_fill, &j2));
    ASSERT_OK(fl_store_write(f.st, job_flow_delete, &gone));

    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_flow_row_t fr;
    fl_exec_row_t er;
    fl_task_row_t tr;
    fl_event_row_t *evs;
    fl_timer_row_t *tms;
    fl_outbox_row_t *obs;
    int n;
    ASSERT_EQ(fl_db_flow_get(r, 1, "gone", false, &a, &fr), FL_EFLOW_NOT_EXISTS);
    ASSERT_EQ(fl_db_exec_get_by_id(r, e1, &a, &er), FL_EEXECUTION_NOT_EXISTS);
    ASSERT_OK(fl_db_event_list(r, e1, 1, 10, &a, &evs, &n));
    ASSERT_EQ(n, 0);
    ASSERT_EQ(fl_db_task_get(r, e1, 1, &a, &tr), FL_ENOT_FOUND);
    ASSERT_OK(fl_db_timer_claim(r, 100, 100, 10, &a, &tms, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(tms[0].exec_id, e2);
    ASSERT_OK(fl_db_outbox_claim(r, 100, 100, 10, &a, &obs, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(obs[0].exec_id, e2);
    /* the other flow is whole */
    ASSERT_OK(fl_db_flow_get(r, 1, "kept", false, &a, &fr));
    ASSERT_OK(fl_db_exec_get_by_id(r, e2, &a, &er));
    ASSERT_OK(fl_db_event_list(r, e2, 1, 10, &a, &evs, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(fl_db_task_get(r, e2, 1, &a, &tr));
    /* the definition stays: executions of other flows may share it */
    char *text;
    ASSERT_OK(fl_db_def_get(r, def_id, &a, &text));
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

TEST(store_survives_reopen)
{
    fx_t f;
    fx_open(&f);
    int64_t def_id;
    int64_t flow = add_flow(&f, 3, "durable", &def_id);
    int64_t ex = add_exec(&f, flow, def_id, "run", FL_EXEC_RUNNING, 77);
    fill_job_t fill = {ex};
    ASSERT_OK(fl_store_write(f.st, job_fill, &fill));
    /* read once before closing so a reader connection exists at close time */
    fl_arena_t a;
    fl_arena_init(&a);
    fl_flow_row_t fr;
    ASSERT_OK(fl_db_flow_get(fl_store_reader(f.st), 3, "durable", false, &a, &fr));

    fx_reopen(&f);
    fl_db_t *r = fl_store_reader(f.st);
    memset(&fr, 0, sizeof fr);
    ASSERT_OK(fl_db_flow_get(r, 3, "durable", true, &a, &fr));
    ASSERT_EQ(fr.id, flow);
    ASSERT_STR_EQ(fr.definition, DEF_TEXT);
    fl_exec_row_t er;
    memset(&er, 0, sizeof er);
    ASSERT_OK(fl_db_exec_get(r, flow, "run", true, &a, &er));
    ASSERT_EQ(er.id, ex);
    ASSERT_EQ(er.started_ms, 77);
    fl_event_row_t *evs;
    int n;
    ASSERT_OK(fl_db_event_list(r, ex, 1, 10, &a, &evs, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(evs[0].type, "ExecutionStarted");
    fl_task_row_t tr;
    ASSERT_OK(fl_db_task_get(r, ex, 1, &a, &tr));
    int64_t next;
    ASSERT_OK(fl_db_timer_next(r, &next));
    ASSERT_EQ(next, 10);
    /* ids keep growing after a reopen, and names stay taken */
    int64_t flow2 = add_flow(&f, 3, "after", NULL);
    ASSERT(flow2 > flow);
    flow_job_t dup = {.account = 3, .name = "durable"};
    ASSERT_EQ(fl_store_write(f.st, job_flow, &dup), FL_EFLOW_ALREADY_EXISTS);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* FL_FAULT_STORE=N fails the Nth statement (or commit) the writer runs after
 * fl_store_arm_faults(): a job hit by the fault reports an error and leaves nothing; the
 * store keeps working afterwards. Reads are never failed. */
TEST(store_fault_injection_rolls_back)
{
    /* Writer statements: 1 def find, 2 def insert, 3 flow insert, then 4 = COMMIT. */
    for (int at = 1; at <= 4; at++) {
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            char v[16];
            snprintf(v, sizeof v, "%d", at);
            setenv("FL_FAULT_STORE", v, 1);
            fl_log_level = FL_LOG_ERROR + 1; /* the injected faults are logged; keep quiet */
            fx_t f;
            fx_open(&f);
            fl_store_arm_faults();
            flow_job_t j = {.account = 1, .name = "f"};
            ASSERT_EQ(fl_store_write(f.st, job_flow, &j), FL_EINTERNAL);
            fl_arena_t a;
            fl_arena_init(&a);
            fl_flow_row_t fr;
            fl_db_t *r = fl_store_reader(f.st);
            ASSERT_EQ(fl_db_flow_get(r, 1, "f", false, &a, &fr), FL_EFLOW_NOT_EXISTS);
            fl_flow_row_t *rows;
            int n = -1;
            ASSERT_OK(fl_db_flow_list(r, 1, NULL, 10, &a, &rows, &n));
            ASSERT_EQ(n, 0);
            /* the same job succeeds on the next try */
            flow_job_t again = {.account = 1, .name = "f"};
            ASSERT_OK(fl_store_write(f.st, job_flow, &again));
            ASSERT_OK(fl_db_flow_get(r, 1, "f", false, &a, &fr));
            char *text;
            ASSERT_OK(fl_db_def_get(r, again.def_id, &a, &text));
            fl_arena_close(&a);
            fx_close(&f);
            LEAK_CHECK();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAIL_AT("fault at statement %d: child failed", at);
    }
}

/* Claims hold timer and outbox rows for their lease on a shared (PostgreSQL) store, where
 * several nodes poll the same rows; one SQLite node writes no leases. */
TEST(store_claims_lease_rows)
{
    fx_t f;
    fx_open(&f);
    timer_job_t ins = {.op = 0, .due = 100, .exec_id = 1, .kind = 1, .seq = 1};
    ASSERT_OK(fl_store_write(f.st, job_timer, &ins));
    fl_arena_t a;
    fl_arena_init(&a);
    fl_db_t *r = fl_store_reader(f.st);
    fl_timer_row_t *rows;
    int n = 0;
    ASSERT_EQ(fl_store_shared(f.st), f.pg);
    ASSERT_OK(fl_db_timer_claim(r, 1000, 5000, 10, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(fl_db_timer_claim(r, 2000, 6000, 10, &a, &rows, &n));
    ASSERT_EQ(n, f.pg ? 0 : 1); /* held by the first claim until 5000 */
    ASSERT_OK(fl_db_timer_claim(r, 5000, 9000, 10, &a, &rows, &n));
    ASSERT_EQ(n, 1); /* the lease ended: the claimer died, another node takes it */
    ASSERT_EQ(rows[0].due_ms, 100);

    outbox_job_t ob = {.op = 0, .exec_id = 1, .seq = 1, .payload = "{}", .ms = 100};
    ASSERT_OK(fl_store_write(f.st, job_outbox, &ob));
    fl_outbox_row_t *obs;
    ASSERT_OK(fl_db_outbox_claim(r, 1000, 5000, 10, &a, &obs, &n));
    ASSERT_EQ(n, 1);
    int64_t id = obs[0].id;
    ASSERT_OK(fl_db_outbox_claim(r, 1000, 5000, 10, &a, &obs, &n));
    ASSERT_EQ(n, f.pg ? 0 : 1);
    ASSERT_OK(fl_db_outbox_release(r, id)); /* not sent now: free for any node at once */
    ASSERT_OK(fl_db_outbox_claim(r, 1000, 5000, 10, &a, &obs, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(obs[0].id, id);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* PostgreSQL: the server ends every session of the store (a restart, a failover). A write
 * in flight then is not acknowledged, and nothing of it stays; the store reconnects and the
 * next write and read work. */
TEST(store_pg_connection_loss_acknowledges_nothing)
{
    if (!fx_pg())
        return;
    fx_t f;
    fx_open(&f);
    add_flow(&f, 1, "before", NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE application_name = '%s'", f.schema);
    fx_pg_admin(sql);
    flow_job_t lost = {.account = 1, .name = "lost"};
    ASSERT_EQ(fl_store_write(f.st, job_flow, &lost), FL_EINTERNAL);
    add_flow(&f, 1, "after", NULL);
    fl_arena_t a;
    fl_arena_init(&a);
    fl_flow_row_t row;
    fl_db_t *r = fl_store_reader(f.st); /* this thread's session died too: it reconnects */
    int rc = fl_db_flow_get(r, 1, "before", false, &a, &row);
    if (rc == FL_EINTERNAL) /* the first query met the dead session */
        rc = fl_db_flow_get(r, 1, "before", false, &a, &row);
    ASSERT_OK(rc);
    ASSERT_OK(fl_db_flow_get(r, 1, "after", false, &a, &row));
    ASSERT_EQ(fl_db_flow_get(r, 1, "lost", false, &a, &row), FL_EFLOW_NOT_EXISTS);
    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}
