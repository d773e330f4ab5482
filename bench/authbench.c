/*
 * authbench.c - per-request cost of the front door's checks, measured in a tight loop on
 * one core: V1 and V3 signature computation, a RAM policy decision, a throttle token and a
 * nonce check. Run by hand: make -C bench authbench && ../build/bench/authbench
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define RUN(name, n, body)                                                                     \
    do {                                                                                       \
        double t0 = now_s();                                                                   \
        for (long i = 0; i < (n); i++) {                                                       \
            body;                                                                              \
        }                                                                                      \
        double dt = now_s() - t0;                                                              \
        printf("%-28s %8.0f ns/op  (%ld ops in %.2fs)\n", name, dt / (double)(n) * 1e9,      \
               (long)(n), dt);                                                                 \
    } while (0)

int main(void)
{
    /* A ReportTaskFailed request as @alicloud/pop-core sends it. */
    fl_kv_t p[] = {
        {"AccessKeyId", "LTAI5tFlowdBenchKey0001"}, {"Action", "ReportTaskFailed"},
        {"Cause", "the approver rejected the order"}, {"Error", "Rejected"},
        {"Format", "JSON"}, {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureNonce", "0123456789abcdef0123456789abcdef"}, {"SignatureVersion", "1.0"},
        {"TaskToken", "AQAEYtU8irrAAAAAAAAAAAEAAAAB7pBMaA2u4lDpPjFkGERB8w"},
        {"Timestamp", "2026-11-27T03:30:00Z"}, {"Version", "2019-03-15"},
    };
    char sig[29], sig3[65];
    volatile int sink = 0;
    RUN("sign v1 (11 params)", 200000, {
        fl_sign_v1("POST", p, FL_ARRAY_LEN(p), "benchsecret0123456789", sig);
        sink += sig[0];
    });
    fl_kv_t h[] = {{"host", "127.0.0.1:8080"}, {"x-acs-action", "ReportTaskFailed"},
                   {"x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                   {"x-acs-date", "2026-11-27T03:30:00Z"},
                   {"x-acs-signature-nonce", "0123456789abcdef0123456789abcdef"},
                   {"x-acs-version", "2019-03-15"}};
    fl_v3_req_t r = {"POST", "/", p + 8, 1, h, FL_ARRAY_LEN(h),
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
    RUN("sign v3 (6 headers)", 200000, {
        fl_sign_v3(&r, "benchsecret0123456789", sig3);
        sink += sig3[0];
    });

    const char *doc = "{\"Version\":\"1\",\"Statement\":["
                      "{\"Effect\":\"Deny\",\"Action\":\"fnf:Delete*\",\"Resource\":\"*\"},"
                      "{\"Effect\":\"Allow\",\"Action\":[\"fnf:ReportTask*\",\"fnf:Describe*\"],"
                      "\"Resource\":\"acs:fnf:*:*:flow/order-*\","
                      "\"Condition\":{\"IpAddress\":{\"acs:SourceIp\":[\"10.0.0.0/8\","
                      "\"127.0.0.0/8\"]}}}]}";
    fl_policy_t *pol = NULL;
    char err[256];
    if (fl_policy_parse(doc, strlen(doc), &pol, err, sizeof err) != FL_OK) {
        fprintf(stderr, "policy: %s\n", err);
        return 1;
    }
    fl_authz_ctx_t ctx = {"127.0.0.1", false, 1795751211000};
    RUN("policy decision (2 stmts)", 1000000, {
        sink += fl_policy_allows(&pol, 1, "fnf:ReportTaskFailed",
                                 "acs:fnf:cn-hangzhou:1234567890123456:flow/order-approval",
                                 &ctx);
    });
    fl_policy_free(pol);

    fl_rate_t lim[1] = {{1e9, 1e9}};
    fl_throttle_t *t = fl_throttle_new(lim, 1);
    int ra;
    RUN("throttle take", 5000000, { sink += fl_throttle_take(t, 1234567890123456ULL, 0, i, &ra); });
    fl_throttle_free(t);

    fl_nonces_t *nc = fl_nonces_new(1000000, 900000);
    char nonce[40];
    RUN("nonce check (fresh)", 1000000, {
        snprintf(nonce, sizeof nonce, "%032lx", i);
        sink += fl_nonces_check(nc, "LTAI5tFlowdBenchKey0001", nonce, 1000 + i / 1000,
                                1000 + i / 1000);
    });
    fl_nonces_free(nc);

    uint8_t key[FL_TOKEN_KEY_LEN] = {1};
    char tok[FL_TOKEN_MAX];
    fl_token_t tt = {1234567890123456ULL, 42, 7}, out;
    fl_token_mint(key, &tt, tok);
    RUN("token verify", 1000000, { sink += fl_token_verify(key, tok, strlen(tok), &out); });
    return sink == 42 ? 1 : 0;
}
