/*
 * expr.c - the CloudFlow expression language ($Input.a[0].b == "x" && !$Context.Current.Ok)
 * and constructors (JSON templates whose "key.$" entries hold expressions).
 *
 * Expressions compile to an immutable tree that evaluation only reads, so a compiled
 * expression or template may be shared between threads. Missing fields read as null;
 * type errors (ordering an object, && on a string) are runtime errors, never crashes.
 * No built-in functions exist in this version: any call is a compile error.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

#define EXPR_MAX_LEN 4096
#define EXPR_MAX_DEPTH 64

typedef enum {
    E_LIT, E_PATH, E_NOT, E_NEG, E_OR, E_AND, E_EQ, E_NE, E_LT, E_LE, E_GT, E_GE,
    E_ADD, E_SUB, E_MUL, E_DIV, E_MOD,
} eop_t;

static const char *const op_names[] = {
    [E_NOT] = "!", [E_NEG] = "-", [E_OR] = "||", [E_AND] = "&&", [E_EQ] = "==",
    [E_NE] = "!=", [E_LT] = "<", [E_LE] = "<=", [E_GT] = ">", [E_GE] = ">=",
    [E_ADD] = "+", [E_SUB] = "-", [E_MUL] = "*", [E_DIV] = "/", [E_MOD] = "%",
};

enum { R_INPUT, R_OUTPUT, R_CONTEXT };

typedef struct {
    char *key;     /* field name, or NULL for an index */
    int64_t index; /* array index when key is NULL */
} seg_t;

struct fl_expr {
    eop_t op;
    json_t *lit;         /* E_LIT */
    int root;            /* E_PATH: R_* */
    seg_t *segs;         /* E_PATH */
    size_t n_segs;
    struct fl_expr *a, *b; /* operands (b NULL for unary) */
};

/* Frees e and its operands. NULL-safe. */
void fl_expr_free(fl_expr_t *e)
{
    if (!e)
        return;
    json_decref(e->lit);
    for (size_t i = 0; i < e->n_segs; i++)
        free(e->segs[i].key);
    free(e->segs);
    fl_expr_free(e->a);
    fl_expr_free(e->b);
    free(e);
}

/* ---- parser: recursive descent straight over the characters ---- */

typedef struct {
    const char *src;
    const char *p;
    int depth;
    fl_diag_t *diag;
} parser_t;

static fl_expr_t *parse_or(parser_t *ps);

static fl_expr_t *perr(parser_t *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static fl_expr_t *perr(parser_t *ps, const char *at, const char *fmt, ...)
{
    if (ps->diag) {
        ps->diag->line = 1;
        ps->diag->col = (int)(at - ps->src) + 1;
        ps->diag->path[0] = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->diag->msg, sizeof ps->diag->msg, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static void skip_ws(parser_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static bool is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static fl_expr_t *node_new(eop_t op, fl_expr_t *a, fl_expr_t *b)
{
    fl_expr_t *e = xcalloc(1, sizeof *e);
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

/* Reads 4 hex digits at s into *cp; false when they are not hex. */
static bool hex4(const char *s, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        if (!isxdigit((unsigned char)c))
            return false;
        *cp = *cp * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return true;
}

static void put_utf8(fl_buf_t *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    fl_buf_append(b, u, n);
}

/* Parses a '...' or "..." literal with JSON escapes (plus \' in either). Returns a new
 * JSON string or NULL (diag set). */
static json_t *parse_string(parser_t *ps)
{
    const char *start = ps->p;
    char q = *ps->p++;
    fl_buf_t b;
    json_t *s = NULL;
    fl_buf_init(&b);
    for (;;) {
        char c = *ps->p;
        if (!c) {
            perr(ps, start, "unterminated string");
            goto out;
        }
        ps->p++;
        if (c == q)
            break;
        if (c != '\\') {
            fl_buf_putc(&b, c);
            continue;
        }
        const char *esc = ps->p - 1;
        c = *ps->p++;
        const char *simple = strchr("\"\\/'bfnrt", c);
        if (c && simple) {
            fl_buf_putc(&b, "\"\\/'\b\f\n\r\t"[simple - "\"\\/'bfnrt"]);
            continue;
        }
        unsigned cp, lo;
        if (c != 'u' || !hex4(ps->p, &cp)) {
            perr(ps, esc, "invalid escape sequence in string");
            goto out;
        }
        ps->p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
            if (ps->p[0] != '\\' || ps->p[1] != 'u' || !hex4(ps->p + 2, &lo) || lo < 0xDC00 ||
                lo > 0xDFFF) {
                perr(ps, esc, "unpaired surrogate in string escape");
                goto out;
            }
            ps->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
            perr(ps, esc, "invalid \\u escape in string");
            goto out;
        }
        put_utf8(&b, cp);
    }
    s = json_stringn(b.data ? b.data : "", b.len);
    if (!s)
        perr(ps, start, "string is not valid UTF-8");
out:
    fl_buf_free(&b);
    return s;
}

static fl_expr_t *parse_number(parser_t *ps)
{
    const char *start = ps->p, *p = ps->p;
    bool real = false;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.' && isdigit((unsigned char)p[1])) {
        real = true;
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    }
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) ||
         ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
        real = true;
        for (p += 2; isdigit((unsigned char)*p); p++)
            ;
    }
    if (is_ident(*p) || *p == '.')
        return perr(ps, start, "malformed number");
    char *end;
    fl_expr_t *e = node_new(E_LIT, NULL, NULL);
    if (!real) {
        errno = 0;
        long long v = strtoll(start, &end, 10);
        if (errno == 0)
            e->lit = json_integer(v);
    }
    if (!e->lit) { /* a fraction, an exponent, or an integer too large for int64 */
        double d = strtod(start, &end);
        if (!isfinite(d)) {
            fl_expr_free(e);
            return perr(ps, start, "number out of range");
        }
        e->lit = json_real(d);
    }
    ps->p = p;
    return e;
}

/* Parses $Input / $Output / $Context followed by .name, [n] and ["key"] segments. */
static fl_expr_t *parse_path(parser_t *ps)
{
    static const char *const roots[] = {"Input", "Output", "Context"};
    const char *start = ps->p++;
    const char *name = ps->p;
    while (is_ident(*ps->p))
        ps->p++;
    size_t len = (size_t)(ps->p - name);
    int root = -1;
    for (int i = 0; i < 3; i++)
        if (strlen(roots[i]) == len && !memcmp(roots[i], name, len))
            root = i;
    if (root < 0)
        return perr(ps, start, "unknown root '$%.*s' (expected $Input, $Output or $Context)",
                    (int)len, name);
    fl_expr_t *e = node_new(E_PATH, NULL, NULL);
    e->root = root;
    for (;;) {
        seg_t seg = {NULL, 0};
        const char *at = ps->p;
        if (*ps->p == '.') {
            const char *k = ++ps->p;
            while (is_ident(*ps->p))
                ps->p++;
            if (ps->p == k) {
                fl_expr_free(e);
                return perr(ps, at, "expected a field name after '.'");
            }
            seg.key = xstrndup(k, (size_t)(ps->p - k));
        } else if (*ps->p == '[') {
            ps->p++;
            skip_ws(ps);
            if (isdigit((unsigned char)*ps->p)) {
                char *end;
                errno = 0;
                seg.index = strtoll(ps->p, &end, 10);
                if (errno || seg.index > INT32_MAX) {
                    fl_expr_free(e);
                    return perr(ps, ps->p, "array index out of range");
                }
                ps->p = end;
            } else if (*ps->p == '"' || *ps->p == '\'') {
                json_t *s = parse_string(ps);
                if (!s) {
                    fl_expr_free(e);
                    return NULL;
                }
                seg.key = xstrndup(json_string_value(s), json_string_length(s));
                json_decref(s);
            } else {
                fl_expr_free(e);
                return perr(ps, ps->p, "expected an index or a quoted key after '['");
            }
            skip_ws(ps);
            if (*ps->p != ']') {
                free(seg.key);
                fl_expr_free(e);
                return perr(ps, ps->p, "expected ']'");
            }
            ps->p++;
        } else {
            break;
        }
        e->segs = xrealloc(e->segs, (e->n_segs + 1) * sizeof *e->segs);
        e->segs[e->n_segs++] = seg;
    }
    return e;
}

static fl_expr_t *parse_primary(parser_t *ps)
{
    skip_ws(ps);
    const char *at = ps->p;
    char c = *ps->p;
    if (c == '(') {
        ps->p++;
        fl_expr_t *e = parse_or(ps);
        if (!e)
            return NULL;
        skip_ws(ps);
        if (*ps->p != ')') {
            fl_expr_free(e);
            return perr(ps, ps->p, "expected ')'");
        }
        ps->p++;
        return e;
    }
    if (c == '$')
        return parse_path(ps);
    if (c == '"' || c == '\'') {
        json_t *s = parse_string(ps);
        if (!s)
            return NULL;
        fl_expr_t *e = node_new(E_LIT, NULL, NULL);
        e->lit = s;
        return e;
    }
    if (isdigit((unsigned char)c))
        return parse_number(ps);
    if (isalpha((unsigned char)c) || c == '_') {
        while (is_ident(*ps->p) || *ps->p == '.')
            ps->p++;
        int len = (int)(ps->p - at);
        const char *after = ps->p;
        skip_ws(ps);
        if (*ps->p == '(')
            return perr(ps, at, "unknown function '%.*s'", len, at);
        ps->p = after;
        json_t *v = len == 4 && !memcmp(at, "true", 4)    ? json_true()
                    : len == 5 && !memcmp(at, "false", 5) ? json_false()
                    : len == 4 && !memcmp(at, "null", 4)  ? json_null()
                                                          : NULL;
        if (!v)
            return perr(ps, at, "unexpected identifier '%.*s'", len, at);
        fl_expr_t *e = node_new(E_LIT, NULL, NULL);
        e->lit = v;
        return e;
    }
    if (!c)
        return perr(ps, at, "unexpected end of expression");
    return perr(ps, at, "unexpected character '%c'", c);
}

static fl_expr_t *parse_unary(parser_t *ps)
{
    /* Every nesting level ('(' and prefix operators) passes here, so this bounds the
     * recursion of parsing, evaluation and freeing alike. */
    if (++ps->depth > EXPR_MAX_DEPTH)
        return perr(ps, ps->p, "expression nests deeper than %d levels", EXPR_MAX_DEPTH);
    skip_ws(ps);
    fl_expr_t *e;
    if ((*ps->p == '!' && ps->p[1] != '=') || *ps->p == '-') {
        eop_t op = *ps->p++ == '!' ? E_NOT : E_NEG;
        fl_expr_t *a = parse_unary(ps);
        e = a ? node_new(op, a, NULL) : NULL;
    } else {
        e = parse_primary(ps);
    }
    ps->depth--;
    return e;
}

/* One binary precedence level: ops lists the operator spellings (longest first) and
 * their node types; sub parses the next-tighter level. Left-associative. */
typedef struct {
    const char *tok;
    eop_t op;
} binop_t;

static fl_expr_t *parse_level(parser_t *ps, const binop_t *ops, size_t n_ops,
                              fl_expr_t *(*sub)(parser_t *))
{
    fl_expr_t *l = sub(ps);
    while (l) {
        skip_ws(ps);
        const binop_t *hit = NULL;
        for (size_t i = 0; i < n_ops && !hit; i++)
            if (!strncmp(ps->p, ops[i].tok, strlen(ops[i].tok)))
                hit = &ops[i];
        if (!hit) /* ops are listed longest first, so "<" never takes the start of "<=" */
            break;
        ps->p += strlen(hit->tok);
        fl_expr_t *r = sub(ps);
        if (!r) {
            fl_expr_free(l);
            return NULL;
        }
        l = node_new(hit->op, l, r);
    }
    return l;
}

static fl_expr_t *parse_mul(parser_t *ps)
{
    static const binop_t ops[] = {{"*", E_MUL}, {"/", E_DIV}, {"%", E_MOD}};
    return parse_level(ps, ops, FL_ARRAY_LEN(ops), parse_unary);
}

static fl_expr_t *parse_add(parser_t *ps)
{
    static const binop_t ops[] = {{"+", E_ADD}, {"-", E_SUB}};
    return parse_level(ps, ops, FL_ARRAY_LEN(ops), parse_mul);
}

static fl_expr_t *parse_rel(parser_t *ps)
{
    static const binop_t ops[] = {{"<=", E_LE}, {">=", E_GE}, {"<", E_LT}, {">", E_GT}};
    return parse_level(ps, ops, FL_ARRAY_LEN(ops), parse_add);
}

static fl_expr_t *parse_eq(parser_t *ps)
{
    static const binop_t ops[] = {{"==", E_EQ}, {"!=", E_NE}};
    return parse_level(ps, ops, FL_ARRAY_LEN(ops), parse_rel);
}

static fl_expr_t *parse_and(parser_t *ps)
{
    static const binop_t ops[] = {{"&&", E_AND}};
    return parse_level(ps, ops, FL_ARRAY_LEN(ops), parse_eq);
}

static fl_expr_t *parse_or(parser_t *ps)
{
    static const binop_t ops[] = {{"||", E_OR}};
    return parse_level(ps, ops, FL_ARRAY_LEN(ops), parse_and);
}

/*
 * Compiles src. Returns FL_OK with a new expression in *out (free with fl_expr_free), or
 * FL_EINVALID_ARGUMENT with diag->col the 1-based column of the problem and diag->msg
 * saying what it is (e.g. "unknown function 'length'"). Pure; thread-safe.
 */
int fl_expr_compile(const char *src, fl_expr_t **out /* OUT */, fl_diag_t *diag)
{
    parser_t ps = {src, src, 0, diag};
    *out = NULL;
    if (strlen(src) > EXPR_MAX_LEN) {
        perr(&ps, src, "expression is longer than %d characters", EXPR_MAX_LEN);
        return FL_EINVALID_ARGUMENT;
    }
    skip_ws(&ps);
    if (!*ps.p) {
        perr(&ps, src, "expression is empty");
        return FL_EINVALID_ARGUMENT;
    }
    fl_expr_t *e = parse_or(&ps);
    if (!e)
        return FL_EINVALID_ARGUMENT;
    skip_ws(&ps);
    if (*ps.p) {
        fl_expr_free(e);
        if (*ps.p == '=' || *ps.p == '&' || *ps.p == '|')
            perr(&ps, ps.p, "unexpected '%c' (the operators are ==, &&, ||)", *ps.p);
        else
            perr(&ps, ps.p, "unexpected '%c' after the end of the expression", *ps.p);
        return FL_EINVALID_ARGUMENT;
    }
    *out = e;
    return FL_OK;
}

/* ---- evaluation ---- */

static int rt_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rt_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return FL_EINVALID_ARGUMENT;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Deep equality where numbers compare by value (1 == 1.0), unlike json_equal. */
static bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    const char *k;
    json_t *v;
    switch (json_typeof(a)) {
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !json_same(v, w))
                return false;
        }
        return true;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
    default:
        return true; /* true, false, null: same type is same value */
    }
}

static json_t *eval_path(const fl_expr_t *e, const fl_env_t *env)
{
    json_t *v = e->root == R_INPUT ? env->input : e->root == R_OUTPUT ? env->output : env->context;
    for (size_t i = 0; i < e->n_segs && v; i++) {
        const seg_t *s = &e->segs[i];
        if (s->key)
            v = json_is_object(v) ? json_object_get(v, s->key) : NULL;
        else
            v = json_is_array(v) ? json_array_get(v, (size_t)s->index) : NULL;
    }
    return v ? json_incref(v) : json_null();
}

/* Ordering of two numbers or two strings: sets *cmp to <0, 0 or >0. */
static int order(const fl_expr_t *e, const json_t *a, const json_t *b, int *cmp, char *err,
                 size_t errlen)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        *cmp = (x > y) - (x < y);
    } else if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        *cmp = (x > y) - (x < y);
    } else if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b), FL_MIN(la, lb));
        *cmp = c ? c : (la > lb) - (la < lb);
    } else {
        return rt_err(err, errlen, "operator '%s' needs two numbers or two strings, got %s and %s",
                      op_names[e->op], type_name(a), type_name(b));
    }
    return FL_OK;
}

static int arith(const fl_expr_t *e, const json_t *a, const json_t *b, json_t **out, char *err,
                 size_t errlen)
{
    if (e->op == E_ADD && json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        char *s = xmalloc(la + lb + 1);
        memcpy(s, json_string_value(a), la);
        memcpy(s + la, json_string_value(b), lb);
        *out = json_stringn_nocheck(s, la + lb);
        free(s);
        return FL_OK;
    }
    if (!json_is_number(a) || !json_is_number(b))
        return rt_err(err, errlen, "operator '%s' needs two numbers%s, got %s and %s",
                      op_names[e->op], e->op == E_ADD ? " or two strings" : "", type_name(a),
                      type_name(b));
    double y = json_number_value(b);
    if ((e->op == E_DIV || e->op == E_MOD) && y == 0)
        return rt_err(err, errlen, "division by zero");
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), yi = json_integer_value(b), r;
        bool ovf = false;
        switch (e->op) {
        case E_ADD: ovf = __builtin_add_overflow(x, yi, &r); break;
        case E_SUB: ovf = __builtin_sub_overflow(x, yi, &r); break;
        case E_MUL: ovf = __builtin_mul_overflow(x, yi, &r); break;
        case E_MOD: r = yi == -1 ? 0 : x % yi; break; /* INT64_MIN % -1 is undefined in C */
        default: /* E_DIV: stays an integer only when exact */
            ovf = yi == -1 ? x == INT64_MIN : x % yi != 0;
            r = ovf ? 0 : x / yi;
        }
        if (!ovf) {
            *out = json_integer(r);
            return FL_OK;
        }
    }
    double x = json_number_value(a), r;
    switch (e->op) {
    case E_ADD: r = x + y; break;
    case E_SUB: r = x - y; break;
    case E_MUL: r = x * y; break;
    case E_DIV: r = x / y; break;
    default: r = fmod(x, y);
    }
    if (!isfinite(r))
        return rt_err(err, errlen, "arithmetic overflow in operator '%s'", op_names[e->op]);
    *out = json_real(r);
    return FL_OK;
}

static int eval(const fl_expr_t *e, const fl_env_t *env, json_t **out, char *err, size_t errlen)
{
    json_t *a = NULL, *b = NULL;
    int rc = FL_OK;
    *out = NULL;
    switch (e->op) {
    case E_LIT:
        *out = json_incref(e->lit);
        return FL_OK;
    case E_PATH:
        *out = eval_path(e, env);
        return FL_OK;
    default:
        break;
    }
    if ((rc = eval(e->a, env, &a, err, errlen)) != FL_OK)
        goto out;
    if (e->op == E_NOT || e->op == E_AND || e->op == E_OR) {
        if (!json_is_boolean(a)) {
            rc = rt_err(err, errlen, "operator '%s' needs boolean operands, got %s",
                        op_names[e->op], type_name(a));
            goto out;
        }
        /* Short-circuit: the right operand is not evaluated when the left decides. */
        if (e->op == E_NOT || (e->op == E_AND) != json_is_true(a)) {
            *out = json_boolean(e->op == E_NOT ? !json_is_true(a) : json_is_true(a));
            goto out;
        }
        if ((rc = eval(e->b, env, &b, err, errlen)) != FL_OK)
            goto out;
        if (!json_is_boolean(b)) {
            rc = rt_err(err, errlen, "operator '%s' needs boolean operands, got %s",
                        op_names[e->op], type_name(b));
            goto out;
        }
        *out = json_incref(b);
        goto out;
    }
    if (e->op == E_NEG) {
        if (json_is_integer(a) && json_integer_value(a) != INT64_MIN)
            *out = json_integer(-json_integer_value(a));
        else if (json_is_number(a))
            *out = json_real(-json_number_value(a));
        else
            rc = rt_err(err, errlen, "unary '-' needs a number, got %s", type_name(a));
        goto out;
    }
    if ((rc = eval(e->b, env, &b, err, errlen)) != FL_OK)
        goto out;
    int cmp = 0;
    switch (e->op) {
    case E_EQ:
    case E_NE:
        *out = json_boolean(json_same(a, b) == (e->op == E_EQ));
        break;
    case E_LT:
    case E_LE:
    case E_GT:
    case E_GE:
        if ((rc = order(e, a, b, &cmp, err, errlen)) == FL_OK)
            *out = json_boolean(e->op == E_LT   ? cmp < 0
                                : e->op == E_LE ? cmp <= 0
                                : e->op == E_GT ? cmp > 0
                                                : cmp >= 0);
        break;
    default:
        rc = arith(e, a, b, out, err, errlen);
    }
out:
    json_decref(a);
    json_decref(b);
    return rc;
}

/*
 * Evaluates e against env (roots may be NULL: they read as null). Returns FL_OK with a
 * new reference in *out, or FL_EINVALID_ARGUMENT with a message in err (runtime type
 * errors, division by zero). Read-only on e and env; thread-safe.
 */
int fl_expr_eval(const fl_expr_t *e, const fl_env_t *env, json_t **out /* OUT */, char *err,
                 size_t errlen)
{
    static const fl_env_t empty;
    return eval(e, env ? env : &empty, out, err, errlen);
}

/*
 * Evaluates e as a condition: *out is true only when the value is JSON true (a string
 * "true" or the number 1 is false). Errors as fl_expr_eval.
 */
int fl_expr_eval_bool(const fl_expr_t *e, const fl_env_t *env, bool *out /* OUT */, char *err,
                      size_t errlen)
{
    json_t *v;
    *out = false;
    int rc = fl_expr_eval(e, env, &v, err, errlen);
    if (rc == FL_OK)
        *out = json_is_true(v);
    json_decref(v);
    return rc;
}

/* ---- templates (constructors) ---- */

typedef enum { T_LIT, T_EXPR, T_OBJ, T_ARR } tkind_t;

struct fl_tmpl {
    tkind_t kind;
    json_t *lit;       /* T_LIT: private deep copy */
    fl_expr_t *expr;   /* T_EXPR */
    char *path;        /* T_EXPR: "a.b.$", prefixed to runtime errors */
    size_t n;          /* T_OBJ / T_ARR children */
    char **keys;       /* T_OBJ: output keys (".$" removed) */
    fl_tmpl_t **items;
};

/* Frees t and everything below it. NULL-safe. */
void fl_tmpl_free(fl_tmpl_t *t)
{
    if (!t)
        return;
    json_decref(t->lit);
    fl_expr_free(t->expr);
    free(t->path);
    for (size_t i = 0; i < t->n; i++) {
        if (t->keys)
            free(t->keys[i]);
        fl_tmpl_free(t->items[i]);
    }
    free(t->keys);
    free(t->items);
    free(t);
}

static int tmpl_fail(fl_diag_t *diag, const fl_buf_t *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tmpl_fail(fl_diag_t *diag, const fl_buf_t *path, const char *fmt, ...)
{
    if (diag) {
        diag->line = diag->col = 0;
        snprintf(diag->path, sizeof diag->path, "%s", path->data ? path->data : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
        va_end(ap);
    }
    return FL_EINVALID_ARGUMENT;
}

static int tmpl_build(json_t *v, fl_buf_t *path, fl_tmpl_t **out, fl_diag_t *diag)
{
    fl_tmpl_t *t = xcalloc(1, sizeof *t);
    int rc = FL_OK;
    size_t mark = path->len;
    bool all_lit = true;
    *out = t;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        t->kind = T_OBJ;
        t->keys = xcalloc(json_object_size(v), sizeof *t->keys);
        t->items = xcalloc(json_object_size(v), sizeof *t->items);
        json_object_foreach(v, k, child) {
            size_t kl = strlen(k);
            bool is_expr = kl >= 2 && !strcmp(k + kl - 2, ".$");
            fl_buf_printf(path, "%s%s", mark ? "." : "", k);
            size_t i = t->n++;
            t->keys[i] = xstrndup(k, is_expr ? kl - 2 : kl);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(t->keys[j], t->keys[i])) {
                    rc = tmpl_fail(diag, path, "key '%s' is given twice (with and without '.$')",
                                   t->keys[i]);
                    goto out;
                }
            if (!is_expr) {
                if ((rc = tmpl_build(child, path, &t->items[i], diag)) != FL_OK)
                    goto out;
                all_lit = all_lit && t->items[i]->kind == T_LIT;
            } else {
                fl_tmpl_t *x = t->items[i] = xcalloc(1, sizeof *x);
                fl_diag_t d;
                x->kind = T_EXPR;
                x->path = xstrdup(path->data);
                all_lit = false;
                if (kl == 2) {
                    rc = tmpl_fail(diag, path, "the key '.$' has no name before '.$'");
                    goto out;
                }
                if (!json_is_string(child)) {
                    rc = tmpl_fail(diag, path, "the value of '%s' must be an expression string", k);
                    goto out;
                }
                if (fl_expr_compile(json_string_value(child), &x->expr, &d) != FL_OK) {
                    rc = tmpl_fail(diag, path, "invalid expression: %s (column %d)", d.msg, d.col);
                    goto out;
                }
            }
            path->len = mark;
            path->data[mark] = 0;
        }
    } else if (json_is_array(v)) {
        t->kind = T_ARR;
        t->items = xcalloc(json_array_size(v), sizeof *t->items);
        for (size_t i = 0; i < json_array_size(v); i++) {
            fl_buf_printf(path, "[%zu]", i);
            if ((rc = tmpl_build(json_array_get(v, i), path, &t->items[t->n++], diag)) != FL_OK)
                goto out;
            all_lit = all_lit && t->items[i]->kind == T_LIT;
            path->len = mark;
            path->data[mark] = 0;
        }
    }
    if (all_lit) { /* no expression below: keep one literal copy instead of a tree */
        fl_tmpl_free(t);
        t = *out = xcalloc(1, sizeof *t);
        t->kind = T_LIT;
        t->lit = json_deep_copy(v);
    }
out:
    return rc;
}

/*
 * Compiles the constructor tmpl (borrowed; nothing of it is kept). Returns FL_OK with a
 * new template in *out (free with fl_tmpl_free), or FL_EINVALID_ARGUMENT with diag->path
 * relative to tmpl (e.g. "body.id.$") and diag->msg; diag->line is 0.
 */
int fl_tmpl_compile(json_t *tmpl, fl_tmpl_t **out /* OUT */, fl_diag_t *diag)
{
    fl_buf_t path;
    fl_buf_init(&path);
    fl_buf_puts(&path, "");
    int rc = tmpl_build(tmpl, &path, out, diag);
    if (rc != FL_OK) {
        fl_tmpl_free(*out);
        *out = NULL;
    }
    fl_buf_free(&path);
    return rc;
}

/*
 * Builds the value of t against env. Returns FL_OK with a new reference in *out, or
 * FL_EINVALID_ARGUMENT with err naming the failing key ("a.$: operator '<' needs ...").
 */
int fl_tmpl_eval(const fl_tmpl_t *t, const fl_env_t *env, json_t **out /* OUT */, char *err,
                 size_t errlen)
{
    int rc = FL_OK;
    json_t *v = NULL;
    *out = NULL;
    switch (t->kind) {
    case T_LIT:
        /* A copy, so a caller that edits the result cannot change the shared template. */
        *out = json_deep_copy(t->lit);
        return FL_OK;
    case T_EXPR:
        if ((rc = fl_expr_eval(t->expr, env, out, err, errlen)) != FL_OK && err && errlen) {
            char *msg = xstrdup(err);
            snprintf(err, errlen, "%s: %s", t->path, msg);
            free(msg);
        }
        return rc;
    case T_OBJ:
    case T_ARR:
        *out = t->kind == T_OBJ ? json_object() : json_array();
        for (size_t i = 0; i < t->n; i++) {
            if ((rc = fl_tmpl_eval(t->items[i], env, &v, err, errlen)) != FL_OK) {
                json_decref(*out);
                *out = NULL;
                return rc;
            }
            if (t->kind == T_OBJ)
                json_object_set_new(*out, t->keys[i], v);
            else
                json_array_append_new(*out, v);
        }
        return FL_OK;
    }
    return rc;
}
