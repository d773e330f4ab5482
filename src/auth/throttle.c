/*
 * throttle.c - token buckets per (account, action). Buckets live in shards chosen by hash,
 * each with its own mutex, so concurrent requests of different accounts or actions rarely
 * meet on a lock and none takes a global one. A bucket starts full; it refills
 * continuously at `rate` per second up to `burst`.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define SHARDS 64

typedef struct bucket {
    uint64_t account;
    size_t action;
    double tokens;
    int64_t last_ms;
    struct bucket *next;
} bucket_t;

typedef struct {
    pthread_mutex_t mu;
    bucket_t **slots;
    size_t n_slots; /* power of two */
    size_t count;
} shard_t;

struct fl_throttle {
    fl_rate_t *limits;
    size_t n;
    shard_t shards[SHARDS];
};

static uint64_t mix(uint64_t account, size_t action)
{
    uint64_t h = account * 0x9e3779b97f4a7c15ULL ^ (uint64_t)action * 0xc2b2ae3d27d4eb4fULL;
    h ^= h >> 31;
    return h * 0xbf58476d1ce4e5b9ULL;
}

fl_throttle_t *fl_throttle_new(const fl_rate_t *limits, size_t n)
{
    fl_throttle_t *t = xcalloc(1, sizeof *t);
    t->limits = xmalloc(n * sizeof *t->limits);
    memcpy(t->limits, limits, n * sizeof *limits);
    t->n = n;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&t->shards[i].mu, NULL);
        t->shards[i].n_slots = 16;
        t->shards[i].slots = xcalloc(16, sizeof(bucket_t *));
    }
    return t;
}

void fl_throttle_free(fl_throttle_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < SHARDS; i++) {
        shard_t *s = &t->shards[i];
        for (size_t j = 0; j < s->n_slots; j++) {
            for (bucket_t *b = s->slots[j], *nb; b; b = nb) {
                nb = b->next;
                free(b);
            }
        }
        free(s->slots);
        pthread_mutex_destroy(&s->mu);
    }
    free(t->limits);
    free(t);
}

/* Doubles the slot array of s when it is full. */
static void grow(shard_t *s)
{
    size_t n = s->n_slots * 2;
    bucket_t **slots = xcalloc(n, sizeof *slots);
    for (size_t j = 0; j < s->n_slots; j++) {
        for (bucket_t *b = s->slots[j], *nb; b; b = nb) {
            nb = b->next;
            size_t k = (mix(b->account, b->action) >> 6) & (n - 1);
            b->next = slots[k];
            slots[k] = b;
        }
    }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
}

int fl_throttle_take(fl_throttle_t *t, uint64_t account, size_t action, int64_t now_ms,
                     int *retry_after_s)
{
    if (action >= t->n || t->limits[action].burst <= 0)
        return FL_OK;
    const fl_rate_t *lim = &t->limits[action];
    uint64_t h = mix(account, action);
    shard_t *s = &t->shards[h % SHARDS];
    int rc = FL_OK;
    pthread_mutex_lock(&s->mu);
    bucket_t **p = &s->slots[(h >> 6) & (s->n_slots - 1)];
    while (*p && !((*p)->account == account && (*p)->action == action))
        p = &(*p)->next;
    bucket_t *b = *p;
    if (!b) {
        if (s->count >= s->n_slots)
            grow(s);
        b = xcalloc(1, sizeof *b);
        b->account = account;
        b->action = action;
        b->tokens = lim->burst;
        b->last_ms = now_ms;
        size_t k = (h >> 6) & (s->n_slots - 1);
        b->next = s->slots[k];
        s->slots[k] = b;
        s->count++;
    }
    if (now_ms > b->last_ms) {
        b->tokens = fmin(lim->burst, b->tokens + (double)(now_ms - b->last_ms) * lim->rate / 1000);
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        rc = FL_ERESOURCE_THROTTLED;
        double wait = lim->rate > 0 ? (1 - b->tokens) / lim->rate : 3600;
        *retry_after_s = (int)ceil(wait);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
