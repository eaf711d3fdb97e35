/* kvec.h - kernel test cases for the attention helpers of linear.h (sq_vec_dots,
 * sq_vec_wsum), included by kcases.h (same includer contract). For every implementation
 * of the build: the same bits as ref for head sizes that are and aren't multiples of the
 * 16 canonical lanes and of the SIMD widths (1..130), 1..40 positions, strided rows; ref
 * against a double-precision oracle. */
#ifndef SQ_KVEC_H
#define SQ_KVEC_H

static void kvec_run(const sq_kimpl *K, void (*report)(const char *what, int failed))
{
    static const size_t ns[] = {1, 7, 16, 33, 64, 72, 128, 130};
    int before = KC_FAILS, cases = 0;
    double worst = 0;
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
        for (size_t T = 1; T <= 40; T += 13) {
            size_t n = ns[ni], ld = n + 3;
            float *q = malloc(n * sizeof(float)), *M = malloc(T * ld * sizeof(float)), *p = malloc(T * sizeof(float));
            float *a = malloc((T + n) * sizeof(float)), *b = malloc((T + n) * sizeof(float));
            for (size_t j = 0; j < n; j++) q[j] = kc_f(-2, 2);
            for (size_t j = 0; j < T * ld; j++) M[j] = kc_f(-2, 2);
            for (size_t t = 0; t < T; t++) p[t] = kc_f(0, 1);
            sq_kernels_use("ref");
            sq_vec_dots(q, M, ld, T, n, a);
            sq_vec_wsum(p, M, ld, T, n, a + T);
            sq_kernels_use(K->name);
            sq_vec_dots(q, M, ld, T, n, b);
            sq_vec_wsum(p, M, ld, T, n, b + T);
            sq_kernels_use("best");
            size_t where;
            KC_CHECK(kc_same(a, b, T + n, &where), "%s vec n %zu T %zu: [%zu] %.9g vs ref %.9g", K->name, n, T, where,
                     b[where], a[where]);
            for (size_t t = 0; t < T; t++) {
                double o = 0, r = 0;
                for (size_t j = 0; j < n; j++) o += (double)q[j] * M[t * ld + j];
                for (size_t j = 0; j < n; j++) r += fabs((double)q[j] * M[t * ld + j]);
                double e = fabs(o - a[t]) / (1.0 + r);
                if (e > worst) worst = e;
            }
            for (size_t j = 0; j < n; j++) {
                double o = 0, r = 0;
                for (size_t t = 0; t < T; t++) o += (double)p[t] * M[t * ld + j];
                for (size_t t = 0; t < T; t++) r += fabs((double)p[t] * M[t * ld + j]);
                double e = fabs(o - a[T + j]) / (1.0 + r);
                if (e > worst) worst = e;
            }
            cases++;
            free(q);
            free(M);
            free(p);
            free(a);
            free(b);
        }
    KC_CHECK(worst <= 1e-6, "vec ref vs double oracle: %g", worst);
    char what[160];
    snprintf(what, sizeof what, "%s: %d attention dot / weighted-sum cases bit-identical to ref (ref vs oracle %.2g)",
             K->name, cases, worst);
    report(what, KC_FAILS - before);
}

#endif
