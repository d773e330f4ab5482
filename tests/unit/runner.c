/*
 * runner.c - runs every registered unit test in its own process under a timeout, so a
 * crash or a hang fails one test, not the run. Usage: unit_tests [substring-filter].
 * Prints one line per test and ends with "N passed, N failed".
 */
#include <signal.h>
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
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter))
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
