/* fuzz_bert.c - config.json interpretation and weight loading of the BERT classifier,
 * then a forward pass.
 *
 * Input: config.json text, FUZZ_SEP, a safetensors file (plain or sq-quantized),
 * FUZZ_SEP, token ids (one signed byte each; out-of-range ids must be refused).
 * Properties: no crash, leak, hang or allocation beyond the input's reach; a loaded
 * model gives finite-or-not logits without touching memory it does not own; ids outside
 * the vocabulary and sequences longer than max_position_embeddings are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/bert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[3];
    fuzz_split(data, size, parts, 3);
    char *cfg = fuzz_strdup(&parts[0]);
    uint8_t *w = fuzz_copy(&parts[1]);
    sq_mem_reader m;
    sq_reader r = sq_reader_from_memory(&m, w, parts[1].len);
    sq_st_file f;
    sq_err e = {0};
    if (sq_st_open(&f, &r, &e)) goto out;
    sq_bert *b = NULL;
    int rc = sq_bert_load(&b, &f, cfg, &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        FUZZ_ASSERT(b == NULL);
        sq_st_close(&f);
        goto out;
    }
    FUZZ_ASSERT(b->c.n_labels >= 1 && b->labels);
    for (int i = 0; i < b->c.n_labels; i++) FUZZ_ASSERT(b->labels[i]);
    (void)sq_bert_bytes(b);
    size_t n = parts[2].len < 24 ? parts[2].len : 24;
    int32_t ids[24], types[24];
    uint8_t mask[24];
    int in_range = n <= (size_t)b->c.max_pos;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int8_t)parts[2].data[i];
        types[i] = (parts[2].data[i] >> 6) & 1;
        mask[i] = i == 0 || (parts[2].data[i] & 0x20) == 0;
        if (ids[i] < 0 || ids[i] >= b->c.vocab || types[i] >= b->c.type_vocab) in_range = 0;
    }
    float *logits = malloc((size_t)b->c.n_labels * sizeof(float)), *probs = malloc((size_t)b->c.n_labels * sizeof(float));
    FUZZ_ASSERT(logits && probs);
    memset(&e, 0, sizeof e);
    rc = sq_bert_forward_ex(b, ids, types, mask, n, logits, &e);
    fuzz_check_err(rc, &e);
    if (in_range && n > 0 && rc) {
        fprintf(stderr, "forward refused valid ids: %s\n", e.msg);
        abort();
    }
    if (!in_range) FUZZ_ASSERT(rc == SQ_EINPUT);
    if (rc == 0) sq_softmax(logits, probs, (size_t)b->c.n_labels);
    memset(&e, 0, sizeof e);
    rc = sq_bert_forward(b, ids, n, logits, &e);
    fuzz_check_err(rc, &e);
    free(logits);
    free(probs);
    sq_bert_free(b);
    sq_st_close(&f);
out:
    free(cfg);
    free(w);
    return 0;
}
