/*
 * auth.h - request signatures (V1 HMAC-SHA1, V3 ACS3-HMAC-SHA256), task tokens, and the
 * access-key registry.
 *
 * The signers are pure functions over decoded parameters and headers; flowctl links them
 * too, so a client and the server compute signatures with the same code. Task tokens are
 * self-describing and MAC-protected so that a forged or damaged token is refused before
 * any storage is touched.
 */
#ifndef FL_AUTH_H
#define FL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* A decoded key/value pair (parameters, headers). */
typedef struct {
    const char *key;
    const char *val;
} fl_kv_t;

/* ---- Signature V1 (RPC, HMAC-SHA1) ---- */

/* Appends the canonical query text of params to out: sorted by key (byte order, ties by
 * value), each key and value RFC 3986-encoded, joined as k=v&... A parameter whose key
 * equals skip (when skip is not NULL) is left out. Shared by V1, V3 and flowctl, which
 * sends exactly this text as its query string or form body. */
void fl_sign_query_string(const fl_kv_t *params, size_t n, const char *skip, fl_buf_t *out);
/* Compares two NUL-terminated signatures in constant time for equal lengths (the length
 * itself is not secret). NULL never matches. */
bool fl_sign_equal(const char *a, const char *b);

/* Appends the V1 string-to-sign for method and params to out: params are sorted by key
 * (byte order), each key and value RFC 3986-encoded, joined as k=v&..., then
 * METHOD&%2F&pe(canonical). A parameter named "Signature" is skipped. params need not be
 * sorted; the function does not modify them. */
void fl_sign_v1_string(const char *method, const fl_kv_t *params, size_t n, fl_buf_t *out);
/* Computes the V1 signature: base64(HMAC-SHA1(secret + "&", string-to-sign)) into out
 * (NUL-terminated, 28 characters). */
void fl_sign_v1(const char *method, const fl_kv_t *params, size_t n, const char *secret,
                char out[29]);

/* ---- Signature V3 (ACS3-HMAC-SHA256) ---- */

typedef struct {
    const char *method;          /* "POST" */
    const char *path;            /* "/" */
    const fl_kv_t *query;        /* decoded query parameters, any order */
    size_t n_query;
    const fl_kv_t *headers;      /* the signed headers: lower-case names, raw values */
    size_t n_headers;
    const char *payload_sha256;  /* lower-case hex SHA-256 of the body */
} fl_v3_req_t;

/* Appends the canonical request to out (headers sorted by name, values trimmed). */
void fl_sign_v3_canonical(const fl_v3_req_t *r, fl_buf_t *out);
/* Computes lower-case hex HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" + hex(sha256(canon))). */
void fl_sign_v3(const fl_v3_req_t *r, const char *secret, char out[65]);
/* Lower-case hex SHA-256 of data. */
void fl_sha256_hex(const void *data, size_t len, char out[65]);

/* Parses "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex" (spaces after the
 * commas allowed). Writes NUL-terminated copies into the caller's buffers. Returns FL_OK, or
 * FL_EINVALID_ARGUMENT when the header is malformed or a part does not fit. */
int fl_sign_v3_parse_authz(const char *authz, char *ak, size_t ak_len, char *signed_headers,
                           size_t sh_len, char *sig, size_t sig_len);

/* ---- Task tokens ---- */

#define FL_TOKEN_KEY_LEN 32
#define FL_TOKEN_MAX 96 /* buffer size for a token, NUL included */

typedef struct {
    uint64_t account; /* owning account id */
    int64_t exec_id;  /* execution row id */
    uint32_t seq;     /* task attempt number within the execution, from 1 */
} fl_token_t;

/* Writes the token for t: base64url (no padding) of version | account | exec | seq | MAC,
 * the MAC being HMAC-SHA256 keyed with key and truncated to 16 bytes. */
void fl_token_mint(const uint8_t key[FL_TOKEN_KEY_LEN], const fl_token_t *t,
                   char out[FL_TOKEN_MAX]);
/* Decodes and checks s in constant time. FL_OK with *t filled, or FL_EINVALID_ARGUMENT. */
int fl_token_verify(const uint8_t key[FL_TOKEN_KEY_LEN], const char *s, size_t len,
                    fl_token_t *t /* OUT */);

/* ---- Access keys (keys.c) ---- */

typedef struct fl_keys fl_keys_t; /* access key id -> (secret, account); thread-safe */

fl_keys_t *fl_keys_new(void);
void fl_keys_free(fl_keys_t *k); /* NULL-safe */
/* Adds or replaces a key. */
void fl_keys_put(fl_keys_t *k, const char *ak, const char *secret, uint64_t account);
/* Looks up ak; copies its secret into secret (NUL-terminated) and returns true when found. */
bool fl_keys_get(fl_keys_t *k, const char *ak, char *secret, size_t secret_len,
                 uint64_t *account /* OUT */);

/* ---- Nonce replay protection (nonce.c) ---- */

typedef struct fl_nonces fl_nonces_t; /* thread-safe */

/* Remembers up to capacity nonces; window_ms is the signature timestamp window. */
fl_nonces_t *fl_nonces_new(size_t capacity, int64_t window_ms);
void fl_nonces_free(fl_nonces_t *n); /* NULL-safe */
/* Records (ak, nonce) of a request signed at signed_ms. Returns FL_OK when it was not seen
 * before, or FL_ESIGNATURE_NONCE_USED (also when the request is older than what the
 * bounded memory can vouch for). */
int fl_nonces_check(fl_nonces_t *n, const char *ak, const char *nonce, int64_t signed_ms,
                    int64_t now_ms);

#endif
