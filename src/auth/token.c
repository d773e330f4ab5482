/*
 * token.c - task tokens: self-describing, MAC-protected handles for one task attempt.
 *
 * Layout (37 bytes, then base64url without padding = 50 characters):
 *   version (1) | account u64 BE | exec_id i64 BE | seq u32 BE | HMAC-SHA256(key, first 21)[0..16)
 * Verification checks length, alphabet, canonical encoding, version and MAC before any
 * field is trusted, so a damaged or forged token is refused without touching storage.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth.h"

#define TOKEN_VERSION 1
#define TOKEN_BODY 21 /* version + account + exec_id + seq, bytes */
#define TOKEN_MAC 16  /* truncated HMAC-SHA256, bytes */
#define TOKEN_RAW (TOKEN_BODY + TOKEN_MAC)
#define TOKEN_TEXT 50 /* base64url length of TOKEN_RAW bytes, no padding */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void token_mac(const uint8_t key[FL_TOKEN_KEY_LEN], const uint8_t *body,
                      uint8_t mac[TOKEN_MAC])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    /* HMAC() only fails on allocation failure inside OpenSSL; treat that like xmalloc. */
    unsigned char *r = HMAC(EVP_sha256(), key, FL_TOKEN_KEY_LEN, body, TOKEN_BODY, md, &md_len);
    FL_ASSERT(r != NULL && md_len == 32);
    memcpy(mac, md, TOKEN_MAC);
}

/* See auth.h. The result is always TOKEN_TEXT (50) characters of [A-Za-z0-9_-]. */
void fl_token_mint(const uint8_t key[FL_TOKEN_KEY_LEN], const fl_token_t *t,
                   char out[FL_TOKEN_MAX])
{
    uint8_t raw[TOKEN_RAW];
    raw[0] = TOKEN_VERSION;
    put_be(raw + 1, t->account, 8);
    put_be(raw + 9, (uint64_t)t->exec_id, 8);
    put_be(raw + 17, t->seq, 4);
    token_mac(key, raw, raw + TOKEN_BODY);
    size_t n = fl_b64url(raw, sizeof raw, out);
    FL_ASSERT(n == TOKEN_TEXT);
}

/* See auth.h. Every failure is FL_EINVALID_ARGUMENT and leaves *t untouched; s need not
 * be NUL-terminated and may hold any bytes. */
int fl_token_verify(const uint8_t key[FL_TOKEN_KEY_LEN], const char *s, size_t len,
                    fl_token_t *t /* OUT */)
{
    uint8_t raw[TOKEN_RAW], mac[TOKEN_MAC];
    if (!s || len != TOKEN_TEXT)
        return FL_EINVALID_ARGUMENT;
    if (fl_b64url_decode(s, len, raw, sizeof raw) != TOKEN_RAW)
        return FL_EINVALID_ARGUMENT;
    token_mac(key, raw, mac);
    /* The version byte is covered by the MAC too, but checking the MAC first keeps the
     * answer time independent of which part is wrong. */
    int bad = CRYPTO_memcmp(mac, raw + TOKEN_BODY, TOKEN_MAC) != 0;
    bad |= raw[0] != TOKEN_VERSION;
    if (bad)
        return FL_EINVALID_ARGUMENT;
    t->account = get_be(raw + 1, 8);
    t->exec_id = (int64_t)get_be(raw + 9, 8);
    t->seq = (uint32_t)get_be(raw + 17, 4);
    return FL_OK;
}
