/* quant.c - the reference recipes (see quant.h): affine group quantization (INT2..7)
 * and symmetric per-row INT8, and the group size policy.
 *
 * The reference recipes are computed exactly as torch/optimum-quanto does in float32:
 * every arithmetic step is one float operation (no FMA: the build uses
 * -ffp-contract=off), rounding is rintf (round half to even in the default mode).
 * Packing is pack.c's, the clustered recipe of the packed format clustered.c's.
 */
#include "quant.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* ------------------------------------------------------------------ group policy */

size_t sq_group_size(int policy, size_t cols)
{
    if (policy == SQ_GROUP_TENSOR) return 0;
    if (policy == SQ_GROUP_ROW) return cols;
    if (policy == SQ_GROUP_AUTO) {
        if (cols > 128)
            for (size_t g = 128; g >= 32; g -= 32)
                if (cols % g == 0) return g;
        return cols;
    }
    if (policy > 0) return (size_t)policy < cols ? (size_t)policy : cols;
    return cols;
}

/* ------------------------------------------------------------------ affine reference */

void sq_quant_affine(const float *w, size_t rows, size_t cols, size_t group, int bits, uint8_t *codes,
                     float *scale, float *min)
{
    if (!rows || !cols) return;
    size_t g = sq_eff_group(group, cols), G = (cols + g - 1) / g;
    float L = (float)((1u << bits) - 1u);
    for (size_t r = 0; r < rows; r++) {
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            const float *x = w + r * cols;
            uint8_t *q = codes + r * cols;
            float lo = x[a], hi = x[a];
            for (size_t i = a + 1; i < b; i++) {
                if (x[i] < lo) lo = x[i];
                if (x[i] > hi) hi = x[i];
            }
            float range = hi - lo;
            float s = range / L;
            float shift = -lo;
            scale[r * G + gi] = s;
            min[r * G + gi] = lo;
            if (s == 0) {
                memset(q + a, 0, b - a);
                continue;
            }
            for (size_t i = a; i < b; i++) {
                float t = x[i] + shift;
                float u = t / s;
                float v = rintf(u);
                if (!(v >= 0)) v = 0; /* also catches NaN */
                if (v > L) v = L;
                q[i] = (uint8_t)v;
            }
        }
    }
}

void sq_dequant_affine(const uint8_t *codes, const float *scale, const float *min, size_t rows, size_t cols,
                       size_t group, float *out)
{
    if (!rows || !cols) return;
    size_t g = sq_eff_group(group, cols), G = (cols + g - 1) / g;
    for (size_t r = 0; r < rows; r++) {
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            float s = scale[r * G + gi], lo = min[r * G + gi];
            float shift = -lo;
            const uint8_t *q = codes + r * cols;
            float *o = out + r * cols;
            if (s == 0) {
                for (size_t i = a; i < b; i++) o[i] = lo;
                continue;
            }
            for (size_t i = a; i < b; i++) {
                float p = (float)q[i] * s;
                o[i] = p - shift;
            }
        }
    }
}

/* ------------------------------------------------------------------ symmetric INT8 */

void sq_quant_sym8(const float *w, size_t rows, size_t cols, int8_t *codes, float *scale)
{
    for (size_t r = 0; r < rows; r++) {
        const float *x = w + r * cols;
        int8_t *q = codes + r * cols;
        float amax = 0;
        for (size_t i = 0; i < cols; i++) {
            float a = fabsf(x[i]);
            if (a > amax) amax = a;
        }
        float s = amax / 127.0f;
        scale[r] = s;
        if (s == 0) {
            memset(q, 0, cols);
            continue;
        }
        for (size_t i = 0; i < cols; i++) {
            float u = x[i] / s;
            float v = rintf(u);
            if (!(v >= -128.0f)) v = -128.0f;
            if (v > 127.0f) v = 127.0f;
            q[i] = (int8_t)v;
        }
    }
}

void sq_dequant_sym8(const int8_t *codes, const float *scale, size_t rows, size_t cols, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        float s = scale[r];
        for (size_t i = 0; i < cols; i++) out[r * cols + i] = (float)codes[r * cols + i] * s;
    }
}
