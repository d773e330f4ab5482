/*
 * base.h - the bottom layer every other module uses: allocators that abort on OOM, a
 * per-request arena, a growable byte buffer, logging, assertions, clocks, random bytes,
 * encodings (hex, base64, base64url, RFC 3986 percent-encoding) and small validators
 * (UTF-8, CloudFlow names). Nothing here does I/O except logging and the random source.
 */
#ifndef FL_BASE_H
#define FL_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowd/err.h"

/* ---- allocation: never return NULL, abort on OOM ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n); /* at most n bytes, stops at a NUL */

/* ---- assertions that stay on in release builds ---- */
void fl_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define FL_ASSERT(x) ((x) ? (void)0 : fl_assert_fail(#x, __FILE__, __LINE__))

/* ---- arena: many small allocations freed at once (one per request) ---- */
typedef struct fl_arena_block fl_arena_block_t;
typedef struct {
    fl_arena_block_t *_head; /* newest block first */
} fl_arena_t;

void fl_arena_init(fl_arena_t *a);
void fl_arena_close(fl_arena_t *a); /* frees every block; NULL-safe */
void *fl_arena_alloc(fl_arena_t *a, size_t n); /* zeroed, 16-byte aligned */
char *fl_arena_strndup(fl_arena_t *a, const char *s, size_t n);
char *fl_arena_strdup(fl_arena_t *a, const char *s);
char *fl_arena_printf(fl_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- growable buffer, always NUL-terminated ---- */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} fl_buf_t;

void fl_buf_init(fl_buf_t *b);
void fl_buf_free(fl_buf_t *b); /* NULL-safe */
void fl_buf_reset(fl_buf_t *b);
void fl_buf_append(fl_buf_t *b, const void *p, size_t n);
void fl_buf_puts(fl_buf_t *b, const char *s);
void fl_buf_putc(fl_buf_t *b, char c);
void fl_buf_printf(fl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *fl_buf_take(fl_buf_t *b); /* returns the heap string, owned by the caller; resets b */

/* ---- logging ---- */
enum { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR };
extern int fl_log_level;
void fl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies untrusted text (at most 256 bytes) for a key=value log line, with whatever could
 * forge or break the line (spaces, control characters, non-ASCII, '"', '=') as '?'; "-" for
 * NULL or empty. The copy lives in a. */
const char *fl_log_safe(fl_arena_t *a, const char *s);
#define fl_debug(...) fl_log(FL_LOG_DEBUG, __VA_ARGS__)
#define fl_info(...) fl_log(FL_LOG_INFO, __VA_ARGS__)
#define fl_warn(...) fl_log(FL_LOG_WARN, __VA_ARGS__)
#define fl_error(...) fl_log(FL_LOG_ERROR, __VA_ARGS__)

/* ---- time ---- */
int64_t fl_now_ms(void);       /* wall clock, ms since the epoch */
int64_t fl_mono_ms(void);      /* monotonic clock, ms */
/* Formats ms as "2019-01-01T01:01:01.001Z" into out (at least 25 bytes). */
void fl_time_iso(int64_t ms, char *out);
/* Formats ms as "2019-01-01T01:01:01Z" into out (at least 21 bytes). */
void fl_time_iso_sec(int64_t ms, char *out);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm)"; FL_OK or FL_EINVALID_ARGUMENT. */
int fl_time_parse(const char *s, int64_t *ms /* OUT */);

/* ---- randomness and ids ---- */
void fl_rand_bytes(void *p, size_t n); /* cryptographically strong; aborts if unavailable */
void fl_uuid(char out[37], bool upper); /* random (v4) UUID text */

/* ---- encodings ---- */
void fl_hex(const void *p, size_t n, char *out /* 2n+1 */);
/* Standard base64 with padding; returns the length written to out (4*ceil(n/3)+1 bytes). */
size_t fl_b64(const void *p, size_t n, char *out);
/* base64url without padding; returns length written (out needs 4*ceil(n/3)+1). */
size_t fl_b64url(const void *p, size_t n, char *out);
/* Decodes base64url without padding; -1 on a bad character or length, else bytes written. */
long fl_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap);
/* RFC 3986 percent-encoding: leaves A-Z a-z 0-9 - _ . ~, uppercase hex for the rest. */
void fl_pct_encode(fl_buf_t *b, const char *s, size_t len);
/* Decodes %XX escapes (and '+' as space only when plus_space); returns new length or -1
 * when an escape is malformed. Works in place (out may equal s). */
long fl_pct_decode(const char *s, size_t len, char *out, bool plus_space);

/* ---- validators ---- */
/* Checks s is valid UTF-8 with no NUL; returns the number of characters, or -1. */
long fl_utf8_count(const char *s, size_t len);
/* The CloudFlow name rule: 1-128 of [A-Za-z0-9_-], first a letter or '_'. */
bool fl_name_is_valid(const char *s);

/* ---- misc ---- */
#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Diagnostics filled by parsers: where (line/column are 1-based, 0 = unknown), which
 * field (a JSON-path-like string such as "States[2].Next") and what. */
typedef struct {
    int line;
    int col;
    char path[256];
    char msg[512];
} fl_diag_t;

void fl_diag_set(fl_diag_t *d, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
