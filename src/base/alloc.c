/*
 * alloc.c - allocators that abort on out-of-memory, and the assertion handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

static void oom(size_t n)
{
    fprintf(stderr, "flowd: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    n = strnlen(s, n); /* like strndup: at most n bytes, never past the string's end */
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void fl_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "flowd: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
