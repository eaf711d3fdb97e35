/* options.c - the quantize options as text (options.h). */
#include "options.h"

#include <stdlib.h>
#include <string.h>

/* A whole decimal integer within [lo, hi]. */
static int int_in(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s) return 0;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int sq_quant_opt_set(sq_quant_opts *o, const char *key, const char *v, sq_err *e)
{
    long n;
    if (!v) v = "";
    if (strcmp(key, "bits") == 0) {
        if (strcmp(v, "f32") == 0) o->bits = SQ_BITS_F32;
        else if (int_in(v, 1, 8, &n) && sq_bits_known(n)) o->bits = (int)n; /* the widths of formats.h */
        else {
            char msg[96];
            return sq_fail(e, SQ_EINPUT, "%s", sq_bits_usage(msg, sizeof msg));
        }
    } else if (strcmp(key, "clusters") == 0) {
        if (!int_in(v, 1, SQ_MAX_CLUSTERS, &n))
            return sq_fail(e, SQ_EINPUT, "--clusters must be an integer from 1 to %d", SQ_MAX_CLUSTERS);
        o->clusters = (int)n;
    } else if (strcmp(key, "group") == 0) {
        if (strcmp(v, "auto") == 0) o->group = SQ_GROUP_AUTO;
        else if (strcmp(v, "row") == 0) o->group = SQ_GROUP_ROW;
        else if (strcmp(v, "tensor") == 0) o->group = SQ_GROUP_TENSOR;
        else if (int_in(v, 1, 1L << 30, &n)) o->group = (int)n;
        else return sq_fail(e, SQ_EINPUT, "--group must be auto, row, tensor or a positive number");
    } else if (strcmp(key, "format") == 0) {
        if (!sq_format_find(v, &o->format)) {
            char names[64];
            return sq_fail(e, SQ_EINPUT, "--format must be %s", sq_formats_text(", ", " or ", names, sizeof names));
        }
    } else if (strcmp(key, "embeddings") == 0) {
        /* keep, or intB for a width of the plain packed codes (formats.h) */
        if (strcmp(v, "keep") == 0) o->embeddings = SQ_EMB_KEEP;
        else if (strncmp(v, "int", 3) == 0 && v[3] >= '1' && v[3] <= '8' && !v[4] &&
                 (sq_formats[SQ_FMT_PACKED].widths & SQ_BITS_MASK(v[3] - '0')))
            o->embeddings = v[3] - '0';
        else return sq_fail(e, SQ_EINPUT, "--embeddings must be keep, int8, int4 or another width int2..int8");
    } else if (strcmp(key, "seed") == 0) {
        if (!int_in(v, 0, 0x7fffffffL, &n)) return sq_fail(e, SQ_EINPUT, "--seed must be a non-negative integer");
        o->seed = (uint64_t)n;
    } else {
        return SQ_OPT_UNKNOWN;
    }
    return SQ_OK;
}

void sq_quant_opts_finish(sq_quant_opts *o, int clusters_given)
{
    int max_k = sq_formats[o->format].max_k; /* the codebook's levels are its clusters */
    if (!clusters_given && o->clusters > max_k) o->clusters = max_k;
}
