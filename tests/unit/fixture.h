/*
 * fixture.h - a fresh store for a test: an SQLite file in a new temporary directory, or,
 * when FLOWD_TEST_PG holds a PostgreSQL URL, a new schema of that database (dropped again
 * at close), so the same store tests run against both backends.
 */
#ifndef FL_TEST_FIXTURE_H
#define FL_TEST_FIXTURE_H

#include <stdbool.h>

#include "store/store.h"

typedef struct {
    char dir[64];      /* SQLite: the temporary directory */
    char schema[64];   /* PostgreSQL: the schema of this test */
    char path[1024];   /* the target fl_store_open gets: a file path or a URL */
    bool pg;
    fl_store_t *st;
} fx_t;

/* Opens a fresh store (a failed step aborts the test). */
void fx_open(fx_t *f);
/* Closes and opens the same database again. */
void fx_reopen(fx_t *f);
/* Closes the store and removes the database. */
void fx_close(fx_t *f);
/* True when the tests run against PostgreSQL. */
bool fx_pg(void);
/* PostgreSQL: runs SQL on the test database from a session of its own (fails the test on
 * an error). The store's sessions carry the test's schema name as application_name. */
void fx_pg_admin(const char *sql);

#endif
