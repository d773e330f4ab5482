/*
 * test_spec.c - the CloudFlow definition parser (src/spec/spec.c): complete valid flows in
 * YAML and JSON, scalar typing, a table of invalid definitions with the expected line,
 * path and message, input limits, and the data cases under tests/cases/spec/.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "spec/spec.h"
#include "test.h"

static int parse(const char *text, fl_flow_t **f, fl_diag_t *d)
{
    return fl_spec_parse(text, strlen(text), f, d);
}

/* Formats a diagnostic the way the expect files spell it: "line 7: States[1].Next: msg". */
static void diag_str(const fl_diag_t *d, char *buf, size_t n)
{
    if (d->path[0])
        snprintf(buf, n, "line %d: %s: %s", d->line, d->path, d->msg);
    else
        snprintf(buf, n, "line %d: %s", d->line, d->msg);
}

static fl_flow_t *must_parse(const char *text)
{
    fl_flow_t *f = NULL;
    fl_diag_t d;
    char buf[1024];
    if (parse(text, &f, &d) != FL_OK) {
        diag_str(&d, buf, sizeof buf);
        FAIL_AT("unexpected error: %s", buf);
    }
    return f;
}

static const char ORDER_YAML[] =
    "Type: StateMachine\n"
    "Name: order-approval\n"
    "SpecVersion: v1\n"
    "Description: approval flow\n"
    "Timeout: 86400\n"
    "StartAt: RequestApproval\n"
    "States:\n"
    "  - Type: Task\n"
    "    Name: RequestApproval\n" /* line 9 */
    "    Action: HTTP:Request\n"
    "    TaskMode: WaitForCustomCallback\n"
    "    Timeout: 3600\n"
    "    Parameters:\n"
    "      URL: https://approvals.example.com/requests\n"
    "      Method: POST\n"
    "      Headers:\n"
    "        Content-Type: application/json\n"
    "      Body:\n"
    "        orderId.$: $Input.orderId\n"
    "        amount.$: $Input.amount * 100\n"
    "        taskToken.$: $Context.Current.TaskToken\n"
    "    OutputConstructor:\n"
    "      orderId.$: $Input.orderId\n"
    "      approved.$: $Output.approved\n"
    "    Retry:\n"
    "      - Errors: [HTTP.ConnectionError, HTTP.StatusCode.503]\n"
    "        Description: transient\n"
    "        IntervalSeconds: 2\n"
    "        MaxAttempts: 5\n"
    "        BackoffRate: 2\n"
    "        MaxBackoffSeconds: 30\n"
    "      - Errors:\n"
    "          - FnF.ALL\n"
    "    Catch:\n"
    "      - Errors: [FnF.TaskTimeout]\n"
    "        Next: Escalate\n"
    "      - Errors: [ApprovalRejected]\n"
    "        OutputConstructor:\n"
    "          reason.$: $Context.Current.Error.Detail\n"
    "        Next: Rejected\n"
    "    Next: CheckApproval\n"
    "  - Type: Choice\n"
    "    Name: CheckApproval\n"
    "    Branches:\n"
    "      - Condition: $Input.approved == true && $Input.orderId != null\n"
    "        Next: WaitABit\n"
    "    Default: Rejected\n"
    "  - Type: Wait\n"
    "    Name: WaitABit\n"
    "    Seconds: 5\n"
    "    Next: Ship\n"
    "  - Type: Pass\n"
    "    Name: Ship\n"
    "    InputConstructor: {id.$: $Input.orderId}\n"
    "    End: true\n"
    "  - Type: Pass\n"
    "    Name: Escalate\n"
    "    Comment: reached only through Catch\n"
    "    OutputConstructor:\n"
    "      status: escalated\n"
    "    Next: Done\n"
    "  - Type: Succeed\n"
    "    Name: Done\n"
    "  - Type: Fail\n"
    "    Name: Rejected\n"
    "    Code: OrderRejected\n"
    "    Detail: approval was rejected\n";

TEST(spec_valid_yaml_full)
{
    fl_flow_t *f = must_parse(ORDER_YAML);
    ASSERT_STR_EQ(f->name, "order-approval");
    ASSERT_EQ(f->timeout_s, 86400);
    ASSERT_EQ(f->root.n_states, 7);
    ASSERT_EQ(f->root.start, 0);

    const fl_state_t *t = &f->root.states[0];
    ASSERT_STR_EQ(t->name, "RequestApproval");
    ASSERT_EQ(t->type, FL_ST_TASK);
    ASSERT_EQ(t->line, 8);
    ASSERT_STR_EQ(t->action, "HTTP:Request");
    ASSERT_EQ(t->mode, FL_MODE_WAIT_CALLBACK);
    ASSERT_EQ(t->timeout_s, 3600);
    ASSERT_EQ(t->next, 1);
    ASSERT(!t->end && t->parameters && t->output_ctor && !t->input_ctor);
    ASSERT_EQ(t->n_retry, 2);
    ASSERT_EQ(t->retry[0].n_errors, 2);
    ASSERT_STR_EQ(t->retry[0].errors[1], "HTTP.StatusCode.503");
    ASSERT(t->retry[0].interval_s == 2 && t->retry[0].backoff_rate == 2 &&
           t->retry[0].max_backoff_s == 30);
    ASSERT_EQ(t->retry[0].max_attempts, 5);
    /* defaults: 1 s, 3 attempts, constant interval, no cap */
    ASSERT(t->retry[1].interval_s == 1 && t->retry[1].backoff_rate == 1 &&
           t->retry[1].max_backoff_s == 0);
    ASSERT_EQ(t->retry[1].max_attempts, 3);
    ASSERT_EQ(t->n_catches, 2);
    ASSERT_EQ(t->catches[0].next, 4);
    ASSERT(t->catches[0].output_ctor == NULL);
    ASSERT_EQ(t->catches[1].next, 6);
    ASSERT(t->catches[1].output_ctor != NULL);

    const fl_state_t *ch = &f->root.states[1];
    ASSERT_EQ(ch->type, FL_ST_CHOICE);
    ASSERT_EQ(ch->n_choices, 1);
    ASSERT_EQ(ch->choices[0].next, 2);
    ASSERT_EQ(ch->default_next, 6);
    ASSERT_EQ(ch->next, -1);

    ASSERT_EQ(f->root.states[2].type, FL_ST_WAIT);
    ASSERT_EQ(f->root.states[2].wait_s, 5);
    ASSERT(f->root.states[2].wait_expr == NULL);
    ASSERT_EQ(f->root.states[3].end, 1);
    ASSERT_EQ(f->root.states[3].next, -1);
    ASSERT(f->root.states[3].input_ctor != NULL);
    ASSERT_EQ(f->root.states[4].next, 5);
    ASSERT_EQ(f->root.states[5].type, FL_ST_SUCCEED);
    ASSERT_STR_EQ(f->root.states[6].fail_code, "OrderRejected");
    ASSERT_STR_EQ(f->root.states[6].fail_detail, "approval was rejected");

    /* the compiled pieces work */
    json_t *in = json_pack("{s:s, s:i, s:b}", "orderId", "o-1", "amount", 42, "approved", 1);
    json_t *ctx = json_pack("{s:{s:s}}", "Current", "TaskToken", "tok");
    fl_env_t env = {in, NULL, ctx};
    json_t *params;
    char err[256];
    ASSERT_OK(fl_tmpl_eval(t->parameters, &env, &params, err, sizeof err));
    json_t *body = json_object_get(params, "Body");
    ASSERT_STR_EQ(json_string_value(json_object_get(params, "URL")),
                  "https://approvals.example.com/requests");
    ASSERT_EQ(json_integer_value(json_object_get(body, "amount")), 4200);
    ASSERT_STR_EQ(json_string_value(json_object_get(body, "taskToken")), "tok");
    bool ok = false;
    ASSERT_OK(fl_expr_eval_bool(ch->choices[0].cond, &env, &ok, err, sizeof err));
    ASSERT(ok);
    json_decref(params);
    json_decref(in);
    json_decref(ctx);
    fl_flow_free(f);
}

TEST(spec_valid_json)
{
    const char *text =
        "{\"Type\": \"StateMachine\", \"SpecVersion\": \"v1\", \"Name\": \"j\",\n"
        " \"StartAt\": \"Check\",\n"
        " \"States\": [\n"
        "  {\"Type\": \"Choice\", \"Name\": \"Check\",\n"
        "   \"Branches\": [{\"Condition\": \"$Input.n > 1\", \"Next\": \"Call\"}],\n"
        "   \"Default\": \"Sleep\"},\n"
        "  {\"Type\": \"Task\", \"Name\": \"Call\", \"Action\": \"HTTP:Request\",\n"
        "   \"Parameters\": {\"URL.$\": \"$Input.url\", \"Method\": \"GET\",\n"
        "                  \"Body\": [1, {\"x.$\": \"$Input.n\"}]},\n"
        "   \"End\": true},\n"
        "  {\"Type\": \"Wait\", \"Name\": \"Sleep\", \"Seconds.$\": \"$Input.n * 2\",\n"
        "   \"Next\": \"Stop\"},\n"
        "  {\"Type\": \"Fail\", \"Name\": \"Stop\"}\n"
        " ]}\n";
    fl_flow_t *f = must_parse(text);
    ASSERT_STR_EQ(f->name, "j");
    ASSERT_EQ(f->timeout_s, 0);
    ASSERT_EQ(f->root.n_states, 4);
    ASSERT_EQ(f->root.states[1].line, 7);
    ASSERT_EQ(f->root.states[1].mode, FL_MODE_REQUEST_COMPLETE);
    ASSERT_EQ(f->root.states[1].end, 1);
    ASSERT(f->root.states[2].wait_expr != NULL);
    ASSERT(f->root.states[3].fail_code == NULL && f->root.states[3].fail_detail == NULL);

    json_t *in = json_pack("{s:i, s:s}", "n", 3, "url", "http://h/");
    fl_env_t env = {in, NULL, NULL};
    json_t *v;
    char err[128];
    ASSERT_OK(fl_expr_eval(f->root.states[2].wait_expr, &env, &v, err, sizeof err));
    ASSERT_EQ(json_integer_value(v), 6);
    json_decref(v);
    ASSERT_OK(fl_tmpl_eval(f->root.states[1].parameters, &env, &v, err, sizeof err));
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "URL")), "http://h/");
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(json_object_get(v, "Body"), 1),
                                                 "x")),
              3);
    json_decref(v);
    json_decref(in);
    fl_flow_free(f);
}

TEST(spec_scalar_typing)
{
    const char *text = "Type: StateMachine\n"
                       "SpecVersion: v1\n"
                       "StartAt: P\n"
                       "States:\n"
                       "  - Name: P\n"
                       "    Type: Pass\n"
                       "    End: True\n"
                       "    InputConstructor:\n"
                       "      n1: null\n"
                       "      n2: ~\n"
                       "      n3:\n"
                       "      n4: NULL\n"
                       "      b1: true\n"
                       "      b2: False\n"
                       "      b3: TRUE\n"
                       "      s1: yes\n"
                       "      s2: \"true\"\n"
                       "      s3: '123'\n"
                       "      i1: 42\n"
                       "      i2: -7\n"
                       "      i3: +8\n"
                       "      f1: 1.5\n"
                       "      f2: 1e3\n"
                       "      f3: .5\n"
                       "      s4: 0x1F\n"
                       "      s5: 1e999\n"
                       "      big: 99999999999999999999\n"
                       "      s6: hello world\n"
                       "      s7: |\n"
                       "        multi\n"
                       "      s8: !!str 12\n"
                       "      s9: 1.2.3\n"
                       "      l: [1, \"2\", {a: b}]\n";
    const char *want = "{\"n1\": null, \"n2\": null, \"n3\": null, \"n4\": null, \"b1\": true,"
                       " \"b2\": false, \"b3\": true, \"s1\": \"yes\", \"s2\": \"true\","
                       " \"s3\": \"123\", \"i1\": 42, \"i2\": -7, \"i3\": 8, \"f1\": 1.5,"
                       " \"f2\": 1000.0, \"f3\": 0.5, \"s4\": \"0x1F\", \"s5\": \"1e999\","
                       " \"big\": 1e20, \"s6\": \"hello world\", \"s7\": \"multi\\n\","
                       " \"s8\": \"12\", \"s9\": \"1.2.3\", \"l\": [1, \"2\", {\"a\": \"b\"}]}";
    fl_flow_t *f = must_parse(text);
    json_t *v, *w = json_loads(want, 0, NULL);
    char err[64];
    ASSERT(w);
    ASSERT_OK(fl_tmpl_eval(f->root.states[0].input_ctor, NULL, &v, err, sizeof err));
    if (!json_equal(v, w)) {
        char *s = json_dumps(v, JSON_SORT_KEYS);
        FAIL_AT("got %s", s);
    }
    json_decref(v);
    json_decref(w);
    fl_flow_free(f);
}

#define HDR "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n"
#define TASK_A "  - Name: A\n    Type: Task\n    Action: HTTP:Request\n    End: true\n"
#define URL "    Parameters: {URL: 'http://h/'}\n"

TEST(spec_invalid_table)
{
    static const struct {
        const char *text;
        int line;
        const char *path, *msg;
    } cases[] = {
        /* top level */
        {"SpecVersion: v1\nStartAt: A\nStates: [{Name: A, Type: Succeed}]\n", 1, "Type",
         "Type is required"},
        {"Type: Workflow\nSpecVersion: v1\n", 1, "Type", "Type must be 'StateMachine', not 'Workflow'"},
        {"Type: StateMachine\nSpecVersion: v2\n", 2, "SpecVersion", "SpecVersion 'v2' is not supported"},
        {"Type: StateMachine\nStartAt: A\n", 1, "SpecVersion", "SpecVersion is required"},
        {"Type: StateMachine\nSpecVersion: v1\nversion: v1\n", 3, "version",
         "unknown field 'version' in the flow definition"},
        {"Type: StateMachine\nSpecVersion: v1\nName: 1bad\n", 3, "Name", "Name must be 1 to 128"},
        {"Type: StateMachine\nSpecVersion: v1\nTimeout: -5\n", 3, "Timeout",
         "Timeout must be an integer from 0 to 31536000"},
        {"Type: StateMachine\nSpecVersion: v1\nDescription: {a: 1}\n", 3, "Description",
         "Description must be text"},
        {"Type: StateMachine\nSpecVersion: v1\nStates: [{Name: A, Type: Succeed}]\n", 1,
         "StartAt", "StartAt is required"},
        {"Type: StateMachine\nSpecVersion: v1\nStartAt: A\n", 1, "States", "States is required"},
        {HDR "  []\n", 5, "States", "States must be a non-empty list"},
        {"Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates: {A: 1}\n", 4, "States",
         "States must be a non-empty list"},
        {"Type: StateMachine\nSpecVersion: v1\nStartAt: B\nStates: [{Name: A, Type: Succeed}]\n",
         3, "StartAt", "StartAt names an unknown state 'B'"},
        {"- 1\n- 2\n", 1, "", "the definition must be an object, not a list"},
        /* state basics */
        {HDR "  - hello\n", 5, "States[0]", "a state must be an object, not a string"},
        {HDR "  - Type: Succeed\n", 5, "States[0].Name", "Name is required"},
        {HDR "  - {Name: 5, Type: Succeed}\n", 5, "States[0].Name", "Name must be a string, not an integer"},
        {HDR "  - {Name: A, Type: Succeed}\n  - {Name: A, Type: Succeed}\n", 6, "States[1].Name",
         "duplicate state name 'A' (also States[0], line 5)"},
        {HDR "  - {Name: '', Type: Succeed}\n", 5, "States[0].Name", "Name must be 1 to 128"},
        {HDR "  - {Name: A}\n", 5, "States[0].Type", "Type is required"},
        {HDR "  - {Name: A, Type: Parallel, End: true}\n", 5, "States[0].Branches",
         "Branches is required for a Parallel state"},
        {HDR "  - {Name: A, Type: Map, End: true}\n", 5, "States[0].ItemsPath",
         "ItemsPath is required"},
        {HDR "  - {Name: A, Type: pass}\n", 5, "States[0].Type", "unknown state type 'pass'"},
        {HDR "  - Name: A\n    Type: Pass\n", 5, "States[0]",
         "state 'A' needs either Next or End: true"},
        {HDR "  - Name: A\n    Type: Pass\n    End: false\n", 5, "States[0]", "needs either Next or End"},
        {HDR "  - Name: A\n    Type: Pass\n    Next: Foo\n", 7, "States[0].Next",
         "Next names an unknown state 'Foo'"},
        {HDR "  - Name: A\n    Type: Pass\n    Next: A\n    End: true\n", 8, "States[0].End",
         "a state cannot have both Next and End: true"},
        {HDR "  - Name: A\n    Type: Pass\n    End: yes\n", 7, "States[0].End",
         "End must be true or false, not a string"},
        {HDR "  - Name: A\n    Type: Pass\n    Next: 3\n", 7, "States[0].Next",
         "Next must be a string, not an integer"},
        {HDR "  - Name: A\n    Type: Pass\n    End: true\n    Resource: x\n", 8,
         "States[0].Resource", "unknown field 'Resource' in a Pass state"},
        {HDR "  - Name: A\n    Type: Succeed\n    End: true\n", 7, "States[0].End",
         "a Succeed state cannot have End"},
        {HDR "  - Name: A\n    Type: Pass\n    End: true\n    InputConstructor: [1]\n", 8,
         "States[0].InputConstructor", "InputConstructor must be an object, not a list"},
        {HDR "  - Name: A\n    Type: Pass\n    End: true\n    InputConstructor:\n      body:\n"
             "        x.$: size($Input)\n",
         10, "States[0].InputConstructor.body.x.$", "unknown function 'size'"},
        {HDR "  - Name: A\n    Type: Pass\n    End: true\n    OutputConstructor:\n      l:\n"
             "        - {y.$: 5}\n",
         10, "States[0].OutputConstructor.l[0].y.$", "the value of 'y.$' must be an expression string"},
        {HDR "  - Name: A\n    Type: Pass\n    End: true\n    OutputConstructor:\n      a: 1\n"
             "      a.$: $Input\n",
         10, "States[0].OutputConstructor.a.$", "'a' is given both as 'a' and as 'a.$'"},
        {HDR "  - {Name: A, Type: Succeed}\n  - {Name: B, Type: Succeed}\n", 6, "States[1]",
         "state 'B' is not reachable from StartAt"},
        {HDR "  - {Name: A, Type: Pass, Next: C}\n  - {Name: B, Type: Pass, Next: C}\n"
             "  - {Name: C, Type: Succeed}\n",
         6, "States[1]", "state 'B' is not reachable"},
        /* Task */
        {HDR "  - Name: A\n    Type: Task\n    End: true\n", 5, "States[0].Action", "Action is required"},
        {HDR "  - Name: A\n    Type: Task\n    Action: FC:InvokeFunction\n    End: true\n", 5,
         "States[0].Parameters", "Parameters with a resourceArn is required for FC:InvokeFunction"},
        {HDR TASK_A "    TaskMode: WaitForSystemCallback\n" URL, 9, "States[0].TaskMode",
         "TaskMode 'WaitForSystemCallback' is not supported with HTTP:Request"},
        {HDR TASK_A "    TaskMode: Async\n" URL, 9, "States[0].TaskMode", "unknown TaskMode 'Async'"},
        {HDR TASK_A, 5, "States[0].Parameters", "Parameters with a URL is required for HTTP:Request"},
        {HDR TASK_A "    Parameters: {Method: GET}\n", 9, "States[0].Parameters.URL",
         "URL is required for HTTP:Request"},
        {HDR TASK_A "    Parameters: {URL: 'ftp://h/'}\n", 9, "States[0].Parameters.URL",
         "URL must start with http:// or https://"},
        {HDR TASK_A "    Parameters: {URL: 'http://h/', URL.$: $Input.u}\n", 9,
         "States[0].Parameters.URL.$", "give either URL or URL.$, not both"},
        {HDR TASK_A "    Parameters: {URL: 'http://h/', Method: FETCH}\n", 9,
         "States[0].Parameters.Method", "Method 'FETCH' is not supported"},
        {HDR TASK_A "    Parameters: {URL: 'http://h/', Headers: [a]}\n", 9,
         "States[0].Parameters.Headers", "Headers must be an object"},
        {HDR TASK_A "    Parameters:\n      URL: 'http://h/'\n      Query: {a: 1}\n", 11,
         "States[0].Parameters.Query", "unknown field 'Query' in HTTP:Request Parameters"},
        {HDR TASK_A "    Parameters:\n      URL.$: $Input.u +\n", 10,
         "States[0].Parameters.URL.$", "unexpected end of expression"},
        {HDR TASK_A URL "    Timeout: 604801\n", 10, "States[0].Timeout",
         "Timeout must be an integer from 0 to 604800"},
        {HDR TASK_A URL "    Timeout: '60'\n", 10, "States[0].Timeout", "Timeout must be an integer"},
        {HDR TASK_A URL "    Retry: {Errors: [x]}\n", 10, "States[0].Retry", "Retry must be a list"},
        {HDR TASK_A URL "    Retry:\n      - MaxAttempts: 2\n", 11, "States[0].Retry[0].Errors",
         "Errors is required"},
        {HDR TASK_A URL "    Retry:\n      - Errors: []\n", 11, "States[0].Retry[0].Errors",
         "Errors must be a non-empty list"},
        {HDR TASK_A URL "    Retry:\n      - Errors: [a, '']\n", 11,
         "States[0].Retry[0].Errors[1]", "an error name must be a string of 1 to 128 characters"},
        {HDR TASK_A URL "    Retry:\n      - Errors: [a]\n      - Errors: [b]\n        MaxAttempts: -1\n",
         13, "States[0].Retry[1].MaxAttempts", "MaxAttempts must be an integer from 0"},
        {HDR TASK_A URL "    Retry:\n      - Errors: [a]\n        MaxAttempts: 2.5\n", 12,
         "States[0].Retry[0].MaxAttempts", "MaxAttempts must be an integer"},
        {HDR TASK_A URL "    Retry:\n      - Errors: [a]\n        BackoffRate: 0.5\n", 12,
         "States[0].Retry[0].BackoffRate", "BackoffRate must be a number from 1 to 1000"},
        {HDR TASK_A URL "    Retry:\n      - Errors: [a]\n        IntervalSeconds: 86401\n", 12,
         "States[0].Retry[0].IntervalSeconds", "IntervalSeconds must be a number from 0 to 86400"},
        {HDR TASK_A URL "    Retry:\n      - Errors: [a]\n        MaxBackoffSeconds: -1\n", 12,
         "States[0].Retry[0].MaxBackoffSeconds", "MaxBackoffSeconds must be a number"},
        {HDR TASK_A URL "    Retry:\n      - ErrorEquals: [a]\n", 11,
         "States[0].Retry[0].ErrorEquals", "unknown field 'ErrorEquals' in a Retry rule"},
        {HDR TASK_A URL "    Catch:\n      - Errors: [a]\n", 11, "States[0].Catch[0].Next",
         "Next is required"},
        {HDR TASK_A URL "    Catch:\n      - Errors: [a]\n        Next: Nowhere\n", 12,
         "States[0].Catch[0].Next", "Next names an unknown state 'Nowhere'"},
        {HDR TASK_A URL "    Catch:\n      - Errors: [a]\n        Next: A\n        OutputConstructor: {a.$: '$Input['}\n",
         13, "States[0].Catch[0].OutputConstructor.a.$", "invalid expression"},
        /* Choice */
        {HDR "  - {Name: A, Type: Choice, Default: A}\n", 5, "States[0].Branches",
         "Branches is required for a Choice state"},
        {HDR "  - {Name: A, Type: Choice, Default: A, Branches: []}\n", 5, "States[0].Branches",
         "Branches must be a non-empty list"},
        {HDR "  - Name: A\n    Type: Choice\n    Branches:\n      - Next: A\n    Default: A\n", 8,
         "States[0].Branches[0].Condition", "Condition is required"},
        {HDR "  - Name: A\n    Type: Choice\n    Branches:\n      - Condition: true\n        Next: A\n"
             "    Default: A\n",
         8, "States[0].Branches[0].Condition", "Condition must be a string, not a boolean"},
        {HDR "  - Name: A\n    Type: Choice\n    Branches:\n      - Condition: contains($Input.s, 'x')\n"
             "        Next: A\n    Default: A\n",
         8, "States[0].Branches[0].Condition", "unknown function 'contains'"},
        {HDR "  - Name: A\n    Type: Choice\n    Branches:\n      - Condition: $Input.a == 1\n"
             "        Next: Z\n    Default: A\n",
         9, "States[0].Branches[0].Next", "Next names an unknown state 'Z'"},
        {HDR "  - Name: A\n    Type: Choice\n    Branches:\n      - Condition: $Input.a == 1\n"
             "        Next: A\n",
         5, "States[0].Default", "Default is required"},
        {HDR "  - Name: A\n    Type: Choice\n    Branches:\n      - Condition: $Input.a == 1\n"
             "        Next: A\n    Default: A\n    Next: A\n",
         11, "States[0].Next", "a Choice state cannot have Next"},
        /* Wait */
        {HDR "  - {Name: A, Type: Wait, End: true}\n", 5, "States[0].Seconds",
         "Seconds, Seconds.$, Timestamp or Timestamp.$ is required for a Wait state"},
        {HDR "  - {Name: A, Type: Wait, End: true, Seconds: 1, Seconds.$: $Input.n}\n", 5,
         "States[0].Seconds.$", "give only one of Seconds, Seconds.$, Timestamp and Timestamp.$"},
        {HDR "  - {Name: A, Type: Wait, End: true, Seconds: -1}\n", 5, "States[0].Seconds",
         "Seconds must be an integer from 0 to 31536000"},
        {"Type: StateMachine\nSpecVersion: v1\nTimeout: 60\nStartAt: A\nStates:\n"
         "  - {Name: A, Type: Wait, End: true, Seconds: 61}\n",
         6, "States[0].Seconds", "Seconds must be an integer from 0 to 60"},
        {HDR "  - {Name: A, Type: Wait, End: true, Seconds.$: '$Input.n +* 2'}\n", 5,
         "States[0].Seconds.$", "invalid expression"},
        /* Fail */
        {HDR "  - {Name: A, Type: Fail, Code.$: $Input.c}\n", 5, "States[0].Code.$",
         "Code.$ is not supported yet"},
        {HDR "  - {Name: A, Type: Fail, Detail.$: $Input.c}\n", 5, "States[0].Detail.$",
         "Detail.$ is not supported yet"},
        {HDR "  - {Name: A, Type: Fail, Code: 500}\n", 5, "States[0].Code",
         "Code must be a string, not an integer"},
        /* YAML level */
        {"Type: StateMachine\nSpecVersion: v1\n  StartAt: A\n", 3, "", "YAML syntax error"},
        {"Type: [StateMachine\n", 1, "", "YAML syntax error"},
        {HDR "  - Name: A\n    Type: Succeed\n    Type: Pass\n", 7, "States[0].Type",
         "duplicate key 'Type' (first given on line 6)"},
        {"Type: StateMachine\nx: &a [1, 2]\ny: *a\n", 2, "", "YAML anchors (&a) are not supported"},
        {"Type: StateMachine\ny: *a\n", 2, "", "YAML aliases (*name) are not supported"},
        {"Type: StateMachine\n---\nType: StateMachine\n", 2, "", "a single YAML document"},
        {"", 1, "", "the definition is empty"},
        {"# only a comment\n", 1, "", "the definition is empty"},
        {"Type: !!int 5\n", 1, "", "YAML tag 'tag:yaml.org,2002:int' is not supported"},
        {"Type: StateMachine\n? [a]\n: b\n", 2, "", "mapping keys must be plain strings"},
        {"{\"Type\": \"StateMachine\", \"Type\": \"x\"}", 1, "Type", "duplicate key 'Type'"},
        {"{\"Type\": \"StateMachine\",\n \"SpecVersion\": \"v1\"", 2, "", "YAML syntax error"},
        {"Type: \"\\0\"\n", 1, "", "NUL character"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_flow_t *f = NULL;
        fl_diag_t d;
        char got[1024];
        if (parse(cases[i].text, &f, &d) == FL_OK)
            FAIL_AT("case %zu should fail:\n%s", i, cases[i].text);
        ASSERT(f == NULL);
        diag_str(&d, got, sizeof got);
        if (d.line != cases[i].line || strcmp(d.path, cases[i].path) ||
            !strstr(d.msg, cases[i].msg))
            FAIL_AT("case %zu:\n%s\n  got:  %s\n  want: line %d: %s: ...%s...", i, cases[i].text,
                    got, cases[i].line, cases[i].path, cases[i].msg);
    }
}

TEST(spec_columns)
{
    fl_flow_t *f;
    fl_diag_t d;
    ASSERT(parse(HDR "  - Name: A\n    Type: Pass\n    Next: Foo\n", &f, &d) != FL_OK);
    ASSERT_EQ(d.col, 11);
    ASSERT(parse(HDR "  - {Name: A, Type: Succeed, Bogus: 1}\n", &f, &d) != FL_OK);
    ASSERT_EQ(d.col, 30);
    ASSERT(parse("Type: StateMachine\nSpecVersion: v1\n  StartAt: A\n", &f, &d) != FL_OK);
    ASSERT_EQ(d.line, 3);
    ASSERT(d.col > 0);
}

TEST(spec_null_diag_and_free_null)
{
    fl_flow_t *f = (fl_flow_t *)1;
    ASSERT(fl_spec_parse("Type: x\n", 8, &f, NULL) == FL_EINVALID_ARGUMENT);
    ASSERT(f == NULL);
    fl_flow_free(NULL);
}

TEST(spec_limits)
{
    fl_flow_t *f;
    fl_diag_t d;
    fl_buf_t b;

    /* size */
    char *big = malloc(FL_SPEC_MAX_BYTES + 1);
    memset(big, ' ', FL_SPEC_MAX_BYTES + 1);
    ASSERT(fl_spec_parse(big, FL_SPEC_MAX_BYTES + 1, &f, &d) != FL_OK);
    ASSERT_CONTAINS(d.msg, "larger than 1048576 bytes");
    free(big);

    /* state count: 1000 chained states are fine, 1001 are not */
    for (int n = 1000; n <= 1001; n++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, "Type: StateMachine\nSpecVersion: v1\nStartAt: S0\nStates:\n");
        for (int i = 0; i < n; i++) {
            if (i + 1 < n)
                fl_buf_printf(&b, "  - {Name: S%d, Type: Pass, Next: S%d}\n", i, i + 1);
            else
                fl_buf_printf(&b, "  - {Name: S%d, Type: Succeed}\n", i);
        }
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (n == 1000) {
            ASSERT_OK(rc);
            ASSERT_EQ(f->root.n_states, 1000);
            ASSERT_EQ(f->root.states[998].next, 999);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_STR_EQ(d.path, "States");
            ASSERT_CONTAINS(d.msg, "at most 1000");
        }
        fl_buf_free(&b);
    }

    /* depth: 64 levels in all are fine, 65 are not */
    for (int depth = 64; depth <= 65; depth++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, HDR "  - Name: A\n    Type: Pass\n    End: true\n    InputConstructor: {a: ");
        for (int i = 0; i < depth - 4; i++) /* root map, States, the state, the constructor */
            fl_buf_putc(&b, '[');
        for (int i = 0; i < depth - 4; i++)
            fl_buf_putc(&b, ']');
        fl_buf_puts(&b, "}\n");
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (depth == 64) {
            ASSERT_OK(rc);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_CONTAINS(d.msg, "nests deeper than 64 levels");
        }
        fl_buf_free(&b);
    }

    /* a classic alias bomb is refused at its first anchor */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
    ASSERT(parse(bomb, &f, &d) != FL_OK);
    ASSERT_EQ(d.line, 1);
    ASSERT_CONTAINS(d.msg, "anchors");

    /* state names: 128 characters (UTF-8 counts characters), not 129 */
    for (int len = 128; len <= 129; len++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, "Type: StateMachine\nSpecVersion: v1\nStartAt: ");
        size_t name_at = b.len;
        for (int i = 0; i < len; i++)
            fl_buf_puts(&b, "\xc3\xa9"); /* é */
        char *name = xstrndup(b.data + name_at, b.len - name_at);
        fl_buf_printf(&b, "\nStates:\n  - Type: Succeed\n    Name: %s\n", name);
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (len == 128) {
            ASSERT_OK(rc);
            ASSERT_STR_EQ(f->root.states[0].name, name);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_STR_EQ(d.path, "States[0].Name");
        }
        free(name);
        fl_buf_free(&b);
    }

    /* many keys in one map: duplicate detection stays fast */
    fl_buf_init(&b);
    fl_buf_puts(&b, HDR "  - Name: A\n    Type: Pass\n    End: true\n    InputConstructor:\n");
    for (int i = 0; i < 20000; i++)
        fl_buf_printf(&b, "      k%d: %d\n", i, i);
    fl_buf_puts(&b, "      k77: dup\n");
    ASSERT(fl_spec_parse(b.data, b.len, &f, &d) != FL_OK);
    ASSERT_STR_EQ(d.path, "States[0].InputConstructor.k77");
    ASSERT_EQ(d.line, 20009);
    fl_buf_free(&b);
}

TEST(spec_errors_match)
{
    char e1[] = "HTTP.StatusCode.500", e2[] = "MyError", e3[] = "X", e4[] = "FnF.ALL";
    char *names[] = {e1, e2};
    char *all[] = {e3, e4};
    ASSERT(fl_spec_errors_match(names, 2, "MyError"));
    ASSERT(fl_spec_errors_match(names, 2, "HTTP.StatusCode.500"));
    ASSERT(!fl_spec_errors_match(names, 2, "myerror"));
    ASSERT(!fl_spec_errors_match(names, 2, "HTTP.StatusCode"));
    ASSERT(!fl_spec_errors_match(names, 2, "FnF.ALL"));
    ASSERT(!fl_spec_errors_match(names, 0, "MyError"));
    ASSERT(fl_spec_errors_match(all, 2, "anything"));
    ASSERT(fl_spec_errors_match(all, 2, "FnF.TaskTimeout"));
}

/* ---- Parallel, Map, Timestamp, OnErrors, FnF:StartExecution ---- */

/* the CloudFlow API reference 3.4, verbatim (FC:InvokeFunction goes through flowd's function map). */
static const char EXAMPLE_3_4[] =
    "Type: StateMachine\n"
    "Name: order-approval\n"
    "SpecVersion: v1\n"
    "StartAt: RequestApproval\n"
    "States:\n"
    "  - Type: Task\n"
    "    Name: RequestApproval\n"
    "    Action: FC:InvokeFunction\n"
    "    TaskMode: WaitForCustomCallback\n"
    "    Timeout: 3600\n"
    "    Parameters:\n"
    "      resourceArn: acs:fc:::functions/approval-notifier\n"
    "      invocationType: Async\n"
    "      body:\n"
    "        orderId.$: $Input.orderId\n"
    "        amount.$: $Input.amount\n"
    "        taskToken.$: $Context.Current.TaskToken\n"
    "    OutputConstructor:\n"
    "      orderId.$: $Input.orderId\n"
    "      approved.$: $Output.approved          # from ReportTaskSucceeded.Output\n"
    "      approver.$: $Output.approver\n"
    "    Retry:\n"
    "      - Errors: [FC.ResourceThrottled, FC.ResourceExhausted, FC.InternalServerError]\n"
    "        IntervalSeconds: 2\n"
    "        MaxAttempts: 3\n"
    "        BackoffRate: 2\n"
    "        MaxBackoffSeconds: 30\n"
    "    Catch:\n"
    "      - Errors: [FnF.TaskTimeout]\n"
    "        Next: Escalate\n"
    "      - Errors: [ApprovalRejected]           # ReportTaskFailed.Error\n"
    "        OutputConstructor:\n"
    "          reason.$: $Context.Current.Error.Detail\n"
    "        Next: Rejected\n"
    "    Next: CheckApproval\n"
    "  - Type: Choice\n"
    "    Name: CheckApproval\n"
    "    Branches:\n"
    "      - Condition: $Input.approved == true\n"
    "        Next: ShipItems\n"
    "    Default: Rejected\n"
    "  - Type: Map\n"
    "    Name: ShipItems\n"
    "    ItemsPath: $Context.Execution.Input.items\n"
    "    MaxConcurrency: 5\n"
    "    Processor:\n"
    "      StartAt: ShipOne\n"
    "      States:\n"
    "        - Type: Task\n"
    "          Name: ShipOne\n"
    "          Action: FC:InvokeFunction\n"
    "          TaskMode: RequestComplete\n"
    "          Parameters:\n"
    "            resourceArn: acs:fc:::functions/ship-item\n"
    "            invocationType: Sync\n"
    "            body.$: $Input\n"
    "          OutputConstructor:\n"
    "            trackingId.$: $Output.Body.trackingId\n"
    "          End: true\n"
    "    End: true\n"
    "  - Type: Pass\n"
    "    Name: Escalate\n"
    "    OutputConstructor:\n"
    "      status: escalated\n"
    "    End: true\n"
    "  - Type: Fail\n"
    "    Name: Rejected\n"
    "    Code: OrderRejected\n"
    "    Detail: approval was rejected\n";

/* Replaces every occurrence of from in text by to; returns a new string. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    fl_buf_t b;
    size_t n = strlen(from);
    fl_buf_init(&b);
    fl_buf_puts(&b, "");
    for (const char *p; (p = strstr(text, from)); text = p + n) {
        fl_buf_append(&b, text, (size_t)(p - text));
        fl_buf_puts(&b, to);
    }
    fl_buf_puts(&b, text);
    return fl_buf_take(&b);
}

TEST(spec_example_3_4)
{
    fl_flow_t *f = NULL;
    fl_diag_t d;
    ASSERT_OK(parse(EXAMPLE_3_4, &f, &d));
    ASSERT_STR_EQ(f->root.states[0].action, "FC:InvokeFunction");
    ASSERT_EQ(f->root.states[0].mode, FL_MODE_WAIT_CALLBACK);
    ASSERT_EQ(f->root.states[2].type, FL_ST_MAP);
    ASSERT_STR_EQ(f->root.states[2].processor->states[0].action, "FC:InvokeFunction");
    fl_flow_free(f);
    f = NULL;

    /* The same flow with HTTP:Request in place of FC. */
    char *a = replace_all(EXAMPLE_3_4, "Action: FC:InvokeFunction", "Action: HTTP:Request");
    char *b = replace_all(a, "resourceArn: acs:fc:::functions/approval-notifier\n"
                             "      invocationType: Async\n"
                             "      body:",
                          "URL: https://notify.example.com/approval\n      Body:");
    char *text = replace_all(b, "resourceArn: acs:fc:::functions/ship-item\n"
                                "            invocationType: Sync\n"
                                "            body.$: $Input",
                             "URL: https://ship.example.com/\n            Body.$: $Input");
    f = must_parse(text);
    ASSERT_EQ(f->dialect, FL_DIALECT_CLOUDFLOW);
    ASSERT_STR_EQ(f->name, "order-approval");
    ASSERT_EQ(f->root.n_states, 5);
    const fl_state_t *t = &f->root.states[0];
    ASSERT_EQ(t->mode, FL_MODE_WAIT_CALLBACK);
    ASSERT_EQ(t->timeout_s, 3600);
    ASSERT_EQ(t->n_retry, 1);
    ASSERT(t->retry[0].interval_s == 2 && t->retry[0].backoff_rate == 2 &&
           t->retry[0].max_backoff_s == 30);
    ASSERT_EQ(t->n_catches, 2);
    ASSERT_EQ(t->catches[0].next, 3);
    ASSERT_EQ(t->catches[1].next, 4);
    ASSERT(t->catches[1].output_ctor != NULL);
    ASSERT_EQ(t->next, 1);
    ASSERT_EQ(f->root.states[1].choices[0].next, 2);
    ASSERT_EQ(f->root.states[1].default_next, 4);

    const fl_state_t *m = &f->root.states[2];
    ASSERT_EQ(m->type, FL_ST_MAP);
    ASSERT(m->end && m->next == -1);
    ASSERT(m->items != NULL && m->item_ctor == NULL);
    ASSERT(m->item_name == NULL && m->index_name == NULL);
    ASSERT_EQ(m->max_concurrency, 5);
    ASSERT(m->processor != NULL);
    ASSERT_EQ(m->processor->n_states, 1);
    ASSERT_EQ(m->processor->start, 0);
    const fl_state_t *one = &m->processor->states[0];
    ASSERT_STR_EQ(one->name, "ShipOne");
    ASSERT_STR_EQ(one->action, "HTTP:Request");
    ASSERT_EQ(one->mode, FL_MODE_REQUEST_COMPLETE);
    ASSERT(one->end && one->parameters && one->output_ctor);
    ASSERT_EQ(one->line, 48); /* 49 in the original, one line shorter above */

    json_t *ctx = json_pack("{s:{s:{s:[i,i,i]}}}", "Execution", "Input", "items", 1, 2, 3);
    fl_env_t env = {NULL, NULL, ctx};
    json_t *v;
    char err[128];
    ASSERT_OK(fl_expr_eval(m->items, &env, &v, err, sizeof err));
    ASSERT_EQ(json_array_size(v), 3);
    json_decref(v);
    json_decref(ctx);
    fl_flow_free(f);
    free(a);
    free(b);
    free(text);
    LEAK_CHECK();
}

static const char NESTED_CF[] =
    "Type: StateMachine\n"
    "SpecVersion: v1\n"
    "StartAt: Fan\n"
    "States:\n"
    "  - Type: Parallel\n"
    "    Name: Fan\n"
    "    Branches:\n"
    "      - StartAt: A\n"
    "        States:\n"
    "          - {Type: Pass, Name: A, Next: B}\n"
    "          - Type: Wait\n"
    "            Name: B\n"
    "            Timestamp: '2030-05-06T07:08:09+08:00'\n"
    "            End: true\n"
    "      - StartAt: A\n" /* the same names again: another scope */
    "        States:\n"
    "          - Type: Map\n"
    "            Name: A\n"
    "            ItemsPath: $Input.list\n"
    "            MaxConcuccency: 3\n"
    "            ItemConstructor:\n"
    "              value.$: $Input\n"
    "              fixed: 1\n"
    "            Processor:\n"
    "              StartAt: Inner\n"
    "              States:\n"
    "                - Type: Task\n"
    "                  Name: Inner\n"
    "                  Action: FNF:StartExecution\n"
    "                  TaskMode: WaitForSystemCallback\n"
    "                  Parameters:\n"
    "                    FlowName: child\n"
    "                    Input.$: $Input\n"
    "                    ExecutionName.$: $Input.id\n"
    "                  Catch:\n"
    "                    - Errors: [FnF.ALL]\n"
    "                      Next: Oops\n"
    "                  End: true\n"
    "                - {Type: Fail, Name: Oops, Code: E}\n"
    "            Next: B\n"
    "          - {Type: Succeed, Name: B}\n"
    "    OnErrors:\n"
    "      - Errors: [E1, E2]\n"
    "        Retry: {MaxAttempts: 5, FixedBackoff: 3, Multiplier: 1.5}\n"
    "      - Errors: [E3]\n"
    "        Retry: {}\n"
    "        Next: Later\n"
    "        OutputConstructor: {why.$: $Context.Current.Error.Code}\n"
    "      - Errors: [FnF.ALL]\n"
    "        Description: everything else\n"
    "        Next: Done\n"
    "    Next: Later\n"
    "  - Type: Wait\n"
    "    Name: Later\n"
    "    Timestamp.$: $Input.when\n"
    "    Next: Start\n"
    "  - Type: Task\n"
    "    Name: Start\n"
    "    Action: FnF:StartExecution\n"
    "    Parameters: {FlowName.$: $Input.flow, Input: {a: 1}, ExecutionName: run1}\n"
    "    Retry:\n"
    "      - Errors: [FnF.ALL]\n"
    "    Next: Done\n"
    "  - {Type: Succeed, Name: Done}\n";

TEST(spec_parallel_map_nested)
{
    fl_flow_t *f = must_parse(NESTED_CF);
    ASSERT_EQ(f->root.n_states, 4);
    const fl_state_t *fan = &f->root.states[0];
    ASSERT_EQ(fan->type, FL_ST_PARALLEL);
    ASSERT_EQ(fan->next, 1);
    ASSERT_EQ(fan->n_branches, 2);

    const fl_scope_t *b0 = &fan->branches[0];
    ASSERT_EQ(b0->n_states, 2);
    ASSERT_EQ(b0->start, 0);
    ASSERT_EQ(b0->states[0].next, 1);
    ASSERT(b0->states[1].wait_until != NULL && b0->states[1].wait_expr == NULL);
    json_t *v;
    char err[128];
    fl_env_t env = {NULL, NULL, NULL};
    ASSERT_OK(fl_expr_eval(b0->states[1].wait_until, &env, &v, err, sizeof err));
    ASSERT_STR_EQ(json_string_value(v), "2030-05-06T07:08:09+08:00");
    json_decref(v);

    const fl_scope_t *b1 = &fan->branches[1];
    ASSERT_EQ(b1->n_states, 2);
    const fl_state_t *map = &b1->states[0];
    ASSERT_EQ(map->type, FL_ST_MAP);
    ASSERT_EQ(map->max_concurrency, 3);
    ASSERT_EQ(map->next, 1);
    ASSERT(map->item_ctor != NULL);
    json_t *item = json_integer(7);
    env.input = item;
    ASSERT_OK(fl_tmpl_eval(map->item_ctor, &env, &v, err, sizeof err));
    ASSERT_EQ(json_integer_value(json_object_get(v, "value")), 7);
    ASSERT_EQ(json_integer_value(json_object_get(v, "fixed")), 1);
    json_decref(v);
    json_decref(item);
    const fl_state_t *inner = &map->processor->states[0];
    ASSERT_STR_EQ(inner->action, "FnF:StartExecution");
    ASSERT_EQ(inner->mode, FL_MODE_SYNC);
    ASSERT(inner->parameters != NULL);
    ASSERT_EQ(inner->n_catches, 1);
    ASSERT_EQ(inner->catches[0].next, 1);
    ASSERT_EQ(b1->states[1].type, FL_ST_SUCCEED);

    /* OnErrors: retry entries for the ones with Retry, catch entries for the ones with Next */
    ASSERT_EQ(fan->n_retry, 2);
    ASSERT_EQ(fan->retry[0].n_errors, 2);
    ASSERT_STR_EQ(fan->retry[0].errors[1], "E2");
    ASSERT_EQ(fan->retry[0].max_attempts, 5);
    ASSERT(fan->retry[0].interval_s == 3 && fan->retry[0].backoff_rate == 1.5);
    ASSERT_STR_EQ(fan->retry[1].errors[0], "E3");
    ASSERT_EQ(fan->retry[1].max_attempts, 3);
    ASSERT(fan->retry[1].interval_s == 1 && fan->retry[1].backoff_rate == 1 &&
           fan->retry[1].max_backoff_s == 0);
    ASSERT_EQ(fan->n_catches, 2);
    ASSERT_STR_EQ(fan->catches[0].errors[0], "E3");
    ASSERT_EQ(fan->catches[0].next, 1);
    ASSERT(fan->catches[0].output_ctor != NULL);
    ASSERT_STR_EQ(fan->catches[1].errors[0], "FnF.ALL");
    ASSERT_EQ(fan->catches[1].next, 3);
    ASSERT(fan->catches[1].output_ctor == NULL);

    const fl_state_t *later = &f->root.states[1];
    ASSERT(later->wait_until != NULL && later->wait_expr == NULL && later->wait_s == 0);
    const fl_state_t *start = &f->root.states[2];
    ASSERT_STR_EQ(start->action, "FnF:StartExecution");
    ASSERT_EQ(start->mode, FL_MODE_REQUEST_COMPLETE);
    ASSERT_EQ(start->n_retry, 1);
    json_t *in = json_pack("{s:s}", "flow", "sub");
    env.input = in;
    ASSERT_OK(fl_tmpl_eval(start->parameters, &env, &v, err, sizeof err));
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "FlowName")), "sub");
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "ExecutionName")), "run1");
    json_decref(v);
    json_decref(in);
    fl_flow_free(f);
    LEAK_CHECK();
}

#define PAR_HDR HDR "  - Name: A\n    Type: Parallel\n    End: true\n    Branches:\n"
#define MAP_HDR HDR "  - Name: A\n    Type: Map\n    End: true\n    ItemsPath: $Input.l\n"
#define PROC "    Processor:\n      StartAt: P\n      States:\n        - {Name: P, Type: Succeed}\n"
#define FNF_A "  - Name: A\n    Type: Task\n    Action: FnF:StartExecution\n    End: true\n"

TEST(spec_invalid_nested_table)
{
    static const struct {
        const char *text;
        int line;
        const char *path, *msg;
    } cases[] = {
        /* Parallel */
        {PAR_HDR "      []\n", 9, "States[0].Branches", "Branches must be a list of 1 to 50"},
        {PAR_HDR "      - {StartAt: X}\n", 9, "States[0].Branches[0].States", "States is required"},
        {PAR_HDR "      - States: [{Name: X, Type: Succeed}]\n", 9,
         "States[0].Branches[0].StartAt", "StartAt is required"},
        {PAR_HDR "      - StartAt: X\n        States: [{Name: X, Type: Succeed}]\n"
                 "        Next: A\n",
         11, "States[0].Branches[0].Next", "unknown field 'Next' in a Parallel branch"},
        {PAR_HDR "      - StartAt: X\n        States:\n          - {Name: X, Type: Pass, Next: A}\n",
         11, "States[0].Branches[0].States[0].Next", "Next names an unknown state 'A'"},
        {PAR_HDR "      - StartAt: X\n        States: [{Name: X, Type: Succeed}]\n"
                 "      - StartAt: X\n        States:\n          - {Name: X, Type: Pass, End: true}\n"
                 "          - {Name: X, Type: Succeed}\n",
         14, "States[0].Branches[1].States[1].Name", "duplicate state name 'X'"},
        {PAR_HDR "      - StartAt: X\n        States:\n          - {Name: X, Type: Succeed}\n"
                 "          - {Name: Y, Type: Succeed}\n",
         12, "States[0].Branches[0].States[1]", "state 'Y' is not reachable from StartAt"},
        {PAR_HDR "      - StartAt: Z\n        States: [{Name: X, Type: Succeed}]\n", 9,
         "States[0].Branches[0].StartAt", "StartAt names an unknown state 'Z'"},
        {HDR "  - Name: A\n    Type: Parallel\n    Branches:\n"
             "      - StartAt: X\n        States: [{Name: X, Type: Succeed}]\n",
         5, "States[0]", "state 'A' needs either Next or End: true"},
        {PAR_HDR "      - StartAt: X\n        States: [{Name: X, Type: Succeed}]\n"
                 "    Catch:\n      - Errors: [e]\n        Next: X\n",
         13, "States[0].Catch[0].Next", "Next names an unknown state 'X'"},
        {PAR_HDR "      - StartAt: X\n        States: [{Name: X, Type: Succeed}]\n"
                 "    Parameters: {}\n",
         11, "States[0].Parameters", "unknown field 'Parameters' in a Parallel state"},
        /* Map */
        {HDR "  - Name: A\n    Type: Map\n    End: true\n" PROC, 5, "States[0].ItemsPath",
         "ItemsPath is required"},
        {HDR "  - Name: A\n    Type: Map\n    End: true\n    ItemsPath: items\n" PROC, 8,
         "States[0].ItemsPath", "invalid expression 'items'"},
        {MAP_HDR, 5, "States[0].Processor", "Processor is required for a Map state"},
        {MAP_HDR "    Processor: [1]\n", 9, "States[0].Processor",
         "Processor must be an object with StartAt and States, not a list"},
        {MAP_HDR PROC "    MaxConcurrency: -1\n", 13, "States[0].MaxConcurrency",
         "MaxConcurrency must be an integer from 0"},
        {MAP_HDR PROC "    MaxConcurrency: 2\n    MaxConcuccency: 2\n", 14,
         "States[0].MaxConcuccency", "give either MaxConcurrency or MaxConcuccency, not both"},
        {MAP_HDR PROC "    ProcessorConfig: {ExecutionMode: Express}\n", 13,
         "States[0].ProcessorConfig", "distributed Map is not supported"},
        {MAP_HDR PROC "    ItemReader: {}\n", 13, "States[0].ItemReader",
         "distributed Map is not supported"},
        {MAP_HDR PROC "    ItemConstructor: {a.$: '$Input +'}\n", 13,
         "States[0].ItemConstructor.a.$", "invalid expression"},
        {MAP_HDR "    Processor:\n      StartAt: P\n      States:\n"
                 "        - {Name: P, Type: Pass, Next: A}\n",
         12, "States[0].Processor.States[0].Next", "Next names an unknown state 'A'"},
        {MAP_HDR PROC "    Processor2: {}\n", 13, "States[0].Processor2",
         "unknown field 'Processor2' in a Map state"},
        /* Wait */
        {HDR "  - {Name: A, Type: Wait, End: true, Timestamp: '2024-13-01T00:00:00Z'}\n", 5,
         "States[0].Timestamp", "Timestamp must be an RFC 3339 time"},
        {HDR "  - {Name: A, Type: Wait, End: true, Timestamp: 5}\n", 5, "States[0].Timestamp",
         "Timestamp must be a string, not an integer"},
        {HDR "  - {Name: A, Type: Wait, End: true, Seconds: 5, Timestamp.$: $Input.t}\n", 5,
         "States[0].Timestamp.$", "(Seconds is given too)"},
        {HDR "  - {Name: A, Type: Wait, End: true, Timestamp.$: '$Input.t +'}\n", 5,
         "States[0].Timestamp.$", "invalid expression"},
        /* OnErrors */
        {HDR TASK_A URL "    OnErrors:\n      - Errors: [a]\n        Next: A\n"
                        "    Retry:\n      - Errors: [a]\n",
         10, "States[0].OnErrors", "OnErrors cannot be combined with Retry on the same state"},
        {HDR TASK_A URL "    Catch:\n      - Errors: [a]\n        Next: A\n"
                        "    OnErrors:\n      - Errors: [a]\n        Next: A\n",
         13, "States[0].OnErrors", "OnErrors cannot be combined with Catch"},
        {HDR TASK_A URL "    OnErrors:\n      - Errors: [a]\n", 11, "States[0].OnErrors[0]",
         "an OnErrors entry needs Retry, Next or both"},
        {HDR TASK_A URL "    OnErrors:\n      - Next: A\n", 11, "States[0].OnErrors[0].Errors",
         "Errors is required"},
        {HDR TASK_A URL "    OnErrors:\n      - Errors: [a]\n        Retry: {BackoffRate: 2}\n", 12,
         "States[0].OnErrors[0].Retry.BackoffRate", "unknown field 'BackoffRate' in an OnErrors Retry"},
        {HDR TASK_A URL "    OnErrors:\n      - Errors: [a]\n        Retry: {Multiplier: 0}\n", 12,
         "States[0].OnErrors[0].Retry.Multiplier", "Multiplier must be a number from 1"},
        {HDR TASK_A URL "    OnErrors:\n      - Errors: [a]\n        Retry: {}\n"
                        "        OutputConstructor: {}\n",
         13, "States[0].OnErrors[0].OutputConstructor", "OutputConstructor in OnErrors needs Next"},
        {HDR TASK_A URL "    OnErrors:\n      - Errors: [a]\n        Next: Nope\n", 12,
         "States[0].OnErrors[0].Next", "Next names an unknown state 'Nope'"},
        {HDR TASK_A URL "    OnErrors: []\n", 10, "States[0].OnErrors",
         "OnErrors must be a non-empty list"},
        {HDR "  - {Name: A, Type: Pass, End: true, OnErrors: []}\n", 5, "States[0].OnErrors",
         "unknown field 'OnErrors' in a Pass state"},
        /* FnF:StartExecution */
        {HDR FNF_A, 5, "States[0].Parameters", "Parameters with a FlowName is required"},
        {HDR FNF_A "    Parameters: {Input: {}}\n", 9, "States[0].Parameters.FlowName",
         "FlowName is required for FnF:StartExecution"},
        {HDR FNF_A "    Parameters: {FlowName: 'a b'}\n", 9, "States[0].Parameters.FlowName",
         "FlowName must be 1 to 128 of A-Z"},
        {HDR FNF_A "    Parameters: {FlowName: a, FlowName.$: $Input.f}\n", 9,
         "States[0].Parameters.FlowName.$", "give either FlowName or FlowName.$, not both"},
        {HDR FNF_A "    Parameters: {FlowName: a, URL: 'http://h/'}\n", 9,
         "States[0].Parameters.URL", "unknown field 'URL' in FnF:StartExecution Parameters"},
        {HDR FNF_A "    Parameters: {FlowName: a, ExecutionName: '-x'}\n", 9,
         "States[0].Parameters.ExecutionName", "ExecutionName must be 1 to 128"},
        {HDR FNF_A "    Parameters: {FlowName: a, Input: 5}\n", 9, "States[0].Parameters.Input",
         "Input must be an object or a JSON text, not an integer"},
        {HDR FNF_A "    TaskMode: WaitForCustomCallback\n    Parameters: {FlowName: a}\n", 9,
         "States[0].TaskMode", "TaskMode 'WaitForCustomCallback' is not supported with "
                              "FnF:StartExecution"},
        {HDR "  - {Name: A, Type: Task, End: true, Action: 'FnF:StartExecutionX'}\n", 5,
         "States[0].Action", "Action 'FnF:StartExecutionX' is not supported yet"},
        {HDR "  - {Name: A, Type: Task, End: true, Action: 'MNS:SendMessage'}\n", 5,
         "States[0].Parameters", "Parameters with a QueueName is required for MNS:SendMessage"},
        {HDR "  - {Name: A, Type: Task, End: true, Action: 'OSS:PutObject'}\n", 5,
         "States[0].Action", "Action 'OSS:PutObject' is not supported yet"},
        /* the two languages */
        {"Type: StateMachine\nSpecVersion: v1\nsteps: []\n", 3, "steps",
         "unknown field 'steps' in the flow definition"},
        {"Name: x\n", 1, "", "the definition is neither CloudFlow"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_flow_t *f = NULL;
        fl_diag_t d;
        char got[1024];
        if (parse(cases[i].text, &f, &d) == FL_OK)
            FAIL_AT("case %zu should fail:\n%s", i, cases[i].text);
        ASSERT(f == NULL);
        diag_str(&d, got, sizeof got);
        if (d.line != cases[i].line || strcmp(d.path, cases[i].path) ||
            !strstr(d.msg, cases[i].msg))
            FAIL_AT("case %zu:\n%s\n  got:  %s\n  want: line %d: %s: ...%s...", i, cases[i].text,
                    got, cases[i].line, cases[i].path, cases[i].msg);
    }
    LEAK_CHECK();
}

TEST(spec_nested_limits)
{
    fl_flow_t *f;
    fl_diag_t d;
    fl_buf_t b;
    /* 50 Parallel branches are fine, 51 are not */
    for (int n = 50; n <= 51; n++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, PAR_HDR);
        for (int i = 0; i < n; i++)
            fl_buf_printf(&b, "      - {StartAt: S, States: [{Name: S, Type: Succeed}]}\n");
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (n == 50) {
            ASSERT_OK(rc);
            ASSERT_EQ(f->root.states[0].n_branches, 50);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_STR_EQ(d.path, "States[0].Branches");
            ASSERT_CONTAINS(d.msg, "1 to 50 branches (this one has 51)");
        }
        fl_buf_free(&b);
    }
    /* the state limit counts every scope: 1 + 999 in a processor is fine, 1 + 1000 is not */
    for (int n = 999; n <= 1000; n++) {
        fl_buf_init(&b);
        fl_buf_puts(&b, MAP_HDR "    Processor:\n      StartAt: S0\n      States:\n");
        for (int i = 0; i < n; i++) {
            if (i + 1 < n)
                fl_buf_printf(&b, "        - {Name: S%d, Type: Pass, Next: S%d}\n", i, i + 1);
            else
                fl_buf_printf(&b, "        - {Name: S%d, Type: Succeed}\n", i);
        }
        int rc = fl_spec_parse(b.data, b.len, &f, &d);
        if (n == 999) {
            ASSERT_OK(rc);
            ASSERT_EQ(f->root.states[0].processor->n_states, 999);
            fl_flow_free(f);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_STR_EQ(d.path, "States[0].Processor.States");
            ASSERT_CONTAINS(d.msg, "at most 1000");
        }
        fl_buf_free(&b);
    }
    /* Parallel in Parallel down to the depth limit: a clean error, no crash */
    fl_buf_init(&b);
    fl_buf_puts(&b, HDR);
    for (int i = 0; i < 20; i++)
        fl_buf_printf(&b,
                      "%*s- Name: P\n%*s  Type: Parallel\n%*s  End: true\n%*s  Branches:\n"
                      "%*s    - StartAt: P\n%*s      States:\n",
                      2 + 8 * i, "", 2 + 8 * i, "", 2 + 8 * i, "", 2 + 8 * i, "", 2 + 8 * i, "",
                      2 + 8 * i, "");
    fl_buf_printf(&b, "%*s- {Name: P, Type: Succeed}\n", 2 + 8 * 20, "");
    ASSERT(fl_spec_parse(b.data, b.len, &f, &d) != FL_OK);
    ASSERT_CONTAINS(d.msg, "nests deeper than 64 levels");
    fl_buf_free(&b);
    LEAK_CHECK();
}

/* ---- data cases: tests/cases/spec/{valid,invalid}/<case>/ ---- */

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    fl_buf_t b;
    char chunk[4096];
    size_t n;
    if (!fp)
        return NULL;
    fl_buf_init(&b);
    fl_buf_puts(&b, "");
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        fl_buf_append(&b, chunk, n);
    fclose(fp);
    return fl_buf_take(&b);
}

/* Reads <dir>/<name>/input.yaml or input.json. */
static char *read_input(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/input.yaml", dir, name);
    char *s = read_file(path);
    if (!s) {
        snprintf(path, sizeof path, "%s/%s/input.json", dir, name);
        s = read_file(path);
    }
    if (!s)
        FAIL_AT("%s/%s has no input.yaml or input.json", dir, name);
    return s;
}

static int walk_cases(const char *dir, bool valid)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (!d)
        FAIL_AT("cannot open %s (run from the repository root)", dir);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *text = read_input(dir, de->d_name);
        fl_flow_t *f = NULL;
        fl_diag_t diag;
        char got[1024];
        int rc = fl_spec_parse(text, strlen(text), &f, &diag);
        diag_str(&diag, got, sizeof got);
        if (valid && rc != FL_OK)
            FAIL_AT("valid/%s: %s", de->d_name, got);
        if (!valid) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s/expect", dir, de->d_name);
            char *expect = read_file(path);
            if (!expect)
                FAIL_AT("invalid/%s has no expect file", de->d_name);
            expect[strcspn(expect, "\n")] = 0;
            if (rc == FL_OK)
                FAIL_AT("invalid/%s parsed without error", de->d_name);
            if (!expect[0] || !strstr(got, expect))
                FAIL_AT("invalid/%s:\n    got:    %s\n    expect: %s", de->d_name, got, expect);
            free(expect);
        }
        fl_flow_free(f);
        free(text);
        n++;
    }
    closedir(d);
    return n;
}

TEST(spec_data_cases)
{
    int nv = walk_cases("tests/cases/spec/valid", true);
    int ni = walk_cases("tests/cases/spec/invalid", false);
    printf("  (%d valid, %d invalid cases)\n", nv, ni);
    ASSERT(nv >= 40);
    ASSERT(ni >= 70);
}
