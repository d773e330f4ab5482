/*
 * test_token.c - task tokens: round trip, URL safety and length, and refusal of every kind
 * of damage (each character changed, truncation, extension, padding, foreign characters,
 * another key, another version) with FL_EINVALID_ARGUMENT and without touching the output.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth.h"
#include "test.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void test_key(uint8_t key[FL_TOKEN_KEY_LEN], uint8_t seed)
{
    for (int i = 0; i < FL_TOKEN_KEY_LEN; i++)
        key[i] = (uint8_t)(seed + i * 7);
}

static const fl_token_t sample = {.account = 1234567890123ULL, .exec_id = 42, .seq = 3};

TEST(token_round_trip)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 1);
    const fl_token_t cases[] = {
        sample,
        {0, 0, 0},
        {UINT64_MAX, INT64_MAX, UINT32_MAX},
        {1, INT64_MIN, 1},
        {0x0102030405060708ULL, -1, 0x0a0b0c0d},
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        char tok[FL_TOKEN_MAX];
        fl_token_mint(key, &cases[i], tok);
        fl_token_t t = {0, 0, 0};
        ASSERT_OK(fl_token_verify(key, tok, strlen(tok), &t));
        ASSERT(t.account == cases[i].account);
        ASSERT(t.exec_id == cases[i].exec_id);
        ASSERT(t.seq == cases[i].seq);
    }
}

TEST(token_layout)
{
    /* Recompute the documented layout independently and compare the text. */
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 9);
    fl_token_t t = {0x0102030405060708ULL, -2, 0x11223344};
    uint8_t raw[37] = {1, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                       0xfe, 0x11, 0x22, 0x33, 0x44};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ASSERT(HMAC(EVP_sha256(), key, FL_TOKEN_KEY_LEN, raw, 21, md, &md_len) != NULL);
    memcpy(raw + 21, md, 16);
    char want[64];
    fl_b64url(raw, sizeof raw, want);
    char tok[FL_TOKEN_MAX];
    fl_token_mint(key, &t, tok);
    ASSERT_STR_EQ(tok, want);
}

TEST(token_is_url_safe_and_short)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 2);
    fl_token_t t = {UINT64_MAX, INT64_MAX, UINT32_MAX};
    char tok[FL_TOKEN_MAX];
    fl_token_mint(key, &t, tok);
    size_t n = strlen(tok);
    ASSERT(n > 0 && n <= 95);
    ASSERT_EQ(strspn(tok, b64url_alphabet), n);
    /* URL safety: RFC 3986 encoding leaves the token unchanged. */
    fl_buf_t b;
    fl_buf_init(&b);
    fl_pct_encode(&b, tok, n);
    ASSERT_STR_EQ(b.data, tok);
    fl_buf_free(&b);
}

TEST(token_distinct_fields_give_distinct_tokens)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 3);
    char a[FL_TOKEN_MAX], b[FL_TOKEN_MAX];
    fl_token_t t = sample;
    fl_token_mint(key, &t, a);
    t.seq++;
    fl_token_mint(key, &t, b);
    ASSERT(strcmp(a, b) != 0);
}

static void expect_bad(const uint8_t *key, const char *s, size_t len)
{
    fl_token_t t = {7, 7, 7};
    int rc = fl_token_verify(key, s, len, &t);
    if (rc != FL_EINVALID_ARGUMENT)
        FAIL_AT("accepted bad token \"%.*s\" (len %zu): rc %d", (int)len, s ? s : "", len, rc);
    ASSERT(t.account == 7 && t.exec_id == 7 && t.seq == 7);
}

TEST(token_tamper_every_position)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 4);
    char tok[FL_TOKEN_MAX];
    fl_token_mint(key, &sample, tok);
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        /* Every other alphabet character at every position must be refused. */
        for (const char *c = b64url_alphabet; *c; c++) {
            if (*c == tok[i])
                continue;
            char bad[FL_TOKEN_MAX];
            memcpy(bad, tok, n + 1);
            bad[i] = *c;
            expect_bad(key, bad, n);
        }
    }
}

TEST(token_truncated_extended_padded)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 5);
    char tok[FL_TOKEN_MAX];
    fl_token_mint(key, &sample, tok);
    size_t n = strlen(tok);
    for (size_t len = 0; len < n; len++)
        expect_bad(key, tok, len);

    char longer[FL_TOKEN_MAX + 8];
    memcpy(longer, tok, n);
    for (const char *ext = "A_-="; *ext; ext++) {
        longer[n] = *ext;
        longer[n + 1] = 0;
        expect_bad(key, longer, n + 1);
        longer[n + 1] = *ext;
        longer[n + 2] = 0;
        expect_bad(key, longer, n + 2);
    }
    memcpy(longer, tok, n);
    memcpy(longer + n, "==", 3);
    expect_bad(key, longer, n + 2);
    /* Padding in place of the last characters keeps the length but not the alphabet. */
    memcpy(longer, tok, n + 1);
    longer[n - 1] = '=';
    expect_bad(key, longer, n);
    longer[n - 2] = '=';
    expect_bad(key, longer, n);
    expect_bad(key, NULL, 0);
    expect_bad(key, NULL, n);
}

TEST(token_foreign_characters)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 6);
    char tok[FL_TOKEN_MAX];
    fl_token_mint(key, &sample, tok);
    size_t n = strlen(tok);
    static const char foreign[] = "+/= .%~*!\"\n\t\x80\xff";
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof foreign; k++) { /* includes the NUL */
            char bad[FL_TOKEN_MAX];
            memcpy(bad, tok, n + 1);
            bad[i] = foreign[k];
            expect_bad(key, bad, n);
        }
    }
    /* Standard base64 of the same bytes is not accepted either (when it differs). */
    char std[FL_TOKEN_MAX];
    memcpy(std, tok, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (std[i] == '-')
            std[i] = '+';
        else if (std[i] == '_')
            std[i] = '/';
    }
    if (strcmp(std, tok) != 0)
        expect_bad(key, std, n);
}

TEST(token_wrong_key)
{
    uint8_t key[FL_TOKEN_KEY_LEN], other[FL_TOKEN_KEY_LEN];
    test_key(key, 7);
    char tok[FL_TOKEN_MAX];
    fl_token_mint(key, &sample, tok);
    for (int i = 0; i < FL_TOKEN_KEY_LEN; i++) {
        memcpy(other, key, sizeof other);
        other[i] ^= 0x01;
        expect_bad(other, tok, strlen(tok));
    }
}

TEST(token_wrong_version)
{
    /* A correctly MACed token with another version byte is still refused. */
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 8);
    for (int v = 0; v < 256; v++) {
        if (v == 1)
            continue;
        uint8_t raw[37] = {(uint8_t)v};
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        ASSERT(HMAC(EVP_sha256(), key, FL_TOKEN_KEY_LEN, raw, 21, md, &md_len) != NULL);
        memcpy(raw + 21, md, 16);
        char tok[64];
        size_t n = fl_b64url(raw, sizeof raw, tok);
        expect_bad(key, tok, n);
    }
}

TEST(token_garbage_never_crashes)
{
    uint8_t key[FL_TOKEN_KEY_LEN];
    test_key(key, 10);
    char buf[300];
    for (int round = 0; round < 2000; round++) {
        fl_rand_bytes(buf, sizeof buf);
        size_t len = (unsigned char)buf[0] % sizeof buf;
        fl_token_t t;
        ASSERT_EQ(fl_token_verify(key, buf, len, &t), FL_EINVALID_ARGUMENT);
        /* Random strings of the right length and alphabet must fail on the MAC. */
        for (size_t i = 0; i < 50; i++)
            buf[i] = b64url_alphabet[(unsigned char)buf[i] % 64];
        ASSERT_EQ(fl_token_verify(key, buf, 50, &t), FL_EINVALID_ARGUMENT);
    }
}
