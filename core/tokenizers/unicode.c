/* unicode.c - lookups over the generated tables, UTF-8 helpers. */
#include "unicode.h"

/* Index of the last run whose start (runs[i] >> shift) is <= cp. runs[0] starts at 0. */
static size_t run_index(const uint32_t *runs, size_t n, unsigned shift, uint32_t cp)
{
    size_t lo = 0, hi = n; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((runs[mid] >> shift) <= cp) lo = mid;
        else hi = mid;
    }
    return lo;
}

static int in_ranges(const sq_uc_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int sq_uc_category(uint32_t cp)
{
    if (cp < 128) return sq_uc_ascii_gc[cp];
    if (cp >= 0x110000) return SQ_GC_Cn;
    return (int)(sq_uc_gc_runs[run_index(sq_uc_gc_runs, sq_uc_gc_runs_len, 5, cp)] & 31u);
}

int sq_uc_is_letter(uint32_t cp)
{
    int c = sq_uc_category(cp);
    return c >= SQ_GC_Lu && c <= SQ_GC_Lo;
}

int sq_uc_is_number(uint32_t cp)
{
    int c = sq_uc_category(cp);
    return c >= SQ_GC_Nd && c <= SQ_GC_No;
}

int sq_uc_is_white_space(uint32_t cp)
{
    if (cp < 128) return cp == ' ' || (cp >= 9 && cp <= 13);
    return in_ranges(sq_uc_white_space, sq_uc_white_space_len, cp);
}

int sq_uc_is_cased(uint32_t cp) { return in_ranges(sq_uc_cased, sq_uc_cased_len, cp); }

int sq_uc_is_case_ignorable(uint32_t cp)
{
    return in_ranges(sq_uc_case_ignorable, sq_uc_case_ignorable_len, cp);
}

int sq_uc_ccc(uint32_t cp)
{
    if (cp < 0x300 || cp >= 0x110000) return 0;
    return (int)(sq_uc_ccc_runs[run_index(sq_uc_ccc_runs, sq_uc_ccc_runs_len, 8, cp)] & 255u);
}

uint32_t sq_uc_simple_lower(uint32_t cp)
{
    if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    size_t lo = 0, hi = sq_uc_lower_runs_len;
    if (hi == 0 || cp < sq_uc_lower_runs[0].start) return cp;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (sq_uc_lower_runs[mid].start <= cp) lo = mid;
        else hi = mid;
    }
    const sq_uc_lower_run *r = &sq_uc_lower_runs[lo];
    uint32_t off = cp - r->start;
    if (off % r->stride != 0 || off / r->stride >= r->count) return cp;
    return (uint32_t)((int64_t)cp + r->delta);
}

/* Hangul syllable decomposition constants (Unicode 3.12). */
#define H_SBASE 0xAC00u
#define H_LBASE 0x1100u
#define H_VBASE 0x1161u
#define H_TBASE 0x11A7u
#define H_VCOUNT 21u
#define H_TCOUNT 28u
#define H_NCOUNT (H_VCOUNT * H_TCOUNT)
#define H_SCOUNT 11172u

size_t sq_uc_decompose(uint32_t cp, uint32_t out[SQ_UC_MAX_DECOMP])
{
    if (cp < 0xC0) { out[0] = cp; return 1; }
    if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
        uint32_t s = cp - H_SBASE;
        out[0] = H_LBASE + s / H_NCOUNT;
        out[1] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
        if (s % H_TCOUNT == 0) return 2;
        out[2] = H_TBASE + s % H_TCOUNT;
        return 3;
    }
    size_t lo = 0, hi = sq_uc_decomp_cp_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sq_uc_decomp_cp[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sq_uc_decomp_cp_len && sq_uc_decomp_cp[lo] == cp) {
        size_t a = sq_uc_decomp_off[lo], b = sq_uc_decomp_off[lo + 1], k;
        if (b - a > SQ_UC_MAX_DECOMP) b = a + SQ_UC_MAX_DECOMP; /* cannot happen (generator asserts) */
        for (k = a; k < b; k++) out[k - a] = sq_uc_decomp_data[k];
        return b - a;
    }
    out[0] = cp;
    return 1;
}

size_t sq_utf8_next(const uint8_t *s, size_t n, size_t i, uint32_t *cp)
{
    uint8_t b = s[i];
    if (b < 0x80) { *cp = b; return 1; }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (b >= 0xC2 && b <= 0xDF) { need = 1; v = b & 0x1Fu; }
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2; v = b & 0x0Fu;
        if (b == 0xE0) lo = 0xA0;
        else if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3; v = b & 0x07u;
        if (b == 0xF0) lo = 0x90;
        else if (b == 0xF4) hi = 0x8F;
    } else { *cp = SQ_UC_REPLACEMENT; return 1; }
    size_t k;
    for (k = 1; k <= need; k++) {
        if (i + k >= n) { *cp = SQ_UC_REPLACEMENT; return k; }
        uint8_t c = s[i + k];
        if (c < lo || c > hi) { *cp = SQ_UC_REPLACEMENT; return k; }
        lo = 0x80; hi = 0xBF;
        v = (v << 6) | (c & 0x3Fu);
    }
    *cp = v;
    return need + 1;
}

size_t sq_utf8_put(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t sq_utf8_valid_prefix(const uint8_t *s, size_t n, int *bad)
{
    size_t i = 0;
    *bad = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp;
        size_t k = sq_utf8_next(s, n, i, &cp);
        if (cp == SQ_UC_REPLACEMENT) {
            /* A real U+FFFD (EF BF BD) is fine; otherwise ill-formed or truncated. */
            if (k == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] == 0xBD) { i += 3; continue; }
            int lead_ok = s[i] >= 0xC2 && s[i] <= 0xF4;
            if (lead_ok && i + k >= n) return i; /* ran out of bytes: incomplete, not (yet) bad */
            *bad = 1;
            return i;
        }
        i += k;
    }
    return i;
}
