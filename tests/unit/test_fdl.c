/*
 * test_fdl.c - the legacy FDL parser (src/spec/fdl.c) through fl_spec_parse: the worked
 * example of the CloudFlow API reference 3.2 field by field, nested step lists (choice steps,
 * parallel branches, foreach), mappings and serviceParams as templates, resource ARNs,
 * and a table of invalid definitions with line, path and message. Test names start with
 * "spec_" so that `unit_tests spec` runs them with the CloudFlow ones.
 */
#include "spec/spec.h"
#include "test.h"

static int parse(const char *text, fl_flow_t **f, fl_diag_t *d)
{
    return fl_spec_parse(text, strlen(text), f, d);
}

static fl_flow_t *must_parse(const char *text)
{
    fl_flow_t *f = NULL;
    fl_diag_t d;
    if (parse(text, &f, &d) != FL_OK)
        FAIL_AT("unexpected error: line %d: %s: %s", d.line, d.path, d.msg);
    return f;
}

/* Evaluates t against input (and local as $local) and compares with the JSON text want. */
static void tmpl_is(const fl_tmpl_t *t, json_t *input, json_t *local, json_t *context,
                    const char *want)
{
    fl_env_t env = {input, local, context};
    json_t *v = NULL, *w = json_loads(want, JSON_DECODE_ANY, NULL);
    char err[256];
    ASSERT(t != NULL);
    ASSERT(w != NULL);
    if (fl_tmpl_eval(t, &env, &v, err, sizeof err) != FL_OK)
        FAIL_AT("eval failed: %s", err);
    if (!json_equal(v, w)) {
        char *s = json_dumps(v, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        FAIL_AT("got %s, want %s", s, want);
    }
    json_decref(v);
    json_decref(w);
}

/* the CloudFlow API reference 3.2, verbatim. */
static const char EXAMPLE_3_2[] =
    "version: v1\n"
    "type: flow\n"
    "timeoutSeconds: 86400\n"
    "steps:\n"
    "  - type: task\n"
    "    name: requestApproval\n" /* line 6 */
    "    resourceArn: acs:mns:::/topics/approval-requests/messages\n"
    "    pattern: waitForCallback\n"
    "    timeoutSeconds: 3600\n"
    "    inputMappings:\n"
    "      - target: taskToken\n"
    "        source: $context.task.token        # token must be mapped explicitly\n"
    "      - target: orderId\n"
    "        source: $input.orderId\n"
    "      - target: amount\n"
    "        source: $input.amount\n"
    "    serviceParams:\n"
    "      MessageBody: $                       # the mapped input becomes the MNS message\n"
    "      Priority: 1\n"
    "    catch:\n"
    "      - errors: [FnF.TaskTimeout]\n"
    "        goto: escalate\n"
    "      - errors: [ApprovalRejected]         # = ReportTaskFailed.Error\n"
    "        goto: rejected\n"
    "    outputMappings:\n"
    "      - target: approver\n"
    "        source: $local.approver            # fields of ReportTaskSucceeded.Output\n"
    "      - target: approved\n"
    "        source: $local.approved\n"
    "  - type: choice\n"
    "    name: checkApproval\n"
    "    choices:\n"
    "      - condition: $.approved == true\n"
    "        goto: ship\n"
    "    default:\n"
    "      goto: rejected\n"
    "  - type: task\n"
    "    name: ship\n"
    "    resourceArn: acs:fc:::services/orders/functions/ship\n"
    "    pattern: requestResponse\n"
    "    timeoutSeconds: 60\n"
    "    inputMappings:\n"
    "      - target: orderId\n"
    "        source: $input.orderId\n"
    "    retry:\n"
    "      - errors: [FC.ResourceThrottled, FC.ResourceExhausted, FC.InternalServerError]\n"
    "        intervalSeconds: 2\n"
    "        maxAttempts: 3\n"
    "        multiplier: 2\n"
    "    end: true\n"
    "  - type: pass\n"
    "    name: escalate\n"
    "    outputMappings:\n"
    "      - target: status\n"
    "        source: escalated                  # constant\n"
    "    end: true\n"
    "  - type: fail\n"
    "    name: rejected\n"
    "    error: OrderRejected\n"
    "    cause: approval rejected or not granted\n";

TEST(spec_fdl_example_3_2)
{
    fl_flow_t *f = must_parse(EXAMPLE_3_2);
    ASSERT_EQ(f->dialect, FL_DIALECT_FDL);
    ASSERT(f->name == NULL);
    ASSERT_EQ(f->timeout_s, 86400);
    ASSERT(f->input_ctor == NULL && f->output_ctor == NULL);
    ASSERT_EQ(f->root.n_states, 5);
    ASSERT_EQ(f->root.start, 0);

    const fl_state_t *t = &f->root.states[0];
    ASSERT_STR_EQ(t->name, "requestApproval");
    ASSERT_EQ(t->type, FL_ST_TASK);
    ASSERT_EQ(t->line, 5);
    ASSERT_STR_EQ(t->action, "acs:mns:::/topics/approval-requests/messages");
    ASSERT_EQ(t->mode, FL_MODE_WAIT_CALLBACK);
    ASSERT_EQ(t->timeout_s, 3600);
    ASSERT_EQ(t->next, 1);
    ASSERT(!t->end);
    ASSERT(t->input_ctor && t->output_ctor && t->parameters && !t->error_map);
    ASSERT_EQ(t->n_retry, 0);
    ASSERT_EQ(t->n_catches, 2);
    ASSERT_EQ(t->catches[0].n_errors, 1);
    ASSERT_STR_EQ(t->catches[0].errors[0], "FnF.TaskTimeout");
    ASSERT_EQ(t->catches[0].next, 3);
    ASSERT(t->catches[0].output_ctor == NULL);
    ASSERT_STR_EQ(t->catches[1].errors[0], "ApprovalRejected");
    ASSERT_EQ(t->catches[1].next, 4);

    /* The mappings and serviceParams are templates over $input / $local / $context. */
    json_t *in = json_pack("{s:s, s:i, s:s}", "orderId", "o-1", "amount", 42, "extra", "x");
    json_t *ctx = json_pack("{s:{s:s}}", "task", "token", "tok-1");
    json_t *local = json_pack("{s:s, s:b, s:i}", "approver", "bob", "approved", 1, "n", 5);
    tmpl_is(t->input_ctor, in, NULL, ctx, "{\"taskToken\": \"tok-1\", \"orderId\": \"o-1\", "
                                          "\"amount\": 42}");
    tmpl_is(t->parameters, in, NULL, NULL,
            "{\"MessageBody\": {\"orderId\": \"o-1\", \"amount\": 42, \"extra\": \"x\"}, "
            "\"Priority\": 1}");
    tmpl_is(t->output_ctor, NULL, local, NULL, "{\"approver\": \"bob\", \"approved\": true}");

    const fl_state_t *ch = &f->root.states[1];
    ASSERT_STR_EQ(ch->name, "checkApproval");
    ASSERT_EQ(ch->type, FL_ST_CHOICE);
    ASSERT_EQ(ch->n_choices, 1);
    ASSERT(ch->choices[0].cond != NULL);
    ASSERT_EQ(ch->choices[0].next, 2);
    ASSERT(ch->choices[0].scope == NULL);
    ASSERT_EQ(ch->default_next, 4);
    ASSERT(ch->default_scope == NULL);
    ASSERT_EQ(ch->next, 2); /* no choice taken and no default: the next step */
    bool ok = false;
    char err[128];
    fl_env_t env = {local, NULL, NULL};
    ASSERT_OK(fl_expr_eval_bool(ch->choices[0].cond, &env, &ok, err, sizeof err));
    ASSERT(ok);

    const fl_state_t *ship = &f->root.states[2];
    ASSERT_STR_EQ(ship->action, "acs:fc:::services/orders/functions/ship");
    ASSERT_EQ(ship->mode, FL_MODE_REQUEST_COMPLETE);
    ASSERT_EQ(ship->timeout_s, 60);
    ASSERT(ship->parameters == NULL && ship->input_ctor != NULL && ship->output_ctor == NULL);
    ASSERT_EQ(ship->n_retry, 1);
    ASSERT_EQ(ship->retry[0].n_errors, 3);
    ASSERT_STR_EQ(ship->retry[0].errors[2], "FC.InternalServerError");
    ASSERT(ship->retry[0].interval_s == 2 && ship->retry[0].backoff_rate == 2 &&
           ship->retry[0].max_backoff_s == 0);
    ASSERT_EQ(ship->retry[0].max_attempts, 3);
    ASSERT(ship->end);
    ASSERT_EQ(ship->next, -1);

    const fl_state_t *esc = &f->root.states[3];
    ASSERT_EQ(esc->type, FL_ST_PASS);
    ASSERT(esc->end && esc->next == -1 && esc->input_ctor == NULL);
    tmpl_is(esc->output_ctor, NULL, NULL, NULL, "{\"status\": \"escalated\"}");

    const fl_state_t *rej = &f->root.states[4];
    ASSERT_EQ(rej->type, FL_ST_FAIL);
    ASSERT_STR_EQ(rej->fail_code, "OrderRejected");
    ASSERT_STR_EQ(rej->fail_detail, "approval rejected or not granted");
    ASSERT_EQ(rej->next, -1);

    json_decref(in);
    json_decref(ctx);
    json_decref(local);
    fl_flow_free(f);
    LEAK_CHECK();
}

static const char NESTED[] =
    "version: v1beta1\n"
    "type: flow\n"
    "inputMappings:\n"
    "  - target: items\n"
    "    source: $input.items\n"
    "  - target: limit\n"
    "    source: 10\n"
    "steps:\n"
    "  - type: pass\n"
    "    name: init\n"
    "  - type: choice\n"
    "    name: route\n"
    "    choices:\n"
    "      - condition: $input.n > 10\n"
    "        steps:\n"
    "          - type: wait\n"
    "            name: pause\n"
    "            duration: $input.delay\n"
    "          - type: succeed\n"
    "            name: done\n"
    "      - condition: $.n == 0\n"
    "        goto: fanout\n"
    "    default:\n"
    "      steps:\n"
    "        - type: wait\n"
    "          name: pause\n" /* same name as in the first choice: another list */
    "          duration: 5\n"
    "  - type: parallel\n"
    "    name: fanout\n"
    "    branches:\n"
    "      - steps:\n"
    "          - type: task\n"
    "            name: child\n"
    "            resourceArn: acs:fnf:cn-hangzhou:123456:flow/child-flow\n"
    "            pattern: sync\n"
    "            serviceParams:\n"
    "              Input: $\n"
    "              ExecutionName: $.id\n"
    "              Options: {Tag: fixed, Ref: $input.ref, N: 3}\n"
    "      - steps:\n"
    "          - type: wait\n"
    "            name: until\n"
    "            timestamp: $input.when\n"
    "          - type: wait\n"
    "            name: fixed\n"
    "            timestamp: '2030-01-02T03:04:05Z'\n"
    "    retry:\n"
    "      - errors: [FnF.ALL]\n"
    "    catch:\n"
    "      - errors: [FnF.ALL]\n"
    "        goto: failed\n"
    "    outputMappings:\n"
    "      - target: statuses\n"
    "        source: $local\n"
    "  - type: foreach\n"
    "    name: each\n"
    "    iterationMapping:\n"
    "      collection: $.items\n"
    "      item: it\n"
    "      index: i\n"
    "    maxConcurrency: 100\n"
    "    steps:\n"
    "      - type: task\n"
    "        name: send\n"
    "        resourceArn: acs:mns:::/queues/jobs/messages\n"
    "        errorMappings:\n"
    "          - target: err\n"
    "            source: $local.error\n"
    "          - target: why\n"
    "            source: $local.cause\n"
    "        catch:\n"
    "          - errors: [MNS.Error]\n"
    "            goto: skip\n"
    "        end: true\n"
    "      - type: pass\n"
    "        name: skip\n"
    "    end: true\n"
    "  - type: fail\n"
    "    name: failed\n"
    "outputMappings:\n"
    "  - target: result\n"
    "    source: $local\n";

TEST(spec_fdl_nested)
{
    fl_flow_t *f = must_parse(NESTED);
    ASSERT_EQ(f->dialect, FL_DIALECT_FDL);
    ASSERT_EQ(f->timeout_s, 0);
    ASSERT(f->input_ctor != NULL && f->output_ctor != NULL);
    json_t *in = json_pack("{s:[i,i], s:s}", "items", 1, 2, "ref", "r");
    tmpl_is(f->input_ctor, in, NULL, NULL, "{\"items\": [1, 2], \"limit\": 10}");
    ASSERT_EQ(f->root.n_states, 5);

    const fl_state_t *init = &f->root.states[0];
    ASSERT(init->type == FL_ST_PASS && init->next == 1 && !init->end);
    ASSERT(init->input_ctor == NULL && init->output_ctor == NULL);

    const fl_state_t *route = &f->root.states[1];
    ASSERT_EQ(route->type, FL_ST_CHOICE);
    ASSERT_EQ(route->next, 2);
    ASSERT_EQ(route->n_choices, 2);
    const fl_scope_t *s0 = route->choices[0].scope;
    ASSERT(s0 != NULL);
    ASSERT_EQ(route->choices[0].next, -1);
    ASSERT_EQ(s0->n_states, 2);
    ASSERT_EQ(s0->start, 0);
    ASSERT(s0->states[0].type == FL_ST_WAIT && s0->states[0].wait_expr != NULL);
    ASSERT_EQ(s0->states[0].next, 1);
    ASSERT(s0->states[1].type == FL_ST_SUCCEED && s0->states[1].next == -1);
    ASSERT(route->choices[1].scope == NULL);
    ASSERT_EQ(route->choices[1].next, 2);
    ASSERT_EQ(route->default_next, -1);
    ASSERT(route->default_scope != NULL);
    ASSERT_EQ(route->default_scope->n_states, 1);
    ASSERT_STR_EQ(route->default_scope->states[0].name, "pause");
    ASSERT_EQ(route->default_scope->states[0].wait_s, 5);
    ASSERT(route->default_scope->states[0].end);
    ASSERT_EQ(route->default_scope->states[0].next, -1);

    const fl_state_t *par = &f->root.states[2];
    ASSERT_EQ(par->type, FL_ST_PARALLEL);
    ASSERT_EQ(par->n_branches, 2);
    ASSERT_EQ(par->next, 3);
    ASSERT_EQ(par->n_retry, 1);
    /* FDL retry defaults: 1 s, 3 attempts, multiplier 2, no cap */
    ASSERT(par->retry[0].interval_s == 1 && par->retry[0].backoff_rate == 2 &&
           par->retry[0].max_backoff_s == 0);
    ASSERT_EQ(par->retry[0].max_attempts, 3);
    ASSERT_EQ(par->n_catches, 1);
    ASSERT_EQ(par->catches[0].next, 4);
    ASSERT(par->output_ctor != NULL);
    const fl_state_t *child = &par->branches[0].states[0];
    ASSERT_STR_EQ(child->action, "acs:fnf:cn-hangzhou:123456:flow/child-flow");
    ASSERT_EQ(child->mode, FL_MODE_SYNC);
    ASSERT(child->end && child->next == -1);
    json_t *cin = json_pack("{s:s, s:s}", "id", "run-1", "ref", "r9");
    tmpl_is(child->parameters, cin, NULL, NULL,
            "{\"Input\": {\"id\": \"run-1\", \"ref\": \"r9\"}, \"ExecutionName\": \"run-1\", "
            "\"Options\": {\"Tag\": \"fixed\", \"Ref\": \"r9\", \"N\": 3}}");
    const fl_scope_t *b1 = &par->branches[1];
    ASSERT_EQ(b1->n_states, 2);
    ASSERT(b1->states[0].wait_until != NULL && b1->states[0].wait_expr == NULL);
    ASSERT(b1->states[1].wait_until != NULL);
    json_t *v;
    char err[128];
    fl_env_t env = {NULL, NULL, NULL};
    ASSERT_OK(fl_expr_eval(b1->states[1].wait_until, &env, &v, err, sizeof err));
    ASSERT_STR_EQ(json_string_value(v), "2030-01-02T03:04:05Z");
    json_decref(v);

    const fl_state_t *each = &f->root.states[3];
    ASSERT_EQ(each->type, FL_ST_MAP);
    ASSERT(each->items != NULL);
    ASSERT_STR_EQ(each->item_name, "it");
    ASSERT_STR_EQ(each->index_name, "i");
    ASSERT_EQ(each->max_concurrency, 100);
    ASSERT(each->end && each->next == -1);
    ASSERT(each->processor != NULL);
    ASSERT_EQ(each->processor->n_states, 2);
    const fl_state_t *send = &each->processor->states[0];
    ASSERT_EQ(send->mode, FL_MODE_REQUEST_COMPLETE);
    ASSERT(send->end && send->next == -1);
    ASSERT_EQ(send->catches[0].next, 1);
    json_t *errl = json_pack("{s:s, s:s}", "error", "MNS.Error", "cause", "boom");
    tmpl_is(send->error_map, NULL, errl, NULL, "{\"err\": \"MNS.Error\", \"why\": \"boom\"}");
    env.input = in;
    ASSERT_OK(fl_expr_eval(each->items, &env, &v, err, sizeof err));
    ASSERT_EQ(json_array_size(v), 2);
    json_decref(v);

    ASSERT_EQ(f->root.states[4].type, FL_ST_FAIL);
    ASSERT(f->root.states[4].fail_code == NULL && f->root.states[4].fail_detail == NULL);

    json_decref(in);
    json_decref(cin);
    json_decref(errl);
    fl_flow_free(f);
    LEAK_CHECK();
}

TEST(spec_fdl_sequencing_and_constants)
{
    const char *text = "{\"version\": \"v1\", \"type\": \"flow\", \"timeoutSeconds\": 60,\n"
                       " \"steps\": [\n"
                       "  {\"type\": \"pass\", \"name\": \"a\", \"end\": false,\n"
                       "   \"outputMappings\": [{\"target\": \"s\", \"source\": \"text\"},\n"
                       "                      {\"target\": \"n\", \"source\": 2.5},\n"
                       "                      {\"target\": \"b\", \"source\": true},\n"
                       "                      {\"target\": \"z\"},\n"
                       "                      {\"target\": \"j\", \"source\": \"$.x\"},\n"
                       "                      {\"target\": \"k\", \"source\": \"$inputs\"}]},\n"
                       "  {\"type\": \"pass\", \"name\": \"b\", \"end\": true},\n"
                       "  {\"type\": \"wait\", \"name\": \"c\", \"duration\": 60},\n"
                       "  {\"type\": \"succeed\", \"name\": \"d\", \"end\": true},\n"
                       "  {\"type\": \"pass\", \"name\": \"e\"}\n"
                       " ]}\n";
    fl_flow_t *f = must_parse(text);
    ASSERT_EQ(f->timeout_s, 60);
    ASSERT_EQ(f->root.n_states, 5);
    /* "$.x" and "$inputs" are not mapping paths: constants, as the FDL docs say */
    tmpl_is(f->root.states[0].output_ctor, NULL, NULL, NULL,
            "{\"s\": \"text\", \"n\": 2.5, \"b\": true, \"z\": null, \"j\": \"$.x\", "
            "\"k\": \"$inputs\"}");
    ASSERT(f->root.states[0].next == 1 && !f->root.states[0].end);
    ASSERT(f->root.states[1].next == -1 && f->root.states[1].end);
    ASSERT(f->root.states[2].next == 3 && !f->root.states[2].end);
    ASSERT_EQ(f->root.states[2].wait_s, 60);
    ASSERT(f->root.states[3].next == -1 && !f->root.states[3].end);
    ASSERT(f->root.states[4].next == -1 && f->root.states[4].end);
    ASSERT_EQ(f->root.states[4].line, 13);
    fl_flow_free(f);
    LEAK_CHECK();
}

TEST(spec_fdl_resource_arns)
{
    static const struct {
        const char *arn, *pattern;
        int mode; /* -1: invalid */
    } cases[] = {
        {"acs:fc:::services/s/functions/f", "requestResponse", FL_MODE_REQUEST_COMPLETE},
        {"acs:fc:cn-hangzhou:1234567890123456:services/s.LATEST/functions/f", "waitForCallback",
         FL_MODE_WAIT_CALLBACK},
        {"acs:mns:::/queues/q-1/messages", "waitForCallback", FL_MODE_WAIT_CALLBACK},
        {"acs:mns:::/topics/t/messages", "requestResponse", FL_MODE_REQUEST_COMPLETE},
        {"acs:fnf:::flow/child", "sync", FL_MODE_SYNC},
        {"acs:fnf:cn-shanghai:42:flow/child_2", "sync", FL_MODE_SYNC},
        {"acs:fnf:::flow/child", "requestResponse", FL_MODE_REQUEST_COMPLETE},
        {"acs:fc:::services/s/functions/", "requestResponse", -1},
        {"acs:fc:::services//functions/f", "requestResponse", -1},
        {"acs:fc:::functions/f", "requestResponse", -1},
        {"acs:fc:::services/s/functions/f/extra", "requestResponse", -1},
        {"acs:mns:::/queues/q", "requestResponse", -1},
        {"acs:mns:::/topics/t/messages/x", "requestResponse", -1},
        {"acs:oss:::bucket/object", "requestResponse", -1},
        {"acs:fnf:::flow/1bad", "sync", -1},
        {"acs:fnf:::flows/child", "sync", -1},
        {"acs:fnf::flow/child", "sync", -1},
        {"arn:fnf:::flow/child", "sync", -1},
        {"", "requestResponse", -1},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char text[512];
        fl_flow_t *f = NULL;
        fl_diag_t d;
        snprintf(text, sizeof text,
                 "version: v1\ntype: flow\nsteps:\n  - type: task\n    name: t\n"
                 "    resourceArn: '%s'\n    pattern: %s\n",
                 cases[i].arn, cases[i].pattern);
        int rc = parse(text, &f, &d);
        if (cases[i].mode < 0) {
            if (rc == FL_OK)
                FAIL_AT("case %zu (%s) should fail", i, cases[i].arn);
            ASSERT_STR_EQ(d.path, "steps[0].resourceArn");
            ASSERT_EQ(d.line, 6);
            ASSERT_CONTAINS(d.msg, "is not supported (use acs:fc:");
        } else {
            if (rc != FL_OK)
                FAIL_AT("case %zu (%s): %s: %s", i, cases[i].arn, d.path, d.msg);
            ASSERT_STR_EQ(f->root.states[0].action, cases[i].arn);
            ASSERT_EQ(f->root.states[0].mode, cases[i].mode);
            fl_flow_free(f);
        }
    }
    LEAK_CHECK();
}

#define FDL "version: v1\ntype: flow\nsteps:\n"
#define PASS_A "  - type: pass\n    name: a\n"
#define TASK_T "  - type: task\n    name: t\n    resourceArn: acs:fc:::services/s/functions/f\n"

TEST(spec_fdl_invalid_table)
{
    static const struct {
        const char *text;
        int line;
        const char *path, *msg;
    } cases[] = {
        /* telling the languages apart, top level */
        {"foo: 1\n", 1, "", "neither CloudFlow (Type: StateMachine"},
        {"{}\n", 1, "", "nor FDL (version, type: flow, steps)"},
        {"type: flow\nsteps:\n" PASS_A, 1, "version", "version is required"},
        {"version: v2\ntype: flow\nsteps:\n" PASS_A, 1, "version",
         "version 'v2' is not supported (use v1 or v1beta1)"},
        {"version: 1\ntype: flow\n", 1, "version", "version must be a string, not an integer"},
        {"version: v1\nsteps:\n" PASS_A, 1, "type", "type is required"},
        {"version: v1\ntype: Flow\n", 2, "type", "type must be 'flow', not 'Flow'"},
        {"version: v1\ntype: flow\n", 1, "steps", "steps is required"},
        {"version: v1\ntype: flow\nsteps: []\n", 3, "steps", "steps must be a non-empty list"},
        {FDL PASS_A "name: x\n", 6, "name", "unknown field 'name' in the flow definition"},
        {"version: v1\ntype: flow\ntimeoutSeconds: -1\nsteps:\n" PASS_A, 3, "timeoutSeconds",
         "timeoutSeconds must be an integer from 0 to 31536000"},
        {"version: v1\ntype: flow\nStartAt: a\nsteps:\n" PASS_A, 3, "StartAt",
         "unknown field 'StartAt' in the flow definition"},
        /* steps */
        {FDL "  - pass\n", 4, "steps[0]", "a step must be an object, not a string"},
        {FDL "  - type: pass\n", 4, "steps[0].name", "name is required"},
        {FDL PASS_A PASS_A, 7, "steps[1].name", "duplicate step name 'a' (also steps[0], line 4)"},
        {FDL "  - name: a\n", 4, "steps[0].type", "type is required"},
        {FDL "  - type: loop\n    name: a\n", 4, "steps[0].type",
         "step type 'loop' is not supported"},
        {FDL "  - type: Pass\n    name: a\n", 4, "steps[0].type", "unknown step type 'Pass'"},
        {FDL PASS_A "    goto: a\n", 6, "steps[0].goto", "unknown field 'goto' in a pass step"},
        {FDL PASS_A "    end: 1\n", 6, "steps[0].end", "end must be true or false, not an integer"},
        /* mappings */
        {FDL PASS_A "    inputMappings: {target: a}\n", 6, "steps[0].inputMappings",
         "inputMappings must be a list of {target, source}, not an object"},
        {FDL PASS_A "    inputMappings:\n      - source: $input.a\n", 7,
         "steps[0].inputMappings[0].target", "target is required"},
        {FDL PASS_A "    inputMappings:\n      - target: ''\n", 7,
         "steps[0].inputMappings[0].target", "target must be a non-empty name"},
        {FDL PASS_A "    outputMappings:\n      - {target: x, source: 1}\n      - {target: x}\n",
         8, "steps[0].outputMappings[1].target", "duplicate target 'x'"},
        {FDL PASS_A "    outputMappings:\n      - {target: x, source: [1]}\n", 7,
         "steps[0].outputMappings[0].source", "source must be a path"},
        {FDL PASS_A "    outputMappings:\n      - {target: x, from: $input}\n", 7,
         "steps[0].outputMappings[0].from", "unknown field 'from' in a mapping"},
        {FDL PASS_A "    outputMappings:\n      - {target: x, source: '$input.a +'}\n", 7,
         "steps[0].outputMappings[0].source", "invalid expression '$input.a +'"},
        {"version: v1\ntype: flow\noutputMappings:\n  - {target: 5}\nsteps:\n" PASS_A, 4,
         "outputMappings[0].target", "target must be a string, not an integer"},
        /* task */
        {FDL "  - type: task\n    name: t\n", 4, "steps[0].resourceArn", "resourceArn is required"},
        {FDL TASK_T "    action: acs:fc:::services/s/functions/f\n", 7, "steps[0].action",
         "give either resourceArn or action, not both"},
        {FDL TASK_T "    pattern: sync\n", 7, "steps[0].pattern",
         "pattern 'sync' needs a sub-flow resource (acs:fnf:::flow/<flow>)"},
        {FDL TASK_T "    pattern: async\n", 7, "steps[0].pattern", "unknown pattern 'async'"},
        {FDL TASK_T "    timeoutSeconds: 1.5\n", 7, "steps[0].timeoutSeconds",
         "timeoutSeconds must be an integer"},
        {FDL TASK_T "    serviceParams: [1]\n", 7, "steps[0].serviceParams",
         "serviceParams must be an object, not a list"},
        {FDL TASK_T "    serviceParams:\n      Body.$: $input\n", 8, "steps[0].serviceParams.Body.$",
         "serviceParams keys cannot end with '.$'"},
        {FDL TASK_T "    serviceParams:\n      A:\n        B: $nope\n", 9,
         "steps[0].serviceParams.A.B", "invalid expression '$nope'"},
        {FDL TASK_T "    retry:\n      - maxAttempts: 2\n", 8, "steps[0].retry[0].errors",
         "errors is required"},
        {FDL TASK_T "    retry:\n      - errors: [a]\n        multiplier: 0.5\n", 9,
         "steps[0].retry[0].multiplier", "multiplier must be a number from 1 to 1000"},
        {FDL TASK_T "    retry:\n      - errors: [a]\n        IntervalSeconds: 1\n", 9,
         "steps[0].retry[0].IntervalSeconds", "unknown field 'IntervalSeconds' in a retry rule"},
        {FDL TASK_T "    retry: {errors: [a]}\n", 7, "steps[0].retry", "retry must be a list"},
        {FDL TASK_T "    catch:\n      - errors: [a]\n", 8, "steps[0].catch[0].goto",
         "goto is required"},
        {FDL TASK_T "    catch:\n      - errors: [a]\n        goto: nowhere\n", 9,
         "steps[0].catch[0].goto", "goto names an unknown step 'nowhere'"},
        {FDL TASK_T "    catch:\n      - errors: []\n        goto: t\n", 8,
         "steps[0].catch[0].errors", "errors must be a non-empty list"},
        {FDL TASK_T "    errorMappings:\n      - target: e\n        source: $local.error\n"
                    "      - source: $local.cause\n",
         10, "steps[0].errorMappings[1].target", "target is required"},
        /* wait, fail */
        {FDL "  - type: wait\n    name: w\n", 4, "steps[0].duration",
         "duration or timestamp is required for a wait step"},
        {FDL "  - type: wait\n    name: w\n    duration: 1\n    timestamp: $input.t\n", 7,
         "steps[0].timestamp", "give either duration or timestamp, not both"},
        {FDL "  - type: wait\n    name: w\n    duration: soon\n", 6, "steps[0].duration",
         "duration must be an integer from 0 to 31536000 or a path"},
        {"version: v1\ntype: flow\ntimeoutSeconds: 10\nsteps:\n  - type: wait\n    name: w\n"
         "    duration: 11\n",
         7, "steps[0].duration", "duration must be an integer from 0 to 10"},
        {FDL "  - type: wait\n    name: w\n    timestamp: tomorrow\n", 6, "steps[0].timestamp",
         "timestamp must be a path such as $input.when or an RFC 3339 time"},
        {FDL "  - type: wait\n    name: w\n    timestamp: 5\n", 6, "steps[0].timestamp",
         "timestamp must be a path or an RFC 3339 time, not an integer"},
        {FDL "  - type: fail\n    name: f\n    error: 5\n", 6, "steps[0].error",
         "error must be a string, not an integer"},
        {FDL "  - type: fail\n    name: f\n    code: E\n", 6, "steps[0].code",
         "unknown field 'code' in a fail step"},
        /* choice */
        {FDL "  - type: choice\n    name: c\n", 4, "steps[0].choices",
         "choices is required for a choice step"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - goto: c\n", 7,
         "steps[0].choices[0].condition", "condition is required"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - condition: $.a\n", 7,
         "steps[0].choices[0]", "a choice needs goto or steps"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - condition: $.a\n        goto: c\n"
             "        steps:\n          - {type: pass, name: p}\n",
         9, "steps[0].choices[0].steps", "give either goto or steps, not both"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - condition: $.a ==\n        goto: c\n",
         7, "steps[0].choices[0].condition", "invalid expression"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - condition: $.a\n        goto: x\n",
         8, "steps[0].choices[0].goto", "goto names an unknown step 'x'"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - condition: $.a\n        goto: c\n"
             "    default: c\n",
         9, "steps[0].default", "default must be an object with goto or steps, not a string"},
        {FDL "  - type: choice\n    name: c\n    choices:\n      - condition: $.a\n        goto: c\n"
             "    default:\n      next: c\n",
         10, "steps[0].default.next", "unknown field 'next' in a choice default"},
        /* goto never leaves its list */
        {FDL PASS_A "  - type: choice\n    name: c\n    choices:\n      - condition: $.a\n"
                    "        steps:\n          - type: pass\n            name: in\n"
                    "    default:\n      goto: in\n",
         14, "steps[1].default.goto", "goto names an unknown step 'in'"},
        {FDL PASS_A "  - type: parallel\n    name: p\n    branches:\n      - steps:\n"
                    "          - type: task\n            name: t\n"
                    "            resourceArn: acs:fc:::services/s/functions/f\n"
                    "            catch:\n              - errors: [x]\n                goto: a\n",
         15, "steps[1].branches[0].steps[0].catch[0].goto", "goto names an unknown step 'a'"},
        /* parallel, foreach */
        {FDL "  - type: parallel\n    name: p\n", 4, "steps[0].branches",
         "branches is required for a parallel step"},
        {FDL "  - type: parallel\n    name: p\n    branches:\n      - steps: []\n", 7,
         "steps[0].branches[0].steps", "steps must be a non-empty list"},
        {FDL "  - type: parallel\n    name: p\n    branches:\n      - name: b\n", 7,
         "steps[0].branches[0].name", "unknown field 'name' in a parallel branch"},
        {FDL "  - type: parallel\n    name: p\n    branches:\n      - steps:\n"
             "          - {type: pass, name: x}\n          - {type: pass, name: x}\n",
         9, "steps[0].branches[0].steps[1].name", "duplicate step name 'x'"},
        {FDL "  - type: foreach\n    name: e\n    steps:\n      - {type: pass, name: x}\n", 4,
         "steps[0].iterationMapping", "iterationMapping is required for a foreach step"},
        {FDL "  - type: foreach\n    name: e\n    iterationMapping:\n      item: it\n"
             "    steps:\n      - {type: pass, name: x}\n",
         7, "steps[0].iterationMapping.collection", "collection is required"},
        {FDL "  - type: foreach\n    name: e\n    iterationMapping:\n      collection: $.l\n"
             "    steps:\n      - {type: pass, name: x}\n",
         7, "steps[0].iterationMapping.item", "item is required"},
        {FDL "  - type: foreach\n    name: e\n    iterationMapping:\n      collection: $.l\n"
             "      item: it\n",
         4, "steps[0].steps", "steps is required"},
        {FDL "  - type: foreach\n    name: e\n    iterationMapping: {collection: $.l, item: it}\n"
             "    maxConcurrency: 101\n    steps:\n      - {type: pass, name: x}\n",
         7, "steps[0].maxConcurrency", "maxConcurrency must be an integer from 0 to 100"},
        {FDL "  - type: foreach\n    name: e\n    iterationMapping: {collection: $.l, item: it, "
             "as: x}\n    steps:\n      - {type: pass, name: x}\n",
         6, "steps[0].iterationMapping.as", "unknown field 'as' in iterationMapping"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_flow_t *f = NULL;
        fl_diag_t d;
        if (parse(cases[i].text, &f, &d) == FL_OK)
            FAIL_AT("case %zu should fail:\n%s", i, cases[i].text);
        ASSERT(f == NULL);
        if (d.line != cases[i].line || strcmp(d.path, cases[i].path) ||
            !strstr(d.msg, cases[i].msg))
            FAIL_AT("case %zu:\n%s\n  got:  line %d: %s: %s\n  want: line %d: %s: ...%s...", i,
                    cases[i].text, d.line, d.path, d.msg, cases[i].line, cases[i].path,
                    cases[i].msg);
        ASSERT(d.col > 0);
    }
    LEAK_CHECK();
}

TEST(spec_fdl_limits)
{
    fl_flow_t *f;
    fl_diag_t d;
    fl_buf_t b;
    /* 101 parallel branches are refused, 100 accepted */
    for (int n = 100; n <= 101; n++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, FDL "  - type: parallel\n    name: p\n    branches:\n");
        for (int i = 0; i < n; i++)
            fl_buf_printf(&b, "      - steps: [{type: pass, name: s%d}]\n", i);
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (n == 100) {
            ASSERT_OK(rc);
            ASSERT_EQ(f->root.states[0].n_branches, 100);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_STR_EQ(d.path, "steps[0].branches");
            ASSERT_CONTAINS(d.msg, "1 to 100 branches");
        }
        fl_buf_free(&b);
    }
    /* states are counted over all lists: 1 + 999 nested is fine, 1 + 1000 is not */
    for (int n = 999; n <= 1000; n++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, FDL "  - type: parallel\n    name: p\n    branches:\n      - steps:\n");
        for (int i = 0; i < n; i++)
            fl_buf_printf(&b, "          - {type: pass, name: s%d}\n", i);
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (n == 999) {
            ASSERT_OK(rc);
            ASSERT_EQ(f->root.states[0].branches[0].n_states, 999);
            ASSERT_EQ(f->root.states[0].branches[0].states[997].next, 998);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_STR_EQ(d.path, "steps[0].branches[0].steps");
            ASSERT_CONTAINS(d.msg, "at most 1000");
        }
        fl_buf_free(&b);
    }
    /* deep nesting of step lists stops at the YAML depth limit, without a crash */
    fl_buf_init(&b);
    fl_buf_puts(&b, FDL);
    for (int i = 0; i < 40; i++) {
        fl_buf_printf(&b, "%*s- type: parallel\n%*s  name: p\n%*s  branches:\n%*s  - steps:\n",
                      2 + 6 * i, "", 2 + 6 * i, "", 2 + 6 * i, "", 2 + 6 * i, "");
    }
    fl_buf_printf(&b, "%*s- {type: pass, name: x}\n", 2 + 6 * 40, "");
    ASSERT(fl_spec_parse(b.data, b.len, &f, &d) != FL_OK);
    ASSERT_CONTAINS(d.msg, "nests deeper than 64 levels");
    fl_buf_free(&b);
    LEAK_CHECK();
}
