/* sample.c - greedy and temperature + top-p sampling (see sample.h). */
#include "sample.h"

#include <math.h>
#include <stdlib.h>

int sq_sampler_init(sq_sampler *s, size_t vocab, float temperature, float top_p, uint64_t seed, sq_err *e)
{
    s->vocab = vocab;
    s->temperature = temperature;
    s->top_p = top_p;
    s->state = seed;
    s->cand = NULL;
    if (!(temperature >= 0) || !isfinite(temperature))
        return sq_fail(e, SQ_EINPUT, "temperature must be a finite number >= 0");
    if (!(top_p > 0 && top_p <= 1)) return sq_fail(e, SQ_EINPUT, "top-p must be in (0, 1]");
    if (vocab == 0) return sq_fail(e, SQ_EINPUT, "empty vocabulary");
    s->cand = sq_malloc(vocab * sizeof *s->cand, e);
    return s->cand ? SQ_OK : e->code;
}

void sq_sampler_free(sq_sampler *s)
{
    free(s->cand);
    s->cand = NULL;
}

/* splitmix64: a full-period 64-bit generator with good mixing. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float sq_rand_f32(uint64_t *state)
{
    return (float)(next_u64(state) >> 40) * (1.0f / 16777216.0f); /* 24 random bits */
}

int32_t sq_argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

static int cmp_desc(const void *a, const void *b)
{
    const sq_prob_index *x = a, *y = b;
    if (x->prob > y->prob) return -1;
    if (x->prob < y->prob) return 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int32_t sq_sample(sq_sampler *s, float *logits)
{
    size_t n = s->vocab;
    if (s->temperature == 0.0f) return sq_argmax(logits, n);
    float mx = logits[0];
    for (size_t i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        logits[i] = expf((logits[i] - mx) / s->temperature);
        sum += logits[i];
    }
    for (size_t i = 0; i < n; i++) logits[i] = (float)(logits[i] / sum);
    float r = sq_rand_f32(&s->state);
    if (s->top_p >= 1.0f) {
        float cdf = 0;
        for (size_t i = 0; i < n; i++) {
            cdf += logits[i];
            if (r < cdf) return (int32_t)i;
        }
        return (int32_t)(n - 1);
    }
    /* nucleus: the smallest set of most likely tokens whose mass exceeds top_p. Tokens
     * below (1 - top_p) / (n - 1) cannot be in it, which keeps the sort short. */
    float cutoff = (1.0f - s->top_p) / (float)(n > 1 ? n - 1 : 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (logits[i] >= cutoff) {
            s->cand[m].prob = logits[i];
            s->cand[m].index = (int32_t)i;
            m++;
        }
    if (m == 0) return sq_argmax(logits, n);
    qsort(s->cand, m, sizeof *s->cand, cmp_desc);
    float cum = 0;
    size_t last = m - 1;
    for (size_t i = 0; i < m; i++) {
        cum += s->cand[i].prob;
        if (cum > s->top_p) {
            last = i;
            break;
        }
    }
    float target = r * cum, cdf = 0;
    for (size_t i = 0; i <= last; i++) {
        cdf += s->cand[i].prob;
        if (target < cdf) return s->cand[i].index;
    }
    return s->cand[last].index;
}
