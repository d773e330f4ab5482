/*
 * test_guards.c - the request guards of src/auth: token buckets (throttle.c), the nonce
 * replay cache (nonce.c) and the identity registry (keys.c).
 */
#include "auth/auth.h"
#include "test.h"

TEST(throttle_burst_then_refill)
{
    fl_rate_t lim[2] = {{3, 1}, {0, 0}};
    fl_throttle_t *t = fl_throttle_new(lim, 2);
    int ra = 0;
    for (int i = 0; i < 3; i++)
        ASSERT_OK(fl_throttle_take(t, 7, 0, 1000, &ra));
    ASSERT_EQ(fl_throttle_take(t, 7, 0, 1000, &ra), FL_ERESOURCE_THROTTLED);
    ASSERT_EQ(ra, 1);
    /* Half a token later: still throttled, and told to wait one more second at most. */
    ASSERT_EQ(fl_throttle_take(t, 7, 0, 1500, &ra), FL_ERESOURCE_THROTTLED);
    ASSERT_EQ(ra, 1);
    ASSERT_OK(fl_throttle_take(t, 7, 0, 2001, &ra));
    /* Refill never passes the burst. */
    for (int i = 0; i < 3; i++)
        ASSERT_OK(fl_throttle_take(t, 7, 0, 100000, &ra));
    ASSERT_EQ(fl_throttle_take(t, 7, 0, 100000, &ra), FL_ERESOURCE_THROTTLED);
    fl_throttle_free(t);
    LEAK_CHECK();
}

TEST(throttle_buckets_are_per_account_and_action)
{
    fl_rate_t lim[2] = {{1, 0.5}, {0, 0}};
    fl_throttle_t *t = fl_throttle_new(lim, 2);
    int ra = 0;
    ASSERT_OK(fl_throttle_take(t, 1, 0, 0, &ra));
    ASSERT_EQ(fl_throttle_take(t, 1, 0, 0, &ra), FL_ERESOURCE_THROTTLED);
    ASSERT_EQ(ra, 2); /* one token at 0.5/s takes two seconds */
    ASSERT_OK(fl_throttle_take(t, 2, 0, 0, &ra)); /* another account */
    for (int i = 0; i < 1000; i++)                /* burst 0: unlimited */
        ASSERT_OK(fl_throttle_take(t, 1, 1, 0, &ra));
    ASSERT_OK(fl_throttle_take(t, 1, 5, 0, &ra)); /* out of range: not throttled */
    /* Many accounts make the shards grow; every bucket keeps its own count. */
    for (uint64_t acc = 100; acc < 5000; acc++)
        ASSERT_OK(fl_throttle_take(t, acc, 0, 0, &ra));
    for (uint64_t acc = 100; acc < 5000; acc++)
        ASSERT_EQ(fl_throttle_take(t, acc, 0, 0, &ra), FL_ERESOURCE_THROTTLED);
    fl_throttle_free(t);
    LEAK_CHECK();
}

TEST(nonce_replay_is_refused)
{
    fl_nonces_t *n = fl_nonces_new(1000, 900000);
    ASSERT_OK(fl_nonces_check(n, "AK1", "abc", 1000, 1000));
    ASSERT_EQ(fl_nonces_check(n, "AK1", "abc", 1000, 2000), FL_ESIGNATURE_NONCE_USED);
    ASSERT_OK(fl_nonces_check(n, "AK2", "abc", 1000, 2000)); /* per access key */
    ASSERT_OK(fl_nonces_check(n, "AK1", "abd", 1000, 2000));
    /* "AK1"+"\nbc" and "AK1\n"+"bc" must not collide with each other. */
    ASSERT_OK(fl_nonces_check(n, "AK1\n", "bc", 1000, 2000));
    /* Long after the window the entry is gone (the timestamp check refuses such requests
     * before they get here). */
    ASSERT_OK(fl_nonces_check(n, "AK1", "abc", 5000000, 5000000));
    fl_nonces_free(n);
    LEAK_CHECK();
}

TEST(nonce_capacity_moves_the_horizon)
{
    /* 8 shards of 2: at most 16 remembered nonces. */
    fl_nonces_t *n = fl_nonces_new(8, 900000);
    char buf[32];
    for (int i = 0; i < 400; i++) {
        snprintf(buf, sizeof buf, "n%d", i);
        ASSERT_OK(fl_nonces_check(n, "AK", buf, 1000 + i, 1000 + i));
    }
    /* A replay of an early nonce cannot be proven fresh any more: refused all the same. */
    ASSERT_EQ(fl_nonces_check(n, "AK", "n0", 1000, 1500), FL_ESIGNATURE_NONCE_USED);
    /* A request signed now is still accepted. */
    ASSERT_OK(fl_nonces_check(n, "AK", "fresh", 1500, 1500));
    fl_nonces_free(n);
    LEAK_CHECK();
}

TEST(keys_registry)
{
    fl_keys_t *k = fl_keys_new();
    fl_key_info_t info;
    ASSERT(!fl_keys_get(k, "AK", &info));
    fl_keys_put(k, "AK", "s1", 42, NULL, true);
    ASSERT(fl_keys_get(k, "AK", &info));
    ASSERT_STR_EQ(info.secret, "s1");
    ASSERT_STR_EQ(info.user, "");
    ASSERT_EQ(info.account, 42);
    ASSERT(info.enabled);
    fl_keys_put(k, "AK", "s2", 42, "alice", false);
    ASSERT(fl_keys_get(k, "AK", &info));
    ASSERT_STR_EQ(info.secret, "s2");
    ASSERT_STR_EQ(info.user, "alice");
    ASSERT(!info.enabled);
    fl_keys_remove(k, "AK");
    ASSERT(!fl_keys_get(k, "AK", &info));

    /* No policies: nothing is allowed. */
    fl_authz_ctx_t ctx = {.source_ip = "127.0.0.1", .now_ms = 0};
    ASSERT(!fl_keys_allowed(k, 42, "alice", "fnf:ListFlows", "*", &ctx));
    const char *doc = "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
                      "\"Action\":\"fnf:List*\",\"Resource\":\"*\"}]}";
    fl_policy_t *p = NULL;
    char err[256];
    ASSERT_OK(fl_policy_parse(doc, strlen(doc), &p, err, sizeof err));
    fl_policy_t **ps = xcalloc(1, sizeof *ps);
    ps[0] = p;
    fl_keys_set_policies(k, 42, "alice", ps, 1);
    ASSERT(fl_keys_allowed(k, 42, "alice", "fnf:ListFlows", "*", &ctx));
    ASSERT(!fl_keys_allowed(k, 42, "alice", "fnf:StartExecution", "*", &ctx));
    ASSERT(!fl_keys_allowed(k, 43, "alice", "fnf:ListFlows", "*", &ctx)); /* other account */
    fl_keys_set_policies(k, 42, "alice", NULL, 0);
    ASSERT(!fl_keys_allowed(k, 42, "alice", "fnf:ListFlows", "*", &ctx));

    char ak[25], secret[31];
    fl_keys_generate(ak, secret);
    ASSERT_EQ(strlen(ak), 24);
    ASSERT_EQ(strlen(secret), 30);
    ASSERT(strncmp(ak, "LTAI", 4) == 0);
    fl_keys_free(k);
    LEAK_CHECK();
}
