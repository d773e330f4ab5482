/*
 * fuzz_request.c - whole requests through the front door: fl_api_handle() (and
 * fl_mns_handle() for paths under /queues, as http.c routes them) with a fake connection,
 * a real SQLite store in a temporary directory and one fixed root access key.
 *
 * Input: an HTTP/1.x-like request ('\r' before '\n' is dropped):
 *   METHOD SP TARGET [SP anything]          TARGET = path [ "?" raw query ]
 *   Name: value                             up to REQ_MAX_HEADERS header lines
 *   (empty line)
 *   body                                    every remaining byte, NULs included
 * Pseudo-headers, read by the harness and not passed on:
 *   X-Fuzz-Sign: v1 | v3 | mns   sign the request with the fixed key (adding the missing
 *                                signature parameters or headers with a fresh nonce and the
 *                                current time), so the handlers behind the check run too;
 *   X-Fuzz-Too-Large: 1          mark the body as discarded for its size.
 * Without X-Fuzz-Sign a request fails at the signature at the latest, but every check
 * before it (path, method, size, media type, parameters, version, action) runs.
 *
 * FLOWD_FUZZ_VERBOSE=1 in the environment prints each reply (to check new seeds).
 *
 * The store and the key ring live for the whole process, so what one input creates the next
 * may see; crashes never depend on it in practice, and the replay forks per file anyway.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/mns.h"
#include "fuzz.h"

#define REQ_MAX_HEADERS 48
#define REQ_AK "LTAIfuzzRootKey0000000000"
#define REQ_SECRET "fuzz-secret+/="
#define REQ_ACCOUNT 1234567890123456ULL

typedef struct {
    fl_kv_t h[REQ_MAX_HEADERS + 8]; /* the input's headers plus the ones signing adds */
    size_t n;
} conn_t;

static const char *conn_header(void *c, const char *name)
{
    conn_t *cn = c;
    for (size_t i = 0; i < cn->n; i++)
        if (strcasecmp(cn->h[i].key, name) == 0)
            return cn->h[i].val;
    return NULL;
}

static void conn_each(void *c, void (*fn)(void *, const char *, const char *), void *arg)
{
    conn_t *cn = c;
    for (size_t i = 0; i < cn->n; i++)
        fn(arg, cn->h[i].key, cn->h[i].val);
}

static void conn_add(conn_t *c, const char *k, const char *v)
{
    if (c->n < FL_ARRAY_LEN(c->h))
        c->h[c->n++] = (fl_kv_t){k, v};
}

/* ---- the process-wide server ---- */

static fl_api_t api;
static char dir[256];
static char db_path[300];
static bool ready;

static int setup_job(fl_db_t *db, void *arg)
{
    (void)arg;
    int64_t now = fl_now_ms();
    int rc = fl_db_account_put(db, REQ_ACCOUNT, "cn-hangzhou", now);
    if (!rc)
        rc = fl_db_key_put(db, REQ_AK, REQ_SECRET, REQ_ACCOUNT, now);
    return rc;
}

static void remove_tree(const char *d)
{
    /* The store keeps at most the database and its -wal/-shm/-journal companions. */
    static const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < FL_ARRAY_LEN(suffix); i++) {
        char p[400];
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    rmdir(d);
}

static void server_close(void)
{
    if (!ready)
        return;
    fl_store_close(api.store);
    fl_keys_free(api.keys);
    fl_nonces_free(api.nonces);
    remove_tree(dir);
    ready = false;
}

static void server_open(void)
{
    fl_log_level = FL_LOG_ERROR + 1; /* audit lines for every refused request: silence */
    /* /dev/shm keeps the store's fsyncs cheap; TMPDIR (set by scripts/fuzz.sh) wins. */
    const char *tmp = getenv("TMPDIR");
    struct stat sb;
    if (!tmp || !*tmp)
        tmp = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/flowd-fuzz-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("fuzz_request: mkdtemp");
        abort();
    }
    snprintf(db_path, sizeof db_path, "%s/flowd.db", dir);
    memset(&api, 0, sizeof api);
    if (fl_store_open(db_path, &api.store) != FL_OK ||
        fl_store_write(api.store, setup_job, NULL) != FL_OK) {
        fprintf(stderr, "fuzz_request: cannot open a store in %s\n", dir);
        abort();
    }
    api.keys = fl_keys_new();
    api.nonces = fl_nonces_new(4096, 15 * 60 * 1000);
    api.admin_account = REQ_ACCOUNT;
    api.region = "cn-hangzhou";
    api.max_body = 16 * 1024;
    api.max_payload = 4 * 1024;
    api.max_skew_ms = 15 * 60 * 1000;
    memcpy(api.token_key, "fuzz-token-key-0123456789abcdef", FL_TOKEN_KEY_LEN);
    api.engine.token_key = api.token_key;
    api.engine.max_payload = api.max_payload;
    api.engine.dispatch_retries = 0;
    api.engine.dispatch_timeout_ms = 1000;
    api.engine.dispatch_per_target = 1;
    if (fl_api_load_identities(&api) != FL_OK) {
        fprintf(stderr, "fuzz_request: cannot load identities\n");
        abort();
    }
    /* Long polls (MNS ReceiveMessage with waitseconds) must answer at once here. */
    fl_mns_interrupt(true);
    atexit(server_close);
    ready = true;
}

/* ---- signing on behalf of the input ---- */

static unsigned long nonce_seq;

/* Parses the parameters as route() in dispatch.c does; false when it would refuse them. */
static bool parse_like_route(fl_arena_t *a, conn_t *c, const char *query, const char *body,
                             size_t body_len, fl_kv_t **kv, size_t *n)
{
    size_t cap = 0;
    *kv = NULL;
    *n = 0;
    if (api_parse_urlencoded(a, query, strlen(query), false, kv, n, &cap))
        return false;
    if (body_len) {
        const char *ct = conn_header(c, "content-type");
        char err[256];
        if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
            if (api_parse_urlencoded(a, body, body_len, true, kv, n, &cap))
                return false;
        } else if (strncasecmp(ct, "application/json", 16) == 0) {
            if (api_parse_json_body(a, body, body_len, kv, n, &cap, err, sizeof err))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

static const char *sign_v1(fl_arena_t *a, conn_t *c, const char *method, const char *query,
                           const char *body, size_t body_len)
{
    char ts[32];
    fl_time_iso_sec(fl_now_ms(), ts);
    const char *q = fl_arena_printf(a,
                                    "%s%sAccessKeyId=" REQ_AK "&SignatureMethod=HMAC-SHA1"
                                    "&SignatureVersion=1.0&SignatureNonce=fuzz-%lu-%ld"
                                    "&Timestamp=%s",
                                    query, *query ? "&" : "", ++nonce_seq, (long)getpid(), ts);
    fl_kv_t *kv;
    size_t n;
    if (!parse_like_route(a, c, q, body, body_len, &kv, &n))
        return q;
    char sig[29];
    fl_sign_v1(method, kv, n, REQ_SECRET, sig);
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, q);
    fl_buf_puts(&b, "&Signature=");
    fl_pct_encode(&b, sig, strlen(sig));
    const char *out = fl_arena_strdup(a, b.data);
    fl_buf_free(&b);
    return out;
}

static void sign_v3(fl_arena_t *a, conn_t *c, const char *method, const char *query,
                    const char *body, size_t body_len)
{
    char now[32];
    fl_time_iso_sec(fl_now_ms(), now);
    if (!conn_header(c, "host"))
        conn_add(c, "host", "fuzz.flowd");
    if (!conn_header(c, "x-acs-version"))
        conn_add(c, "x-acs-version", "2019-03-15");
    if (!conn_header(c, "x-acs-date"))
        conn_add(c, "x-acs-date", fl_arena_strdup(a, now));
    if (!conn_header(c, "x-acs-signature-nonce"))
        conn_add(c, "x-acs-signature-nonce",
                 fl_arena_printf(a, "fuzz-%lu-%ld", ++nonce_seq, (long)getpid()));
    if (!conn_header(c, "x-acs-content-sha256")) {
        char *h = fl_arena_alloc(a, 65);
        fl_sha256_hex(body, body_len, h);
        conn_add(c, "x-acs-content-sha256", h);
    }
    /* SignedHeaders: every distinct header name but Authorization, lower-cased. */
    fl_buf_t sh;
    fl_buf_init(&sh);
    fl_kv_t hdrs[FL_ARRAY_LEN(c->h)];
    size_t nh = 0;
    for (size_t i = 0; i < c->n; i++) {
        const char *k = c->h[i].key;
        if (!*k || strcasecmp(k, "authorization") == 0 || strpbrk(k, ";, \t"))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(c->h[j].key, k) == 0)
                seen = true;
        if (seen)
            continue;
        char *lower = fl_arena_strdup(a, k);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        if (sh.len)
            fl_buf_putc(&sh, ';');
        fl_buf_puts(&sh, lower);
        hdrs[nh].key = lower;
        hdrs[nh].val = conn_header(c, lower);
        nh++;
    }
    fl_kv_t *qkv = NULL;
    size_t nq = 0, cap = 0;
    if (api_parse_urlencoded(a, query, strlen(query), false, &qkv, &nq, &cap))
        nq = 0;
    char body_hash[65], sig[65];
    fl_sha256_hex(body, body_len, body_hash);
    fl_v3_req_t r = {method, "/", qkv, nq, hdrs, nh, body_hash};
    fl_sign_v3(&r, REQ_SECRET, sig);
    conn_add(c, "Authorization",
             fl_arena_printf(a, "ACS3-HMAC-SHA256 Credential=" REQ_AK ",SignedHeaders=%s,"
                                "Signature=%s",
                             sh.data ? sh.data : "", sig));
    fl_buf_free(&sh);
}

static void sign_mns(fl_arena_t *a, conn_t *c, const char *method, const char *path,
                     const char *query)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!conn_header(c, "date") && !conn_header(c, "x-mns-date"))
        conn_add(c, "Date", fl_arena_strdup(a, date));
    if (!conn_header(c, "x-mns-version"))
        conn_add(c, "x-mns-version", FL_MNS_VERSION);
    const char *d = conn_header(c, "date");
    fl_kv_t mh[FL_ARRAY_LEN(c->h)];
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (strncasecmp(c->h[i].key, "x-mns-", 6) == 0)
            mh[n++] = c->h[i];
    const char *resource = *query ? fl_arena_printf(a, "%s?%s", path, query) : path;
    fl_buf_t sts;
    fl_buf_init(&sts);
    fl_mns_string_to_sign(method, conn_header(c, "content-md5"), conn_header(c, "content-type"),
                          d ? d : conn_header(c, "x-mns-date"), mh, n, resource, &sts);
    char sig[29];
    fl_mns_sign(REQ_SECRET, sts.data, sts.len, sig);
    fl_buf_free(&sts);
    conn_add(c, "Authorization", fl_arena_printf(a, "MNS " REQ_AK ":%s", sig));
}

/* ---- the target ---- */

int fuzz_request(const uint8_t *data, size_t size)
{
    if (!ready)
        server_open();
    /* A DeleteAccessKey or UpdateAccessKey input may have removed the key: put it back so
     * later inputs can still pass the signature. */
    fl_keys_put(api.keys, REQ_AK, REQ_SECRET, REQ_ACCOUNT, NULL, true);

    fl_arena_t a;
    fl_arena_init(&a);
    conn_t c = {.n = 0};
    const uint8_t *p = data, *end = data + size;
    char *line0 = NULL;
    const char *sign = NULL;
    bool too_large = false;
    /* Head: lines up to the first empty one. */
    for (size_t ln = 0; p < end; ln++) {
        const uint8_t *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
        size_t m = n && p[n - 1] == '\r' ? n - 1 : n;
        char *l = fl_arena_strndup(&a, (const char *)p, m);
        p = e ? e + 1 : end;
        if (ln == 0) {
            line0 = l;
            continue;
        }
        if (m == 0)
            break;
        char *colon = strchr(l, ':');
        if (!colon || colon == l)
            continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(l, "X-Fuzz-Sign") == 0)
            sign = v;
        else if (strcasecmp(l, "X-Fuzz-Too-Large") == 0)
            too_large = true;
        else if (c.n < REQ_MAX_HEADERS)
            conn_add(&c, l, v);
    }
    if (!line0)
        line0 = fl_arena_strdup(&a, "");
    /* Request line: METHOD SP TARGET [SP version]. */
    char *method = line0, *target = strchr(line0, ' ');
    if (target) {
        *target++ = 0;
        char *sp = strchr(target, ' ');
        if (sp)
            *sp = 0;
    } else {
        target = fl_arena_strdup(&a, "/");
    }
    char *query = strchr(target, '?');
    if (query)
        *query++ = 0;
    else
        query = fl_arena_strdup(&a, "");
    const char *path = target;

    /* The body in a block of its exact size, so ASan sees any read past body_len. */
    size_t body_len = (size_t)(end - p);
    char *body = malloc(body_len ? body_len : 1);
    if (body_len)
        memcpy(body, p, body_len);

    bool mns = fl_mns_path_is(path);
    const char *q = query;
    if (sign && strcmp(sign, "v1") == 0 && !mns)
        q = sign_v1(&a, &c, method, query, body, body_len);
    else if (sign && strcmp(sign, "v3") == 0 && !mns)
        sign_v3(&a, &c, method, query, body, body_len);
    else if (sign && strcmp(sign, "mns") == 0 && mns)
        sign_mns(&a, &c, method, path, query);

    fl_http_req_t hr = {.method = method, .path = path, .raw_query = q, .body = body,
                        .body_len = body_len, .body_too_large = too_large,
                        .peer_ip = "127.0.0.1", .header = conn_header,
                        .each_header = conn_each, .conn = &c};
    fl_http_resp_t resp = {0};
    if (mns)
        fl_mns_handle(&api, &hr, &resp);
    else
        fl_api_handle(&api, &hr, &resp);
    FUZZ_CHECK(resp.body != NULL, "no reply body (status %d)", resp.status);
    if (getenv("FLOWD_FUZZ_VERBOSE")) /* to check seeds: does the signature pass? */
        fprintf(stderr, "fuzz_request: %s %s -> %d %s\n", method, path, resp.status,
                resp.body);
    FUZZ_CHECK(resp.status >= 200 && resp.status <= 599, "status %d", resp.status);
    FUZZ_CHECK(resp.status < 500, "server error %d for a fuzzed request: %s", resp.status,
               resp.body);
    if (!mns) {
        /* Every CloudFlow reply is a JSON object with a RequestId. */
        json_error_t je;
        json_t *j = json_loads(resp.body, 0, &je);
        FUZZ_CHECK(json_is_object(j), "reply is not a JSON object: %s", resp.body);
        FUZZ_CHECK(json_is_string(json_object_get(j, "RequestId")), "no RequestId: %s",
                   resp.body);
        json_decref(j);
    }
    free(resp.body);
    free(body);
    fl_arena_close(&a);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_request(d, n);
}
#endif
