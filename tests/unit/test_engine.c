/*
 * test_engine.c - the pure transition function fl_engine_step() (src/engine/step.c), driven
 * by a table of cases: a CloudFlow definition, an execution input, a list of commands, and
 * what must hold after the last one (status, full history, output or error, effects of the
 * last step, its return code). The driver dumps and reloads the run state between every
 * command, as the server does, and checks history invariants on every step: event ids
 * 1..n without gaps, ScheduleEventId pointing at the attempt's TaskScheduled, and
 * identical transcripts when a case is run twice (the function is pure).
 */
#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "spec/spec.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------- */
/* Case format                                                                              */
/* ---------------------------------------------------------------------------------------- */

#define T0 1700000000000LL /* ms; start time of every case */
#define STEP_MS 1000       /* clock advance between non-timer commands */

typedef struct {
    fl_cmd_kind_t kind;
    uint32_t seq;       /* attempt seq, or a timer's seq when from_timer is 0 */
    int tkind;          /* TIMER: FL_TIMER_* */
    int from_timer;     /* TIMER: 1 = seq and due time of the newest timer of tkind produced
                         * so far, 2 = of the one before it; 0 = use seq as given */
    const char *data;   /* JSON text: START input, TASK_SUCCEEDED output */
    const char *error;
    const char *cause;
    int expect_rc;      /* for commands other than the last (the case's rc covers that) */
} ccmd_t;

#define START(in) {.kind = FL_CMD_START, .data = (in)}
#define SUB(n) {.kind = FL_CMD_SUBMITTED, .seq = (n)}
#define SUBFAIL(n, e, c) {.kind = FL_CMD_SUBMIT_FAILED, .seq = (n), .error = (e), .cause = (c)}
#define OK(n, out) {.kind = FL_CMD_TASK_SUCCEEDED, .seq = (n), .data = (out)}
#define OK_RC(n, out, rc) {.kind = FL_CMD_TASK_SUCCEEDED, .seq = (n), .data = (out), .expect_rc = (rc)}
#define FAIL(n, e, c) {.kind = FL_CMD_TASK_FAILED, .seq = (n), .error = (e), .cause = (c)}
#define TIMER(k) {.kind = FL_CMD_TIMER, .tkind = (k), .from_timer = 1}
#define TIMER_OLD(k) {.kind = FL_CMD_TIMER, .tkind = (k), .from_timer = 2}
#define TIMER_SEQ(k, n) {.kind = FL_CMD_TIMER, .tkind = (k), .seq = (n)}
#define STOP(e, c) {.kind = FL_CMD_STOP, .error = (e), .cause = (c)}

#define W_TASK FL_TIMER_TASK_TIMEOUT
#define W_RETRY FL_TIMER_RETRY
#define W_WAIT FL_TIMER_WAIT
#define W_EXEC FL_TIMER_EXEC_TIMEOUT

typedef struct {
    int64_t id;       /* event id */
    const char *step; /* NULL = not checked */
    const char *has;  /* substring of the detail JSON */
} ev_has_t;

typedef struct {
    int kind; /* 0 = not checked */
    uint32_t seq;
    int64_t off; /* due_ms - now_ms of the last command */
} exp_timer_t;

typedef struct {
    const char *name;
    const char *yaml;
    size_t max_payload; /* 0 = default */
    ccmd_t cmds[14];

    /* after the last command */
    int rc;
    int status;                /* FL_EXEC_* */
    const char *events;        /* every event type so far, comma-separated; NULL = skip */
    const char *last_events;   /* event types of the last step only; NULL = skip */
    const char *output;        /* JSON; when the execution has finished */
    const char *error;         /* ErrorCode when finished with an error */
    const char *message;       /* ErrorMessage (exact) */
    const char *message_has;   /* ErrorMessage substring, instead of message */
    int n_dispatches, n_timers, n_tasks, n_done; /* of the last step */
    uint32_t waiting;          /* fl_run_waiting_seq afterwards */
    exp_timer_t timer;         /* first timer of the last step */
    const char *dispatch_has[3]; /* substrings of the last step's first dispatch payload */
    ev_has_t ev[4];
} ecase_t;

/* ---------------------------------------------------------------------------------------- */
/* Flows                                                                                    */
/* ---------------------------------------------------------------------------------------- */

#define HEAD "Type: StateMachine\nSpecVersion: v1\n"

/* A Task state named T; the case appends Timeout/Retry/Catch/OutputConstructor/Next. */
#define TASK_T(mode)                                                                           \
    "  - Name: T\n"                                                                            \
    "    Type: Task\n"                                                                         \
    "    Action: HTTP:Request\n"                                                               \
    "    TaskMode: " mode "\n"                                                                 \
    "    Parameters:\n"                                                                        \
    "      URL: http://127.0.0.1:9/hook\n"                                                     \
    "      Method: POST\n"                                                                     \
    "      Body:\n"                                                                            \
    "        token.$: $Context.Current.TaskToken\n"                                            \
    "        id.$: $Input.id\n"                                                                \
    "        retry.$: $Context.Current.RetryCount\n"
#define CB "WaitForCustomCallback"
#define RC_MODE "RequestComplete"

#define STATE_H "  - Name: H\n    Type: Pass\n    End: true\n"

static const char F_PASS[] = HEAD
    "StartAt: A\n"
    "States:\n"
    "  - Name: A\n"
    "    Type: Pass\n"
    "    InputConstructor:\n"
    "      x.$: $Input.a + 1\n"
    "      k: const\n"
    "    OutputConstructor:\n"
    "      y.$: $Input.x * 10\n"
    "      z.$: $Output.k\n"
    "      who.$: $Context.Execution.Name\n"
    "    Next: B\n"
    "  - Name: B\n"
    "    Type: Pass\n"
    "    OutputConstructor:\n"
    "      sum.$: $Input.y + 1\n"
    "      all.$: $Input\n"
    "      start.$: $Context.Execution.Input.a\n"
    "    End: true\n";

static const char F_CHOICE[] = HEAD
    "StartAt: C\n"
    "States:\n"
    "  - Name: C\n"
    "    Type: Choice\n"
    "    Branches:\n"
    "      - Condition: $Input.n > 10\n"
    "        Next: Big\n"
    "      - Condition: $Input.n > 5\n"
    "        Next: Medium\n"
    "      - Condition: $Input.s == \"x\"\n"
    "        Next: IsX\n"
    "    Default: Small\n"
    "  - {Name: Big, Type: Pass, OutputConstructor: {path: big}, End: true}\n"
    "  - {Name: Medium, Type: Pass, OutputConstructor: {path: medium}, End: true}\n"
    "  - {Name: IsX, Type: Pass, OutputConstructor: {path: x}, End: true}\n"
    "  - {Name: Small, Type: Pass, OutputConstructor: {path: small, n.$: $Input.n}, End: true}\n";

static const char F_WAIT[] = HEAD
    "StartAt: W\n"
    "States:\n"
    "  - {Name: W, Type: Wait, Seconds: 10, Next: Done}\n"
    "  - {Name: Done, Type: Succeed}\n";

static const char F_WAIT2[] = HEAD
    "StartAt: W1\n"
    "States:\n"
    "  - {Name: W1, Type: Wait, Seconds: 5, Next: W2}\n"
    "  - {Name: W2, Type: Wait, Seconds: 7, Next: Done}\n"
    "  - {Name: Done, Type: Succeed}\n";

static const char F_WAITX[] = HEAD
    "StartAt: W\n"
    "States:\n"
    "  - Name: W\n"
    "    Type: Wait\n"
    "    Seconds.$: $Input.d * 2\n"
    "    End: true\n";

static const char F_WAIT_LOOP[] = HEAD
    "StartAt: Check\n"
    "States:\n"
    "  - {Name: Wait, Type: Wait, Seconds: 5, Next: Check}\n"
    "  - Name: Check\n"
    "    Type: Choice\n"
    "    Branches:\n"
    "      - Condition: $Input.ready == true\n"
    "        Next: Done\n"
    "    Default: Wait\n"
    "  - {Name: Done, Type: Succeed}\n";

static const char F_PASS_LOOP[] = HEAD
    "StartAt: A\n"
    "States:\n"
    "  - {Name: A, Type: Pass, Next: C}\n"
    "  - Name: C\n"
    "    Type: Choice\n"
    "    Branches:\n"
    "      - Condition: $Input.x == 1\n"
    "        Next: A\n"
    "    Default: Done\n"
    "  - {Name: Done, Type: Succeed}\n";

static const char F_SUCCEED[] = HEAD
    "StartAt: S\n"
    "States:\n"
    "  - Name: S\n"
    "    Type: Succeed\n"
    "    OutputConstructor:\n"
    "      b.$: $Input.a\n";

static const char F_SUCCEED_PLAIN[] = HEAD
    "StartAt: S\n"
    "States:\n"
    "  - {Name: S, Type: Succeed}\n";

static const char F_FAIL[] = HEAD
    "StartAt: P\n"
    "States:\n"
    "  - {Name: P, Type: Pass, Next: F}\n"
    "  - {Name: F, Type: Fail, Code: MyError, Detail: it broke}\n";

static const char F_FAIL_NODETAIL[] = HEAD
    "StartAt: F\n"
    "States:\n"
    "  - {Name: F, Type: Fail, Code: Bare}\n";

static const char F_TASK_OK[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    OutputConstructor:\n"
    "      id.$: $Input.id\n"
    "      approved.$: $Output.approved\n"
    "    End: true\n";

static const char F_TASK_PLAIN[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    End: true\n";

static const char F_CATCH[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Catch:\n"
    "      - Errors: [Other]\n"
    "        Next: O\n"
    "      - Errors: [Boom, Bang]\n"
    "        Next: H\n"
    "    End: true\n"
    STATE_H
    "  - {Name: O, Type: Fail, Code: WrongHandler}\n";

static const char F_CATCH_CTOR[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Catch:\n"
    "      - Errors: [FnF.ALL]\n"
    "        OutputConstructor:\n"
    "          code.$: $Context.Current.Error.Code\n"
    "          detail.$: $Context.Current.Error.Detail\n"
    "          id.$: $Input.id\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_CATCH_BADCTOR[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Catch:\n"
    "      - Errors: [FnF.ALL]\n"
    "        OutputConstructor:\n"
    "          x.$: $Input.id * 2\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_CATCH_ALL[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Catch:\n"
    "      - Errors: [FnF.ALL]\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_RETRY[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Retry:\n"
    "      - Errors: [Boom]\n"
    "        IntervalSeconds: 2\n"
    "        MaxAttempts: 2\n"
    "        BackoffRate: 2\n"
    "        MaxBackoffSeconds: 3\n"
    "    Catch:\n"
    "      - Errors: [FnF.ALL]\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_RETRY_ALL[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Retry:\n"
    "      - Errors: [FnF.ALL]\n"
    "        IntervalSeconds: 0\n"
    "        MaxAttempts: 1\n"
    "    End: true\n";

static const char F_TIMEOUT[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Timeout: 30\n"
    "    Catch:\n"
    "      - Errors: [FnF.TaskTimeout]\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_TIMEOUT_RETRY[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Timeout: 30\n"
    "    Retry:\n"
    "      - Errors: [FnF.TaskTimeout]\n"
    "        IntervalSeconds: 1\n"
    "        MaxAttempts: 1\n"
    "    End: true\n";

static const char F_SUBFAIL[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    Retry:\n"
    "      - Errors: [HTTP.ConnectionError]\n"
    "        IntervalSeconds: 1\n"
    "        MaxAttempts: 1\n"
    "    Catch:\n"
    "      - Errors: [FnF.ALL]\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_RC[] = HEAD
    "StartAt: T\n"
    "States:\n" TASK_T(RC_MODE)
    "    OutputConstructor:\n"
    "      code.$: $Output.StatusCode\n"
    "      body.$: $Output.Body\n"
    "    End: true\n";

static const char F_PARAMERR[] = HEAD
    "StartAt: T\n"
    "States:\n"
    "  - Name: T\n"
    "    Type: Task\n"
    "    Action: HTTP:Request\n"
    "    TaskMode: WaitForCustomCallback\n"
    "    Parameters:\n"
    "      URL: http://127.0.0.1:9/hook\n"
    "      Body:\n"
    "        n.$: $Input.s * 2\n"
    "    Catch:\n"
    "      - Errors: [FnF.RuntimeError]\n"
    "        Next: H\n"
    "    End: true\n" STATE_H;

static const char F_EXEC_TO[] = HEAD
    "Timeout: 60\n"
    "StartAt: W\n"
    "States:\n"
    "  - {Name: W, Type: Wait, Seconds: 60, End: true}\n";

static const char F_EXEC_TO_TASK[] = HEAD
    "Timeout: 60\n"
    "StartAt: T\n"
    "States:\n" TASK_T(CB)
    "    End: true\n";

/* JSON texts of more than 100 bytes, for max_payload cases. */
#define BIG_STR "0123456789012345678901234567890123456789012345678901234567890123456789" \
                "0123456789012345678901234567890123456789012345678901234567890123456789"
#define BIG_JSON "{\"big\":\"" BIG_STR "\"}"

/* ---------------------------------------------------------------------------------------- */
/* The table                                                                                */
/* ---------------------------------------------------------------------------------------- */

#define EV_TASK_START "ExecutionStarted,StepEntered,TaskScheduled"

static const ecase_t cases[] = {
    /* ---- Pass, Choice, Succeed, Fail ---- */
    {
        .name = "pass_chain_constructors",
        .yaml = F_PASS,
        .cmds = {START("{\"a\":4}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = "ExecutionStarted,StepEntered,StepExited,StepEntered,StepExited,"
                  "ExecutionSucceeded",
        .output = "{\"sum\":51,\"all\":{\"y\":50,\"z\":\"const\",\"who\":\"exec1\"},\"start\":4}",
        .ev = {{1, "", "\"Input\":{\"a\":4}"},
               {2, "A", "\"Input\":{\"a\":4}"},
               {3, "A", "\"Output\":{\"y\":50,\"z\":\"const\",\"who\":\"exec1\"}"},
               {6, "", "\"sum\":51"}},
    },
    {
        .name = "start_without_input_is_empty_object",
        .yaml = F_SUCCEED_PLAIN,
        .cmds = {START(NULL)},
        .status = FL_EXEC_SUCCEEDED,
        .events = "ExecutionStarted,StepEntered,StepExited,ExecutionSucceeded",
        .output = "{}",
    },
    {
        .name = "choice_first_matching_branch_wins",
        .yaml = F_CHOICE,
        .cmds = {START("{\"n\":20,\"s\":\"x\"}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = "ExecutionStarted,StepEntered,StepExited,StepEntered,StepExited,"
                  "ExecutionSucceeded",
        .output = "{\"path\":\"big\"}",
        .ev = {{4, "Big", NULL}},
    },
    {
        .name = "choice_second_branch",
        .yaml = F_CHOICE,
        .cmds = {START("{\"n\":7}")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"path\":\"medium\"}",
        .ev = {{3, "C", "\"Output\":{\"n\":7}"}, {4, "Medium", NULL}},
    },
    {
        .name = "choice_third_branch",
        .yaml = F_CHOICE,
        .cmds = {START("{\"n\":1,\"s\":\"x\"}")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"path\":\"x\"}",
    },
    {
        .name = "choice_default",
        .yaml = F_CHOICE,
        .cmds = {START("{\"n\":1,\"s\":\"y\"}")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"path\":\"small\",\"n\":1}",
        .ev = {{4, "Small", NULL}},
    },
    {
        .name = "choice_condition_type_error_fails",
        .yaml = F_CHOICE,
        .cmds = {START("{\"n\":\"str\"}")},
        .status = FL_EXEC_FAILED,
        .events = "ExecutionStarted,StepEntered,StepFailed,ExecutionFailed",
        .error = "FnF.RuntimeError",
        .message_has = "operator '>'",
    },
    {
        .name = "succeed_with_output_constructor",
        .yaml = F_SUCCEED,
        .cmds = {START("{\"a\":[1,2]}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = "ExecutionStarted,StepEntered,StepExited,ExecutionSucceeded",
        .output = "{\"b\":[1,2]}",
    },
    {
        .name = "fail_state_code_and_detail",
        .yaml = F_FAIL,
        .cmds = {START("{}")},
        .status = FL_EXEC_FAILED,
        .events = "ExecutionStarted,StepEntered,StepExited,StepEntered,StepFailed,"
                  "ExecutionFailed",
        .error = "MyError",
        .message = "it broke",
        .ev = {{5, "F", "\"Error\":\"MyError\""}, {6, "", "\"Cause\":\"it broke\""}},
    },
    {
        .name = "fail_state_without_detail",
        .yaml = F_FAIL_NODETAIL,
        .cmds = {START("{}")},
        .status = FL_EXEC_FAILED,
        .error = "Bare",
        .message = "",
    },

    /* ---- Wait ---- */
    {
        .name = "wait_sets_timer",
        .yaml = F_WAIT,
        .cmds = {START("{\"k\":1}")},
        .status = FL_EXEC_RUNNING,
        .events = "ExecutionStarted,StepEntered",
        .n_timers = 1,
        .timer = {FL_TIMER_WAIT, 1, 10000},
    },
    {
        .name = "wait_timer_fires",
        .yaml = F_WAIT,
        .cmds = {START("{\"k\":1}"), TIMER(W_WAIT)},
        .status = FL_EXEC_SUCCEEDED,
        .events = "ExecutionStarted,StepEntered,StepExited,StepEntered,StepExited,"
                  "ExecutionSucceeded",
        .last_events = "StepExited,StepEntered,StepExited,ExecutionSucceeded",
        .output = "{\"k\":1}",
    },
    {
        .name = "wait_second_wait_new_generation",
        .yaml = F_WAIT2,
        .cmds = {START("{}"), TIMER(W_WAIT)},
        .status = FL_EXEC_RUNNING,
        .last_events = "StepExited,StepEntered",
        .n_timers = 1,
        .timer = {FL_TIMER_WAIT, 2, 7000},
    },
    {
        .name = "wait_stale_timer_ignored",
        .yaml = F_WAIT2,
        .cmds = {START("{}"), TIMER(W_WAIT), TIMER_OLD(W_WAIT)},
        .status = FL_EXEC_RUNNING,
        .events = "ExecutionStarted,StepEntered,StepExited,StepEntered",
        .last_events = "",
    },
    {
        .name = "wait_timer_of_other_kind_ignored",
        .yaml = F_WAIT,
        .cmds = {START("{}"), TIMER_SEQ(W_RETRY, 1), TIMER_SEQ(W_TASK, 1)},
        .status = FL_EXEC_RUNNING,
        .events = "ExecutionStarted,StepEntered",
        .last_events = "",
    },
    {
        .name = "wait_then_stale_after_finish",
        .yaml = F_WAIT2,
        .cmds = {START("{}"), TIMER(W_WAIT), TIMER(W_WAIT), TIMER_OLD(W_WAIT)},
        .status = FL_EXEC_SUCCEEDED,
        .last_events = "",
        .output = "{}",
    },
    {
        .name = "wait_seconds_expression",
        .yaml = F_WAITX,
        .cmds = {START("{\"d\":1.5}")},
        .status = FL_EXEC_RUNNING,
        .n_timers = 1,
        .timer = {FL_TIMER_WAIT, 1, 3000},
    },
    {
        .name = "wait_seconds_expression_negative",
        .yaml = F_WAITX,
        .cmds = {START("{\"d\":-1}")},
        .status = FL_EXEC_FAILED,
        .events = "ExecutionStarted,StepEntered,StepFailed,ExecutionFailed",
        .error = "FnF.RuntimeError",
        .message_has = "Seconds.$",
    },
    {
        .name = "wait_loop_waits_each_round",
        .yaml = F_WAIT_LOOP,
        .cmds = {START("{\"ready\":false}"), TIMER(W_WAIT)},
        .status = FL_EXEC_RUNNING,
        .last_events = "StepExited,StepEntered,StepExited,StepEntered",
        .n_timers = 1,
        .timer = {FL_TIMER_WAIT, 2, 5000},
    },
    {
        .name = "pass_loop_fails_instead_of_hanging",
        .yaml = F_PASS_LOOP,
        .cmds = {START("{\"x\":1}")},
        .status = FL_EXEC_FAILED,
        .error = "FnF.RuntimeError",
        .message_has = "too many state transitions",
    },
    {
        .name = "pass_loop_exits_when_condition_false",
        .yaml = F_PASS_LOOP,
        .cmds = {START("{\"x\":2}")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"x\":2}",
    },

    /* ---- callback tasks ---- */
    {
        .name = "task_start_dispatches",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}")},
        .status = FL_EXEC_RUNNING,
        .events = EV_TASK_START,
        .n_dispatches = 1,
        .n_tasks = 1,
        .waiting = 1,
        .dispatch_has = {"\"Mode\":\"WaitForCustomCallback\"", "\"token\":\"tok-1\"",
                         "\"URL\":\"http://127.0.0.1:9/hook\""},
        .ev = {{3, "T", "\"Attempt\":1"}, {3, "T", "\"Resource\":\"HTTP:Request\""},
               {3, "T", "\"id\":7"}},
    },
    {
        .name = "task_submitted",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), SUB(1)},
        .status = FL_EXEC_RUNNING,
        .last_events = "TaskSubmitted",
        .waiting = 1,
    },
    {
        .name = "task_duplicate_submitted_ignored",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), SUB(1), SUB(1)},
        .status = FL_EXEC_RUNNING,
        .events = EV_TASK_START ",TaskSubmitted",
        .last_events = "",
        .waiting = 1,
    },
    {
        .name = "task_submitted_unknown_seq_ignored",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), SUB(2)},
        .status = FL_EXEC_RUNNING,
        .last_events = "",
        .waiting = 1,
    },
    {
        .name = "task_success_output_constructor",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), SUB(1), OK(1, "{\"approved\":true,\"extra\":1}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskSucceeded,StepExited,ExecutionSucceeded",
        .output = "{\"id\":7,\"approved\":true}",
        .n_done = 1,
        .ev = {{5, "T", "\"Output\":{\"approved\":true,\"extra\":1}"}},
    },
    {
        .name = "task_report_before_submitted_records_submitted_first",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), OK(1, "{\"approved\":false}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskSucceeded,StepExited,ExecutionSucceeded",
        .output = "{\"id\":7,\"approved\":false}",
        .n_done = 1,
    },
    {
        .name = "task_late_submitted_after_report_ignored",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), OK(1, "{\"approved\":false}"), SUB(1)},
        .status = FL_EXEC_SUCCEEDED,
        .last_events = "",
        .output = "{\"id\":7,\"approved\":false}",
    },
    {
        .name = "task_failed_before_submitted_records_submitted_first",
        .yaml = F_TASK_PLAIN,
        .cmds = {START("{}"), FAIL(1, "E", "c")},
        .status = FL_EXEC_FAILED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,StepFailed,ExecutionFailed",
        .error = "E",
        .message = "c",
        .n_done = 1,
    },
    {
        .name = "task_second_report_already_completed",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), OK(1, "{\"approved\":true}"), OK(1, "{\"approved\":false}")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_SUCCEEDED,
        .last_events = "",
        .output = "{\"id\":7,\"approved\":true}",
    },
    {
        .name = "task_report_unknown_seq",
        .yaml = F_TASK_OK,
        .cmds = {START("{\"id\":7}"), FAIL(9, "E", "c")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_RUNNING,
        .last_events = "",
        .waiting = 1,
    },
    {
        .name = "task_failure_without_catch",
        .yaml = F_TASK_PLAIN,
        .cmds = {START("{}"), SUB(1), FAIL(1, "Boom", "it exploded")},
        .status = FL_EXEC_FAILED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,StepFailed,ExecutionFailed",
        .error = "Boom",
        .message = "it exploded",
        .n_done = 1,
        .ev = {{5, "T", "\"Error\":\"Boom\""}, {6, "T", "\"Cause\":\"it exploded\""}},
    },
    {
        .name = "task_failure_without_cause",
        .yaml = F_TASK_PLAIN,
        .cmds = {START("{}"), SUB(1), FAIL(1, "Boom", NULL)},
        .status = FL_EXEC_FAILED,
        .error = "Boom",
        .message = "",
        .n_done = 1,
    },
    {
        .name = "catch_second_rule_default_handler_input",
        .yaml = F_CATCH,
        .cmds = {START("{\"id\":3}"), SUB(1), FAIL(1, "Bang", "pow")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,StepExited,StepEntered,StepExited,"
                  "ExecutionSucceeded",
        .output = "{\"Error\":\"Bang\",\"Cause\":\"pow\"}",
        .n_done = 1,
        .ev = {{6, "T", "\"Error\":\"Bang\""}, {7, "H", "\"Input\":{\"Error\":\"Bang\""}},
    },
    {
        .name = "catch_first_rule",
        .yaml = F_CATCH,
        .cmds = {START("{\"id\":3}"), FAIL(1, "Other", "o")},
        .status = FL_EXEC_FAILED,
        .error = "WrongHandler",
        .message = "",
        .n_done = 1,
    },
    {
        .name = "catch_no_matching_rule",
        .yaml = F_CATCH,
        .cmds = {START("{\"id\":3}"), FAIL(1, "boom", "lower case does not match")},
        .status = FL_EXEC_FAILED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,StepFailed,ExecutionFailed",
        .error = "boom",
        .message = "lower case does not match",
        .n_done = 1,
    },
    {
        .name = "catch_output_constructor_sees_error",
        .yaml = F_CATCH_CTOR,
        .cmds = {START("{\"id\":3}"), SUB(1), FAIL(1, "Boom", "details here")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"code\":\"Boom\",\"detail\":\"details here\",\"id\":3}",
        .n_done = 1,
    },
    {
        .name = "catch_output_constructor_error_leaves_failure_uncaught",
        .yaml = F_CATCH_BADCTOR,
        .cmds = {START("{\"id\":\"str\"}"), FAIL(1, "Boom", "b")},
        .status = FL_EXEC_FAILED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,StepFailed,ExecutionFailed",
        .error = "Boom",
        .message = "b",
        .n_done = 1,
    },
    {
        .name = "parameters_runtime_error_caught",
        .yaml = F_PARAMERR,
        .cmds = {START("{\"s\":\"x\"}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = "ExecutionStarted,StepEntered,StepExited,StepEntered,StepExited,"
                  "ExecutionSucceeded",
        .n_dispatches = 0,
        .ev = {{3, "T", "\"Error\":\"FnF.RuntimeError\""}},
    },

    /* ---- Retry ---- */
    {
        .name = "retry_sets_timer",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), SUB(1), FAIL(1, "Boom", "c1")},
        .status = FL_EXEC_RUNNING,
        .last_events = "TaskFailed",
        .n_timers = 1,
        .n_done = 1,
        .timer = {FL_TIMER_RETRY, 1, 2000},
    },
    {
        .name = "retry_new_attempt_new_seq",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), SUB(1), FAIL(1, "Boom", "c1"), TIMER(W_RETRY)},
        .status = FL_EXEC_RUNNING,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,TaskScheduled",
        .last_events = "TaskScheduled",
        .n_dispatches = 1,
        .n_tasks = 1,
        .waiting = 2,
        .dispatch_has = {"\"token\":\"tok-2\"", "\"retry\":1"},
        .ev = {{6, "T", "\"Attempt\":2"}},
    },
    {
        .name = "retry_then_success",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), SUB(1), FAIL(1, "Boom", "c1"), TIMER(W_RETRY), SUB(2),
                 OK(2, "{\"r\":2}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,TaskScheduled,TaskSubmitted,"
                  "TaskSucceeded,StepExited,ExecutionSucceeded",
        .output = "{\"r\":2}",
        .n_done = 1,
    },
    {
        .name = "retry_old_seq_report_already_completed",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), SUB(1), FAIL(1, "Boom", "c1"), TIMER(W_RETRY),
                 OK(1, "{\"r\":1}")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_RUNNING,
        .last_events = "",
        .waiting = 2,
    },
    {
        .name = "retry_report_during_backoff_already_completed",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Boom", "c1"), FAIL(1, "Boom", "again")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_RUNNING,
        .last_events = "",
    },
    {
        .name = "retry_old_then_current_seq",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Boom", "c1"), TIMER(W_RETRY),
                 OK_RC(1, "{}", FL_ETASK_ALREADY_COMPLETED), OK(2, "{\"r\":2}")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"r\":2}",
        .n_done = 1,
    },
    {
        .name = "retry_backoff_capped",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Boom", "c1"), TIMER(W_RETRY),
                 FAIL(2, "Boom", "c2")},
        .status = FL_EXEC_RUNNING,
        .n_timers = 1,
        .n_done = 1,
        .timer = {FL_TIMER_RETRY, 2, 3000}, /* 2 s * 2^1 = 4 s, capped at 3 s */
    },
    {
        .name = "retry_stale_retry_timer_ignored",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Boom", "c1"), TIMER(W_RETRY),
                 FAIL(2, "Boom", "c2"), TIMER_OLD(W_RETRY)},
        .status = FL_EXEC_RUNNING,
        .last_events = "",
    },
    {
        .name = "retry_wait_timer_with_retry_generation_ignored",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Boom", "c1"), TIMER_SEQ(W_WAIT, 1),
                 TIMER_SEQ(W_TASK, 1)},
        .status = FL_EXEC_RUNNING,
        .last_events = "",
    },
    {
        .name = "retry_exhausted_then_catch",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Boom", "c1"), TIMER(W_RETRY),
                 FAIL(2, "Boom", "c2"), TIMER(W_RETRY), FAIL(3, "Boom", "c3")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskFailed,TaskScheduled,TaskSubmitted,"
                  "TaskFailed,TaskScheduled,TaskSubmitted,TaskFailed,StepExited,StepEntered,"
                  "StepExited,ExecutionSucceeded",
        .last_events = "TaskSubmitted,TaskFailed,StepExited,StepEntered,StepExited,"
                       "ExecutionSucceeded",
        .output = "{\"Error\":\"Boom\",\"Cause\":\"c3\"}",
        .n_done = 1,
        .ev = {{9, "T", "\"Attempt\":3"}, {11, "T", "\"Cause\":\"c3\""}},
    },
    {
        .name = "retry_not_matching_goes_to_catch",
        .yaml = F_RETRY,
        .cmds = {START("{\"id\":1}"), FAIL(1, "Other", "x")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"Error\":\"Other\",\"Cause\":\"x\"}",
        .n_done = 1,
    },
    {
        .name = "retry_fnf_all_zero_interval_immediate",
        .yaml = F_RETRY_ALL,
        .cmds = {START("{}"), FAIL(1, "Anything", "a")},
        .status = FL_EXEC_RUNNING,
        .last_events = "TaskSubmitted,TaskFailed,TaskScheduled",
        .n_dispatches = 1,
        .n_tasks = 1,
        .n_done = 1,
        .waiting = 2,
        .dispatch_has = {"\"token\":\"tok-2\""},
    },
    {
        .name = "retry_fnf_all_exhausted",
        .yaml = F_RETRY_ALL,
        .cmds = {START("{}"), FAIL(1, "Anything", "a"), FAIL(2, "Else", "b")},
        .status = FL_EXEC_FAILED,
        .error = "Else",
        .message = "b",
        .n_done = 1,
    },

    /* ---- task timeout ---- */
    {
        .name = "timeout_timer_scheduled",
        .yaml = F_TIMEOUT,
        .cmds = {START("{}")},
        .status = FL_EXEC_RUNNING,
        .n_dispatches = 1,
        .n_tasks = 1,
        .n_timers = 1,
        .waiting = 1,
        .timer = {FL_TIMER_TASK_TIMEOUT, 1, 30000},
    },
    {
        .name = "timeout_fires_and_is_caught",
        .yaml = F_TIMEOUT,
        .cmds = {START("{}"), SUB(1), TIMER(W_TASK)},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskTimedOut,StepExited,StepEntered,StepExited,"
                  "ExecutionSucceeded",
        .output = "{\"Error\":\"FnF.TaskTimeout\",\"Cause\":\"task timed out after 30 seconds\"}",
        .n_done = 1,
        .ev = {{5, "T", "\"Error\":\"FnF.TaskTimeout\""}},
    },
    {
        .name = "timeout_then_report_already_completed",
        .yaml = F_TIMEOUT,
        .cmds = {START("{}"), TIMER(W_TASK), OK(1, "{}")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_SUCCEEDED,
        .last_events = "",
        .output = "{\"Error\":\"FnF.TaskTimeout\",\"Cause\":\"task timed out after 30 seconds\"}",
    },
    {
        .name = "timeout_after_success_ignored",
        .yaml = F_TIMEOUT,
        .cmds = {START("{\"a\":1}"), OK(1, "{\"b\":2}"), TIMER(W_TASK)},
        .status = FL_EXEC_SUCCEEDED,
        .last_events = "",
        .output = "{\"b\":2}",
    },
    {
        .name = "timeout_retry_old_attempt_timer_stale",
        .yaml = F_TIMEOUT_RETRY,
        .cmds = {START("{}"), TIMER(W_TASK), TIMER(W_RETRY), TIMER_OLD(W_TASK)},
        .status = FL_EXEC_RUNNING,
        .events = EV_TASK_START ",TaskTimedOut,TaskScheduled",
        .last_events = "",
        .waiting = 2,
    },
    {
        .name = "timeout_retry_exhausted_fails",
        .yaml = F_TIMEOUT_RETRY,
        .cmds = {START("{}"), TIMER(W_TASK), TIMER(W_RETRY), TIMER(W_TASK)},
        .status = FL_EXEC_FAILED,
        .events = EV_TASK_START ",TaskTimedOut,TaskScheduled,TaskTimedOut,StepFailed,"
                  "ExecutionFailed",
        .error = "FnF.TaskTimeout",
        .message = "task timed out after 30 seconds",
        .n_done = 1,
    },

    /* ---- STOP ---- */
    {
        .name = "stop_while_waiting",
        .yaml = F_WAIT,
        .cmds = {START("{}"), STOP("Aborted", "by test")},
        .status = FL_EXEC_STOPPED,
        .events = "ExecutionStarted,StepEntered,ExecutionStopped",
        .error = "Aborted",
        .message = "by test",
    },
    {
        .name = "stop_without_reason",
        .yaml = F_WAIT,
        .cmds = {START("{}"), STOP(NULL, NULL)},
        .status = FL_EXEC_STOPPED,
        .events = "ExecutionStarted,StepEntered,ExecutionStopped",
    },
    {
        .name = "stop_then_timer_ignored",
        .yaml = F_WAIT,
        .cmds = {START("{}"), STOP("Aborted", "x"), TIMER(W_WAIT)},
        .status = FL_EXEC_STOPPED,
        .last_events = "",
        .error = "Aborted",
        .message = "x",
    },
    {
        .name = "stop_twice_already_completed",
        .yaml = F_WAIT,
        .cmds = {START("{}"), STOP("Aborted", "x"), STOP("Again", "y")},
        .rc = FL_EEXECUTION_ALREADY_COMPLETED,
        .status = FL_EXEC_STOPPED,
        .last_events = "",
        .error = "Aborted",
        .message = "x",
    },
    {
        .name = "stop_while_task_waits",
        .yaml = F_TASK_OK,
        .cmds = {START("{}"), SUB(1), STOP("Aborted", "x")},
        .status = FL_EXEC_STOPPED,
        .events = EV_TASK_START ",TaskSubmitted,ExecutionStopped",
        .error = "Aborted",
        .message = "x",
        .n_done = 1,
    },
    {
        .name = "stop_then_report_already_completed",
        .yaml = F_TASK_OK,
        .cmds = {START("{}"), SUB(1), STOP("Aborted", "x"), OK(1, "{}")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_STOPPED,
        .last_events = "",
        .error = "Aborted",
        .message = "x",
    },
    {
        .name = "stop_after_success_already_completed",
        .yaml = F_TASK_OK,
        .cmds = {START("{}"), OK(1, "{}"), STOP(NULL, NULL)},
        .rc = FL_EEXECUTION_ALREADY_COMPLETED,
        .status = FL_EXEC_SUCCEEDED,
        .last_events = "",
        .output = "{\"id\":null,\"approved\":null}",
    },

    /* ---- SUBMIT_FAILED ---- */
    {
        .name = "submit_failed_retried",
        .yaml = F_SUBFAIL,
        .cmds = {START("{}"), SUBFAIL(1, "HTTP.ConnectionError", "refused")},
        .status = FL_EXEC_RUNNING,
        .events = EV_TASK_START ",TaskSubmitFailed",
        .n_timers = 1,
        .n_done = 1,
        .timer = {FL_TIMER_RETRY, 1, 1000},
        .ev = {{4, "T", "\"Cause\":\"refused\""}},
    },
    {
        .name = "submit_failed_then_catch",
        .yaml = F_SUBFAIL,
        .cmds = {START("{}"), SUBFAIL(1, "HTTP.ConnectionError", "refused"), TIMER(W_RETRY),
                 SUBFAIL(2, "HTTP.ConnectionError", "still refused")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitFailed,TaskScheduled,TaskSubmitFailed,StepExited,"
                  "StepEntered,StepExited,ExecutionSucceeded",
        .output = "{\"Error\":\"HTTP.ConnectionError\",\"Cause\":\"still refused\"}",
        .n_done = 1,
    },
    {
        .name = "submit_failed_without_error_is_runtime_error",
        .yaml = F_SUBFAIL,
        .cmds = {START("{}"), SUBFAIL(1, NULL, NULL)},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"Error\":\"FnF.RuntimeError\",\"Cause\":\"\"}",
        .n_done = 1,
    },
    {
        .name = "submit_failed_stale_seq_ignored",
        .yaml = F_SUBFAIL,
        .cmds = {START("{}"), SUBFAIL(5, "HTTP.ConnectionError", "x")},
        .status = FL_EXEC_RUNNING,
        .last_events = "",
        .waiting = 1,
    },

    /* ---- RequestComplete ---- */
    {
        .name = "request_complete_start",
        .yaml = F_RC,
        .cmds = {START("{}")},
        .status = FL_EXEC_RUNNING,
        .n_dispatches = 1,
        .n_tasks = 0, /* no callback row: the worker reports the result */
        .waiting = 1,
        .dispatch_has = {"\"Mode\":\"RequestComplete\"", "\"Action\":\"HTTP:Request\""},
    },
    {
        .name = "request_complete_result_under_output",
        .yaml = F_RC,
        .cmds = {START("{}"), SUB(1), OK(1, "{\"StatusCode\":200,\"Body\":\"hi\"}")},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskStarted,TaskSucceeded,StepExited,ExecutionSucceeded",
        .output = "{\"code\":200,\"body\":\"hi\"}",
        .n_done = 1,
    },

    /* ---- execution timeout ---- */
    {
        .name = "exec_timeout_timer_scheduled",
        .yaml = F_EXEC_TO,
        .cmds = {START("{}")},
        .status = FL_EXEC_RUNNING,
        .n_timers = 2,
        .timer = {FL_TIMER_EXEC_TIMEOUT, 0, 60000},
    },
    {
        .name = "exec_timeout_fires",
        .yaml = F_EXEC_TO,
        .cmds = {START("{}"), TIMER(W_EXEC)},
        .status = FL_EXEC_TIMED_OUT,
        .events = "ExecutionStarted,StepEntered,ExecutionTimedOut",
        .error = "FnF.Timeout",
        .message_has = "timed out",
    },
    {
        .name = "exec_timeout_then_wait_timer_ignored",
        .yaml = F_EXEC_TO,
        .cmds = {START("{}"), TIMER(W_EXEC), TIMER(W_WAIT)},
        .status = FL_EXEC_TIMED_OUT,
        .last_events = "",
        .error = "FnF.Timeout",
        .message_has = "timed out",
    },
    {
        .name = "exec_timeout_ends_waiting_task",
        .yaml = F_EXEC_TO_TASK,
        .cmds = {START("{}"), SUB(1), TIMER(W_EXEC)},
        .status = FL_EXEC_TIMED_OUT,
        .events = EV_TASK_START ",TaskSubmitted,ExecutionTimedOut",
        .error = "FnF.Timeout",
        .message_has = "timed out",
        .n_done = 1,
    },
    {
        .name = "exec_timeout_then_report_already_completed",
        .yaml = F_EXEC_TO_TASK,
        .cmds = {START("{}"), TIMER(W_EXEC), FAIL(1, "E", "c")},
        .rc = FL_ETASK_ALREADY_COMPLETED,
        .status = FL_EXEC_TIMED_OUT,
        .last_events = "",
        .error = "FnF.Timeout",
        .message_has = "timed out",
    },

    /* ---- payload limits ---- */
    {
        .name = "payload_input_too_large",
        .yaml = F_SUCCEED_PLAIN,
        .max_payload = 100,
        .cmds = {START(BIG_JSON)},
        .status = FL_EXEC_FAILED,
        .events = "ExecutionStarted,StepEntered,StepFailed,ExecutionFailed",
        .error = "FnF.PayloadTooLarge",
        .message_has = "above the limit of 100 bytes",
    },
    {
        .name = "payload_task_output_too_large",
        .yaml = F_TASK_PLAIN,
        .max_payload = 100,
        .cmds = {START("{}"), OK(1, BIG_JSON)},
        .status = FL_EXEC_FAILED,
        .events = EV_TASK_START ",TaskSubmitted,TaskSucceeded,StepFailed,ExecutionFailed",
        .error = "FnF.PayloadTooLarge",
        .message_has = "above the limit of 100 bytes",
        .n_done = 1,
    },
    {
        .name = "payload_task_output_too_large_caught",
        .yaml = F_CATCH_ALL,
        .max_payload = 120,
        .cmds = {START("{}"), OK(1, BIG_JSON)},
        .status = FL_EXEC_SUCCEEDED,
        .events = EV_TASK_START ",TaskSubmitted,TaskSucceeded,StepExited,StepEntered,"
                  "StepExited,ExecutionSucceeded",
        .n_done = 1,
        .ev = {{7, "H", "FnF.PayloadTooLarge"}},
    },
    {
        .name = "payload_at_limit_accepted",
        .yaml = F_SUCCEED_PLAIN,
        .max_payload = 12, /* {"a":"1234"} is exactly 12 bytes */
        .cmds = {START("{\"a\":\"1234\"}")},
        .status = FL_EXEC_SUCCEEDED,
        .output = "{\"a\":\"1234\"}",
    },
};

/* ---------------------------------------------------------------------------------------- */
/* Driver                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void mint(void *arg, uint64_t account, int64_t exec_id, uint32_t seq, char out[128])
{
    (void)arg;
    (void)account;
    (void)exec_id;
    snprintf(out, 128, "tok-%u", seq);
}

#define CFAIL(c, ...)                                                                          \
    do {                                                                                       \
        fprintf(stderr, "  case %s: ", (c)->name);                                             \
        FAIL_AT(__VA_ARGS__);                                                                  \
    } while (0)

typedef struct {
    int64_t sched;
    char *type, *step, *detail;
} hist_t;

static json_t *load_json(const ecase_t *c, const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        CFAIL(c, "bad JSON in the case: %s: %s", text, je.text);
    return v;
}

static bool is_task_result(const char *type)
{
    return !strcmp(type, "TaskSucceeded") || !strcmp(type, "TaskFailed") ||
           !strcmp(type, "TaskTimedOut") || !strcmp(type, "TaskSubmitted") ||
           !strcmp(type, "TaskStarted") || !strcmp(type, "TaskSubmitFailed");
}

static bool is_exec_end(const char *type)
{
    return !strcmp(type, "ExecutionSucceeded") || !strcmp(type, "ExecutionFailed") ||
           !strcmp(type, "ExecutionStopped") || !strcmp(type, "ExecutionTimedOut");
}

static const char *const end_event[] = {"", "", "ExecutionSucceeded", "ExecutionFailed",
                                        "ExecutionStopped", "ExecutionTimedOut"};

/* Runs case c and returns its transcript (every step's events and effects, heap text). */
static char *run_case(const ecase_t *c)
{
    fl_flow_t *flow = NULL;
    fl_diag_t d;
    memset(&d, 0, sizeof d);
    if (fl_spec_parse(c->yaml, strlen(c->yaml), &flow, &d) != FL_OK)
        CFAIL(c, "flow does not parse: line %d: %s: %s", d.line, d.path, d.msg);

    size_t n_cmds = 0;
    while (n_cmds < FL_ARRAY_LEN(c->cmds) && (n_cmds == 0 || c->cmds[n_cmds].kind != 0))
        n_cmds++; /* FL_CMD_START is 0 and only ever first */
    ASSERT(c->cmds[0].kind == FL_CMD_START);

    json_t *exec_input = load_json(c, c->cmds[0].data ? c->cmds[0].data : "{}");
    fl_exec_ctx_t ctx = {
        .account = 1234,
        .exec_id = 42,
        .exec_name = "exec1",
        .flow_name = "flow1",
        .role_arn = "acs:ram::1234:role/fnf",
        .exec_input = exec_input,
        .started_ms = T0,
        .mint = mint,
        .mint_arg = NULL,
        .max_payload = c->max_payload,
    };

    fl_buf_t tr, types;
    fl_buf_init(&tr);
    fl_buf_init(&types);
    hist_t *hist = NULL;
    size_t n_hist = 0;
    fl_timer_t *timers = NULL; /* every timer produced so far */
    size_t n_timers = 0;
    char *state = NULL;
    char *final_output = NULL, *final_code = NULL, *final_msg = NULL;
    bool ended = false;
    int64_t now = T0;
    fl_out_t out;
    fl_out_init(&out);
    int rc = FL_OK;
    uint32_t waiting = 0;

    for (size_t i = 0; i < n_cmds; i++) {
        const ccmd_t *cc = &c->cmds[i];
        fl_out_close(&out);

        /* The server reloads the state from the execution row before each command. */
        fl_run_t *run = NULL;
        if (!state)
            run = fl_run_new();
        else if (fl_run_load(state, &run) != FL_OK)
            CFAIL(c, "cmd %zu: state does not load: %s", i, state);

        fl_cmd_t cmd = {.kind = cc->kind, .seq = cc->seq, .timer_kind = cc->tkind,
                        .error = cc->error, .cause = cc->cause};
        now += STEP_MS;
        if (cc->kind == FL_CMD_TIMER && cc->from_timer) {
            const fl_timer_t *t = NULL;
            int skip = cc->from_timer - 1;
            for (size_t k = n_timers; k-- > 0;)
                if (timers[k].kind == cc->tkind && skip-- == 0) {
                    t = &timers[k];
                    break;
                }
            if (!t)
                CFAIL(c, "cmd %zu: no timer #%d of kind %d was produced", i, cc->from_timer,
                      cc->tkind);
            cmd.seq = t->seq;
            if (t->due_ms > now)
                now = t->due_ms;
        }
        cmd.now_ms = now;
        json_t *data = cc->data && cc->kind != FL_CMD_START ? load_json(c, cc->data) : NULL;
        cmd.data = cc->kind == FL_CMD_START ? (cc->data ? exec_input : NULL) : data;

        rc = fl_engine_step(flow, &ctx, run, &cmd, &out);
        json_decref(data);
        int want_rc = i + 1 == n_cmds ? c->rc : cc->expect_rc;
        if (rc != want_rc)
            CFAIL(c, "cmd %zu: rc %d (%s), expected %d (%s)", i, rc, fl_err_code(rc), want_rc,
                  fl_err_code(want_rc));

        /* ---- invariants of every step ---- */
        if (out.status != fl_run_status(run))
            CFAIL(c, "cmd %zu: out.status %d != run status %d", i, out.status,
                  fl_run_status(run));
        if (rc != FL_OK && (out.n_events || out.n_dispatches || out.n_timers || out.n_tasks))
            CFAIL(c, "cmd %zu: a refused command produced effects", i);
        if (ended && out.n_events)
            CFAIL(c, "cmd %zu: events after the execution ended", i);
        fl_buf_printf(&tr, "cmd %zu rc %d status %d\n", i, rc, out.status);
        int64_t result_ev = 0;
        for (size_t k = 0; k < out.n_events; k++) {
            const fl_ev_t *ev = &out.events[k];
            if (ev->event_id != (int64_t)n_hist + 1)
                CFAIL(c, "cmd %zu: event id %lld, expected %zu (no gaps)", i,
                      (long long)ev->event_id, n_hist + 1);
            if (ev->time_ms != now)
                CFAIL(c, "cmd %zu: event %lld time %lld != command time %lld", i,
                      (long long)ev->event_id, (long long)ev->time_ms, (long long)now);
            json_t *dj = json_loads(ev->detail, 0, NULL);
            if (!json_is_object(dj))
                CFAIL(c, "event %lld detail is not a JSON object: %s", (long long)ev->event_id,
                      ev->detail);
            json_decref(dj);
            if (is_task_result(ev->type)) {
                /* ScheduleEventId: the newest TaskScheduled of the same step before it. */
                int64_t want = 0;
                for (size_t h = n_hist; h-- > 0;)
                    if (!strcmp(hist[h].type, "TaskScheduled")) {
                        if (!strcmp(hist[h].step, ev->step))
                            want = (int64_t)h + 1;
                        break;
                    } else if (!strcmp(hist[h].type, "StepEntered")) {
                        break;
                    }
                if (want == 0 || ev->sched_id != want)
                    CFAIL(c, "event %lld (%s) ScheduleEventId %lld, expected %lld",
                          (long long)ev->event_id, ev->type, (long long)ev->sched_id,
                          (long long)want);
            } else if (ev->sched_id != 0) {
                CFAIL(c, "event %lld (%s) has ScheduleEventId %lld", (long long)ev->event_id,
                      ev->type, (long long)ev->sched_id);
            }
            if ((!strcmp(ev->type, "TaskSucceeded") || !strcmp(ev->type, "TaskFailed")) &&
                (cmd.kind == FL_CMD_TASK_SUCCEEDED || cmd.kind == FL_CMD_TASK_FAILED))
                result_ev = ev->event_id;
            if (is_exec_end(ev->type) && k + 1 != out.n_events)
                CFAIL(c, "cmd %zu: %s is not the last event of its step", i, ev->type);
            hist = xrealloc(hist, (n_hist + 1) * sizeof *hist);
            hist[n_hist].sched = ev->sched_id;
            hist[n_hist].type = xstrdup(ev->type);
            hist[n_hist].step = xstrdup(ev->step);
            hist[n_hist].detail = xstrdup(ev->detail);
            n_hist++;
            fl_buf_printf(&types, "%s%s", types.len ? "," : "", ev->type);
            fl_buf_printf(&tr, "E %lld %lld %s %s %lld %s\n", (long long)ev->event_id,
                          (long long)ev->sched_id, ev->type, ev->step, (long long)ev->time_ms,
                          ev->detail);
        }
        if (out.result_event != result_ev)
            CFAIL(c, "cmd %zu: result_event %lld, expected %lld", i,
                  (long long)out.result_event, (long long)result_ev);
        for (size_t k = 0; k < out.n_dispatches; k++) {
            json_t *p = json_loads(out.dispatches[k].payload, 0, NULL);
            if (!json_is_object(p) || !json_object_get(p, "Action") ||
                !json_object_get(p, "Mode") || !json_is_object(json_object_get(p, "Parameters")))
                CFAIL(c, "dispatch payload is not {Action,Mode,Parameters}: %s",
                      out.dispatches[k].payload);
            json_decref(p);
            fl_buf_printf(&tr, "D %u %s\n", out.dispatches[k].seq, out.dispatches[k].payload);
        }
        for (size_t k = 0; k < out.n_timers; k++) {
            const fl_timer_t *t = &out.timers[k];
            if (t->due_ms < now)
                CFAIL(c, "timer due %lld before now %lld", (long long)t->due_ms,
                      (long long)now);
            timers = xrealloc(timers, (n_timers + 1) * sizeof *timers);
            timers[n_timers++] = *t;
            fl_buf_printf(&tr, "T %d %u %lld\n", t->kind, t->seq, (long long)t->due_ms);
        }
        for (size_t k = 0; k < out.n_tasks; k++) {
            const fl_task_new_t *t = &out.tasks[k];
            if (t->sched_id < 1 || t->sched_id > (int64_t)n_hist ||
                strcmp(hist[t->sched_id - 1].type, "TaskScheduled") ||
                strcmp(hist[t->sched_id - 1].step, t->step))
                CFAIL(c, "task %u: sched_id %lld is not its TaskScheduled", t->seq,
                      (long long)t->sched_id);
            fl_buf_printf(&tr, "K %u %s %lld %lld\n", t->seq, t->step, (long long)t->sched_id,
                          (long long)t->timeout_ms);
        }
        for (size_t k = 0; k < out.n_done; k++)
            fl_buf_printf(&tr, "X %u\n", out.done_seqs[k]);

        if (out.finished) {
            if (ended)
                CFAIL(c, "cmd %zu: finished twice", i);
            ended = true;
            if (!out.n_events || strcmp(out.events[out.n_events - 1].type,
                                        end_event[out.status]))
                CFAIL(c, "cmd %zu: finished with status %d without its end event", i,
                      out.status);
            final_output = out.output ? xstrdup(out.output) : NULL;
            final_code = out.error_code ? xstrdup(out.error_code) : NULL;
            final_msg = out.error_message ? xstrdup(out.error_message) : NULL;
            fl_buf_printf(&tr, "F %s %s %s\n", out.output ? out.output : "-",
                          out.error_code ? out.error_code : "-",
                          out.error_message ? out.error_message : "-");
        } else if (out.output || out.error_code || out.error_message) {
            CFAIL(c, "cmd %zu: output or error set on a step that did not finish", i);
        }

        /* Dump, reload and dump again: the state must survive the trip unchanged. */
        free(state);
        state = fl_run_dump(run);
        fl_run_t *again = NULL;
        if (fl_run_load(state, &again) != FL_OK)
            CFAIL(c, "cmd %zu: dumped state does not load: %s", i, state);
        char *state2 = fl_run_dump(again);
        if (strcmp(state, state2))
            CFAIL(c, "cmd %zu: state changed in a round trip:\n  %s\n  %s", i, state, state2);
        if (fl_run_status(again) != fl_run_status(run) ||
            fl_run_waiting_seq(again) != fl_run_waiting_seq(run))
            CFAIL(c, "cmd %zu: status or waiting seq lost in a round trip", i);
        waiting = fl_run_waiting_seq(again);
        free(state2);
        fl_run_free(again);
        fl_run_free(run);
    }

    /* ---- expectations after the last command ---- */
    if (out.status != c->status)
        CFAIL(c, "status %d (%s), expected %d (%s)", out.status, fl_exec_status_name(out.status),
              c->status, fl_exec_status_name(c->status));
    if (c->events && strcmp(types.data ? types.data : "", c->events))
        CFAIL(c, "events:\n    got:      %s\n    expected: %s", types.data ? types.data : "",
              c->events);
    if (c->last_events) {
        fl_buf_t last;
        fl_buf_init(&last);
        for (size_t k = 0; k < out.n_events; k++)
            fl_buf_printf(&last, "%s%s", k ? "," : "", out.events[k].type);
        if (strcmp(last.data ? last.data : "", c->last_events))
            CFAIL(c, "last step events:\n    got:      %s\n    expected: %s",
                  last.data ? last.data : "", c->last_events);
        fl_buf_free(&last);
    }
    if (c->status == FL_EXEC_RUNNING && ended)
        CFAIL(c, "the execution ended but the case expects it running");
    if (c->status != FL_EXEC_RUNNING && !ended)
        CFAIL(c, "the execution never finished");
    if (c->output) {
        json_t *want = load_json(c, c->output);
        json_t *got = final_output ? json_loads(final_output, 0, NULL) : NULL;
        if (!got || !json_equal(got, want))
            CFAIL(c, "output:\n    got:      %s\n    expected: %s",
                  final_output ? final_output : "(none)", c->output);
        json_decref(want);
        json_decref(got);
    } else if (c->status == FL_EXEC_FAILED || c->status == FL_EXEC_STOPPED ||
               c->status == FL_EXEC_TIMED_OUT) {
        if (final_output)
            CFAIL(c, "unexpected output %s", final_output);
    }
    if (c->error) {
        if (!final_code || strcmp(final_code, c->error))
            CFAIL(c, "error code '%s', expected '%s'", final_code ? final_code : "(null)",
                  c->error);
    } else if (final_code) {
        CFAIL(c, "unexpected error code '%s' (%s)", final_code, final_msg ? final_msg : "");
    }
    if (c->message && (!final_msg || strcmp(final_msg, c->message)))
        CFAIL(c, "error message '%s', expected '%s'", final_msg ? final_msg : "(null)",
              c->message);
    if (c->message_has && (!final_msg || !strstr(final_msg, c->message_has)))
        CFAIL(c, "error message '%s' lacks '%s'", final_msg ? final_msg : "(null)",
              c->message_has);
    if ((int)out.n_dispatches != c->n_dispatches || (int)out.n_timers != c->n_timers ||
        (int)out.n_tasks != c->n_tasks || (int)out.n_done != c->n_done)
        CFAIL(c, "last step produced %zu dispatches, %zu timers, %zu tasks, %zu done; "
                 "expected %d, %d, %d, %d",
              out.n_dispatches, out.n_timers, out.n_tasks, out.n_done, c->n_dispatches,
              c->n_timers, c->n_tasks, c->n_done);
    if (waiting != c->waiting)
        CFAIL(c, "waiting seq %u, expected %u", waiting, c->waiting);
    if (c->timer.kind) {
        const fl_timer_t *t = &out.timers[0];
        if (t->kind != c->timer.kind || t->seq != c->timer.seq || t->due_ms - now != c->timer.off)
            CFAIL(c, "timer {kind %d, seq %u, +%lld ms}, expected {kind %d, seq %u, +%lld ms}",
                  t->kind, t->seq, (long long)(t->due_ms - now), c->timer.kind, c->timer.seq,
                  (long long)c->timer.off);
    }
    for (size_t k = 0; k < out.n_tasks; k++) {
        /* A new callback attempt is the one the run now waits for, with its dispatch. */
        if (out.tasks[k].seq != waiting || out.n_dispatches != 1 ||
            out.dispatches[0].seq != out.tasks[k].seq)
            CFAIL(c, "task row seq %u does not match waiting %u / dispatch", out.tasks[k].seq,
                  waiting);
    }
    for (size_t k = 0; k < FL_ARRAY_LEN(c->dispatch_has) && c->dispatch_has[k]; k++)
        if (!out.n_dispatches || !strstr(out.dispatches[0].payload, c->dispatch_has[k]))
            CFAIL(c, "dispatch %s lacks %s", out.n_dispatches ? out.dispatches[0].payload : "-",
                  c->dispatch_has[k]);
    for (size_t k = 0; k < FL_ARRAY_LEN(c->ev) && c->ev[k].id; k++) {
        const ev_has_t *e = &c->ev[k];
        if (e->id > (int64_t)n_hist)
            CFAIL(c, "event %lld does not exist (%zu events)", (long long)e->id, n_hist);
        const hist_t *h = &hist[e->id - 1];
        if (e->step && strcmp(h->step, e->step))
            CFAIL(c, "event %lld (%s) step '%s', expected '%s'", (long long)e->id, h->type,
                  h->step, e->step);
        if (e->has && !strstr(h->detail, e->has))
            CFAIL(c, "event %lld (%s) detail %s lacks %s", (long long)e->id, h->type, h->detail,
                  e->has);
    }

    fl_out_close(&out);
    for (size_t k = 0; k < n_hist; k++) {
        free(hist[k].type);
        free(hist[k].step);
        free(hist[k].detail);
    }
    free(hist);
    free(timers);
    free(state);
    free(final_output);
    free(final_code);
    free(final_msg);
    fl_buf_free(&types);
    json_decref(exec_input);
    fl_flow_free(flow);
    return fl_buf_take(&tr);
}

/* Runs every case in its own process so one failure does not hide the others; each case
 * runs twice and must give the same transcript, since the step function is pure. */
TEST(engine_table)
{
    int failed = 0;
    const char *only = getenv("FL_ENGINE_CASE");
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        if (only && !strstr(cases[i].name, only))
            continue;
        fflush(NULL);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            char *a = run_case(&cases[i]);
            char *b = run_case(&cases[i]);
            if (strcmp(a, b)) {
                fprintf(stderr, "  case %s: not deterministic:\n%s\n---\n%s\n", cases[i].name,
                        a, b);
                abort();
            }
            free(a);
            free(b);
            LEAK_CHECK();
            fflush(NULL);
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "  engine case FAILED: %s\n", cases[i].name);
            failed++;
        }
    }
    ASSERT_EQ(failed, 0);
}

/* Case names are unique, so a failure report names exactly one case. */
TEST(engine_table_names_unique)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++)
        for (size_t j = i + 1; j < FL_ARRAY_LEN(cases); j++)
            if (!strcmp(cases[i].name, cases[j].name))
                FAIL_AT("duplicate case name %s", cases[i].name);
}

/* ---------------------------------------------------------------------------------------- */
/* Run state serialization                                                                  */
/* ---------------------------------------------------------------------------------------- */

TEST(engine_run_load_rejects_damage)
{
    static const char *const bad[] = {
        "", "not json", "[]", "{}", "null", "{\"st\":1}",
        "{\"st\":\"x\",\"ne\":1,\"ns\":1,\"gen\":0,\"cur\":0,\"ph\":0,\"seq\":0,\"sid\":0,"
        "\"sub\":false,\"att\":0}",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        fl_run_t *r = (fl_run_t *)(uintptr_t)1;
        if (fl_run_load(bad[i], &r) != FL_EINTERNAL)
            FAIL_AT("'%s' should not load", bad[i]);
        ASSERT(r == (fl_run_t *)(uintptr_t)1); /* untouched on failure */
    }
    LEAK_CHECK();
}

TEST(engine_new_run_round_trip)
{
    fl_run_t *r = fl_run_new();
    ASSERT_EQ(fl_run_status(r), FL_EXEC_RUNNING);
    ASSERT_EQ(fl_run_waiting_seq(r), 0);
    char *s = fl_run_dump(r);
    fl_run_t *r2 = NULL;
    ASSERT_OK(fl_run_load(s, &r2));
    char *s2 = fl_run_dump(r2);
    ASSERT_STR_EQ(s2, s);
    free(s);
    free(s2);
    fl_run_free(r);
    fl_run_free(r2);
    fl_run_free(NULL);
    fl_out_close(NULL);
    LEAK_CHECK();
}

/* The token minted for an attempt is visible to Parameters only, and each attempt gets the
 * token of its own seq (checked through the exec_id/account passed to mint). */
static int mint_calls;
static void mint_check(void *arg, uint64_t account, int64_t exec_id, uint32_t seq, char out[128])
{
    ASSERT(arg == &mint_calls);
    ASSERT_EQ(account, 77);
    ASSERT_EQ(exec_id, 99);
    mint_calls++;
    snprintf(out, 128, "T%u", seq);
}

TEST(engine_mint_gets_identity)
{
    fl_flow_t *flow = NULL;
    fl_diag_t d;
    ASSERT_OK(fl_spec_parse(F_RETRY_ALL, strlen(F_RETRY_ALL), &flow, &d));
    fl_exec_ctx_t ctx = {.account = 77, .exec_id = 99, .exec_name = "e", .flow_name = "f",
                         .started_ms = T0, .mint = mint_check, .mint_arg = &mint_calls};
    fl_run_t *run = fl_run_new();
    fl_out_t out;
    fl_out_init(&out);
    fl_cmd_t start = {.kind = FL_CMD_START, .now_ms = T0};
    ASSERT_OK(fl_engine_step(flow, &ctx, run, &start, &out));
    ASSERT_EQ(mint_calls, 1);
    ASSERT_EQ(out.n_dispatches, 1);
    ASSERT_CONTAINS(out.dispatches[0].payload, "\"token\":\"T1\"");
    fl_out_close(&out);
    fl_cmd_t fail = {.kind = FL_CMD_TASK_FAILED, .now_ms = T0 + 1, .seq = 1, .error = "X"};
    ASSERT_OK(fl_engine_step(flow, &ctx, run, &fail, &out));
    ASSERT_EQ(mint_calls, 2);
    ASSERT_CONTAINS(out.dispatches[0].payload, "\"token\":\"T2\"");
    ASSERT_EQ(out.result_event, 5); /* Started, Entered, Scheduled, Submitted, Failed */
    fl_out_close(&out);
    fl_run_free(run);
    fl_flow_free(flow);
    LEAK_CHECK();
}
