/*
 * keys.c - the in-memory registry of identities consulted on every request: access keys
 * (secret, account, user, enabled) and the compiled policies of RAM users. Loaded from the
 * store at start and updated by the admin actions after their changes commit. A read-write
 * lock keeps lookups parallel; no global lock is taken for writes on the hot path.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

typedef struct key {
    char *ak;
    unsigned gen; /* the registry's gen when last put */
    fl_key_info_t info;
    struct key *next;
} key_ent_t;

typedef struct user {
    uint64_t account;
    char *name;
    fl_policy_t **policies;
    size_t n;
    unsigned gen;
    struct user *next;
} user_ent_t;

#define BUCKETS 256

struct fl_keys {
    pthread_rwlock_t lock;
    key_ent_t *keys[BUCKETS];
    user_ent_t *users[BUCKETS];
    unsigned gen; /* bumped by fl_keys_sweep_begin */
};

static size_t hash(const char *s, uint64_t salt)
{
    uint64_t h = 1469598103934665603ULL ^ salt;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % BUCKETS);
}

fl_keys_t *fl_keys_new(void)
{
    fl_keys_t *k = xcalloc(1, sizeof *k);
    pthread_rwlock_init(&k->lock, NULL);
    return k;
}

static void free_policies(fl_policy_t **ps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fl_policy_free(ps[i]);
    free(ps);
}

void fl_keys_free(fl_keys_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (key_ent_t *e = k->keys[i], *n; e; e = n) {
            n = e->next;
            free(e->ak);
            free(e);
        }
        for (user_ent_t *u = k->users[i], *n; u; u = n) {
            n = u->next;
            free(u->name);
            free_policies(u->policies, u->n);
            free(u);
        }
    }
    pthread_rwlock_destroy(&k->lock);
    free(k);
}

static key_ent_t **key_find(fl_keys_t *k, const char *ak)
{
    key_ent_t **p = &k->keys[hash(ak, 0)];
    while (*p && strcmp((*p)->ak, ak) != 0)
        p = &(*p)->next;
    return p;
}

void fl_keys_put(fl_keys_t *k, const char *ak, const char *secret, uint64_t account,
                 const char *user, bool enabled)
{
    pthread_rwlock_wrlock(&k->lock);
    key_ent_t **p = key_find(k, ak);
    if (!*p) {
        *p = xcalloc(1, sizeof **p);
        (*p)->ak = xstrdup(ak);
    }
    (*p)->gen = k->gen;
    fl_key_info_t *i = &(*p)->info;
    snprintf(i->secret, sizeof i->secret, "%s", secret);
    snprintf(i->user, sizeof i->user, "%s", user ? user : "");
    i->account = account;
    i->enabled = enabled;
    pthread_rwlock_unlock(&k->lock);
}

void fl_keys_remove(fl_keys_t *k, const char *ak)
{
    pthread_rwlock_wrlock(&k->lock);
    key_ent_t **p = key_find(k, ak);
    if (*p) {
        key_ent_t *e = *p;
        *p = e->next;
        free(e->ak);
        free(e);
    }
    pthread_rwlock_unlock(&k->lock);
}

bool fl_keys_get(fl_keys_t *k, const char *ak, fl_key_info_t *out)
{
    pthread_rwlock_rdlock(&k->lock);
    key_ent_t *e = *key_find(k, ak);
    if (e)
        *out = e->info;
    pthread_rwlock_unlock(&k->lock);
    return e != NULL;
}

static user_ent_t **user_find(fl_keys_t *k, uint64_t account, const char *user)
{
    user_ent_t **p = &k->users[hash(user, account)];
    while (*p && !((*p)->account == account && strcmp((*p)->name, user) == 0))
        p = &(*p)->next;
    return p;
}

void fl_keys_set_policies(fl_keys_t *k, uint64_t account, const char *user, fl_policy_t **ps,
                          size_t n)
{
    pthread_rwlock_wrlock(&k->lock);
    user_ent_t **p = user_find(k, account, user);
    if (!*p) {
        *p = xcalloc(1, sizeof **p);
        (*p)->account = account;
        (*p)->name = xstrdup(user);
    }
    free_policies((*p)->policies, (*p)->n);
    (*p)->gen = k->gen;
    (*p)->policies = ps;
    (*p)->n = n;
    pthread_rwlock_unlock(&k->lock);
}

void fl_keys_sweep_begin(fl_keys_t *k)
{
    pthread_rwlock_wrlock(&k->lock);
    k->gen++;
    pthread_rwlock_unlock(&k->lock);
}

void fl_keys_sweep_end(fl_keys_t *k)
{
    pthread_rwlock_wrlock(&k->lock);
    for (size_t i = 0; i < BUCKETS; i++) {
        for (key_ent_t **p = &k->keys[i]; *p;) {
            key_ent_t *e = *p;
            if (e->gen == k->gen) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            free(e->ak);
            free(e);
        }
        for (user_ent_t **p = &k->users[i]; *p;) {
            user_ent_t *u = *p;
            if (u->gen == k->gen) {
                p = &u->next;
                continue;
            }
            *p = u->next;
            free(u->name);
            free_policies(u->policies, u->n);
            free(u);
        }
    }
    pthread_rwlock_unlock(&k->lock);
}

bool fl_keys_allowed(fl_keys_t *k, uint64_t account, const char *user, const char *action,
                     const char *resource, const fl_authz_ctx_t *ctx)
{
    pthread_rwlock_rdlock(&k->lock);
    user_ent_t *u = *user_find(k, account, user);
    bool ok = u && fl_policy_allows(u->policies, u->n, action, resource, ctx);
    pthread_rwlock_unlock(&k->lock);
    return ok;
}

void fl_keys_generate(char ak[25], char secret[31])
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char b[50];
    fl_rand_bytes(b, sizeof b);
    memcpy(ak, "LTAI", 4);
    /* 62 does not divide 256; the bias is below 2% per character, fine for identifiers
     * whose strength comes from their length. */
    for (int i = 0; i < 20; i++)
        ak[4 + i] = alnum[b[i] % 62];
    ak[24] = 0;
    for (int i = 0; i < 30; i++)
        secret[i] = alnum[b[20 + i] % 62];
    secret[30] = 0;
}
