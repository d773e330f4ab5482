/*
 * fuzz_spec.c - flow definitions (src/spec/spec.c, fdl.c): the input is a definition in
 * YAML or JSON, CloudFlow (Type: StateMachine) or the legacy FDL (type: flow), told apart
 * by the parser itself. Runs fl_spec_parse and fl_yaml_parse on it. Checks that a refused
 * definition says why and that an accepted flow's states point inside their scopes.
 */
#include <string.h>

#include "spec/spec.h"
#include "fuzz.h"

static void check_scope(const fl_scope_t *s, int depth)
{
    FUZZ_CHECK(depth <= 2 * FL_SPEC_MAX_DEPTH, "scopes nest %d deep", depth);
    FUZZ_CHECK(s->n_states > 0 && s->start >= 0 && (size_t)s->start < s->n_states,
               "start %d of %zu states", s->start, s->n_states);
    for (size_t i = 0; i < s->n_states; i++) {
        const fl_state_t *st = &s->states[i];
        FUZZ_CHECK(st->name != NULL, "state %zu has no name", i);
        FUZZ_CHECK(st->next >= -1 && st->next < (int)s->n_states, "%s: next %d", st->name,
                   st->next);
        FUZZ_CHECK(st->default_next >= -1 && st->default_next < (int)s->n_states,
                   "%s: default %d", st->name, st->default_next);
        for (size_t j = 0; j < st->n_catches; j++)
            FUZZ_CHECK(st->catches[j].next >= 0 && st->catches[j].next < (int)s->n_states,
                       "%s: catch %zu goes to %d", st->name, j, st->catches[j].next);
        for (size_t j = 0; j < st->n_choices; j++) {
            const fl_choice_t *ch = &st->choices[j];
            FUZZ_CHECK(ch->cond != NULL, "%s: choice %zu has no condition", st->name, j);
            if (ch->scope)
                check_scope(ch->scope, depth + 1);
            else
                FUZZ_CHECK(ch->next >= 0 && ch->next < (int)s->n_states,
                           "%s: choice %zu goes to %d", st->name, j, ch->next);
        }
        if (st->default_scope)
            check_scope(st->default_scope, depth + 1);
        for (size_t j = 0; j < st->n_branches; j++)
            check_scope(&st->branches[j], depth + 1);
        if (st->processor)
            check_scope(st->processor, depth + 1);
    }
}

int fuzz_spec(const uint8_t *data, size_t size)
{
    fl_log_level = FL_LOG_ERROR + 1;
    if (size > FL_SPEC_MAX_BYTES + 16)
        return 0;
    /* Exactly size bytes, no terminator: the parsers take (text, len). */
    char *text = malloc(size ? size : 1);
    if (size)
        memcpy(text, data, size);

    fl_diag_t d;
    memset(&d, 0, sizeof d);
    fl_flow_t *f = NULL;
    int rc = fl_spec_parse(text, size, &f, &d);
    FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "fl_spec_parse returned %d", rc);
    if (rc == FL_OK) {
        FUZZ_CHECK(f != NULL, "accepted without a flow");
        check_scope(&f->root, 0);
        fl_flow_free(f);
    } else {
        FUZZ_CHECK(d.msg[0] != 0, "refused without a message");
        FUZZ_CHECK(memchr(d.msg, 0, sizeof d.msg) && memchr(d.path, 0, sizeof d.path),
                   "diagnostic not terminated");
    }

    memset(&d, 0, sizeof d);
    json_t *j = NULL;
    rc = fl_yaml_parse(text, size, &j, &d);
    FUZZ_CHECK(rc == FL_OK || rc == FL_EINVALID_ARGUMENT, "fl_yaml_parse returned %d", rc);
    if (rc == FL_OK) {
        FUZZ_CHECK(j != NULL, "YAML accepted without a value");
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        free(s);
        json_decref(j);
    } else {
        FUZZ_CHECK(d.msg[0] != 0, "YAML refused without a message");
    }
    free(text);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_spec(d, n);
}
#endif
