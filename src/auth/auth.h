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

/* ---- RAM policies (policy.c) ---- */

typedef struct fl_policy fl_policy_t; /* a parsed, immutable policy document */

/* What a request looks like to policy conditions. */
typedef struct {
    const char *source_ip;  /* acs:SourceIp, e.g. "127.0.0.1" or "::1" */
    bool secure_transport;  /* acs:SecureTransport */
    int64_t now_ms;         /* acs:CurrentTime */
} fl_authz_ctx_t;

typedef enum {
    FL_POLICY_NONE = 0, /* no statement applies (implicit deny) */
    FL_POLICY_ALLOW,
    FL_POLICY_DENY,
} fl_policy_effect_t;

#define FL_POLICY_MAX_BYTES 6144

/* Parses a RAM policy document (JSON text: Version "1", Statement list of Effect, Action,
 * Resource, optional Condition). Returns FL_OK with a new policy, or FL_EINVALID_ARGUMENT
 * with err explaining which part is wrong (e.g. "Statement[0].Effect must be Allow or
 * Deny"). Unknown condition operators or keys are errors. */
int fl_policy_parse(const char *doc, size_t len, fl_policy_t **out /* OUT */, char *err,
                    size_t errlen);
void fl_policy_free(fl_policy_t *p); /* NULL-safe */
/* Evaluates one policy for action ("fnf:ReportTaskFailed") on resource (an ARN or "*"). */
fl_policy_effect_t fl_policy_eval(const fl_policy_t *p, const char *action,
                                  const char *resource, const fl_authz_ctx_t *ctx);
/* Evaluates several policies as RAM does: any Deny wins, then any Allow, else deny.
 * Returns true when the request is allowed. */
bool fl_policy_allows(fl_policy_t *const *ps, size_t n, const char *action, const char *resource,
                      const fl_authz_ctx_t *ctx);
/* Matches s against pattern with '*' (any run) and '?' (one byte: ARNs are ASCII). */
bool fl_wildcard_match(const char *pattern, const char *s, bool nocase);

/* ---- Identities (keys.c): access keys and the policies of RAM users ---- */

typedef struct fl_keys fl_keys_t; /* thread-safe; lookups take a shared lock */

typedef struct {
    char secret[128];
    uint64_t account;
    char user[72]; /* "" for a root key */
    bool enabled;
} fl_key_info_t;

fl_keys_t *fl_keys_new(void);
void fl_keys_free(fl_keys_t *k); /* NULL-safe */
/* Adds or replaces a key (user NULL or "" for a root key). */
void fl_keys_put(fl_keys_t *k, const char *ak, const char *secret, uint64_t account,
                 const char *user, bool enabled);
void fl_keys_remove(fl_keys_t *k, const char *ak);
/* Copies the key's record into out and returns true when ak is known. */
bool fl_keys_get(fl_keys_t *k, const char *ak, fl_key_info_t *out /* OUT */);
/* Replaces the policies of a RAM user; takes ownership of ps and of every policy in it. */
void fl_keys_set_policies(fl_keys_t *k, uint64_t account, const char *user, fl_policy_t **ps,
                          size_t n);
/* A full reload between these two calls replaces the registry: sweep_end drops every key and
 * user that was not put again since sweep_begin (deleted on another node). */
void fl_keys_sweep_begin(fl_keys_t *k);
void fl_keys_sweep_end(fl_keys_t *k);
/* Evaluates the user's policies for action on resource (fl_policy_allows). */
bool fl_keys_allowed(fl_keys_t *k, uint64_t account, const char *user, const char *action,
                     const char *resource, const fl_authz_ctx_t *ctx);
/* Generates a new access key id ("LTAI" + 20 characters) and a 30-character secret. */
void fl_keys_generate(char ak[25], char secret[31]);

/* ---- Throttling (throttle.c): token buckets per account and action ---- */

typedef struct fl_throttle fl_throttle_t; /* thread-safe, sharded: no global lock */

typedef struct {
    double burst; /* bucket size (requests) */
    double rate;  /* refill (requests per second) */
} fl_rate_t;

/* limits[i] applies to action index i (0 <= i < n); a burst of 0 means unlimited. */
fl_throttle_t *fl_throttle_new(const fl_rate_t *limits, size_t n);
void fl_throttle_free(fl_throttle_t *t); /* NULL-safe */
/* Takes one token of (account, action). FL_OK, or FL_ERESOURCE_THROTTLED with the whole
 * seconds until the next token in *retry_after_s. */
int fl_throttle_take(fl_throttle_t *t, uint64_t account, size_t action, int64_t now_ms,
                     int *retry_after_s /* OUT */);

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
