/* test_kernels.c - every native kernel implementation against the scalar reference, bit
 * for bit (tests/kernels/kcases.h walks the build's list: ref, avx2, avx512): every
 * layout and geometry, matmul vs matvec, thread counts (a backwards parallel-for and real
 * threads), and the reference against a double-precision oracle. The wasm twin (simd128)
 * is tested by the same cases inside wasm: tests/kernels/test_kernels_wasm.c (make
 * kernels-test). */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

#define KC_CHECK(cond, ...) CHECK_MSG(cond, __VA_ARGS__)
#define KC_FAILS test_failed_checks
#include "../kernels/kcases.h"

static void report(const char *what, int failed) { printf("     %s%s\n", what, failed > 0 ? ": FAILED" : ""); }

static void test_every_impl(void)
{
    CHECK(sq_kernels_count() >= 1 && strcmp(sq_kernels_at(0)->name, "ref") == 0);
    CHECK(sq_kernels_available(sq_kernels_get()));
    kc_run_all(report);
}

/* ---- real threads: same bits as one thread ---- */

typedef struct pjob {
    size_t n;
    atomic_size_t next;
    sq_task_fn fn;
    void *arg;
} pjob;

static void *pworker(void *p)
{
    pjob *j = p;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) j->fn(j->arg, i);
    return NULL;
}

static void pfor(void *pool, size_t n, sq_task_fn fn, void *arg)
{
    int threads = *(int *)pool;
    pjob j;
    j.n = n;
    atomic_init(&j.next, 0);
    j.fn = fn;
    j.arg = arg;
    pthread_t t[16];
    int started = 0;
    for (int i = 1; i < threads && i < 16; i++)
        if (pthread_create(&t[started], NULL, pworker, &j) == 0) started++;
    pworker(&j);
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
}

static void test_threads(void)
{
    static const int kinds[][3] = {{SQ_LIN_PACKED, 4, 1}, {SQ_LIN_PACKED, 4, 3}, {SQ_LIN_PAPER, 4, 3},
                                   {SQ_LIN_PAPER, 8, 2},  {SQ_LIN_BF16, 0, 0},  {SQ_LIN_F32, 0, 0}};
    size_t rows = 300, cols = 512;
    for (size_t c = 0; c < sizeof kinds / sizeof kinds[0]; c++) {
        sq_linear L[2];
        kc_make(&L[0], kinds[c][0], rows, cols, kinds[c][1], kinds[c][2], 128, 1, NULL);
        kc_make(&L[1], kinds[c][0], rows / 3, cols, kinds[c][1], kinds[c][2], 64, 0, NULL);
        for (size_t n = 1; n <= 20; n += 19) {
            float *X = malloc(n * cols * sizeof(float));
            for (size_t i = 0; i < n * cols; i++) X[i] = kc_f(-1, 1);
            float *Y1[2] = {malloc(n * rows * 4), malloc(n * rows * 4)}, *Y2[2] = {malloc(n * rows * 4), malloc(n * rows * 4)};
            const sq_linear *Ls[2] = {&L[0], &L[1]};
            sq_linear_matmul_multi(Ls, Y1, 2, X, n, NULL);
            for (int threads = 2; threads <= 5; threads += 3) {
                sq_exec ex = {pfor, &threads, threads, SQ_ACT_F32};
                sq_linear_matmul_multi(Ls, Y2, 2, X, n, &ex);
                size_t where = 0;
                CHECK_MSG(kc_same(Y1[0], Y2[0], n * rows, &where) && kc_same(Y1[1], Y2[1], n * (rows / 3), &where),
                          "%s n=%zu threads=%d differs", kc_kind_name(kinds[c][0]), n, threads);
            }
            for (int i = 0; i < 2; i++) {
                free(Y1[i]);
                free(Y2[i]);
            }
            free(X);
        }
        kc_free(&L[0]);
        kc_free(&L[1]);
    }
}

int main(void)
{
    printf("     kernels in use: %s\n", sq_kernels_name());
    RUN(test_every_impl);
    RUN(test_threads);
    return test_summary();
}
