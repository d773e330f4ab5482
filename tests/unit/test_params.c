/*
 * test_params.c - request parameters (src/api/params.c): urlencoded query strings and form
 * bodies, JSON object bodies and the merge of both places; and the base helpers they and
 * the handlers rely on (src/base/util.c): UTF-8 counting, CloudFlow names, ISO 8601 time
 * parsing, RFC 3986 percent-encoding and base64url.
 */
#include "api/api.h"
#include "base/base.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    fl_arena_t a;
    fl_kv_t *kv;
    size_t n, cap;
} kvs_t;

static void kvs_init(kvs_t *k)
{
    fl_arena_init(&k->a);
    k->kv = NULL;
    k->n = k->cap = 0;
}

static int url(kvs_t *k, const char *s, bool plus_space)
{
    return api_parse_urlencoded(&k->a, s, strlen(s), plus_space, &k->kv, &k->n, &k->cap);
}

/* Formats the pairs as "k=v|k=v" for one-line comparisons. */
static const char *kvs_str(kvs_t *k)
{
    fl_buf_t b;
    fl_buf_init(&b);
    for (size_t i = 0; i < k->n; i++)
        fl_buf_printf(&b, "%s%s=%s", i ? "|" : "", k->kv[i].key, k->kv[i].val);
    const char *s = fl_arena_strdup(&k->a, b.data ? b.data : "");
    fl_buf_free(&b);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* api_parse_urlencoded                                                                     */
/* ---------------------------------------------------------------------------------------- */

TEST(params_urlencoded_table)
{
    static const struct {
        const char *in;
        bool form; /* '+' is a space in form bodies only */
        int rc;
        const char *want; /* "k=v|k=v" when rc is FL_OK */
    } cases[] = {
        {"", false, FL_OK, ""},
        {"a=1&b=2", false, FL_OK, "a=1|b=2"},
        {"Action=StartExecution&Version=2019-03-15", false, FL_OK,
         "Action=StartExecution|Version=2019-03-15"},
        /* '+' */
        {"a=x+y", false, FL_OK, "a=x+y"},
        {"a=x+y", true, FL_OK, "a=x y"},
        {"a+b=1", true, FL_OK, "a b=1"},
        {"a=%2B", false, FL_OK, "a=+"},
        {"a=%2B", true, FL_OK, "a=+"},
        {"a=%2b%2f", false, FL_OK, "a=+/"},
        {"a=%20x%20", false, FL_OK, "a= x "},
        {"a=%20", true, FL_OK, "a= "},
        {"a=%E4%B8%AD%F0%9F%98%80", false, FL_OK, "a=\xe4\xb8\xad\xf0\x9f\x98\x80"},
        {"k%3D=v%26w", false, FL_OK, "k==v&w"}, /* escaped separators are data */
        {"a=1=2", false, FL_OK, "a=1=2"},       /* only the first '=' splits */
        {"a=%7B%22x%22%3A1%7D", false, FL_OK, "a={\"x\":1}"},
        /* empty values and keys without '=' */
        {"k=", false, FL_OK, "k="},
        {"flag", false, FL_OK, "flag="},
        {"flag&x=1", false, FL_OK, "flag=|x=1"},
        {"k=&j=", false, FL_OK, "k=|j="},
        /* empty pairs are skipped */
        {"&&", false, FL_OK, ""},
        {"&a=1&&b=2&", false, FL_OK, "a=1|b=2"},
        {"&", true, FL_OK, ""},
        /* malformed escapes */
        {"a=%", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=%2", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=%zz", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=%G1", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=%1G", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=x%", true, FL_EINVALID_ARGUMENT, NULL},
        {"a%=1", false, FL_EINVALID_ARGUMENT, NULL},
        {"%=1", false, FL_EINVALID_ARGUMENT, NULL},
        {"ok=1&a=%2&b=2", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=%%41", false, FL_EINVALID_ARGUMENT, NULL},
        /* a decoded NUL would silently cut the value short */
        {"a=%00", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=x%00y", false, FL_EINVALID_ARGUMENT, NULL},
        {"%00=1", false, FL_EINVALID_ARGUMENT, NULL},
        {"a%00b=1", true, FL_EINVALID_ARGUMENT, NULL},
        /* a pair needs a key */
        {"=v", false, FL_EINVALID_ARGUMENT, NULL},
        {"=", false, FL_EINVALID_ARGUMENT, NULL},
        {"a=1&=2", false, FL_EINVALID_ARGUMENT, NULL},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        kvs_t k;
        kvs_init(&k);
        int rc = url(&k, cases[i].in, cases[i].form);
        if (rc != cases[i].rc)
            FAIL_AT("'%s' (form %d): rc %d, expected %d", cases[i].in, cases[i].form, rc,
                    cases[i].rc);
        if (rc == FL_OK && strcmp(kvs_str(&k), cases[i].want))
            FAIL_AT("'%s' (form %d): got '%s', expected '%s'", cases[i].in, cases[i].form,
                    kvs_str(&k), cases[i].want);
        fl_arena_close(&k.a);
    }
    LEAK_CHECK();
}

TEST(params_urlencoded_respects_length)
{
    /* The buffer is not NUL-terminated where the body ends. */
    static const char buf[] = "a=1&b=%41XYZ";
    kvs_t k;
    kvs_init(&k);
    ASSERT_OK(api_parse_urlencoded(&k.a, buf, 3, false, &k.kv, &k.n, &k.cap));
    ASSERT_STR_EQ(kvs_str(&k), "a=1");
    /* Cutting inside an escape makes it malformed rather than reading past the end. */
    kvs_t k2;
    kvs_init(&k2);
    ASSERT_EQ(api_parse_urlencoded(&k2.a, buf, 8, false, &k2.kv, &k2.n, &k2.cap),
              FL_EINVALID_ARGUMENT);
    kvs_t k3;
    kvs_init(&k3);
    ASSERT_OK(api_parse_urlencoded(&k3.a, buf, 9, false, &k3.kv, &k3.n, &k3.cap));
    ASSERT_STR_EQ(kvs_str(&k3), "a=1|b=A");
    fl_arena_close(&k.a);
    fl_arena_close(&k2.a);
    fl_arena_close(&k3.a);
    LEAK_CHECK();
}

TEST(params_query_then_form_append_and_grow)
{
    /* The query string and then the form body go into the same list; the list grows past
     * its first allocation without losing earlier pairs. */
    kvs_t k;
    kvs_init(&k);
    ASSERT_OK(url(&k, "Action=ReportTaskSucceeded&Version=2019-03-15", false));
    fl_buf_t b;
    fl_buf_init(&b);
    for (int i = 0; i < 100; i++)
        fl_buf_printf(&b, "%sk%03d=v+%d", i ? "&" : "", i, i);
    ASSERT_OK(url(&k, b.data, true));
    fl_buf_free(&b);
    ASSERT_EQ(k.n, 102);
    ASSERT(k.cap >= k.n);
    ASSERT_STR_EQ(k.kv[0].key, "Action");
    ASSERT_STR_EQ(k.kv[0].val, "ReportTaskSucceeded");
    ASSERT_STR_EQ(k.kv[1].val, "2019-03-15");
    for (int i = 0; i < 100; i++) {
        char key[16], val[16];
        snprintf(key, sizeof key, "k%03d", i);
        snprintf(val, sizeof val, "v %d", i);
        ASSERT_STR_EQ(k.kv[2 + i].key, key);
        ASSERT_STR_EQ(k.kv[2 + i].val, val);
    }
    fl_arena_close(&k.a);
    LEAK_CHECK();
}

TEST(params_urlencoded_every_byte_round_trips)
{
    /* Every byte but NUL, percent-encoded by fl_pct_encode, comes back unchanged. */
    char raw[255];
    for (int i = 0; i < 255; i++)
        raw[i] = (char)(i + 1);
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "v=");
    fl_pct_encode(&b, raw, sizeof raw);
    kvs_t k;
    kvs_init(&k);
    ASSERT_OK(url(&k, b.data, true));
    ASSERT_EQ(k.n, 1);
    ASSERT_EQ(strlen(k.kv[0].val), 255);
    ASSERT(memcmp(k.kv[0].val, raw, 255) == 0);
    fl_buf_free(&b);
    fl_arena_close(&k.a);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* api_parse_json_body                                                                      */
/* ---------------------------------------------------------------------------------------- */

static int json_body(kvs_t *k, const char *s, char *err, size_t errlen)
{
    return api_parse_json_body(&k->a, s, strlen(s), &k->kv, &k->n, &k->cap, err, errlen);
}

static const char *find(kvs_t *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->kv[i].key, key))
            return k->kv[i].val;
    return NULL;
}

TEST(params_json_body_values)
{
    kvs_t k;
    kvs_init(&k);
    char err[256] = "";
    ASSERT_OK(json_body(&k,
                        "{\"Name\":\"exec-1\",\"Limit\":12,\"Rate\":1.5,\"Neg\":-3,"
                        "\"Input\":{\"k\":[1,2,{\"x\":null}]},\"List\":[\"a\"],\"On\":true,"
                        "\"Off\":false,\"Skip\":null,\"Esc\":\"q\\\"\\n\\u00e9\","
                        "\"Empty\":\"\"}",
                        err, sizeof err));
    ASSERT_EQ(k.n, 10); /* Skip is null: absent */
    ASSERT_STR_EQ(find(&k, "Name"), "exec-1");
    ASSERT_STR_EQ(find(&k, "Limit"), "12");
    ASSERT_STR_EQ(find(&k, "Rate"), "1.5");
    ASSERT_STR_EQ(find(&k, "Neg"), "-3");
    ASSERT_STR_EQ(find(&k, "Input"), "{\"k\":[1,2,{\"x\":null}]}");
    ASSERT_STR_EQ(find(&k, "List"), "[\"a\"]");
    ASSERT_STR_EQ(find(&k, "On"), "true");
    ASSERT_STR_EQ(find(&k, "Off"), "false");
    ASSERT(find(&k, "Skip") == NULL);
    ASSERT_STR_EQ(find(&k, "Esc"), "q\"\n\xc3\xa9"); /* strings are decoded, not JSON text */
    ASSERT_STR_EQ(find(&k, "Empty"), "");
    fl_arena_close(&k.a);
    LEAK_CHECK();
}

TEST(params_json_body_errors)
{
    static const struct {
        const char *in;
        const char *err_has;
    } cases[] = {
        {"[1,2]", "must be an object"},
        {"[]", "must be an object"},
        {"\"str\"", "invalid"},
        {"42", "invalid"},
        {"", "invalid"},
        {"{\"a\":", "line 1"},
        {"{\"a\":1,}", "invalid"},
        {"{\"a\" 1}", "invalid"},
        {"{\"a\":1} trailing", "invalid"},
        {"{\"a\":1,\"a\":2}", "duplicate"},
        {"{\"a\":\"x\",\"a\":\"x\"}", "duplicate"},
        {"{\"a\":\"x\\u0000y\"}", ""}, /* NUL inside a string */
        {"{\"a\":\"\xff\"}", "invalid"}, /* invalid UTF-8 */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        kvs_t k;
        kvs_init(&k);
        char err[256] = "";
        int rc = json_body(&k, cases[i].in, err, sizeof err);
        if (rc != FL_EINVALID_ARGUMENT)
            FAIL_AT("'%s': rc %d, expected InvalidArgument", cases[i].in, rc);
        if (!err[0])
            FAIL_AT("'%s': no error message", cases[i].in);
        if (!strstr(err, cases[i].err_has))
            FAIL_AT("'%s': error '%s' lacks '%s'", cases[i].in, err, cases[i].err_has);
        fl_arena_close(&k.a);
    }
    LEAK_CHECK();
}

TEST(params_json_body_respects_length)
{
    static const char buf[] = "{\"a\":\"1\"}{\"b\":2}";
    kvs_t k;
    kvs_init(&k);
    char err[128] = "";
    ASSERT_OK(api_parse_json_body(&k.a, buf, 9, &k.kv, &k.n, &k.cap, err, sizeof err));
    ASSERT_STR_EQ(kvs_str(&k), "a=1");
    fl_arena_close(&k.a);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* api_merge                                                                                */
/* ---------------------------------------------------------------------------------------- */

TEST(params_merge_sorts)
{
    fl_kv_t kv[] = {{"b", "1"}, {"a", "2"}, {"C", "3"}, {"aa", "4"}};
    size_t n = FL_ARRAY_LEN(kv);
    const char *dup = NULL;
    ASSERT_OK(api_merge(kv, &n, &dup));
    ASSERT_EQ(n, 4);
    ASSERT(dup == NULL);
    /* byte order: uppercase before lowercase */
    ASSERT_STR_EQ(kv[0].key, "C");
    ASSERT_STR_EQ(kv[1].key, "a");
    ASSERT_STR_EQ(kv[1].val, "2");
    ASSERT_STR_EQ(kv[2].key, "aa");
    ASSERT_STR_EQ(kv[3].key, "b");
    ASSERT_STR_EQ(kv[3].val, "1");

    size_t zero = 0;
    ASSERT_OK(api_merge(NULL, &zero, &dup));
    ASSERT_EQ(zero, 0);
}

TEST(params_merge_folds_same_value)
{
    fl_kv_t kv[] = {{"Name", "x"}, {"Action", "A"}, {"Name", "x"}, {"Name", "x"}, {"Z", ""},
                    {"Z", ""}};
    size_t n = FL_ARRAY_LEN(kv);
    const char *dup = NULL;
    ASSERT_OK(api_merge(kv, &n, &dup));
    ASSERT_EQ(n, 3);
    ASSERT_STR_EQ(kv[0].key, "Action");
    ASSERT_STR_EQ(kv[1].key, "Name");
    ASSERT_STR_EQ(kv[1].val, "x");
    ASSERT_STR_EQ(kv[2].key, "Z");
    ASSERT_STR_EQ(kv[2].val, "");
}

TEST(params_merge_conflict_names_key)
{
    static const struct {
        fl_kv_t kv[4];
        size_t n;
        const char *dup;
    } cases[] = {
        {{{"Name", "a"}, {"Name", "b"}}, 2, "Name"},
        {{{"Name", "b"}, {"X", "1"}, {"Name", "a"}}, 3, "Name"},
        {{{"K", "1"}, {"K", "1"}, {"K", "2"}}, 3, "K"},
        {{{"A", "1"}, {"B", "x"}, {"B", "x "}}, 3, "B"}, /* values differ by a space */
        {{{"k", "v"}, {"K", "w"}, {"k", "V"}}, 3, "k"},  /* case-sensitive, both ways */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_kv_t kv[4];
        memcpy(kv, cases[i].kv, sizeof kv);
        size_t n = cases[i].n;
        const char *dup = NULL;
        ASSERT_EQ(api_merge(kv, &n, &dup), FL_EINVALID_ARGUMENT);
        ASSERT_STR_EQ(dup, cases[i].dup);
    }
}

TEST(params_query_and_json_body_merge)
{
    /* The way dispatch.c combines a signed query with a JSON body. */
    kvs_t k;
    kvs_init(&k);
    char err[128] = "";
    ASSERT_OK(url(&k, "Action=StartExecution&FlowName=f1&Version=2019-03-15", false));
    ASSERT_OK(json_body(&k, "{\"FlowName\":\"f1\",\"Input\":{\"a\":1},\"ExecutionName\":\"e\"}",
                        err, sizeof err));
    const char *dup = NULL;
    ASSERT_OK(api_merge(k.kv, &k.n, &dup));
    ASSERT_STR_EQ(kvs_str(&k), "Action=StartExecution|ExecutionName=e|FlowName=f1|"
                               "Input={\"a\":1}|Version=2019-03-15");

    kvs_t c;
    kvs_init(&c);
    ASSERT_OK(url(&c, "FlowName=f1&Action=X", false));
    ASSERT_OK(json_body(&c, "{\"FlowName\":\"f2\"}", err, sizeof err));
    dup = NULL;
    ASSERT_EQ(api_merge(c.kv, &c.n, &dup), FL_EINVALID_ARGUMENT);
    ASSERT_STR_EQ(dup, "FlowName");

    /* A number in JSON and its text in the query are the same value. */
    kvs_t m;
    kvs_init(&m);
    ASSERT_OK(url(&m, "Limit=10", false));
    ASSERT_OK(json_body(&m, "{\"Limit\":10}", err, sizeof err));
    ASSERT_OK(api_merge(m.kv, &m.n, &dup));
    ASSERT_STR_EQ(kvs_str(&m), "Limit=10");
    fl_arena_close(&k.a);
    fl_arena_close(&c.a);
    fl_arena_close(&m.a);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* fl_utf8_count                                                                            */
/* ---------------------------------------------------------------------------------------- */

TEST(base_utf8_count)
{
    static const struct {
        const char *s;
        size_t len;
        long want;
    } cases[] = {
        {"", 0, 0},
        {"abc", 3, 3},
        {"\xc3\xa9", 2, 1},                 /* é */
        {"\xe4\xb8\xad", 3, 1},             /* 中 */
        {"\xf0\x9f\x98\x80", 4, 1},         /* 😀 */
        {"a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80z", 11, 5},
        {"\xc2\x80", 2, 1},                 /* U+0080, smallest 2-byte */
        {"\xdf\xbf", 2, 1},                 /* U+07FF */
        {"\xe0\xa0\x80", 3, 1},             /* U+0800, smallest 3-byte */
        {"\xed\x9f\xbf", 3, 1},             /* U+D7FF, just below the surrogates */
        {"\xee\x80\x80", 3, 1},             /* U+E000, just above */
        {"\xef\xbf\xbf", 3, 1},             /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 1},         /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 1},         /* U+10FFFF, the last code point */
        {"\x7f", 1, 1},
        /* overlong forms */
        {"\xc0\x80", 2, -1},
        {"\xc1\xbf", 2, -1},
        {"\xe0\x80\x80", 3, -1},
        {"\xe0\x9f\xbf", 3, -1},
        {"\xf0\x80\x80\x80", 4, -1},
        {"\xf0\x8f\xbf\xbf", 4, -1},
        /* surrogates */
        {"\xed\xa0\x80", 3, -1},            /* U+D800 */
        {"\xed\xbf\xbf", 3, -1},            /* U+DFFF */
        {"\xed\xa0\xbd\xed\xb8\x80", 6, -1}, /* CESU-8 pair */
        /* past U+10FFFF and bytes that never occur */
        {"\xf4\x90\x80\x80", 4, -1},
        {"\xf5\x80\x80\x80", 4, -1},
        {"\xf8\x88\x80\x80\x80", 5, -1},
        {"\xfe", 1, -1},
        {"\xff", 1, -1},
        /* NUL */
        {"a\0b", 3, -1},
        {"\0", 1, -1},
        /* lone and missing continuation bytes */
        {"\x80", 1, -1},
        {"a\xbf", 2, -1},
        {"\xc3" "a", 2, -1},
        {"\xe4\xb8" "a", 3, -1},
        /* truncated at the end of the buffer */
        {"\xc3", 1, -1},
        {"\xe4\xb8", 2, -1},
        {"\xf0\x9f\x98", 3, -1},
        {"\xc3\xa9", 1, -1}, /* len cuts the character */
        {"ab\xf0\x9f\x98\x80", 5, -1},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        long got = fl_utf8_count(cases[i].s, cases[i].len);
        if (got != cases[i].want)
            FAIL_AT("case %zu (len %zu): got %ld, expected %ld", i, cases[i].len, got,
                    cases[i].want);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* fl_name_is_valid                                                                         */
/* ---------------------------------------------------------------------------------------- */

TEST(base_name_is_valid)
{
    char n128[129], n129[130];
    memset(n128, 'a', 128);
    n128[128] = 0;
    memset(n129, 'b', 129);
    n129[129] = 0;
    ASSERT(fl_name_is_valid(n128));
    ASSERT(!fl_name_is_valid(n129));
    n128[0] = '_';
    ASSERT(fl_name_is_valid(n128));

    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"", false},    {"a", true},     {"Z", true},      {"_", true},
        {"_a-1", true}, {"A1-_z", true}, {"1a", false},    {"-a", false},
        {"9", false},   {"a b", false},  {"a.b", false},   {"a/b", false},
        {"a:b", false}, {"a-", true},    {"\xc3\xa9", false}, {"a\xc3\xa9", false},
        {" a", false},  {"a ", false},   {"a\tb", false},  {"flow_01", true},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++)
        if (fl_name_is_valid(cases[i].s) != cases[i].ok)
            FAIL_AT("'%s': expected %s", cases[i].s, cases[i].ok ? "valid" : "invalid");
}

/* ---------------------------------------------------------------------------------------- */
/* fl_time_parse                                                                            */
/* ---------------------------------------------------------------------------------------- */

#define T2019 1546304461000LL /* 2019-01-01T01:01:01Z */

TEST(base_time_parse_valid)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"2019-01-01T01:01:01Z", T2019},
        {"2019-01-01t01:01:01z", T2019},
        {"1970-01-01T00:00:00Z", 0},
        {"2019-01-01T01:01:01.5Z", T2019 + 500},
        {"2019-01-01T01:01:01.05Z", T2019 + 50},
        {"2019-01-01T01:01:01.001Z", T2019 + 1},
        {"2019-01-01T01:01:01.123456789Z", T2019 + 123}, /* extra digits truncated */
        {"2019-01-01T09:01:01+08:00", T2019},
        {"2018-12-31T19:31:01-05:30", T2019},
        {"2019-01-01T01:01:01+00:00", T2019},
        {"2019-01-01T01:01:01-00:00", T2019},
        {"2019-01-01T09:01:01.250+08:00", T2019 + 250},
        {"2020-02-29T00:00:00Z", 1582934400000LL}, /* leap day */
        {"2038-01-19T03:14:08Z", 2147483648000LL}, /* past 32-bit time_t */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        int64_t ms = -1;
        int rc = fl_time_parse(cases[i].s, &ms);
        if (rc != FL_OK || ms != cases[i].ms)
            FAIL_AT("'%s': rc %d, ms %lld, expected %lld", cases[i].s, rc, (long long)ms,
                    (long long)cases[i].ms);
    }
    /* fl_time_iso output parses back to the same instant. */
    char iso[32];
    fl_time_iso(T2019 + 789, iso);
    ASSERT_STR_EQ(iso, "2019-01-01T01:01:01.789Z");
    int64_t back = 0;
    ASSERT_OK(fl_time_parse(iso, &back));
    ASSERT_EQ(back, T2019 + 789);
    fl_time_iso_sec(T2019 + 789, iso);
    ASSERT_STR_EQ(iso, "2019-01-01T01:01:01Z");
}

TEST(base_time_parse_bad_forms)
{
    static const char *const bad[] = {
        "",
        "2019",
        "2019-01-01",
        "2019-01-01T01:01:01",      /* no zone */
        "2019-01-01 01:01:01Z",     /* space for T */
        "2019-01-01T01:01Z",
        "2019-1-01T01:01:01Z",
        "19-01-01T01:01:01Z",
        "abcd-01-01T01:01:01Z",
        "2019-0a-01T01:01:01Z",
        "2019/01/01T01:01:01Z",
        "2019-13-01T01:01:01Z",
        "2019-00-01T01:01:01Z",
        "2019-01-00T01:01:01Z",
        "2019-01-32T01:01:01Z",
        "2019-01-01T24:00:00Z",
        "2019-01-01T01:60:00Z",
        "2019-01-01T01:01:61Z",
        "2019-01-01T01:01:01.Z",    /* fraction without digits */
        "2019-01-01T01:01:01.5",
        "2019-01-01T01:01:01+0800",
        "2019-01-01T01:01:01+08",
        "2019-01-01T01:01:01+08:0",
        "2019-01-01T01:01:01+08:000",
        "2019-01-01T01:01:01+ab:00",
        "2019-01-01T01:01:01 +08:00",
        "2019-01-01T01:01:01ZZ",
        "2019-01-01T01:01:01Z ",
        "2019-01-01T01:01:01UTC",
        "-019-01-01T01:01:01Z",
        "+2019-01-01T01:01:01Z",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        int64_t ms = 12345;
        if (fl_time_parse(bad[i], &ms) != FL_EINVALID_ARGUMENT)
            FAIL_AT("'%s' should be refused (got %lld)", bad[i], (long long)ms);
    }
}

/* Impossible dates and offsets are refused, not normalized by timegm() into another
 * instant ("2019-02-30" must not become 2019-03-02). */
TEST(base_time_parse_impossible_dates)
{
    static const char *const bad[] = {
        "2019-02-29T00:00:00Z", /* not a leap year */
        "2019-02-30T00:00:00Z",
        "2019-04-31T00:00:00Z",
        "2100-02-29T00:00:00Z", /* century, not a leap year */
        "2019-01-01T00:00:00+99:99",
        "2019-01-01T00:00:00+24:00",
        "2019-01-01T00:00:00-00:60",
    };
    int accepted = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        int64_t ms = 0;
        if (fl_time_parse(bad[i], &ms) == FL_OK) {
            char iso[32];
            fl_time_iso(ms, iso);
            fprintf(stderr, "  accepted '%s' as %s\n", bad[i], iso);
            accepted++;
        }
    }
    ASSERT_EQ(accepted, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* fl_pct_encode / fl_pct_decode                                                            */
/* ---------------------------------------------------------------------------------------- */

TEST(base_pct_encode)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"AZaz09-_.~", 10, "AZaz09-_.~"},
        {" ", 1, "%20"},
        {"+", 1, "%2B"},
        {"*", 1, "%2A"},
        {"/", 1, "%2F"},
        {"%", 1, "%25"},
        {"=&?#", 4, "%3D%26%3F%23"},
        {"a b+c", 5, "a%20b%2Bc"},
        {"\xc3\xa9", 2, "%C3%A9"},
        {"\x00\xff", 2, "%00%FF"},
        {"{\"k\":1}", 7, "%7B%22k%22%3A1%7D"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        fl_buf_t b;
        fl_buf_init(&b);
        fl_pct_encode(&b, cases[i].in, cases[i].len);
        if (strcmp(b.data ? b.data : "", cases[i].want))
            FAIL_AT("case %zu: got '%s', expected '%s'", i, b.data ? b.data : "", cases[i].want);
        fl_buf_free(&b);
    }

    /* Every byte value round-trips through encode and decode, in place too. */
    char raw[256];
    for (int i = 0; i < 256; i++)
        raw[i] = (char)i;
    fl_buf_t b;
    fl_buf_init(&b);
    fl_pct_encode(&b, raw, sizeof raw);
    for (size_t i = 0; i < b.len; i++)
        ASSERT(b.data[i] != '+' && b.data[i] != ' ' && (unsigned char)b.data[i] < 0x80);
    long n = fl_pct_decode(b.data, b.len, b.data, true);
    ASSERT_EQ(n, 256);
    ASSERT(memcmp(b.data, raw, 256) == 0);
    fl_buf_free(&b);

    char out[8];
    ASSERT_EQ(fl_pct_decode("%4a%4A", 6, out, false), 2);
    ASSERT(out[0] == 'J' && out[1] == 'J');
    ASSERT_EQ(fl_pct_decode("%4", 2, out, false), -1);
    ASSERT_EQ(fl_pct_decode("%", 1, out, false), -1);
    ASSERT_EQ(fl_pct_decode("%-1", 3, out, false), -1);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* base64url                                                                                */
/* ---------------------------------------------------------------------------------------- */

TEST(base_b64url_vectors)
{
    static const struct {
        const char *raw;
        size_t len;
        const char *enc;
    } cases[] = {
        {"", 0, ""},         {"f", 1, "Zg"},         {"fo", 2, "Zm8"},
        {"foo", 3, "Zm9v"},  {"foob", 4, "Zm9vYg"},  {"fooba", 5, "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy"}, {"\xfb\xff", 2, "-_8"}, {"\xff\xff\xff", 3, "____"},
        {"\x00", 1, "AA"},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char enc[32];
        size_t n = fl_b64url(cases[i].raw, cases[i].len, enc);
        ASSERT_EQ(n, strlen(cases[i].enc));
        ASSERT_STR_EQ(enc, cases[i].enc);
        uint8_t dec[32];
        long m = fl_b64url_decode(enc, n, dec, sizeof dec);
        ASSERT_EQ(m, (long)cases[i].len);
        ASSERT(memcmp(dec, cases[i].raw, cases[i].len) == 0);
    }
    /* Standard base64 keeps its padding and alphabet. */
    char std[16];
    ASSERT_EQ(fl_b64("\xfb\xff", 2, std), 4);
    ASSERT_STR_EQ(std, "+/8=");
}

TEST(base_b64url_round_trip)
{
    uint8_t raw[200], dec[200];
    char enc[300];
    unsigned x = 12345;
    for (size_t len = 0; len <= sizeof raw; len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            raw[i] = (uint8_t)(x >> 16);
        }
        size_t n = fl_b64url(raw, len, enc);
        ASSERT_EQ(n, (len * 4 + 2) / 3); /* no padding */
        ASSERT_EQ(strlen(enc), n);
        for (size_t i = 0; i < n; i++)
            ASSERT(enc[i] != '=' && enc[i] != '+' && enc[i] != '/');
        long m = fl_b64url_decode(enc, n, dec, sizeof dec);
        ASSERT_EQ(m, (long)len);
        ASSERT(len == 0 || memcmp(raw, dec, len) == 0);
    }
}

TEST(base_b64url_decode_rejects)
{
    uint8_t out[16];
    static const char *const bad[] = {
        "A",       /* length 1 mod 4 */
        "Zm9vY",   /* length 5 */
        "Zg==",    /* padding */
        "Zm+v",    /* standard alphabet */
        "Zm/v",
        "Zm9 ",
        "Zh",      /* non-zero leftover bits: 'f' is only "Zg" */
        "Zm9",     /* "fo" is "Zm8" */
        "AB",
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++)
        if (fl_b64url_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
            FAIL_AT("'%s' should not decode", bad[i]);
    /* The output capacity is respected. */
    ASSERT_EQ(fl_b64url_decode("Zm9vYmFy", 8, out, 5), -1);
    ASSERT_EQ(fl_b64url_decode("Zm9vYmFy", 8, out, 6), 6);
}
