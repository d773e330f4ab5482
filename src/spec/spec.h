/*
 * spec.h - flow definitions: parse CloudFlow (Type: StateMachine, SpecVersion: v1) and the
 * legacy FDL (type: flow) in YAML or JSON into one immutable model, fl_flow_t, validating it
 * fully; and the expression language used in constructors, mappings, conditions and waits.
 *
 * This module does no I/O and keeps no global state; a parsed flow may be shared read-only
 * between threads. States live in scopes (the top level, Parallel branches, Map processors,
 * FDL choice steps) and refer to each other by index within their scope.
 */
#ifndef FL_SPEC_H
#define FL_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

/* ------------------------------------------------------------------------------------------
 * Expressions
 * ------------------------------------------------------------------------------------------ */

typedef struct fl_expr fl_expr_t;   /* one compiled expression, e.g. $Input.a[0] == "x" */
typedef struct fl_tmpl fl_tmpl_t;   /* a compiled constructor (JSON with "key.$" entries) */

/* The roots an expression may read. Any may be NULL (then it reads as null). Borrowed. */
typedef struct {
    json_t *input;   /* $Input */
    json_t *output;  /* $Output (only inside OutputConstructor) */
    json_t *context; /* $Context: {"Execution": {...}, "Current": {...}} */
} fl_env_t;

/* Compiles expression text. Returns FL_OK with *out set (free with fl_expr_free), or
 * FL_EINVALID_ARGUMENT with diag->msg explaining (diag->col = 1-based column in src). */
int fl_expr_compile(const char *src, fl_expr_t **out /* OUT */, fl_diag_t *diag);
void fl_expr_free(fl_expr_t *e);
/* Evaluates e. Returns FL_OK and a new reference in *out, or FL_EINVALID_ARGUMENT with a
 * message in err (a runtime type error such as comparing an object with "<"). */
int fl_expr_eval(const fl_expr_t *e, const fl_env_t *env, json_t **out /* OUT */, char *err,
                 size_t errlen);
/* Evaluates e as a condition: true only for JSON true (no truthiness of other types). */
int fl_expr_eval_bool(const fl_expr_t *e, const fl_env_t *env, bool *out /* OUT */, char *err,
                      size_t errlen);

/* Compiles a constructor: any JSON value; inside objects, a key ending in ".$" holds an
 * expression string and produces the key without ".$". Nested objects and arrays are
 * walked. Returns FL_OK or FL_EINVALID_ARGUMENT with diag->path relative to tmpl. */
int fl_tmpl_compile(json_t *tmpl, fl_tmpl_t **out /* OUT */, fl_diag_t *diag);
void fl_tmpl_free(fl_tmpl_t *t);
/* Builds the constructor's value. Returns FL_OK with a new reference in *out, or
 * FL_EINVALID_ARGUMENT with err set. */
int fl_tmpl_eval(const fl_tmpl_t *t, const fl_env_t *env, json_t **out /* OUT */, char *err,
                 size_t errlen);

/* ------------------------------------------------------------------------------------------
 * Flows
 * ------------------------------------------------------------------------------------------ */

typedef enum {
    FL_ST_PASS,
    FL_ST_TASK,
    FL_ST_CHOICE,
    FL_ST_WAIT,
    FL_ST_SUCCEED,
    FL_ST_FAIL,
    FL_ST_PARALLEL, /* CloudFlow Parallel, FDL parallel */
    FL_ST_MAP,      /* CloudFlow Map (inline), FDL foreach */
} fl_state_type_t;

/* Which language a flow was written in: the data flow between states differs. */
typedef enum {
    FL_DIALECT_CLOUDFLOW, /* each state's output is the next state's input */
    FL_DIALECT_FDL,       /* steps merge their outputs into the scope's $local */
} fl_dialect_t;

typedef enum {
    FL_MODE_REQUEST_COMPLETE, /* RequestComplete, FDL requestResponse */
    FL_MODE_WAIT_CALLBACK,    /* WaitForCustomCallback, FDL waitForCallback */
    FL_MODE_SYNC,             /* WaitForSystemCallback, FDL sync: wait for the job (sub-flow) */
} fl_task_mode_t;

typedef struct {
    char **errors; /* error names; "FnF.ALL" matches any */
    size_t n_errors;
    double interval_s;    /* IntervalSeconds / intervalSeconds, default 1 */
    int max_attempts;     /* MaxAttempts / maxAttempts, default 3 (retries after the first) */
    double backoff_rate;  /* BackoffRate / multiplier (CloudFlow default 1, FDL default 2) */
    double max_backoff_s; /* MaxBackoffSeconds / maxIntervalSeconds, 0 = no cap */
} fl_retry_t;

typedef struct {
    char **errors;
    size_t n_errors;
    fl_tmpl_t *output_ctor; /* may be NULL */
    int next;               /* state index in the same scope (Next / goto) */
} fl_catch_t;

typedef struct fl_state fl_state_t;

typedef struct fl_scope {
    fl_state_t *states;
    size_t n_states;
    int start; /* index of StartAt (FDL: 0, the first step) */
} fl_scope_t;

typedef struct {
    fl_expr_t *cond;
    int next;          /* state to go to, or -1 when scope is set */
    fl_scope_t *scope; /* FDL choice with steps: run them, then continue after the choice */
} fl_choice_t;

struct fl_state {
    char *name;
    fl_state_type_t type;
    int line;               /* 1-based line of the state in the definition */
    int next;               /* index of Next in the same scope, -1 when End or none */
    bool end;               /* End: true (FDL end: true ends the current step list) */
    fl_tmpl_t *input_ctor;  /* InputConstructor / FDL inputMappings, NULL if absent */
    fl_tmpl_t *output_ctor; /* OutputConstructor / FDL outputMappings, NULL if absent */

    /* Task */
    char *action;          /* CloudFlow Action ("HTTP:Request", "FnF:StartExecution") or the
                              FDL resourceArn ("acs:fnf:::flow/child", "acs:fc:...") */
    fl_task_mode_t mode;
    fl_tmpl_t *parameters; /* Parameters / FDL serviceParams, NULL if absent */
    int64_t timeout_s;     /* Timeout / timeoutSeconds, 0 = none */
    fl_retry_t *retry;     /* Task, Parallel, Map (and OnErrors entries) */
    size_t n_retry;
    fl_catch_t *catches;
    size_t n_catches;
    fl_tmpl_t *error_map;  /* FDL errorMappings over $local.error / $local.cause */

    /* Choice */
    fl_choice_t *choices;
    size_t n_choices;
    int default_next;           /* -1 when no Default (or when default_scope is set) */
    fl_scope_t *default_scope;  /* FDL default: {steps: [...]} */

    /* Wait */
    int64_t wait_s;         /* Seconds / duration, when no expression is set */
    fl_expr_t *wait_expr;   /* Seconds.$ / duration given as a path: a number of seconds */
    fl_expr_t *wait_until;  /* Timestamp(.$) / FDL timestamp: an RFC 3339 time */

    /* Fail */
    char *fail_code;   /* Code / error, may be NULL */
    char *fail_detail; /* Detail / cause */

    /* Parallel */
    fl_scope_t *branches;
    size_t n_branches;

    /* Map / foreach */
    fl_expr_t *items;       /* ItemsPath / iterationMapping.collection: an array */
    fl_scope_t *processor;  /* Processor / foreach steps */
    fl_tmpl_t *item_ctor;   /* ItemConstructor ($Input = the item), NULL if absent */
    char *item_name;        /* FDL iterationMapping.item: the item's key in the input */
    char *index_name;       /* FDL iterationMapping.index, may be NULL */
    int max_concurrency;    /* MaxConcurrency, 0 = no limit (bounded by the engine) */
};

typedef struct {
    char *name;        /* Name, may be NULL */
    fl_dialect_t dialect;
    int64_t timeout_s; /* Timeout / timeoutSeconds of the execution, 0 = none */
    fl_scope_t root;
    fl_tmpl_t *input_ctor;  /* FDL flow-level inputMappings, NULL if absent */
    fl_tmpl_t *output_ctor; /* FDL flow-level outputMappings, NULL if absent */
} fl_flow_t;

/* Limits on definitions (untrusted input). */
#define FL_SPEC_MAX_BYTES (1024 * 1024)
#define FL_SPEC_MAX_STATES 1000
#define FL_SPEC_MAX_DEPTH 64

/* Parses and validates a definition (YAML or JSON) in either language: CloudFlow
 * (Type: StateMachine) or the legacy FDL (type: flow, steps), told apart by their top-level
 * keys. Returns FL_OK with a new flow in *out (free with fl_flow_free), or
 * FL_EINVALID_ARGUMENT with diag filled: line, column, path such as "States[1].Next", and a
 * message such as "Next names an unknown state 'Foo'". */
int fl_spec_parse(const char *text, size_t len, fl_flow_t **out /* OUT */, fl_diag_t *diag);
void fl_flow_free(fl_flow_t *f);

/* Parses one YAML (or JSON) document with the same limits and typing rules as definitions
 * (no anchors, no duplicate keys). Returns FL_OK with a new JSON value, or
 * FL_EINVALID_ARGUMENT with diag filled. Used for configuration files too. */
int fl_yaml_parse(const char *text, size_t len, json_t **out /* OUT */, fl_diag_t *diag);

/* Returns true when err matches one of names (exact, case-sensitive; "FnF.ALL" = any). */
bool fl_spec_errors_match(char *const *names, size_t n, const char *err);

#endif
