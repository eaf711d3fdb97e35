/* regress_main.c - run a fuzz target's LLVMFuzzerTestOneInput once over files, without
 * libFuzzer (for `make fuzz-regress`, part of `make test`).
 *
 *   regress_<target> NAME PATH...    PATH: files, or directories searched recursively
 *
 * Each input runs in a child process (a crash fails that input only) with a time limit
 * (FUZZ_TIMEOUT seconds, default 20). Prints one line per failure and, last,
 * "NAME: N passed, M failed". Exit status 0 when nothing failed.
 * Linked with -fsanitize=address,undefined: the sanitizers turn bugs into crashes, and
 * one allocation above FUZZ_MALLOC_LIMIT_MB (default 2048, like libFuzzer's
 * -malloc_limit_mb) aborts as well.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sanitizer defaults (the environment's ASAN_OPTIONS still win). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=2048:allocator_may_return_null=0:detect_leaks=1:abort_on_error=0";
}

static int passed, failed;
static const char *target = "fuzz";

static int run_one(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: cannot open %s: %s\n", target, path, strerror(errno));
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        if (!buf) abort();
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    fclose(fp);
    /* an exact-size copy so ASan catches reads past the end */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) abort();
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static void check(const char *path)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        const char *t = getenv("FUZZ_TIMEOUT");
        alarm(t ? (unsigned)atoi(t) : 20u);
        /* child: silence the core's own output on success; sanitizer reports go to stderr */
        exit(run_one(path));
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        passed++;
        return;
    }
    failed++;
    if (WIFSIGNALED(st))
        printf("FAIL %s: %s (signal %d%s)\n", target, path, WTERMSIG(st), WTERMSIG(st) == SIGALRM ? ": timeout" : "");
    else
        printf("FAIL %s: %s (exit %d)\n", target, path, WEXITSTATUS(st));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return; /* a missing directory holds no inputs */
    if (!S_ISDIR(sb.st_mode)) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (base[0] == '.' || strcmp(base, "README") == 0 || strstr(base, ".md")) return;
        check(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        size_t len = strlen(path) + strlen(de->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) abort();
        snprintf(names[n], len, "%s/%s", path, de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        walk(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s NAME PATH...\n", argv[0]);
        return 2;
    }
    target = argv[1];
    for (int i = 2; i < argc; i++) walk(argv[i]);
    printf("%s: %d passed, %d failed\n", target, passed, failed);
    return failed ? 1 : 0;
}
