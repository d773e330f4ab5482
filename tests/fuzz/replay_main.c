/*
 * replay_main.c - `fuzz_replay <corpus dir>`: feeds every file of <dir>/<target>/ to that
 * fuzz target (fuzz.h lists them), the way cJSON's fuzz_main.c replays its corpus without
 * libFuzzer. Built with gcc in `make test`, so the committed corpus, crashers included,
 * guards against regressions on every run.
 *
 * Each file runs in a forked child under an alarm: a crash, an abort or a hang fails that
 * file alone (named with the signal) and the replay goes on. Prints one line per target
 * and ends with "replay: N passed, N failed"; exits 1 when anything failed.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define REPLAY_TIMEOUT_S 20 /* per file; libFuzzer's default -timeout is 1200 s, ours is short */

typedef struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} target_t;

static const target_t targets[] = {
#define FL_FUZZ_ENTRY(name) {#name, fuzz_##name},
    FL_FUZZ_TARGETS(FL_FUZZ_ENTRY)
#undef FL_FUZZ_ENTRY
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the whole file; NULL on error. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Runs one file in a child; returns true when the target returned normally. */
static bool run_one(const target_t *t, const char *path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "replay: fork: %s\n", strerror(errno));
        return false;
    }
    if (pid == 0) {
        alarm(REPLAY_TIMEOUT_S);
        size_t len = 0;
        uint8_t *data = slurp(path, &len);
        if (!data) {
            fprintf(stderr, "replay: cannot read %s\n", path);
            _exit(3);
        }
        /* Like libFuzzer, hand over a block of exactly len bytes. */
        uint8_t *exact = malloc(len ? len : 1);
        if (len)
            memcpy(exact, data, len);
        free(data);
        t->fn(exact, len);
        free(exact);
        exit(0); /* atexit handlers remove the temporary store of the request target */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return false;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return true;
    if (WIFSIGNALED(st))
        fprintf(stderr, "replay: FAIL %s/%s: %s%s\n", t->name, strrchr(path, '/') + 1,
                strsignal(WTERMSIG(st)), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    else
        fprintf(stderr, "replay: FAIL %s/%s: exit status %d\n", t->name,
                strrchr(path, '/') + 1, WEXITSTATUS(st));
    return false;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        const target_t *t = &targets[i];
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", argv[1], t->name);
        DIR *d = opendir(dir);
        if (!d) {
            printf("replay %-8s no corpus (%s)\n", t->name, dir);
            continue;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                names = realloc(names, cap * sizeof *names);
                if (!names)
                    abort();
            }
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, name_cmp);
        int tp = 0, tf = 0;
        for (size_t j = 0; j < n; j++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[j]);
            struct stat sb;
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (run_one(t, path))
                    tp++;
                else
                    tf++;
            }
            free(names[j]);
        }
        free(names);
        printf("replay %-8s %d passed, %d failed\n", t->name, tp, tf);
        passed += tp;
        failed += tf;
    }
    printf("replay: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
