/*
 * fuzz_policy.c - RAM policy documents (src/auth/policy.c): the input is a policy, parsed
 * and, when accepted, evaluated for a few actions and resources; the first line is also
 * matched as a wildcard pattern against fixed ARNs.
 */
#include <string.h>

#include "auth/auth.h"
#include "fuzz.h"

int fuzz_policy(const uint8_t *data, size_t size)
{
    fl_log_level = FL_LOG_ERROR + 1;
    if (size > FL_POLICY_MAX_BYTES * 2)
        return 0;
    char *doc = malloc(size ? size : 1);
    if (size)
        memcpy(doc, data, size);
    fl_policy_t *p = NULL;
    char err[256] = "";
    int rc = fl_policy_parse(doc, size, &p, err, sizeof err);
    FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "parse returned %d", rc);
    if (rc == FL_OK) {
        FUZZ_CHECK(p != NULL, "accepted without a policy");
        static const char *actions[] = {"fnf:StartExecution", "fnf:CreateFlow", "mns:SendMessage",
                                        ""};
        static const char *resources[] = {"acs:fnf:cn-hangzhou:1234567890123456:flow/f1", "*",
                                          "acs:mns:cn-hangzhou:1:/queues/q/messages", ""};
        static const char *ips[] = {"127.0.0.1", "::1", "10.1.2.3", ""};
        for (size_t i = 0; i < FL_ARRAY_LEN(actions); i++) {
            fl_authz_ctx_t ctx = {ips[i], i & 1, 1700000000000LL + (int64_t)i * 86400000};
            fl_policy_effect_t e = fl_policy_eval(p, actions[i], resources[i], &ctx);
            FUZZ_CHECK(e == FL_POLICY_NONE || e == FL_POLICY_ALLOW || e == FL_POLICY_DENY,
                       "effect %d", (int)e);
            fl_policy_t *ps[] = {p, p};
            (void)fl_policy_allows(ps, 2, actions[i], resources[i], &ctx);
        }
        fl_policy_free(p);
    } else {
        FUZZ_CHECK(err[0] != 0, "refused without a message");
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t pl = nl ? (size_t)(nl - data) : size;
    char *pat = malloc(pl + 1);
    memcpy(pat, data, pl);
    pat[pl] = 0;
    (void)fl_wildcard_match(pat, "acs:fnf:cn-hangzhou:1234567890123456:flow/f1", false);
    (void)fl_wildcard_match(pat, "FNF:StartExecution", true);
    free(pat);
    free(doc);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_policy(d, n);
}
#endif
