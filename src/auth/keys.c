/*
 * keys.c - the in-memory registry of access keys, loaded from the store at start and
 * consulted on every request. A read-write lock keeps lookups parallel.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

typedef struct key {
    char *ak;
    char *secret;
    uint64_t account;
    struct key *next;
} key_t_;

#define KEY_BUCKETS 256

struct fl_keys {
    pthread_rwlock_t lock;
    key_t_ *buckets[KEY_BUCKETS];
};

static size_t bucket(const char *ak)
{
    size_t h = 5381;
    for (const char *p = ak; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % KEY_BUCKETS;
}

fl_keys_t *fl_keys_new(void)
{
    fl_keys_t *k = xcalloc(1, sizeof *k);
    pthread_rwlock_init(&k->lock, NULL);
    return k;
}

void fl_keys_free(fl_keys_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < KEY_BUCKETS; i++) {
        key_t_ *e = k->buckets[i];
        while (e) {
            key_t_ *n = e->next;
            free(e->ak);
            free(e->secret);
            free(e);
            e = n;
        }
    }
    pthread_rwlock_destroy(&k->lock);
    free(k);
}

void fl_keys_put(fl_keys_t *k, const char *ak, const char *secret, uint64_t account)
{
    size_t b = bucket(ak);
    pthread_rwlock_wrlock(&k->lock);
    key_t_ *e = k->buckets[b];
    while (e && strcmp(e->ak, ak) != 0)
        e = e->next;
    if (!e) {
        e = xcalloc(1, sizeof *e);
        e->ak = xstrdup(ak);
        e->next = k->buckets[b];
        k->buckets[b] = e;
    } else {
        free(e->secret);
    }
    e->secret = xstrdup(secret);
    e->account = account;
    pthread_rwlock_unlock(&k->lock);
}

bool fl_keys_get(fl_keys_t *k, const char *ak, char *secret, size_t secret_len,
                 uint64_t *account)
{
    bool found = false;
    pthread_rwlock_rdlock(&k->lock);
    for (key_t_ *e = k->buckets[bucket(ak)]; e; e = e->next) {
        if (strcmp(e->ak, ak) == 0) {
            found = strlen(e->secret) < secret_len;
            if (found) {
                strcpy(secret, e->secret);
                *account = e->account;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&k->lock);
    return found;
}
