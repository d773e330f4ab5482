/*
 * main.c - flowctl, the command-line client of flowd (and of CloudFlow itself).
 *
 *   flowctl [options] call <Action> [--<Param> <value> | --<Param>=<value>]...
 *   flowctl [options] admin <group> <command> [flags]      (cmd_admin.c)
 *
 * Parses options and action parameters (a value "@file" is read from the file, "@@x" is
 * the literal "@x"), sends one signed request through client.c and prints the JSON reply.
 * Also holds what every command shares: the global options and reading a file.
 * Exit status: 0 success, 1 error reply (HTTP status >= 400 or a "Code" in the body),
 * 2 usage or transport failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

#define EXIT_ERR_REPLY FL_CLI_EXIT_REPLY
#define EXIT_USAGE FL_CLI_EXIT_USAGE

static const char usage_text[] =
    "usage: flowctl [options] call <Action> [--<Param> <value>]...\n"
    "       flowctl [options] admin <account|user|key|policy> <command> [flags] [--json]\n"
    "       flowctl [options] tasks --flow F [--execution E] [--json]\n"
    "       flowctl [options] task fail|succeed <token> (--error E [--cause C] | --output J)\n"
    "\n"
    "call signs and sends one CloudFlow (fnf 2019-03-15) API call and prints the JSON reply.\n"
    "admin manages flowd's accounts, users, access keys and policies\n"
    "(see flowctl admin --help).\n"
    "\n"
    "Parameters:\n"
    "  --<Param> <value>, --<Param>=<value>\n"
    "                          an action parameter, e.g. --Name my-flow --Input '{\"a\":1}'\n"
    "                          a value @file is read from file (--Definition @flow.yaml);\n"
    "                          @@x stands for the literal @x\n"
    "\n"
    "Options (before or after the action):\n"
    "  --endpoint URL          server URL (env FLOWD_ENDPOINT, default http://127.0.0.1:8080)\n"
    "  --access-key-id ID      access key id (env FLOWD_ACCESS_KEY_ID)\n"
    "  --access-key-secret S   access key secret (env FLOWD_ACCESS_KEY_SECRET)\n"
    "  --sign v1|v3            signature version: v1 HMAC-SHA1 (default) or v3 ACS3-HMAC-SHA256\n"
    "  --method GET|POST       HTTP method (default GET for Describe*, List*,\n"
    "                          GetExecutionHistory and UpdateMapRun, POST otherwise)\n"
    "  --verbose               print the signing text, request line and status to stderr\n"
    "  -h, --help              print this help\n"
    "\n"
    "Flags win over environment variables.\n"
    "Exit status: 0 success, 1 error reply (prints Code: Message), 2 usage or transport error.\n";

/* Parsed `call` command line; param keys and values are owned (freed by opts_close). */
typedef struct {
    fl_cli_globals_t g;
    const char *verb;
    const char *action;
    fl_kv_t *params;
    size_t n_params;
} opts_t;

static void opts_close(opts_t *o)
{
    for (size_t i = 0; i < o->n_params; i++) {
        free((char *)o->params[i].key);
        free((char *)o->params[i].val);
    }
    free(o->params);
}

/* See cli.h. */
char *fl_cli_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "flowctl: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    fl_buf_t b;
    fl_buf_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        fl_buf_append(&b, chunk, n);
        if (b.len > (size_t)FL_CLI_MAX_FILE_BYTES)
            break;
    }
    bool bad = ferror(f) || b.len > (size_t)FL_CLI_MAX_FILE_BYTES;
    fclose(f);
    if (bad) {
        fprintf(stderr, "flowctl: cannot read %s: %s\n", path,
                b.len > (size_t)FL_CLI_MAX_FILE_BYTES ? "file too large" : "read error");
        fl_buf_free(&b);
        return NULL;
    }
    if (memchr(b.data ? b.data : "", 0, b.len)) {
        fprintf(stderr, "flowctl: %s holds a NUL byte\n", path);
        fl_buf_free(&b);
        return NULL;
    }
    return fl_buf_take(&b);
}

/* Resolves a parameter value: "@file" -> file contents, "@@x" -> "@x", else a copy. */
static char *param_value(const char *v)
{
    if (v[0] == '@' && v[1] == '@')
        return xstrdup(v + 1);
    if (v[0] == '@')
        return fl_cli_read_file(v + 1);
    return xstrdup(v);
}

/* See cli.h. */
const char **fl_cli_global_slot(fl_cli_globals_t *g, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t off;
    } tab[] = {
        {"endpoint", offsetof(fl_cli_globals_t, endpoint)},
        {"access-key-id", offsetof(fl_cli_globals_t, ak_id)},
        {"access-key-secret", offsetof(fl_cli_globals_t, ak_secret)},
        {"sign", offsetof(fl_cli_globals_t, sign)},
        {"method", offsetof(fl_cli_globals_t, method)},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(tab); i++)
        if (strlen(tab[i].name) == len && memcmp(tab[i].name, name, len) == 0)
            return (const char **)((char *)g + tab[i].off);
    return NULL;
}

/* Fills o from argv; returns 0, or EXIT_USAGE after printing why. */
static int parse_args(int argc, char **argv, opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->g.help = true;
            continue;
        }
        if (strcmp(a, "--verbose") == 0) {
            o->g.verbose = true;
            continue;
        }
        if (a[0] != '-' || a[1] != '-' || a[2] == 0) {
            if (a[0] == '-' && a[1] != 0) {
                fprintf(stderr, "flowctl: unknown option %s\n", a);
                return EXIT_USAGE;
            }
            if (!o->verb) {
                o->verb = a;
            } else if (!o->action) {
                o->action = a;
            } else {
                fprintf(stderr, "flowctl: unexpected argument '%s'\n", a);
                return EXIT_USAGE;
            }
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (nlen == 0) {
            fprintf(stderr, "flowctl: bad argument %s\n", a);
            return EXIT_USAGE;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flowctl: %s needs a value\n", a);
                return EXIT_USAGE;
            }
            val = argv[++i];
        }
        const char **slot = fl_cli_global_slot(&o->g, name, nlen);
        if (slot) {
            *slot = val;
            continue;
        }
        char *v = param_value(val);
        if (!v)
            return EXIT_USAGE;
        o->params = xrealloc(o->params, (o->n_params + 1) * sizeof *o->params);
        o->params[o->n_params].key = xstrndup(name, nlen);
        o->params[o->n_params].val = v;
        o->n_params++;
    }
    return 0;
}

static const char *flag_or_env(const char *flag, const char *env, const char *dflt)
{
    if (flag)
        return flag;
    const char *e = getenv(env);
    return e && *e ? e : dflt;
}

/* See cli.h. */
int fl_cli_prepare(const fl_cli_globals_t *g, const char *dflt_method, fl_cli_req_t *rq)
{
    rq->endpoint = flag_or_env(g->endpoint, "FLOWD_ENDPOINT", "http://127.0.0.1:8080");
    rq->ak_id = flag_or_env(g->ak_id, "FLOWD_ACCESS_KEY_ID", NULL);
    rq->ak_secret = flag_or_env(g->ak_secret, "FLOWD_ACCESS_KEY_SECRET", NULL);
    rq->verbose = g->verbose;
    if (g->sign && strcmp(g->sign, "v1") != 0 && strcmp(g->sign, "v3") != 0) {
        fprintf(stderr, "flowctl: --sign must be v1 or v3\n");
        return EXIT_USAGE;
    }
    rq->v3 = g->sign && strcmp(g->sign, "v3") == 0;
    if (g->method && strcmp(g->method, "GET") != 0 && strcmp(g->method, "POST") != 0) {
        fprintf(stderr, "flowctl: --method must be GET or POST\n");
        return EXIT_USAGE;
    }
    rq->method = g->method ? g->method : dflt_method;
    if (!rq->ak_id || !rq->ak_secret) {
        fprintf(stderr, "flowctl: set --access-key-id and --access-key-secret "
                        "(or FLOWD_ACCESS_KEY_ID and FLOWD_ACCESS_KEY_SECRET)\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* Returns the first positional argument (the command), skipping options. Only used to
 * pick the parser: admin's flags are not `call` parameters, and --json takes no value
 * there. An option "--x" without "=" is taken to consume the next argument, as parse_args
 * does, so `call` command lines are classified as before. */
static const char *find_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "--verbose") == 0 ||
            strcmp(a, "--json") == 0)
            continue;
        if (a[0] == '-' && a[1] == '-' && a[2] != 0) {
            if (!strchr(a, '='))
                i++;
            continue;
        }
        if (a[0] == '-' && a[1] != 0)
            continue;
        return a;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *cmd = find_command(argc, argv);
    if (cmd && strcmp(cmd, "admin") == 0)
        return fl_cli_admin_main(argc, argv);
    if (cmd && (strcmp(cmd, "tasks") == 0 || strcmp(cmd, "task") == 0))
        return fl_cli_task_main(argc, argv);

    int rc = EXIT_USAGE;
    opts_t o;
    memset(&o, 0, sizeof o);
    json_t *root = NULL;
    char *text = NULL;

    if (parse_args(argc, argv, &o) != 0)
        goto out;
    if (o.g.help) {
        fputs(usage_text, stdout);
        rc = 0;
        goto out;
    }
    if (!o.verb || strcmp(o.verb, "call") != 0 || !o.action) {
        if (o.verb && strcmp(o.verb, "call") != 0)
            fprintf(stderr, "flowctl: unknown command '%s'\n", o.verb);
        fputs(usage_text, stderr);
        goto out;
    }

    fl_cli_req_t rq = {
        .action = o.action,
        .params = o.params,
        .n_params = o.n_params,
    };
    if (fl_cli_prepare(&o.g, fl_cli_action_is_get(o.action) ? "GET" : "POST", &rq) != 0)
        goto out;
    rc = fl_cli_send(&rq, &root);
    if (rc != FL_CLI_EXIT_OK)
        goto out;
    text = json_dumps(root, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!text) {
        fprintf(stderr, "flowctl: cannot print the reply\n");
        rc = EXIT_ERR_REPLY;
        goto out;
    }
    printf("%s\n", text);
    rc = 0;
out:
    free(text);
    json_decref(root);
    opts_close(&o);
    return rc;
}
