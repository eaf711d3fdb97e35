/* test.h - a tiny test harness: CHECK records a failure and goes on; each test file is
 * its own program whose main() calls RUN(fn) per test and returns test_summary().
 * Output ends with "N passed, N failed" (counted per test function). */
#ifndef SQ_TEST_H
#define SQ_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks, test_passed, test_failed;
static const char *test_name;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            test_failed_checks++;                                                       \
            fprintf(stderr, "  FAIL %s:%d in %s: %s\n", __FILE__, __LINE__, test_name, #cond); \
        }                                                                               \
    } while (0)

#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            test_failed_checks++;                                                       \
            fprintf(stderr, "  FAIL %s:%d in %s: %s: ", __FILE__, __LINE__, test_name, #cond); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                      \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double _a = (a), _b = (b);                                                      \
        if (!(fabs(_a - _b) <= (tol))) {                                                \
            test_failed_checks++;                                                       \
            fprintf(stderr, "  FAIL %s:%d in %s: |%s - %s| = |%.9g - %.9g| > %g\n", __FILE__, \
                    __LINE__, test_name, #a, #b, _a, _b, (double)(tol));               \
        }                                                                               \
    } while (0)

#define RUN(fn)                                                                         \
    do {                                                                                \
        int _before = test_failed_checks;                                               \
        test_name = #fn;                                                                \
        fn();                                                                           \
        if (test_failed_checks == _before) { test_passed++; printf("ok   %s\n", #fn); } \
        else { test_failed++; printf("FAIL %s\n", #fn); }                               \
        fflush(stdout);                                                                 \
    } while (0)

static int test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* Path of the repository root (tests run from it); examples/ and data/ live there. */
#define TEST_ROOT "."

#endif
