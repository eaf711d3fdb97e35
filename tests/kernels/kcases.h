/* kcases.h - kernel test cases shared by the native unit test (tests/unit/test_kernels.c:
 * ref vs avx2 and avx512) and the wasm one (tests/kernels/test_kernels_wasm.c: ref vs
 * simd128). kc_run_all walks the build's list of implementations (dispatch.c), so a new
 * ISA is tested here without new test code, and the layers cover every code width 2..8,
 * so a width added to an implementation's row-kernel table is tested too.
 *
 * Every implementation must give the reference's bits (kernels_ref.h): layers of every
 * layout and many geometries (bits, k, group sizes that do and don't divide the row,
 * rows shorter than a block) are run through sq_kernels_rows and the public entry points
 * with each implementation and compared with memcmp; the reference is also checked
 * against a double-precision oracle, matmul against matvec, and the result against the
 * thread count (a fake parallel-for that runs tasks backwards).
 *
 * The includer defines KC_CHECK(cond, fmt, ...) (count a failure, print it) and KC_FAILS
 * (the count, an int lvalue) before including this file, and links every core/kernels/ file
 * but linear.c, and core/dtype.c.
 */
#ifndef SQ_KCASES_H
#define SQ_KCASES_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "formats/formats.h"
#include "kernels/kernels_ref.h"
#include "kernels/linear.h"

static uint64_t kc_rng = 0x9e3779b97f4a7c15ull;
static uint32_t kc_u32(void)
{
    kc_rng ^= kc_rng << 13;
    kc_rng ^= kc_rng >> 7;
    kc_rng ^= kc_rng << 17;
    return (uint32_t)(kc_rng >> 32);
}
static float kc_f(float lo, float hi) { return lo + (hi - lo) * (float)(kc_u32() >> 8) * (1.0f / 16777216.0f); }

static void kc_pack(const uint8_t *v, size_t n, int bits, uint8_t *out)
{
    memset(out, 0, (n * (size_t)bits + 7) / 8);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < bits; b++)
            if (v[i] >> b & 1) out[(i * (size_t)bits + (size_t)b) / 8] |= (uint8_t)(1u << ((i * (size_t)bits + (size_t)b) % 8));
}

/* Free what kc_make allocated (sq_linear_free lives in linear.c, not linked in wasm). */
static void kc_free(sq_linear *L)
{
    free(L->w);
    free(L->w16);
    free(L->codes);
    free(L->ids);
    free(L->scale_bf16);
    free(L->min_bf16);
    for (int c = 0; c < SQ_LIN_MAX_PARTS; c++) {
        free(L->parts[c].codes);
        free(L->parts[c].scale);
        free(L->parts[c].min);
    }
    free(L->bias);
    memset(L, 0, sizeof *L);
}

/* A random layer. kind: SQ_LIN_*; for PAPER, bits 8 means sym8. wref (rows*cols, may be
 * NULL) gets the weights as double-checkable floats. */
static void kc_make(sq_linear *L, int kind, size_t rows, size_t cols, int bits, int k, size_t group, int bias,
                    float *wref)
{
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->rows = rows;
    L->cols = cols;
    L->groups = 1;
    size_t n = rows * cols;
    if (kind == SQ_LIN_F32) {
        L->w = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) L->w[i] = kc_f(-1, 1);
        if (wref) memcpy(wref, L->w, n * sizeof(float));
    } else if (kind == SQ_LIN_BF16 || kind == SQ_LIN_F16) {
        L->w16 = malloc(n * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) {
            float v = kc_f(-1, 1);
            if (kc_u32() % 17 == 0) v *= 1e-6f; /* F16 subnormals */
            L->w16[i] = kind == SQ_LIN_BF16 ? sq_f32_to_bf16(v) : sq_f32_to_f16(v);
            if (wref) wref[i] = kind == SQ_LIN_BF16 ? sq_bf16_to_f32(L->w16[i]) : sq_f16_to_f32(L->w16[i]);
        }
    } else {
        /* the layout a file of this format has (formats.h, as the loader gets it) */
        int fmt = kind == SQ_LIN_PACKED ? SQ_FMT_PACKED : kind == SQ_LIN_PAPER ? SQ_FMT_PAPER : SQ_FMT_CODEBOOK;
        sq_qgeom g = sq_qgeom_make(fmt, bits, kind == SQ_LIN_CODEBOOK ? 1 : k, rows, cols, group);
        L->bits = bits;
        L->k = k;
        L->sym8 = g.sym8;
        L->group = g.group;
        L->groups = g.groups;
        L->row_bytes = g.row_bytes;
        size_t P = g.params;
        uint8_t *c = malloc(cols), *id = malloc(cols);
        if (wref) memset(wref, 0, n * sizeof(float));
        if (kind == SQ_LIN_CODEBOOK) {
            /* a random int8 table (any bytes are valid; -128 included) */
            L->k = 1;
            L->codes = malloc(rows * L->row_bytes + 1);
            L->scale_bf16 = malloc(P * 2);
            memset(L->table, 0, sizeof L->table);
            for (int t = 0; t < (1 << bits); t++) L->table[t] = (int8_t)(int)(kc_u32() % 256 - 128);
            for (size_t i = 0; i < P; i++) L->scale_bf16[i] = sq_f32_to_bf16(kc_f(0.0001f, 0.01f));
            for (size_t r = 0; r < rows; r++) {
                for (size_t j = 0; j < cols; j++) {
                    c[j] = (uint8_t)(kc_u32() % (1u << bits));
                    size_t p = L->group ? r * L->groups + j / L->group : 0;
                    if (wref) wref[r * cols + j] = sq_bf16_to_f32(L->scale_bf16[p]) * (float)L->table[c[j]];
                }
                kc_pack(c, cols, bits, L->codes + r * L->row_bytes);
            }
        } else if (kind == SQ_LIN_PACKED) {
            int ib = sq_kid_bits(k);
            L->id_row_bytes = g.id_bytes;
            L->codes = malloc(rows * L->row_bytes + 1);
            L->ids = k > 1 ? malloc(rows * L->id_row_bytes + 1) : NULL;
            L->scale_bf16 = malloc(P * (size_t)k * 2);
            L->min_bf16 = malloc(P * (size_t)k * 2);
            for (size_t i = 0; i < P * (size_t)k; i++) {
                L->scale_bf16[i] = sq_f32_to_bf16(kc_f(0.001f, 0.1f));
                L->min_bf16[i] = sq_f32_to_bf16(kc_f(-0.5f, 0.5f));
            }
            for (size_t r = 0; r < rows; r++) {
                for (size_t j = 0; j < cols; j++) {
                    c[j] = (uint8_t)(kc_u32() % (1u << bits));
                    id[j] = (uint8_t)(kc_u32() % (unsigned)k);
                    size_t p = L->group ? r * L->groups + j / L->group : 0;
                    if (wref)
                        wref[r * cols + j] = sq_bf16_to_f32(L->scale_bf16[p * (size_t)k + id[j]]) * (float)c[j] +
                                             sq_bf16_to_f32(L->min_bf16[p * (size_t)k + id[j]]);
                }
                kc_pack(c, cols, bits, L->codes + r * L->row_bytes);
                if (k > 1) kc_pack(id, cols, ib, L->ids + r * L->id_row_bytes);
            }
        } else { /* paper */
            for (int part = 0; part < k; part++) {
                sq_lin_part *p = &L->parts[part];
                p->codes = malloc(rows * L->row_bytes + 1);
                p->scale = malloc(P * sizeof(float));
                for (size_t i = 0; i < P; i++) p->scale[i] = kc_f(0.001f, 0.1f);
                if (!L->sym8) {
                    p->min = malloc(P * sizeof(float));
                    for (size_t i = 0; i < P; i++) p->min[i] = kc_f(-0.5f, 0.5f);
                }
                for (size_t r = 0; r < rows; r++) {
                    for (size_t j = 0; j < cols; j++) {
                        if (L->sym8) {
                            int8_t q = (int8_t)(int)(kc_u32() % 256 - 128);
                            p->codes[r * cols + j] = (uint8_t)q;
                            if (wref) wref[r * cols + j] += (float)q * p->scale[r];
                        } else {
                            c[j] = (uint8_t)(kc_u32() % (1u << bits));
                            size_t pi = L->group ? r * L->groups + j / L->group : 0;
                            if (wref) wref[r * cols + j] += (float)c[j] * p->scale[pi] + p->min[pi];
                        }
                    }
                    if (!L->sym8) kc_pack(c, cols, bits, p->codes + r * L->row_bytes);
                }
            }
        }
        free(c);
        free(id);
    }
    if (bias) {
        L->bias = malloc(rows * sizeof(float));
        for (size_t r = 0; r < rows; r++) L->bias[r] = kc_f(-1, 1);
    }
}

static const char *kc_kind_name(int kind)
{
    switch (kind) {
    case SQ_LIN_F32: return "f32";
    case SQ_LIN_BF16: return "bf16";
    case SQ_LIN_F16: return "f16";
    case SQ_LIN_PACKED: return "packed";
    case SQ_LIN_CODEBOOK: return "codebook";
    default: return "paper";
    }
}

/* The canonical group sums [n, G] (as the dispatcher computes them), or NULL when the
 * layout has none. */
static float *kc_group_sums(const sq_linear *L, const float *X, size_t n)
{
    if (!((L->kind == SQ_LIN_PACKED && L->k == 1) || (L->kind == SQ_LIN_PAPER && !L->sym8))) return NULL;
    size_t gsz = sq_kgroup_size(L), G = (L->cols + gsz - 1) / gsz;
    float *gs = malloc(n * G * sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (size_t g = 0; g < G; g++) {
            size_t g0 = g * gsz, g1 = g0 + gsz < L->cols ? g0 + gsz : L->cols;
            gs[i * G + g] = sq_ksum16(X + i * L->cols + g0, g1 - g0);
        }
    return gs;
}

/* A parallel-for that runs the tasks backwards on the calling thread. */
static void kc_backwards(void *pool, size_t n, sq_task_fn fn, void *arg)
{
    (void)pool;
    for (size_t i = n; i-- > 0;) fn(arg, i);
}

static int kc_same(const float *a, const float *b, size_t n, size_t *where)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *where = i;
            return 0;
        }
    return 1;
}

/* Run one layer: impl vs ref (with and without group sums, so both the fused and the
 * generic path run), matmul vs matvec, threads, and the double oracle. Returns the
 * worst relative error against the oracle. */
static double kc_check_layer(const sq_kimpl *K, const sq_linear *L, const float *wref, const char *what)
{
    size_t rows = L->rows, cols = L->cols;
    static const size_t ns[] = {1, 2, 3, 5, 17};
    size_t nmax = 17;
    float *X = malloc(nmax * cols * sizeof(float));
    float *Yr = malloc(nmax * rows * sizeof(float)), *Yk = malloc(nmax * rows * sizeof(float));
    float *Yg = malloc(nmax * rows * sizeof(float)), *y1 = malloc(rows * sizeof(float));
    for (size_t i = 0; i < nmax * cols; i++) X[i] = kc_f(-1, 1);
    double worst = 0;
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        size_t n = ns[t], where = 0;
        float *gs = kc_group_sums(L, X, n);
        sq_kernels_rows(&sq_kimpl_ref, L, X, n, Yr, gs, 0, rows);
        sq_kernels_rows(K, L, X, n, Yk, gs, 0, rows);
        KC_CHECK(kc_same(Yr, Yk, n * rows, &where), "%s %s n=%zu: differs from ref at %zu (%.9g vs %.9g)", what, K->name,
                 n, where, Yk[where], Yr[where]);
        sq_kernels_rows(K, L, X, n, Yg, NULL, 0, rows); /* generic path (group sums computed inside) */
        KC_CHECK(kc_same(Yr, Yg, n * rows, &where), "%s %s n=%zu generic: differs from ref at %zu", what, K->name, n,
                 where);
        /* a row range */
        if (rows > 2) {
            memset(Yg, 0, n * rows * sizeof(float));
            sq_kernels_rows(K, L, X, n, Yg, gs, 1, rows - 1);
            int ok = 1;
            for (size_t i = 0; i < n; i++)
                for (size_t r = 1; r + 1 < rows; r++) ok &= memcmp(&Yg[i * rows + r], &Yr[i * rows + r], 4) == 0;
            KC_CHECK(ok, "%s %s n=%zu: rows [1, %zu) differ", what, K->name, n, rows - 1);
        }
        free(gs);
        /* public entry points with the implementation selected: matmul, threads, matvec */
        const char *prev = sq_kernels_name();
        sq_kernels_use(K->name);
        sq_linear_matmul(L, X, n, Yg);
        KC_CHECK(kc_same(Yr, Yg, n * rows, &where), "%s %s n=%zu: sq_linear_matmul differs at %zu", what, K->name, n, where);
        for (int threads = 2; threads <= 9; threads += 7) {
            sq_exec ex = {kc_backwards, NULL, threads, SQ_ACT_F32};
            sq_linear_matmul_ex(L, X, n, Yg, &ex);
            KC_CHECK(kc_same(Yr, Yg, n * rows, &where), "%s %s n=%zu threads=%d: differs at %zu", what, K->name, n, threads,
                     where);
        }
        for (size_t i = 0; i < n; i++) {
            sq_linear_matvec(L, X + i * cols, y1);
            KC_CHECK(kc_same(Yr + i * rows, y1, rows, &where), "%s %s: matvec of input %zu differs from matmul at %zu", what,
                     K->name, i, where);
        }
        sq_kernels_use(prev);
        if (wref)
            for (size_t i = 0; i < n; i++)
                for (size_t r = 0; r < rows; r++) {
                    double ref = L->bias ? L->bias[r] : 0, mag = fabs(ref);
                    for (size_t j = 0; j < cols; j++) {
                        ref += (double)wref[r * cols + j] * X[i * cols + j];
                        mag += fabs((double)wref[r * cols + j] * X[i * cols + j]);
                    }
                    double err = fabs(Yr[i * rows + r] - ref) / (mag > 0 ? mag : 1);
                    if (err > worst) worst = err;
                }
    }
    free(X);
    free(Yr);
    free(Yk);
    free(Yg);
    free(y1);
    return worst;
}

/* All layouts and geometries through K. Returns the number of layers checked. */
static int kc_run_layers(const sq_kimpl *K, double *worst_out)
{
    static const size_t colss[] = {8, 16, 48, 100, 128, 320, 1040};
    static const size_t groups[] = {0, 16, 32, 100, 128, 9999};
    int count = 0;
    double worst = 0;
    for (size_t ci = 0; ci < sizeof colss / sizeof colss[0]; ci++) {
        size_t cols = colss[ci], rows = 3 + (ci % 4);
        float *wref = malloc(rows * cols * sizeof(float));
        char what[160];
        sq_linear L;
        for (int kind = SQ_LIN_F32; kind <= SQ_LIN_F16; kind++) {
            if (kind == SQ_LIN_PACKED || kind == SQ_LIN_PAPER) continue;
            kc_make(&L, kind, rows, cols, 0, 0, 0, (int)ci % 2, wref);
            snprintf(what, sizeof what, "%s [%zu x %zu]", kc_kind_name(kind), rows, cols);
            double e = kc_check_layer(K, &L, wref, what);
            if (e > worst) worst = e;
            kc_free(&L);
            count++;
        }
        for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
            size_t group = groups[gi] == 9999 ? cols : groups[gi];
            if (group > cols) continue;
            static const int bitss[] = {2, 3, 4, 5, 6, 7, 8}; /* every code width */
            static const int ks[] = {1, 2, 3, 4, 5, 9};
            for (int bi = 0; bi < (int)(sizeof bitss / sizeof bitss[0]); bi++)
                for (int ki = 0; ki < 6; ki++) {
                    int bits = bitss[bi], k = ks[ki];
                    if (cols > 400 && (bi + ki + (int)gi) % 3) continue; /* fewer big ones */
                    if (ki == 0 && bits <= 4) { /* a 16-entry table: up to 4 bits */
                        kc_make(&L, SQ_LIN_CODEBOOK, rows, cols, bits, 1, group, (bi + (int)gi) % 2, wref);
                        snprintf(what, sizeof what, "codebook bits %d group %zu [%zu x %zu]", bits, group, rows, cols);
                        double ec = kc_check_layer(K, &L, wref, what);
                        if (ec > worst) worst = ec;
                        kc_free(&L);
                        count++;
                    }
                    kc_make(&L, SQ_LIN_PACKED, rows, cols, bits, k, group, (bi + ki) % 2, wref);
                    snprintf(what, sizeof what, "packed bits %d k %d group %zu [%zu x %zu]", bits, k, group, rows, cols);
                    double e = kc_check_layer(K, &L, wref, what);
                    if (e > worst) worst = e;
                    kc_free(&L);
                    count++;
                    if (k > 3) continue;
                    kc_make(&L, SQ_LIN_PAPER, rows, cols, bits, k, group, (bi + ki + 1) % 2, wref);
                    snprintf(what, sizeof what, "paper bits %d k %d group %zu [%zu x %zu]", bits, k, group, rows, cols);
                    e = kc_check_layer(K, &L, wref, what);
                    if (e > worst) worst = e;
                    kc_free(&L);
                    count++;
                }
        }
        free(wref);
    }
    *worst_out = worst;
    return count;
}

/* The element-wise primitives over edge cases: unpack at every offset and length, every
 * BF16/F16 bit pattern, dequantization with every table size. */
static void kc_run_primitives(const sq_kimpl *K)
{
    /* unpack */
    uint8_t src[64], a[300], b[300];
    for (int i = 0; i < 64; i++) src[i] = (uint8_t)kc_u32();
    for (int bits = 1; bits <= 8; bits++)
        for (size_t j = 0; j < 40; j++) {
            size_t maxn = (64 * 8) / (size_t)bits - j;
            for (size_t n = 0; n <= maxn && n < 300; n += 1 + n / 8) {
                sq_kimpl_ref.unpack(src, j, bits, n, a);
                K->unpack(src, j, bits, n, b);
                KC_CHECK(memcmp(a, b, n) == 0, "%s unpack bits %d j %zu n %zu", K->name, bits, j, n);
                int ok = 1;
                for (size_t i = 0; i < n; i++) ok &= a[i] == sq_kget_bits(src, j + i, bits);
                KC_CHECK(ok, "ref unpack bits %d j %zu n %zu differs from get_bits", bits, j, n);
            }
        }
    /* every 16-bit pattern as BF16 and F16 */
    uint16_t *h = malloc(65536 * 2);
    float *fr = malloc(65536 * 4), *fk = malloc(65536 * 4);
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    size_t where = 0;
    for (int half = 0; half < 2; half++) {
        for (size_t off = 3; off-- > 0;) { /* odd starts and lengths; off = 0 last */
            size_t n = 65536 - off * 5;
            (half ? sq_kimpl_ref.f16_f32 : sq_kimpl_ref.bf16_f32)(h + off, n, fr);
            (half ? K->f16_f32 : K->bf16_f32)(h + off, n, fk);
            KC_CHECK(kc_same(fr, fk, n, &where), "%s %s->f32 differs for 0x%04x", K->name, half ? "f16" : "bf16",
                     (unsigned)h[off + where]);
        }
        int ok = 1;
        for (uint32_t i = 0; i < 65536; i++) {
            float v = half ? sq_f16_to_f32((uint16_t)i) : sq_bf16_to_f32((uint16_t)i);
            ok &= memcmp(&v, &fr[i], 4) == 0;
        }
        KC_CHECK(ok, "ref %s->f32 differs from dtype.c", half ? "f16" : "bf16");
    }
    /* u8 / i8 -> f32 */
    uint8_t bytes[300];
    for (int i = 0; i < 300; i++) bytes[i] = (uint8_t)i;
    for (size_t n = 0; n < 300; n += 7) {
        sq_kimpl_ref.u8_f32(bytes, n, fr);
        K->u8_f32(bytes, n, fk);
        KC_CHECK(kc_same(fr, fk, n, &where), "%s u8->f32 n %zu", K->name, n);
        sq_kimpl_ref.i8_f32((const int8_t *)bytes, n, fr);
        K->i8_f32((const int8_t *)bytes, n, fk);
        KC_CHECK(kc_same(fr, fk, n, &where), "%s i8->f32 n %zu", K->name, n);
    }
    /* table lookup (codebook): every code 0..15 against every int8 value */
    {
        int8_t tab[16];
        uint8_t code[300];
        for (int round = 0; round < 16; round++) {
            for (int t = 0; t < 16; t++) tab[t] = (int8_t)(int)((t * 16 + round * 7) % 256 - 128);
            for (int i = 0; i < 300; i++) code[i] = (uint8_t)(kc_u32() % 16);
            for (size_t n = 0; n < 300; n += 11) {
                sq_kimpl_ref.lut_f32(code, tab, n, fr);
                K->lut_f32(code, tab, n, fk);
                KC_CHECK(kc_same(fr, fk, n, &where), "%s lut_f32 n %zu", K->name, n);
            }
            int ok = 1;
            sq_kimpl_ref.lut_f32(code, tab, 298, fr);
            for (size_t i = 0; i < 298; i++) ok &= fr[i] == (float)tab[code[i]];
            KC_CHECK(ok, "ref lut_f32 is not table[code]");
        }
    }
    /* dequant */
    for (int k = 1; k <= SQ_KTAB; k++) {
        float ts[SQ_KTAB] = {0}, tm[SQ_KTAB] = {0};
        for (int c = 0; c < k; c++) {
            ts[c] = kc_f(0.001f, 0.1f);
            tm[c] = kc_f(-1, 1);
        }
        uint8_t code[300], id[300];
        for (int i = 0; i < 300; i++) {
            code[i] = (uint8_t)(kc_u32() % 256);
            id[i] = (uint8_t)(kc_u32() % (unsigned)k);
        }
        for (size_t n = 0; n < 300; n += 13) {
            sq_kimpl_ref.dequant(code, id, ts, tm, k, n, fr);
            K->dequant(code, id, ts, tm, k, n, fk);
            KC_CHECK(kc_same(fr, fk, n, &where), "%s dequant k %d n %zu", K->name, k, n);
        }
    }
    free(h);
    free(fr);
    free(fk);
}

/* Scales so large that scale * code overflows (hostile files; the loader sets
 * scale_big): K still gives the reference's bits, for one input (the matvec kernels) and
 * a batch. */
static void kc_check_big_scales(const sq_kimpl *K)
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
    const char *prev = sq_kernels_name();
    sq_kernels_use(K->name);
    for (size_t n = 1; n <= 3; n += 2) {
        sq_kernels_rows(&sq_kimpl_ref, &L, X, n, Yr, NULL, 0, 4);
        sq_linear_matmul(&L, X, n, Yk);
        size_t where = 0;
        KC_CHECK(kc_same(Yr, Yk, n * 4, &where), "%s scale_big n=%zu differs from ref at %zu (%g vs %g)", K->name, n,
                 where, Yk[where], Yr[where]);
    }
    sq_kernels_use(prev);
    kc_free(&L);
}

/* Every implementation of this build (sq_kernels_at) against ref: the primitives, every
 * layer, huge scales. report(what, failed) is called per group of checks with the number
 * of failed checks (-1: not available on this CPU, skipped). */
#include "kq8.h"
#include "kvec.h"

static void kc_run_all(void (*report)(const char *what, int failed))
{
    char what[160];
    for (size_t i = 0; i < sq_kernels_count(); i++) {
        const sq_kimpl *K = sq_kernels_at(i);
        if (!sq_kernels_available(K)) {
            snprintf(what, sizeof what, "%s: not available on this CPU (skipped)", K->name);
            report(what, -1);
            continue;
        }
        int before = KC_FAILS;
        kc_run_primitives(K);
        snprintf(what, sizeof what, "%s primitives (unpack, bf16/f16/u8/i8 -> f32, lut, dequant) equal ref", K->name);
        report(what, KC_FAILS - before);
        before = KC_FAILS;
        double worst = 0;
        int n = kc_run_layers(K, &worst);
        KC_CHECK(worst <= 1e-5, "ref vs double oracle: %g", worst);
        kc_check_big_scales(K);
        snprintf(what, sizeof what, "%s: %d layers + huge scales bit-identical to ref (ref vs oracle %.2g)", K->name, n,
                 worst);
        report(what, KC_FAILS - before);
        kq8_run(K, report);
        kvec_run(K, report);
    }
}

#endif
