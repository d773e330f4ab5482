/*
 * cmd_admin.c - `flowctl admin <group> <command> [flags]`: flowd's account, user, access
 * key and policy administration (extension actions, not part of CloudFlow's API).
 *
 * Every command is one row of the cmds[] table: its action, method, flags (each mapped to
 * one action parameter) and the shape of its reply. Requests go through the same signing
 * and sending code as `call`. Output is a table, "Key: value" lines or nothing, or with
 * --json exactly one JSON object on stdout. Exit status as for `call`; unknown or missing
 * flags are usage errors (2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

#define MAX_FLAGS 4   /* flags of one command */
#define MAX_FIELDS 5  /* fields printed for one command */
#define COL_GAP 3     /* spaces between table columns */

/* What the reply holds besides RequestId, and so how it is printed. */
typedef enum {
    OUT_EMPTY,  /* {}: print nothing, or {} with --json */
    OUT_CREATE, /* one object: "Key: value" lines */
    OUT_LIST,   /* {"<list_key>": [objects]}: a table */
} out_kind_t;

typedef struct {
    const char *flag;    /* given as --<flag> */
    const char *param;   /* the action parameter it fills */
    const char *metavar; /* placeholder in the usage text */
    bool required;
    bool file;           /* the value names a JSON file whose text is sent */
} flag_t;

typedef struct {
    const char *group;
    const char *name;
    const char *action;
    const char *method;
    const char *summary;         /* one line for the help text */
    flag_t flags[MAX_FLAGS];
    const char *fixed_key;       /* a parameter with a fixed value, or NULL */
    const char *fixed_val;
    out_kind_t out;
    const char *list_key;        /* OUT_LIST: the array in the reply */
    const char *fields[MAX_FIELDS]; /* OUT_CREATE: print order; OUT_LIST: table columns */
} admin_cmd_t;

#define F_ACCOUNT {"account", "AccountId", "ID", true, false}
#define F_USER_REQ {"user", "UserName", "U", true, false}
#define F_USER_OPT {"user", "UserName", "U", false, false}
#define F_KEY {"key", "UserAccessKeyId", "AK", true, false}

static const admin_cmd_t cmds[] = {
    {"account", "create", "CreateAccount", "POST",
     "new account and its first root access key",
     {{"id", "AccountId", "ID", false, false}}, NULL, NULL, OUT_CREATE, NULL,
     {"AccountId", "AccessKeyId", "AccessKeySecret"}},
    {"account", "list", "ListAccounts", "GET", "list accounts", {{0}}, NULL, NULL, OUT_LIST,
     "Accounts", {"AccountId", "Region", "CreatedTime"}},
    {"user", "create", "CreateUser", "POST", "create a RAM user",
     {F_ACCOUNT, {"name", "UserName", "U", true, false}}, NULL, NULL, OUT_CREATE, NULL,
     {"AccountId", "UserName"}},
    {"user", "list", "ListUsers", "GET", "list an account's users", {F_ACCOUNT}, NULL,
     NULL, OUT_LIST, "Users", {"UserName", "CreatedTime"}},
    {"key", "create", "CreateAccessKey", "POST",
     "new access key (a root key without --user)",
     {F_ACCOUNT, F_USER_OPT}, NULL, NULL, OUT_CREATE, NULL,
     {"AccountId", "UserName", "AccessKeyId", "AccessKeySecret"}},
    {"key", "disable", "UpdateAccessKey", "POST", "set an access key Inactive",
     {F_ACCOUNT, F_KEY}, "Status", "Inactive", OUT_EMPTY, NULL, {NULL}},
    {"key", "enable", "UpdateAccessKey", "POST", "set an access key Active",
     {F_ACCOUNT, F_KEY}, "Status", "Active", OUT_EMPTY, NULL, {NULL}},
    {"key", "delete", "DeleteAccessKey", "POST", "delete an access key", {F_ACCOUNT, F_KEY},
     NULL, NULL, OUT_EMPTY, NULL, {NULL}},
    {"key", "list", "ListAccessKeys", "GET",
     "list access keys (never secrets)",
     {F_ACCOUNT, F_USER_OPT}, NULL, NULL, OUT_LIST, "AccessKeys",
     {"AccessKeyId", "UserName", "Status", "CreatedTime"}},
    {"policy", "attach", "AttachPolicy", "POST",
     "attach a policy document to a user",
     {F_ACCOUNT, F_USER_REQ, {"name", "PolicyName", "P", true, false},
      {"file", "PolicyDocument", "P.json", true, true}},
     NULL, NULL, OUT_EMPTY, NULL, {NULL}},
    {"policy", "detach", "DetachPolicy", "POST", "detach a policy from a user",
     {F_ACCOUNT, F_USER_REQ, {"name", "PolicyName", "P", true, false}}, NULL, NULL, OUT_EMPTY,
     NULL, {NULL}},
    {"policy", "list", "ListPolicies", "GET", "list a user's policies",
     {F_ACCOUNT, F_USER_REQ}, NULL, NULL, OUT_LIST, "Policies",
     {"PolicyName", "CreatedTime", "PolicyDocument"}},
};

static const char admin_footer[] =
    "\n"
    "Flags:\n"
    "  --json                  print exactly one JSON object on stdout (the reply without\n"
    "                          RequestId; {} for commands that return nothing) instead of\n"
    "                          a table or Key: value lines\n"
    "  -h, --help              help for admin, a group or a command\n"
    "\n"
    "Options --endpoint, --access-key-id, --access-key-secret, --sign and --verbose work as\n"
    "for call, before or after admin (see flowctl --help).\n"
    "Exit status: 0 success, 1 error reply (prints Code: Message), 2 usage or transport error.\n";

/* ---- help text ---- */

/* Appends the flags of c as a synopsis: "--account ID [--user U]". */
static void synopsis(const admin_cmd_t *c, fl_buf_t *b)
{
    for (size_t i = 0; i < MAX_FLAGS && c->flags[i].flag; i++) {
        const flag_t *f = &c->flags[i];
        fl_buf_printf(b, "%s%s--%s %s%s", i ? " " : "", f->required ? "" : "[", f->flag,
                      f->metavar, f->required ? "" : "]");
    }
}

/* Prints one help line per command, of every group when group is NULL. */
static void list_commands(FILE *out, const char *group)
{
    fl_buf_t b;
    fl_buf_init(&b);
    int width = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < FL_ARRAY_LEN(cmds); i++) {
            const admin_cmd_t *c = &cmds[i];
            if (group && strcmp(group, c->group) != 0)
                continue;
            fl_buf_reset(&b);
            fl_buf_printf(&b, "%s %s ", c->group, c->name);
            synopsis(c, &b);
            if (pass == 0 && (int)b.len > width)
                width = (int)b.len;
            if (pass == 1)
                fprintf(out, "  %-*s  %s\n", width, b.data, c->summary);
        }
        if (pass == 0)
            fprintf(out, "Commands:\n");
    }
    fl_buf_free(&b);
}

static void group_usage(FILE *out, const char *group)
{
    fprintf(out, "usage: flowctl [options] admin %s <command> [flags] [--json]\n\n",
            group ? group : "<account|user|key|policy>");
    if (!group)
        fprintf(out, "Manages flowd's accounts, RAM users, access keys and policies through\n"
                     "flowd's administration actions (CreateAccount, ListUsers, ...).\n\n");
    list_commands(out, group);
    fputs(admin_footer, out);
}

static void command_usage(FILE *out, const admin_cmd_t *c)
{
    fl_buf_t b;
    fl_buf_init(&b);
    synopsis(c, &b);
    fprintf(out, "usage: flowctl [options] admin %s %s%s%s [--json]\n", c->group, c->name,
            b.len ? " " : "", b.len ? b.data : "");
    fl_buf_free(&b);
}

/* ---- output ---- */

/* Returns the text of one table cell (caller frees): "-" for a missing, null or empty
 * value; a string holding a JSON object or array (a policy document) compacted onto one
 * line; control characters replaced by spaces so that a row stays one line. */
static char *cell_text(json_t *v)
{
    char *s = NULL;
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return xstrdup("-");
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        if (t[0] == '{' || t[0] == '[') {
            json_t *doc = json_loads(t, 0, NULL);
            s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
            json_decref(doc);
        }
        if (!s)
            s = xstrdup(t);
    } else {
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
            s = xstrdup("?");
    }
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return s;
}

/* Columns taken by s on a terminal, counting each UTF-8 character as one. */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Prints the objects of list as an aligned table with a header row. */
static void print_table(const admin_cmd_t *c, json_t *list)
{
    size_t ncol = 0, nrow = json_array_size(list);
    while (ncol < MAX_FIELDS && c->fields[ncol])
        ncol++;
    char **cells = xcalloc((nrow + 1) * ncol, sizeof *cells);
    size_t width[MAX_FIELDS] = {0};
    for (size_t j = 0; j < ncol; j++)
        cells[j] = xstrdup(c->fields[j]);
    for (size_t i = 0; i < nrow; i++) {
        json_t *row = json_array_get(list, i);
        for (size_t j = 0; j < ncol; j++)
            cells[(i + 1) * ncol + j] =
                cell_text(json_is_object(row) ? json_object_get(row, c->fields[j]) : NULL);
    }
    for (size_t k = 0; k < (nrow + 1) * ncol; k++) {
        size_t w = text_width(cells[k]);
        if (w > width[k % ncol])
            width[k % ncol] = w;
    }
    for (size_t i = 0; i <= nrow; i++) {
        for (size_t j = 0; j < ncol; j++) {
            const char *s = cells[i * ncol + j];
            fputs(s, stdout);
            if (j + 1 < ncol)
                printf("%*s", (int)(width[j] - text_width(s) + COL_GAP), "");
        }
        putchar('\n');
    }
    for (size_t k = 0; k < (nrow + 1) * ncol; k++)
        free(cells[k]);
    free(cells);
}

/* Prints "Key: value" for the fields of c in order, then any other field of reply. */
static void print_fields(const admin_cmd_t *c, json_t *reply)
{
    for (size_t j = 0; j < MAX_FIELDS && c->fields[j]; j++) {
        json_t *v = json_object_get(reply, c->fields[j]);
        if (!v)
            continue;
        char *s = cell_text(v);
        printf("%s: %s\n", c->fields[j], s);
        free(s);
    }
    const char *key;
    json_t *v;
    json_object_foreach(reply, key, v) {
        bool listed = false;
        for (size_t j = 0; j < MAX_FIELDS && c->fields[j]; j++)
            listed = listed || strcmp(key, c->fields[j]) == 0;
        if (listed)
            continue;
        char *s = cell_text(v);
        printf("%s: %s\n", key, s);
        free(s);
    }
}

/* Prints the reply of c (an object, RequestId already removed). Returns the exit status. */
static int print_reply(const admin_cmd_t *c, json_t *reply, bool json)
{
    json_t *list = c->out == OUT_LIST ? json_object_get(reply, c->list_key) : NULL;
    if (c->out == OUT_LIST && !json_is_array(list)) {
        fprintf(stderr, "flowctl: unexpected reply to %s: no %s list\n", c->action,
                c->list_key);
        return FL_CLI_EXIT_REPLY;
    }
    if (json) {
        char *text = c->out == OUT_EMPTY ? xstrdup("{}") : json_dumps(reply, JSON_INDENT(2));
        if (!text) {
            fprintf(stderr, "flowctl: cannot print the reply\n");
            return FL_CLI_EXIT_REPLY;
        }
        printf("%s\n", text);
        free(text);
        return FL_CLI_EXIT_OK;
    }
    if (c->out == OUT_LIST)
        print_table(c, list);
    else if (c->out == OUT_CREATE) {
        print_fields(c, reply);
        if (json_object_get(reply, "AccessKeySecret"))
            fprintf(stderr, "flowctl: keep the AccessKeySecret now; it cannot be shown again\n");
    }
    return FL_CLI_EXIT_OK;
}

/* ---- command line ---- */

/* A command flag as given: --<name> <val>, or --<name>=<val>. */
typedef struct {
    const char *name; /* after "--", not NUL-terminated */
    size_t len;
    const char *val;  /* NULL when the flag ended the line */
    const char *arg;  /* the whole argument, for messages */
} given_t;

static const admin_cmd_t *find_cmd(const char *group, const char *name)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(cmds); i++)
        if (strcmp(cmds[i].group, group) == 0 && (!name || strcmp(cmds[i].name, name) == 0))
            return &cmds[i];
    return NULL;
}

static const flag_t *find_flag(const admin_cmd_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < MAX_FLAGS && c->flags[i].flag; i++)
        if (strlen(c->flags[i].flag) == len && memcmp(c->flags[i].flag, name, len) == 0)
            return &c->flags[i];
    return NULL;
}

/* Reads the policy file named by val and checks it is JSON; returns new text, or NULL
 * after printing why. */
static char *read_policy(const char *path)
{
    char *text = fl_cli_read_file(path);
    if (!text)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!json_is_object(doc)) {
        if (doc)
            fprintf(stderr, "flowctl: %s: a policy document is a JSON object\n", path);
        else
            fprintf(stderr, "flowctl: %s: line %d column %d: %s\n", path, jerr.line,
                    jerr.column, jerr.text);
        json_decref(doc);
        free(text);
        return NULL;
    }
    json_decref(doc);
    return text;
}

/* See cli.h. */
int fl_cli_admin_main(int argc, char **argv)
{
    int rc = FL_CLI_EXIT_USAGE;
    fl_cli_globals_t g;
    memset(&g, 0, sizeof g);
    bool json = false;
    const char *pos[3] = {NULL, NULL, NULL}; /* "admin", group, command */
    size_t npos = 0;
    given_t *given = xcalloc((size_t)argc, sizeof *given);
    size_t ngiven = 0;
    fl_kv_t params[MAX_FLAGS + 1];
    size_t nparams = 0;
    char *file_text = NULL;
    json_t *reply = NULL;
    const admin_cmd_t *c = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            g.help = true;
        } else if (strcmp(a, "--verbose") == 0) {
            g.verbose = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] != '-' || a[1] == 0) {
            if (npos == FL_ARRAY_LEN(pos)) {
                fprintf(stderr, "flowctl: unexpected argument '%s'\n", a);
                goto out;
            }
            pos[npos++] = a;
        } else if (a[1] != '-' || a[2] == 0 || a[2] == '=') {
            fprintf(stderr, "flowctl: unknown option %s\n", a);
            goto out;
        } else {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            /* --method is call's: admin actions have a fixed method. */
            const char **slot = nlen == 6 && memcmp(name, "method", 6) == 0
                                    ? NULL
                                    : fl_cli_global_slot(&g, name, nlen);
            const char *val = eq ? eq + 1 : NULL;
            if (slot) {
                if (!val && i + 1 < argc)
                    val = argv[++i];
                if (!val) {
                    fprintf(stderr, "flowctl: %s needs a value\n", a);
                    goto out;
                }
                *slot = val;
                continue;
            }
            /* No admin value starts with "--", so "--user --json" lacks a value rather than
             * naming a user "--json". */
            if (!val && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                val = argv[++i];
            given[ngiven++] = (given_t){name, nlen, val, a};
        }
    }

    const char *group = npos > 1 ? pos[1] : NULL;
    const char *name = npos > 2 ? pos[2] : NULL;
    if (group && !find_cmd(group, NULL)) {
        fprintf(stderr, "flowctl: unknown admin group '%s'\n", group);
        group_usage(stderr, NULL);
        goto out;
    }
    c = group && name ? find_cmd(group, name) : NULL;
    if (name && !c) {
        fprintf(stderr, "flowctl: unknown command 'admin %s %s'\n", group, name);
        group_usage(stderr, group);
        goto out;
    }
    if (g.help) {
        if (c) {
            command_usage(stdout, c);
            printf("\n%s: %s %s.\n", c->summary, c->method, c->action);
            for (size_t i = 0; i < MAX_FLAGS && c->flags[i].flag; i++)
                printf("  --%-8s %-8s %s %s%s\n", c->flags[i].flag, c->flags[i].metavar,
                       c->flags[i].required ? "required," : "optional,", c->flags[i].param,
                       c->flags[i].file ? " (the file's text)" : "");
            fputs(admin_footer, stdout);
        } else {
            group_usage(stdout, group);
        }
        rc = FL_CLI_EXIT_OK;
        goto out;
    }
    if (!c) {
        if (group)
            fprintf(stderr, "flowctl: 'admin %s' needs a command\n", group);
        group_usage(stderr, group);
        goto out;
    }

    for (size_t i = 0; i < ngiven; i++) {
        const flag_t *f = find_flag(c, given[i].name, given[i].len);
        if (!f) {
            fprintf(stderr, "flowctl: admin %s %s: unknown option %.*s\n", c->group, c->name,
                    (int)(given[i].len + 2), given[i].arg);
            command_usage(stderr, c);
            goto out;
        }
        for (size_t k = 0; k < i; k++) {
            if (given[k].len == given[i].len &&
                memcmp(given[k].name, given[i].name, given[i].len) == 0) {
                fprintf(stderr, "flowctl: --%s given twice\n", f->flag);
                goto out;
            }
        }
        if (!given[i].val) {
            fprintf(stderr, "flowctl: --%s needs a value\n", f->flag);
            command_usage(stderr, c);
            goto out;
        }
        const char *v = given[i].val;
        if (f->file) {
            file_text = read_policy(v);
            if (!file_text)
                goto out;
            v = file_text;
        }
        params[nparams++] = (fl_kv_t){f->param, v};
    }
    for (size_t i = 0; i < MAX_FLAGS && c->flags[i].flag; i++) {
        const flag_t *f = &c->flags[i];
        bool seen = false;
        for (size_t k = 0; k < ngiven; k++)
            seen = seen || find_flag(c, given[k].name, given[k].len) == f;
        if (f->required && !seen) {
            fprintf(stderr, "flowctl: admin %s %s: missing --%s\n", c->group, c->name, f->flag);
            command_usage(stderr, c);
            goto out;
        }
    }
    if (c->fixed_key)
        params[nparams++] = (fl_kv_t){c->fixed_key, c->fixed_val};

    fl_cli_req_t rq = {.action = c->action, .params = params, .n_params = nparams};
    if (fl_cli_prepare(&g, c->method, &rq) != 0)
        goto out;
    rc = fl_cli_send(&rq, &reply);
    if (rc != FL_CLI_EXIT_OK)
        goto out;
    if (!json_is_object(reply)) {
        fprintf(stderr, "flowctl: unexpected reply to %s: not a JSON object\n", c->action);
        rc = FL_CLI_EXIT_REPLY;
        goto out;
    }
    json_object_del(reply, "RequestId");
    rc = print_reply(c, reply, json);
out:
    json_decref(reply);
    free(file_text);
    free(given);
    return rc;
}
