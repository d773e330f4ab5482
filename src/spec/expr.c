/*
 * expr.c - the CloudFlow expression language ($Input.a[0].b == "x" && !$Context.Current.Ok)
 * and constructors (JSON templates whose "key.$" entries hold expressions).
 *
 * Expressions compile to an immutable tree that evaluation only reads, so a compiled
 * expression or template may be shared between threads. Missing fields read as null;
 * type errors (ordering an object, && on a string) are runtime errors, never crashes.
 * The built-in functions are those the public CloudFlow documentation lists ("Built-in
 * functions", help.aliyun.com/document_detail/2579872); a call to any other name, a wrong
 * number of arguments or a literal argument of the wrong type is a compile error.
 * Roots: $Input, $Output, $Context, their FDL spellings $input, $local, $context, and the
 * JSONPath-style $ / $.a.b[0] over the input.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <regex.h>

#include <openssl/evp.h>

#include "spec/spec.h"

#define EXPR_MAX_LEN 4096
#define EXPR_MAX_DEPTH 64
#define EXPR_MAX_CALL_NESTING 10 /* "a maximum of 10 layers of nested built-in functions" */

typedef enum {
    E_LIT, E_PATH, E_CALL, E_ARR, E_OBJ,
    E_NOT, E_NEG, E_OR, E_AND, E_EQ, E_NE, E_LT, E_LE, E_GT, E_GE,
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

typedef struct func func_t;

struct fl_expr {
    eop_t op;
    json_t *lit;         /* E_LIT */
    int root;            /* E_PATH: R_* */
    seg_t *segs;         /* E_PATH */
    size_t n_segs;
    struct fl_expr *a, *b; /* operands (b NULL for unary) */
    const func_t *fn;    /* E_CALL */
    struct fl_expr **args; /* E_CALL arguments, E_ARR items, E_OBJ values */
    size_t n_args;
    char **keys;         /* E_OBJ: the keys, parallel to args */
};

static const func_t *func_find(const char *name, size_t len);
static int func_precheck(const func_t *f, fl_expr_t *const *args, size_t n, char *msg,
                         size_t msglen);

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
    for (size_t i = 0; i < e->n_args; i++) {
        fl_expr_free(e->args[i]);
        if (e->keys)
            free(e->keys[i]);
    }
    free(e->args);
    free(e->keys);
    free(e);
}

/* ---- parser: recursive descent straight over the characters ---- */

typedef struct {
    const char *src;
    const char *p;
    int depth;  /* nesting of '(' and prefix operators, bounded by EXPR_MAX_DEPTH */
    int calls;  /* nesting of function calls, bounded by EXPR_MAX_CALL_NESTING */
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

/* Parses a root ($Input, $Output, $Context; the FDL's $input, $local, $context; or a bare
 * "$", the JSONPath-style input) followed by .name, [n] and ["key"] segments. */
static fl_expr_t *parse_path(parser_t *ps)
{
    static const struct {
        const char *name;
        int root;
    } roots[] = {
        {"Input", R_INPUT}, {"Output", R_OUTPUT}, {"Context", R_CONTEXT},
        /* The legacy FDL spells them in lower case, and its $local is the scope's data,
         * which the engine passes in the output slot. */
        {"input", R_INPUT}, {"local", R_OUTPUT}, {"context", R_CONTEXT},
    };
    const char *start = ps->p++;
    const char *name = ps->p;
    while (is_ident(*ps->p))
        ps->p++;
    size_t len = (size_t)(ps->p - name);
    int root = len == 0 ? R_INPUT : -1; /* "$", "$.a", "$[0]": paths over the input */
    for (size_t i = 0; i < FL_ARRAY_LEN(roots) && root < 0; i++)
        if (strlen(roots[i].name) == len && !memcmp(roots[i].name, name, len))
            root = roots[i].root;
    if (root < 0)
        return perr(ps, start,
                    "unknown variable '$%.*s' (expected $Input, $Output, $Context, $input, "
                    "$local, $context or $)",
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

static void push_arg(fl_expr_t *e, fl_expr_t *a)
{
    e->args = xrealloc(e->args, (e->n_args + 1) * sizeof *e->args);
    e->args[e->n_args++] = a;
}

/* Parses name(arg, ...) with ps->p at '('. The function must exist, the number of
 * arguments must fit it, and literal arguments must have the types it takes. */
static fl_expr_t *parse_call(parser_t *ps, const char *name, size_t len)
{
    const func_t *f = func_find(name, len);
    if (!f)
        return perr(ps, name, "unknown function '%.*s'", (int)len, name);
    if (++ps->calls > EXPR_MAX_CALL_NESTING)
        return perr(ps, name, "function calls nest deeper than %d levels", EXPR_MAX_CALL_NESTING);
    fl_expr_t *e = node_new(E_CALL, NULL, NULL);
    e->fn = f;
    ps->p++;
    skip_ws(ps);
    if (*ps->p == ')') {
        ps->p++;
    } else {
        for (;;) {
            fl_expr_t *a = parse_or(ps);
            if (!a) {
                fl_expr_free(e);
                return NULL;
            }
            push_arg(e, a);
            skip_ws(ps);
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == ')') {
                ps->p++;
                break;
            }
            fl_expr_free(e);
            return perr(ps, ps->p, "expected ',' or ')' in the arguments of '%.*s'", (int)len,
                        name);
        }
    }
    ps->calls--;
    char msg[sizeof ps->diag->msg];
    if (func_precheck(f, e->args, e->n_args, msg, sizeof msg) != FL_OK) {
        fl_expr_free(e);
        return perr(ps, name, "%s", msg);
    }
    return e;
}

/* Parses an array literal [a, b] or an object literal {"k": v} (keys are quoted strings,
 * values any expression). A container of literals folds into one literal. */
static fl_expr_t *parse_container(parser_t *ps)
{
    const char *start = ps->p;
    bool obj = *ps->p++ == '{';
    char close = obj ? '}' : ']';
    fl_expr_t *e = node_new(obj ? E_OBJ : E_ARR, NULL, NULL);
    skip_ws(ps);
    if (*ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            char *key = NULL;
            skip_ws(ps);
            if (obj) {
                const char *kat = ps->p;
                if (*ps->p != '"' && *ps->p != '\'') {
                    fl_expr_free(e);
                    return perr(ps, ps->p, "expected a quoted key in the object");
                }
                json_t *k = parse_string(ps);
                if (!k) {
                    fl_expr_free(e);
                    return NULL;
                }
                key = xstrndup(json_string_value(k), json_string_length(k));
                json_decref(k);
                for (size_t i = 0; i < e->n_args; i++)
                    if (!strcmp(e->keys[i], key)) {
                        perr(ps, kat, "key '%s' is given twice in the object", key);
                        free(key);
                        fl_expr_free(e);
                        return NULL;
                    }
                skip_ws(ps);
                if (*ps->p != ':') {
                    free(key);
                    fl_expr_free(e);
                    return perr(ps, ps->p, "expected ':' after the key");
                }
                ps->p++;
            }
            fl_expr_t *v = parse_or(ps);
            if (!v) {
                free(key);
                fl_expr_free(e);
                return NULL;
            }
            if (obj) {
                e->keys = xrealloc(e->keys, (e->n_args + 1) * sizeof *e->keys);
                e->keys[e->n_args] = key;
            }
            push_arg(e, v);
            skip_ws(ps);
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == close) {
                ps->p++;
                break;
            }
            fl_expr_free(e);
            return perr(ps, ps->p, "expected ',' or '%c' in the %s that starts at column %d",
                        close, obj ? "object" : "array", (int)(start - ps->src) + 1);
        }
    }
    for (size_t i = 0; i < e->n_args; i++)
        if (e->args[i]->op != E_LIT)
            return e;
    json_t *lit = obj ? json_object() : json_array();
    for (size_t i = 0; i < e->n_args; i++) {
        if (obj)
            json_object_set(lit, e->keys[i], e->args[i]->lit);
        else
            json_array_append(lit, e->args[i]->lit);
    }
    fl_expr_free(e);
    e = node_new(E_LIT, NULL, NULL);
    e->lit = lit;
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
    if (c == '[' || c == '{')
        return parse_container(ps);
    if (isalpha((unsigned char)c) || c == '_') {
        while (is_ident(*ps->p) || *ps->p == '.')
            ps->p++;
        int len = (int)(ps->p - at);
        const char *after = ps->p;
        skip_ws(ps);
        if (*ps->p == '(')
            return parse_call(ps, at, (size_t)len);
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
    parser_t ps = {src, src, 0, 0, diag};
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

/* ------------------------------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------------------------------ */

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

/* ---- built-in functions ----
 *
 * The set, names and arities follow the public CloudFlow page "Built-in functions"
 * (help.aliyun.com/document_detail/2579872, alibabacloud.com/help/en/serverless-workflow/
 * latest/built-in-functions). Argument types are checked twice: literal arguments when the
 * expression compiles, every argument before the function runs. Where the page leaves a
 * detail open, the choice is written next to the function.
 *
 * Two functions are NOT deterministic: uuid and randomInt. An engine that replays an
 * execution from its history must record their results rather than evaluate them again.
 */

enum {
    TY_NULL = 1 << 0,
    TY_BOOL = 1 << 1,
    TY_NUM = 1 << 2, /* any number */
    TY_INT = 1 << 3, /* a number with an integral value that fits int64 */
    TY_STR = 1 << 4,
    TY_ARR = 1 << 5,
    TY_OBJ = 1 << 6,
    TY_ANY = 0x7F,
};

typedef int (*func_impl_t)(const func_t *f, json_t *const *argv, size_t argc, json_t **out,
                           char *err, size_t errlen);
/* Compile-time check of a call whose literal arguments are known: lits[i] is the value of
 * argument i when it is a literal, else NULL. FL_OK or FL_EINVALID_ARGUMENT with msg. */
typedef int (*func_check_t)(const func_t *f, json_t *const *lits, size_t argc, char *msg,
                            size_t msglen);

struct func {
    const char *name;
    int min_args, max_args;  /* max_args -1: any number */
    unsigned types[2];       /* TY_* of argument 1, and of arguments 2 and after */
    func_impl_t impl;
    func_check_t check;      /* may be NULL */
};

#define HASH_ALGOS "MD5, SHA-1, SHA-256 or SHA-512"
#define REGEX_MAX_LEN 1024 /* bytes of pattern; bounds the regcomp work one call may cause */

static bool int_value(const json_t *v, json_int_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    *out = (json_int_t)d;
    return true;
}

static bool type_ok(unsigned mask, const json_t *v)
{
    json_int_t i;
    switch (json_typeof(v)) {
    case JSON_NULL: return mask & TY_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return mask & TY_BOOL;
    case JSON_STRING: return mask & TY_STR;
    case JSON_ARRAY: return mask & TY_ARR;
    case JSON_OBJECT: return mask & TY_OBJ;
    default: return (mask & TY_NUM) || ((mask & TY_INT) && int_value(v, &i));
    }
}

/* "an array, an object or a string" */
static void type_desc(unsigned mask, char *out, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{TY_ARR, "an array"}, {TY_OBJ, "an object"},   {TY_STR, "a string"},
                 {TY_INT, "an integer"}, {TY_NUM, "a number"}, {TY_BOOL, "a boolean"},
                 {TY_NULL, "null"}};
    size_t n = 0, total = 0, used = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(names); i++)
        total += (mask & names[i].bit) != 0;
    out[0] = 0;
    for (size_t i = 0; i < FL_ARRAY_LEN(names) && used < len; i++) {
        if (!(mask & names[i].bit))
            continue;
        n++;
        used += (size_t)snprintf(out + used, len - used, "%s%s",
                                 n == 1 ? "" : n == total ? " or " : ", ", names[i].name);
    }
}

static unsigned arg_type(const func_t *f, size_t i)
{
    return f->types[i == 0 ? 0 : 1];
}

static int arg_type_error(const func_t *f, size_t i, const json_t *v, char *err, size_t errlen)
{
    char want[96];
    type_desc(arg_type(f, i), want, sizeof want);
    return rt_err(err, errlen, "%s: argument %zu must be %s, got %s", f->name, i + 1, want,
                  type_name(v));
}

/* Runs f on argv (borrowed) after checking the argument types; *out is new. */
static int func_call(const func_t *f, json_t *const *argv, size_t argc, json_t **out, char *err,
                     size_t errlen)
{
    for (size_t i = 0; i < argc; i++)
        if (!type_ok(arg_type(f, i), argv[i]))
            return arg_type_error(f, i, argv[i], err, errlen);
    return f->impl(f, argv, argc, out, err, errlen);
}

/* Writes d as Go's encoding/json writes a float64 (the public service is written in Go):
 * the fewest digits that read back as d; plain notation for 1e-6 <= |d| < 1e21, else
 * exponent notation such as 1e+21 or 1e-7. So 0.1 stays "0.1" and 1.0 becomes "1". */
static void write_real(fl_buf_t *b, double d)
{
    char m[40];
    int p = 1;
    for (; p < 17; p++) { /* shortest %e that round-trips */
        snprintf(m, sizeof m, "%.*e", p - 1, d);
        if (strtod(m, NULL) == d)
            break;
    }
    snprintf(m, sizeof m, "%.*e", p - 1, d);
    char *e = strchr(m, 'e');
    int exp10 = atoi(e + 1);
    double ad = fabs(d);
    if (ad == 0 || (ad >= 1e-6 && ad < 1e21)) {
        fl_buf_printf(b, "%.*f", exp10 >= p - 1 ? 0 : p - 1 - exp10, d);
        return;
    }
    *e = 0;
    fl_buf_printf(b, "%se%c%d", m, exp10 < 0 ? '-' : '+', abs(exp10));
}

static void write_string(fl_buf_t *b, const char *s, size_t len)
{
    fl_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (esc)
            fl_buf_puts(b, esc);
        else if (c < 0x20)
            fl_buf_printf(b, "\\u%04x", c);
        else
            fl_buf_putc(b, (char)c);
    }
    fl_buf_putc(b, '"');
}

static int cmp_keys(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of object o in byte order; free the array (the keys are borrowed from o). */
static const char **sorted_keys(const json_t *o)
{
    size_t i = 0;
    const char *k;
    json_t *v;
    const char **keys = xcalloc(json_object_size(o) + 1, sizeof *keys);
    json_object_foreach((json_t *)o, k, v) keys[i++] = k;
    qsort(keys, i, sizeof *keys, cmp_keys);
    return keys;
}

/* Text of v for format and jsonToString: compact JSON with sorted keys and shortest
 * numbers, as the Go encoder of the public service writes it. */
static void write_json(fl_buf_t *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char **keys = sorted_keys(v);
        fl_buf_putc(b, '{');
        for (size_t i = 0; keys[i]; i++) {
            if (i)
                fl_buf_putc(b, ',');
            write_string(b, keys[i], strlen(keys[i]));
            fl_buf_putc(b, ':');
            write_json(b, json_object_get(v, keys[i]));
        }
        fl_buf_putc(b, '}');
        free(keys);
        break;
    }
    case JSON_ARRAY:
        fl_buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                fl_buf_putc(b, ',');
            write_json(b, json_array_get(v, i));
        }
        fl_buf_putc(b, ']');
        break;
    case JSON_STRING: write_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: fl_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: write_real(b, json_real_value(v)); break;
    case JSON_TRUE: fl_buf_puts(b, "true"); break;
    case JSON_FALSE: fl_buf_puts(b, "false"); break;
    default: fl_buf_puts(b, "null");
    }
}

static json_t *new_string(const char *s, size_t len)
{
    json_t *v = json_stringn(s ? s : "", len);
    FL_ASSERT(v); /* callers pass valid UTF-8 */
    return v;
}

/* Characters (code points) in valid UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* -- arrayContains(array, value) -> bool: an element equal to value (numbers by value). */
static int fn_array_contains(const func_t *f, json_t *const *a, size_t n, json_t **out,
                             char *err, size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    bool hit = false;
    for (size_t i = 0; i < json_array_size(a[0]) && !hit; i++)
        hit = json_same(json_array_get(a[0], i), a[1]);
    *out = json_boolean(hit);
    return FL_OK;
}

/* Hash consistent with json_same: equal values hash alike (numbers by their double value,
 * object members independent of order). */
static uint64_t value_hash(const json_t *v)
{
    uint64_t h = 0, m;
    const char *k;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(v);
        if (d == 0)
            d = 0; /* -0.0 == 0.0 */
        memcpy(&m, &d, sizeof m);
        return (m ^ (m >> 29)) * 0xBF58476D1CE4E5B9ull;
    }
    case JSON_STRING:
        h = 0xCBF29CE484222325ull;
        for (size_t i = 0; i < json_string_length(v); i++)
            h = (h ^ (unsigned char)json_string_value(v)[i]) * 0x100000001B3ull;
        return h;
    case JSON_ARRAY:
        h = 7;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = h * 31 + value_hash(json_array_get(v, i));
        return h;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, k, x) {
            uint64_t kh = 0xCBF29CE484222325ull;
            for (const char *c = k; *c; c++)
                kh = (kh ^ (unsigned char)*c) * 0x100000001B3ull;
            h += (kh ^ value_hash(x)) * 0x9E3779B97F4A7C15ull; /* a sum: order-free */
        }
        return h ^ 11;
    default:
        return (uint64_t)json_typeof(v) + 1;
    }
}

/* -- arrayUnique(array) -> array: the first occurrence of each value, in order. Hashing
 * keeps a 64 KiB input array of distinct values from costing n^2 comparisons. */
static int fn_array_unique(const func_t *f, json_t *const *a, size_t n, json_t **out,
                           char *err, size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    size_t len = json_array_size(a[0]), cap = 16;
    while (cap < len * 2)
        cap *= 2;
    size_t *slots = xcalloc(cap, sizeof *slots); /* index + 1 into *out, 0 = empty */
    *out = json_array();
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a[0], i);
        size_t s = (size_t)value_hash(v) & (cap - 1);
        bool dup = false;
        while (slots[s] && !dup) {
            dup = json_same(json_array_get(*out, slots[s] - 1), v);
            s = (s + 1) & (cap - 1);
        }
        if (!dup) {
            json_array_append(*out, v);
            slots[s] = json_array_size(*out);
        }
    }
    free(slots);
    return FL_OK;
}

static size_t count_placeholders(const json_t *tmpl)
{
    const char *s = json_string_value(tmpl);
    size_t n = 0, len = json_string_length(tmpl);
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '{' && s[i + 1] == '}')
            n++, i++;
    return n;
}

static int check_format(const func_t *f, json_t *const *lits, size_t n, char *msg, size_t len)
{
    size_t want = lits[0] ? count_placeholders(lits[0]) : n - 1;
    if (want == n - 1)
        return FL_OK;
    snprintf(msg, len, "%s: the template has %zu placeholder%s but %zu argument%s follow%s",
             f->name, want, want == 1 ? "" : "s", n - 1, n == 2 ? "" : "s", n == 2 ? "s" : "");
    return FL_EINVALID_ARGUMENT;
}

/* -- format(template, args...) -> string: each "{}" takes the next argument; strings go
 * in as they are, other values as compact JSON. The page has no escape for a literal "{}",
 * and a count that does not match is an error rather than a silent "{}" or a dropped
 * value. */
static int fn_format(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                     size_t errlen)
{
    size_t want = count_placeholders(a[0]);
    if (want != n - 1)
        return rt_err(err, errlen, "%s: the template has %zu placeholder%s but %zu argument%s "
                      "follow%s", f->name, want, want == 1 ? "" : "s", n - 1,
                      n == 2 ? "" : "s", n == 2 ? "s" : "");
    const char *s = json_string_value(a[0]);
    size_t len = json_string_length(a[0]), next = 1;
    fl_buf_t b;
    fl_buf_init(&b);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '{' || i + 1 >= len || s[i + 1] != '}') {
            fl_buf_putc(&b, s[i]);
            continue;
        }
        const json_t *v = a[next++];
        if (json_is_string(v)) {
            fl_buf_append(&b, json_string_value(v), json_string_length(v));
        } else {
            write_json(&b, v);
        }
        i++;
    }
    *out = new_string(b.data, b.len);
    fl_buf_free(&b);
    return FL_OK;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64; the '=' padding may be left out. False on anything else. */
static bool b64_decode(const char *s, size_t len, fl_buf_t *out)
{
    size_t pad = 0;
    while (pad < 2 && len > 0 && s[len - 1] == '=')
        len--, pad++;
    if (len % 4 == 1 || (pad && (len + pad) % 4))
        return false;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            fl_buf_putc(out, (char)(acc >> bits & 0xFF));
        }
    }
    return true;
}

/* -- fromBase64(string) -> string. The decoded bytes must be UTF-8 text: a JSON string
 * cannot hold anything else. */
static int fn_from_base64(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                          size_t errlen)
{
    (void)n;
    fl_buf_t b;
    int rc = FL_OK;
    fl_buf_init(&b);
    if (!b64_decode(json_string_value(a[0]), json_string_length(a[0]), &b))
        rc = rt_err(err, errlen, "%s: argument 1 is not valid base64", f->name);
    else if (!(*out = json_stringn(b.data ? b.data : "", b.len)))
        rc = rt_err(err, errlen, "%s: the decoded bytes are not UTF-8 text", f->name);
    fl_buf_free(&b);
    return rc;
}

/* -- toBase64(string) -> string: standard alphabet, padded. */
static int fn_to_base64(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                        size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    size_t len = json_string_length(a[0]);
    char *t = xmalloc(4 * ((len + 2) / 3) + 1);
    size_t tl = fl_b64(json_string_value(a[0]), len, t);
    *out = new_string(t, tl);
    free(t);
    return FL_OK;
}

/* -- stringToJson(string) -> value (alias fromJSON). Any JSON value is accepted, not only
 * an object. */
static int fn_string_to_json(const func_t *f, json_t *const *a, size_t n, json_t **out,
                             char *err, size_t errlen)
{
    (void)n;
    json_error_t je;
    *out = json_loadb(json_string_value(a[0]), json_string_length(a[0]), JSON_DECODE_ANY, &je);
    if (!*out)
        return rt_err(err, errlen, "%s: argument 1 is not valid JSON: %s (at character %d)",
                      f->name, je.text, je.position + 1);
    return FL_OK;
}

/* -- jsonToString(value) -> string (alias toJSON): compact JSON, keys sorted. */
static int fn_json_to_string(const func_t *f, json_t *const *a, size_t n, json_t **out,
                             char *err, size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    fl_buf_t b;
    fl_buf_init(&b);
    write_json(&b, a[0]);
    *out = new_string(b.data, b.len);
    fl_buf_free(&b);
    return FL_OK;
}

static const EVP_MD *hash_md(const json_t *algo)
{
    const char *s = json_string_value(algo);
    return !strcmp(s, "MD5")       ? EVP_md5()
           : !strcmp(s, "SHA-1")   ? EVP_sha1()
           : !strcmp(s, "SHA-256") ? EVP_sha256()
           : !strcmp(s, "SHA-512") ? EVP_sha512()
                                   : NULL;
}

static int check_hash(const func_t *f, json_t *const *lits, size_t n, char *msg, size_t len)
{
    (void)n;
    if (!lits[1] || hash_md(lits[1]))
        return FL_OK;
    snprintf(msg, len, "%s: unknown algorithm '%s' (expected " HASH_ALGOS ")", f->name,
             json_string_value(lits[1]));
    return FL_EINVALID_ARGUMENT;
}

/* -- hash(string, algorithm) -> lowercase hex digest of the string's UTF-8 bytes. The
 * algorithm names are exactly those the page lists. */
static int fn_hash(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                   size_t errlen)
{
    (void)n;
    const EVP_MD *md = hash_md(a[1]);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (!md)
        return rt_err(err, errlen, "%s: unknown algorithm '%s' (expected " HASH_ALGOS ")",
                      f->name, json_string_value(a[1]));
    if (!EVP_Digest(json_string_value(a[0]), json_string_length(a[0]), d, &dl, md, NULL))
        return rt_err(err, errlen, "%s: the digest could not be computed", f->name);
    fl_hex(d, dl, hex);
    *out = new_string(hex, 2 * (size_t)dl);
    return FL_OK;
}

/* -- jsonMerge(object, object) -> object: the members of both; on a shared key the second
 * object wins. Shallow, like the page's example. */
static int fn_json_merge(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                         size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    *out = json_copy(a[0]);
    json_object_update(*out, a[1]);
    return FL_OK;
}

/* -- length(array | object | string) -> integer: elements, members, or characters (code
 * points, so "é" is 1). */
static int fn_length(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                     size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    size_t len = json_is_array(a[0])    ? json_array_size(a[0])
                 : json_is_object(a[0]) ? json_object_size(a[0])
                                        : utf8_chars(json_string_value(a[0]),
                                                     json_string_length(a[0]));
    *out = json_integer((json_int_t)len);
    return FL_OK;
}

/* -- mapKeys(object) -> array of keys; mapValues(object) -> array of values. The page
 * gives no order (the service's Go maps have none); both use byte order of the keys, so
 * the results are deterministic and mapKeys(x)[i] belongs with mapValues(x)[i]. */
static int fn_map_keys_values(const func_t *f, json_t *const *a, size_t n, json_t **out,
                              char *err, size_t errlen)
{
    (void)n, (void)err, (void)errlen;
    bool values = !strcmp(f->name, "mapValues");
    const char **keys = sorted_keys(a[0]);
    *out = json_array();
    for (size_t i = 0; keys[i]; i++) {
        if (values)
            json_array_append(*out, json_object_get(a[0], keys[i]));
        else
            json_array_append_new(*out, new_string(keys[i], strlen(keys[i])));
    }
    free(keys);
    return FL_OK;
}

/* Compiles an RE2-style pattern (the service is written in Go) as a POSIX extended regex:
 * \d and \D outside brackets become [0-9] and [^0-9]; glibc already knows \w \W \s \S \b.
 * Matching is by bytes. Returns FL_OK with *re to regfree, or an error in msg. */
static int regex_compile(const func_t *f, const json_t *pat, regex_t *re, char *msg,
                         size_t msglen)
{
    const char *p = json_string_value(pat);
    size_t len = json_string_length(pat), i = 0;
    if (len > REGEX_MAX_LEN || memchr(p, 0, len)) {
        snprintf(msg, msglen, "%s: the pattern is longer than %d bytes or holds a NUL", f->name,
                 REGEX_MAX_LEN);
        return FL_EINVALID_ARGUMENT;
    }
    fl_buf_t b;
    bool in_br = false;
    fl_buf_init(&b);
    while (i < len) {
        char c = p[i];
        if (!in_br && c == '\\' && i + 1 < len) {
            char d = p[i + 1];
            if (d == 'd' || d == 'D')
                fl_buf_puts(&b, d == 'd' ? "[0-9]" : "[^0-9]");
            else
                fl_buf_append(&b, p + i, 2);
            i += 2;
        } else if (!in_br && c == '[') {
            in_br = true;
            fl_buf_putc(&b, p[i++]);
            if (i < len && p[i] == '^')
                fl_buf_putc(&b, p[i++]);
            if (i < len && p[i] == ']') /* a ']' first in a bracket is literal */
                fl_buf_putc(&b, p[i++]);
        } else if (in_br && c == '[' && i + 1 < len && strchr(":.=", p[i + 1])) {
            const char *end = NULL; /* [:alpha:], [.x.], [=x=] run to the matching ":]" */
            for (size_t j = i + 2; j + 1 < len && !end; j++)
                if (p[j] == p[i + 1] && p[j + 1] == ']')
                    end = p + j + 2;
            size_t span = end ? (size_t)(end - (p + i)) : 1;
            fl_buf_append(&b, p + i, span);
            i += span;
        } else {
            in_br = in_br && c != ']';
            fl_buf_putc(&b, p[i++]);
        }
    }
    int rc = regcomp(re, b.data ? b.data : "", REG_EXTENDED | REG_NOSUB);
    fl_buf_free(&b);
    if (rc != 0) {
        char why[128];
        regerror(rc, re, why, sizeof why);
        regfree(re);
        snprintf(msg, msglen, "%s: invalid regular expression: %s", f->name, why);
        return FL_EINVALID_ARGUMENT;
    }
    return FL_OK;
}

static int check_regex(const func_t *f, json_t *const *lits, size_t n, char *msg, size_t len)
{
    (void)n;
    regex_t re;
    if (!lits[0])
        return FL_OK;
    if (regex_compile(f, lits[0], &re, msg, len) != FL_OK)
        return FL_EINVALID_ARGUMENT;
    regfree(&re);
    return FL_OK;
}

/* -- regexMatchString(pattern, string) -> bool: the pattern matches somewhere in the
 * string. The order (pattern first) is that of Go's regexp.MatchString, whose name the
 * function carries; the page does not show it. */
static int fn_regex_match(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                          size_t errlen)
{
    (void)n;
    regex_t re;
    char msg[256];
    if (regex_compile(f, a[0], &re, msg, sizeof msg) != FL_OK)
        return rt_err(err, errlen, "%s", msg);
    regmatch_t m[1] = {{0, (regoff_t)json_string_length(a[1])}};
    int rc = regexec(&re, json_string_value(a[1]), 1, m, REG_STARTEND);
    regfree(&re);
    *out = json_boolean(rc == 0);
    return FL_OK;
}

/* -- split(string, separator) -> array of strings, as Go's strings.Split: an empty
 * separator splits into characters, "" gives [""], "a," gives ["a", ""]. */
static int fn_split(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                    size_t errlen)
{
    (void)f, (void)n, (void)err, (void)errlen;
    const char *s = json_string_value(a[0]), *sep = json_string_value(a[1]);
    size_t len = json_string_length(a[0]), sl = json_string_length(a[1]), start = 0;
    *out = json_array();
    if (sl == 0) {
        for (size_t i = 0; i < len; i = start) {
            for (start = i + 1; start < len && ((unsigned char)s[start] & 0xC0) == 0x80; start++)
                ;
            json_array_append_new(*out, new_string(s + i, start - i));
        }
        return FL_OK;
    }
    for (size_t i = 0; i + sl <= len;) {
        if (!memcmp(s + i, sep, sl)) {
            json_array_append_new(*out, new_string(s + start, i - start));
            i += sl;
            start = i;
        } else {
            i++;
        }
    }
    json_array_append_new(*out, new_string(s + start, len - start));
    return FL_OK;
}

/* -- toArray(values...) -> array of its arguments (none gives []). */
static int fn_to_array(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                       size_t errlen)
{
    (void)f, (void)err, (void)errlen;
    *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(*out, a[i]);
    return FL_OK;
}

/* -- uuid() -> a random (version 4) UUID, lower case. NOT deterministic. */
static int fn_uuid(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                   size_t errlen)
{
    (void)f, (void)a, (void)n, (void)err, (void)errlen;
    char u[37];
    fl_uuid(u, false);
    *out = new_string(u, 36);
    return FL_OK;
}

/* -- get(array, index) or get(object, key) -> the element, or null when there is none
 * (as a path such as $Input.list[9] reads null). */
static int fn_get(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                  size_t errlen)
{
    (void)n;
    json_int_t i;
    json_t *v;
    if (json_is_array(a[0])) {
        if (!int_value(a[1], &i))
            return rt_err(err, errlen, "%s: argument 2 must be an integer when argument 1 is "
                          "an array, got %s", f->name, type_name(a[1]));
        v = i >= 0 ? json_array_get(a[0], (size_t)i) : NULL;
    } else {
        if (!json_is_string(a[1]))
            return rt_err(err, errlen, "%s: argument 2 must be a string when argument 1 is "
                          "an object, got %s", f->name, type_name(a[1]));
        v = json_object_get(a[0], json_string_value(a[1]));
    }
    *out = v ? json_incref(v) : json_null();
    return FL_OK;
}

/* -- intAdd(integer, integer) -> integer; overflow of int64 is an error. */
static int fn_int_add(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                      size_t errlen)
{
    (void)n;
    json_int_t x, y, r;
    int_value(a[0], &x); /* the types were checked: both are integral */
    int_value(a[1], &y);
    if (__builtin_add_overflow(x, y, &r))
        return rt_err(err, errlen, "%s: the sum overflows a 64-bit integer", f->name);
    *out = json_integer(r);
    return FL_OK;
}

static int check_random(const func_t *f, json_t *const *lits, size_t n, char *msg, size_t len)
{
    (void)n;
    json_int_t lo, hi;
    if (!lits[0] || !lits[1] || !int_value(lits[0], &lo) || !int_value(lits[1], &hi) || hi > lo)
        return FL_OK;
    snprintf(msg, len, "%s: argument 2 must be greater than argument 1", f->name);
    return FL_EINVALID_ARGUMENT;
}

/* -- randomInt(min, max) -> an integer in [min, max), uniformly (the page says "within a
 * range" without the ends; half-open is Go's rand.Intn convention). NOT deterministic. */
static int fn_random_int(const func_t *f, json_t *const *a, size_t n, json_t **out, char *err,
                         size_t errlen)
{
    (void)n;
    json_int_t lo, hi;
    int_value(a[0], &lo);
    int_value(a[1], &hi);
    if (hi <= lo)
        return rt_err(err, errlen, "%s: argument 2 must be greater than argument 1", f->name);
    uint64_t span = (uint64_t)hi - (uint64_t)lo, r, limit = UINT64_MAX - UINT64_MAX % span;
    do /* rejection sampling: no modulo bias */
        fl_rand_bytes(&r, sizeof r);
    while (r >= limit);
    *out = json_integer((json_int_t)((uint64_t)lo + r % span));
    return FL_OK;
}

/* Sorted by name. */
static const func_t funcs[] = {
    {"arrayContains", 2, 2, {TY_ARR, TY_ANY}, fn_array_contains, NULL},
    {"arrayUnique", 1, 1, {TY_ARR, 0}, fn_array_unique, NULL},
    {"format", 1, -1, {TY_STR, TY_ANY}, fn_format, check_format},
    {"fromBase64", 1, 1, {TY_STR, 0}, fn_from_base64, NULL},
    {"fromJSON", 1, 1, {TY_STR, 0}, fn_string_to_json, NULL},
    {"get", 2, 2, {TY_ARR | TY_OBJ, TY_INT | TY_STR}, fn_get, NULL},
    {"hash", 2, 2, {TY_STR, TY_STR}, fn_hash, check_hash},
    {"intAdd", 2, 2, {TY_INT, TY_INT}, fn_int_add, NULL},
    {"jsonMerge", 2, 2, {TY_OBJ, TY_OBJ}, fn_json_merge, NULL},
    {"jsonToString", 1, 1, {TY_ANY, 0}, fn_json_to_string, NULL},
    {"length", 1, 1, {TY_ARR | TY_OBJ | TY_STR, 0}, fn_length, NULL},
    {"mapKeys", 1, 1, {TY_OBJ, 0}, fn_map_keys_values, NULL},
    {"mapValues", 1, 1, {TY_OBJ, 0}, fn_map_keys_values, NULL},
    {"randomInt", 2, 2, {TY_INT, TY_INT}, fn_random_int, check_random},
    {"regexMatchString", 2, 2, {TY_STR, TY_STR}, fn_regex_match, check_regex},
    {"split", 2, 2, {TY_STR, TY_STR}, fn_split, NULL},
    {"stringToJson", 1, 1, {TY_STR, 0}, fn_string_to_json, NULL},
    {"toArray", 0, -1, {TY_ANY, TY_ANY}, fn_to_array, NULL},
    {"toBase64", 1, 1, {TY_STR, 0}, fn_to_base64, NULL},
    {"toJSON", 1, 1, {TY_ANY, 0}, fn_json_to_string, NULL},
    {"uuid", 0, 0, {0, 0}, fn_uuid, NULL},
};

/* The function called name (len bytes, case-sensitive), or NULL. */
static const func_t *func_find(const char *name, size_t len)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(funcs); i++)
        if (strlen(funcs[i].name) == len && !memcmp(funcs[i].name, name, len))
            return &funcs[i];
    return NULL;
}

/* Compile-time checks of a call: the number of arguments, the types of literal arguments,
 * then the function's own check. FL_OK or FL_EINVALID_ARGUMENT with msg. */
static int func_precheck(const func_t *f, fl_expr_t *const *args, size_t n, char *msg,
                         size_t msglen)
{
    size_t lo = (size_t)f->min_args;
    if (n < lo || (f->max_args >= 0 && n > (size_t)f->max_args)) {
        snprintf(msg, msglen, "function %s takes %s%d argument%s, got %zu", f->name,
                 f->max_args < 0 ? "at least " : "", f->min_args, f->min_args == 1 ? "" : "s",
                 n);
        return FL_EINVALID_ARGUMENT;
    }
    json_t **lits = xcalloc(n ? n : 1, sizeof *lits);
    int rc = FL_OK;
    for (size_t i = 0; i < n && rc == FL_OK; i++) {
        if (args[i]->op != E_LIT)
            continue;
        lits[i] = args[i]->lit;
        if (!type_ok(arg_type(f, i), lits[i]))
            rc = arg_type_error(f, i, lits[i], msg, msglen);
    }
    if (rc == FL_OK && f->check)
        rc = f->check(f, lits, n, msg, msglen);
    free(lits);
    return rc;
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

static int eval(const fl_expr_t *e, const fl_env_t *env, json_t **out, char *err, size_t errlen);

/* Evaluates a call, an array literal or an object literal: every argument (left to
 * right, no short-circuit), then the function. */
static int eval_list(const fl_expr_t *e, const fl_env_t *env, json_t **out, char *err,
                     size_t errlen)
{
    json_t **argv = xcalloc(e->n_args ? e->n_args : 1, sizeof *argv);
    int rc = FL_OK;
    for (size_t i = 0; i < e->n_args && rc == FL_OK; i++)
        rc = eval(e->args[i], env, &argv[i], err, errlen);
    if (rc != FL_OK)
        goto out;
    if (e->op == E_CALL) {
        rc = func_call(e->fn, argv, e->n_args, out, err, errlen);
    } else if (e->op == E_ARR) {
        *out = json_array();
        for (size_t i = 0; i < e->n_args; i++)
            json_array_append(*out, argv[i]);
    } else {
        *out = json_object();
        for (size_t i = 0; i < e->n_args; i++)
            json_object_set(*out, e->keys[i], argv[i]);
    }
out:
    for (size_t i = 0; i < e->n_args; i++)
        json_decref(argv[i]);
    free(argv);
    return rc;
}

static int eval(const fl_expr_t *e, const fl_env_t *env, json_t **out, char *err, size_t errlen)
{
    json_t *a = NULL, *b = NULL;
    int rc = FL_OK;
    *out = NULL;
    switch (e->op) {
    case E_LIT:
        /* A literal array or object is copied: the caller may edit what it gets, and the
         * compiled expression is shared. */
        *out = json_is_array(e->lit) || json_is_object(e->lit) ? json_deep_copy(e->lit)
                                                                : json_incref(e->lit);
        return FL_OK;
    case E_PATH:
        *out = eval_path(e, env);
        return FL_OK;
    case E_CALL:
    case E_ARR:
    case E_OBJ:
        return eval_list(e, env, out, err, errlen);
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
