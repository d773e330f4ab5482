/*
 * runner.c - runs every registered unit test in its own process under a timeout, so a
 * crash or a hang fails one test, not the run. Usage: unit_tests [substring-filter].
 * Prints one line per test and ends with "N passed, N failed".
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define MAX_TESTS 2048
#define TIMEOUT_S 30

static struct {
    const char *name;
    const char *file;
    fl_test_fn fn;
} tests[MAX_TESTS];
static int n_tests;

void fl_test_register(const char *name, const char *file, fl_test_fn fn)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[n_tests].name = name;
    tests[n_tests].file = file;
    tests[n_tests].fn = fn;
    n_tests++;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < n_tests; i++) {
        /* Arguments are filters: a test runs when its name or file contains any of them. */
        bool match = argc < 2;
        for (int k = 1; k < argc && !match; k++)
            match = strstr(tests[i].name, argv[k]) || strstr(tests[i].file, argv[k]);
        if (!match)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            alarm(TIMEOUT_S);
            tests[i].fn();
            /* exit(), not _exit(): LeakSanitizer checks for leaks in the exit handlers. */
            exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(st))
                printf("FAIL %s (%s, signal %d)\n", tests[i].name, tests[i].file, WTERMSIG(st));
            else
                printf("FAIL %s (%s, exit %d)\n", tests[i].name, tests[i].file, WEXITSTATUS(st));
        }
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
