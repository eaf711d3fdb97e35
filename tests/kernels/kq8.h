/* kq8.h - kernel test cases for int8 activations (sq_exec.act == SQ_ACT_INT8), included
 * by kcases.h (same includer contract: KC_CHECK, KC_FAILS, kc_make).
 *
 * For every implementation of the build, factored layers (packed k = 1, paper affine with
 * 2-3 parts) at every code width 1..8, group sizes 32 / 64 / row / tensor, row counts that
 * do and don't fill the 8-row tiles, and 1-5 inputs:
 *   - sq_kernels_rows_q8 gives ref's bits (memcmp), whole and for a sub-range of rows;
 *   - ref agrees with a double-precision oracle of the canonical arithmetic (catches a
 *     wrong pairing of codes and activations, e.g. the nibble order);
 *   - through sq_linear_matmul_ex: a batch equals one input at a time (the batch and the
 *     one-input paths differ: unpacked bytes vs packed nibbles), and threads don't matter;
 *   - the int8 result stays within the activation-rounding bound of the float32 path:
 *     |y8 - y32| <= sum_j |w_j| * d_b / 2 (+ float slack).
 * Layers that don't qualify (cols or group not a multiple of 32) must report 0.
 */
#ifndef SQ_KQ8_H
#define SQ_KQ8_H

/* The canonical y of kernels_ref.h in double, from the quantized input A. */
static double kq8_oracle(const sq_linear *L, const float *wref, const sq_q8act *A, size_t i, size_t r)
{
    double y = 0;
    for (size_t j = 0; j < L->cols; j++)
        y += (double)wref[r * L->cols + j] * (double)A->d[i * A->nblk + j / SQ_QB] * (double)A->q[i * L->cols + j];
    if (L->bias) y += L->bias[r];
    return y;
}

static int kq8_layer(const sq_kimpl *K, const sq_linear *L, const float *wref, size_t n, double *worst)
{
    const size_t rows = L->rows, cols = L->cols;
    float *X = malloc(n * cols * sizeof(float)), *Yr = malloc(n * rows * sizeof(float));
    float *Yk = malloc(n * rows * sizeof(float)), *Y1 = malloc(n * rows * sizeof(float));
    float *Yf = malloc(n * rows * sizeof(float));
    for (size_t j = 0; j < n * cols; j++) X[j] = kc_f(-2, 2) * (kc_u32() % 9 == 0 ? 8.0f : 1.0f);
    if (n > 1)
        for (size_t j = 0; j < SQ_QB; j++) X[cols + j] = 0.0f; /* an all-zero block: d = 0 */
    sq_q8act A;
    int fails = 0;
    if (sq_q8act_make(&A, X, n, cols) != 0) {
        KC_CHECK(0, "%s", "sq_q8act_make failed");
        return 1;
    }
    int okr = sq_kernels_rows_q8(&sq_kimpl_ref, L, &A, Yr, 0, rows);
    int okk = sq_kernels_rows_q8(K, L, &A, Yk, 0, rows);
    KC_CHECK(okr && okk, "%s: %s bits %d k %d group %zu: not taken", K->name, kc_kind_name(L->kind), L->bits, L->k,
             L->group);
    if (okr && okk) {
        size_t where;
        if (!kc_same(Yr, Yk, n * rows, &where)) {
            KC_CHECK(0, "%s q8 %s bits %d k %d group %zu rows %zu cols %zu n %zu: [%zu] %.9g vs ref %.9g", K->name,
                     kc_kind_name(L->kind), L->bits, L->k, L->group, rows, cols, n, where, Yk[where], Yr[where]);
            fails++;
        }
        /* a sub-range of rows gives the same values */
        if (rows > 3) {
            memset(Yk, 0, n * rows * sizeof(float));
            sq_kernels_rows_q8(K, L, &A, Yk, 3, rows);
            for (size_t i = 0; i < n; i++)
                if (memcmp(Yk + i * rows + 3, Yr + i * rows + 3, (rows - 3) * sizeof(float))) {
                    KC_CHECK(0, "%s q8 rows [3, %zu) differ from the whole", K->name, rows);
                    fails++;
                    break;
                }
        }
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < rows; r++) {
                double o = kq8_oracle(L, wref, &A, i, r), e = fabs(o - Yr[i * rows + r]) / (1.0 + fabs(o));
                if (e > *worst) *worst = e;
            }
        /* public entry points: batch vs one at a time, threads, and the float32 bound */
        sq_exec ex = {.parallel = kc_backwards, .pool = NULL, .threads = 3, .act = SQ_ACT_INT8};
        sq_exec ex32 = {0};
        sq_kernels_use(K->name);
        sq_linear_matmul_ex(L, X, n, Yk, &ex);
        for (size_t i = 0; i < n; i++) sq_linear_matmul_ex(L, X + i * cols, 1, Y1 + i * rows, &ex);
        sq_linear_matmul_ex(L, X, n, Yf, &ex32);
        sq_kernels_use("best");
        if (!kc_same(Yk, Yr, n * rows, &where) || !kc_same(Y1, Yr, n * rows, &where)) {
            KC_CHECK(0, "%s q8 matmul (batch %zu, threads) vs rows: [%zu] %.9g / %.9g vs %.9g", K->name, n, where,
                     Yk[where], Y1[where], Yr[where]);
            fails++;
        }
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < rows; r++) {
                double bound = 0;
                for (size_t j = 0; j < cols; j++)
                    bound += fabs(wref[r * cols + j]) * A.d[i * A.nblk + j / SQ_QB] * 0.5;
                double diff = fabs((double)Yf[i * rows + r] - Yr[i * rows + r]);
                if (diff > bound * 1.01 + 1e-4 * (1.0 + fabs(Yf[i * rows + r]))) {
                    KC_CHECK(0, "%s q8 vs f32: row %zu input %zu differ by %g, bound %g", K->name, r, i, diff, bound);
                    fails++;
                    i = n;
                    break;
                }
            }
    }
    sq_q8act_free(&A);
    free(X);
    free(Yr);
    free(Yk);
    free(Y1);
    free(Yf);
    return fails;
}

static void kq8_run(const sq_kimpl *K, void (*report)(const char *what, int failed))
{
    static const size_t rows_list[] = {1, 7, 8, 13, 33};
    static const size_t cols_list[] = {32, 96, 256};
    static const size_t n_list[] = {1, 2, 3, 5};
    int before = KC_FAILS, layers = 0;
    double worst = 0;
    for (int kind = 0; kind < 2; kind++)
        for (int bits = 1; bits <= 8; bits++)
            for (size_t ci = 0; ci < sizeof cols_list / sizeof *cols_list; ci++)
                for (int gi = 0; gi < 4; gi++) {
                    size_t cols = cols_list[ci], group = gi == 0 ? 32 : gi == 1 ? 64 : gi == 2 ? cols : 0;
                    if (group && cols % group) continue;
                    size_t rows = rows_list[(size_t)(bits + gi) % 5], n = n_list[(size_t)(bits + (int)ci) % 4];
                    int k = kind == 0 ? 1 : 2 + bits % 2;
                    float *wref = malloc(rows * cols * sizeof(float));
                    sq_linear L;
                    kc_make(&L, kind == 0 ? SQ_LIN_PACKED : SQ_LIN_PAPER, rows, cols, bits, k, group, bits % 3 == 0,
                            wref);
                    if (!(kind == 1 && bits == 8)) { /* paper INT8 is sym8: not a factored layer */
                        kq8_layer(K, &L, wref, n, &worst);
                        layers++;
                    } else
                        KC_CHECK(!sq_kq8_qualifies(&L), "%s", "sym8 paper layer taken by the int8 path");
                    kc_free(&L);
                    free(wref);
                }
    /* layers the int8 path must leave to float32 */
    sq_linear L;
    kc_make(&L, SQ_LIN_PACKED, 4, 48, 4, 1, 16, 0, NULL);
    KC_CHECK(!sq_kq8_qualifies(&L), "%s", "a 48-column layer with groups of 16 taken by the int8 path");
    kc_free(&L);
    kc_make(&L, SQ_LIN_PACKED, 4, 64, 4, 3, 32, 0, NULL);
    KC_CHECK(!sq_kq8_qualifies(&L), "%s", "a packed k=3 layer taken by the int8 path");
    kc_free(&L);
    /* float32 group sums with cancellation; a wrong pairing of codes is O(1) */
    KC_CHECK(worst <= 1e-4, "q8 ref vs double oracle: %g", worst);
    char what[160];
    snprintf(what, sizeof what, "%s: %d int8-activation layers bit-identical to ref, batch = one at a time (ref vs oracle %.2g)",
             K->name, layers, worst);
    report(what, KC_FAILS - before);
}

#endif
