/* clustered_vec.h - internal to clustered.c, which includes it once per vector width: the fused
 * group (fused_group_scalar's job) on VW-lane vectors, and the row loop around it.
 *
 * Expects from clustered.c: VW (4 or 8), VF / VI (float / int32 vectors of VW lanes), VATTR
 * (function attributes: a target for the wider ones), VN(name) (name with the width),
 * VANY(mask), VSTORE(q, id, codes, ids), and the squared-error accumulator VACC with
 * VSSE(dq, x, &acc), VACC_ZERO, VACC_SUM(acc). The accumulator holds four double lanes
 * (a0 a1 a2 a3) at every width and every block of 4 values adds into them in the same
 * order, so the sums are the same bits at every width; so are the codes and parameters
 * (the arithmetic is exact, or done by the recipe itself where it is not certain). */

VATTR SQ_FORCE_INLINE VF VN(vld)(const float *p)
{
    VF v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Lanes are only ever indexed by constants here (also through the arrays below): clang's
 * wasm backend turns v[l] with a variable l into a store of the whole vector to the stack,
 * a scalar store and a reload, and does not always unroll such loops first, which made the
 * SIMD128 build slower than its scalar path. */
VATTR SQ_FORCE_INLINE VF VN(vsplat)(float f)
{
#if VW == 4
    return (VF){f, f, f, f};
#else
    return (VF){f, f, f, f, f, f, f, f};
#endif
}

VATTR SQ_FORCE_INLINE VF VN(vsel)(VI m, VF a, VF b) { return (VF)((m & (VI)a) | (~m & (VI)b)); }
/* vmin(a, b) = b < a ? b : a and vmax(a, b) = a < b ? b : a per lane (wasm's pmin / pmax:
 * clustered.c maps them there, since clang may otherwise pick f32x4.min / max, whose NaN and
 * signed-zero rules cost V8 about eight instructions each). */
#ifdef VPMIN
VATTR SQ_FORCE_INLINE VF VN(vmin)(VF a, VF b) { return VPMIN(a, b); }
VATTR SQ_FORCE_INLINE VF VN(vmax)(VF a, VF b) { return VPMAX(a, b); }
#else
VATTR SQ_FORCE_INLINE VF VN(vmin)(VF a, VF b) { return VN(vsel)(b < a, b, a); }
VATTR SQ_FORCE_INLINE VF VN(vmax)(VF a, VF b) { return VN(vsel)(b > a, b, a); }
#endif

/* Clamp of int32 lanes to [0, hi]. */
VATTR SQ_FORCE_INLINE VI VN(iclamp)(VI a, VI hi)
{
#ifdef VIMIN
    return VIMIN(VIMAX(a, (VI){0}), hi);
#else
    a &= ~(a < 0);
    VI gt = a > hi;
    return (gt & hi) | (~gt & a);
#endif
}

/* rint(u) clamped to [0, L] as a code and as a float, for |u| < 2^22, with t = u + MAGIC:
 * t's low mantissa bits hold rint(u) (the addition rounds half to even at units), so
 * integer bits(t) - bits(MAGIC) is the code; clamping the integers and converting back
 * gives exactly what clamping (t - MAGIC) as floats gives (it is never -0). Cheaper than
 * a float clamp plus a saturating conversion, which V8 expands to six instructions. */
VATTR SQ_FORCE_INLINE VI VN(code_of)(VF t, VF MAG, VI LI) { return VN(iclamp)((VI)t - (VI)MAG, LI); }

VATTR SQ_FORCE_INLINE float VN(hmin)(VF v)
{
    float a[VW];
    memcpy(a, &v, sizeof a);
    float m = a[0];
    for (int l = 1; l < VW; l++) m = a[l] < m ? a[l] : m;
    return m;
}

VATTR SQ_FORCE_INLINE float VN(hmax)(VF v)
{
    float a[VW];
    memcpy(a, &v, sizeof a);
    float m = a[0];
    for (int l = 1; l < VW; l++) m = a[l] > m ? a[l] : m;
    return m;
}

/* The group's parameters as vectors. */
typedef struct VN(vparams) {
    VF B[SQ_CQ_MAX_K], M[SQ_CQ_MAX_K], S[SQ_CQ_MAX_K], IV[SQ_CQ_MAX_K];
    VF PM, PS, PIV;
} VN(vparams);

VATTR SQ_FORCE_INLINE void VN(vfill)(VN(vparams) *v, const fctx *c, int K)
{
    for (int k = 0; k < K; k++) {
        v->B[k] = VN(vsplat)(k + 1 < K ? c->bnd[k] : INFINITY);
        v->M[k] = VN(vsplat)(c->mf[k]);
        v->S[k] = VN(vsplat)(c->sf[k]);
        v->IV[k] = VN(vsplat)(c->ivf[k]);
    }
    v->PM = VN(vsplat)(c->pmf);
    v->PS = VN(vsplat)(c->psf);
    v->PIV = VN(vsplat)(c->pivf);
}

/* Codes, ids and squared errors of VW values. */
VATTR SQ_FORCE_INLINE void VN(step)(const float *x, uint8_t *q, uint8_t *id, const VN(vparams) *v, const fctx *c,
                                    int K, int plain, VACC *acc, VACC *pacc)
{
    const VF MAG = VN(vsplat)(VEC_MAGIC), SURE = VN(vsplat)(VEC_SURE), Z = VN(vsplat)(0);
    const VI LI = (VI)Z + (int32_t)c->L;
    const VI ABS = (VI)VN(vsplat)(0) | 0x7FFFFFFF;
    VF xv = VN(vld)(x);
    VF m = v->M[0], s = v->S[0], iv = v->IV[0];
    VI idv = (VI)Z;
    for (int k = 0; k + 1 < K; k++) {
        VI g = xv > v->B[k];
        m = VN(vsel)(g, v->M[k + 1], m);
        s = VN(vsel)(g, v->S[k + 1], s);
        iv = VN(vsel)(g, v->IV[k + 1], iv);
        idv -= g;
    }
    VF u = (xv - m) * iv;
    VF t = u + MAG;
    VI unsure = (VF)((VI)(u - (t - MAG)) & ABS) > SURE;
    VI code = VN(code_of)(t, MAG, LI);
    VF dq = __builtin_convertvector(code, VF) * s + m;
    if (VANY(unsure)) { /* rare: through arrays (see vsplat) */
        int32_t un[VW], ids[VW], ca[VW];
        float da[VW];
        memcpy(un, &unsure, sizeof un);
        memcpy(ids, &idv, sizeof ids);
        memcpy(ca, &code, sizeof ca);
        memcpy(da, &dq, sizeof da);
        for (int l = 0; l < VW; l++) {
            if (!un[l]) continue;
            int k = ids[l];
            ca[l] = exact_code(x[l], c->ms[k], c->ss[k], c->inv[k], c->mf[k], c->sf[k], c->L, &da[l]);
        }
        memcpy(&code, ca, sizeof ca);
        memcpy(&dq, da, sizeof da);
    }
    VSTORE(q, id, code, idv);
    VSSE(dq, xv, acc);
    if (plain) {
        VF pu = (xv - v->PM) * v->PIV;
        VF pt = pu + MAG;
        VI punsure = (VF)((VI)(pu - (pt - MAG)) & ABS) > SURE;
        VF pdq = __builtin_convertvector(VN(code_of)(pt, MAG, LI), VF) * v->PS + v->PM;
        if (VANY(punsure)) {
            int32_t un[VW];
            float da[VW];
            memcpy(un, &punsure, sizeof un);
            memcpy(da, &pdq, sizeof da);
            for (int l = 0; l < VW; l++)
                if (un[l]) exact_code(x[l], c->pm, c->ps, c->pinv, c->pmf, c->psf, c->L, &da[l]);
            memcpy(&pdq, da, sizeof da);
        }
        VSSE(pdq, xv, pacc);
    }
}

/* Returns 0 (nothing done) when the scalar path must do this group. */
VATTR SQ_FORCE_INLINE int VN(fused_group_vec)(const float *x, size_t n, const float *bnd, int K, double L, uint8_t *id,
                                              uint8_t *q, uint16_t *sc, uint16_t *mn, int plain, double *sse,
                                              double *sse_plain)
{
    float lo[SQ_CQ_MAX_K], hi[SQ_CQ_MAX_K];
    VF B[SQ_CQ_MAX_K], vlo[SQ_CQ_MAX_K], vhi[SQ_CQ_MAX_K];
    const VF INF = VN(vsplat)(INFINITY), NINF = VN(vsplat)(-INFINITY);
    size_t nv = n - n % VW, i;
    if (K < 1 || K > SQ_CQ_MAX_K) return 0;
    /* pass 1: ranges */
    for (int k = 0; k < K; k++) {
        B[k] = VN(vsplat)(k + 1 < K ? bnd[k] : INFINITY);
        vlo[k] = INF;
        vhi[k] = NINF;
    }
    for (i = 0; i < nv; i += VW) {
        VF v = VN(vld)(x + i);
        vlo[0] = VN(vmin)(vlo[0], v);
        vhi[K - 1] = VN(vmax)(vhi[K - 1], v);
        for (int k = 0; k + 1 < K; k++) {
            VI g = v > B[k];
            vlo[k + 1] = VN(vmin)(vlo[k + 1], VN(vsel)(g, v, INF));
            vhi[k] = VN(vmax)(vhi[k], VN(vsel)(g, NINF, v));
        }
    }
    for (int k = 0; k < K; k++) {
        lo[k] = VN(hmin)(vlo[k]);
        hi[k] = VN(hmax)(vhi[k]);
    }
    for (; i < n; i++) {
        float v = x[i];
        if (v < lo[0]) lo[0] = v;
        if (v > hi[K - 1]) hi[K - 1] = v;
        for (int k = 0; k + 1 < K; k++) {
            if (v > bnd[k]) {
                if (v < lo[k + 1]) lo[k + 1] = v;
            } else if (v > hi[k]) hi[k] = v;
        }
    }
    fctx c;
    if (!group_params(x, n, bnd, K, L, lo, hi, plain, sc, mn, &c)) return 0;
    /* pass 2: codes, ids, squared errors */
    VN(vparams) vp;
    VN(vfill)(&vp, &c, K);
    VACC acc = VACC_ZERO, pacc = VACC_ZERO;
    for (i = 0; i < nv; i += VW) VN(step)(x + i, q + i, id + i, &vp, &c, K, plain, &acc, &pacc);
    VACC4 a4 = VACC_TO4(acc), p4 = VACC_TO4(pacc);
#if VW > 4
    if (n - i >= 4) { /* a last block of 4, as the 4-lane version does it */
        vparams_4 v4;
        vfill_4(&v4, &c, K);
        step_4(x + i, q + i, id + i, &v4, &c, K, plain, &a4, &p4);
        i += 4;
    }
#endif
    finish_group(x, n, i, bnd, K, id, q, plain, &c, acc4_sum(a4), acc4_sum(p4), sse, sse_plain);
    return 1;
}

/* The rows of a block (fused_rows_scalar with this width's group). */
VATTR SQ_FORCE_INLINE void VN(fused_rows)(const void *w, sq_dtype dtype, size_t rows, size_t cols, size_t group, int bits,
                                 int K, const float *bounds, uint8_t *codes_packed, uint8_t *ids_packed,
                                 uint16_t *scale_bf16, uint16_t *min_bf16, float *deq, double *sse, double *sse_plain,
                                 uint8_t *scratch)
{
    size_t g = sq_eff_group(group, cols), G = (cols + g - 1) / g;
    size_t rb = sq_packed_row_bytes(cols, bits), ib = K > 1 ? sq_packed_row_bytes(cols, sq_id_bits(K)) : 0;
    double L = (double)((1u << bits) - 1u);
    float *row = (float *)(void *)scratch;
    uint8_t *q = scratch + 4 * cols, *id = q + cols;
    double e = 0, ep = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *x = row_f32(w, dtype, r, cols, row);
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            size_t p = (r * G + gi) * (size_t)K;
            /* deq (rare: the one-tensor round trip) keeps the scalar path's -0 for
               empty ranges */
            if (deq || !VN(fused_group_vec)(x + a, b - a, bounds, K, L, id + a, q + a, scale_bf16 + p, min_bf16 + p,
                                            sse_plain != NULL, &e, &ep))
                fused_group_scalar(x + a, b - a, bounds, K, L, id + a, q + a, scale_bf16 + p, min_bf16 + p,
                                   deq ? deq + r * cols + a : NULL, sse_plain != NULL, &e, &ep);
        }
        sq_pack_row(q, cols, bits, codes_packed + r * rb);
        if (K > 1 && ids_packed) sq_pack_row(id, cols, sq_id_bits(K), ids_packed + r * ib);
    }
    *sse = e;
    if (sse_plain) *sse_plain = ep;
}

/* One entry per width: a constant K per call (the loops over clusters unroll). */
VATTR static void VN(fused_rows_k)(const void *w, sq_dtype dtype, size_t rows, size_t cols, size_t group, int bits,
                                   int k, const float *bounds, uint8_t *codes_packed, uint8_t *ids_packed,
                                   uint16_t *scale_bf16, uint16_t *min_bf16, float *deq, double *sse,
                                   double *sse_plain, uint8_t *scratch)
{
#define FUSED_K(K) VN(fused_rows)(w, dtype, rows, cols, group, bits, K, bounds, codes_packed, ids_packed, scale_bf16, \
                                  min_bf16, deq, sse, sse_plain, scratch)
    switch (k) {
    case 1: FUSED_K(1); break;
    case 2: FUSED_K(2); break;
    case 3: FUSED_K(3); break;
    case 4: FUSED_K(4); break;
    default: FUSED_K(k); break;
    }
#undef FUSED_K
}

/* This width is done: free its parameters for the next inclusion. */
#undef VW
#undef VF
#undef VI
#undef VATTR
#undef VN
#undef VANY
#undef VSTORE
#undef VACC
#undef VACC4
#undef VACC_ZERO
#undef VACC_TO4
#undef VSSE
#undef VPMIN
#undef VPMAX
#undef VIMIN
#undef VIMAX
