/*
 * cbbench.c - load generator for flowd's callback-task path (start, dispatch, report).
 *
 * It runs its own worker listener (libmicrohttpd, internal thread pool) that receives the
 * task tokens flowd dispatches, creates a one-task WaitForCustomCallback flow, starts N
 * executions, waits for every token, reports them all (random or creation order) and
 * checks a sample of the executions ended Succeeded. Requests are signed with flowd's own
 * V1 signer exactly like @alicloud/pop-core (every parameter in a form body, POST /) and
 * sent from one thread through the libcurl multi interface, one reused easy handle (and
 * keep-alive connection) per in-flight slot. Standalone: run by hand, not by make test.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "auth/auth.h"
#include "base/base.h"

#define API_VERSION "2019-03-15"
#define MAX_CB_BODY 4096     /* bytes; a dispatch body is about 80 */
#define MAX_CALL_PARAMS 6
#define VAL_LEN 256          /* bytes per owned parameter value */
#define VERIFY_SAMPLE 200
#define VERIFY_ALL_UPTO 2000

/* ======================================================================================
 * Options and small helpers
 * ==================================================================================== */

typedef struct {
    char *endpoint;       /* base URL ending in '/'; owned */
    const char *ak;
    const char *secret;
    long n;               /* executions */
    long conc;            /* in-flight requests */
    bool failed;          /* report with ReportTaskFailed (else ReportTaskSucceeded) */
    bool random_order;    /* report in a seeded random order (else creation order) */
    const char *json_path;
    long pid;             /* flowd's pid for CPU/RSS figures; 0 = none */
    uint64_t seed;
    long timeout_s;       /* token wait; 0 = 30 + N/200 */
} opts_t;

static opts_t g_opt = {.n = 20000, .conc = 64, .failed = true, .random_order = true,
                       .seed = 0x5eedf10du};

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

/* ======================================================================================
 * flowd's CPU time and peak RSS from /proc (only with --pid)
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

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ======================================================================================
 * The worker listener: stores the token flowd dispatches for execution i
 * ==================================================================================== */

enum { SLOT_EMPTY = 0, SLOT_WRITING = 1, SLOT_FULL = 2 };

static char (*g_tokens)[FL_TOKEN_MAX];    /* [n]; written once per slot */
static _Atomic unsigned char *g_slot;     /* [n]; SLOT_* */
static atomic_long g_received;            /* distinct executions with a token */
static atomic_long g_dup_same;            /* re-deliveries of the same token */
static atomic_long g_dup_other;           /* a second, different token for one execution */
static atomic_long g_bad_cb;              /* dispatches we could not parse */

static void store_token(long i, const char *tok)
{
    unsigned char expect = SLOT_EMPTY;
    if (atomic_compare_exchange_strong(&g_slot[i], &expect, SLOT_WRITING)) {
        snprintf(g_tokens[i], FL_TOKEN_MAX, "%s", tok);
        atomic_store(&g_slot[i], SLOT_FULL);
        atomic_fetch_add(&g_received, 1);
        return;
    }
    /* At-least-once delivery: a duplicate is legal; a different token would mean a new
     * attempt, which this flow (no Retry) should never produce. */
    while (atomic_load(&g_slot[i]) != SLOT_FULL)
        ;
    if (strcmp(g_tokens[i], tok) == 0)
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
        json_t *iv = json_object_get(o, "i");
        long i = json_is_integer(iv) ? (long)json_integer_value(iv) : -1;
        if (tok && strlen(tok) < FL_TOKEN_MAX && i >= 0 && i < g_opt.n) {
            store_token(i, tok);
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

/* One API call: the action and its own parameters. Values either point at static text
 * or into val[]. */
typedef struct {
    const char *action;
    fl_kv_t kv[MAX_CALL_PARAMS];
    size_t n;
    char val[MAX_CALL_PARAMS][VAL_LEN];
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
    long n;                 /* requests */
    long conc;
    /* Fills the call for request k. A long parameter value (a definition) can be passed
     * through *big_key and *big_val instead of call_t's fixed-size buffers. */
    void (*build)(phase_t *p, long k, call_t *c, const char **big_key, const char **big_val);
    /* Checks a 200 reply body for request k; returns false with a code when it is wrong. */
    bool (*check)(phase_t *p, long k, json_t *body, char *code, size_t codelen);
    void *ud;
    /* results */
    int64_t *lat_us;        /* [n] */
    double secs;
    long errors;
    err_t errs[32];
    size_t n_errs;
    char first_err[512];    /* the first error reply, for the report */
    double flowd_cpu_s;     /* -1 without --pid */
    double self_cpu_s;
};

typedef struct {
    CURL *h;
    fl_buf_t resp;
    fl_buf_t form;
    long k;
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
    const char *big_key = NULL, *big_val = NULL;
    p->build(p, k, &c, &big_key, &big_val);
    sign_form(&c, big_key, big_val, &s->form);
    fl_buf_reset(&s->resp);
    s->k = k;
    s->errbuf[0] = 0;
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->form.data);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)s->form.len);
    s->t0_us = now_us();
    curl_multi_add_handle(m, s->h);
}

static void slot_done(phase_t *p, slot_t *s, CURLcode cc)
{
    p->lat_us[s->k] = now_us() - s->t0_us;
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
    } else if (!p->check(p, s->k, o, code, sizeof code) && !code[0])
        snprintf(code, sizeof code, "bad-reply");
    if (code[0])
        count_err(p, code, s->resp.data ? s->resp.data : "");
    json_decref(o);
}

/* Runs p->n requests with at most p->conc in flight, recording each latency. */
static void run_phase(phase_t *p)
{
    p->lat_us = xcalloc((size_t)(p->n ? p->n : 1), sizeof *p->lat_us);
    long conc = FL_MIN(p->conc, p->n);
    if (conc < 1)
        conc = 1;
    slot_t *slots = xcalloc((size_t)conc, sizeof *slots);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conc + 8);
    for (long i = 0; i < conc; i++) {
        slot_t *s = &slots[i];
        fl_buf_init(&s->resp);
        fl_buf_init(&s->form);
        s->h = curl_easy_init();
        FL_ASSERT(s->h != NULL);
        curl_easy_setopt(s->h, CURLOPT_URL, g_opt.endpoint);
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
    double cpu0 = g_opt.pid ? proc_cpu_s(g_opt.pid) : -1, self0 = self_cpu_s();
    double t0 = now_s();
    long next = 0, inflight = 0;
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
            if (next < p->n) {
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
    p->flowd_cpu_s = g_opt.pid && cpu0 >= 0 ? proc_cpu_s(g_opt.pid) - cpu0 : -1;
    p->self_cpu_s = self_cpu_s() - self0;
    for (long i = 0; i < conc; i++) {
        curl_easy_cleanup(slots[i].h);
        fl_buf_free(&slots[i].resp);
        fl_buf_free(&slots[i].form);
    }
    curl_multi_cleanup(m);
    free(slots);
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
    double rate;            /* requests/s */
    double p50, p99, p999, max; /* ms */
} stats_t;

static stats_t phase_stats(phase_t *p)
{
    stats_t st = {0};
    if (p->n == 0)
        return st;
    qsort(p->lat_us, (size_t)p->n, sizeof *p->lat_us, cmp_i64);
#define PCT(q) ((double)p->lat_us[FL_MIN(p->n - 1, (long)((double)p->n * (q)))] / 1000.0)
    st.p50 = PCT(0.50);
    st.p99 = PCT(0.99);
    st.p999 = PCT(0.999);
#undef PCT
    st.max = (double)p->lat_us[p->n - 1] / 1000.0;
    st.rate = p->secs > 0 ? (double)p->n / p->secs : 0;
    return st;
}

static void print_phase(phase_t *p, const stats_t *st)
{
    printf("%s: %ld in %.2fs = %.0f/s, p50 %.2f ms, p99 %.2f ms, p999 %.2f ms, max %.2f ms, "
           "errors %ld",
           p->name, p->n, p->secs, st->rate, st->p50, st->p99, st->p999, st->max, p->errors);
    for (size_t i = 0; i < p->n_errs; i++)
        printf("%s%s x%ld", i ? ", " : " (", p->errs[i].code, p->errs[i].count);
    printf("%s\n", p->n_errs ? ")" : "");
    printf("  cpu: cbbench %.2fs", p->self_cpu_s);
    if (p->flowd_cpu_s >= 0)
        printf(", flowd %.2fs (%.1f us/request, %.0f%% of one core)", p->flowd_cpu_s,
               p->n ? p->flowd_cpu_s * 1e6 / (double)p->n : 0,
               p->secs > 0 ? 100.0 * p->flowd_cpu_s / p->secs : 0);
    printf("\n");
    if (p->first_err[0])
        printf("  first error: %.400s\n", p->first_err);
}

static json_t *phase_json(phase_t *p, const stats_t *st)
{
    json_t *errs = json_object();
    for (size_t i = 0; i < p->n_errs; i++)
        json_object_set_new(errs, p->errs[i].code, json_integer(p->errs[i].count));
    json_t *o = json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:o, s:f}", "n",
                          (json_int_t)p->n, "concurrency", (json_int_t)p->conc, "seconds",
                          p->secs, "rate", st->rate, "p50_ms", st->p50, "p99_ms", st->p99,
                          "p999_ms", st->p999, "max_ms", st->max, "errors",
                          (json_int_t)p->errors, "error_codes", errs, "cbbench_cpu_s",
                          p->self_cpu_s);
    if (p->flowd_cpu_s >= 0)
        json_object_set_new(o, "flowd_cpu_s", json_real(p->flowd_cpu_s));
    if (p->first_err[0])
        json_object_set_new(o, "first_error", json_string(p->first_err));
    return o;
}

/* ======================================================================================
 * The phases
 * ==================================================================================== */

typedef struct {
    char flow[64];
    char *definition;
    bool *started;          /* [n]: StartExecution answered 200 */
    long *order;            /* report order: execution indexes */
    long *sample;           /* verify sample: execution indexes */
    long verify_mismatch;
    long verify_running;    /* seen still Running (a report's effect not yet visible) */
    char first_mismatch[512];
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

static bool check_any(phase_t *p, long k, json_t *o, char *code, size_t len)
{
    (void)p, (void)k, (void)o, (void)code, (void)len;
    return true;
}

static void build_start(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    c->action = "StartExecution";
    call_set(c, "FlowName", "%s", g_b.flow);
    call_set(c, "ExecutionName", "e%ld", k);
    call_set(c, "Input", "{\"i\":%ld}", k);
}

static bool check_start(phase_t *p, long k, json_t *o, char *code, size_t len)
{
    (void)p;
    const char *name = json_string_value(json_object_get(o, "Name"));
    char want[32];
    snprintf(want, sizeof want, "e%ld", k);
    if (!name || strcmp(name, want) != 0) {
        snprintf(code, len, "StartReplyWithoutName");
        return false;
    }
    g_b.started[k] = true;
    return true;
}

static void build_report(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    long i = g_b.order[k];
    c->action = g_opt.failed ? "ReportTaskFailed" : "ReportTaskSucceeded";
    call_set(c, "TaskToken", "%s", g_tokens[i]);
    if (g_opt.failed) {
        call_set(c, "Error", "Rejected");
        call_set(c, "Cause", "bench");
    } else {
        call_set(c, "Output", "{\"ok\":true}");
    }
}

static bool check_report(phase_t *p, long k, json_t *o, char *code, size_t len)
{
    (void)p, (void)k;
    if (!json_is_integer(json_object_get(o, "EventId"))) {
        snprintf(code, len, "ReplyWithoutEventId");
        return false;
    }
    return true;
}

static void build_verify(phase_t *p, long k, call_t *c, const char **bk, const char **bv)
{
    (void)p, (void)bk, (void)bv;
    c->action = "DescribeExecution";
    call_set(c, "FlowName", "%s", g_b.flow);
    call_set(c, "ExecutionName", "e%ld", g_b.sample[k]);
}

static bool check_verify(phase_t *p, long k, json_t *o, char *code, size_t len)
{
    (void)p, (void)code, (void)len;
    const char *st = json_string_value(json_object_get(o, "Status"));
    const char *out = json_string_value(json_object_get(o, "Output"));
    const char *want = g_opt.failed ? "Rejected" : "\"ok\"";
    if (st && strcmp(st, "Succeeded") == 0 && out && strstr(out, want))
        return true;
    if (st && strcmp(st, "Running") == 0)
        g_b.verify_running++;
    g_b.verify_mismatch++;
    if (!g_b.first_mismatch[0]) {
        char *d = json_dumps(o, JSON_COMPACT);
        snprintf(g_b.first_mismatch, sizeof g_b.first_mismatch, "e%ld: %s", g_b.sample[k],
                 d ? d : "?");
        free(d);
    }
    return true; /* counted as a mismatch, not as a request error */
}

static char *make_definition(unsigned port)
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
                  "        i.$: $Input.i\n"
                  "    Catch:\n"
                  "      - Errors: [Rejected]\n"
                  "        Next: Caught\n"
                  "    End: true\n"
                  "  - Type: Pass\n"
                  "    Name: Caught\n"
                  "    End: true\n",
                  g_b.flow, port);
    return fl_buf_take(&b);
}

/* ======================================================================================
 * main
 * ==================================================================================== */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cbbench --endpoint URL --ak ID --secret S [--n 20000] [--concurrency 64]\n"
            "               [--mode failed|succeeded] [--order random|creation] [--seed N]\n"
            "               [--json out.json] [--pid FLOWD_PID] [--timeout SECONDS]\n"
            "Endpoint and keys also come from FLOWD_ENDPOINT, FLOWD_ACCESS_KEY_ID,\n"
            "FLOWD_ACCESS_KEY_SECRET.\n");
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
        case 'p': g_opt.pid = strtol(optarg, NULL, 10); break;
        case 'S': g_opt.seed = strtoull(optarg, NULL, 0); break;
        case 't': g_opt.timeout_s = strtol(optarg, NULL, 10); break;
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
    if (!ep || !g_opt.ak || !g_opt.secret || g_opt.n < 1 || g_opt.conc < 1 || optind != argc) {
        usage(stderr);
        exit(2);
    }
    fl_buf_t b;
    fl_buf_init(&b);
    if (!strstr(ep, "://"))
        fl_buf_puts(&b, "http://");
    fl_buf_puts(&b, ep);
    if (b.data[b.len - 1] != '/')
        fl_buf_putc(&b, '/');
    g_opt.endpoint = fl_buf_take(&b);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    const long n = g_opt.n;
    int rc = 1;
    unsigned char r[8];
    fl_rand_bytes(r, sizeof r);
    fl_hex(r, sizeof r, g_nonce_prefix);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_hdrs = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    g_hdrs = curl_slist_append(g_hdrs, "Accept: application/json");
    g_hdrs = curl_slist_append(g_hdrs, "Expect:");
    g_tokens = xcalloc((size_t)n, sizeof *g_tokens);
    g_slot = xcalloc((size_t)n, sizeof *g_slot);
    g_b.started = xcalloc((size_t)n, sizeof *g_b.started);
    json_t *js = json_object();
    bool verify_ok = false;
    long reported = 0, missing = 0;
    phase_t create = {.name = "create", .n = 1, .conc = 1, .build = build_create,
                      .check = check_any};
    phase_t start = {.name = "start", .n = n, .conc = g_opt.conc, .build = build_start,
                     .check = check_start};
    phase_t report = {.name = g_opt.failed ? "report-failed" : "report-succeeded",
                      .conc = g_opt.conc, .build = build_report, .check = check_report};
    phase_t verify = {.name = "verify-requests", .conc = g_opt.conc, .build = build_verify,
                      .check = check_verify};

    /* 1. Listener. */
    unsigned port = 0;
    struct MHD_Daemon *d = listener_start(&port);
    if (!d || !port) {
        fprintf(stderr, "cbbench: cannot start the worker listener\n");
        goto out;
    }

    /* 2. The flow. */
    snprintf(g_b.flow, sizeof g_b.flow, "bench-%ld-%ld", (long)getpid(), (long)time(NULL));
    g_b.definition = make_definition(port);
    run_phase(&create);
    if (create.errors) {
        fprintf(stderr, "cbbench: CreateFlow failed: %s\n", create.first_err);
        goto out;
    }
    printf("flow %s, worker http://127.0.0.1:%u/cb, n %ld, concurrency %ld, mode %s, order %s\n",
           g_b.flow, port, n, g_opt.conc, g_opt.failed ? "failed" : "succeeded",
           g_opt.random_order ? "random" : "creation");
    long rss0 = g_opt.pid ? proc_status_kb(g_opt.pid, "VmRSS") : -1;

    /* 3. Start N executions, then wait for their tokens. */
    double tok_t0 = now_s();
    run_phase(&start);
    long tok_at_start_end = atomic_load(&g_received);
    stats_t st_start = phase_stats(&start);
    print_phase(&start, &st_start);
    json_object_set_new(js, "start", phase_json(&start, &st_start));

    long n_started = 0;
    for (long i = 0; i < n; i++)
        n_started += g_b.started[i];
    long timeout_s = g_opt.timeout_s ? g_opt.timeout_s : 30 + n / 200;
    double cpu_t0 = g_opt.pid ? proc_cpu_s(g_opt.pid) : -1;
    double deadline = now_s() + (double)timeout_s;
    while (atomic_load(&g_received) < n_started && now_s() < deadline)
        usleep(2000);
    double tok_secs = now_s() - tok_t0;
    long got = atomic_load(&g_received);
    missing = n_started - got;
    double tok_cpu = g_opt.pid && cpu_t0 >= 0 ? proc_cpu_s(g_opt.pid) - cpu_t0 : -1;
    printf("tokens: %ld/%ld in %.2fs after the first start = %.0f/s (%ld when the last start "
           "was answered), duplicates %ld, different token %ld, bad dispatches %ld",
           got, n_started, tok_secs, tok_secs > 0 ? (double)got / tok_secs : 0, tok_at_start_end,
           atomic_load(&g_dup_same), atomic_load(&g_dup_other), atomic_load(&g_bad_cb));
    if (tok_cpu >= 0)
        printf(", flowd cpu after the last start reply %.2fs", tok_cpu);
    printf("\n");
    json_object_set_new(
        js, "tokens",
        json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:f}", "received", (json_int_t)got,
                  "expected", (json_int_t)n_started, "seconds", tok_secs,
                  "received_when_starts_done", (json_int_t)tok_at_start_end, "duplicates",
                  (json_int_t)atomic_load(&g_dup_same), "different_token",
                  (json_int_t)atomic_load(&g_dup_other), "bad_dispatches",
                  (json_int_t)atomic_load(&g_bad_cb), "flowd_cpu_after_starts_s", tok_cpu));
    if (missing)
        fprintf(stderr, "cbbench: %ld tokens did not arrive within %lds\n", missing, timeout_s);

    /* 4. Report every token that arrived. */
    g_b.order = xcalloc((size_t)n, sizeof *g_b.order);
    for (long i = 0; i < n; i++)
        if (atomic_load(&g_slot[i]) == SLOT_FULL)
            g_b.order[reported++] = i;
    if (g_opt.random_order)
        shuffle(g_b.order, reported, g_opt.seed);
    report.n = reported;
    run_phase(&report);
    stats_t st_report = phase_stats(&report);
    print_phase(&report, &st_report);
    json_object_set_new(js, "report", phase_json(&report, &st_report));

    /* 5. Verify a sample (all of them when n is small). */
    long n_sample = n <= VERIFY_ALL_UPTO ? n : FL_MIN(VERIFY_SAMPLE, n);
    g_b.sample = xcalloc((size_t)n, sizeof *g_b.sample);
    for (long i = 0; i < n; i++)
        g_b.sample[i] = i;
    if (n_sample < n)
        shuffle(g_b.sample, n, g_opt.seed ^ 0x9e3779b97f4a7c15ULL);
    verify.n = n_sample;
    run_phase(&verify);
    long ok = n_sample - g_b.verify_mismatch - verify.errors;
    printf("verify: ok %ld/%ld", ok, n_sample);
    if (g_b.verify_mismatch)
        printf(", mismatches %ld (still Running %ld), first: %.400s", g_b.verify_mismatch,
               g_b.verify_running, g_b.first_mismatch);
    if (verify.errors)
        printf(", request errors %ld (first: %.300s)", verify.errors, verify.first_err);
    printf("\n");
    json_object_set_new(js, "verify",
                        json_pack("{s:I, s:I, s:I, s:I}", "ok", (json_int_t)ok, "checked",
                                  (json_int_t)n_sample, "mismatches",
                                  (json_int_t)g_b.verify_mismatch, "request_errors",
                                  (json_int_t)verify.errors));
    verify_ok = ok == n_sample;

    if (g_opt.pid) {
        long hwm = proc_status_kb(g_opt.pid, "VmHWM"), rss = proc_status_kb(g_opt.pid, "VmRSS");
        double cpu = proc_cpu_s(g_opt.pid);
        printf("flowd: peak RSS (VmHWM) %.1f MiB, RSS %.1f MiB (was %.1f), total CPU %.2fs\n",
               (double)hwm / 1024, (double)rss / 1024, (double)rss0 / 1024, cpu);
        json_object_set_new(js, "flowd",
                            json_pack("{s:I, s:I, s:I, s:f}", "vmhwm_kb", (json_int_t)hwm,
                                      "vmrss_kb", (json_int_t)rss, "vmrss_before_kb",
                                      (json_int_t)rss0, "cpu_total_s", cpu));
    }
    json_object_set_new(
        js, "config",
        json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "flow", g_b.flow, "n", (json_int_t)n,
                  "concurrency", (json_int_t)g_opt.conc, "mode",
                  g_opt.failed ? "failed" : "succeeded", "order",
                  g_opt.random_order ? "random" : "creation", "endpoint", g_opt.endpoint));
    rc = start.errors || report.errors || missing || !verify_ok ||
                 atomic_load(&g_dup_other) || atomic_load(&g_bad_cb)
             ? 1
             : 0;
    json_object_set_new(js, "ok", json_boolean(rc == 0));
    if (g_opt.json_path && json_dump_file(js, g_opt.json_path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "cbbench: cannot write %s: %s\n", g_opt.json_path, strerror(errno));
        rc = 1;
    }
out:
    free(create.lat_us);
    free(start.lat_us);
    free(report.lat_us);
    free(verify.lat_us);
    if (d)
        MHD_stop_daemon(d);
    json_decref(js);
    curl_slist_free_all(g_hdrs);
    curl_global_cleanup();
    free(g_b.definition);
    free(g_b.started);
    free(g_b.order);
    free(g_b.sample);
    free(g_tokens);
    free(g_slot);
    free(g_opt.endpoint);
    return rc;
}
