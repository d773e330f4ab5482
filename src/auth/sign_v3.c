/*
 * sign_v3.c - Alibaba Cloud signature V3 (ACS3-HMAC-SHA256): canonical request, signature,
 * SHA-256 helper and the parser of the Authorization header.
 *
 * Pure functions over decoded inputs; flowctl and the server share them, so both sides
 * build the canonical request from the same code. Header names are lower-cased and values
 * trimmed here, so callers may pass raw header values.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "auth/auth.h"

#define V3_ALGO "ACS3-HMAC-SHA256"

/* A header as it enters the canonical form: its position breaks ties so that repeated
 * headers keep their order when their values are joined. */
typedef struct {
    const fl_kv_t *kv;
    size_t pos;
} hdr_ref_t;

static int lower_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y || !x)
            return (int)x - (int)y;
    }
}

static int hdr_cmp(const void *a, const void *b)
{
    const hdr_ref_t *x = a, *y = b;
    int c = lower_cmp(x->kv->key, y->kv->key);
    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void put_lower(fl_buf_t *b, const char *s)
{
    for (; *s; s++) {
        char c = *s;
        fl_buf_putc(b, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static void put_trimmed(fl_buf_t *b, const char *s)
{
    if (!s)
        return;
    size_t len = strlen(s);
    while (len && is_space(*s)) {
        s++;
        len--;
    }
    while (len && is_space(s[len - 1]))
        len--;
    fl_buf_append(b, s, len);
}

/* See auth.h. */
void fl_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : "", len, md);
    fl_hex(md, sizeof md, out);
}

/* See auth.h. The canonical URI keeps '/' and encodes every other byte of the path with the
 * RFC 3986 encoder, which is what "percent-encoded per segment" amounts to. */
void fl_sign_v3_canonical(const fl_v3_req_t *r, fl_buf_t *out)
{
    fl_buf_puts(out, r->method ? r->method : "");
    fl_buf_putc(out, '\n');

    const char *path = r->path && *r->path ? r->path : "/";
    for (const char *p = path; *p;) {
        size_t seg = strcspn(p, "/");
        fl_pct_encode(out, p, seg);
        p += seg;
        if (*p == '/') {
            fl_buf_putc(out, '/');
            p++;
        }
    }
    fl_buf_putc(out, '\n');

    fl_sign_query_string(r->query, r->n_query, NULL, out);
    fl_buf_putc(out, '\n');

    hdr_ref_t *h = xcalloc(r->n_headers ? r->n_headers : 1, sizeof *h);
    for (size_t i = 0; i < r->n_headers; i++) {
        h[i].kv = &r->headers[i];
        h[i].pos = i;
    }
    qsort(h, r->n_headers, sizeof *h, hdr_cmp);
    /* Canonical headers: one line per distinct name, repeated values joined by ','. */
    for (size_t i = 0; i < r->n_headers; i++) {
        bool same = i > 0 && lower_cmp(h[i - 1].kv->key, h[i].kv->key) == 0;
        if (same) {
            fl_buf_putc(out, ',');
        } else {
            if (i > 0)
                fl_buf_putc(out, '\n');
            put_lower(out, h[i].kv->key);
            fl_buf_putc(out, ':');
        }
        put_trimmed(out, h[i].kv->val);
    }
    if (r->n_headers)
        fl_buf_putc(out, '\n');
    fl_buf_putc(out, '\n');

    /* Signed headers: the distinct names, sorted, joined by ';'. */
    for (size_t i = 0; i < r->n_headers; i++) {
        if (i > 0 && lower_cmp(h[i - 1].kv->key, h[i].kv->key) == 0)
            continue;
        if (i > 0)
            fl_buf_putc(out, ';');
        put_lower(out, h[i].kv->key);
    }
    fl_buf_putc(out, '\n');
    free(h);

    if (r->payload_sha256) {
        fl_buf_puts(out, r->payload_sha256);
    } else {
        char empty[65];
        fl_sha256_hex("", 0, empty);
        fl_buf_puts(out, empty);
    }
}

/* See auth.h. */
void fl_sign_v3(const fl_v3_req_t *r, const char *secret, char out[65])
{
    fl_buf_t canon;
    fl_buf_init(&canon);
    fl_sign_v3_canonical(r, &canon);
    char hash[65];
    fl_sha256_hex(canon.data, canon.len, hash);
    fl_buf_free(&canon);

    char sts[sizeof V3_ALGO + 1 + 64];
    memcpy(sts, V3_ALGO "\n", sizeof V3_ALGO);
    memcpy(sts + sizeof V3_ALGO, hash, 64);

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const char *key = secret ? secret : "";
    /* HMAC() only fails on allocation failure inside OpenSSL; treat that like xmalloc. */
    unsigned char *res = HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)sts,
                              sizeof V3_ALGO + 64, mac, &mac_len);
    FL_ASSERT(res != NULL && mac_len == 32);
    fl_hex(mac, mac_len, out);
}

/* Copies s[0..len) into dst (cap bytes, NUL included); false when empty or too long. */
static bool copy_part(char *dst, size_t cap, const char *s, size_t len)
{
    if (len == 0 || !dst || len >= cap)
        return false;
    memcpy(dst, s, len);
    dst[len] = 0;
    return true;
}

/* See auth.h. The three parts may come in any order but each exactly once; whitespace is
 * allowed after the algorithm, around the commas and at the end. Unknown parts, empty
 * values and values holding spaces or commas are refused. */
int fl_sign_v3_parse_authz(const char *authz, char *ak, size_t ak_len, char *signed_headers,
                           size_t sh_len, char *sig, size_t sig_len)
{
    static const char algo[] = V3_ALGO;
    if (!authz || strncmp(authz, algo, sizeof algo - 1) != 0)
        return FL_EINVALID_ARGUMENT;
    const char *p = authz + sizeof algo - 1;
    if (!is_space(*p))
        return FL_EINVALID_ARGUMENT;
    bool seen[3] = {false, false, false};
    for (;;) {
        while (is_space(*p))
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            return FL_EINVALID_ARGUMENT;
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        size_t vlen = strcspn(v, ", \t");
        int which;
        char *dst;
        size_t cap;
        if (klen == 10 && memcmp(p, "Credential", 10) == 0) {
            which = 0, dst = ak, cap = ak_len;
        } else if (klen == 13 && memcmp(p, "SignedHeaders", 13) == 0) {
            which = 1, dst = signed_headers, cap = sh_len;
        } else if (klen == 9 && memcmp(p, "Signature", 9) == 0) {
            which = 2, dst = sig, cap = sig_len;
        } else {
            return FL_EINVALID_ARGUMENT;
        }
        if (seen[which] || !copy_part(dst, cap, v, vlen))
            return FL_EINVALID_ARGUMENT;
        seen[which] = true;
        p = v + vlen;
        while (is_space(*p))
            p++;
        if (*p == 0)
            break;
        if (*p != ',')
            return FL_EINVALID_ARGUMENT;
        p++;
    }
    if (!seen[0] || !seen[1] || !seen[2])
        return FL_EINVALID_ARGUMENT;
    return FL_OK;
}
