/*
 * test_expr.c - the expression language and constructors (src/spec/expr.c): tables of
 * expressions with their value or their compile/runtime error, then templates.
 */
#include "spec/spec.h"
#include "test.h"

static const char *const ENV_INPUT =
    "{\"a\": 1, \"b\": 2.5, \"s\": \"x\", \"t\": true, \"f\": false, \"n\": null,"
    " \"list\": [{\"id\": \"i0\"}, {\"id\": \"i1\", \"tags\": [\"p\", \"q\"]}],"
    " \"o\": {\"k\": \"v\", \"n\": {\"deep\": 3}}, \"a-b\": 7, \"arr\": [1, 2, 3],"
    " \"big\": 9223372036854775807, \"status\": \"true\", \"zero\": 0,"
    " \"u\": \"h\\u00e9llo \\ud83d\\ude00\", \"js\": \"{\\\"x\\\": 1}\", \"empty\": [],"
    " \"neg\": -9223372036854775807}";
static const char *const ENV_OUTPUT = "{\"Body\": {\"url\": \"http://x\"}, \"code\": 200}";
static const char *const ENV_CONTEXT =
    "{\"Execution\": {\"Name\": \"e1\", \"Input\": {\"orderId\": \"o-1\"}},"
    " \"Current\": {\"Name\": \"S1\", \"TaskToken\": \"tok\", \"RetryCount\": 0,"
    " \"Error\": {\"Code\": \"E\", \"Detail\": \"d\"}}}";

typedef struct {
    json_t *in, *outp, *ctx;
    fl_env_t env;
} env_fixture_t;

static void env_open(env_fixture_t *f)
{
    f->in = json_loads(ENV_INPUT, 0, NULL);
    f->outp = json_loads(ENV_OUTPUT, 0, NULL);
    f->ctx = json_loads(ENV_CONTEXT, 0, NULL);
    ASSERT(f->in && f->outp && f->ctx);
    f->env = (fl_env_t){f->in, f->outp, f->ctx};
}

static void env_close(env_fixture_t *f)
{
    json_decref(f->in);
    json_decref(f->outp);
    json_decref(f->ctx);
}

/* Compiles and evaluates src; returns the value (new) or NULL with err filled. */
static json_t *run(const char *src, const fl_env_t *env, char *err, size_t errlen)
{
    fl_expr_t *e;
    fl_diag_t d;
    json_t *v = NULL;
    if (fl_expr_compile(src, &e, &d) != FL_OK)
        FAIL_AT("compile '%s': %s (col %d)", src, d.msg, d.col);
    if (fl_expr_eval(e, env, &v, err, errlen) != FL_OK)
        v = NULL;
    fl_expr_free(e);
    return v;
}

TEST(expr_values)
{
    static const struct {
        const char *src, *want; /* want: JSON text of the value */
    } cases[] = {
        /* roots, paths, indexes */
        {"$Input.a", "1"},
        {"$Input.b", "2.5"},
        {"$Input.s", "\"x\""},
        {"$Input.list[0].id", "\"i0\""},
        {"$Input.list[1].tags[1]", "\"q\""},
        {"$Input.list[ 1 ].id", "\"i1\""},
        {"$Input[\"a-b\"]", "7"},
        {"$Input['a-b']", "7"},
        {"$Input.o.n.deep", "3"},
        {"$Input.o", "{\"k\": \"v\", \"n\": {\"deep\": 3}}"},
        {"$Input.arr", "[1, 2, 3]"},
        {"$Output.Body.url", "\"http://x\""},
        {"$Context.Execution.Name", "\"e1\""},
        {"$Context.Current.TaskToken", "\"tok\""},
        {"$Context.Current.Error.Code", "\"E\""},
        {"$Context.Execution.Input.orderId", "\"o-1\""},
        /* missing fields and out-of-range indexes are null, not errors */
        {"$Input.missing", "null"},
        {"$Input.missing.deeper[3].x", "null"},
        {"$Input.arr[99]", "null"},
        {"$Input.s.x", "null"},
        {"$Input.o[0]", "null"},
        {"$Input.arr.x", "null"},
        {"$Input.missing == null", "true"},
        {"$Input.n == null", "true"},
        /* literals */
        {"\"he said \\\"hi\\\"\"", "\"he said \\\"hi\\\"\""},
        {"'single \\' quoted'", "\"single ' quoted\""},
        {"\"tab\\there\"", "\"tab\\there\""},
        {"\"\\u00e9\\ud83d\\ude00\"", "\"\\u00e9\\ud83d\\ude00\""},
        {"42", "42"},
        {"4.5e1", "45.0"},
        {"-3", "-3"},
        {"true", "true"},
        {"false", "false"},
        {"null", "null"},
        {"99999999999999999999", "1e20"},
        /* equality: deep, numbers by value */
        {"$Input.a == 1", "true"},
        {"$Input.a == 1.0", "true"},
        {"$Input.a != 1", "false"},
        {"$Input.s == \"x\"", "true"},
        {"$Input.s == 'x'", "true"},
        {"$Input.status == \"true\"", "true"},
        {"$Input.status == true", "false"},
        {"$Input.t == true", "true"},
        {"$Input.a == \"1\"", "false"},
        {"$Input.arr == $Input.arr", "true"},
        {"$Input.o == $Input.o", "true"},
        {"$Input.o == $Input.arr", "false"},
        {"$Input.list[0] == $Input.list[1]", "false"},
        {"null == false", "false"},
        /* ordering */
        {"$Input.a < 2", "true"},
        {"$Input.a <= 1", "true"},
        {"$Input.b > 2", "true"},
        {"$Input.b >= 2.5", "true"},
        {"$Input.a < $Input.b", "true"},
        {"\"abc\" < \"abd\"", "true"},
        {"\"ab\" < \"abc\"", "true"},
        {"\"b\" > \"abc\"", "true"},
        {"$Input.big > 9223372036854775806", "true"},
        /* boolean logic and precedence */
        {"$Input.t && $Input.f", "false"},
        {"$Input.t || $Input.f", "true"},
        {"!$Input.f", "true"},
        {"!!$Input.t", "true"},
        {"$Input.a == 1 && $Input.s == \"x\"", "true"},
        {"$Input.a == 2 || $Input.s == \"x\" && $Input.t", "true"},
        {"($Input.a == 2 || $Input.s == \"x\") && $Input.f", "false"},
        {"!($Input.a > 5)", "true"},
        {"$Input.a != 1 || !($Input.s == 'y')", "true"},
        /* short-circuit: the right side would be a type error */
        {"$Input.f && $Input.s < 1", "false"},
        {"$Input.t || $Input.o > 1", "true"},
        /* arithmetic */
        {"1 + 2 * 3", "7"},
        {"(1 + 2) * 3", "9"},
        {"$Input.a + $Input.b", "3.5"},
        {"7 / 2", "3.5"},
        {"8 / 2", "4"},
        {"7 % 3", "1"},
        {"7.5 % 2", "1.5"},
        {"10 - 4 - 3", "3"},
        {"-$Input.a", "-1"},
        {"2 - -1", "3"},
        {"$Input.big + 1", "9223372036854775808.0"},
        {"\"a\" + \"b\" + $Input.s", "\"abx\""},
        {"$Input.arr[1] * 10 == 20", "true"},
        {"$Input.a + 1 > 1 && true", "true"},
        /* whole roots */
        {"$Input.list[1].tags", "[\"p\", \"q\"]"},
        {"  $Input.a  ", "1"},
    };
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char err[256] = "";
        json_t *v = run(cases[i].src, &f.env, err, sizeof err);
        json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
        ASSERT(want);
        if (!v || !json_equal(v, want)) {
            char *got = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
            FAIL_AT("'%s': got %s (err '%s'), want %s", cases[i].src, got ? got : "(error)",
                    err, cases[i].want);
        }
        json_decref(v);
        json_decref(want);
    }
    env_close(&f);
    LEAK_CHECK();
}

TEST(expr_whole_root_and_null_env)
{
    env_fixture_t f;
    char err[128];
    env_open(&f);
    json_t *v = run("$Input", &f.env, err, sizeof err);
    ASSERT(v == f.in); /* a new reference to the same value */
    json_decref(v);
    fl_env_t empty = {NULL, NULL, NULL};
    v = run("$Output.x", &empty, err, sizeof err);
    ASSERT(json_is_null(v));
    json_decref(v);
    v = run("$Context", NULL, err, sizeof err);
    ASSERT(json_is_null(v));
    json_decref(v);
    env_close(&f);
    LEAK_CHECK();
}

TEST(expr_runtime_errors)
{
    static const struct {
        const char *src, *err;
    } cases[] = {
        {"$Input.o < 1", "operator '<' needs two numbers or two strings, got an object and a number"},
        {"$Input.s > 1", "got a string and a number"},
        {"$Input.missing <= 1", "got null and a number"},
        {"$Input.arr >= $Input.arr", "operator '>='"},
        {"$Input.s && true", "operator '&&' needs boolean operands, got a string"},
        {"true && $Input.a", "operator '&&' needs boolean operands, got a number"},
        {"$Input.f || $Input.n", "operator '||' needs boolean operands, got null"},
        {"!$Input.a", "operator '!' needs boolean operands"},
        {"!$Input.missing", "got null"},
        {"$Input.a / 0", "division by zero"},
        {"$Input.a % $Input.zero", "division by zero"},
        {"$Input.s + 1", "operator '+' needs two numbers or two strings"},
        {"$Input.s - \"a\"", "operator '-' needs two numbers, got a string and a string"},
        {"$Input.o * 2", "operator '*'"},
        {"-$Input.s", "unary '-' needs a number"},
        {"1e308 * 10", "arithmetic overflow"},
    };
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char err[256] = "";
        json_t *v = run(cases[i].src, &f.env, err, sizeof err);
        if (v)
            FAIL_AT("'%s' should fail", cases[i].src);
        ASSERT_CONTAINS(err, cases[i].err);
    }
    env_close(&f);
    LEAK_CHECK();
}

TEST(expr_compile_errors)
{
    static const struct {
        const char *src;
        int col;
        const char *msg;
    } cases[] = {
        {"len($Input.list)", 1, "unknown function 'len'"},
        {"$Input.a == size ($Input.s)", 13, "unknown function 'size'"},
        {"States.Format('x')", 1, "unknown function 'States.Format'"},
        {"$Foo.a", 1, "unknown variable '$Foo'"},
        {"$Input.a == $INPUT.a", 13, "unknown variable '$INPUT'"},
        {"", 1, "expression is empty"},
        {"   ", 1, "expression is empty"},
        {"$Input.a ==", 12, "unexpected end of expression"},
        {"$Input.a = 1", 10, "unexpected '='"},
        {"$Input.a & $Input.b", 10, "unexpected '&'"},
        {"($Input.a == 1", 15, "expected ')'"},
        {"$Input.a)", 9, "unexpected ')'"},
        {"$Input.", 7, "expected a field name after '.'"},
        {"$Input.list[", 13, "expected an index or a quoted key"},
        {"$Input.list[0", 14, "expected ']'"},
        {"$Input.list[-1]", 13, "expected an index"},
        {"\"abc", 1, "unterminated string"},
        {"'abc\\q'", 5, "invalid escape sequence"},
        {"\"\\ud800\"", 2, "unpaired surrogate"},
        {"\"\\u0000\"", 2, "invalid \\u escape"},
        {"1.", 1, "malformed number"},
        {"12abc", 1, "malformed number"},
        {"foo", 1, "unexpected identifier 'foo'"},
        {"$Input.a == True", 13, "unexpected identifier 'True'"},
        {"#", 1, "unexpected character '#'"},
        {"1 2", 3, "unexpected '2' after the end"},
        {"1e999", 1, "number out of range"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_expr_t *e = NULL;
        fl_diag_t d = {0};
        if (fl_expr_compile(cases[i].src, &e, &d) == FL_OK)
            FAIL_AT("'%s' should not compile", cases[i].src);
        ASSERT(e == NULL);
        if (!strstr(d.msg, cases[i].msg) || d.col != cases[i].col)
            FAIL_AT("'%s': got col %d '%s', want col %d '%s'", cases[i].src, d.col, d.msg,
                    cases[i].col, cases[i].msg);
    }
    LEAK_CHECK();
}

TEST(expr_limits)
{
    fl_expr_t *e;
    fl_diag_t d;
    char *s = malloc(5000);
    /* 4096 characters is fine, 4097 is not */
    memset(s, ' ', 4096);
    memcpy(s + 4090, "$Input", 6);
    s[4096] = 0;
    ASSERT_OK(fl_expr_compile(s, &e, &d));
    fl_expr_free(e);
    strcpy(s + 4096, " ");
    ASSERT(fl_expr_compile(s, &e, &d) != FL_OK);
    ASSERT_CONTAINS(d.msg, "longer than 4096");
    /* nesting: 60 parentheses compile, 70 do not; nor do 70 '!' */
    for (int depth = 60; depth <= 70; depth += 10) {
        char *p = s;
        for (int i = 0; i < depth; i++)
            *p++ = '(';
        p += sprintf(p, "true");
        for (int i = 0; i < depth; i++)
            *p++ = ')';
        *p = 0;
        int rc = fl_expr_compile(s, &e, &d);
        if (depth == 60) {
            ASSERT_OK(rc);
            fl_expr_free(e);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_CONTAINS(d.msg, "nests deeper than 64");
        }
    }
    memset(s, '!', 70);
    strcpy(s + 70, "true");
    ASSERT(fl_expr_compile(s, &e, &d) != FL_OK);
    ASSERT_CONTAINS(d.msg, "nests deeper");
    /* array literals count as nesting too: 60 compile, 70 do not */
    for (int depth = 60; depth <= 70; depth += 10) {
        char lit[160];
        memset(lit, '[', (size_t)depth);
        memset(lit + depth, ']', (size_t)depth);
        lit[2 * depth] = 0;
        int rc = fl_expr_compile(lit, &e, &d);
        if (depth == 60) {
            ASSERT_OK(rc);
            fl_expr_free(e);
        } else {
            ASSERT(rc != FL_OK);
            ASSERT_CONTAINS(d.msg, "nests deeper than 64");
        }
    }
    /* a long flat chain is not nesting */
    char *p = s;
    p += sprintf(p, "1");
    for (int i = 0; i < 1000; i++)
        p += sprintf(p, "+1");
    ASSERT_OK(fl_expr_compile(s, &e, &d));
    json_t *v;
    char err[64];
    ASSERT_OK(fl_expr_eval(e, NULL, &v, err, sizeof err));
    ASSERT_EQ(json_integer_value(v), 1001);
    json_decref(v);
    fl_expr_free(e);
    free(s);
    LEAK_CHECK();
}

TEST(expr_eval_bool)
{
    static const struct {
        const char *src;
        bool want;
    } cases[] = {
        {"$Input.t", true},       {"$Input.f", false},          {"$Input.status", false},
        {"$Input.a", false},      {"$Input.missing", false},    {"$Input.a == 1", true},
        {"$Input.arr[0] < 2", true},
    };
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_expr_t *e;
        fl_diag_t d;
        char err[128];
        bool b = !cases[i].want;
        ASSERT_OK(fl_expr_compile(cases[i].src, &e, &d));
        ASSERT_OK(fl_expr_eval_bool(e, &f.env, &b, err, sizeof err));
        if (b != cases[i].want)
            FAIL_AT("'%s' gave %d", cases[i].src, b);
        fl_expr_free(e);
    }
    fl_expr_t *e;
    fl_diag_t d;
    char err[128] = "";
    bool b = true;
    ASSERT_OK(fl_expr_compile("$Input.o > 1", &e, &d));
    ASSERT(fl_expr_eval_bool(e, &f.env, &b, err, sizeof err) != FL_OK);
    ASSERT(!b);
    ASSERT_CONTAINS(err, "operator '>'");
    /* err may be omitted */
    ASSERT(fl_expr_eval_bool(e, &f.env, &b, NULL, 0) != FL_OK);
    fl_expr_free(e);
    env_close(&f);
    LEAK_CHECK();
}

/* ---- templates ---- */

static json_t *tmpl_run(const char *tmpl_json, const fl_env_t *env, char *err, size_t errlen)
{
    json_t *src = json_loads(tmpl_json, JSON_DECODE_ANY, NULL);
    fl_tmpl_t *t;
    fl_diag_t d;
    json_t *v = NULL;
    ASSERT(src);
    if (fl_tmpl_compile(src, &t, &d) != FL_OK)
        FAIL_AT("compile %s: %s: %s", tmpl_json, d.path, d.msg);
    json_decref(src);
    if (fl_tmpl_eval(t, env, &v, err, errlen) != FL_OK)
        v = NULL;
    fl_tmpl_free(t);
    return v;
}

TEST(tmpl_values)
{
    static const struct {
        const char *tmpl, *want;
    } cases[] = {
        {"{}", "{}"},
        {"{\"a\": 1, \"b\": [1, {\"c\": null}]}", "{\"a\": 1, \"b\": [1, {\"c\": null}]}"},
        {"{\"id.$\": \"$Input.list[0].id\"}", "{\"id\": \"i0\"}"},
        {"{\"all.$\": \"$Input.arr\", \"lit\": \"$Input.a\"}",
         "{\"all\": [1, 2, 3], \"lit\": \"$Input.a\"}"},
        {"{\"body\": {\"orderId.$\": \"$Context.Execution.Input.orderId\","
         " \"taskToken.$\": \"$Context.Current.TaskToken\", \"fixed\": true}}",
         "{\"body\": {\"orderId\": \"o-1\", \"taskToken\": \"tok\", \"fixed\": true}}"},
        {"{\"items\": [{\"x.$\": \"$Input.a + 1\"}, 5, \"s\"]}",
         "{\"items\": [{\"x\": 2}, 5, \"s\"]}"},
        {"{\"missing.$\": \"$Input.nope\"}", "{\"missing\": null}"},
        {"{\"url.$\": \"$Output.Body.url\", \"ok.$\": \"$Output.code == 200\"}",
         "{\"url\": \"http://x\", \"ok\": true}"},
        {"{\"a.b.$\": \"$Input.a\"}", "{\"a.b\": 1}"},
        {"[{\"v.$\": \"$Input.s\"}]", "[{\"v\": \"x\"}]"},
        {"\"$Input.a\"", "\"$Input.a\""},
        {"7", "7"},
    };
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char err[256] = "";
        json_t *v = tmpl_run(cases[i].tmpl, &f.env, err, sizeof err);
        json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
        ASSERT(want);
        if (!v || !json_equal(v, want)) {
            char *got = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
            FAIL_AT("%s: got %s (err '%s'), want %s", cases[i].tmpl, got ? got : "(error)",
                    err, cases[i].want);
        }
        json_decref(v);
        json_decref(want);
    }
    env_close(&f);
    LEAK_CHECK();
}

TEST(tmpl_results_are_private_copies)
{
    json_t *src = json_loads("{\"lit\": {\"a\": [1]}, \"in.$\": \"$Input.o\"}", 0, NULL);
    fl_tmpl_t *t;
    fl_diag_t d;
    json_t *v1, *v2;
    char err[64];
    env_fixture_t f;
    env_open(&f);
    ASSERT_OK(fl_tmpl_compile(src, &t, &d));
    json_object_set_new(src, "lit", json_null()); /* the template kept nothing of src */
    json_decref(src);
    ASSERT_OK(fl_tmpl_eval(t, &f.env, &v1, err, sizeof err));
    json_array_append_new(json_object_get(json_object_get(v1, "lit"), "a"), json_integer(2));
    ASSERT_OK(fl_tmpl_eval(t, &f.env, &v2, err, sizeof err));
    ASSERT_EQ(json_array_size(json_object_get(json_object_get(v2, "lit"), "a")), 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(v2, "in"), "k")), "v");
    json_decref(v1);
    json_decref(v2);
    fl_tmpl_free(t);
    fl_tmpl_free(NULL);
    env_close(&f);
    LEAK_CHECK();
}

TEST(tmpl_compile_errors)
{
    static const struct {
        const char *tmpl, *path, *msg;
    } cases[] = {
        {"{\"a.$\": 5}", "a.$", "must be an expression string"},
        {"{\"x\": {\"a.$\": {\"b\": 1}}}", "x.a.$", "must be an expression string"},
        {"{\"l\": [0, {\"a.$\": \"len($Input)\"}]}", "l[1].a.$", "unknown function 'len'"},
        {"{\"a.$\": \"$Input.a ==\"}", "a.$", "unexpected end of expression"},
        {"{\"a\": 1, \"a.$\": \"$Input.a\"}", "a.$", "given twice"},
        {"{\".$\": \"$Input\"}", ".$", "no name"},
        {"[{\"q.$\": \"$Nope\"}]", "[0].q.$", "unknown variable '$Nope'"},
        {"{\"a.$\": \"hash($Input.s)\"}", "a.$", "function hash takes 2 arguments, got 1"},
        {"{\"b\": {\"c.$\": \"hash($Input.s, 'SHA3')\"}}", "b.c.$", "unknown algorithm 'SHA3'"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        json_t *src = json_loads(cases[i].tmpl, JSON_DECODE_ANY, NULL);
        fl_tmpl_t *t = NULL;
        fl_diag_t d = {0};
        ASSERT(src);
        if (fl_tmpl_compile(src, &t, &d) == FL_OK)
            FAIL_AT("%s should not compile", cases[i].tmpl);
        ASSERT(t == NULL);
        ASSERT_STR_EQ(d.path, cases[i].path);
        ASSERT_CONTAINS(d.msg, cases[i].msg);
        json_decref(src);
    }
    LEAK_CHECK();
}

TEST(tmpl_runtime_error_names_key)
{
    env_fixture_t f;
    char err[256] = "";
    env_open(&f);
    json_t *v = tmpl_run("{\"body\": {\"n.$\": \"$Input.o < 3\"}}", &f.env, err, sizeof err);
    ASSERT(v == NULL);
    ASSERT_CONTAINS(err, "body.n.$: operator '<' needs two numbers or two strings");
    env_close(&f);
    LEAK_CHECK();
}

/* ---- built-in functions, literals and root aliases ---- */

typedef struct {
    const char *src, *want; /* want: JSON text of the value */
} val_case_t;

typedef struct {
    const char *src, *err; /* err: a part of the runtime error */
} err_case_t;

typedef struct {
    const char *src;
    int col;
    const char *msg;
} cerr_case_t;

static void expect_values(const val_case_t *cases, size_t n)
{
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        json_t *v = run(cases[i].src, &f.env, err, sizeof err);
        json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
        if (!want)
            FAIL_AT("bad want for '%s': %s", cases[i].src, cases[i].want);
        if (!v || !json_equal(v, want)) {
            char *got = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
            FAIL_AT("'%s': got %s (err '%s'), want %s", cases[i].src, got ? got : "(error)",
                    err, cases[i].want);
        }
        json_decref(v);
        json_decref(want);
    }
    env_close(&f);
}

static void expect_runtime_errors(const err_case_t *cases, size_t n)
{
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        json_t *v = run(cases[i].src, &f.env, err, sizeof err);
        if (v) {
            char *got = json_dumps(v, JSON_ENCODE_ANY);
            FAIL_AT("'%s' should fail at run time, gave %s", cases[i].src, got);
        }
        if (!strstr(err, cases[i].err))
            FAIL_AT("'%s': error \"%s\" does not contain \"%s\"", cases[i].src, err,
                    cases[i].err);
    }
    env_close(&f);
}

static void expect_compile_errors(const cerr_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fl_expr_t *e = NULL;
        fl_diag_t d = {0};
        if (fl_expr_compile(cases[i].src, &e, &d) == FL_OK)
            FAIL_AT("'%s' should not compile", cases[i].src);
        ASSERT(e == NULL);
        if (!strstr(d.msg, cases[i].msg) || d.col != cases[i].col)
            FAIL_AT("'%s': got col %d '%s', want col %d '%s'", cases[i].src, d.col, d.msg,
                    cases[i].col, cases[i].msg);
    }
}

TEST(expr_literals)
{
    static const val_case_t cases[] = {
        {"[]", "[]"},
        {"{}", "{}"},
        {"[1, 'a', null, true, [2, []], {}]", "[1, \"a\", null, true, [2, []], {}]"},
        {"[1, $Input.a, $Input.missing]", "[1, 1, null]"},
        {"{\"x\": $Input.s, 'y': [1, $Input.arr[2]], \"z\": {\"w\": -1}}",
         "{\"x\": \"x\", \"y\": [1, 3], \"z\": {\"w\": -1}}"},
        {"[ 1 , 2 ]", "[1, 2]"},
        {"{ \"a\" : 1 }", "{\"a\": 1}"},
        {"[1, 2] == [1, 2.0]", "true"},
        {"{\"k\": \"v\", \"n\": {\"deep\": 3}} == $Input.o", "true"},
        {"[$Input.a + 1, 'p' + 'q']", "[2, \"pq\"]"},
    };
    expect_values(cases, FL_ARRAY_LEN(cases));

    /* A literal container is copied on every evaluation: editing one result cannot
     * change the next. */
    fl_expr_t *e;
    fl_diag_t d;
    json_t *v1, *v2;
    char err[64];
    ASSERT_OK(fl_expr_compile("{\"a\": [1]}", &e, &d));
    ASSERT_OK(fl_expr_eval(e, NULL, &v1, err, sizeof err));
    json_array_append_new(json_object_get(v1, "a"), json_integer(2));
    ASSERT_OK(fl_expr_eval(e, NULL, &v2, err, sizeof err));
    ASSERT_EQ(json_array_size(json_object_get(v2, "a")), 1);
    json_decref(v1);
    json_decref(v2);
    fl_expr_free(e);
    LEAK_CHECK();
}

TEST(expr_root_aliases)
{
    static const val_case_t cases[] = {
        {"$input.a", "1"},
        {"$input.list[1].tags[0]", "\"p\""},
        {"$local.Body.url", "\"http://x\""},
        {"$local.code == $Output.code", "true"},
        {"$context.Execution.Name", "\"e1\""},
        {"$context.Current.Error.Code", "\"E\""},
        {"$.a", "1"},
        {"$.arr[1]", "2"},
        {"$.list[1].tags[0]", "\"p\""},
        {"$['a-b']", "7"},
        {"$[\"o\"].n.deep", "3"},
        {"$[0]", "null"},
        {"$.missing.x", "null"},
        {"$ == $Input", "true"},
        {"$input == $Input", "true"},
        {"$.a + $input.a + $Input.a", "3"},
        {"($) == $Input", "true"},
    };
    expect_values(cases, FL_ARRAY_LEN(cases));
    static const cerr_case_t errs[] = {
        {"$Foo.a", 1, "unknown variable '$Foo'"},
        {"$INPUT", 1, "unknown variable '$INPUT'"},
        {"$Local.x", 1, "unknown variable '$Local'"},
        {"$inputs.a", 1, "unknown variable '$inputs'"},
        {"$1", 1, "unknown variable '$1'"},
        {"$.a == $x", 8, "unknown variable '$x'"},
        {"($).a == null", 4, "unexpected '.'"}, /* paths follow a root, not a parenthesis */
        {"$ .a", 3, "unexpected '.'"},
        {"$.", 2, "expected a field name after '.'"},
        {"$..a", 2, "expected a field name after '.'"},
    };
    expect_compile_errors(errs, FL_ARRAY_LEN(errs));

    env_fixture_t f;
    char err[64];
    env_open(&f);
    json_t *v = run("$", &f.env, err, sizeof err);
    ASSERT(v == f.in);
    json_decref(v);
    v = run("$local", &f.env, err, sizeof err);
    ASSERT(v == f.outp);
    json_decref(v);
    v = run("$context", &f.env, err, sizeof err);
    ASSERT(v == f.ctx);
    json_decref(v);
    env_close(&f);
    LEAK_CHECK();
}

TEST(expr_functions)
{
    static const val_case_t cases[] = {
        /* arrayContains: the documented examples, then edges */
        {"arrayContains([\"Tom\",10],10)", "true"},
        {"arrayContains([\"Tom\",10],\"Jack\")", "false"},
        {"arrayContains([], 1)", "false"},
        {"arrayContains($Input.empty, null)", "false"},
        {"arrayContains($Input.arr, 2.0)", "true"},
        {"arrayContains($Input.arr, '2')", "false"},
        {"arrayContains($Input.list, {\"id\": \"i0\"})", "true"},
        {"arrayContains([null], $Input.missing)", "true"},
        {"arrayContains([[1, 2]], [1, 2])", "true"},
        {"arrayContains(['h\\u00e9llo \\ud83d\\ude00'], $Input.u)", "true"},
        {"arrayContains([9223372036854775807], $Input.big)", "true"},
        {"arrayContains([9223372036854775806], $Input.big)", "false"},
        /* arrayUnique */
        {"arrayUnique([1, 2, 3, 1])", "[1, 2, 3]"},
        {"arrayUnique([])", "[]"},
        {"arrayUnique($Input.empty)", "[]"},
        {"arrayUnique([3, 3, 3])", "[3]"},
        {"arrayUnique([1, 1.0, '1', [1], [1.0], {'a': 1}, {'a': 1.0}, null, null, true, true])",
         "[1, \"1\", [1], {\"a\": 1}, null, true]"},
        {"arrayUnique([{'a': 1, 'b': 2}, {'b': 2, 'a': 1}])", "[{\"a\": 1, \"b\": 2}]"},
        {"arrayUnique(['\\u00e9', 'e\\u0301', '\\u00e9'])", "[\"\\u00e9\", \"e\\u0301\"]"},
        /* distinct int64 values that share a double: both stay */
        {"arrayUnique([9007199254740993, 9007199254740992, 9007199254740993])",
         "[9007199254740993, 9007199254740992]"},
        {"arrayUnique([0, -0.0, 0.0])", "[0]"},
        /* format */
        {"format(\"hello {}\",\"world\")", "\"hello world\""},
        {"format('Hello, {}', $input.s)", "\"Hello, x\""},
        {"format('no placeholders')", "\"no placeholders\""},
        {"format('')", "\"\""},
        {"format('{}{}', '', '')", "\"\""},
        {"format('{}-{}', 1, 2.5)", "\"1-2.5\""},
        {"format('{} {} {} {}', true, null, [1, 'a'], {'b': 1, 'a': 2})",
         "\"true null [1,\\\"a\\\"] {\\\"a\\\":2,\\\"b\\\":1}\""},
        {"format('{{}}', 'x')", "\"{x}\""},
        {"format('{ }')", "\"{ }\""},
        {"format('\\u00e9{}\\ud83d\\ude00', '\\u00fc')", "\"\\u00e9\\u00fc\\ud83d\\ude00\""},
        {"format('{}', $Input.big)", "\"9223372036854775807\""},
        {"format('{}|{}', $Input.neg, 1e300)", "\"-9223372036854775807|1e+300\""},
        {"format('{}', $Input.u)", "\"h\\u00e9llo \\ud83d\\ude00\""},
        /* fromBase64 / toBase64 */
        {"fromBase64(\"Rm5G\")", "\"FnF\""},
        {"toBase64(\"FnF\")", "\"Rm5G\""},
        {"toBase64('')", "\"\""},
        {"fromBase64('')", "\"\""},
        {"toBase64('hi')", "\"aGk=\""},
        {"toBase64('h')", "\"aA==\""},
        {"fromBase64('aGk=')", "\"hi\""},
        {"fromBase64('aGk')", "\"hi\""},
        {"fromBase64('aA')", "\"h\""},
        {"toBase64('h\\u00e9llo')", "\"aMOpbGxv\""},
        {"fromBase64(toBase64($Input.u)) == $Input.u", "true"},
        /* stringToJson / fromJSON */
        {"stringToJson('{\"name\": \"Tom\", \"age\": 10}')", "{\"name\": \"Tom\", \"age\": 10}"},
        {"fromJSON('{\"name\": \"Tom\", \"age\": 10}')", "{\"name\": \"Tom\", \"age\": 10}"},
        {"stringToJson('[1, 2]')", "[1, 2]"},
        {"stringToJson('3')", "3"},
        {"stringToJson('\"\\u00e9\"')", "\"\\u00e9\""},
        {"stringToJson(' null ')", "null"},
        {"stringToJson('9223372036854775807') == $Input.big", "true"},
        {"get(stringToJson($Input.js), 'x')", "1"},
        /* jsonToString / toJSON */
        {"jsonToString({\"b\": 1, \"a\": [true, null]})", "\"{\\\"a\\\":[true,null],\\\"b\\\":1}\""},
        {"toJSON('x')", "\"\\\"x\\\"\""},
        {"jsonToString(null)", "\"null\""},
        {"jsonToString([])", "\"[]\""},
        {"jsonToString($Input.big)", "\"9223372036854775807\""},
        {"jsonToString($Input.u)", "\"\\\"h\\u00e9llo \\ud83d\\ude00\\\"\""},
        {"jsonToString([1.0, 2.5, 0.1, -0.5, 1e21, 1e20, 1e-7, 0.000001, 123456789.125])",
         "\"[1,2.5,0.1,-0.5,1e+21,100000000000000000000,1e-7,0.000001,123456789.125]\""},
        {"jsonToString([1.7976931348623157e308, 5e-324])", "\"[1.7976931348623157e+308,5e-324]\""},
        {"jsonToString('a\\nb\\t\"\\\\\\u0001')", "\"\\\"a\\\\nb\\\\t\\\\\\\"\\\\\\\\\\\\u0001\\\"\""},
        {"format('{}', 0.1)", "\"0.1\""},
        {"stringToJson(jsonToString($Input.o)) == $Input.o", "true"},
        {"stringToJson(toJSON($Input)) == $Input", "true"},
        /* hash */
        {"hash(\"abc\",\"MD5\")", "\"900150983cd24fb0d6963f7d28e17f72\""},
        {"hash('abc', 'SHA-1')", "\"a9993e364706816aba3e25717850c26c9cd0d89d\""},
        {"hash('abc', 'SHA-256')",
         "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""},
        {"hash('abc', 'SHA-512')",
         "\"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
         "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f\""},
        {"hash('', 'MD5')", "\"d41d8cd98f00b204e9800998ecf8427e\""},
        {"hash('\\u00e9', 'MD5')", "\"66ddcd97cfdeabb2f6fb8a999b4bc76f\""},
        {"hash($Input.u, 'SHA-256')",
         "\"a53c56966616f0ec3ed9db7ea07a6034430149528bbaba8966c284f9373669c2\""},
        /* jsonMerge */
        {"jsonMerge({\"name\": \"Tom\", \"age\": 10},{\"name\": \"Tom\", \"address\": \"beijing\"})",
         "{\"name\": \"Tom\", \"age\": 10, \"address\": \"beijing\"}"},
        {"jsonMerge({'a': 1, 'b': 1}, {'a': 2})", "{\"a\": 2, \"b\": 1}"},
        {"jsonMerge({}, {})", "{}"},
        {"jsonMerge($Input.o, {'k': null})", "{\"k\": null, \"n\": {\"deep\": 3}}"},
        {"jsonMerge({'n': {'x': 1}}, $Input.o)", "{\"k\": \"v\", \"n\": {\"deep\": 3}}"},
        /* length */
        {"length([1, 2, 3])", "3"},
        {"length({\"name\": \"Tom\", \"age\": 10})", "2"},
        {"length(\"name\")", "4"},
        {"length('')", "0"},
        {"length([])", "0"},
        {"length({})", "0"},
        {"length($Input.u)", "7"},
        {"length('\\ud83d\\ude00\\ud83d\\ude00')", "2"},
        {"length($Input.list)", "2"},
        {"length($Input.o) + 1", "3"},
        /* mapKeys / mapValues: keys in byte order */
        {"mapKeys({\"name\": \"Tom\", \"age\": 10})", "[\"age\", \"name\"]"},
        {"mapValues({\"name\": \"Tom\", \"age\": 10})", "[10, \"Tom\"]"},
        {"mapKeys({})", "[]"},
        {"mapValues({})", "[]"},
        {"mapKeys($Input.o)", "[\"k\", \"n\"]"},
        {"mapValues($Input.o)", "[\"v\", {\"deep\": 3}]"},
        {"mapKeys({'\\u00e9': 1, 'z': 2, 'Z': 3})", "[\"Z\", \"z\", \"\\u00e9\"]"},
        /* regexMatchString(pattern, string) */
        {"regexMatchString('^[a-z]+$', 'abc')", "true"},
        {"regexMatchString('^[a-z]+$', 'abc1')", "false"},
        {"regexMatchString('b', 'abc')", "true"},
        {"regexMatchString('^$', '')", "true"},
        {"regexMatchString('x', '')", "false"},
        {"regexMatchString('^\\\\d{3}-\\\\d{4}$', '555-1234')", "true"},
        {"regexMatchString('^\\\\d+$', '12a')", "false"},
        {"regexMatchString('\\\\D', '123')", "false"},
        {"regexMatchString('^\\\\w+\\\\s\\\\w+$', 'ab cd')", "true"},
        {"regexMatchString('[[:digit:]]+', 'a1')", "true"},
        {"regexMatchString('[]a]', ']')", "true"},
        {"regexMatchString('[\\\\d]', 'd')", "true"}, /* POSIX: inside brackets, \\ is literal */
        {"regexMatchString('(ab|cd){2}', 'xcdabx')", "true"},
        {"regexMatchString('\\ud83d\\ude00', $Input.u)", "true"},
        {"regexMatchString('^h', $Input.u)", "true"},
        /* split */
        {"split('a,b,c', ',')", "[\"a\", \"b\", \"c\"]"},
        {"split('', ',')", "[\"\"]"},
        {"split('a,', ',')", "[\"a\", \"\"]"},
        {"split(',', ',')", "[\"\", \"\"]"},
        {"split('abc', '')", "[\"a\", \"b\", \"c\"]"},
        {"split('', '')", "[]"},
        {"split('\\u00e9\\ud83d\\ude00x', '')", "[\"\\u00e9\", \"\\ud83d\\ude00\", \"x\"]"},
        {"split('a--b----c', '--')", "[\"a\", \"b\", \"\", \"c\"]"},
        {"split('abc', 'x')", "[\"abc\"]"},
        {"split('ab', 'abc')", "[\"ab\"]"},
        {"split($Input.u, ' ')", "[\"h\\u00e9llo\", \"\\ud83d\\ude00\"]"},
        {"length(split('a b c d', ' '))", "4"},
        /* toArray */
        {"toArray()", "[]"},
        {"toArray(1, 'a', null, [2], {})", "[1, \"a\", null, [2], {}]"},
        {"toArray($Input.a, $Input.missing, $Input.big)", "[1, null, 9223372036854775807]"},
        {"toArray(1e300)", "[1e300]"},
        /* get */
        {"get([1, 2, 3], 1)", "2"},
        {"get([1], 5)", "null"},
        {"get([1], -1)", "null"},
        {"get([], 0)", "null"},
        {"get({'a': 1}, 'a')", "1"},
        {"get({'a': 1}, 'b')", "null"},
        {"get($Input.list, 1.0)", "{\"id\": \"i1\", \"tags\": [\"p\", \"q\"]}"},
        {"get($Input, 'a-b')", "7"},
        {"get($Input.arr, 9223372036854775807)", "null"},
        {"get(get($Input.o, 'n'), 'deep')", "3"},
        /* intAdd */
        {"intAdd(1, 2)", "3"},
        {"intAdd(-5, 5)", "0"},
        {"intAdd(2.0, 1)", "3"},
        {"intAdd($Input.big, -1)", "9223372036854775806"},
        {"intAdd($Input.neg, -1)", "-9223372036854775808"},
        {"intAdd($Input.big, $Input.neg)", "0"},
        /* nesting (up to 10 levels) and use inside operators */
        {"format('{}', length(split(toBase64('abc'), '')))", "\"4\""},
        {"length($Input.arr) > 2 && arrayContains($Input.arr, 3)", "true"},
        {"length(toArray(toArray(toArray(toArray(toArray(toArray(toArray(toArray("
         "toArray(1)))))))))) == 1",
         "true"}, /* 10 nested calls: the documented limit */
        {"fromBase64(toBase64(format('{}{}', hash('a', 'MD5'), uuid()))) != ''", "true"},
    };
    expect_values(cases, FL_ARRAY_LEN(cases));
    LEAK_CHECK();
}

TEST(expr_function_runtime_errors)
{
    static const err_case_t cases[] = {
        {"length($Input.a)", "length: argument 1 must be an array, an object or a string, got a number"},
        {"length($Input.missing)", "length: argument 1 must be an array, an object or a string, got null"},
        {"format($Input.a)", "format: argument 1 must be a string, got a number"},
        {"format($Input.s + '{}')", "format: the template has 1 placeholder but 0 arguments follow"},
        {"format($Input.s, 1, 2)", "format: the template has 0 placeholders but 2 arguments follow"},
        {"hash($Input.a, 'MD5')", "hash: argument 1 must be a string, got a number"},
        {"hash('a', $Input.arr)", "hash: argument 2 must be a string, got an array"},
        {"hash('a', $Input.s)", "hash: unknown algorithm 'x' (expected MD5, SHA-1, SHA-256 or SHA-512)"},
        {"arrayContains($Input.o, 1)", "arrayContains: argument 1 must be an array, got an object"},
        {"arrayUnique($Input.s)", "arrayUnique: argument 1 must be an array, got a string"},
        {"jsonMerge($Input.o, $Input.arr)", "jsonMerge: argument 2 must be an object, got an array"},
        {"jsonMerge($Input.n, {})", "jsonMerge: argument 1 must be an object, got null"},
        {"mapKeys($Input.missing)", "mapKeys: argument 1 must be an object, got null"},
        {"mapValues($Input.t)", "mapValues: argument 1 must be an object, got a boolean"},
        {"fromBase64($Input.s)", "fromBase64: argument 1 is not valid base64"},
        {"fromBase64('Rm5G!')", "fromBase64: argument 1 is not valid base64"},
        {"fromBase64('R===')", "fromBase64: argument 1 is not valid base64"},
        {"fromBase64('Rm5=G')", "fromBase64: argument 1 is not valid base64"},
        {"fromBase64('/w==')", "fromBase64: the decoded bytes are not UTF-8 text"},
        {"toBase64($Input.o)", "toBase64: argument 1 must be a string, got an object"},
        {"stringToJson($Input.s)", "stringToJson: argument 1 is not valid JSON"},
        {"fromJSON('{')", "fromJSON: argument 1 is not valid JSON"},
        {"stringToJson($Input.o)", "stringToJson: argument 1 must be a string, got an object"},
        {"get($Input.arr, 'a')", "get: argument 2 must be an integer when argument 1 is an array, got a string"},
        {"get($Input.o, 1)", "get: argument 2 must be a string when argument 1 is an object, got a number"},
        {"get($Input.arr, $Input.b)", "get: argument 2 must be a string or an integer, got a number"},
        {"get($Input.s, 0)", "get: argument 1 must be an array or an object, got a string"},
        {"intAdd($Input.big, 1)", "intAdd: the sum overflows a 64-bit integer"},
        {"intAdd($Input.neg, -2)", "intAdd: the sum overflows"},
        {"intAdd($Input.b, 1)", "intAdd: argument 1 must be an integer, got a number"},
        {"intAdd(1, $Input.s)", "intAdd: argument 2 must be an integer, got a string"},
        {"randomInt($Input.a, $Input.a)", "randomInt: argument 2 must be greater than argument 1"},
        {"randomInt($Input.s, 1)", "randomInt: argument 1 must be an integer, got a string"},
        {"regexMatchString($Input.s + '(', 'x')", "regexMatchString: invalid regular expression"},
        {"regexMatchString($Input.a, 'x')", "regexMatchString: argument 1 must be a string, got a number"},
        {"split($Input.arr, ',')", "split: argument 1 must be a string, got an array"},
        {"split('a', $Input.n)", "split: argument 2 must be a string, got null"},
        /* an error inside an argument surfaces as it is */
        {"length(toArray($Input.o < 1))", "operator '<' needs two numbers or two strings"},
        {"[1, $Input.s - 1]", "operator '-'"},
        {"{'a': -$Input.s}", "unary '-'"},
        /* results feed operators with their own type rules */
        {"length($Input.arr) && true", "operator '&&' needs boolean operands, got a number"},
        {"uuid() + 1", "operator '+' needs two numbers or two strings, got a string and a number"},
    };
    expect_runtime_errors(cases, FL_ARRAY_LEN(cases));

    /* A long pattern from the input is refused rather than compiled. */
    json_t *in = json_object();
    char *pat = malloc(2000);
    memset(pat, 'a', 1999);
    pat[1999] = 0;
    json_object_set_new(in, "p", json_string(pat));
    free(pat);
    fl_env_t env = {in, NULL, NULL};
    char err[256] = "";
    ASSERT(run("regexMatchString($Input.p, 'a')", &env, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "regexMatchString: the pattern is longer than 1024 bytes");
    json_decref(in);
    LEAK_CHECK();
}

TEST(expr_function_compile_errors)
{
    static const cerr_case_t cases[] = {
        /* arity */
        {"length()", 1, "function length takes 1 argument, got 0"},
        {"length([1], [2])", 1, "function length takes 1 argument, got 2"},
        {"format()", 1, "function format takes at least 1 argument, got 0"},
        {"uuid(1)", 1, "function uuid takes 0 arguments, got 1"},
        {"hash('a')", 1, "function hash takes 2 arguments, got 1"},
        {"arrayContains([1], 1, 2)", 1, "function arrayContains takes 2 arguments, got 3"},
        {"$Input.a == intAdd(1)", 13, "function intAdd takes 2 arguments, got 1"},
        {"length(split('a'))", 8, "function split takes 2 arguments, got 1"},
        {"jsonMerge({})", 1, "function jsonMerge takes 2 arguments, got 1"},
        /* names are exact and case-sensitive */
        {"Length('x')", 1, "unknown function 'Length'"},
        {"ARRAYCONTAINS([1], 1)", 1, "unknown function 'ARRAYCONTAINS'"},
        {"States.Format('{}', 1)", 1, "unknown function 'States.Format'"},
        {"jsonmerge({}, {})", 1, "unknown function 'jsonmerge'"},
        {"uuid", 1, "unexpected identifier 'uuid'"},
        /* literal arguments of the wrong type */
        {"length(5)", 1, "length: argument 1 must be an array, an object or a string, got a number"},
        {"mapKeys([1])", 1, "mapKeys: argument 1 must be an object, got an array"},
        {"intAdd(1.5, 1)", 1, "intAdd: argument 1 must be an integer, got a number"},
        {"intAdd(1, 1e300)", 1, "intAdd: argument 2 must be an integer, got a number"},
        {"toBase64(null)", 1, "toBase64: argument 1 must be a string, got null"},
        {"arrayUnique({'a': 1})", 1, "arrayUnique: argument 1 must be an array, got an object"},
        {"format(1, 2)", 1, "format: argument 1 must be a string, got a number"},
        {"get([1], true)", 1, "get: argument 2 must be a string or an integer, got a boolean"},
        /* literal arguments the function cannot use */
        {"hash('a', 'SHA-3')", 1, "hash: unknown algorithm 'SHA-3'"},
        {"hash('a', 'md5')", 1, "hash: unknown algorithm 'md5'"},
        {"format('{} {}', 1)", 1, "format: the template has 2 placeholders but 1 argument follows"},
        {"format('x', 1)", 1, "format: the template has 0 placeholders but 1 argument follows"},
        {"regexMatchString('(', 'x')", 1, "regexMatchString: invalid regular expression"},
        {"regexMatchString('a{2,1}', 'x')", 1, "regexMatchString: invalid regular expression"},
        {"randomInt(5, 5)", 1, "randomInt: argument 2 must be greater than argument 1"},
        {"randomInt(5, 1)", 1, "randomInt: argument 2 must be greater than argument 1"},
        /* syntax of calls and literals */
        {"length($Input.a $Input.b)", 17, "expected ',' or ')' in the arguments of 'length'"},
        {"length($Input.a", 16, "expected ',' or ')' in the arguments of 'length'"},
        {"length($Input.a ==)", 19, "unexpected character ')'"},
        {"toArray(1,)", 11, "unexpected character ')'"},
        {"toArray(,)", 9, "unexpected character ','"},
        {"[1, 2", 6, "expected ',' or ']' in the array that starts at column 1"},
        {"[1,]", 4, "unexpected character ']'"},
        {"{\"a\" 1}", 6, "expected ':' after the key"},
        {"{a: 1}", 2, "expected a quoted key in the object"},
        {"{1: 1}", 2, "expected a quoted key in the object"},
        {"{'a': 1, 'a': 2}", 10, "key 'a' is given twice in the object"},
        {"{'a': 1", 8, "expected ',' or '}' in the object"},
        {"[1] [2]", 5, "unexpected '[' after the end"},
        /* at most 10 nested calls (the documented limit) */
        {"length(toArray(toArray(toArray(toArray(toArray(toArray(toArray(toArray(toArray("
         "toArray(1)))))))))))",
         80, "function calls nest deeper than 10 levels"}, /* the 11th call */
    };
    expect_compile_errors(cases, FL_ARRAY_LEN(cases));
    LEAK_CHECK();
}

TEST(expr_nondeterministic_functions)
{
    fl_expr_t *e;
    fl_diag_t d;
    json_t *v, *prev = NULL;
    char err[128];
    /* uuid: version-4 text, different each time */
    ASSERT_OK(fl_expr_compile("uuid()", &e, &d));
    for (int i = 0; i < 20; i++) {
        ASSERT_OK(fl_expr_eval(e, NULL, &v, err, sizeof err));
        const char *u = json_string_value(v);
        ASSERT(u && strlen(u) == 36);
        for (int j = 0; j < 36; j++) {
            if (j == 8 || j == 13 || j == 18 || j == 23)
                ASSERT(u[j] == '-');
            else
                ASSERT(strchr("0123456789abcdef", u[j]));
        }
        ASSERT(u[14] == '4');
        ASSERT(strchr("89ab", u[19]));
        if (prev)
            ASSERT(strcmp(u, json_string_value(prev)) != 0);
        json_decref(prev);
        prev = v;
    }
    json_decref(prev);
    fl_expr_free(e);

    /* randomInt: [min, max) */
    static const struct {
        const char *src;
        long long lo, hi; /* inclusive bounds of the results */
    } cases[] = {
        {"randomInt(0, 10)", 0, 9},
        {"randomInt(5, 6)", 5, 5},
        {"randomInt(-3, -1)", -3, -2},
        {"randomInt(-9223372036854775807 - 1, 9223372036854775807)", INT64_MIN, INT64_MAX - 1},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        bool seen_lo = false, seen_hi = false;
        ASSERT_OK(fl_expr_compile(cases[i].src, &e, &d));
        for (int j = 0; j < 200; j++) {
            ASSERT_OK(fl_expr_eval(e, NULL, &v, err, sizeof err));
            ASSERT(json_is_integer(v));
            long long x = json_integer_value(v);
            if (x < cases[i].lo || x > cases[i].hi)
                FAIL_AT("'%s' gave %lld", cases[i].src, x);
            seen_lo |= x == cases[i].lo;
            seen_hi |= x == cases[i].hi;
            json_decref(v);
        }
        if ((unsigned long long)cases[i].hi - (unsigned long long)cases[i].lo < 10)
            ASSERT(seen_lo && seen_hi);
        fl_expr_free(e);
    }
    LEAK_CHECK();
}

TEST(expr_array_unique_large)
{
    /* 20000 distinct values, each twice: hashing keeps this fast. */
    json_t *in = json_object(), *arr = json_array();
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 20000; i++)
            json_array_append_new(arr, i % 2 ? json_integer(i) : json_real(i));
    json_object_set_new(in, "arr", arr);
    fl_env_t env = {in, NULL, NULL};
    char err[128];
    int64_t t0 = fl_mono_ms();
    json_t *v = run("length(arrayUnique($Input.arr))", &env, err, sizeof err);
    ASSERT(v);
    ASSERT_EQ(json_integer_value(v), 20000);
    ASSERT(fl_mono_ms() - t0 < 2000);
    json_decref(v);
    json_decref(in);
    LEAK_CHECK();
}

TEST(tmpl_functions)
{
    static const struct {
        const char *tmpl, *want;
    } cases[] = {
        {"{\"greeting.$\": \"format('Hello, {}', $input.s)\"}", "{\"greeting\": \"Hello, x\"}"},
        {"{\"n.$\": \"length($Input.arr)\", \"keys.$\": \"mapKeys($Input.o)\","
         " \"lit\": \"length($Input.arr)\"}",
         "{\"n\": 3, \"keys\": [\"k\", \"n\"], \"lit\": \"length($Input.arr)\"}"},
        {"{\"body\": {\"id.$\": \"hash($context.Execution.Name, 'MD5')\","
         " \"all.$\": \"jsonMerge($local.Body, {'extra': toArray($.a)})\"}}",
         "{\"body\": {\"id\": \"cd3dc8b6cffb41e4163dcbd857ca87da\","
         " \"all\": {\"url\": \"http://x\", \"extra\": [1]}}}"},
        {"[{\"parts.$\": \"split($Input.u, ' ')\"}]",
         "[{\"parts\": [\"h\\u00e9llo\", \"\\ud83d\\ude00\"]}]"},
        {"{\"obj.$\": \"{'a': [$.a, $input.b]}\"}", "{\"obj\": {\"a\": [1, 2.5]}}"},
    };
    env_fixture_t f;
    env_open(&f);
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char err[256] = "";
        json_t *v = tmpl_run(cases[i].tmpl, &f.env, err, sizeof err);
        json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
        ASSERT(want);
        if (!v || !json_equal(v, want)) {
            char *got = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
            FAIL_AT("%s: got %s (err '%s'), want %s", cases[i].tmpl, got ? got : "(error)",
                    err, cases[i].want);
        }
        json_decref(v);
        json_decref(want);
    }
    char err[256] = "";
    json_t *v = tmpl_run("{\"b\": {\"x.$\": \"length($Input.a)\"}}", &f.env, err, sizeof err);
    ASSERT(v == NULL);
    ASSERT_CONTAINS(err, "b.x.$: length: argument 1 must be an array, an object or a string, "
                         "got a number");
    env_close(&f);
    LEAK_CHECK();
}
