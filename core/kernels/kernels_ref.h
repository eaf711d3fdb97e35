/* kernels_ref.h - internal to core/kernels: the canonical arithmetic of y = W x + b, the
 * primitive list every kernel implementation provides, and the table they are chosen from.
 *
 * One file per implementation, each filling one sq_kimpl with named fields:
 *   ref      ref.c      scalar C, the ground truth, every build
 *   simd128  simd128.c  wasm SIMD128, compiled when __wasm_simd128__ is defined
 *   avx2     avx2.c     x86-64 AVX2 + FMA (function-level target attribute), GCC/clang
 *   avx512   avx512.c   AVX-512F one-input row kernels (`matvec`: the 16 lanes of a row in
 *                       one register); its other primitives are avx2's (x86.h)
 *   avx512vnni avx512.c avx512 + AVX-512 BW/VL/VNNI: the int8-activation pair kernel on
 *                       vpdpbusd, two blocks per register
 * dispatch.c lists them (sq_kernels_at) in order of preference; the last one available
 * on this build and CPU is used: simd128 in wasm builds, avx512vnni / avx512 / avx2 / ref natively.
 * Every implementation gives the same bits: only the element-wise steps (exact, or one
 * float multiply and add without fusion) and the lane accumulation below are
 * implementation-specific, and those are defined to the bit. The kernel tests
 * (tests/kernels/kcases.h) run every entry of the list against ref, so a new ISA or a new
 * width in a row-kernel table is tested without new test code.
 *
 * Canonical arithmetic (all float32, no fused multiply-add: -ffp-contract=off):
 *
 *  dot16(w, x, len)   lanes L[0..15] = 0; for each full block b of 16 elements, in
 *                     order: L[l] = L[l] + w[16b+l]*x[16b+l]. Then
 *                     v[i] = (L[i] + L[4+i]) + (L[8+i] + L[12+i])   (i = 0..3),
 *                     R = (v[0] + v[2]) + (v[1] + v[3]); then each tail element
 *                     (len % 16 of them), in order: R = R + w[t]*x[t].
 *  sum16(x, len)      the same with w = 1 (the products are exact: x itself).
 *
 *  f32 / bf16 / f16   y_r = dot16(w_r, x, cols), the weights converted exactly to f32.
 *  packed, k = 1      y_r = 0; per group g: A = dot16(code, x, group), X = sum16(x, group),
 *                     y_r = y_r + (s*A + m*X)   (s, m: the group's BF16 scale/min as f32)
 *  packed, k > 1      y_r = dot16(w, x, cols) with w_j = s[id_j]*code_j + m[id_j] (the
 *                     dequantized weight of FORMAT.md, computed in float32). s is a BF16
 *                     value and code has <= 8 bits, so s*code is exact and a fused
 *                     multiply-add gives the same w unless s*code overflows: the loader
 *                     flags such (hostile) layers in L->scale_big.
 *  codebook           y_r = 0; per group g: A = dot16(t[code], x, group), y_r = y_r + s*A
 *                     (t: the layer's int8 table as f32, exact; s: the group's BF16 scale)
 *  paper, affine      y_r = 0; per part c, per group g: y_r = y_r + (s_cg*A_cg + m_cg*X_g)
 *  paper, sym8        y_r = 0; per part c: y_r = y_r + scale_c[r]*dot16(code_c, x, cols)
 *  bias               y_r = y_r + b_r
 *
 * Groups and blocks: blocks of 16 start at the group's first column (at column 0 for the
 * whole-row dots). A batch Y = X W^T computes every (input, row) exactly as the single
 * matvec does, so prefill equals token-by-token decoding bit for bit, and each output
 * row is computed by one task whatever the thread count. The one-input kernels
 * (`matvec`) run several rows side by side, each with its own lanes in this order.
 */
#ifndef SQ_KERNELS_REF_H
#define SQ_KERNELS_REF_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"

#define SQ_KL 16       /* lanes of the canonical dot */
#define SQ_KCHUNK 512  /* columns decoded at a time (a multiple of SQ_KL) */
#define SQ_KNB 16      /* inputs handled per pass over a weight row */
#define SQ_KTAB SQ_MAX_K /* entries of a dequantization table (k <= SQ_MAX_K, formats.h) */

/* One-input row kernels (token-by-token decoding), R rows per pass: several rows share
 * each load of x and give the core several independent accumulator chains; every row
 * gets exactly the bits of the per-row path. Each writes (or adds to) y[0..3] (4 entries
 * always: the AVX kernels store a whole register) for rows r0..r0+R-1. */
/* y[i] = y[i] + sum over groups g of (s*A + m*gs[g]) for the rows whose codes start at
 * row0 + i*stride: packed k = 1 (P == NULL: the BF16 params of L) or affine paper part P */
typedef void (*sq_kfrows_fn)(const sq_linear *L, const uint8_t *row0, size_t stride, const sq_lin_part *P, size_t r0,
                             const float *x, const float *gs, size_t G, float *y);
/* y[i] = dot16(dequantized row r0+i, x) of a packed k > 1 layer */
typedef void (*sq_kpkrows_fn)(const sq_linear *L, size_t r0, const float *x, float *y);
/* y[t*SQ_KTILE_R + i] = dot16(dequantized row r0+i, X_t) of a packed k > 1 layer for
 * SQ_KTILE_R rows and the SQ_KTILE_N inputs X_t = X + t*cols: a prompt's rows decoded
 * once per SQ_KTILE_N inputs */
#define SQ_KTILE_R 2
#define SQ_KTILE_N 8
typedef void (*sq_kpktile_fn)(const sq_linear *L, size_t r0, const float *X, float *y);
/* y[i] = dot16(row r0+i, x) of a BF16 layer, or of the int8 codes of sym8 paper part `part` */
typedef void (*sq_kwrows_fn)(const sq_linear *L, int part, size_t r0, const float *x, float *y);

#define SQ_KMAX_BITS 8 /* code widths 1..8 */
#define SQ_KMAX_R 4    /* rows per pass at most */

/* An implementation's one-input kernels, by layout and code width. An entry is used only
 * when it is filled for every R = 1..rows (matmul.c checks); a NULL entry means "the
 * per-row path", never a different result. The layer must have groups that are whole
 * multiples of 16 columns and divide the row (checked by matmul.c too). */
typedef struct sq_krows {
    int rows; /* rows per pass, 1..SQ_KMAX_R */
    int fma;  /* packedk fuses s*code + m (exact unless s*code overflows): layers with
                 scale_big take the per-row path */
    sq_kfrows_fn factored[SQ_KMAX_BITS + 1][SQ_KMAX_R];     /* [bits][R - 1] */
    sq_kpkrows_fn packedk[SQ_KMAX_BITS + 1][2][SQ_KMAX_R]; /* [bits][id bits - 1][R - 1], k <= 4 */
    sq_kwrows_fn bf16[SQ_KMAX_R], sym8[SQ_KMAX_R];          /* [R - 1] */
    sq_kpktile_fn packedk_tile[SQ_KMAX_BITS + 1][2];        /* [bits][id bits - 1]; NULL: none */
} sq_krows;

/* ---- int8 activations (sq_exec.act == SQ_ACT_INT8): integer dot products ----
 *
 * The fast path for factored layers (packed k = 1, paper affine parts): each input is
 * quantized once per call, shared by every row, and a weight block's contribution is an
 * exact integer dot product. Canonical arithmetic (float32, no fusion):
 *
 *  input x, block b of SQ_QB columns:  amax = max |x_j|;  d_b = amax / 127;
 *                     q_j = clamp(nearbyint(x_j * (amax > 0 ? 127 / amax : 0)), -127, 127)
 *                     (ties to even; NaN -> -127), bsum_b = sum of q_j (int32)
 *  group sums         Xq_g = 0; per block b of g in order: Xq_g = Xq_g + d_b * bsum_b
 *  I_b                sum over the block of code_j * q_j, exact in int32
 *  factored layer     y_r = 0; per part (paper), per group g: A = 0; per block b of g in
 *                     order: A = A + d_b * I_b;  then y_r = y_r + (s*A + m*Xq_g)
 *  bias               y_r = y_r + b_r
 *
 * Integer sums are exact in any order, so every implementation gives the reference's
 * bits; each (row, input) is computed alone, so prefill equals token-by-token decoding
 * and threads don't matter. The result differs from the float32 path by the rounding of
 * the activations to 8 bits (tests bound it). Layers whose row or group is not a whole
 * number of SQ_QB blocks, or with codes over SQ_Q8_MAX_BITS, take the float32 path.
 */
#define SQ_QB 32           /* columns per activation block */
#define SQ_Q8_MAX_BITS 8
#define SQ_Q8_PAIRS 8      /* (row, input) pairs per kernel call */

/* One call of the pair kernel: R rows x T inputs (R*T == SQ_Q8_PAIRS: 8x1 or 4x2), pair
 * p = t*R + rr. Over every block of the row, in order, with groups of gpb blocks:
 *   A_p = A_p + d[t][b] * I(cu row rr, block b; xq[t] block b);
 *   at a group's end: y[p] = y[p] + (s[g*sg + rr*sr] * A_p + m[g*sg + rr*sr] * X[t][g]),
 *   A_p = 0.
 * s, m: the rows' group scales and minimums; (sg, sr) = (R, 1) holds each group's R values
 * together (one vector load), (1, G) is the layer's own row-major order (no copy).
 * cu: the R rows' codes, row rr at cu + rr*ldc: one byte per code, or (nib = 1, 4-bit
 * codes, one input) the layer's packed rows themselves, and then the inputs come in
 * nibble order (sq_q8act.qn). All pointers cover whole rows. */
typedef struct sq_q8pairs {
    int R, T;
    int bits; /* code width, 1..8 */
    int nib;
    const uint8_t *cu;
    size_t ldc;
    const uint8_t *pf; /* the next pass's R*ldc bytes of codes (a hint to prefetch them as
                          these are read; NULL: none) */
    const int8_t *xq[2];
    const float *d[2], *X[2];
    const float *s, *m;
    size_t sg, sr;
    size_t nblk, gpb;
    float *y;
} sq_q8pairs;
typedef void (*sq_kq8pairs_fn)(const sq_q8pairs *P);

/* The primitive list of one implementation. Element-wise primitives are required; the
 * fused ones are optional (NULL, or returning 0 for a geometry they don't handle: the
 * generic decode + lanes path of matmul.c runs instead, with the same bits). */
typedef struct sq_kimpl {
    const char *name;
    /* 1 when this CPU can run it (NULL: always) */
    int (*available)(void);
    /* dst[i] = field j+i of the LSB-first b-bit stream starting at row (b = 1..8) */
    void (*unpack)(const uint8_t *row, size_t j, int bits, size_t n, uint8_t *dst);
    void (*u8_f32)(const uint8_t *src, size_t n, float *dst);
    void (*i8_f32)(const int8_t *src, size_t n, float *dst);
    void (*bf16_f32)(const uint16_t *src, size_t n, float *dst);
    void (*f16_f32)(const uint16_t *src, size_t n, float *dst);
    /* dst[i] = ts[id[i]] * (float)code[i] + tm[id[i]]; ids < k <= SQ_KTAB (tables hold
     * SQ_KTAB entries, unused ones 0) */
    void (*dequant)(const uint8_t *code, const uint8_t *id, const float *ts, const float *tm, int k, size_t n,
                    float *dst);
    /* dst[i] = (float)table[code[i]], codes < 16 (a 16-entry int8 table: one byte
     * shuffle, vpshufb / i8x16.swizzle, then an exact widening) */
    void (*lut_f32)(const uint8_t *code, const int8_t *table, size_t n, float *dst);
    /* acc[i*16 + l] = acc[i*16 + l] + w[16b + l] * X[i*ldx + 16b + l] for blocks b < nblk
     * in order, inputs i < nin (nin <= SQ_KNB) */
    void (*lanes)(const float *w, const float *X, size_t ldx, size_t nin, size_t nblk, float *acc);
    /* out[i] = sq_kred16(acc + 16*i) for i < nin */
    void (*reduce)(const float *acc, size_t nin, float *out);
    /* Fused per-row kernels, nin <= SQ_KNB inputs X[i*cols ...]: */
    /* y[i] = y[i] + sum over groups g of (s*A + m*X_g): codes_row holds one row of a
     * packed k = 1 layer (P == NULL: BF16 params of L) or of the affine paper part P;
     * gs: group sums [nin, groups] */
    int (*factored_row)(const sq_linear *L, const uint8_t *codes_row, const sq_lin_part *P, size_t r, const float *X,
                        size_t nin, const float *gs, float *y);
    /* y[i] = dot16(dequantized row r, X_i) of a packed k > 1 layer */
    int (*packedk_row)(const sq_linear *L, size_t r, const float *X, size_t nin, float *y);
    /* y[i] = dot16(row r, X_i) of a BF16 layer (converted in registers) */
    int (*bf16_row)(const sq_linear *L, size_t r, const float *X, size_t nin, float *y);
    /* y[i] = dot16(int8 codes of row r, X_i) for the sym8 paper part `part` */
    int (*sym8_row)(const sq_linear *L, int part, size_t r, const float *X, size_t nin, float *y);
    /* one-input row kernels (NULL: one input takes the per-row path) */
    const sq_krows *matvec;
    /* int8-activation pair kernel (NULL: the shared scalar one, kernels_ref.h) */
    sq_kq8pairs_fn q8_pairs;
    /* o[d] = sum over t < T in order of p[t] * V[t*ldv + d] (from 0; one multiply then one
     * add per term), d < n: attention's weighted sum of values (NULL: scalar) */
    void (*wsum)(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o);
} sq_kimpl;

extern const sq_kimpl sq_kimpl_ref;
#if defined(__wasm_simd128__)
extern const sq_kimpl sq_kimpl_simd128;
#endif
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && !defined(SQ_NO_AVX2)
#define SQ_HAVE_AVX2 1
extern const sq_kimpl sq_kimpl_avx2;
extern const sq_kimpl sq_kimpl_avx512;
extern const sq_kimpl sq_kimpl_avx512vnni;
#endif

/* The implementations of this build, in order of preference (0: ref); i >= count: NULL.
 * sq_kernels_available(K): K can run on this CPU. */
size_t sq_kernels_count(void);
const sq_kimpl *sq_kernels_at(size_t i);
int sq_kernels_available(const sq_kimpl *K);

/* The implementation in use (the last available one unless switched);
 * sq_kernels_use(name) switches it ("best": back to the default; for tests and
 * benchmarks, not while kernels run). Returns 0, or -1 when that one is not available in
 * this build / on this CPU. sq_kernels_name(): the current one. */
const sq_kimpl *sq_kernels_get(void);
int sq_kernels_use(const char *name);
const char *sq_kernels_name(void);

/* Run rows [r0, r1) of L on n inputs with implementation K (Y[i*rows + r]). gs: the
 * canonical group sums [n, groups] for packed k=1 / paper affine layers (NULL: computed
 * here). The single entry point every path goes through; exposed for tests. */
void sq_kernels_rows(const sq_kimpl *K, const sq_linear *L, const float *X, size_t n, float *Y, const float *gs,
                     size_t r0, size_t r1);
/* The int8-activation counterpart of sq_kernels_rows (rows [r0, r1) of a factored layer
 * on n inputs quantized in A, Y[i*rows + r]); returns 0 with nothing written when the
 * layer doesn't qualify (see above). The shared scalar pair kernel is sq_kq8_pairs_ref. */
typedef struct sq_q8act {
    size_t n, cols, nblk; /* inputs, columns, blocks per input (cols / SQ_QB) */
    int8_t *q;            /* [n, cols] */
    int8_t *qn;           /* the same in nibble order: per block, the 16 even columns'
                             values, then the 16 odd ones (how 4-bit codes pair up in a
                             byte), so a packed row decodes with one shift and one mask */
    float *d;             /* [n, nblk] */
    int32_t *bsum;        /* [n, nblk] */
} sq_q8act;
/* Quantize X[n, cols] (cols a multiple of SQ_QB); 0, or -1 when out of memory. */
int sq_q8act_make(sq_q8act *A, const float *X, size_t n, size_t cols);
void sq_q8act_free(sq_q8act *A);
int sq_kernels_rows_q8(const sq_kimpl *K, const sq_linear *L, const sq_q8act *A, float *Y, size_t r0, size_t r1);
void sq_kq8_pairs_ref(const sq_q8pairs *P);
/* 1 when L takes the int8-activation path. */
int sq_kq8_qualifies(const sq_linear *L);

/* The canonical sum16 of x[0..len). */
float sq_ksum16(const float *x, size_t len);

/* Columns per group of L (the whole row for per-row and whole-tensor groups), and the
 * index of group g's parameters in row r. */
static inline size_t sq_kgroup_size(const sq_linear *L)
{
    return L->group && L->group < L->cols ? L->group : L->cols;
}
static inline size_t sq_kparam(const sq_linear *L, size_t r, size_t g)
{
    return L->group ? r * L->groups + g : 0;
}

/* ---- helpers shared by the implementations ---- */

/* The canonical reduction of 16 lanes. */
static inline float sq_kred16(const float *L)
{
    float v0 = (L[0] + L[4]) + (L[8] + L[12]);
    float v1 = (L[1] + L[5]) + (L[9] + L[13]);
    float v2 = (L[2] + L[6]) + (L[10] + L[14]);
    float v3 = (L[3] + L[7]) + (L[11] + L[15]);
    return (v0 + v2) + (v1 + v3);
}

/* BF16 -> f32 (exact), inline for the kernels' inner loops. */
static inline float sq_kbf16(uint16_t b)
{
    union {
        uint32_t u;
        float f;
    } v;
    v.u = (uint32_t)b << 16;
    return v.f;
}

static inline int sq_kid_bits(int k)
{
    int b = 0;
    while ((1 << b) < k) b++;
    return b;
}

/* Field i of an LSB-first b-bit stream (b <= 8); reads only bytes holding its bits. */
static inline unsigned sq_kget_bits(const uint8_t *row, size_t i, int bits)
{
    size_t off = i * (size_t)bits;
    size_t byte = off >> 3;
    unsigned shift = (unsigned)(off & 7);
    unsigned v = row[byte] >> shift;
    if (shift + (unsigned)bits > 8) v |= (unsigned)row[byte + 1] << (8 - shift);
    return v & ((1u << bits) - 1u);
}

/* dst[i] = field i of an LSB-first b-bit stream whose field 0 starts at bit 0 of p, for
 * n fields: 8 fields per b whole bytes, reading only bytes that hold requested bits. The
 * shared scalar fallback of the SIMD unpackers (any b = 1..8). */
static inline void sq_kunpack_bytes(const uint8_t *p, int bits, size_t n, uint8_t *dst)
{
    const unsigned mask = (1u << bits) - 1u;
    size_t i = 0;
    if (bits == 3) /* the common odd width, with constant shifts */
        for (; i + 8 <= n; i += 8, p += 3) {
            uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
            for (int f = 0; f < 8; f++) dst[i + (size_t)f] = (uint8_t)(v >> (3 * f) & 7u);
        }
    for (; i + 8 <= n; i += 8, p += bits) {
        uint64_t v = 0;
        for (int b = 0; b < bits; b++) v |= (uint64_t)p[b] << (8 * b);
        for (int f = 0; f < 8; f++) dst[i + (size_t)f] = (uint8_t)((v >> (f * bits)) & mask);
    }
    for (size_t f = 0; i < n; i++, f++) dst[i] = (uint8_t)sq_kget_bits(p, f, bits);
}

/* Fields j..j+n-1: a scalar head up to a byte boundary, then sq_kunpack_bytes. */
static inline void sq_kunpack_any(const uint8_t *row, size_t j, int bits, size_t n, uint8_t *dst)
{
    size_t i = 0;
    while (i < n && ((j + i) * (size_t)bits) % 8) {
        dst[i] = (uint8_t)sq_kget_bits(row, j + i, bits);
        i++;
    }
    sq_kunpack_bytes(row + (j + i) * (size_t)bits / 8, bits, n - i, dst + i);
}

#endif
