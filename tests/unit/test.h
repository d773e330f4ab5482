/*
 * test.h - the unit test harness. TEST(name) defines a test and registers it before main;
 * runner.c forks each test under a timeout and prints "N passed, N failed".
 * ASSERT_* print both values and abort the (forked) test on failure.
 */
#ifndef FL_TEST_H
#define FL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*fl_test_fn)(void);
void fl_test_register(const char *name, const char *file, fl_test_fn fn);

#define TEST(name)                                                                             \
    static void test_##name(void);                                                             \
    __attribute__((constructor)) static void reg_##name(void)                                  \
    {                                                                                          \
        fl_test_register(#name, __FILE__, test_##name);                                        \
    }                                                                                          \
    static void test_##name(void)

#define FAIL_AT(...)                                                                           \
    do {                                                                                       \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                      \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fprintf(stderr, "\n");                                                                 \
        abort();                                                                               \
    } while (0)

#define ASSERT(x)                                                                              \
    do {                                                                                       \
        if (!(x))                                                                              \
            FAIL_AT("assertion failed: %s", #x);                                               \
    } while (0)

#define ASSERT_EQ(a, b)                                                                        \
    do {                                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                  \
        if (va_ != vb_)                                                                        \
            FAIL_AT("%s == %s: %lld != %lld", #a, #b, va_, vb_);                               \
    } while (0)

#define ASSERT_OK(x) ASSERT_EQ((x), 0)

#define ASSERT_STR_EQ(a, b)                                                                    \
    do {                                                                                       \
        const char *sa_ = (a), *sb_ = (b);                                                     \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                                             \
            FAIL_AT("%s == %s:\n    got:      \"%s\"\n    expected: \"%s\"", #a, #b,           \
                    sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                               \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                           \
    do {                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                \
        if (!h_ || !strstr(h_, n_))                                                            \
            FAIL_AT("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                 \
    } while (0)

/* Under AddressSanitizer, fails the test when memory it allocated has leaked. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() ASSERT_EQ(__lsan_do_recoverable_leak_check(), 0)
#else
#define LEAK_CHECK() ((void)0)
#endif

#endif
