/*
 * fixture.c - fresh SQLite files or PostgreSQL schemas for the store tests (fixture.h).
 */
#include <dirent.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "test.h"

bool fx_pg(void)
{
    const char *u = getenv("FLOWD_TEST_PG");
    return u && *u;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Runs SQL on the test database (the base URL, no schema). */
void fx_pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("FLOWD_TEST_PG"));
    if (PQstatus(c) != CONNECTION_OK)
        FAIL_AT("cannot connect to FLOWD_TEST_PG: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        FAIL_AT("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

void fx_open(fx_t *f)
{
    memset(f, 0, sizeof *f);
    f->pg = fx_pg();
    if (f->pg) {
        static atomic_int seq;
        snprintf(f->schema, sizeof f->schema, "t%d_%d", (int)getpid(), atomic_fetch_add(&seq, 1));
        char sql[256];
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
                 f->schema, f->schema);
        fx_pg_admin(sql);
        const char *base = getenv("FLOWD_TEST_PG");
        snprintf(f->path, sizeof f->path, "%s%coptions=-csearch_path%%3D%s&application_name=%s",
                 base, strchr(base, '?') ? '&' : '?', f->schema, f->schema);
    } else {
        snprintf(f->dir, sizeof f->dir, "/tmp/flowd-store-XXXXXX");
        ASSERT(mkdtemp(f->dir) != NULL);
        snprintf(f->path, sizeof f->path, "%s/flowd.db", f->dir);
    }
    ASSERT_OK(fl_store_open(f->path, &f->st));
    ASSERT(f->st != NULL);
}

void fx_reopen(fx_t *f)
{
    fl_store_close(f->st);
    f->st = NULL;
    ASSERT_OK(fl_store_open(f->path, &f->st));
}

void fx_close(fx_t *f)
{
    fl_store_close(f->st);
    f->st = NULL;
    if (f->pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", f->schema);
        fx_pg_admin(sql);
        return;
    }
    /* The directory with everything in it (db, -wal, -shm). */
    DIR *d = opendir(f->dir);
    ASSERT(d != NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        ASSERT_OK(unlink(p));
    }
    closedir(d);
    ASSERT_OK(rmdir(f->dir));
}
