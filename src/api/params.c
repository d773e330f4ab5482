/*
 * params.c - request parameters: urlencoded query strings and form bodies, JSON object
 * bodies, and the merge of both places into one sorted list. Values are decoded exactly
 * once; a parameter given twice with different values is refused rather than guessed at.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"

static void push(fl_arena_t *a, fl_kv_t **kv, size_t *n, size_t *cap, const char *k,
                 const char *v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        fl_kv_t *nkv = fl_arena_alloc(a, nc * sizeof *nkv);
        if (*n)
            memcpy(nkv, *kv, *n * sizeof *nkv);
        *kv = nkv;
        *cap = nc;
    }
    (*kv)[*n].key = k;
    (*kv)[*n].val = v;
    (*n)++;
}

int api_parse_urlencoded(fl_arena_t *a, const char *s, size_t len, bool plus_space,
                         fl_kv_t **kv, size_t *n, size_t *cap)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(s + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
            const char *vs = eq ? eq + 1 : s + j;
            size_t vlen = eq ? (size_t)(s + j - vs) : 0;
            char *k = fl_arena_alloc(a, klen + 1);
            char *v = fl_arena_alloc(a, vlen + 1);
            long kl = fl_pct_decode(s + i, klen, k, plus_space);
            long vl = fl_pct_decode(vs, vlen, v, plus_space);
            if (kl < 0 || vl < 0)
                return FL_EINVALID_ARGUMENT;
            k[kl] = 0;
            v[vl] = 0;
            /* A decoded NUL would cut the value short silently: refuse it. */
            if (strlen(k) != (size_t)kl || strlen(v) != (size_t)vl || kl == 0)
                return FL_EINVALID_ARGUMENT;
            push(a, kv, n, cap, k, v);
        }
        i = j + 1;
    }
    return FL_OK;
}

int api_parse_json_body(fl_arena_t *a, const char *s, size_t len, fl_kv_t **kv, size_t *n,
                        size_t *cap, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        if (o)
            snprintf(err, errlen, "the JSON body must be an object");
        else
            snprintf(err, errlen, "the JSON body is invalid at line %d, column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        json_decref(o);
        return FL_EINVALID_ARGUMENT;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (json_is_null(v))
            continue;
        const char *val;
        if (json_is_string(v)) {
            val = fl_arena_strndup(a, json_string_value(v), json_string_length(v));
            if (strlen(val) != json_string_length(v)) {
                snprintf(err, errlen, "%s must not contain a NUL character", k);
                json_decref(o);
                return FL_EINVALID_ARGUMENT;
            }
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            val = fl_arena_strdup(a, t ? t : "");
            free(t);
        }
        push(a, kv, n, cap, fl_arena_strdup(a, k), val);
    }
    json_decref(o);
    return FL_OK;
}

static int kv_cmp(const void *x, const void *y)
{
    const fl_kv_t *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : strcmp(a->val, b->val);
}

int api_merge(fl_kv_t *kv, size_t *n, const char **dup)
{
    if (*n == 0)
        return FL_OK;
    qsort(kv, *n, sizeof *kv, kv_cmp);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w > 0 && strcmp(kv[w - 1].key, kv[i].key) == 0) {
            if (strcmp(kv[w - 1].val, kv[i].val) != 0) {
                *dup = kv[i].key;
                return FL_EINVALID_ARGUMENT;
            }
            continue; /* the same value in both places: keep one */
        }
        kv[w++] = kv[i];
    }
    *n = w;
    return FL_OK;
}
