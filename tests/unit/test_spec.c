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
        {HDR "  - {Name: A, Type: Parallel}\n", 5, "States[0].Type",
         "state type 'Parallel' is not supported yet"},
        {HDR "  - {Name: A, Type: Map}\n", 5, "States[0].Type", "state type 'Map' is not supported yet"},
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
        {HDR "  - Name: A\n    Type: Task\n    Action: FC:InvokeFunction\n    End: true\n", 7,
         "States[0].Action", "Action 'FC:InvokeFunction' is not supported yet"},
        {HDR TASK_A "    TaskMode: WaitForSystemCallback\n" URL, 9, "States[0].TaskMode",
         "TaskMode 'WaitForSystemCallback' is not supported yet"},
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
         "Seconds or Seconds.$ is required for a Wait state"},
        {HDR "  - {Name: A, Type: Wait, End: true, Seconds: 1, Seconds.$: $Input.n}\n", 5,
         "States[0].Seconds.$", "give either Seconds or Seconds.$, not both"},
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
    ASSERT(nv >= 15);
    ASSERT(ni >= 25);
}
