/*
 * sign_v1.c - Alibaba Cloud RPC signature V1 (HMAC-SHA1) and the canonical query text
 * shared with V3 and flowctl.
 *
 * Pure functions: no I/O, no global state. The caller's parameter array is never
 * reordered; sorting happens on a private index. Verification (constant-time compare,
 * timestamp window, nonce reuse) belongs to the caller; fl_sign_equal helps with the first.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth.h"

static int kv_cmp(const void *a, const void *b)
{
    const fl_kv_t *x = *(const fl_kv_t *const *)a;
    const fl_kv_t *y = *(const fl_kv_t *const *)b;
    /* strcmp compares as unsigned char: the byte order the specification asks for. */
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    /* Equal keys are ordered by value so the result never depends on qsort's whims. */
    return strcmp(x->val ? x->val : "", y->val ? y->val : "");
}

/* See auth.h. */
void fl_sign_query_string(const fl_kv_t *params, size_t n, const char *skip, fl_buf_t *out)
{
    if (n == 0)
        return;
    const fl_kv_t **idx = xmalloc(n * sizeof *idx);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && strcmp(params[i].key, skip) == 0)
            continue;
        idx[m++] = &params[i];
    }
    qsort(idx, m, sizeof *idx, kv_cmp);
    for (size_t i = 0; i < m; i++) {
        const char *v = idx[i]->val ? idx[i]->val : "";
        if (i)
            fl_buf_putc(out, '&');
        fl_pct_encode(out, idx[i]->key, strlen(idx[i]->key));
        fl_buf_putc(out, '=');
        fl_pct_encode(out, v, strlen(v));
    }
    free(idx);
}

/* See auth.h. */
bool fl_sign_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* See auth.h. */
void fl_sign_v1_string(const char *method, const fl_kv_t *params, size_t n, fl_buf_t *out)
{
    fl_buf_t canon;
    fl_buf_init(&canon);
    fl_sign_query_string(params, n, "Signature", &canon);
    fl_buf_puts(out, method);
    fl_buf_puts(out, "&%2F&");
    fl_pct_encode(out, canon.data ? canon.data : "", canon.len);
    fl_buf_free(&canon);
}

/* See auth.h. */
void fl_sign_v1(const char *method, const fl_kv_t *params, size_t n, const char *secret,
                char out[29])
{
    fl_buf_t sts, key;
    fl_buf_init(&sts);
    fl_buf_init(&key);
    fl_sign_v1_string(method, params, n, &sts);
    fl_buf_puts(&key, secret ? secret : "");
    fl_buf_putc(&key, '&');

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    /* HMAC() only fails on allocation failure inside OpenSSL; treat that like xmalloc. */
    unsigned char *r = HMAC(EVP_sha1(), key.data, (int)key.len, (const unsigned char *)sts.data,
                            sts.len, mac, &mac_len);
    FL_ASSERT(r != NULL && mac_len == 20);
    fl_b64(mac, mac_len, out);
    fl_buf_free(&sts);
    fl_buf_free(&key);
}
