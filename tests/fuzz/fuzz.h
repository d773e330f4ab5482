/*
 * fuzz.h - the fuzz targets of tests/fuzz/. Each fuzz_<name>.c defines
 * int fuzz_<name>(const uint8_t *data, size_t size), which must return 0 for any input and
 * never crash, leak into the next call or depend on anything but the input (a few targets
 * keep a store or a key ring across calls; that state never decides whether they crash).
 *
 * Under `make fuzz` (clang, -DFL_LIBFUZZER) each file also defines LLVMFuzzerTestOneInput
 * and becomes its own libFuzzer binary; under `make test` (gcc) replay_main.c links them
 * all and feeds them the committed corpus, tests/fuzz/corpus/<name>/.
 */
#ifndef FL_FUZZ_H
#define FL_FUZZ_H

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* X(name): every target, in the order replay_main.c reports them. */
#define FL_FUZZ_TARGETS(X) X(params) X(sign) X(request) X(spec) X(expr) X(mns) X(policy)

#define FL_FUZZ_DECL(name) int fuzz_##name(const uint8_t *data, size_t size);
FL_FUZZ_TARGETS(FL_FUZZ_DECL)
#undef FL_FUZZ_DECL

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
#endif

/* Aborts with a message when an invariant of the code under test does not hold, so that
 * libFuzzer and the replay both count it as a crash (FL_ASSERT would too, but says less). */
#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz: %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#endif
