/*
 * sync.c - keeps a node of a shared (PostgreSQL) store in step with the other nodes.
 *
 * Identities: every admin change also writes a new random "identity_version" into the meta
 * table in its own transaction. A thread compares that one row every second and, when it
 * changed, reloads all keys and policies (dropping what other nodes deleted); a request
 * with an access key this node does not know checks at once (at most every 50 ms), so a
 * key made on one node works on the next request to any node. Disabling or deleting a key
 * reaches the other nodes within a second.
 *
 * Nonces: a signature nonce is recorded in the shared nonces table as well as in the
 * node's own cache (dispatch.c); this thread purges expired rows once a minute.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "api.h"

#define POLL_MS 1000
#define MISS_CHECK_MS 50
#define PURGE_MS 60000

struct fl_sync {
    fl_api_t *api;
    pthread_t thread;
    pthread_mutex_t mu;   /* one refresh at a time; guards version and last_check */
    pthread_cond_t cv;
    bool stopping;
    char version[40];
    bool loaded; /* version holds what the loaded identities correspond to */
    int64_t last_check_ms;
};

/* Reloads the identities when the version in the database changed. Caller holds s->mu. */
static int refresh_locked(fl_sync_t *s)
{
    fl_api_t *api = s->api;
    fl_arena_t a;
    fl_arena_init(&a);
    char *v = NULL;
    size_t len = 0;
    s->last_check_ms = fl_now_ms();
    int rc = fl_db_meta_get(fl_store_reader(api->store), "identity_version", &a, &v, &len);
    if (rc == FL_ENOT_FOUND) {
        v = fl_arena_strdup(&a, "");
        len = 0;
        rc = FL_OK;
    }
    if (rc == FL_OK && (!s->loaded || strcmp(v, s->version) != 0)) {
        fl_keys_sweep_begin(api->keys);
        rc = fl_api_load_identities(api);
        if (rc == FL_OK) {
            fl_keys_sweep_end(api->keys); /* only after a complete load */
            snprintf(s->version, sizeof s->version, "%s", v);
            s->loaded = true;
        }
    }
    fl_arena_close(&a);
    return rc;
}

void fl_api_sync_key_miss(fl_api_t *api)
{
    fl_sync_t *s = api->sync;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    if (fl_now_ms() - s->last_check_ms >= MISS_CHECK_MS)
        refresh_locked(s);
    pthread_mutex_unlock(&s->mu);
}

int fl_api_identity_bump(fl_db_t *db)
{
    uint8_t r[8];
    char hex[17];
    fl_rand_bytes(r, sizeof r);
    fl_hex(r, sizeof r, hex);
    return fl_db_meta_put(db, "identity_version", hex, 16);
}

static void *sync_main(void *arg)
{
    fl_sync_t *s = arg;
    int64_t last_purge = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += POLL_MS / 1000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stopping)
            break;
        if (refresh_locked(s) != FL_OK)
            fl_warn("sync: reloading identities failed; keeping the ones loaded");
        int64_t now = fl_now_ms();
        if (now - last_purge >= PURGE_MS) {
            last_purge = now;
            if (fl_db_nonce_purge(fl_store_reader(s->api->store), now) != FL_OK)
                fl_warn("sync: purging expired nonces failed");
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int fl_api_sync_start(fl_api_t *api)
{
    fl_sync_t *s = xcalloc(1, sizeof *s);
    s->api = api;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_lock(&s->mu);
    int rc = refresh_locked(s); /* the first load */
    pthread_mutex_unlock(&s->mu);
    if (rc || pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return rc ? rc : FL_EINTERNAL;
    }
    api->sync = s;
    return FL_OK;
}

void fl_api_sync_stop(fl_api_t *api)
{
    fl_sync_t *s = api->sync;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    api->sync = NULL;
}
