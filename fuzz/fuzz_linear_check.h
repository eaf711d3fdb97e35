/* fuzz_linear_check.h - load one (possibly quantized) 2-D weight with sq_linear_load and
 * compare the kernels with the dequantized values: W e_j (matvec) and W X (matmul) must
 * reproduce column j of the dequantized matrix. Shared by fuzz_quantize and
 * fuzz_dequantize. */
#ifndef SQ_FUZZ_LINEAR_CHECK_H
#define SQ_FUZZ_LINEAR_CHECK_H

#include <math.h>

#include "fuzz_common.h"
#include "kernels/linear.h"

static inline int fuzz_close(float a, float b)
{
    if (a == b) return 1;
    double d = fabs((double)a - (double)b), s = fabs((double)a) + fabs((double)b);
    return d <= 1e-5 * s + 1e-30;
}

/* deq: rows x cols dequantized values (from sq_dequantize_model), or NULL to only run the
 * kernels. must_load: the file came from sq's own quantizer, so loading may not fail.
 * Returns 1 if the layer loaded. */
static inline int fuzz_linear_check(const sq_st_file *f, const char *name, size_t rows, size_t cols, const float *deq,
                                    int must_load)
{
    sq_linear L;
    sq_err e = {0};
    int rc = sq_linear_load(&L, f, name, NULL, rows, cols, &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        if (must_load) {
            fprintf(stderr, "sq_linear_load('%s', %zu x %zu) of sq's own output failed: %s\n", name, rows, cols, e.msg);
            abort();
        }
        return 0;
    }
    FUZZ_ASSERT(L.rows == rows && L.cols == cols);
    (void)sq_linear_bytes(&L);
    float *x = calloc(cols, sizeof(float)), *y = malloc(rows * sizeof(float));
    float *X = malloc(2 * cols * sizeof(float)), *Y = malloc(2 * rows * sizeof(float));
    FUZZ_ASSERT(x && y && X && Y);
    size_t ncheck = cols < 3 ? cols : 3;
    for (size_t t = 0; t < ncheck; t++) {
        size_t j = t == 0 ? 0 : t == 1 ? cols - 1 : cols / 2;
        x[j] = 1.0f;
        sq_linear_matvec(&L, x, y);
        x[j] = 0.0f;
        if (!deq) continue;
        for (size_t r = 0; r < rows; r++) {
            /* other columns contribute 0 * w, which is NaN for non-finite w */
            int finite = 1;
            for (size_t c = 0; c < cols && finite; c++) finite = isfinite(deq[r * cols + c]);
            if (!finite) continue;
            if (!fuzz_close(y[r], deq[r * cols + j])) {
                fprintf(stderr, "'%s' [%zu x %zu]: matvec W e_%zu row %zu = %.9g, dequantized %.9g\n", name, rows, cols, j,
                        r, y[r], deq[r * cols + j]);
                abort();
            }
        }
    }
    /* batched: rows of X are e_0 and all ones */
    memset(X, 0, 2 * cols * sizeof(float));
    X[0] = 1.0f;
    for (size_t c = 0; c < cols; c++) X[cols + c] = 1.0f;
    sq_linear_matmul(&L, X, 2, Y);
    if (deq)
        for (size_t r = 0; r < rows; r++) {
            int finite = 1;
            for (size_t c = 0; c < cols && finite; c++) finite = isfinite(deq[r * cols + c]);
            if (!finite) continue;
            if (!fuzz_close(Y[r], deq[r * cols])) {
                fprintf(stderr, "'%s' [%zu x %zu]: matmul row %zu = %.9g, dequantized %.9g\n", name, rows, cols, r, Y[r],
                        deq[r * cols]);
                abort();
            }
        }
    free(x);
    free(y);
    free(X);
    free(Y);
    sq_linear_free(&L);
    return 1;
}

#endif
