/*
 * nonce.c - replay protection: remembers the (access key, nonce) pairs of signed requests
 * for the timestamp window, in bounded memory.
 *
 * Each shard keeps a ring of fingerprints in arrival order plus a chained hash index into
 * it. Entries leave when they age out of the window or, under a load above the capacity,
 * when the ring is full; then the shard's horizon moves up to the evicted entry's signing
 * time, and a request signed at or before the horizon can no longer be proven fresh, so it
 * is refused (a replay carries its original timestamp). Honest clients sign moments before
 * sending, so this only bites clients whose clocks lag by more than the shrunken window.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define SHARDS 8

typedef struct {
    uint64_t h1, h2; /* 128-bit fingerprint of "ak\nnonce" */
    int64_t at_ms;     /* when it was recorded (server clock) */
    int64_t signed_ms; /* the request's own timestamp */
    int32_t next;    /* next ring slot in the same hash chain, -1 = end */
} entry_t;

typedef struct {
    pthread_mutex_t mu;
    entry_t *ring;
    size_t cap, head, len; /* oldest entry at head */
    int32_t *buckets;      /* ring slot of each chain's first entry, -1 = empty */
    size_t n_buckets;      /* power of two */
    int64_t horizon_ms;    /* requests signed before this cannot be checked */
} shard_t;

struct fl_nonces {
    int64_t window_ms;
    shard_t shards[SHARDS];
};

static void fingerprint(const char *ak, const char *nonce, uint64_t *h1, uint64_t *h2)
{
    uint64_t a = 1469598103934665603ULL, b = 0x9e3779b97f4a7c15ULL;
    for (int pass = 0; pass < 2; pass++) {
        const char *s = pass ? nonce : ak;
        for (; *s; s++) {
            a = (a ^ (unsigned char)*s) * 1099511628211ULL;
            b = (b ^ (unsigned char)*s) * 0x100000001b3ULL + 0x632be59bd9b4e019ULL;
            b ^= b >> 29;
        }
        a = (a ^ '\n') * 1099511628211ULL;
        b = (b ^ '\n') * 0x100000001b3ULL;
    }
    *h1 = a;
    *h2 = b;
}

fl_nonces_t *fl_nonces_new(size_t capacity, int64_t window_ms)
{
    fl_nonces_t *n = xcalloc(1, sizeof *n);
    n->window_ms = window_ms;
    size_t per = capacity / SHARDS + 1;
    for (int i = 0; i < SHARDS; i++) {
        shard_t *s = &n->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->cap = per;
        s->ring = xcalloc(per, sizeof *s->ring);
        s->n_buckets = 1;
        while (s->n_buckets < per)
            s->n_buckets <<= 1;
        s->buckets = xmalloc(s->n_buckets * sizeof *s->buckets);
        memset(s->buckets, 0xff, s->n_buckets * sizeof *s->buckets);
    }
    return n;
}

void fl_nonces_free(fl_nonces_t *n)
{
    if (!n)
        return;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&n->shards[i].mu);
        free(n->shards[i].ring);
        free(n->shards[i].buckets);
    }
    free(n);
}

/* Removes the oldest entry of s from its chain and the ring. */
static void evict_oldest(shard_t *s)
{
    int32_t slot = (int32_t)s->head;
    entry_t *e = &s->ring[slot];
    int32_t *p = &s->buckets[e->h1 & (s->n_buckets - 1)];
    while (*p != -1 && *p != slot)
        p = &s->ring[*p].next;
    if (*p == slot)
        *p = e->next;
    s->head = (s->head + 1) % s->cap;
    s->len--;
}

int fl_nonces_check(fl_nonces_t *n, const char *ak, const char *nonce, int64_t signed_ms,
                    int64_t now_ms)
{
    uint64_t h1, h2;
    fingerprint(ak, nonce, &h1, &h2);
    shard_t *s = &n->shards[(h1 >> 60) % SHARDS];
    int rc = FL_OK;
    pthread_mutex_lock(&s->mu);
    while (s->len && s->ring[s->head].at_ms < now_ms - 2 * n->window_ms)
        evict_oldest(s);
    if (signed_ms <= s->horizon_ms) {
        rc = FL_ESIGNATURE_NONCE_USED;
        goto out;
    }
    for (int32_t i = s->buckets[h1 & (s->n_buckets - 1)]; i != -1; i = s->ring[i].next) {
        if (s->ring[i].h1 == h1 && s->ring[i].h2 == h2) {
            rc = FL_ESIGNATURE_NONCE_USED;
            goto out;
        }
    }
    if (s->len == s->cap) {
        /* Full: forget the oldest, and with it the ability to vouch for older requests. */
        const entry_t *old = &s->ring[s->head];
        /* A client clock running ahead must not push the horizon into the future. */
        int64_t h = old->signed_ms < old->at_ms ? old->signed_ms : old->at_ms;
        if (h > s->horizon_ms)
            s->horizon_ms = h;
        evict_oldest(s);
    }
    int32_t slot = (int32_t)((s->head + s->len) % s->cap);
    entry_t *e = &s->ring[slot];
    size_t b = h1 & (s->n_buckets - 1);
    e->h1 = h1;
    e->h2 = h2;
    e->at_ms = now_ms;
    e->signed_ms = signed_ms;
    e->next = s->buckets[b];
    s->buckets[b] = slot;
    s->len++;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}
