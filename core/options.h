/* options.h - the quantize options as text (key, value), one parser for every front end:
 * the CLI's --key value arguments (cli/cmd_quant.c) and the browser module's options JSON
 * (wasm/bindings.c) both end here, so they accept the same values with the same one-line
 * messages. Options that only one front end has (the CLI's --report, the module's
 * "threads" whose 0 means "all Workers", "model", "skip_plain") stay with it.
 */
#ifndef SQ_OPTIONS_H
#define SQ_OPTIONS_H

#include "quant/pipeline.h"
#include "quant/quant.h" /* SQ_GROUP_*, SQ_BITS_F32, SQ_FMT_* */
#include "sq.h"

#define SQ_OPT_UNKNOWN (-1) /* not one of the shared options: the front end's own, or an error */

/* Set option key ("bits", "clusters", "group", "format", "embeddings", "seed"; no
 * dashes) of o from its text value: bits 2..8|f32 (formats.h), clusters 1..8, group
 * auto|row|tensor|N, format packed|paper|codebook, embeddings keep|int2..int8, seed
 * 0..2^31-1 (integers as whole decimal text). Returns SQ_OK,
 * SQ_EINPUT with e set, or SQ_OPT_UNKNOWN (e untouched). */
int sq_quant_opt_set(sq_quant_opts *o, const char *key, const char *value, sq_err *e);

/* After the last option: codebook's 2^bits table levels are its clusters, so it gets
 * clusters = 1 unless clusters_given (then sq_quant_opts_check refuses k > 1 with a
 * message that says why). */
void sq_quant_opts_finish(sq_quant_opts *o, int clusters_given);

#endif
