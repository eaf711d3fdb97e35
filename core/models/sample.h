/* sample.h - choosing the next token from logits: greedy, or temperature + top-p
 * (nucleus) sampling with a small seeded PRNG of our own (splitmix64), so a
 * given seed gives the same text on every platform. */
#ifndef SQ_SAMPLE_H
#define SQ_SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include "../sq.h"

typedef struct sq_prob_index {
    float prob;
    int32_t index;
} sq_prob_index;

typedef struct sq_sampler {
    size_t vocab;
    float temperature;   /* 0 = greedy (argmax) */
    float top_p;         /* in (0, 1]; 1 = no nucleus cut */
    uint64_t state;      /* PRNG state */
    sq_prob_index *cand; /* vocab entries of scratch */
} sq_sampler;

int sq_sampler_init(sq_sampler *s, size_t vocab, float temperature, float top_p, uint64_t seed, sq_err *e);
void sq_sampler_free(sq_sampler *s);
/* Next token from logits[vocab] (overwritten with probabilities when sampling). */
int32_t sq_sample(sq_sampler *s, float *logits);

/* Index of the largest value (the first one on ties). */
int32_t sq_argmax(const float *x, size_t n);
/* Uniform in [0, 1) from the sampler's PRNG. */
float sq_rand_f32(uint64_t *state);

#endif
