/*
 * util.c - logging, clocks, random bytes, encodings and validators used everywhere.
 * All functions are thread-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base.h"

/* ---- logging ---- */

int fl_log_level = FL_LOG_INFO;

void fl_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < fl_log_level)
        return;
    char ts[32], line[2048];
    fl_time_iso(fl_now_ms(), ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines from different threads do not interleave. */
    fprintf(stderr, "%s %s %s\n", ts, names[level & 3], line);
}

const char *fl_log_safe(fl_arena_t *a, const char *s)
{
    if (!s || !*s)
        return "-";
    char *c = fl_arena_strndup(a, s, strnlen(s, 256));
    for (char *p = c; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == '"' || *p == '=')
            *p = '?';
    return c;
}

/* ---- time ---- */

int64_t fl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fl_time_iso(int64_t ms, char *out)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* A wide scratch buffer keeps the compiler's truncation analysis quiet for years
     * beyond 9999, which never occur; the result is always 24 characters. */
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy(out, tmp, 24);
    out[24] = 0;
}

void fl_time_iso_sec(int64_t ms, char *out)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, tmp, 20);
    out[20] = 0;
}

static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int fl_time_parse(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0;
    size_t len = strlen(s);
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return FL_EINVALID_ARGUMENT;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return FL_EINVALID_ARGUMENT;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
        return FL_EINVALID_ARGUMENT;
    if (d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
        return FL_EINVALID_ARGUMENT;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return FL_EINVALID_ARGUMENT;
        for (; n < 3; n++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return FL_EINVALID_ARGUMENT;
        off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return FL_EINVALID_ARGUMENT;
    }
    if (*p)
        return FL_EINVALID_ARGUMENT;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - off) * 1000 + frac;
    return FL_OK;
}

/* ---- randomness ---- */

void fl_rand_bytes(void *p, size_t n)
{
    unsigned char *c = p;
    while (n > 0) {
        ssize_t r = getrandom(c, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fl_assert_fail("getrandom", __FILE__, __LINE__);
        }
        c += r;
        n -= (size_t)r;
    }
}

void fl_uuid(char out[37], bool upper)
{
    unsigned char b[16];
    fl_rand_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const char *hx = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int j = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[j++] = '-';
        out[j++] = hx[b[i] >> 4];
        out[j++] = hx[b[i] & 15];
    }
    out[j] = 0;
}

/* ---- encodings ---- */

void fl_hex(const void *p, size_t n, char *out)
{
    const unsigned char *c = p;
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[c[i] >> 4];
        out[2 * i + 1] = hx[c[i] & 15];
    }
    out[2 * n] = 0;
}

static size_t b64_with(const void *p, size_t n, char *out, const char *tab, bool pad)
{
    const unsigned char *c = p;
    size_t j = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)c[i] << 16 | (uint32_t)c[i + 1] << 8 | c[i + 2];
        out[j++] = tab[v >> 18];
        out[j++] = tab[(v >> 12) & 63];
        out[j++] = tab[(v >> 6) & 63];
        out[j++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)c[i] << 16;
        out[j++] = tab[v >> 18];
        out[j++] = tab[(v >> 12) & 63];
        if (pad) {
            out[j++] = '=';
            out[j++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)c[i] << 16 | (uint32_t)c[i + 1] << 8;
        out[j++] = tab[v >> 18];
        out[j++] = tab[(v >> 12) & 63];
        out[j++] = tab[(v >> 6) & 63];
        if (pad)
            out[j++] = '=';
    }
    out[j] = 0;
    return j;
}

size_t fl_b64(const void *p, size_t n, char *out)
{
    return b64_with(p, n, out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    true);
}

size_t fl_b64url(const void *p, size_t n, char *out)
{
    return b64_with(p, n, out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                    false);
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long fl_b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 == 1)
        return -1;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap)
        return -1;
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[j++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero, so each byte string has exactly one encoding. */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return (long)j;
}

void fl_pct_encode(fl_buf_t *b, const char *s, size_t len)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            fl_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hx[c >> 4], hx[c & 15]};
            fl_buf_append(b, e, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long fl_pct_decode(const char *s, size_t len, char *out, bool plus_space)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            out[j++] = (char)(h << 4 | l);
            i += 2;
        } else if (s[i] == '+' && plus_space) {
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    return (long)j;
}

/* ---- validators ---- */

long fl_utf8_count(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t k;
        uint32_t cp;
        if (c == 0)
            return -1;
        if (c < 0x80) {
            i++;
            n++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        if (i + k >= len)
            return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        /* Reject overlong forms, surrogates and values past U+10FFFF. */
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        i += k + 1;
        n++;
    }
    return n;
}

bool fl_name_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}
