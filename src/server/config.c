/*
 * config.c - flowd's settings: defaults < config file < environment < flags. The config
 * file is YAML (or JSON):
 *
 *   listen: 127.0.0.1:8080
 *   data: ./data
 *   region: cn-hangzhou
 *   log_level: info
 *   limits: {request_body_bytes: 1048576, payload_bytes: 65536}
 *   throttle:
 *     default: {burst: 100000, rate: 100000}
 *     ListFlows: {burst: 100, rate: 10}
 *   dispatch: {retries: 3, backoff_ms: 500, timeout_ms: 30000, per_target: 32}
 *   functions:                      # FC:InvokeFunction / acs:fc resources -> HTTP endpoints
 *     approval-notifier: http://127.0.0.1:9100/notify
 *     orders/ship: http://127.0.0.1:9100/ship
 *
 * Throttle entries are per account and action: burst is the bucket size, rate its refill
 * per second; burst 0 turns throttling off for that action.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "spec/spec.h"

/* Default bucket of every action per account: far above the public service's limits
 * (100/s for StartExecution, 2/s for most others), so only abuse is throttled. */
#define DEFAULT_BURST 100000
#define DEFAULT_RATE 100000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: flowd [options]\n"
            "       flowd migrate [options]   apply pending schema migrations and exit\n"
            "\n"
            "flowd serves the CloudFlow (fnf 2019-03-15) API on HTTP.\n"
            "\n"
            "Options (each also read from the environment and the config file; flags win,\n"
            "then the environment, then the file):\n"
            "  --listen HOST:PORT  address to listen on (FLOWD_LISTEN, default 127.0.0.1:8080;\n"
            "                      port 0 picks a free port)\n"
            "  --data DIR          data directory: database, secrets, credentials\n"
            "                      (FLOWD_DATA, default ./data)\n"
            "  --store URL         sqlite:PATH, or postgres://... (libpq URL) for a database\n"
            "                      several nodes share (FLOWD_STORE, default\n"
            "                      sqlite:DIR/flowd.db)\n"
            "  --config FILE       YAML or JSON settings: throttle, limits, and the keys\n"
            "                      above (FLOWD_CONFIG)\n"
            "  --region NAME       region of the accounts (FLOWD_REGION, default cn-hangzhou)\n"
            "  --log-level LEVEL   debug, info, warn or error (FLOWD_LOG_LEVEL, default info)\n"
            "  -h, --help          print this help\n"
            "\n"
            "Credentials: FLOWD_ACCESS_KEY_ID and FLOWD_ACCESS_KEY_SECRET set the root key of\n"
            "the first account (FLOWD_ACCOUNT_ID its id), which administers the instance.\n"
            "Without them, flowd creates that account on first start and writes its key to\n"
            "DIR/credentials (mode 0600).\n");
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Reads {burst, rate} of a throttle entry. */
static int read_rate(const char *name, json_t *v, fl_rate_t *out)
{
    json_t *b = json_object_get(v, "burst"), *r = json_object_get(v, "rate");
    if (!json_is_object(v) || !json_is_number(b) || !json_is_number(r) ||
        json_object_size(v) != 2 || json_number_value(b) < 0 || json_number_value(r) < 0) {
        fprintf(stderr, "flowd: config: throttle.%s must be {burst: N, rate: N} with N >= 0\n",
                name);
        return -1;
    }
    out->burst = json_number_value(b);
    out->rate = json_number_value(r);
    return 0;
}

static int read_file(fl_config_t *c)
{
    FILE *f = fopen(c->config, "rb");
    if (!f) {
        fprintf(stderr, "flowd: cannot read config file %s\n", c->config);
        return -1;
    }
    fl_buf_t b;
    fl_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fl_buf_append(&b, chunk, n);
    fclose(f);
    fl_diag_t d;
    int rc = fl_yaml_parse(b.data ? b.data : "", b.len, &c->file, &d);
    fl_buf_free(&b);
    if (rc || !json_is_object(c->file)) {
        fprintf(stderr, "flowd: config file %s: line %d: %s\n", c->config, d.line,
                rc ? d.msg : "the top level must be a mapping");
        return -1;
    }
    static const char *known[] = {"listen", "data", "store", "region", "log_level", "limits",
                                  "throttle", "functions", "dispatch", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(c->file, k, v)
    {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok = ok || strcmp(k, known[i]) == 0;
        if (!ok) {
            fprintf(stderr, "flowd: config file %s: unknown key '%s'\n", c->config, k);
            return -1;
        }
        if (strcmp(k, "limits") && strcmp(k, "throttle") && strcmp(k, "functions") &&
            strcmp(k, "dispatch") && !json_is_string(v)) {
            fprintf(stderr, "flowd: config file %s: '%s' must be a string\n", c->config, k);
            return -1;
        }
    }
#define STR(field, key)                                                                        \
    if (json_is_string(json_object_get(c->file, key)))                                         \
        c->field = json_string_value(json_object_get(c->file, key));
    STR(listen, "listen");
    STR(data, "data");
    STR(store, "store");
    STR(region, "region");
    STR(log_level, "log_level");
#undef STR
    json_t *lim = json_object_get(c->file, "limits");
    json_object_foreach(lim, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1024) {
            fprintf(stderr, "flowd: config: limits.%s must be an integer >= 1024\n", k);
            return -1;
        }
        if (strcmp(k, "request_body_bytes") == 0) {
            c->max_body = (size_t)json_integer_value(v);
        } else if (strcmp(k, "payload_bytes") == 0) {
            c->max_payload = (size_t)json_integer_value(v);
        } else {
            fprintf(stderr, "flowd: config: unknown limit '%s'\n", k);
            return -1;
        }
    }
    json_t *disp = json_object_get(c->file, "dispatch");
    json_object_foreach(disp, k, v)
    {
        int *dst = !strcmp(k, "retries")      ? &c->dispatch_retries
                   : !strcmp(k, "backoff_ms") ? &c->dispatch_backoff_ms
                   : !strcmp(k, "timeout_ms") ? &c->dispatch_timeout_ms
                   : !strcmp(k, "per_target") ? &c->dispatch_per_target
                                              : NULL;
        if (!dst || !json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 3600000) {
            fprintf(stderr, "flowd: config: dispatch.%s must be one of retries, backoff_ms, "
                            "timeout_ms, per_target with a whole number\n", k);
            return -1;
        }
        *dst = (int)json_integer_value(v);
    }
    json_t *fns = json_object_get(c->file, "functions");
    if (fns && !json_is_object(fns)) {
        fprintf(stderr, "flowd: config: functions must map function names to URLs\n");
        return -1;
    }
    json_object_foreach(fns, k, v)
    {
        const char *u = json_string_value(v);
        if (!u || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)) {
            fprintf(stderr, "flowd: config: functions.%s must be an http:// or https:// URL\n", k);
            return -1;
        }
    }
    c->functions = fns;
    json_t *thr = json_object_get(c->file, "throttle");
    if (thr && !json_is_object(thr)) {
        fprintf(stderr, "flowd: config: throttle must be a mapping\n");
        return -1;
    }
    if (json_object_get(thr, "default") &&
        read_rate("default", json_object_get(thr, "default"), &c->default_limit))
        return -1;
    for (size_t i = 0; i < fl_api_action_count(); i++)
        c->limits[i] = c->default_limit;
    json_object_foreach(thr, k, v)
    {
        if (strcmp(k, "default") == 0)
            continue;
        int idx = fl_api_action_index(k);
        if (idx < 0) {
            fprintf(stderr, "flowd: config: throttle names an unknown action '%s'\n", k);
            return -1;
        }
        if (read_rate(k, v, &c->limits[idx]))
            return -1;
    }
    return 0;
}

int fl_config_load(fl_config_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"data", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, 's'},  {"region", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'v'}, {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *flag[128] = {0};
    memset(c, 0, sizeof *c);
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            usage(stdout);
            exit(0);
        }
        if (o == '?' || o >= 128) {
            usage(stderr);
            return -1;
        }
        flag[o] = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "flowd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    c->listen = "127.0.0.1:8080";
    c->data = "./data";
    c->region = "cn-hangzhou";
    c->log_level = "info";
    c->max_body = 1024 * 1024;
    c->max_payload = 64 * 1024;
    c->default_limit = (fl_rate_t){DEFAULT_BURST, DEFAULT_RATE};
    c->dispatch_retries = 3;
    c->dispatch_backoff_ms = 500;
    c->dispatch_timeout_ms = 30000;
    c->dispatch_per_target = 32;
    c->limits = xcalloc(fl_api_action_count(), sizeof *c->limits);
    for (size_t i = 0; i < fl_api_action_count(); i++)
        c->limits[i] = c->default_limit;
    c->config = flag['c'] ? flag['c'] : env("FLOWD_CONFIG");
    if (c->config && read_file(c))
        return -1;
#define PICK(field, ch, var)                                                                   \
    if (flag[ch])                                                                              \
        c->field = flag[ch];                                                                   \
    else if (env(var))                                                                         \
        c->field = env(var);
    PICK(listen, 'l', "FLOWD_LISTEN");
    PICK(data, 'd', "FLOWD_DATA");
    PICK(store, 's', "FLOWD_STORE");
    PICK(region, 'r', "FLOWD_REGION");
    PICK(log_level, 'v', "FLOWD_LOG_LEVEL");
#undef PICK
    static const char *levels[] = {"debug", "info", "warn", "error"};
    fl_log_level = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(c->log_level, levels[i]) == 0)
            fl_log_level = i;
    if (fl_log_level < 0) {
        fprintf(stderr, "flowd: the log level must be debug, info, warn or error\n");
        return -1;
    }
    return 0;
}

void fl_config_close(fl_config_t *c)
{
    free(c->limits);
    json_decref(c->file);
    c->limits = NULL;
    c->file = NULL;
}
