/* linear.c - a linear layer's memory: freeing it and counting its bytes. Loading one
 * from a file is quant/qload.c's; the kernels live in matmul.c (the row pipeline,
 * threads) over the primitives of ref.c (scalar reference), simd128.c (wasm), avx2.c
 * and avx512.c (x86-64).
 */
#include "linear.h"

#include <stdlib.h>
#include <string.h>

/* The number of parameter sets P of a layer's geometry. */
static size_t param_sets(const sq_linear *L)
{
    if (L->sym8) return L->rows;
    return L->group ? L->rows * L->groups : 1;
}

void sq_linear_free(sq_linear *L)
{
    if (!L->borrowed) {
        free(L->w);
        free(L->w16);
    }
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

size_t sq_linear_bytes(const sq_linear *L)
{
    size_t n = 0, P = param_sets(L);
    switch (L->kind) {
    case SQ_LIN_F32:
        n = L->borrowed ? 0 : L->rows * L->cols * sizeof(float);
        break;
    case SQ_LIN_BF16:
    case SQ_LIN_F16:
        n = L->borrowed ? 0 : L->rows * L->cols * sizeof(uint16_t);
        break;
    case SQ_LIN_PACKED:
        n = L->rows * (L->row_bytes + L->id_row_bytes) + 2 * P * (size_t)L->k * sizeof(uint16_t);
        break;
    case SQ_LIN_CODEBOOK:
        n = L->rows * L->row_bytes + P * sizeof(uint16_t) + ((size_t)1 << L->bits);
        break;
    case SQ_LIN_PAPER:
        for (int c = 0; c < L->k; c++)
            n += L->rows * L->row_bytes + P * sizeof(float) * (L->parts[c].min ? 2 : 1);
        break;
    default:
        break;
    }
    if (L->bias) n += L->rows * sizeof(float);
    return n;
}
