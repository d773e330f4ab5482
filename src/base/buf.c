/*
 * buf.c - the per-request arena and the growable NUL-terminated byte buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/* ---- arena ---- */

struct fl_arena_block {
    fl_arena_block_t *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLOCK 8192

void fl_arena_init(fl_arena_t *a)
{
    a->_head = NULL;
}

void fl_arena_close(fl_arena_t *a)
{
    if (!a)
        return;
    fl_arena_block_t *b = a->_head;
    while (b) {
        fl_arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    a->_head = NULL;
}

void *fl_arena_alloc(fl_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    fl_arena_block_t *b = a->_head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
        b = xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        if (n > ARENA_BLOCK / 2 && a->_head) {
            /* A big allocation gets its own block behind the current one, so the
             * current block's free space is not wasted. */
            b->next = a->_head->next;
            a->_head->next = b;
        } else {
            b->next = a->_head;
            a->_head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *fl_arena_strndup(fl_arena_t *a, const char *s, size_t n)
{
    char *p = fl_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *fl_arena_strdup(fl_arena_t *a, const char *s)
{
    return fl_arena_strndup(a, s, strlen(s));
}

char *fl_arena_printf(fl_arena_t *a, const char *fmt, ...)
{
    /* Format into a stack buffer first: most strings fit, and it needs one pass. */
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = fl_arena_alloc(a, (size_t)n + 1);
    if ((size_t)n < sizeof small) {
        memcpy(p, small, (size_t)n + 1);
        return p;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* ---- buffer ---- */

void fl_buf_init(fl_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void fl_buf_free(fl_buf_t *b)
{
    if (!b)
        return;
    free(b->data);
    fl_buf_init(b);
}

void fl_buf_reset(fl_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

static void reserve(fl_buf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void fl_buf_append(fl_buf_t *b, const void *p, size_t n)
{
    reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void fl_buf_puts(fl_buf_t *b, const char *s)
{
    fl_buf_append(b, s, strlen(s));
}

void fl_buf_putc(fl_buf_t *b, char c)
{
    fl_buf_append(b, &c, 1);
}

void fl_buf_printf(fl_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        fl_buf_append(b, small, (size_t)n);
        return;
    }
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *fl_buf_take(fl_buf_t *b)
{
    char *p = b->data ? b->data : xstrdup("");
    fl_buf_init(b);
    return p;
}

void fl_diag_set(fl_diag_t *d, int line, int col, const char *path, const char *fmt, ...)
{
    if (!d)
        return;
    d->line = line;
    d->col = col;
    snprintf(d->path, sizeof d->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
}
