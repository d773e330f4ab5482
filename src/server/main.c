/*
 * main.c - the flowd server: flags and environment, data directory, store, secrets and the
 * first account, the background worker and the HTTP listener; then it waits for SIGINT or
 * SIGTERM and shuts down in reverse order. Anything acknowledged before a stop is durable,
 * so a kill -9 loses nothing either.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/http.h"
#include "config.h"

/* Splits HOST:PORT (or [V6]:PORT). */
static int split_listen(const char *s, char *host, size_t len, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s, *he = colon;
    if (*h == '[' && he > h && he[-1] == ']') {
        h++;
        he--;
    }
    if ((size_t)(he - h) >= len)
        return -1;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = 0;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

/* ---- secrets and the first account ---- */

typedef struct {
    uint8_t token_key[FL_TOKEN_KEY_LEN];
    uint64_t account;
    const char *ak;
    const char *secret;
    const char *region;
    bool created_key;
} setup_t;

static void random_chars(char *out, size_t n, const char *alphabet)
{
    size_t m = strlen(alphabet);
    unsigned char b[64];
    FL_ASSERT(n <= sizeof b);
    fl_rand_bytes(b, n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[b[i] % m];
    out[n] = 0;
}

static int setup_job(fl_db_t *db, void *arg)
{
    setup_t *s = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    char *v;
    size_t len;
    /* The token key and the default account are made once per database: nodes starting
     * together each propose one and all read back the one that was stored first. */
    uint8_t key[FL_TOKEN_KEY_LEN];
    fl_rand_bytes(key, sizeof key);
    int rc = fl_db_meta_add(db, "token_key", key, sizeof key);
    if (!rc)
        rc = fl_db_meta_get(db, "token_key", &a, &v, &len);
    if (!rc && len != FL_TOKEN_KEY_LEN) {
        fl_error("store: the stored task token key has %zu bytes, not %d", len,
                 FL_TOKEN_KEY_LEN);
        rc = FL_EINTERNAL;
    }
    if (!rc)
        memcpy(s->token_key, v, len);
    if (!rc && !s->account) {
        char digits[17];
        random_chars(digits, 16, "0123456789");
        digits[0] = (char)('1' + digits[0] % 9);
        rc = fl_db_meta_add(db, "default_account", digits, 16);
        if (!rc)
            rc = fl_db_meta_get(db, "default_account", &a, &v, &len);
        if (!rc)
            s->account = strtoull(v, NULL, 10);
    }
    if (!rc) {
        char acc[24];
        snprintf(acc, sizeof acc, "%llu", (unsigned long long)s->account);
        rc = fl_db_meta_put(db, "default_account", acc, strlen(acc));
    }
    if (!rc)
        rc = fl_db_account_put(db, s->account, s->region, fl_now_ms());
    if (!rc && s->ak)
        rc = fl_db_key_put(db, s->ak, s->secret, s->account, fl_now_ms());
    fl_arena_close(&a);
    return rc;
}

/* Reads DIR/credentials (KEY=VALUE lines) into the three buffers; 0 when found. */
static int read_credentials(const char *path, char *acc, char *ak, char *secret)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    acc[0] = ak[0] = secret[0] = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq++ = 0;
        if (strcmp(line, "FLOWD_ACCOUNT_ID") == 0)
            snprintf(acc, 32, "%s", eq);
        else if (strcmp(line, "FLOWD_ACCESS_KEY_ID") == 0)
            snprintf(ak, 128, "%s", eq);
        else if (strcmp(line, "FLOWD_ACCESS_KEY_SECRET") == 0)
            snprintf(secret, 128, "%s", eq);
    }
    fclose(f);
    return ak[0] && secret[0] ? 0 : -1;
}

/* This node's name in timer and outbox claims: made once, kept in DIR/node-id, so a node
 * restarted on its data directory takes back what it had claimed. */
static int node_id(const char *dir, char *out, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/node-id", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fgets(out, (int)n, f) != NULL;
        fclose(f);
        out[strcspn(out, "\r\n")] = 0;
        if (ok && *out)
            return 0;
    }
    random_chars(out, 16, "0123456789abcdef");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write(fd, out, strlen(out)) == (ssize_t)strlen(out) && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : -1;
}

static int write_credentials(const char *path, uint64_t account, const char *ak,
                             const char *secret)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    fprintf(f, "FLOWD_ACCOUNT_ID=%llu\nFLOWD_ACCESS_KEY_ID=%s\nFLOWD_ACCESS_KEY_SECRET=%s\n",
            (unsigned long long)account, ak, secret);
    int bad = fflush(f) != 0 || fsync(fd) != 0;
    fclose(f);
    if (bad || rename(tmp, path) != 0)
        return -1;
    return 0;
}

/* ---- main ---- */

static void kick(void *arg)
{
    fl_worker_kick(arg);
}

/* The database target of --store: a file path or a PostgreSQL URL; NULL after a message. */
static const char *store_target(const fl_config_t *cfg, char *buf, size_t n)
{
    if (!cfg->store) {
        snprintf(buf, n, "%s/flowd.db", cfg->data);
        return buf;
    }
    if (strncmp(cfg->store, "sqlite:", 7) == 0 && cfg->store[7]) {
        snprintf(buf, n, "%s", cfg->store + 7);
        return buf;
    }
    if (strncmp(cfg->store, "postgres://", 11) == 0 ||
        strncmp(cfg->store, "postgresql://", 13) == 0)
        return cfg->store;
    fprintf(stderr, "flowd: --store must be sqlite:PATH or a postgres:// URL\n");
    return NULL;
}

/* flowd migrate: brings the schema up to date and says from which version to which. */
static int migrate_main(int argc, char **argv)
{
    fl_config_t cfg;
    if (fl_config_load(&cfg, argc, argv) != 0)
        return 2;
    char buf[4096];
    const char *target = store_target(&cfg, buf, sizeof buf);
    if (!target)
        return 2;
    if (!cfg.store && mkdir(cfg.data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "flowd: cannot create data directory %s: %s\n", cfg.data,
                strerror(errno));
        return 1;
    }
    int from = 0, to = 0;
    int rc = fl_store_migrate(target, &from, &to);
    fl_config_close(&cfg);
    if (rc) {
        fprintf(stderr, "flowd: migration failed (see the log above)\n");
        return 1;
    }
    if (from == to)
        printf("flowd: schema is up to date (version %d)\n", to);
    else
        printf("flowd: schema migrated from version %d to %d\n", from, to);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "migrate") == 0) {
        argv[1] = argv[0];
        return migrate_main(argc - 1, argv + 1);
    }
    fl_config_t cfg;
    if (fl_config_load(&cfg, argc, argv) != 0)
        return 2;
    char host[256];
    int port;
    if (split_listen(cfg.listen, host, sizeof host, &port) != 0) {
        fprintf(stderr, "flowd: --listen must be HOST:PORT, not '%s'\n", cfg.listen);
        return 2;
    }
    if (mkdir(cfg.data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "flowd: cannot create data directory %s: %s\n", cfg.data,
                strerror(errno));
        return 1;
    }
    char db_buf[4096];
    const char *db_path = store_target(&cfg, db_buf, sizeof db_buf);
    if (!db_path)
        return 2;

    /* Signals are handled by sigwait below; every thread inherits this mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    umask(077);

    fl_store_t *st = NULL;
    if (fl_store_open(db_path, &st) != FL_OK) {
        fprintf(stderr, "flowd: cannot open the store (%s)\n",
                db_path == cfg.store ? "PostgreSQL" : db_path);
        return 1;
    }
    char node[32];
    if (node_id(cfg.data, node, sizeof node) != 0 || fl_store_set_node(st, node) != FL_OK) {
        fprintf(stderr, "flowd: cannot set up this node's id in %s\n", cfg.data);
        return 1;
    }

    char cred_path[4200], acc[32] = "", ak[128] = "", secret[128] = "";
    snprintf(cred_path, sizeof cred_path, "%s/credentials", cfg.data);
    setup_t s = {.region = cfg.region};
    const char *env_ak = getenv("FLOWD_ACCESS_KEY_ID");
    const char *env_secret = getenv("FLOWD_ACCESS_KEY_SECRET");
    const char *env_acc = getenv("FLOWD_ACCOUNT_ID");
    if (env_ak && *env_ak && env_secret && *env_secret) {
        s.ak = env_ak;
        s.secret = env_secret;
    } else if (read_credentials(cred_path, acc, ak, secret) == 0) {
        s.ak = ak;
        s.secret = secret;
        s.account = strtoull(acc, NULL, 10);
    } else {
        random_chars(ak, 24, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
        memcpy(ak, "LTAI", 4);
        random_chars(secret, 30, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
        s.ak = ak;
        s.secret = secret;
        s.created_key = true;
    }
    if (env_acc && *env_acc) {
        char *end;
        s.account = strtoull(env_acc, &end, 10);
        if (*end || strlen(env_acc) != 16) {
            fprintf(stderr, "flowd: FLOWD_ACCOUNT_ID must be 16 digits\n");
            return 2;
        }
    }
    if (fl_store_write(st, setup_job, &s) != FL_OK) {
        fprintf(stderr, "flowd: cannot initialize the store\n");
        return 1;
    }
    if (s.created_key && write_credentials(cred_path, s.account, s.ak, s.secret) != 0) {
        fprintf(stderr, "flowd: cannot write %s: %s\n", cred_path, strerror(errno));
        return 1;
    }

    fl_api_t api = {
        .store = st,
        .keys = fl_keys_new(),
        .nonces = fl_nonces_new(1000000, 15 * 60 * 1000),
        .throttle = fl_throttle_new(cfg.limits, fl_api_action_count()),
        .admin_account = s.account,
        .region = cfg.region,
        .max_body = cfg.max_body,
        .max_payload = cfg.max_payload,
        .max_skew_ms = 15 * 60 * 1000,
    };
    memcpy(api.token_key, s.token_key, FL_TOKEN_KEY_LEN);
    api.engine.token_key = api.token_key;
    api.engine.max_payload = api.max_payload;
    api.engine.functions = cfg.functions;
    api.engine.dispatch_retries = cfg.dispatch_retries;
    api.engine.dispatch_backoff_ms = cfg.dispatch_backoff_ms;
    api.engine.dispatch_timeout_ms = cfg.dispatch_timeout_ms;
    api.engine.dispatch_per_target = cfg.dispatch_per_target;
    if ((fl_store_shared(st) ? fl_api_sync_start(&api) : fl_api_load_identities(&api)) != FL_OK) {
        fprintf(stderr, "flowd: cannot load access keys from the store\n");
        return 1;
    }

    fl_store_arm_faults();
    fl_worker_t *w = NULL;
    if (fl_worker_start(&api.engine, st, &w) != FL_OK) {
        fprintf(stderr, "flowd: cannot start the worker\n");
        return 1;
    }
    fl_store_on_commit(st, kick, w);
    fl_worker_kick(w); /* timers and dispatches left from before a restart */

    fl_http_t *http = NULL;
    int bound = 0;
    if (fl_http_start(&api, host, port, &http, &bound) != FL_OK) {
        fprintf(stderr, "flowd: cannot listen on %s\n", cfg.listen);
        return 1;
    }
    if (s.created_key)
        printf("flowd: created account %llu with a root access key (saved in %s):\n"
               "  FLOWD_ACCESS_KEY_ID=%s\n  FLOWD_ACCESS_KEY_SECRET=%s\n",
               (unsigned long long)s.account, cred_path, s.ak, s.secret);
    printf("flowd %s: listening on http://%s:%d (account %llu, data %s)\n", "0.1", host, bound,
           (unsigned long long)s.account, cfg.data);
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    fl_info("flowd: signal %d, shutting down", sig);
    fl_http_stop(http);
    fl_worker_stop(w);
    fl_api_sync_stop(&api);
    fl_store_close(st);
    fl_engine_cache_clear();
    fl_keys_free(api.keys);
    fl_nonces_free(api.nonces);
    fl_throttle_free(api.throttle);
    fl_config_close(&cfg);
    curl_global_cleanup();
    return 0;
}
