/*
 * fuzz_expr.c - the expression language (src/spec/expr.c). Input: the first line is an
 * expression, compiled and evaluated (as a value and as a condition) against a fixed
 * environment; the rest, when it is JSON, is also used as $Input for a second evaluation
 * and compiled and evaluated as a constructor template ("key.$": expression). Checks that
 * failures carry messages and successes carry values.
 */
#include <string.h>

#include "spec/spec.h"
#include "fuzz.h"

static const char env_input[] =
    "{\"a\":[1,2,3],\"s\":\"hello world\",\"n\":42,\"f\":1.5,\"t\":true,\"z\":null,"
    "\"o\":{\"k\":\"v\",\"nested\":{\"x\":[{\"y\":\"deep\"}]}},\"empty\":{},\"list\":[],"
    "\"num_str\":\"12\",\"json\":\"{\\\"p\\\":1}\",\"b64\":\"aGk=\",\"big\":9007199254740993,"
    "\"neg\":-7,\"u\":\"\\u4e2d\\u6587\"}";
static const char env_context[] =
    "{\"Execution\":{\"Name\":\"exec-1\",\"StartTime\":\"2024-01-01T00:00:00Z\","
    "\"Input\":{\"a\":1},\"RoleArn\":\"\"},\"Current\":{\"Name\":\"step\",\"Attempt\":1},"
    "\"Flow\":{\"Name\":\"flow\"}}";

static json_t *input, *context, *output;

static void eval_expr(const fl_expr_t *e, const fl_env_t *env)
{
    char err[512];
    err[0] = 0;
    json_t *v = NULL;
    int rc = fl_expr_eval(e, env, &v, err, sizeof err);
    FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "eval returned %d", rc);
    if (rc == FL_OK) {
        FUZZ_CHECK(v != NULL, "eval gave no value");
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        free(s);
        json_decref(v);
    } else {
        FUZZ_CHECK(err[0] != 0, "eval failed without a message");
    }
    bool b;
    err[0] = 0;
    rc = fl_expr_eval_bool(e, env, &b, err, sizeof err);
    FUZZ_CHECK(rc == FL_OK || err[0] != 0, "condition failed without a message");
}

int fuzz_expr(const uint8_t *data, size_t size)
{
    fl_log_level = FL_LOG_ERROR + 1;
    if (!input) {
        input = json_loads(env_input, 0, NULL);
        context = json_loads(env_context, 0, NULL);
        output = json_pack("{s:s,s:[i,i]}", "result", "ok", "items", 1, 2);
        FUZZ_CHECK(input && context && output, "fixed environment does not parse");
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t elen = nl ? (size_t)(nl - data) : size;
    char *src = malloc(elen + 1);
    memcpy(src, data, elen);
    src[elen] = 0;
    const uint8_t *rest = nl ? nl + 1 : data + size;
    size_t rlen = (size_t)(data + size - rest);

    fl_env_t env = {input, output, context};
    fl_diag_t d;
    memset(&d, 0, sizeof d);
    fl_expr_t *e = NULL;
    int rc = fl_expr_compile(src, &e, &d);
    FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "compile returned %d", rc);
    if (rc == FL_OK) {
        FUZZ_CHECK(e != NULL, "compiled to nothing");
        eval_expr(e, &env);
    } else {
        FUZZ_CHECK(d.msg[0] != 0, "compile failed without a message");
    }

    json_t *j = rlen ? json_loadb((const char *)rest, rlen, JSON_DECODE_ANY, NULL) : NULL;
    if (j) {
        if (e) {
            fl_env_t env2 = {j, NULL, NULL};
            eval_expr(e, &env2);
        }
        fl_tmpl_t *t = NULL;
        memset(&d, 0, sizeof d);
        rc = fl_tmpl_compile(j, &t, &d);
        FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "tmpl compile returned %d", rc);
        if (rc == FL_OK) {
            char err[512] = "";
            json_t *v = NULL;
            rc = fl_tmpl_eval(t, &env, &v, err, sizeof err);
            FUZZ_CHECK(rc == FL_OK ? v != NULL : err[0] != 0, "tmpl eval rc %d", rc);
            json_decref(v);
            fl_tmpl_free(t);
        } else {
            FUZZ_CHECK(d.msg[0] != 0, "tmpl compile failed without a message");
        }
        json_decref(j);
    }
    fl_expr_free(e);
    free(src);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_expr(d, n);
}
#endif
