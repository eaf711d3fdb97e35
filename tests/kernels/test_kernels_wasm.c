/* test_kernels_wasm.c - the kernel twins inside WebAssembly (make kernels-test).
 *
 * Built with the flags of sq.wasm (clang --target=wasm32-wasi -O3 -msimd128) together
 * with every core/kernels/ file but linear.c, and core/dtype.c, and run under node:wasi by
 * tests/kernels/run.mjs:
 *   test_kernels.wasm            every case of kcases.h for every implementation of the
 *                                build (simd128 vs ref bit for bit, ref vs a double
 *                                oracle); ends with "N passed, N failed"
 *   test_kernels.wasm bench [S [KEY]]  GB/s of weight bytes per kernel, scalar (ref) vs SIMD
 *                                (simd128): one JSON object on a line starting "BENCH "
 * It builds natively too (ref vs avx512 or avx2), which gives the native column of the bench.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int kc_fail, kc_shown;
#define KC_FAILS kc_fail
#define KC_CHECK(cond, ...)                                                                \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            kc_fail++;                                                                     \
            if (kc_shown++ < 20) {                                                         \
                fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);                   \
                fprintf(stderr, __VA_ARGS__);                                              \
                fprintf(stderr, "\n");                                                     \
            }                                                                              \
        }                                                                                  \
    } while (0)
#include "kcases.h"

/* The SIMD twin the bench compares with ref: the one sq uses on this build and CPU. */
static const char *twin_name(void)
{
    sq_kernels_use("best");
    const char *name = sq_kernels_name();
    return strcmp(name, "ref") == 0 ? NULL : name;
}

/* ---------------- tests ---------------- */

static int passed, failed;
static void result(const char *name, int nfailed)
{
    if (nfailed < 0) printf("# %s\n", name);
    else if (nfailed == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s (%d checks)\n", name, nfailed);
    }
    fflush(stdout);
}

static int run_tests(void)
{
    printf("# kernels in use: %s\n", sq_kernels_name());
#if defined(__wasm_simd128__)
    {
        int before = kc_fail;
        KC_CHECK(strcmp(sq_kernels_name(), "simd128") == 0, "a -msimd128 build selects %s, not simd128", sq_kernels_name());
        result("wasm build selects the simd128 kernels", kc_fail - before);
    }
#endif
    kc_run_all(result);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* ---------------- bench ---------------- */

/* CPU time of this process: the machine may be shared, and the kernels run on one thread
 * here, so CPU time is the kernel's own time (memory stalls included). */
static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t weight_bytes(const sq_linear *L)
{
    size_t rc = L->rows * L->cols, P = L->sym8 ? L->rows : L->group ? L->rows * L->groups : 1, n = 0;
    switch (L->kind) {
    case SQ_LIN_F32: return rc * 4;
    case SQ_LIN_BF16:
    case SQ_LIN_F16: return rc * 2;
    case SQ_LIN_PACKED: return L->rows * (L->row_bytes + L->id_row_bytes) + 4 * P * (size_t)L->k;
    default:
        for (int c = 0; c < L->k; c++) n += L->rows * L->row_bytes + P * 4 * (L->parts[c].min ? 2 : 1);
        return n;
    }
}

/* Best GB/s (weight bytes per second) of Y = X W^T for n inputs with implementation impl. */
static double bench_layer(const char *impl, const sq_linear *L, size_t n, double secs)
{
    if (sq_kernels_use(impl) != 0) return 0;
    float *X = malloc(n * L->cols * sizeof(float)), *Y = malloc(n * L->rows * sizeof(float));
    for (size_t i = 0; i < n * L->cols; i++) X[i] = kc_f(-1, 1);
    double best = 0;
    for (int round = 0; round < 9; round++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            sq_linear_matmul(L, X, n, Y);
            reps++;
            t = now() - t0;
        } while (t < secs / 9 || reps < 2);
        double gbs = (double)weight_bytes(L) * reps / t / 1e9;
        if (gbs > best) best = gbs;
    }
    free(X);
    free(Y);
    sq_kernels_use("best");
    return best;
}

static double bench_convert(const char *impl, int f16, double secs)
{
    if (sq_kernels_use(impl) != 0) return 0;
    const sq_kimpl *K = sq_kernels_get();
    size_t n = 1 << 20;
    uint16_t *h = malloc(n * 2);
    float *f = malloc(n * 4);
    for (size_t i = 0; i < n; i++) h[i] = f16 ? sq_f32_to_f16(kc_f(-2, 2)) : sq_f32_to_bf16(kc_f(-2, 2));
    double best = 0;
    for (int round = 0; round < 9; round++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            (f16 ? K->f16_f32 : K->bf16_f32)(h, n, f);
            reps++;
            t = now() - t0;
        } while (t < secs / 9 || reps < 2);
        double gbs = (double)n * 2 * reps / t / 1e9;
        if (gbs > best) best = gbs;
    }
    free(h);
    free(f);
    sq_kernels_use("best");
    return best;
}

static int run_bench(double secs, const char *only)
{
    const char *twin = twin_name();
    static const struct {
        const char *key;
        int kind, bits, k;
        size_t group, n;
    } cases[] = {
        {"matvec_f32", SQ_LIN_F32, 0, 0, 0, 1},          {"matvec_bf16", SQ_LIN_BF16, 0, 0, 0, 1},
        {"matvec_f16", SQ_LIN_F16, 0, 0, 0, 1},          {"matvec_int8", SQ_LIN_PACKED, 8, 1, 128, 1},
        {"matvec_int4", SQ_LIN_PACKED, 4, 1, 128, 1},    {"matvec_int2", SQ_LIN_PACKED, 2, 1, 128, 1},
        {"matvec_int3", SQ_LIN_PACKED, 3, 1, 128, 1},    {"matvec_int4_split3", SQ_LIN_PACKED, 4, 3, 128, 1},
        {"matvec_int2_split3", SQ_LIN_PACKED, 2, 3, 128, 1}, {"matvec_paper_int4_k3", SQ_LIN_PAPER, 4, 3, 128, 1},
        {"matvec_paper_int8_k3", SQ_LIN_PAPER, 8, 3, 0, 1}, {"matmul8_f32", SQ_LIN_F32, 0, 0, 0, 8},
        {"matmul8_int4", SQ_LIN_PACKED, 4, 1, 128, 8},   {"matmul8_int4_split3", SQ_LIN_PACKED, 4, 3, 128, 8},
    };
    size_t rows = 1024, cols = 4096;
    printf("BENCH {\"target\": \"%s\", \"twin\": \"%s\", \"rows\": %zu, \"cols\": %zu", 
#if defined(__wasm__)
           "wasm32",
#else
           "native",
#endif
           twin ? twin : "none", rows, cols);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (only && !strstr(cases[c].key, only)) continue;
        sq_linear L;
        kc_make(&L, cases[c].kind, rows, cols, cases[c].bits, cases[c].k, cases[c].group, 0, NULL);
        double s = bench_layer("ref", &L, cases[c].n, secs), v = twin ? bench_layer(twin, &L, cases[c].n, secs) : 0;
        printf(", \"%s_scalar_gbs\": %.3f, \"%s_simd_gbs\": %.3f, \"%s_speedup\": %.2f", cases[c].key, s, cases[c].key, v,
               cases[c].key, s > 0 ? v / s : 0);
        fflush(stdout);
        kc_free(&L);
    }
    for (int f16 = 0; f16 < 2 && !only; f16++) {
        const char *key = f16 ? "convert_f16" : "convert_bf16";
        double s = bench_convert("ref", f16, secs), v = twin ? bench_convert(twin, f16, secs) : 0;
        printf(", \"%s_scalar_gbs\": %.3f, \"%s_simd_gbs\": %.3f, \"%s_speedup\": %.2f", key, s, key, v, key,
               s > 0 ? v / s : 0);
    }
    printf("}\n");
    return 0;
}

int main(int argc, char **argv)
{
    /* bench [SECS [KEY]]: KEY limits the cases to those whose name contains it */
    if (argc > 1 && strcmp(argv[1], "bench") == 0) return run_bench(argc > 2 ? atof(argv[2]) : 0.6, argc > 3 ? argv[3] : NULL);
    return run_tests();
}
