/*
 * cmd_task.c - `flowctl tasks` and `flowctl task fail|succeed`: the callback tasks of a flow
 * that wait for a report, and reporting one from the shell.
 *
 *   flowctl tasks --flow F [--execution E] [--limit N] [--json]     ListWaitingTasks
 *   flowctl task fail <token> --error E [--cause C] [--request-id R]  ReportTaskFailed
 *   flowctl task succeed <token> --output JSON [--request-id R]      ReportTaskSucceeded
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char task_usage[] =
    "usage: flowctl [options] tasks --flow F [--execution E] [--limit N] [--json]\n"
    "       flowctl [options] task fail <token> --error E [--cause C] [--request-id R]\n"
    "       flowctl [options] task succeed <token> --output JSON [--request-id R]\n"
    "\n"
    "tasks lists the callback tasks of flow F that wait for a report (flowd's\n"
    "ListWaitingTasks); task fail and task succeed report one (ReportTaskFailed,\n"
    "ReportTaskSucceeded). --request-id makes a retried report safe: the same id gets the\n"
    "first answer again. Options --endpoint, --access-key-id, --access-key-secret, --sign and\n"
    "--verbose work as for call.\n";

/* Prints the waiting tasks as a table. */
static void print_tasks(json_t *reply)
{
    json_t *tasks = json_object_get(reply, "Tasks"), *t;
    size_t i;
    printf("%-24s %-20s %-7s %-24s %-24s %s\n", "EXECUTION", "STEP", "ATTEMPT", "WAITING SINCE",
           "TIMEOUT AT", "TASK TOKEN");
    json_array_foreach(tasks, i, t)
    {
        const char *until = json_string_value(json_object_get(t, "TimeoutAt"));
        printf("%-24s %-20s %-7lld %-24s %-24s %s\n",
               json_string_value(json_object_get(t, "ExecutionName")),
               json_string_value(json_object_get(t, "StepName")),
               (long long)json_integer_value(json_object_get(t, "Attempt")),
               json_string_value(json_object_get(t, "WaitingSince")),
               until && *until ? until : "-",
               json_string_value(json_object_get(t, "TaskToken")));
    }
    const char *next = json_string_value(json_object_get(reply, "NextToken"));
    if (next)
        printf("(more: --next %s)\n", next);
}

int fl_cli_task_main(int argc, char **argv)
{
    fl_cli_globals_t g;
    memset(&g, 0, sizeof g);
    const char *pos[3] = {NULL, NULL, NULL};
    size_t npos = 0;
    bool json = false;
    const char *flow = NULL, *exec = NULL, *limit = NULL, *next = NULL, *error = NULL;
    const char *cause = NULL, *output = NULL, *request_id = NULL;
    struct {
        const char *name;
        const char **dst;
    } flags[] = {{"flow", &flow},   {"execution", &exec},  {"limit", &limit},
                 {"next", &next},   {"error", &error},     {"cause", &cause},
                 {"output", &output}, {"request-id", &request_id}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(task_usage, stdout);
            return FL_CLI_EXIT_OK;
        }
        if (!strcmp(a, "--verbose")) {
            g.verbose = true;
            continue;
        }
        if (!strcmp(a, "--json")) {
            json = true;
            continue;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (npos == FL_ARRAY_LEN(pos)) {
                fprintf(stderr, "flowctl: unexpected argument '%s'\n%s", a, task_usage);
                return FL_CLI_EXIT_USAGE;
            }
            pos[npos++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char **slot = a[1] == '-' ? fl_cli_global_slot(&g, name, nlen) : NULL;
        for (size_t k = 0; !slot && a[1] == '-' && k < FL_ARRAY_LEN(flags); k++)
            if (strlen(flags[k].name) == nlen && !strncmp(flags[k].name, name, nlen))
                slot = flags[k].dst;
        if (!slot) {
            fprintf(stderr, "flowctl: unknown option %s\n%s", a, task_usage);
            return FL_CLI_EXIT_USAGE;
        }
        const char *val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!val) {
            fprintf(stderr, "flowctl: %s needs a value\n", a);
            return FL_CLI_EXIT_USAGE;
        }
        *slot = val;
    }

    fl_kv_t params[8];
    size_t n = 0;
    fl_cli_req_t rq = {0};
    bool list = npos >= 1 && !strcmp(pos[0], "tasks");
    if (list) {
        if (!flow || npos != 1) {
            fprintf(stderr, "flowctl: tasks needs --flow\n%s", task_usage);
            return FL_CLI_EXIT_USAGE;
        }
        rq.action = "ListWaitingTasks";
        params[n++] = (fl_kv_t){"FlowName", flow};
        if (exec)
            params[n++] = (fl_kv_t){"ExecutionName", exec};
        if (limit)
            params[n++] = (fl_kv_t){"Limit", limit};
        if (next)
            params[n++] = (fl_kv_t){"NextToken", next};
    } else if (npos == 3 && !strcmp(pos[1], "fail") && error) {
        rq.action = "ReportTaskFailed";
        params[n++] = (fl_kv_t){"TaskToken", pos[2]};
        params[n++] = (fl_kv_t){"Error", error};
        if (cause)
            params[n++] = (fl_kv_t){"Cause", cause};
    } else if (npos == 3 && !strcmp(pos[1], "succeed") && output) {
        rq.action = "ReportTaskSucceeded";
        params[n++] = (fl_kv_t){"TaskToken", pos[2]};
        params[n++] = (fl_kv_t){"Output", output};
    } else {
        fprintf(stderr, "flowctl: expected 'task fail <token> --error E' or "
                        "'task succeed <token> --output JSON'\n%s", task_usage);
        return FL_CLI_EXIT_USAGE;
    }
    if (!list && request_id)
        params[n++] = (fl_kv_t){"RequestId", request_id};
    rq.params = params;
    rq.n_params = n;
    int rc = fl_cli_prepare(&g, list ? "GET" : "POST", &rq);
    if (rc)
        return rc;
    json_t *reply = NULL;
    rc = fl_cli_send(&rq, &reply);
    if (rc == FL_CLI_EXIT_OK) {
        json_object_del(reply, "RequestId");
        if (json || !list) {
            char *s = json_dumps(reply, JSON_INDENT(2));
            printf("%s\n", s ? s : "{}");
            free(s);
        } else {
            print_tasks(reply);
        }
    }
    json_decref(reply);
    return rc;
}
