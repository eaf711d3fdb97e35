/* bundle.c - what comes with a model's weights (bundle.h). */
#include "bundle.h"

#include <cjson/cJSON.h>

/* tokenizer_config.json says do_lower_case: false (a cased vocab.txt). */
static int config_cased(const char *tc)
{
    if (!tc) return 0;
    cJSON *j = cJSON_Parse(tc);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "do_lower_case") : NULL;
    int cased = cJSON_IsFalse(v);
    cJSON_Delete(j);
    return cased;
}

int sq_bundle_tokenizer(sq_tokenizer **out, const char *tj, size_t tj_len, const char *vt, size_t vt_len,
                        const char *tokenizer_config, sq_err *e)
{
    int rc;
    if (tj) {
        rc = sq_tokenizer_load_json(out, tj, tj_len, e);
        if (rc) sq_err_prefix(e, "tokenizer.json: ");
    } else if (vt) {
        rc = sq_tokenizer_load_vocab_txt(out, vt, vt_len, config_cased(tokenizer_config) ? SQ_TOK_VOCAB_CASED : 0, e);
        if (rc) sq_err_prefix(e, "vocab.txt: ");
    } else {
        rc = sq_fail(e, SQ_EINTERNAL, "no tokenizer text given");
    }
    return rc;
}

size_t sq_bundle_bert_max_len(const sq_bert *b, const sq_tokenizer *t)
{
    size_t ml = sq_tokenizer_max_length(t), max_len = ml ? ml : 512;
    /* RoBERTa spends pad_token_id + 1 positions before the first token */
    if (max_len > (size_t)(b->c.max_pos - b->c.pos_offset)) max_len = (size_t)(b->c.max_pos - b->c.pos_offset);
    return max_len;
}
