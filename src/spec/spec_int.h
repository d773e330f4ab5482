/*
 * spec_int.h - internals shared by the two definition parsers of the spec module: spec.c
 * (YAML loading, the CloudFlow language, fl_flow_free) and fdl.c (the legacy FDL).
 *
 * Both work on the same position-carrying node tree, which lives in the parse's arena, and
 * report the first problem through spec_bad(): line/column of a node, the path being
 * checked (cx_t.path, maintained with spec_push_key / spec_push_idx / spec_pop) and one
 * sentence. Not part of the module's interface: only the .c files of src/spec include this file.
 */
#ifndef FL_SPEC_INT_H
#define FL_SPEC_INT_H

#include "spec/spec.h"

#define SPEC_MAX_TASK_TIMEOUT_S 604800   /* 7 days, the documented CloudFlow task limit */
#define SPEC_MAX_EXEC_TIMEOUT_S 31536000 /* 1 year, the longest Standard execution */
#define SPEC_MAX_RETRY_SECONDS 86400

/* ---- the position-carrying document tree ---- */

typedef enum { N_NULL, N_BOOL, N_INT, N_REAL, N_STR, N_MAP, N_SEQ } nkind_t;

typedef struct node node_t;
struct node {
    nkind_t kind;
    int line, col;     /* 1-based start of the node */
    const char *s;     /* N_STR text (NUL-free, valid UTF-8) */
    size_t len;
    bool b;            /* N_BOOL */
    int64_t i;         /* N_INT */
    double d;          /* N_REAL */
    const char *key;   /* set when this node is a mapping value */
    int kline, kcol;   /* where that key starts */
    node_t *first, *last, *next; /* children of N_MAP / N_SEQ, in document order */
    size_t n;
};

/* The state of one parse. */
typedef struct {
    fl_arena_t arena;
    fl_diag_t *diag;
    char path[256];          /* path of the node being checked */
    size_t plen;
    int64_t flow_timeout_s;  /* the flow's Timeout / timeoutSeconds, 0 = none */
    size_t n_states;         /* states (steps) seen so far in all scopes */
} cx_t;

/* ---- diagnostics and paths ---- */

/* Fills c->diag for node n (position 0:0 when n is NULL) and returns FL_EINVALID_ARGUMENT;
 * with key set, the reported path names that field below the current path. */
int spec_bad(cx_t *c, const node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Append ".k" / "[i]" to the current path; return the mark to give spec_pop. */
size_t spec_push_key(cx_t *c, const char *k);
size_t spec_push_idx(cx_t *c, size_t i);
void spec_pop(cx_t *c, size_t mark);

/* ---- node access ---- */

const node_t *spec_get(const node_t *map, const char *key); /* borrowed, NULL if absent */
bool spec_in_list(const char *s, const char *const *list);  /* list is NULL-terminated */
const char *spec_kind_name(const node_t *n);                /* "a string", "a list", ... */
/* Rejects keys of map not in allowed (NULL-terminated); what names the object. */
int spec_check_keys(cx_t *c, const node_t *map, const char *const *allowed, const char *what);
/* map[key] as a string (borrowed from the arena); NULL when absent and not required. */
int spec_get_str(cx_t *c, const node_t *map, const char *key, bool required,
                 const char **out /* OUT */);
/* Optional integer / number map[key] within [lo, hi]; *out is left alone when absent. */
int spec_get_int(cx_t *c, const node_t *map, const char *key, int64_t lo, int64_t hi,
                 int64_t *out /* OUT */);
int spec_get_num(cx_t *c, const node_t *map, const char *key, double lo, double hi,
                 double *out /* OUT */);
/* map[key], a required non-empty list of error names, as new strings. */
int spec_get_errors(cx_t *c, const node_t *map, const char *key, char ***out /* OUT */,
                    size_t *n_out /* OUT */);
/* Returns a new JSON value equal to n. */
json_t *spec_to_json(const node_t *n);
/* Compiles src (the text of node at, or of its field key) into *out. */
int spec_compile_expr(cx_t *c, const node_t *at, const char *key, const char *src,
                      fl_expr_t **out /* OUT */);
/* Compiles the RFC 3339 time ts (already validated) as a string-literal expression. */
fl_expr_t *spec_time_literal(const char *ts);

/* ---- scopes ---- */

int spec_find_state(const fl_scope_t *s, const char *name); /* index or -1 */
/* First pass over a list of states (CloudFlow States, FDL steps): names under key, lines,
 * duplicates; noun and list_name word the messages ("state", "States"). Next is left -1. */
int spec_name_states(cx_t *c, fl_scope_t *scope, const node_t *list, const char *key,
                     const char *noun, const char *list_name);
/* Counts n more states towards FL_SPEC_MAX_STATES (all scopes together); at = the list. */
int spec_count_states(cx_t *c, const node_t *at, const char *key, size_t n);
/* Frees what the states of s own, nested scopes included, and s->states; not s itself. */
void spec_scope_clear(fl_scope_t *s);

/* ---- the legacy FDL (fdl.c) ---- */

/* True when the top-level object root looks like FDL (version / type / steps). */
bool spec_is_fdl(const node_t *root);
/* Parses an FDL document (root is an object) into f. */
int spec_parse_fdl(cx_t *c, const node_t *root, fl_flow_t *f);

#endif
