/*
 * test_sign.c - signature V1 and V3 against the test vectors A-D of the CloudFlow API reference
 * sections 2.3-2.4, the shared canonical query text, fl_sign_equal and the parser of the
 * V3 Authorization header.
 */
#include "auth/auth.h"
#include "test.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- V1 ---- */

static const fl_kv_t vec_a[] = {
    {"Version", "2014-05-26"},
    {"AccessKeyId", "testid"},
    {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
    {"Timestamp", "2016-02-23T12:46:24Z"},
    {"Action", "DescribeRegions"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"Format", "XML"},
    {"SignatureVersion", "1.0"},
};

TEST(sign_v1_vector_a)
{
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v1_string("GET", vec_a, FL_ARRAY_LEN(vec_a), &b);
    ASSERT_STR_EQ(b.data, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
                          "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-"
                          "a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-"
                          "23T12%253A46%253A24Z%26Version%3D2014-05-26");
    fl_buf_free(&b);
    char sig[29];
    fl_sign_v1("GET", vec_a, FL_ARRAY_LEN(vec_a), "testsecret", sig);
    ASSERT_STR_EQ(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
}

static const fl_kv_t vec_b[] = {
    {"Action", "ReportTaskSucceeded"},
    {"Format", "json"},
    {"Version", "2019-03-15"},
    {"Timestamp", "2024-01-01T00:00:00Z"},
    {"SignatureNonce", "0123456789abcdef0123456789abcdef"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureVersion", "1.0"},
    {"AccessKeyId", "testid"},
    {"TaskToken", "tok en/+="},
    {"Output", "{\"k\":\"v\"}"},
};

static const char vec_b_sts[] =
    "POST&%2F&AccessKeyId%3Dtestid%26Action%3DReportTaskSucceeded%26Format%3Djson%26Output%3D"
    "%257B%2522k%2522%253A%2522v%2522%257D%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D"
    "0123456789abcdef0123456789abcdef%26SignatureVersion%3D1.0%26TaskToken%3Dtok%2520en%252F"
    "%252B%253D%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2019-03-15";

TEST(sign_v1_vector_b)
{
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v1_string("POST", vec_b, FL_ARRAY_LEN(vec_b), &b);
    ASSERT_STR_EQ(b.data, vec_b_sts);
    fl_buf_free(&b);
    char sig[29];
    fl_sign_v1("POST", vec_b, FL_ARRAY_LEN(vec_b), "testsecret", sig);
    ASSERT_STR_EQ(sig, "XewJxQla/Cat38QJ1GcyqCSuaHc=");
    ASSERT_EQ(strlen(sig), 28);
}

TEST(sign_v1_skips_signature_param)
{
    /* A received request carries Signature; the signer must ignore it wherever it sits. */
    fl_kv_t p[FL_ARRAY_LEN(vec_b) + 1];
    p[0] = (fl_kv_t){"Signature", "XewJxQla/Cat38QJ1GcyqCSuaHc="};
    memcpy(p + 1, vec_b, sizeof vec_b);
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v1_string("POST", p, FL_ARRAY_LEN(p), &b);
    ASSERT_STR_EQ(b.data, vec_b_sts);
    fl_buf_free(&b);
    char sig[29];
    fl_sign_v1("POST", p, FL_ARRAY_LEN(p), "testsecret", sig);
    ASSERT_STR_EQ(sig, "XewJxQla/Cat38QJ1GcyqCSuaHc=");
    /* The caller's array is not reordered. */
    ASSERT_STR_EQ(p[0].key, "Signature");
    ASSERT_STR_EQ(p[1].key, "Action");
}

TEST(sign_v1_wrong_secret_or_method_differs)
{
    char a[29], b[29];
    fl_sign_v1("POST", vec_b, FL_ARRAY_LEN(vec_b), "testsecret", a);
    fl_sign_v1("POST", vec_b, FL_ARRAY_LEN(vec_b), "testsecreT", b);
    ASSERT(strcmp(a, b) != 0);
    fl_sign_v1("GET", vec_b, FL_ARRAY_LEN(vec_b), "testsecret", b);
    ASSERT(strcmp(a, b) != 0);
}

TEST(sign_query_string_encoding_and_order)
{
    const fl_kv_t p[] = {
        {"b", "x y"}, {"B", "*~"}, {"a", ""}, {"a", "2"}, {"Signature", "s"}, {"\xc3\xa9", "/"},
    };
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_query_string(p, FL_ARRAY_LEN(p), "Signature", &b);
    ASSERT_STR_EQ(b.data, "B=%2A~&a=&a=2&b=x%20y&%C3%A9=%2F");
    fl_buf_reset(&b);
    fl_sign_query_string(p, FL_ARRAY_LEN(p), NULL, &b);
    ASSERT_STR_EQ(b.data, "B=%2A~&Signature=s&a=&a=2&b=x%20y&%C3%A9=%2F");
    fl_buf_free(&b);
    fl_buf_init(&b);
    fl_sign_query_string(NULL, 0, NULL, &b);
    ASSERT_EQ(b.len, 0);
    fl_buf_free(&b);
}

TEST(sign_equal)
{
    ASSERT(fl_sign_equal("abc", "abc"));
    ASSERT(fl_sign_equal("", ""));
    ASSERT(!fl_sign_equal("abc", "abd"));
    ASSERT(!fl_sign_equal("abc", "ab"));
    ASSERT(!fl_sign_equal("ab", "abc"));
    ASSERT(!fl_sign_equal(NULL, "abc"));
    ASSERT(!fl_sign_equal("abc", NULL));
    ASSERT(!fl_sign_equal(NULL, NULL));
}

/* ---- V3 ---- */

static const fl_kv_t vec_c_query[] = {
    {"RegionId", "cn-shanghai"},
    {"ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"},
};

static const fl_kv_t vec_c_headers[] = {
    {"x-acs-version", "2014-05-26"},
    {"host", "ecs.cn-shanghai.aliyuncs.com"},
    {"x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"},
    {"x-acs-action", "RunInstances"},
    {"x-acs-date", "2023-10-26T09:01:01Z"},
    {"x-acs-content-sha256", EMPTY_SHA256},
};

static const char vec_c_canon[] =
    "POST\n"
    "/\n"
    "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n"
    "host:ecs.cn-shanghai.aliyuncs.com\n"
    "x-acs-action:RunInstances\n"
    "x-acs-content-sha256:" EMPTY_SHA256 "\n"
    "x-acs-date:2023-10-26T09:01:01Z\n"
    "x-acs-signature-nonce:d410180a5abf7fe235dd9b74aca91fc0\n"
    "x-acs-version:2014-05-26\n"
    "\n"
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
    EMPTY_SHA256;

static fl_v3_req_t vec_c_req(const char *method)
{
    fl_v3_req_t r = {
        .method = method,
        .path = "/",
        .query = vec_c_query,
        .n_query = FL_ARRAY_LEN(vec_c_query),
        .headers = vec_c_headers,
        .n_headers = FL_ARRAY_LEN(vec_c_headers),
        .payload_sha256 = EMPTY_SHA256,
    };
    return r;
}

TEST(sign_sha256_empty)
{
    char h[65];
    fl_sha256_hex("", 0, h);
    ASSERT_STR_EQ(h, EMPTY_SHA256);
    fl_sha256_hex(NULL, 0, h);
    ASSERT_STR_EQ(h, EMPTY_SHA256);
    fl_sha256_hex("abc", 3, h);
    ASSERT_STR_EQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sign_v3_vector_c_post)
{
    fl_v3_req_t r = vec_c_req("POST");
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v3_canonical(&r, &b);
    ASSERT_STR_EQ(b.data, vec_c_canon);
    char h[65];
    fl_sha256_hex(b.data, b.len, h);
    ASSERT_STR_EQ(h, "29622f5feb1e9fcaaa2e276a72889c975f7b16f00e02be1ca34965b18cd85015");
    fl_buf_free(&b);
    char sig[65];
    fl_sign_v3(&r, "YourAccessKeySecret", sig);
    ASSERT_STR_EQ(sig, "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804");
}

TEST(sign_v3_vector_c_get)
{
    fl_v3_req_t r = vec_c_req("GET");
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v3_canonical(&r, &b);
    ASSERT(strncmp(b.data, "GET\n/\n", 6) == 0);
    ASSERT_STR_EQ(b.data + 3, vec_c_canon + 4);
    fl_buf_free(&b);
    char sig[65];
    fl_sign_v3(&r, "YourAccessKeySecret", sig);
    ASSERT_STR_EQ(sig, "9bcca459f717a31cacdd42ece53f765b42d563becbc01948931dec3d6176b3b0");
}

TEST(sign_v3_header_normalisation)
{
    /* Mixed-case names and padded values canonicalise to the same request. */
    const fl_kv_t hdrs[] = {
        {"X-Acs-Version", " 2014-05-26"},
        {"Host", "ecs.cn-shanghai.aliyuncs.com\t"},
        {"x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"},
        {"X-ACS-ACTION", "  RunInstances  "},
        {"x-acs-date", "2023-10-26T09:01:01Z"},
        {"x-acs-content-sha256", EMPTY_SHA256},
    };
    fl_v3_req_t r = vec_c_req("POST");
    r.headers = hdrs;
    r.payload_sha256 = NULL; /* NULL means an empty body */
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v3_canonical(&r, &b);
    ASSERT_STR_EQ(b.data, vec_c_canon);
    fl_buf_free(&b);
}

TEST(sign_v3_repeated_header_joined)
{
    const fl_kv_t hdrs[] = {{"x-b", "2"}, {"x-a", "1"}, {"x-b", "3"}};
    fl_v3_req_t r = {.method = "GET", .path = "/a b/c", .headers = hdrs, .n_headers = 3,
                     .payload_sha256 = EMPTY_SHA256};
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v3_canonical(&r, &b);
    ASSERT_STR_EQ(b.data, "GET\n/a%20b/c\n\nx-a:1\nx-b:2,3\n\nx-a;x-b\n" EMPTY_SHA256);
    fl_buf_free(&b);
}

TEST(sign_v3_vector_d)
{
    static const char body[] = "Output=%7B%22k%22%3A%22v%22%7D";
    char body_sha[65];
    fl_sha256_hex(body, strlen(body), body_sha);
    ASSERT_STR_EQ(body_sha, "f4083461250889fa9e2454fe38770a7778fb68379f65832dec03683ebe1a688f");

    const fl_kv_t query[] = {{"TaskToken", "tok"}};
    const fl_kv_t hdrs[] = {
        {"content-type", "application/x-www-form-urlencoded"},
        {"host", "cn-hangzhou.fnf.aliyuncs.com"},
        {"x-acs-action", "ReportTaskSucceeded"},
        {"x-acs-content-sha256", body_sha},
        {"x-acs-date", "2024-01-01T00:00:00Z"},
        {"x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"},
        {"x-acs-version", "2019-03-15"},
    };
    fl_v3_req_t r = {.method = "POST", .path = "/", .query = query, .n_query = 1,
                     .headers = hdrs, .n_headers = FL_ARRAY_LEN(hdrs),
                     .payload_sha256 = body_sha};
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v3_canonical(&r, &b);
    ASSERT_STR_EQ(b.data,
                  "POST\n/\nTaskToken=tok\n"
                  "content-type:application/x-www-form-urlencoded\n"
                  "host:cn-hangzhou.fnf.aliyuncs.com\n"
                  "x-acs-action:ReportTaskSucceeded\n"
                  "x-acs-content-sha256:f4083461250889fa9e2454fe38770a7778fb68379f65832dec03683ebe1a688f\n"
                  "x-acs-date:2024-01-01T00:00:00Z\n"
                  "x-acs-signature-nonce:0123456789abcdef0123456789abcdef\n"
                  "x-acs-version:2019-03-15\n\n"
                  "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;"
                  "x-acs-signature-nonce;x-acs-version\n"
                  "f4083461250889fa9e2454fe38770a7778fb68379f65832dec03683ebe1a688f");
    char h[65];
    fl_sha256_hex(b.data, b.len, h);
    ASSERT_STR_EQ(h, "903b09b7d6ea22a2e3f05945516bbe20474daf8dfbb7b964750e6e85a783ae0e");
    fl_buf_free(&b);

    char sig[65];
    fl_sign_v3(&r, "testsecret", sig);
    ASSERT_STR_EQ(sig, "5ff5707b67b42d886fbc27d81df1209dc6ba5fc67c693238957080466a1bcef2");

    /* The Authorization header of the vector parses back into its parts. */
    char ak[64], sh[256], got[65];
    ASSERT_OK(fl_sign_v3_parse_authz(
        "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;host;x-acs-action;"
        "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature="
        "5ff5707b67b42d886fbc27d81df1209dc6ba5fc67c693238957080466a1bcef2",
        ak, sizeof ak, sh, sizeof sh, got, sizeof got));
    ASSERT_STR_EQ(ak, "testid");
    ASSERT_STR_EQ(sh, "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;"
                      "x-acs-signature-nonce;x-acs-version");
    ASSERT(fl_sign_equal(got, sig));
}

/* ---- Authorization header parsing ---- */

static int parse(const char *s, char ak[32], char sh[128], char sig[72])
{
    return fl_sign_v3_parse_authz(s, ak, 32, sh, 128, sig, 72);
}

TEST(sign_v3_parse_authz_ok)
{
    char ak[32], sh[128], sig[72];
    ASSERT_OK(parse("ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host;x-acs-date,Signature=ab12",
                    ak, sh, sig));
    ASSERT_STR_EQ(ak, "AK1");
    ASSERT_STR_EQ(sh, "host;x-acs-date");
    ASSERT_STR_EQ(sig, "ab12");

    /* Spaces after the commas, several spaces after the algorithm, trailing space. */
    memset(ak, 'x', sizeof ak);
    ASSERT_OK(parse("ACS3-HMAC-SHA256  Credential=AK2, SignedHeaders=host,  Signature=ff ",
                    ak, sh, sig));
    ASSERT_STR_EQ(ak, "AK2");
    ASSERT_STR_EQ(sh, "host");
    ASSERT_STR_EQ(sig, "ff");

    /* Any order. */
    ASSERT_OK(parse("ACS3-HMAC-SHA256 Signature=01,Credential=K,SignedHeaders=a", ak, sh, sig));
    ASSERT_STR_EQ(ak, "K");
    ASSERT_STR_EQ(sh, "a");
    ASSERT_STR_EQ(sig, "01");

    /* A value exactly one short of its buffer fits. */
    char ak31[40];
    memset(ak31, 'A', 31);
    ak31[31] = 0;
    char hdr[200];
    snprintf(hdr, sizeof hdr, "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=h,Signature=0", ak31);
    ASSERT_OK(parse(hdr, ak, sh, sig));
    ASSERT_STR_EQ(ak, ak31);
}

TEST(sign_v3_parse_authz_malformed)
{
    static const char *const bad[] = {
        "",
        "ACS3-HMAC-SHA256",
        "ACS3-HMAC-SHA256 ",
        "ACS3-HMAC-SHA1 Credential=a,SignedHeaders=h,Signature=0",
        "acs3-hmac-sha256 Credential=a,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256Credential=a,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h",
        "ACS3-HMAC-SHA256 Credential=a,Signature=0",
        "ACS3-HMAC-SHA256 SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=0,",
        "ACS3-HMAC-SHA256 Credential=a,,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=0,Signature=1",
        "ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=0,Extra=1",
        "ACS3-HMAC-SHA256 Credential a,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a b,SignedHeaders=h,Signature=0",
        "ACS3-HMAC-SHA256 Credential=a;SignedHeaders=h;Signature=0",
        "ACS3-HMAC-SHA256 credential=a,signedheaders=h,signature=0",
        "Bearer abc",
    };
    char ak[32], sh[128], sig[72];
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        if (parse(bad[i], ak, sh, sig) != FL_EINVALID_ARGUMENT)
            FAIL_AT("accepted malformed header #%zu: \"%s\"", i, bad[i]);
    }
    ASSERT_EQ(parse(NULL, ak, sh, sig), FL_EINVALID_ARGUMENT);
}

TEST(sign_v3_parse_authz_too_long)
{
    char ak[4], sh[8], sig[4];
    /* Each part must fit its buffer with the NUL. */
    ASSERT_EQ(fl_sign_v3_parse_authz("ACS3-HMAC-SHA256 Credential=abcd,SignedHeaders=h,"
                                     "Signature=0",
                                     ak, sizeof ak, sh, sizeof sh, sig, sizeof sig),
              FL_EINVALID_ARGUMENT);
    ASSERT_OK(fl_sign_v3_parse_authz("ACS3-HMAC-SHA256 Credential=abc,SignedHeaders=h,"
                                     "Signature=012",
                                     ak, sizeof ak, sh, sizeof sh, sig, sizeof sig));
    ASSERT_EQ(fl_sign_v3_parse_authz("ACS3-HMAC-SHA256 Credential=abc,SignedHeaders=h;xxxxxx,"
                                     "Signature=012",
                                     ak, sizeof ak, sh, sizeof sh, sig, sizeof sig),
              FL_EINVALID_ARGUMENT);
    ASSERT_EQ(fl_sign_v3_parse_authz("ACS3-HMAC-SHA256 Credential=abc,SignedHeaders=h,"
                                     "Signature=0123",
                                     ak, sizeof ak, sh, sizeof sh, sig, sizeof sig),
              FL_EINVALID_ARGUMENT);
}
