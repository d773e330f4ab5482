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
    " \"big\": 9223372036854775807, \"status\": \"true\", \"zero\": 0}";
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
}

TEST(expr_compile_errors)
{
    static const struct {
        const char *src;
        int col;
        const char *msg;
    } cases[] = {
        {"length($Input.list)", 1, "unknown function 'length'"},
        {"$Input.a == size ($Input.s)", 13, "unknown function 'size'"},
        {"States.Format('x')", 1, "unknown function 'States.Format'"},
        {"$Foo.a", 1, "unknown root '$Foo'"},
        {"$input.a", 1, "unknown root '$input'"},
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
        {"[{\"q.$\": \"$Nope\"}]", "[0].q.$", "unknown root"},
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
}
