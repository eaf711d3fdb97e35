/* formats.c - the table of quantized weight formats (formats.h): one row per format,
 * naming the hooks of its family file (packed.c, paper.c, codebook.c), and the lookups
 * over it. (The geometry every reader and writer derives, sq_qgeom_make, is inline in
 * formats.h.)
 */
#include "formats.h"

#include <stdio.h>
#include <string.h>

#include "../kernels/linear.h"
#include "../quant/qfile.h"
#include "../quant/quant.h"
#include "codebook.h"
#include "packed.h"
#include "paper.h"

sq_qpart sq_qpart_make(const char *suffix, sq_dtype dt, int ndim, size_t d0, size_t d1)
{
    sq_qpart p;
    memset(&p, 0, sizeof p);
    snprintf(p.suffix, sizeof p.suffix, "%s", suffix);
    p.dtype = dt;
    p.ndim = ndim;
    p.d0 = (int64_t)d0;
    p.d1 = (int64_t)d1;
    return p;
}

/* name, widths, max k, group policy, parts, kernel family, kind in files, quantize, reads source
 * bytes, dequantize */
const sq_format sq_formats[SQ_FMT_COUNT] = {
    [SQ_FMT_PACKED] = {"packed", SQ_WIDTHS_SPLIT, SQ_MAX_CLUSTERS, sq_group_size, sq_packed_parts, SQ_LIN_PACKED,
                       SQ_QT_PACKED, sq_packed_quantize, sq_packed_reads_source, sq_packed_dequantize},
    [SQ_FMT_PAPER] = {"paper", SQ_WIDTHS_SPLIT, SQ_MAX_CLUSTERS, sq_group_size, sq_paper_parts, SQ_LIN_PAPER, SQ_QT_PAPER,
                      sq_paper_quantize, NULL, sq_paper_dequantize},
    [SQ_FMT_CODEBOOK] = {"codebook", SQ_WIDTHS_CODEBOOK, 1, sq_cb_group_size, sq_cb_parts, SQ_LIN_CODEBOOK,
                         SQ_QT_CODEBOOK, sq_cb_quantize_weight, NULL, sq_cb_dequantize},
};

const sq_format *sq_format_find(const char *name, int *id)
{
    for (int i = 0; i < SQ_FMT_COUNT; i++)
        if (strcmp(sq_formats[i].name, name) == 0) {
            if (id) *id = i;
            return &sq_formats[i];
        }
    return NULL;
}

const char *sq_format_name(int format)
{
    return format >= 0 && format < SQ_FMT_COUNT ? sq_formats[format].name : "packed";
}

const char *sq_formats_text(const char *sep, const char *last, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < SQ_FMT_COUNT && at < n; i++) {
        int w = snprintf(buf + at, n - at, "%s%s", i == 0 ? "" : i == SQ_FMT_COUNT - 1 ? last : sep, sq_formats[i].name);
        if (w < 0) break;
        at += (size_t)w;
    }
    return buf;
}

unsigned sq_widths_all(void)
{
    unsigned all = 0;
    for (int i = 0; i < SQ_FMT_COUNT; i++) all |= sq_formats[i].widths;
    return all;
}

int sq_bits_known(long b)
{
    return b >= 1 && b <= 8 && (sq_widths_all() & SQ_BITS_MASK(b));
}

const char *sq_bits_usage(char *buf, size_t n)
{
    char wt[64];
    snprintf(buf, n, "--bits must be %s", sq_widths_text(sq_widths_all(), "f32", wt, sizeof wt));
    return buf;
}

const char *sq_widths_text(unsigned widths, const char *last, char *buf, size_t n)
{
    int items[10], m = 0;
    for (int b = 1; b <= 8; b++)
        if (widths & SQ_BITS_MASK(b)) items[m++] = b;
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < m + (last != NULL) && at < n; i++) {
        const char *sep = i == 0 ? "" : i == m + (last != NULL) - 1 ? " or " : ", ";
        int w = i < m ? snprintf(buf + at, n - at, "%s%d", sep, items[i]) : snprintf(buf + at, n - at, "%s%s", sep, last);
        if (w < 0) break;
        at += (size_t)w;
    }
    return buf;
}
