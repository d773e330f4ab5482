/*
 * fuzz_params.c - request parameters (src/api/params.c): an urlencoded query string, an
 * urlencoded form body and a JSON object body, parsed into one list and merged as
 * dispatch.c does. Input: line 1 is the query, line 2 the form body, the rest the JSON body
 * (each part may be empty). Checks that merged keys come out sorted and unique and that the
 * canonical query text of the result (fl_sign_query_string) parses back to the same pairs.
 */
#include <string.h>

#include "api/api.h"
#include "fuzz.h"

/* The largest JSON body the server accepts by default is 1 MiB; libFuzzer inputs stay far
 * below, so this only matters for hand-made corpus files. */
#define PARAMS_MAX_BODY (1024 * 1024)

static const uint8_t *cut_line(const uint8_t *p, const uint8_t *end, size_t *len)
{
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    *len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    return nl ? nl + 1 : end;
}

/* Copies n bytes into a heap block of exactly n bytes (no terminator), so that ASan sees
 * any read past the length the parser was given. */
static char *exact_copy(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    return c;
}

static void check_merged(fl_arena_t *a, fl_kv_t *kv, size_t n)
{
    bool keys_ok = true;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(kv[i].key && kv[i].val, "pair %zu has a NULL side", i);
        if (i)
            FUZZ_CHECK(strcmp(kv[i - 1].key, kv[i].key) < 0, "keys not sorted/unique at %zu",
                       i);
        if (!*kv[i].key)
            keys_ok = false; /* a JSON body may carry "": urlencoded text cannot */
    }
    /* Round trip: the RFC 3986 text of the merged list parses back to the same list. */
    fl_buf_t b;
    fl_buf_init(&b);
    fl_sign_query_string(kv, n, NULL, &b);
    fl_kv_t *back = NULL;
    size_t nb = 0, cap = 0;
    int rc = api_parse_urlencoded(a, b.data ? b.data : "", b.len, false, &back, &nb, &cap);
    if (keys_ok) {
        FUZZ_CHECK(rc == FL_OK, "canonical text does not parse: %s", b.data);
        FUZZ_CHECK(nb == n, "round trip gave %zu pairs, not %zu", nb, n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(!strcmp(back[i].key, kv[i].key) && !strcmp(back[i].val, kv[i].val),
                       "round trip changed pair %zu (%s)", i, kv[i].key);
    }
    fl_buf_free(&b);
}

int fuzz_params(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *p = data;
    size_t qlen, flen;
    const uint8_t *q = p;
    p = cut_line(p, end, &qlen);
    const uint8_t *f = p;
    p = cut_line(p, end, &flen);
    size_t jlen = (size_t)(end - p);
    if (jlen > PARAMS_MAX_BODY)
        return 0;

    char *qs = exact_copy(q, qlen), *fs = exact_copy(f, flen), *js = exact_copy(p, jlen);
    fl_arena_t a;
    fl_arena_init(&a);
    fl_kv_t *kv = NULL;
    size_t n = 0, cap = 0;
    char err[256] = "";
    int rc = api_parse_urlencoded(&a, qs, qlen, false, &kv, &n, &cap);
    size_t n_query = n;
    if (rc == FL_OK)
        rc = api_parse_urlencoded(&a, fs, flen, true, &kv, &n, &cap);
    if (rc == FL_OK && jlen) {
        rc = api_parse_json_body(&a, js, jlen, &kv, &n, &cap, err, sizeof err);
        if (rc != FL_OK)
            FUZZ_CHECK(err[0] != 0, "a refused JSON body left no message");
    }
    FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "unexpected code %d", rc);
    FUZZ_CHECK(n >= n_query && n <= cap, "counts out of order: %zu %zu %zu", n_query, n, cap);
    if (rc == FL_OK) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(kv[i].key[0] || i >= n_query, "urlencoded pair %zu has an empty key",
                       i);
        const char *dup = NULL;
        if (api_merge(kv, &n, &dup) == FL_OK)
            check_merged(&a, kv, n);
        else
            FUZZ_CHECK(dup != NULL, "a refused merge named no parameter");
        /* The V1 string-to-sign runs over the same list in the server. */
        fl_buf_t sts;
        fl_buf_init(&sts);
        fl_sign_v1_string("POST", kv, n, &sts);
        fl_buf_free(&sts);
    }
    fl_arena_close(&a);
    free(qs);
    free(fs);
    free(js);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_params(d, n);
}
#endif
