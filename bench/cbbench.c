/*
 * cbbench.c - load generator for flowd's callback-task path (start, dispatch, report), run
 * as named scenarios (report-failed, report-succeeded, start-execution, retry-catch, mixed,
 * waiting, baseline).
 *
 * It runs its own worker listener (libmicrohttpd, internal thread pool) that receives the
 * task tokens flowd dispatches, creates a WaitForCustomCallback flow, starts executions,
 * reports their tokens and checks a sample of the executions ended as expected. With
 * --flowd it starts a fresh flowd (new temporary data directory) for the scenario and can
 * restart it; --baseline runs the same load against bench/baseline.c instead. Requests are
 * signed with flowd's own V1 signer exactly like @alicloud/pop-core (every parameter in a
 * form body, POST /) and sent from one thread through the libcurl multi interface, one
 * reused easy handle (and keep-alive connection) per in-flight slot. Standalone: run by
 * hand or through bench/bench.sh (make bench), not by make test.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>

#include "auth/auth.h"
#include "base/base.h"

#define API_VERSION "2019-03-15"
#define MAX_CB_BODY 4096     /* bytes; a dispatch body is about 90 */
#define MAX_CALL_PARAMS 6
#define VAL_LEN 256          /* bytes per owned parameter value */
#define VERIFY_SAMPLE 1000   /* executions checked after a run ... */
#define VERIFY_ALL_UPTO 2000 /* ... or all of them up to this many */
#define ATTEMPTS 2           /* token slots per execution: first attempt and one retry */
#define MAX_NODES 4          /* flowd processes sharing one PostgreSQL schema */

/* ======================================================================================
 * Options and small helpers
 * ==================================================================================== */

typedef struct {
    char *endpoint[MAX_NODES]; /* base URLs ending in '/'; owned */
    int n_endpoints;         /* requests go to endpoint[slot % n_endpoints] */
    const char *ak;
    const char *secret;
    const char *scenario;    /* see usage() */
    long n;                  /* executions (waiting: executions left waiting) */
    long conc;               /* in-flight requests */
    bool failed;             /* legacy --mode: report-failed (else report-succeeded) */
    bool random_order;       /* report in a seeded random order (else creation order) */
    const char *json_path;
    long pid[MAX_NODES];     /* the servers' pids for CPU/RSS figures; 0 = none */
    uint64_t seed;
    long timeout_s;          /* token wait; 0 = 30 + N/200 (PostgreSQL: 60 + N/50) */
    const char *flowd;       /* spawn this flowd binary for the scenario */
    const char *baseline;    /* spawn this baseline binary (scenario baseline) */
    const char *baseline_mode; /* tpc | epoll2 */
    const char *ratio_to;    /* a baseline scenario's JSON: its rate is the 1.0 of ratios */
    double seconds;          /* mixed: duration of the timed phase */
    long prepop;             /* mixed: executions started (and dispatched) beforehand */
    long reports;            /* waiting: random reports after the restart */
    const char *logdir;      /* server logs; default "." */
    bool keep;               /* keep the data directory (and the PostgreSQL schema) */
    const char *pg;          /* PostgreSQL base URL: each run gets a fresh schema in it */
    int nodes;               /* flowd processes started on that schema (1 without --pg) */
    long busy_ms;            /* the machine-busy sample before the scenario; 0 = none */
} opts_t;

static opts_t g_opt = {.n = 20000, .conc = 64, .failed = true, .random_order = true,
                       .seed = 0x5eedf10du, .seconds = 30, .prepop = 10000, .reports = 10000,
                       .baseline_mode = "tpc", .logdir = ".", .nodes = 1, .busy_ms = 500};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: a fixed seed gives the same report order on every run. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Fisher-Yates over a[0..n). */
static void shuffle(long *a, long n, uint64_t seed)
{
    uint64_t s = seed ? seed : 1;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rng_next(&s) % (uint64_t)(i + 1));
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* A growable array of latencies (µs). */
typedef struct {
    int64_t *v;
    size_t n, cap;
} vec_t;

static void vec_push(vec_t *a, int64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = x;
}

/* ======================================================================================
 * flowd's CPU time and memory from /proc
 * ==================================================================================== */

/* utime+stime of pid in seconds, or -1 when /proc cannot be read. */
static double proc_cpu_s(long pid)
{
    char path[64], line[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    /* The command name may hold spaces; fields resume after the last ')'. Field 3 is the
     * state, utime and stime are fields 14 and 15. */
    char *p = strrchr(line, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...:" line of /proc/pid/status in KiB, or -1. */
static long proc_status_kb(long pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The share of the machine's CPU time (0..1) that was busy during the next ms milliseconds,
 * or -1 (also with ms 0: not measured): measured before the scenario starts anything, it
 * shows other work that would skew every figure (the load average would still count the
 * previous scenario). */
static double machine_busy(long ms)
{
    if (ms <= 0)
        return -1;
    unsigned long long a[2][8] = {{0}};
    for (int k = 0; k < 2; k++) {
        if (k)
            usleep((useconds_t)ms * 1000);
        FILE *f = fopen("/proc/stat", "r");
        if (!f)
            return -1;
        int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &a[k][0], &a[k][1],
                         &a[k][2], &a[k][3], &a[k][4], &a[k][5], &a[k][6], &a[k][7]);
        fclose(f);
        if (got != 8)
            return -1;
    }
    unsigned long long total = 0, idle = (a[1][3] - a[0][3]) + (a[1][4] - a[0][4]);
    for (int i = 0; i < 8; i++)
        total += a[1][i] - a[0][i];
    return total ? 1.0 - (double)idle / (double)total : -1;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Disk usage of a directory tree (allocated blocks), for the store-size figure. */
static long long g_du_bytes;

static int du_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)path, (void)type, (void)ftw;
    g_du_bytes += (long long)sb->st_blocks * 512;
    return 0;
}

static long long dir_usage_bytes(const char *dir)
{
    g_du_bytes = 0;
    nftw(dir, du_one, 16, FTW_PHYS);
    return g_du_bytes;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    remove(path);
    return 0;
}

/* ======================================================================================
 * The server under test: a fresh flowd (or the baseline responder) per scenario
 * ==================================================================================== */

/* The servers' figures summed over the nodes (one flowd, or the nodes sharing a schema). */

/* utime+stime of every node, summed, or -1; each node's in each[] when not NULL. */
static double servers_cpu_s(double each[MAX_NODES] /* OUT, may be NULL */)
{
    double sum = 0;
    bool any = false;
    for (int k = 0; k < MAX_NODES; k++) {
        double c = g_opt.pid[k] > 0 ? proc_cpu_s(g_opt.pid[k]) : -1;
        if (each)
            each[k] = c;
        if (g_opt.pid[k] > 0) {
            any = true;
            sum = sum < 0 || c < 0 ? -1 : sum + c;
        }
    }
    return any ? sum : -1;
}

/* A "Vm...:" figure (KiB) summed over the nodes, or -1; each node's in each[]. */
static long servers_kb(const char *key, long each[MAX_NODES] /* OUT, may be NULL */)
{
    long sum = 0;
    bool any = false;
    for (int k = 0; k < MAX_NODES; k++) {
        long v = g_opt.pid[k] > 0 ? proc_status_kb(g_opt.pid[k], key) : -1;
        if (each)
            each[k] = v;
        if (g_opt.pid[k] > 0) {
            any = true;
            sum = sum < 0 || v < 0 ? -1 : sum + v;
        }
    }
    return any ? sum : -1;
}

/* ======================================================================================
 * PostgreSQL (--pg): a fresh schema per run, its size, and the database's CPU time
 * ==================================================================================== */

typedef struct {
    PGconn *conn;            /* cbbench's own session: the schema, the figures */
    char schema[64];         /* also the flowd sessions' application_name */
    char *store_url;         /* flowd's --store: the base URL, search_path, application_name */
    bool local;              /* the server's processes are on this machine (/proc readable) */
    char version[64];
    char fsync[16];
    char sync_commit[16];
} pgctl_t;

static pgctl_t g_pg;

/* Runs one statement on cbbench's session; returns the first value of the first row (a
 * static copy, "" for none) or NULL on error (printed). */
static const char *pg_one(const char *sql, const char *param)
{
    static char val[256];
    const char *params[1] = {param};
    PGresult *res = PQexecParams(g_pg.conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "cbbench: postgres: %s: %s", sql, PQerrorMessage(g_pg.conn));
        PQclear(res);
        return NULL;
    }
    val[0] = 0;
    if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        snprintf(val, sizeof val, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return val;
}

/* Connects to the base URL and creates this run's schema; builds flowd's --store URL. */
static bool pg_setup(void)
{
    g_pg.conn = PQconnectdb(g_opt.pg);
    if (PQstatus(g_pg.conn) != CONNECTION_OK) {
        fprintf(stderr, "cbbench: cannot connect to PostgreSQL: %s", PQerrorMessage(g_pg.conn));
        return false;
    }
    unsigned char rb[4];
    char hex[9];
    fl_rand_bytes(rb, sizeof rb);
    fl_hex(rb, sizeof rb, hex);
    snprintf(g_pg.schema, sizeof g_pg.schema, "cbbench_%ld_%s", (long)getpid(), hex);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", g_pg.schema);
    if (!pg_one("SET client_min_messages = warning", NULL) || !pg_one(sql, NULL))
        return false;
    const char *v;
    if ((v = pg_one("SHOW server_version", NULL)))
        snprintf(g_pg.version, sizeof g_pg.version, "%s", v);
    if ((v = pg_one("SHOW fsync", NULL)))
        snprintf(g_pg.fsync, sizeof g_pg.fsync, "%s", v);
    if ((v = pg_one("SHOW synchronous_commit", NULL)))
        snprintf(g_pg.sync_commit, sizeof g_pg.sync_commit, "%s", v);
    /* The backends' CPU time comes from /proc when the server runs here. */
    v = pg_one("SELECT pg_backend_pid()", NULL);
    g_pg.local = v && *v && proc_cpu_s(strtol(v, NULL, 10)) >= 0;
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_printf(&b, "%s%soptions=-csearch_path%%3D%s&application_name=%s", g_opt.pg,
                  strchr(g_opt.pg, '?') ? "&" : "?", g_pg.schema, g_pg.schema);
    g_pg.store_url = fl_buf_take(&b);
    return true;
}

/* Drops the schema (unless --keep) and closes the session. */
static void pg_teardown(void)
{
    if (!g_pg.conn)
        return;
    if (g_pg.schema[0] && !g_opt.keep) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", g_pg.schema);
        pg_one(sql, NULL);
    }
    PQfinish(g_pg.conn);
    g_pg.conn = NULL;
    free(g_pg.store_url);
    g_pg.store_url = NULL;
}

/* The schema's tables with their indexes and TOAST, in bytes, or -1. */
static long long pg_schema_bytes(void)
{
    const char *v = pg_one("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)"
                           " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = $1 AND c.relkind = 'r'",
                           g_pg.schema);
    return v ? strtoll(v, NULL, 10) : -1;
}

/* CPU time of the PostgreSQL processes that work for this run: the flowd nodes' sessions
 * (application_name = the schema) and the server's background processes (WAL writer,
 * checkpointer, autovacuum, ...). A session that ends between two samples loses its time;
 * flowd keeps its connections, so that is rare. */
typedef struct {
    long n;
    long *pid;
    double *cpu;
} pgcpu_t;

static bool pg_cpu_sample(pgcpu_t *out)
{
    memset(out, 0, sizeof *out);
    if (!g_pg.conn || !g_pg.local)
        return false;
    const char *params[1] = {g_pg.schema};
    PGresult *res = PQexecParams(g_pg.conn,
                                 "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
                                 " OR backend_type <> 'client backend'",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return false;
    }
    long n = PQntuples(res);
    out->pid = xcalloc((size_t)(n ? n : 1), sizeof *out->pid);
    out->cpu = xcalloc((size_t)(n ? n : 1), sizeof *out->cpu);
    for (long i = 0; i < n; i++) {
        long pid = strtol(PQgetvalue(res, (int)i, 0), NULL, 10);
        double c = proc_cpu_s(pid);
        if (c >= 0) {
            out->pid[out->n] = pid;
            out->cpu[out->n++] = c;
        }
    }
    PQclear(res);
    return true;
}

static void pg_cpu_free(pgcpu_t *s)
{
    free(s->pid);
    free(s->cpu);
    memset(s, 0, sizeof *s);
}

/* The CPU seconds spent since *before (which is freed), or -1 without figures. */
static double pg_cpu_since(pgcpu_t *before, bool had)
{
    pgcpu_t now;
    double sum = -1;
    if (had && pg_cpu_sample(&now)) {
        sum = 0;
        for (long i = 0; i < now.n; i++) {
            double c0 = 0;
            for (long j = 0; j < before->n; j++)
                if (before->pid[j] == now.pid[i]) {
                    c0 = before->cpu[j];
                    break;
                }
            if (now.cpu[i] >= c0)
                sum += now.cpu[i] - c0;
        }
        pg_cpu_free(&now);
    }
    pg_cpu_free(before);
    return sum;
}

/* ======================================================================================
 * The servers under test: fresh flowd nodes (or the baseline responder) per scenario
 * ==================================================================================== */

typedef struct {
    int idx;                 /* node number: g_opt.endpoint[idx], g_opt.pid[idx] */
    const char *bin;
    const char *mode;        /* baseline mode, NULL for flowd */
    char dir[PATH_MAX];      /* flowd's data directory (created here, removed at the end) */
    char log[PATH_MAX];      /* the server's stdout and stderr */
    pid_t pid;
    unsigned port;
} server_t;

static server_t g_srv[MAX_NODES];
static int g_n_srv;

/* Starts the server and waits (up to 60 s) for its "listening on http://127.0.0.1:PORT"
 * line. Sets its g_opt.endpoint and g_opt.pid. Returns the seconds from fork to that line,
 * or -1 on failure. */
static double server_start(server_t *s)
{
    struct stat sb;
    off_t off = stat(s->log, &sb) == 0 ? sb.st_size : 0;
    double t0 = now_s();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setenv("FLOWD_ACCESS_KEY_ID", g_opt.ak, 1);
        setenv("FLOWD_ACCESS_KEY_SECRET", g_opt.secret, 1);
        if (s->mode)
            execl(s->bin, s->bin, "--mode", s->mode, (char *)NULL);
        else if (g_pg.store_url)
            execl(s->bin, s->bin, "--listen", "127.0.0.1:0", "--data", s->dir, "--store",
                  g_pg.store_url, (char *)NULL);
        else
            execl(s->bin, s->bin, "--listen", "127.0.0.1:0", "--data", s->dir, (char *)NULL);
        fprintf(stderr, "cbbench: cannot run %s: %s\n", s->bin, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    s->port = 0;
    double deadline = t0 + 60;
    while (now_s() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "cbbench: %s exited during startup (see %s)\n", s->bin, s->log);
            s->pid = 0;
            return -1;
        }
        FILE *f = fopen(s->log, "r");
        if (f) {
            char line[1024];
            fseeko(f, off, SEEK_SET);
            while (fgets(line, sizeof line, f)) {
                const char *p = strstr(line, "listening on http://127.0.0.1:");
                if (p)
                    s->port = (unsigned)strtoul(p + strlen("listening on http://127.0.0.1:"),
                                                NULL, 10);
            }
            fclose(f);
        }
        if (s->port)
            break;
        usleep(2000);
    }
    if (!s->port) {
        fprintf(stderr, "cbbench: %s did not print its port within 60 s\n", s->bin);
        return -1;
    }
    free(g_opt.endpoint[s->idx]);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%u/", s->port);
    g_opt.endpoint[s->idx] = xstrdup(ep);
    g_opt.pid[s->idx] = pid;
    return now_s() - t0;
}

/* Sends sig and waits for the exit; returns the seconds that took, or -1. */
static double server_stop(server_t *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    double t0 = now_s();
    kill(s->pid, sig);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    g_opt.pid[s->idx] = 0;
    return now_s() - t0;
}

/* The store's size on disk: the data directories, plus the schema on PostgreSQL. */
static long long store_bytes(void)
{
    long long sum = 0;
    for (int k = 0; k < g_n_srv; k++)
        sum += dir_usage_bytes(g_srv[k].dir);
    if (g_pg.conn) {
        long long b = pg_schema_bytes();
        sum = b < 0 ? -1 : sum + b;
    }
    return sum;
}

/* ======================================================================================
 * The worker listener: stores the token flowd dispatches for execution i, attempt a
 * ==================================================================================== */

enum { SLOT_EMPTY = 0, SLOT_WRITING = 1, SLOT_FULL = 2 };

static long g_cap;                                /* executions the slots can hold */
static char (*g_tokens[ATTEMPTS])[FL_TOKEN_MAX];  /* [cap]; written once per slot */
static _Atomic unsigned char *g_slot[ATTEMPTS];   /* [cap]; SLOT_* */
static atomic_long g_received[ATTEMPTS];          /* distinct executions with a token */
static _Atomic long *g_arrival;                   /* [cap]: first-attempt arrivals in order, -1 */
static atomic_long g_arrival_n;
static atomic_long g_dup_same;                    /* re-deliveries of the same token */
static atomic_long g_dup_other;                   /* a second, different token for one slot */
static atomic_long g_bad_cb;                      /* dispatches we could not parse */

static void slots_alloc(long cap)
{
    g_cap = cap;
    for (int a = 0; a < ATTEMPTS; a++) {
        g_tokens[a] = xcalloc((size_t)cap, sizeof *g_tokens[a]);
        g_slot[a] = xcalloc((size_t)cap, sizeof *g_slot[a]);
    }
    g_arrival = xmalloc((size_t)cap * sizeof *g_arrival);
    for (long i = 0; i < cap; i++)
        atomic_init(&g_arrival[i], -1);
}

static void slots_free(void)
{
    for (int a = 0; a < ATTEMPTS; a++) {
        free(g_tokens[a]);
        free((void *)g_slot[a]);
    }
    free((void *)g_arrival);
}

static bool has_token(int a, long i)
{
    return atomic_load(&g_slot[a][i]) == SLOT_FULL;
}

static void store_token(int a, long i, const char *tok)
{
    unsigned char expect = SLOT_EMPTY;
    if (atomic_compare_exchange_strong(&g_slot[a][i], &expect, SLOT_WRITING)) {
        snprintf(g_tokens[a][i], FL_TOKEN_MAX, "%s", tok);
        atomic_store(&g_slot[a][i], SLOT_FULL);
        atomic_fetch_add(&g_received[a], 1);
        if (a == 0)
            atomic_store(&g_arrival[atomic_fetch_add(&g_arrival_n, 1)], i);
        return;
    }
    /* At-least-once delivery: a duplicate is legal; a different token for the same attempt
     * would be a bug. */
    while (atomic_load(&g_slot[a][i]) != SLOT_FULL)
        ;
    if (strcmp(g_tokens[a][i], tok) == 0)
        atomic_fetch_add(&g_dup_same, 1);
    else
        atomic_fetch_add(&g_dup_other, 1);
}

static enum MHD_Result on_cb(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)version;
    fl_buf_t *b = *con_cls;
    if (!b) {
        b = xmalloc(sizeof *b);
        fl_buf_init(b);
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (b->len + *upload_size <= MAX_CB_BODY)
            fl_buf_append(b, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    unsigned status = MHD_HTTP_BAD_REQUEST;
    if (strcmp(method, "POST") == 0 && b->len) {
        json_t *o = json_loadb(b->data, b->len, 0, NULL);
        const char *tok = json_string_value(json_object_get(o, "token"));
        json_t *iv = json_object_get(o, "i"), *av = json_object_get(o, "a");
        long i = json_is_integer(iv) ? (long)json_integer_value(iv) : -1;
        long a = json_is_integer(av) ? (long)json_integer_value(av) : 0;
        if (tok && strlen(tok) < FL_TOKEN_MAX && i >= 0 && i < g_cap && a >= 0 &&
            a < ATTEMPTS) {
            store_token((int)a, i, tok);
            status = MHD_HTTP_OK;
        }
        json_decref(o);
    }
    if (status != MHD_HTTP_OK)
        atomic_fetch_add(&g_bad_cb, 1);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_cb_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    fl_buf_t *b = *con_cls;
    if (b) {
        fl_buf_free(b);
        free(b);
        *con_cls = NULL;
    }
}

static struct MHD_Daemon *listener_start(unsigned *port /* OUT */)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_cb, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
        MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_NOTIFY_COMPLETED, on_cb_done, NULL, MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    return d;
}

/* ======================================================================================
 * Signed requests over the curl multi interface
 * ==================================================================================== */

/* Request kinds, for per-kind latencies in the mixed phase. */
enum { OP_OTHER, OP_START, OP_REPORT, OP_DESCRIBE, N_OPS };
static const char *const op_names[N_OPS] = {"other", "start", "report", "describe"};

/* One API call: the action and its own parameters. Values either point at static text
 * or into val[]. op and arg travel with the request to its check. */
typedef struct {
    const char *action;
    fl_kv_t kv[MAX_CALL_PARAMS];
    size_t n;
    char val[MAX_CALL_PARAMS][VAL_LEN];
    int op;                  /* OP_* */
    long arg;                /* execution index, or -1 */
} call_t;

static void call_set(call_t *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_set(call_t *c, const char *key, const char *fmt, ...)
{
    FL_ASSERT(c->n < MAX_CALL_PARAMS);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->val[c->n], VAL_LEN, fmt, ap);
    va_end(ap);
    c->kv[c->n].key = key;
    c->kv[c->n].val = c->val[c->n];
    c->n++;
}

/* Unique per request: a random per-process prefix plus a counter (32 hex characters). */
static char g_nonce_prefix[17];
static uint64_t g_nonce_ctr;

/* Writes the signed form body of c (all parameters, sorted, Signature last) into form. */
static void sign_form(const call_t *c, const char *value_override_key,
                      const char *value_override, fl_buf_t *form)
{
    char date[32], nonce[33], sig[29];
    fl_time_iso_sec(fl_now_ms(), date);
    snprintf(nonce, sizeof nonce, "%s%016" PRIx64, g_nonce_prefix, ++g_nonce_ctr);
    fl_kv_t all[8 + MAX_CALL_PARAMS] = {
        {"Action", c->action},
        {"Version", API_VERSION},
        {"Format", "JSON"},
        {"Timestamp", date},
        {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureVersion", "1.0"},
        {"SignatureNonce", nonce},
        {"AccessKeyId", g_opt.ak},
    };
    size_t n = 8;
    for (size_t i = 0; i < c->n; i++) {
        all[n] = c->kv[i];
        if (value_override_key && strcmp(all[n].key, value_override_key) == 0)
            all[n].val = value_override;
        n++;
    }
    fl_sign_v1("POST", all, n, g_opt.secret, sig);
    fl_buf_reset(form);
    fl_sign_query_string(all, n, "Signature", form);
    fl_buf_puts(form, "&Signature=");
    fl_pct_encode(form, sig, strlen(sig));
}

/* Error codes seen in one phase, with counts. */
typedef struct {
    char code[96];
    long count;
} err_t;

typedef struct phase phase_t;
struct phase {
    const char *name;
    long n;                 /* requests (LONG_MAX with a duration) */
    long conc;
    double seconds_limit;   /* > 0: stop issuing requests after this long */
    /* Fills the call for request k (op and arg included). A long parameter value (a
     * definition) can be passed through *big_key and *big_val instead of call_t's
     * fixed-size buffers. */
    void (*build)(phase_t *p, long k, call_t *c, const char **big_key, const char **big_val);
    /* Checks a 200 reply body; returns false with a code when it is wrong. */
    bool (*check)(phase_t *p, int op, long arg, json_t *body, char *code, size_t codelen);
    /* results */
    long done;              /* requests answered (or failed) */
    vec_t lat[N_OPS];       /* µs, by request kind */
    long count[N_OPS];
    double secs;
    long errors;
    err_t errs[32];
    size_t n_errs;
    char first_err[512];    /* the first error reply, for the report */
    double flowd_cpu_s;     /* -1 without a pid; summed over the nodes */
    double node_cpu_s[MAX_NODES]; /* per node */
    long node_count[MAX_NODES]; /* requests sent to each node */
    double pg_cpu_s;        /* PostgreSQL's processes (see pg_cpu_sample), -1 unknown */
    double self_cpu_s;
};

typedef struct {
    CURL *h;
    int node;               /* the endpoint this slot's connection goes to */
    fl_buf_t resp;
    fl_buf_t form;
    int op;
    long arg;
    int64_t t0_us;
    char errbuf[CURL_ERROR_SIZE];
} slot_t;

static void count_err(phase_t *p, const char *code, const char *detail)
{
    p->errors++;
    if (!p->first_err[0])
        snprintf(p->first_err, sizeof p->first_err, "%s: %s", code, detail);
    for (size_t i = 0; i < p->n_errs; i++)
        if (strcmp(p->errs[i].code, code) == 0) {
            p->errs[i].count++;
            return;
        }
    size_t i = p->n_errs < FL_ARRAY_LEN(p->errs) ? p->n_errs++ : p->n_errs - 1;
    snprintf(p->errs[i].code, sizeof p->errs[i].code, "%s", code);
    p->errs[i].count = 1;
}

static size_t on_body(char *d, size_t size, size_t nmemb, void *ud)
{
    fl_buf_append(ud, d, size * nmemb);
    return size * nmemb;
}

static struct curl_slist *g_hdrs;

static void slot_start(CURLM *m, phase_t *p, slot_t *s, long k)
{
    call_t c;
    memset(&c, 0, sizeof c);
    c.arg = -1;
    const char *big_key = NULL, *big_val = NULL;
    p->build(p, k, &c, &big_key, &big_val);
    sign_form(&c, big_key, big_val, &s->form);
    fl_buf_reset(&s->resp);
    s->op = c.op;
    s->arg = c.arg;
    s->errbuf[0] = 0;
    curl_easy_setopt(s->h, CURLOPT_URL, g_opt.endpoint[s->node]);
    p->node_count[s->node]++;
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->form.data);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)s->form.len);
    s->t0_us = now_us();
    curl_multi_add_handle(m, s->h);
}

static void slot_done(phase_t *p, slot_t *s, CURLcode cc)
{
    vec_push(&p->lat[s->op], now_us() - s->t0_us);
    p->count[s->op]++;
    p->done++;
    if (cc != CURLE_OK) {
        char code[96];
        snprintf(code, sizeof code, "curl:%s", curl_easy_strerror(cc));
        count_err(p, code, s->errbuf);
        return;
    }
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    json_t *o = json_loadb(s->resp.data ? s->resp.data : "", s->resp.len, 0, NULL);
    char code[96] = "";
    if (!json_is_object(o))
        snprintf(code, sizeof code, "HTTP%ld-not-json", status);
    else if (status != 200 || json_object_get(o, "Code")) {
        const char *c = json_string_value(json_object_get(o, "Code"));
        snprintf(code, sizeof code, "%s(HTTP%ld)", c ? c : "no-Code", status);
    } else if (!p->check(p, s->op, s->arg, o, code, sizeof code) && !code[0])
        snprintf(code, sizeof code, "bad-reply");
    if (code[0])
        count_err(p, code, s->resp.data ? s->resp.data : "");
    json_decref(o);
}

/* Runs p->n requests (or as many as fit in p->seconds_limit) with at most p->conc in
 * flight, recording each latency. */
static void run_phase(phase_t *p)
{
    long conc = FL_MIN(p->conc, p->n);
    if (conc < 1)
        conc = 1;
    const long n_slots = conc;
    slot_t *slots = xcalloc((size_t)n_slots, sizeof *slots);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conc + 8);
    for (long i = 0; i < n_slots; i++) {
        slot_t *s = &slots[i];
        /* Round robin per connection: each slot keeps its keep-alive connection to one
         * node, and the slots are spread evenly over the nodes. */
        s->node = (int)(i % (g_opt.n_endpoints > 0 ? g_opt.n_endpoints : 1));
        fl_buf_init(&s->resp);
        fl_buf_init(&s->form);
        s->h = curl_easy_init();
        FL_ASSERT(s->h != NULL);
        curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, g_hdrs);
        curl_easy_setopt(s->h, CURLOPT_USERAGENT, "cbbench/1.0");
        curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
        curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &s->resp);
        curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->h, CURLOPT_POST, 1L);
    }
    double node0[MAX_NODES];
    double cpu0 = servers_cpu_s(node0), self0 = self_cpu_s();
    pgcpu_t pg0;
    bool pg_had = pg_cpu_sample(&pg0);
    double t0 = now_s();
    double stop_at = p->seconds_limit > 0 ? t0 + p->seconds_limit : 0;
    long next = 0, inflight = 0;
    if (p->n == 0)
        conc = 0;
    for (long i = 0; i < conc; i++, inflight++)
        slot_start(m, p, &slots[i], next++);
    while (inflight > 0) {
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int q;
        bool added = false;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            CURLcode cc = msg->data.result;
            slot_t *s = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
            curl_multi_remove_handle(m, h);
            slot_done(p, s, cc);
            if (next < p->n && (!stop_at || now_s() < stop_at)) {
                slot_start(m, p, s, next++);
                added = true;
            } else {
                inflight--;
            }
        }
        if (!added && inflight > 0)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    p->secs = now_s() - t0;
    double node1[MAX_NODES];
    double cpu1 = servers_cpu_s(node1);
    p->flowd_cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    for (int k = 0; k < MAX_NODES; k++)
        p->node_cpu_s[k] = node0[k] >= 0 && node1[k] >= 0 ? node1[k] - node0[k] : -1;
    p->pg_cpu_s = pg_cpu_since(&pg0, pg_had);
    p->self_cpu_s = self_cpu_s() - self0;
    for (long i = 0; i < n_slots; i++) {
        curl_easy_cleanup(slots[i].h);
        fl_buf_free(&slots[i].resp);
        fl_buf_free(&slots[i].form);
    }
    curl_multi_cleanup(m);
    free(slots);
}

static void phase_free(phase_t *p)
{
    for (int i = 0; i < N_OPS; i++)
        free(p->lat[i].v);
}

/* ======================================================================================
 * Figures
 * ==================================================================================== */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    long n;
    double secs;
    double rate;                /* requests/s */
    double p50, p99, p999, max; /* ms */
} stats_t;

/* Percentiles over the latencies in v (sorted in place). */
static stats_t vec_stats(vec_t *v, double secs)
{
    stats_t st = {.n = (long)v->n, .secs = secs};
    if (v->n == 0)
        return st;
    qsort(v->v, v->n, sizeof *v->v, cmp_i64);
    long n = (long)v->n;
#define PCT(q) ((double)v->v[FL_MIN(n - 1, (long)((double)n * (q)))] / 1000.0)
    st.p50 = PCT(0.50);
    st.p99 = PCT(0.99);
    st.p999 = PCT(0.999);
#undef PCT
    st.max = (double)v->v[n - 1] / 1000.0;
    st.rate = secs > 0 ? (double)n / secs : 0;
    return st;
}

/* All the phases' latencies together, over their summed durations. */
static stats_t phases_stats(phase_t **ps, size_t np)
{
    vec_t all = {0};
    double secs = 0;
    for (size_t i = 0; i < np; i++) {
        secs += ps[i]->secs;
        for (int o = 0; o < N_OPS; o++)
            for (size_t j = 0; j < ps[i]->lat[o].n; j++)
                vec_push(&all, ps[i]->lat[o].v[j]);
    }
    stats_t st = vec_stats(&all, secs);
    free(all.v);
    return st;
}

static void print_phase(phase_t *p, const stats_t *st)
{
    printf("%s: %ld in %.2fs = %.0f/s, p50 %.2f ms, p99 %.2f ms, p999 %.2f ms, max %.2f ms, "
           "errors %ld",
           p->name, st->n, p->secs, st->rate, st->p50, st->p99, st->p999, st->max, p->errors);
    for (size_t i = 0; i < p->n_errs; i++)
        printf("%s%s x%ld", i ? ", " : " (", p->errs[i].code, p->errs[i].count);
    printf("%s\n", p->n_errs ? ")" : "");
    printf("  cpu: cbbench %.2fs", p->self_cpu_s);
    if (p->flowd_cpu_s >= 0)
        printf(", server %.2fs (%.1f us/request, %.0f%% of one core)", p->flowd_cpu_s,
               st->n ? p->flowd_cpu_s * 1e6 / (double)st->n : 0,
               p->secs > 0 ? 100.0 * p->flowd_cpu_s / p->secs : 0);
    if (p->pg_cpu_s >= 0)
        printf(", postgres %.2fs (%.1f us/request, %.0f%% of one core)", p->pg_cpu_s,
               st->n ? p->pg_cpu_s * 1e6 / (double)st->n : 0,
               p->secs > 0 ? 100.0 * p->pg_cpu_s / p->secs : 0);
    printf("\n");
    if (g_opt.n_endpoints > 1) {
        printf("  nodes:");
        for (int k = 0; k < g_opt.n_endpoints; k++)
            printf("%s %d: %ld requests, cpu %.2fs", k ? ";" : "", k + 1, p->node_count[k],
                   p->node_cpu_s[k]);
        printf("\n");
    }
    if (p->first_err[0])
        printf("  first error: %.400s\n", p->first_err);
}

static json_t *stats_json(const stats_t *st)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)st->n, "seconds",
                     st->secs, "rate", st->rate, "p50_ms", st->p50, "p99_ms", st->p99,
                     "p999_ms", st->p999, "max_ms", st->max);
}

/* Computes the phase's figures, prints them and returns them as JSON (new reference). */
static json_t *phase_report(phase_t *p, stats_t *st_out /* OUT, may be NULL */)
{
    phase_t *one[1] = {p};
    stats_t st = phases_stats(one, 1);
    print_phase(p, &st);
    json_t *errs = json_object();
    for (size_t i = 0; i < p->n_errs; i++)
        json_object_set_new(errs, p->errs[i].code, json_integer(p->errs[i].count));
    json_t *o = stats_json(&st);
    json_object_set_new(o, "concurrency", json_integer(p->conc));
    json_object_set_new(o, "errors", json_integer(p->errors));
    json_object_set_new(o, "error_codes", errs);
    json_object_set_new(o, "cbbench_cpu_s", json_real(p->self_cpu_s));
    if (p->flowd_cpu_s >= 0)
        json_object_set_new(o, "server_cpu_s", json_real(p->flowd_cpu_s));
    if (p->pg_cpu_s >= 0)
        json_object_set_new(o, "postgres_cpu_s", json_real(p->pg_cpu_s));
    if (g_opt.n_endpoints > 1) {
        json_t *nodes = json_array();
        for (int k = 0; k < g_opt.n_endpoints; k++)
            json_array_append_new(nodes, json_pack("{s:I, s:f}", "requests",
                                                   (json_int_t)p->node_count[k], "server_cpu_s",
                                                   p->node_cpu_s[k]));
        json_object_set_new(o, "by_node", nodes);
    }
    if (p->first_err[0])
        json_object_set_new(o, "first_error", json_string(p->first_err));
    int kinds = 0;
    for (int k = 0; k < N_OPS; k++)
        kinds += p->lat[k].n > 0;
    if (kinds > 1) {
        json_t *by = json_object();
        for (int k = 0; k < N_OPS; k++) {
            if (!p->lat[k].n)
                continue;
            stats_t sk = vec_stats(&p->lat[k], p->secs);
            printf("  %s: %ld = %.0f/s, p50 %.2f ms, p99 %.2f ms, p999 %.2f ms\n", op_names[k],
                   sk.n, sk.rate, sk.p50, sk.p99, sk.p999);
            json_object_set_new(by, op_names[k], stats_json(&sk));
        }
        json_object_set_new(o, "by_kind", by);
    }
    if (st_out)
        *st_out = st;
    return o;
}

/* ======================================================================================
 * The requests of each phase
 * ==================================================================================== */

/* What a scenario shares with its request builders and checks. */
typedef struct {
    char flow[64];
    char *definition;
    bool retry;             /* the flow retries Busy once before the Catch */
    bool *started;          /* [cap]: StartExecution answered 200 */
    long *order;            /* report order: execution indexes */
    int report_attempt;     /* which token slot the report phase uses */
    const char *report_error; /* ReportTaskFailed's Error; NULL = ReportTaskSucceeded */
    long *sample;           /* verify: execution indexes */
    const char *want_status;
    const char *want_output; /* substring of Output, or NULL */
    long *recheck;          /* verify: indexes still Running, to look at again */
    long n_recheck;
    long verify_mismatch;
    char first_mismatch[512];
    /* mixed */
    long next_exec;         /* the next execution index to start */
    long arr_r, arr_w;      /* taken and filled prefix of g_arrival */
    long *reported;         /* executions reported in the mixed phase */
    long n_reported;
    long substituted;       /* reports turned into describes (no token available) */
    uint64_t rng;
} bench_t;

static bench_t g_b;

static void build_create(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)k;
    c->action = "CreateFlow";
    call_set(c, "Name", "%s", g_b.flow);
    call_set(c, "Type", "FDL");
    call_set(c, "Description", "cbbench");
    call_set(c, "Definition", "-");
    *bk = "Definition";
    *bv = g_b.definition;
}

static bool check_any(phase_t *p, int op, long arg, json_t *o, char *code, size_t len)
{
    (void)p, (void)op, (void)arg, (void)o, (void)code, (void)len;
    return true;
}

static void build_list_flows(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)k, (void)bk, (void)bv;
    c->action = "ListFlows";
    call_set(c, "Limit", "1");
}

static void set_start(call_t *c, long i)
{
    c->action = "StartExecution";
    c->op = OP_START;
    c->arg = i;
    call_set(c, "FlowName", "%s", g_b.flow);
    call_set(c, "ExecutionName", "e%ld", i);
    call_set(c, "Input", "{\"i\":%ld}", i);
}

static void build_start(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    set_start(c, k);
}

static bool check_start(phase_t *p, int op, long arg, json_t *o, char *code, size_t len)
{
    (void)p, (void)op;
    const char *name = json_string_value(json_object_get(o, "Name"));
    char want[32];
    snprintf(want, sizeof want, "e%ld", arg);
    if (!name || strcmp(name, want) != 0) {
        snprintf(code, len, "StartReplyWithoutName");
        return false;
    }
    g_b.started[arg] = true;
    return true;
}

static void set_report(call_t *c, const char *token, const char *error, long i)
{
    c->op = OP_REPORT;
    c->arg = i;
    c->action = error ? "ReportTaskFailed" : "ReportTaskSucceeded";
    call_set(c, "TaskToken", "%s", token);
    if (error) {
        call_set(c, "Error", "%s", error);
        call_set(c, "Cause", "bench");
    } else {
        call_set(c, "Output", "{\"ok\":true}");
    }
}

static void build_report(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    long i = g_b.order[k];
    set_report(c, g_tokens[g_b.report_attempt][i], g_b.report_error, i);
}

static bool check_report(phase_t *p, int op, long arg, json_t *o, char *code, size_t len)
{
    (void)p, (void)op, (void)arg;
    if (!json_is_integer(json_object_get(o, "EventId"))) {
        snprintf(code, len, "ReplyWithoutEventId");
        return false;
    }
    return true;
}

static void set_describe(call_t *c, long i)
{
    c->op = OP_DESCRIBE;
    c->arg = i;
    c->action = "DescribeExecution";
    call_set(c, "FlowName", "%s", g_b.flow);
    call_set(c, "ExecutionName", "e%ld", i);
}

static void build_verify(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    set_describe(c, g_b.sample[k]);
}

static bool check_verify(phase_t *p, int op, long arg, json_t *o, char *code, size_t len)
{
    (void)p, (void)op, (void)code, (void)len;
    const char *st = json_string_value(json_object_get(o, "Status"));
    const char *out = json_string_value(json_object_get(o, "Output"));
    if (st && strcmp(st, g_b.want_status) == 0 &&
        (!g_b.want_output || (out && strstr(out, g_b.want_output))))
        return true;
    /* A report's effect that is not visible yet is looked at again later. */
    if (st && strcmp(st, "Running") == 0 && strcmp(g_b.want_status, "Running") != 0) {
        g_b.recheck[g_b.n_recheck++] = arg;
        return true;
    }
    g_b.verify_mismatch++;
    if (!g_b.first_mismatch[0]) {
        char *d = json_dumps(o, JSON_COMPACT);
        snprintf(g_b.first_mismatch, sizeof g_b.first_mismatch, "e%ld: %s", arg, d ? d : "?");
        free(d);
    }
    return true; /* counted as a mismatch, not as a request error */
}

/* Mixed load: per 4 requests one start, one report, two describes. A report takes a random
 * token among those that arrived and were not reported yet; when there is none (dispatch
 * lagging) it becomes a describe, counted as substituted. */
static long take_token(void)
{
    while (g_b.arr_w < g_cap && atomic_load(&g_arrival[g_b.arr_w]) != -1)
        g_b.arr_w++;
    if (g_b.arr_r >= g_b.arr_w)
        return -1;
    long span = g_b.arr_w - g_b.arr_r;
    long j = g_b.arr_r + (long)(rng_next(&g_b.rng) % (uint64_t)span);
    long x = atomic_load(&g_arrival[j]);
    atomic_store(&g_arrival[j], atomic_load(&g_arrival[g_b.arr_r]));
    atomic_store(&g_arrival[g_b.arr_r], x);
    g_b.arr_r++;
    return x;
}

static long random_started(void)
{
    long i = (long)(rng_next(&g_b.rng) % (uint64_t)g_b.next_exec);
    return g_b.started[i] ? i : i % g_opt.prepop;
}

static void build_mixed(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    switch (k % 4) {
    case 0:
        if (g_b.next_exec < g_cap) {
            set_start(c, g_b.next_exec++);
            return;
        }
        break;
    case 1: {
        long i = take_token();
        if (i >= 0) {
            g_b.reported[g_b.n_reported++] = i;
            set_report(c, g_tokens[0][i], "Rejected", i);
            return;
        }
        g_b.substituted++;
        break;
    }
    default: break;
    }
    set_describe(c, random_started());
}

static bool check_mixed(phase_t *p, int op, long arg, json_t *o, char *code, size_t len)
{
    switch (op) {
    case OP_START: return check_start(p, op, arg, o, code, len);
    case OP_REPORT: return check_report(p, op, arg, o, code, len);
    default:
        if (!json_string_value(json_object_get(o, "Status"))) {
            snprintf(code, len, "DescribeWithoutStatus");
            return false;
        }
        return true;
    }
}

/* The baseline responder answers every request alike; the requests have the size of a
 * ReportTaskFailed with a real token (50 characters). */
static void build_baseline(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    char tok[51];
    snprintf(tok, sizeof tok, "AQAEYtU8irrAAAAAAAAAAAEAAAAB7pBMaA2u4lD%011ld", k);
    set_report(c, tok, "Rejected", k);
}

static char *make_definition(unsigned port, bool retry)
{
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_printf(&b,
                  "Type: StateMachine\n"
                  "SpecVersion: v1\n"
                  "Name: %s\n"
                  "StartAt: Work\n"
                  "States:\n"
                  "  - Type: Task\n"
                  "    Name: Work\n"
                  "    Action: HTTP:Request\n"
                  "    TaskMode: WaitForCustomCallback\n"
                  "    Parameters:\n"
                  "      URL: http://127.0.0.1:%u/cb\n"
                  "      Body:\n"
                  "        token.$: $Context.Current.TaskToken\n"
                  "        i.$: $Input.i\n",
                  g_b.flow, port);
    if (retry)
        fl_buf_puts(&b,
                    "        a.$: $Context.Current.RetryCount\n"
                    "    Retry:\n"
                    "      - Errors: [Busy]\n"
                    "        IntervalSeconds: 0\n"
                    "        MaxAttempts: 1\n");
    fl_buf_puts(&b,
                "    Catch:\n"
                "      - Errors: [Rejected]\n"
                "        Next: Caught\n"
                "    End: true\n"
                "  - Type: Pass\n"
                "    Name: Caught\n"
                "    End: true\n");
    return fl_buf_take(&b);
}

/* ======================================================================================
 * Building blocks of the scenarios
 * ==================================================================================== */

/* Everything one scenario reports: its JSON (the "ok" member and the summary are added at
 * the end) and whether any check failed. */
typedef struct {
    json_t *js;
    bool failed;
    stats_t main;            /* the measured phase(s) */
    double main_cpu_s;       /* the server's CPU during them (all nodes), -1 unknown */
    double main_node_cpu_s[MAX_NODES]; /* per node */
    double main_pg_cpu_s;    /* PostgreSQL's CPU during them, -1 unknown */
    char extra[512];         /* appended to the summary line */
} result_t;

static void fail(result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(result_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cbbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    r->failed = true;
}

static void extra(result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void extra(result_t *r, const char *fmt, ...)
{
    size_t l = strlen(r->extra);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->extra + l, sizeof r->extra - l, fmt, ap);
    va_end(ap);
}

/* Creates the scenario's flow. Returns false on failure. */
static bool create_flow(result_t *r, unsigned port, bool retry)
{
    snprintf(g_b.flow, sizeof g_b.flow, "bench-%ld-%ld", (long)getpid(), (long)time(NULL));
    g_b.retry = retry;
    free(g_b.definition);
    g_b.definition = make_definition(port, retry);
    phase_t create = {.name = "create", .n = 1, .conc = 1, .build = build_create,
                      .check = check_any};
    run_phase(&create);
    bool ok = create.errors == 0;
    if (!ok)
        fail(r, "CreateFlow failed: %s", create.first_err);
    phase_free(&create);
    printf("flow %s, worker http://127.0.0.1:%u/cb, retry %s\n", g_b.flow, port,
           retry ? "yes" : "no");
    return ok;
}

/* Waits until every started execution in [0, n) has a token for attempt a, or the timeout.
 * Returns the seconds waited; records the figures under js[key]. */
static double wait_tokens(result_t *r, int a, long n, double t_first, const char *key)
{
    long expected = 0;
    for (long i = 0; i < n; i++)
        expected += g_b.started[i];
    long at_entry = atomic_load(&g_received[a]);
    /* PostgreSQL dispatches far slower than SQLite so far (a few hundred per second, see
     * RESULTS.md): it gets a longer wait before the missing tokens count as lost. */
    long timeout_s = g_opt.timeout_s ? g_opt.timeout_s
                     : g_opt.pg      ? 60 + n / 50
                                     : 30 + n / 200;
    double cpu0 = servers_cpu_s(NULL);
    pgcpu_t pg0;
    bool pg_had = pg_cpu_sample(&pg0);
    double t0 = now_s(), deadline = t0 + (double)timeout_s;
    long prev = -1;
    double last_progress = t0;
    while (atomic_load(&g_received[a]) < expected && now_s() < deadline) {
        long got = atomic_load(&g_received[a]);
        if (got != prev) {
            prev = got;
            last_progress = now_s();
        } else if (now_s() - last_progress > 10) {
            /* A stall is reported as it happens, so a long run can be watched. */
            printf("  (tokens stalled at %ld/%ld for %.0fs)\n", got, expected,
                   now_s() - last_progress);
            fflush(stdout);
            last_progress = now_s();
        }
        usleep(2000);
    }
    double t = now_s();
    long got = atomic_load(&g_received[a]);
    double cpu1 = servers_cpu_s(NULL);
    double cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    double pg_cpu = pg_cpu_since(&pg0, pg_had);
    printf("tokens (attempt %d): %ld/%ld, all after %.2fs from the first request "
           "(%ld had arrived when the last reply came, the rest took %.2fs), duplicates %ld, "
           "different token %ld, bad dispatches %ld, server cpu while waiting %.2fs",
           a + 1, got, expected, t - t_first, at_entry, t - t0, atomic_load(&g_dup_same),
           atomic_load(&g_dup_other), atomic_load(&g_bad_cb), cpu);
    if (pg_cpu >= 0)
        printf(", postgres %.2fs", pg_cpu);
    printf("\n");
    json_object_set_new(
        r->js, key,
        json_pack("{s:I, s:I, s:f, s:I, s:f, s:I, s:I, s:I, s:f}", "received", (json_int_t)got,
                  "expected", (json_int_t)expected, "seconds_from_first_request", t - t_first,
                  "received_when_requests_done", (json_int_t)at_entry, "wait_seconds", t - t0,
                  "duplicates", (json_int_t)atomic_load(&g_dup_same), "different_token",
                  (json_int_t)atomic_load(&g_dup_other), "bad_dispatches",
                  (json_int_t)atomic_load(&g_bad_cb), "server_cpu_while_waiting_s", cpu));
    if (pg_cpu >= 0)
        json_object_set_new(json_object_get(r->js, key), "postgres_cpu_while_waiting_s",
                            json_real(pg_cpu));
    if (got < expected)
        fail(r, "%ld tokens (attempt %d) did not arrive within %lds", expected - got, a + 1,
             timeout_s);
    return t - t_first;
}

/* Starts executions [0, n) and records the phase under js["start"]. */
static phase_t *start_phase(result_t *r, long n, stats_t *st)
{
    static phase_t start;
    phase_free(&start);
    start = (phase_t){.name = "start", .n = n, .conc = g_opt.conc, .build = build_start,
                      .check = check_start};
    run_phase(&start);
    json_object_set_new(r->js, "start", phase_report(&start, st));
    if (start.errors)
        fail(r, "%ld StartExecution errors (first: %.300s)", start.errors, start.first_err);
    return &start;
}

/* Reports the tokens of attempt a of the executions in idx[0..n) (in the order given)
 * with the given Error (NULL = ReportTaskSucceeded). */
static void report_phase(result_t *r, phase_t *p, const char *name, long *idx, long n, int a,
                         const char *error)
{
    *p = (phase_t){.name = name, .n = n, .conc = g_opt.conc, .build = build_report,
                   .check = check_report};
    g_b.order = idx;
    g_b.report_attempt = a;
    g_b.report_error = error;
    run_phase(p);
    json_object_set_new(r->js, name, phase_report(p, NULL));
    if (p->errors)
        fail(r, "%ld %s errors (first: %.300s)", p->errors, name, p->first_err);
}

/* Indexes of the executions in [0, n) with a token for attempt a, shuffled unless the
 * creation order was asked for. Returns new; *count the length. */
static long *tokens_order(long n, int a, long *count /* OUT */)
{
    long *o = xcalloc((size_t)(n ? n : 1), sizeof *o), c = 0;
    for (long i = 0; i < n; i++)
        if (has_token(a, i))
            o[c++] = i;
    if (g_opt.random_order)
        shuffle(o, c, g_opt.seed + (uint64_t)a);
    *count = c;
    return o;
}

/* DescribeExecution on a random sample of idx[0..n) (VERIFY_SAMPLE, or all up to
 * VERIFY_ALL_UPTO): each must have status want (and Output containing want_output). An
 * execution still Running when another status is expected is looked at again for up to
 * 30 s. Records the figures under js[key]. */
static void verify(result_t *r, const char *key, const long *idx, long n, const char *want,
                   const char *want_output)
{
    long ns = n <= VERIFY_ALL_UPTO ? n : VERIFY_SAMPLE;
    long *all = xcalloc((size_t)(n ? n : 1), sizeof *all);
    memcpy(all, idx, (size_t)n * sizeof *all);
    if (ns < n)
        shuffle(all, n, g_opt.seed ^ 0x9e3779b97f4a7c15ULL);
    g_b.want_status = want;
    g_b.want_output = want_output;
    g_b.verify_mismatch = 0;
    g_b.first_mismatch[0] = 0;
    g_b.recheck = xcalloc((size_t)(ns ? ns : 1), sizeof *g_b.recheck);
    long *todo = all, n_todo = ns, errors = 0, rounds = 0;
    char first_err[512] = "";
    double t0 = now_s();
    for (;;) {
        g_b.n_recheck = 0;
        g_b.sample = todo;
        phase_t v = {.name = "verify", .n = n_todo, .conc = g_opt.conc, .build = build_verify,
                     .check = check_verify};
        run_phase(&v);
        errors += v.errors;
        if (v.errors && !first_err[0])
            snprintf(first_err, sizeof first_err, "%s", v.first_err);
        phase_free(&v);
        rounds++;
        if (!g_b.n_recheck || now_s() - t0 > 30)
            break;
        /* The recheck list becomes the next round's sample. */
        memcpy(all, g_b.recheck, (size_t)g_b.n_recheck * sizeof *all);
        todo = all;
        n_todo = g_b.n_recheck;
        usleep(200000);
    }
    long still_running = g_b.n_recheck;
    long ok = ns - g_b.verify_mismatch - errors - still_running;
    printf("verify %s: ok %ld/%ld (want %s%s%s)", key, ok, ns, want,
           want_output ? ", Output containing " : "", want_output ? want_output : "");
    if (rounds > 1)
        printf(", %ld rounds (some were still Running at first)", rounds);
    if (still_running)
        printf(", still Running after 30 s: %ld", still_running);
    if (g_b.verify_mismatch)
        printf(", mismatches %ld, first: %.400s", g_b.verify_mismatch, g_b.first_mismatch);
    if (errors)
        printf(", request errors %ld (first: %.300s)", errors, first_err);
    printf("\n");
    json_object_set_new(r->js, key,
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "ok", (json_int_t)ok,
                                  "checked", (json_int_t)ns, "mismatches",
                                  (json_int_t)g_b.verify_mismatch, "still_running",
                                  (json_int_t)still_running, "request_errors",
                                  (json_int_t)errors, "rounds", (json_int_t)rounds,
                                  "expected_status", want));
    if (ok != ns)
        fail(r, "verification %s failed: %ld of %ld as expected", key, ok, ns);
    free(all);
    free(g_b.recheck);
    g_b.recheck = NULL;
}

/* a + b, where a negative figure means unknown. */
static double add_known(double a, double b)
{
    return a < 0 || b < 0 ? -1 : a + b;
}

static void record_main(result_t *r, phase_t **ps, size_t np)
{
    r->main = phases_stats(ps, np);
    r->main_cpu_s = r->main_pg_cpu_s = 0;
    for (int k = 0; k < MAX_NODES; k++)
        r->main_node_cpu_s[k] = 0;
    for (size_t i = 0; i < np; i++) {
        r->main_cpu_s = add_known(r->main_cpu_s, ps[i]->flowd_cpu_s);
        r->main_pg_cpu_s = add_known(r->main_pg_cpu_s, ps[i]->pg_cpu_s);
        for (int k = 0; k < MAX_NODES; k++)
            r->main_node_cpu_s[k] = add_known(r->main_node_cpu_s[k], ps[i]->node_cpu_s[k]);
    }
}

/* ======================================================================================
 * The scenarios
 * ==================================================================================== */

/* report-failed / report-succeeded: N executions wait on a callback task, then every
 * token is reported (random order); all must end Succeeded through the Catch (failed) or
 * directly (succeeded). The measured phase is the report phase. */
static void sc_report(result_t *r, unsigned port, bool failed)
{
    const long n = g_opt.n;
    if (!create_flow(r, port, false))
        return;
    double t0 = now_s();
    start_phase(r, n, NULL);
    wait_tokens(r, 0, n, t0, "tokens");
    long cnt;
    long *order = tokens_order(n, 0, &cnt);
    static phase_t rep;
    report_phase(r, &rep, failed ? "report-failed" : "report-succeeded", order, cnt, 0,
                 failed ? "Rejected" : NULL);
    phase_t *ps[1] = {&rep};
    record_main(r, ps, 1);
    verify(r, "verify", order, cnt, "Succeeded", failed ? "Rejected" : "\"ok\"");
    free(order);
    phase_free(&rep);
}

/* start-execution: N StartExecution calls; the figures are the API rate and the time
 * until the last token reached the worker. Every execution must be Running. */
static void sc_start(result_t *r, unsigned port)
{
    const long n = g_opt.n;
    if (!create_flow(r, port, false))
        return;
    double t0 = now_s();
    stats_t st;
    phase_t *p = start_phase(r, n, &st);
    double all = wait_tokens(r, 0, n, t0, "tokens");
    phase_t *ps[1] = {p};
    record_main(r, ps, 1);
    long got = atomic_load(&g_received[0]);
    extra(r, "last token after %.2fs = %.0f dispatches/s", all, all > 0 ? (double)got / all : 0);
    long cnt;
    long *idx = tokens_order(n, 0, &cnt);
    verify(r, "verify", idx, cnt, "Running", NULL);
    free(idx);
}

/* retry-catch: the first report fails with Busy, which the Retry (IntervalSeconds 0,
 * MaxAttempts 1) re-dispatches at once with a new token; the second report fails with
 * Rejected, which the Catch takes to the Pass state. The measured figure covers the
 * reports of both attempts. */
static void sc_retry(result_t *r, unsigned port)
{
    const long n = g_opt.n;
    if (!create_flow(r, port, true))
        return;
    double t0 = now_s();
    start_phase(r, n, NULL);
    wait_tokens(r, 0, n, t0, "tokens_attempt1");
    long c1, c2;
    long *o1 = tokens_order(n, 0, &c1);
    static phase_t r1, r2;
    double t1 = now_s();
    report_phase(r, &r1, "report-busy", o1, c1, 0, "Busy");
    double retry_all = wait_tokens(r, 1, n, t1, "tokens_attempt2");
    long *o2 = tokens_order(n, 1, &c2);
    if (c2 != c1)
        fail(r, "%ld first attempts but %ld retries dispatched", c1, c2);
    report_phase(r, &r2, "report-rejected", o2, c2, 1, "Rejected");
    phase_t *ps[2] = {&r1, &r2};
    record_main(r, ps, 2);
    extra(r, "retry tokens all in %.2fs after the first Busy report", retry_all);
    verify(r, "verify", o2, c2, "Succeeded", "Rejected");
    free(o1);
    free(o2);
    phase_free(&r1);
    phase_free(&r2);
}

/* mixed: prepop executions start and receive their tokens; then, for the given time,
 * starts, reports (ReportTaskFailed, caught) and DescribeExecution calls run together in
 * the proportion 1:1:2. The reported executions must end Succeeded. */
static void sc_mixed(result_t *r, unsigned port)
{
    if (!create_flow(r, port, false))
        return;
    double t0 = now_s();
    start_phase(r, g_opt.prepop, NULL);
    wait_tokens(r, 0, g_opt.prepop, t0, "tokens_prepop");
    g_b.next_exec = g_opt.prepop;
    g_b.rng = g_opt.seed | 1;
    g_b.reported = xcalloc((size_t)g_cap, sizeof *g_b.reported);
    static phase_t mx;
    mx = (phase_t){.name = "mixed", .n = LONG_MAX, .conc = g_opt.conc,
                   .seconds_limit = g_opt.seconds, .build = build_mixed, .check = check_mixed};
    run_phase(&mx);
    json_t *o = phase_report(&mx, NULL);
    json_object_set_new(o, "reports_substituted", json_integer(g_b.substituted));
    json_object_set_new(r->js, "mixed", o);
    if (mx.errors)
        fail(r, "%ld mixed errors (first: %.300s)", mx.errors, mx.first_err);
    phase_t *ps[1] = {&mx};
    record_main(r, ps, 1);
    extra(r, "start %ld, report %ld, describe %ld in %.0fs", mx.count[OP_START],
          mx.count[OP_REPORT], mx.count[OP_DESCRIBE], mx.secs);
    if (g_b.substituted)
        extra(r, " (%ld reports had no token and were describes)", g_b.substituted);
    verify(r, "verify", g_b.reported, g_b.n_reported, "Succeeded", "Rejected");
    phase_free(&mx);
    free(g_b.reported);
    g_b.reported = NULL;
}

/* waiting: N executions wait on callbacks. Figures: flowd's RSS with them, the store's
 * size on disk, the time to stop (SIGTERM) and to start again until ListFlows answers,
 * then the latency of `reports` random reports after the restart. */
static void sc_waiting(result_t *r, unsigned port)
{
    const long n = g_opt.n;
    if (!create_flow(r, port, false))
        return;
    double t0 = now_s();
    start_phase(r, n, NULL);
    wait_tokens(r, 0, n, t0, "tokens");
    /* With several nodes: RSS summed, every node stopped (the slowest stop counts) and
     * started again one after the other (the time until the last one answers counts). */
    long rss = servers_kb("VmRSS", NULL), hwm = servers_kb("VmHWM", NULL);
    long long du = store_bytes();
    double cpu_before = servers_cpu_s(NULL);
    printf("with %ld waiting: flowd RSS %.1f MiB (peak %.1f MiB), %s %.1f MiB, "
           "flowd CPU so far %.2fs\n",
           n, (double)rss / 1024, (double)hwm / 1024, g_pg.conn ? "schema" : "data dir",
           (double)du / 1048576, cpu_before);
    double stop_s = 0;
    for (int k = 0; k < g_n_srv; k++) {
        double t = server_stop(&g_srv[k], SIGTERM);
        stop_s = stop_s < 0 || t < 0 ? -1 : FL_MAX(stop_s, t);
    }
    long long du_stopped = store_bytes();
    double start_s = 0;
    for (int k = 0; k < g_n_srv && start_s >= 0; k++) {
        double t = server_start(&g_srv[k]);
        start_s = t < 0 ? -1 : start_s + t;
    }
    if (start_s < 0) {
        fail(r, "flowd did not restart");
        return;
    }
    /* Ready means answering ListFlows (every node), not only listening. */
    double t_ready = now_s(), ready_s = -1;
    while (now_s() - t_ready < 300) {
        phase_t lf = {.name = "ListFlows", .n = g_n_srv, .conc = g_n_srv,
                      .build = build_list_flows, .check = check_any};
        run_phase(&lf);
        bool ok = lf.errors == 0;
        phase_free(&lf);
        if (ok) {
            ready_s = start_s + (now_s() - t_ready);
            break;
        }
        usleep(10000);
    }
    long rss_restart = servers_kb("VmRSS", NULL);
    printf("restart: SIGTERM exit %.2fs, store after stop %.1f MiB, start until listening "
           "%.2fs, until ListFlows answered %.2fs, RSS after restart %.1f MiB\n",
           stop_s, (double)du_stopped / 1048576, start_s, ready_s, (double)rss_restart / 1024);
    if (ready_s < 0) {
        fail(r, "flowd did not answer ListFlows within 300 s of the restart");
        return;
    }
    long cnt;
    long *order = tokens_order(n, 0, &cnt);
    shuffle(order, cnt, g_opt.seed ^ 0x7777);
    long nrep = FL_MIN(g_opt.reports, cnt);
    static phase_t rep;
    report_phase(r, &rep, "report-after-restart", order, nrep, 0, "Rejected");
    phase_t *ps[1] = {&rep};
    record_main(r, ps, 1);
    json_object_set_new(
        r->js, "waiting",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I}", "executions",
                  (json_int_t)n, "rss_kb", (json_int_t)rss, "peak_rss_kb", (json_int_t)hwm,
                  "data_dir_bytes", (json_int_t)du, "data_dir_bytes_after_stop",
                  (json_int_t)du_stopped, "stop_seconds", stop_s, "start_listening_seconds",
                  start_s, "restart_ready_seconds", ready_s, "cpu_before_restart_s", cpu_before,
                  "rss_after_restart_kb", (json_int_t)rss_restart));
    extra(r, "waiting %ld: RSS %.1f MiB, disk %.1f MiB, stop %.2fs, restart %.2fs", n,
          (double)rss / 1024, (double)du / 1048576, stop_s, ready_s);
    verify(r, "verify_reported", order, nrep, "Succeeded", "Rejected");
    if (cnt > nrep)
        verify(r, "verify_still_waiting", order + nrep, FL_MIN(cnt - nrep, 200), "Running",
               NULL);
    free(order);
    phase_free(&rep);
}

/* baseline: the same signed requests and connections against the trivial responder. */
static void sc_baseline(result_t *r)
{
    static phase_t b;
    b = (phase_t){.name = "baseline", .n = g_opt.n, .conc = g_opt.conc,
                  .build = build_baseline, .check = check_report};
    run_phase(&b);
    json_object_set_new(r->js, "requests", phase_report(&b, NULL));
    if (b.errors)
        fail(r, "%ld baseline errors (first: %.300s)", b.errors, b.first_err);
    phase_t *ps[1] = {&b};
    record_main(r, ps, 1);
    phase_free(&b);
}

/* ======================================================================================
 * main
 * ==================================================================================== */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cbbench [--scenario NAME] [--flowd PATH | --endpoint URL [--pid PID]]\n"
            "               [--ak ID --secret S] [--n 20000] [--concurrency 64]\n"
            "               [--order random|creation] [--seed N] [--timeout SECONDS]\n"
            "               [--seconds 30] [--prepop 10000] [--reports 10000]\n"
            "               [--baseline PATH --baseline-mode tpc|epoll2] [--ratio-to JSON]\n"
            "               [--json out.json] [--logdir DIR] [--keep] [--mode failed|succeeded]\n"
            "               [--pg URL [--nodes 1|2]] [--busy-ms 500]\n"
            "Scenarios: report-failed (default), report-succeeded, start-execution,\n"
            "retry-catch, mixed, waiting or waiting-1m (needs --flowd), baseline (needs\n"
            "--baseline).\n"
            "--pg URL (with --flowd): flowd runs on PostgreSQL, in a new schema of that database\n"
            "made for the run and dropped after it (kept with --keep); --nodes N starts N flowd\n"
            "processes on that schema and spreads the connections over them.\n"
            "--busy-ms: how long to sample the machine's CPU use before the scenario (0: not).\n"
            "Endpoint and keys also come from FLOWD_ENDPOINT, FLOWD_ACCESS_KEY_ID,\n"
            "FLOWD_ACCESS_KEY_SECRET; with --flowd the keys default to bench/benchsecret.\n");
}

static void parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"ak", required_argument, NULL, 'a'},
        {"secret", required_argument, NULL, 's'},   {"n", required_argument, NULL, 'n'},
        {"concurrency", required_argument, NULL, 'c'}, {"mode", required_argument, NULL, 'm'},
        {"order", required_argument, NULL, 'o'},    {"json", required_argument, NULL, 'j'},
        {"pid", required_argument, NULL, 'p'},      {"seed", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
        {"scenario", required_argument, NULL, 'x'}, {"flowd", required_argument, NULL, 'F'},
        {"baseline", required_argument, NULL, 'B'},
        {"baseline-mode", required_argument, NULL, 'M'},
        {"ratio-to", required_argument, NULL, 'R'}, {"seconds", required_argument, NULL, 'T'},
        {"prepop", required_argument, NULL, 'P'},   {"reports", required_argument, NULL, 'r'},
        {"logdir", required_argument, NULL, 'L'},   {"keep", no_argument, NULL, 'K'},
        {"pg", required_argument, NULL, 'G'},       {"nodes", required_argument, NULL, 'N'},
        {"busy-ms", required_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *ep = getenv("FLOWD_ENDPOINT");
    g_opt.ak = getenv("FLOWD_ACCESS_KEY_ID");
    g_opt.secret = getenv("FLOWD_ACCESS_KEY_SECRET");
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'e': ep = optarg; break;
        case 'a': g_opt.ak = optarg; break;
        case 's': g_opt.secret = optarg; break;
        case 'n': g_opt.n = strtol(optarg, NULL, 10); break;
        case 'c': g_opt.conc = strtol(optarg, NULL, 10); break;
        case 'j': g_opt.json_path = optarg; break;
        case 'p': g_opt.pid[0] = strtol(optarg, NULL, 10); break;
        case 'S': g_opt.seed = strtoull(optarg, NULL, 0); break;
        case 't': g_opt.timeout_s = strtol(optarg, NULL, 10); break;
        case 'x': g_opt.scenario = optarg; break;
        case 'F': g_opt.flowd = optarg; break;
        case 'B': g_opt.baseline = optarg; break;
        case 'M': g_opt.baseline_mode = optarg; break;
        case 'R': g_opt.ratio_to = optarg; break;
        case 'T': g_opt.seconds = strtod(optarg, NULL); break;
        case 'P': g_opt.prepop = strtol(optarg, NULL, 10); break;
        case 'r': g_opt.reports = strtol(optarg, NULL, 10); break;
        case 'L': g_opt.logdir = optarg; break;
        case 'K': g_opt.keep = true; break;
        case 'G': g_opt.pg = optarg; break;
        case 'N': g_opt.nodes = (int)strtol(optarg, NULL, 10); break;
        case 'U': g_opt.busy_ms = strtol(optarg, NULL, 10); break;
        case 'm':
            if (strcmp(optarg, "failed") && strcmp(optarg, "succeeded")) {
                usage(stderr);
                exit(2);
            }
            g_opt.failed = strcmp(optarg, "failed") == 0;
            break;
        case 'o':
            if (strcmp(optarg, "random") && strcmp(optarg, "creation")) {
                usage(stderr);
                exit(2);
            }
            g_opt.random_order = strcmp(optarg, "random") == 0;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (!g_opt.scenario)
        g_opt.scenario = g_opt.failed ? "report-failed" : "report-succeeded";
    bool spawn = g_opt.flowd || strcmp(g_opt.scenario, "baseline") == 0;
    if (spawn) {
        if (!g_opt.ak)
            g_opt.ak = "bench";
        if (!g_opt.secret)
            g_opt.secret = "benchsecret";
    }
    static const char *const known[] = {"report-failed", "report-succeeded", "start-execution",
                                        "retry-catch",   "mixed",            "waiting",
                                        "waiting-1m",    "baseline"};
    bool found = false;
    for (size_t i = 0; i < FL_ARRAY_LEN(known); i++)
        found |= strcmp(g_opt.scenario, known[i]) == 0;
    if (!found || (!spawn && !ep) || !g_opt.ak || !g_opt.secret || g_opt.n < 1 ||
        g_opt.conc < 1 || g_opt.prepop < 1 || optind != argc ||
        (strncmp(g_opt.scenario, "waiting", 7) == 0 && !g_opt.flowd) ||
        (strcmp(g_opt.scenario, "baseline") == 0 && !g_opt.baseline)) {
        usage(stderr);
        exit(2);
    }
    /* PostgreSQL and several nodes need flowd started here; the baseline has no store. */
    if (g_opt.nodes < 1 || g_opt.nodes > MAX_NODES || (g_opt.nodes > 1 && !g_opt.pg) ||
        (g_opt.pg && (!g_opt.flowd || strcmp(g_opt.scenario, "baseline") == 0 ||
                      (strncmp(g_opt.pg, "postgres://", 11) != 0 &&
                       strncmp(g_opt.pg, "postgresql://", 13) != 0)))) {
        fprintf(stderr, "cbbench: --pg takes a postgres:// URL and needs --flowd and a flowd "
                        "scenario; --nodes 2..%d needs --pg\n", MAX_NODES);
        usage(stderr);
        exit(2);
    }
    if (ep && !spawn) {
        fl_buf_t b;
        fl_buf_init(&b);
        if (!strstr(ep, "://"))
            fl_buf_puts(&b, "http://");
        fl_buf_puts(&b, ep);
        if (b.data[b.len - 1] != '/')
            fl_buf_putc(&b, '/');
        g_opt.endpoint[0] = fl_buf_take(&b);
    }
    g_opt.n_endpoints = 1;
}

/* The rate of a baseline result file, or 0. */
static double baseline_rate(void)
{
    if (!g_opt.ratio_to)
        return 0;
    json_t *o = json_load_file(g_opt.ratio_to, 0, NULL);
    double v = json_is_true(json_object_get(o, "ok"))
                   ? json_number_value(json_object_get(o, "rate"))
                   : 0;
    json_decref(o);
    return v;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows in a log file as it happens */
    const char *sc = g_opt.scenario;
    const double busy_begin = machine_busy(g_opt.busy_ms);
    bool is_baseline = strcmp(sc, "baseline") == 0;
    char name[64], file[64]; /* the result line's name; its files' */
    if (is_baseline && strcmp(g_opt.baseline_mode, "tpc") != 0)
        snprintf(name, sizeof name, "baseline-%s", g_opt.baseline_mode);
    else
        snprintf(name, sizeof name, "%s", sc);
    snprintf(file, sizeof file, "%s", name);
    if (g_opt.pg) { /* the mode in the name: report-failed[pg,2n] */
        snprintf(name, sizeof name, "%s[pg,%dn]", sc, g_opt.nodes);
        snprintf(file, sizeof file, "%s-pg-%dn", sc, g_opt.nodes);
    }
    unsigned char rb[8];
    fl_rand_bytes(rb, sizeof rb);
    fl_hex(rb, sizeof rb, g_nonce_prefix);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_hdrs = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    g_hdrs = curl_slist_append(g_hdrs, "Accept: application/json");
    g_hdrs = curl_slist_append(g_hdrs, "Expect:");
    result_t r = {.js = json_object(), .main_cpu_s = -1, .main_pg_cpu_s = -1};
    for (int k = 0; k < MAX_NODES; k++)
        r.main_node_cpu_s[k] = -1;
    struct MHD_Daemon *d = NULL;
    double t_begin = now_s();

    /* The token slots: mixed also holds the executions it starts during its phase. */
    long cap = g_opt.n;
    if (strcmp(sc, "mixed") == 0)
        cap = g_opt.prepop + (long)(g_opt.seconds * 20000);
    slots_alloc(cap);
    g_b.started = xcalloc((size_t)cap, sizeof *g_b.started);

    /* PostgreSQL: a fresh schema that every node of this run shares. */
    if (g_opt.pg) {
        if (!pg_setup()) {
            fail(&r, "cannot set up a PostgreSQL schema");
            goto out;
        }
        printf("%s: PostgreSQL %s (fsync %s, synchronous_commit %s), schema %s, %d node%s%s\n",
               name, g_pg.version, g_pg.fsync, g_pg.sync_commit, g_pg.schema, g_opt.nodes,
               g_opt.nodes > 1 ? "s" : "",
               g_pg.local ? "" : "; the server is not on this machine: no postgres CPU figures");
    }

    /* The servers: fresh flowd nodes or the baseline responder, or the one given. */
    if (g_opt.flowd || is_baseline) {
        g_n_srv = is_baseline ? 1 : g_opt.nodes;
        g_opt.n_endpoints = g_n_srv;
        const char *tmp = getenv("TMPDIR");
        for (int k = 0; k < g_n_srv; k++) {
            server_t *sv = &g_srv[k];
            sv->idx = k;
            sv->bin = is_baseline ? g_opt.baseline : g_opt.flowd;
            sv->mode = is_baseline ? g_opt.baseline_mode : NULL;
            if (k == 0)
                snprintf(sv->log, sizeof sv->log, "%s/%s.server.log", g_opt.logdir, file);
            else
                snprintf(sv->log, sizeof sv->log, "%s/%s.server%d.log", g_opt.logdir, file,
                         k + 1);
            unlink(sv->log);
            snprintf(sv->dir, sizeof sv->dir, "%s/flowd-bench-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp(sv->dir)) {
                fail(&r, "mkdtemp %s: %s", sv->dir, strerror(errno));
                sv->dir[0] = 0;
                goto out;
            }
            if (server_start(sv) < 0) {
                fail(&r, "cannot start %s", sv->bin);
                goto out;
            }
            printf("%s: %s pid %ld on %s (data %s, log %s)\n", name, sv->bin, (long)sv->pid,
                   g_opt.endpoint[k], is_baseline ? "-" : sv->dir, sv->log);
        }
    }
    if (!is_baseline) {
        unsigned port = 0;
        d = listener_start(&port);
        if (!d || !port) {
            fail(&r, "cannot start the worker listener");
            goto out;
        }
        if (strcmp(sc, "report-failed") == 0)
            sc_report(&r, port, true);
        else if (strcmp(sc, "report-succeeded") == 0)
            sc_report(&r, port, false);
        else if (strcmp(sc, "start-execution") == 0)
            sc_start(&r, port);
        else if (strcmp(sc, "retry-catch") == 0)
            sc_retry(&r, port);
        else if (strcmp(sc, "mixed") == 0)
            sc_mixed(&r, port);
        else
            sc_waiting(&r, port); /* waiting, waiting-1m */
        if (atomic_load(&g_dup_other))
            fail(&r, "%ld dispatches carried a different token for the same attempt",
                 atomic_load(&g_dup_other));
        if (atomic_load(&g_bad_cb))
            fail(&r, "%ld dispatches could not be parsed", atomic_load(&g_bad_cb));
    } else {
        sc_baseline(&r);
    }

out:;
    /* Server figures and the summary line. */
    long hwm_node[MAX_NODES];
    long hwm = servers_kb("VmHWM", hwm_node);
    double cpu_total = servers_cpu_s(NULL);
    for (int k = 0; k < g_n_srv; k++) {
        if (g_srv[k].pid > 0 && server_stop(&g_srv[k], SIGTERM) < 0)
            fail(&r, "stopping the server failed");
        if (g_srv[k].dir[0] && !g_opt.keep)
            nftw(g_srv[k].dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    pg_teardown();
    double base = is_baseline && strcmp(g_opt.baseline_mode, "tpc") == 0 ? 0 : baseline_rate();
    json_object_set_new(r.js, "scenario", json_string(name));
    json_object_set_new(r.js, "ok", json_boolean(!r.failed));
    json_object_set_new(r.js, "n", json_integer(g_opt.n));
    json_object_set_new(r.js, "concurrency", json_integer(g_opt.conc));
    json_object_set_new(r.js, "rate", json_real(r.main.rate));
    json_object_set_new(r.js, "p50_ms", json_real(r.main.p50));
    json_object_set_new(r.js, "p99_ms", json_real(r.main.p99));
    json_object_set_new(r.js, "p999_ms", json_real(r.main.p999));
    json_object_set_new(r.js, "max_ms", json_real(r.main.max));
    json_object_set_new(r.js, "measured_requests", json_integer(r.main.n));
    json_object_set_new(r.js, "server_cpu_s", json_real(r.main_cpu_s));
    json_object_set_new(r.js, "server_cpu_total_s", json_real(cpu_total));
    json_object_set_new(r.js, "server_peak_rss_kb", json_integer(hwm));
    json_object_set_new(r.js, "seconds_total", json_real(now_s() - t_begin));
    /* Before the scenario nothing of ours runs, so CPU use then is other work sharing the
     * machine; the line says so. */
    json_object_set_new(r.js, "machine_busy_before", json_real(busy_begin));
    if (!is_baseline) {
        json_t *store = json_pack("{s:s, s:i}", "backend", g_opt.pg ? "postgres" : "sqlite",
                                  "nodes", g_opt.nodes);
        if (g_opt.pg)
            json_object_update_new(store, json_pack("{s:s, s:s, s:s}", "server_version",
                                                    g_pg.version, "fsync", g_pg.fsync,
                                                    "synchronous_commit", g_pg.sync_commit));
        json_object_set_new(r.js, "store", store);
    }
    if (r.main_pg_cpu_s >= 0)
        json_object_set_new(r.js, "postgres_cpu_s", json_real(r.main_pg_cpu_s));
    if (g_n_srv > 1) {
        /* The line's cpu and rss are the nodes' sums; each node's figures follow. */
        json_t *cpu_by = json_array(), *rss_by = json_array();
        extra(&r, "%snodes cpu", r.extra[0] ? "; " : "");
        for (int k = 0; k < g_n_srv; k++) {
            json_array_append_new(cpu_by, json_real(r.main_node_cpu_s[k]));
            json_array_append_new(rss_by, json_integer(hwm_node[k]));
            extra(&r, "%s%.2f", k ? "+" : " ", r.main_node_cpu_s[k]);
        }
        extra(&r, "s rss");
        for (int k = 0; k < g_n_srv; k++)
            extra(&r, "%s%.1f", k ? "+" : " ", (double)hwm_node[k] / 1024);
        extra(&r, " MiB");
        json_object_set_new(r.js, "server_cpu_s_by_node", cpu_by);
        json_object_set_new(r.js, "server_peak_rss_kb_by_node", rss_by);
    }
    if (r.main_pg_cpu_s >= 0)
        extra(&r, "%spostgres cpu %.2fs", r.extra[0] ? "; " : "", r.main_pg_cpu_s);
    if (busy_begin > 0.25)
        extra(&r, "%sbusy machine: %.0f%% CPU used by others at the start",
              r.extra[0] ? "; " : "", 100 * busy_begin);
    if (base > 0)
        json_object_set_new(r.js, "ratio_to_baseline", json_real(r.main.rate / base));
    char line[1024];
    int l = snprintf(line, sizeof line,
                     "%-*s %-4s %8.0f/s  p50 %6.2f  p99 %7.2f  p999 %7.2f ms  cpu %7.2fs  "
                     "rss %6.1f MiB",
                     g_opt.pg ? 23 : 17, name, r.failed ? "FAIL" : "ok", r.main.rate, r.main.p50, r.main.p99,
                     r.main.p999, r.main_cpu_s, (double)hwm / 1024);
    if (base > 0 && l > 0 && (size_t)l < sizeof line)
        l += snprintf(line + l, sizeof line - (size_t)l, "  %.2fx baseline",
                      r.main.rate / base);
    if (r.extra[0] && l > 0 && (size_t)l < sizeof line)
        snprintf(line + l, sizeof line - (size_t)l, "  | %s", r.extra);
    json_object_set_new(r.js, "line", json_string(line));
    printf("RESULT %s\n", line);
    if (g_opt.json_path && json_dump_file(r.js, g_opt.json_path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "cbbench: cannot write %s: %s\n", g_opt.json_path, strerror(errno));
        r.failed = true;
    }
    if (d)
        MHD_stop_daemon(d);
    json_decref(r.js);
    curl_slist_free_all(g_hdrs);
    curl_global_cleanup();
    free(g_b.definition);
    free(g_b.started);
    slots_free();
    for (int k = 0; k < MAX_NODES; k++)
        free(g_opt.endpoint[k]);
    return r.failed ? 1 : 0;
}
