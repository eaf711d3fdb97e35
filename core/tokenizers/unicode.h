/* unicode.h - the few Unicode properties the tokenizers need (internal to core/tokenizers).
 *
 * Tables come from Debian's unicode-data (UnicodeData.txt, PropList.txt,
 * DerivedCoreProperties.txt) through tools/gen_unicode_tables.py, which writes
 * unicode_tables.c. Every lookup is a binary search over sorted runs, with an ASCII
 * fast path, so no lookup costs more than ~12 comparisons.
 */
#ifndef SQ_TOK_UNICODE_H
#define SQ_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* General categories, in the generator's order (Cn = unassigned is 0). */
enum {
    SQ_GC_Cn = 0, SQ_GC_Lu, SQ_GC_Ll, SQ_GC_Lt, SQ_GC_Lm, SQ_GC_Lo, SQ_GC_Mn, SQ_GC_Mc,
    SQ_GC_Me, SQ_GC_Nd, SQ_GC_Nl, SQ_GC_No, SQ_GC_Pc, SQ_GC_Pd, SQ_GC_Ps, SQ_GC_Pe,
    SQ_GC_Pi, SQ_GC_Pf, SQ_GC_Po, SQ_GC_Sm, SQ_GC_Sc, SQ_GC_Sk, SQ_GC_So, SQ_GC_Zs,
    SQ_GC_Zl, SQ_GC_Zp, SQ_GC_Cc, SQ_GC_Cf, SQ_GC_Cs, SQ_GC_Co
};

#define SQ_UC_MAX_DECOMP 4 /* longest full canonical decomposition (Hangul: 3) */
#define SQ_UC_REPLACEMENT 0xFFFDu

typedef struct { uint32_t start; uint16_t count; uint8_t stride; int32_t delta; } sq_uc_lower_run;
typedef struct { uint32_t lo, hi; } sq_uc_range;

/* Generated tables (unicode_tables.c). */
extern const uint8_t sq_uc_ascii_gc[];
extern const uint32_t sq_uc_gc_runs[];
extern const size_t sq_uc_gc_runs_len;
extern const sq_uc_lower_run sq_uc_lower_runs[];
extern const size_t sq_uc_lower_runs_len;
extern const uint32_t sq_uc_decomp_cp[];
extern const size_t sq_uc_decomp_cp_len;
extern const uint16_t sq_uc_decomp_off[];
extern const uint32_t sq_uc_decomp_data[];
extern const uint32_t sq_uc_ccc_runs[];
extern const size_t sq_uc_ccc_runs_len;
extern const sq_uc_range sq_uc_white_space[];
extern const size_t sq_uc_white_space_len;
extern const sq_uc_range sq_uc_cased[];
extern const size_t sq_uc_cased_len;
extern const sq_uc_range sq_uc_case_ignorable[];
extern const size_t sq_uc_case_ignorable_len;

int sq_uc_category(uint32_t cp);
int sq_uc_is_letter(uint32_t cp);     /* \p{L} */
int sq_uc_is_number(uint32_t cp);     /* \p{N} */
int sq_uc_is_white_space(uint32_t cp); /* White_Space property (= regex \s) */
int sq_uc_is_cased(uint32_t cp);
int sq_uc_is_case_ignorable(uint32_t cp);
int sq_uc_ccc(uint32_t cp);
uint32_t sq_uc_simple_lower(uint32_t cp);
/* Full canonical decomposition of one code point (itself if it has none). Returns the
 * count written to out (1..SQ_UC_MAX_DECOMP). */
size_t sq_uc_decompose(uint32_t cp, uint32_t out[SQ_UC_MAX_DECOMP]);

/* Decode one UTF-8 character at s[i] (i < n). Ill-formed input yields U+FFFD for each
 * maximal ill-formed subpart (the WHATWG / Unicode "best practice" rule). Returns the
 * number of bytes consumed (>= 1). */
size_t sq_utf8_next(const uint8_t *s, size_t n, size_t i, uint32_t *cp);
/* Encode cp (must be a scalar value) into out; returns 1..4. */
size_t sq_utf8_put(uint32_t cp, char out[4]);
/* Length of the longest prefix of s[0..n) made of complete, well-formed UTF-8
 * characters, stopping before an incomplete (but so far valid) trailing sequence.
 * *bad is set to 1 if an ill-formed subsequence was met (the scan then stops at it). */
size_t sq_utf8_valid_prefix(const uint8_t *s, size_t n, int *bad);

#endif
