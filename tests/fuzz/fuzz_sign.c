/*
 * fuzz_sign.c - the signers and token checks of src/auth/: the V1 string-to-sign and
 * signature over parsed parameters, the V3 Authorization header parser (with roomy and
 * tight buffers) and canonical request, the timestamp parser, and task-token verification.
 *
 * Input, one field per line ('\r' before '\n' is dropped):
 *   1 method   2 path   3 query string   4 Authorization header   5 task token / timestamp
 *   6... headers "name: value" for the V3 canonical request
 * Missing lines count as empty. Checks that a parsed Authorization header yields non-empty
 * parts without separators that fit their buffers, that signatures have their fixed
 * lengths, and that a minted token verifies to the same fields while a changed one fails.
 */
#include <string.h>

#include "api/api.h"
#include "fuzz.h"

#define SIGN_MAX_LINES 64

static const uint8_t token_key[FL_TOKEN_KEY_LEN] = "fuzz-token-key-0123456789abcdef";

static void check_authz(const char *authz, size_t ak_len, size_t sh_len, size_t sig_len)
{
    char ak[256], sh[1024], sig[256];
    FUZZ_CHECK(ak_len <= sizeof ak && sh_len <= sizeof sh && sig_len <= sizeof sig, "sizes");
    memset(ak, 'A', sizeof ak);
    memset(sh, 'S', sizeof sh);
    memset(sig, 'G', sizeof sig);
    if (fl_sign_v3_parse_authz(authz, ak, ak_len, sh, sh_len, sig, sig_len) != FL_OK)
        return;
    const char *parts[] = {ak, sh, sig};
    size_t caps[] = {ak_len, sh_len, sig_len};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strnlen(parts[i], caps[i]);
        FUZZ_CHECK(n > 0 && n < caps[i], "part %zu has length %zu of %zu", i, n, caps[i]);
        FUZZ_CHECK(strcspn(parts[i], ", \t") == n, "part %zu holds a separator: %s", i,
                   parts[i]);
    }
    FUZZ_CHECK(ak_len == sizeof ak || ak[ak_len] == 'A', "Credential overran its buffer");
    FUZZ_CHECK(sh_len == sizeof sh || sh[sh_len] == 'S', "SignedHeaders overran its buffer");
    FUZZ_CHECK(sig_len == sizeof sig || sig[sig_len] == 'G', "Signature overran its buffer");
}

static void check_token(const char *s, size_t len, const uint8_t *data, size_t size)
{
    fl_token_t t = {0};
    (void)fl_token_verify(token_key, s, len, &t);

    /* Round trip with fields taken from the input. */
    uint8_t raw[21] = {0};
    memcpy(raw, data, size < sizeof raw ? size : sizeof raw);
    fl_token_t in = {0}, out = {0};
    memcpy(&in.account, raw, 8);
    memcpy(&in.exec_id, raw + 8, 8);
    memcpy(&in.seq, raw + 16, 4);
    char tok[FL_TOKEN_MAX];
    fl_token_mint(token_key, &in, tok);
    size_t tl = strlen(tok);
    FUZZ_CHECK(tl == 50, "minted token has %zu characters", tl);
    FUZZ_CHECK(fl_token_verify(token_key, tok, tl, &out) == FL_OK, "own token refused");
    FUZZ_CHECK(out.account == in.account && out.exec_id == in.exec_id && out.seq == in.seq,
               "token fields changed");
    /* Flip one character, chosen by the input, to another base64url character. */
    size_t at = (size > 21 ? data[21] : 0) % tl;
    tok[at] = tok[at] == 'A' ? 'B' : 'A';
    fl_token_t bad = {0};
    int rc = fl_token_verify(token_key, tok, tl, &bad);
    /* The last character carries 2 spare bits only when 37 bytes are encoded (50 chars
     * hold 300 bits, 296 used): a change there may be refused as non-canonical, or, if the
     * implementation ignores spare bits, still verify. Anywhere else it must fail. */
    if (at != tl - 1)
        FUZZ_CHECK(rc != FL_OK, "a damaged token verified (position %zu)", at);
}

int fuzz_sign(const uint8_t *data, size_t size)
{
    /* Lines as NUL-terminated heap copies: the signers take C strings. */
    char *lines[SIGN_MAX_LINES];
    size_t lens[SIGN_MAX_LINES];
    size_t nl = 0;
    const uint8_t *p = data, *end = data + size;
    while (p < end && nl < SIGN_MAX_LINES) {
        const uint8_t *e = memchr(p, '\n', (size_t)(end - p));
        size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
        size_t m = n && p[n - 1] == '\r' ? n - 1 : n;
        lines[nl] = malloc(m + 1);
        memcpy(lines[nl], p, m);
        lines[nl][m] = 0;
        lens[nl] = m;
        nl++;
        p = e ? e + 1 : end;
    }
    static char empty[] = "";
    for (size_t i = nl; i < 6; i++) {
        lines[i] = empty;
        lens[i] = 0;
    }
    const char *method = lines[0], *path = lines[1], *query = lines[2], *authz = lines[3];

    fl_arena_t a;
    fl_arena_init(&a);
    fl_kv_t *kv = NULL;
    size_t n = 0, cap = 0;
    if (api_parse_urlencoded(&a, query, lens[2], false, &kv, &n, &cap) != FL_OK)
        n = 0;

    /* V1 */
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_v1_string(method, kv, n, &b);
    FUZZ_CHECK(b.len >= 5 + strlen(method), "V1 string too short");
    fl_buf_free(&b);
    char sig1[29];
    fl_sign_v1(method, kv, n, authz, sig1);
    FUZZ_CHECK(strlen(sig1) == 28, "V1 signature has length %zu", strlen(sig1));
    FUZZ_CHECK(!fl_sign_equal(sig1, NULL) && fl_sign_equal(sig1, sig1), "fl_sign_equal");

    /* V3: the Authorization header with the server's buffers, then tight ones. */
    check_authz(authz, 256, 1024, 256);
    size_t t1 = size ? 1 + data[0] % 16 : 1, t2 = size > 1 ? 1 + data[1] % 16 : 1;
    check_authz(authz, t1, t2, 1 + (t1 + t2) % 16);

    fl_kv_t hdrs[SIGN_MAX_LINES];
    size_t nh = 0;
    for (size_t i = 5; i < nl; i++) {
        char *colon = strchr(lines[i], ':');
        if (!colon)
            continue;
        *colon = 0;
        hdrs[nh].key = lines[i];
        hdrs[nh].val = colon + 1;
        nh++;
    }
    char body_hash[65];
    fl_sha256_hex(lines[4], lens[4], body_hash);
    fl_v3_req_t r = {method, path, kv, n, hdrs, nh, body_hash};
    fl_buf_init(&b);
    fl_sign_v3_canonical(&r, &b);
    fl_buf_free(&b);
    char sig3[65];
    fl_sign_v3(&r, query, sig3);
    FUZZ_CHECK(strlen(sig3) == 64, "V3 signature has length %zu", strlen(sig3));

    /* Line 5: a task token, and a timestamp for the window check. */
    check_token(lines[4], lens[4], data, size);
    int64_t ms;
    if (fl_time_parse(lines[4], &ms) == FL_OK) {
        char iso[32];
        fl_time_iso(ms, iso);
    }

    fl_arena_close(&a);
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_sign(d, n);
}
#endif
