/* test_kernels.c - the native kernel implementations against the scalar reference, bit
 * for bit (tests/kernels/kcases.h): every layout and geometry, matmul vs matvec, thread
 * counts (a backwards parallel-for and real threads), and the reference against a
 * double-precision oracle. The wasm twin (simd128) is tested by the same cases inside
 * wasm: tests/kernels/test_kernels_wasm.c (make kernels-test). */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

#define KC_CHECK(cond, ...) CHECK_MSG(cond, __VA_ARGS__)
#include "../kernels/kcases.h"

static void run_impl(const char *name)
{
    if (sq_kernels_use(name) != 0) {
        printf("     %s: not available here (skipped)\n", name);
        return;
    }
    const sq_kimpl *K = sq_kernels_get();
    sq_kernels_use("best");
    kc_run_primitives(K);
    double worst = 0;
    int n = kc_run_layers(K, &worst);
    printf("     %s: %d layers bit-identical to ref; ref vs double oracle: max relative error %.3g\n", name, n, worst);
    CHECK_MSG(worst <= 1e-5, "ref vs oracle %g", worst);
}

static void test_ref(void) { run_impl("ref"); }
static void test_avx2(void) { run_impl("avx2"); }
static void test_avx512(void) { run_impl("avx512"); }

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
                sq_exec ex = {pfor, &threads, threads};
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

/* Scales so large that scale * code overflows (hostile files; the loader sets
 * scale_big): every implementation still gives the reference's bits. */
static void test_big_scales(void)
{
    sq_linear L;
    kc_make(&L, SQ_LIN_PACKED, 4, 64, 8, 3, 32, 0, NULL);
    for (size_t i = 0; i < 4 * 2 * 3; i++) {
        L.scale_bf16[i] = sq_f32_to_bf16(i % 2 ? 2e36f : 1e-3f);
        L.min_bf16[i] = sq_f32_to_bf16(i % 3 ? -3e38f : 0.5f);
    }
    L.scale_big = 1;
    float X[3 * 64], Yr[3 * 4], Yk[3 * 4];
    for (int i = 0; i < 3 * 64; i++) X[i] = kc_f(-1, 1);
    static const char *impls[] = {"avx2", "avx512", "best"};
    for (size_t m = 0; m < sizeof impls / sizeof impls[0]; m++) {
        if (sq_kernels_use(impls[m]) != 0) continue;
        for (size_t n = 1; n <= 3; n += 2) { /* one input (the matvec kernels) and a batch */
            sq_kernels_rows(&sq_kimpl_ref, &L, X, n, Yr, NULL, 0, 4);
            sq_linear_matmul(&L, X, n, Yk);
            size_t where = 0;
            CHECK_MSG(kc_same(Yr, Yk, n * 4, &where), "%s n=%zu differs from ref at %zu (%g vs %g)", sq_kernels_name(), n,
                      where, Yk[where], Yr[where]);
        }
    }
    sq_kernels_use("best");
    kc_free(&L);
}

int main(void)
{
    printf("     kernels in use: %s\n", sq_kernels_name());
    RUN(test_ref);
    RUN(test_avx2);
    RUN(test_avx512);
    RUN(test_threads);
    RUN(test_big_scales);
    return test_summary();
}
