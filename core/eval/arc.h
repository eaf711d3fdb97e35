/* arc.h - multiple-choice evaluation (ARC) of a Llama model, scored the way
 * lm-evaluation-harness scores ARC; used by `sq eval --task arc` (cli/cmd_arc.c) and the
 * browser module (wasm/infer_bindings.c).
 *
 * Each question becomes the prompt "Question: {stem}\nAnswer:" and each choice the
 * continuation " {text}". A choice's score is the summed log-likelihood of its tokens
 * after the prompt: the tokens of prompt + continuation, minus the prompt's own tokens
 * (as the harness splits them), each scored by the model's log-softmax at the position
 * before it. acc: the highest score picks the answer; acc_norm: the highest score per
 * character of the choice text (Unicode code points, the harness's len()). The prompt
 * starts with BOS, as `sq generate` and `sq perplexity` do. The prompt is run once per
 * question; every choice then continues from its KV cache (sq_llama_rewind).
 *
 * Input, one JSON object per line: ARC's own {"question": {"stem", "choices":
 * [{"text", "label"}]}, "answerKey", "id"}, or {"question": "...", "choices": ["..."],
 * "answer": index or label or text}.
 */
#ifndef SQ_ARC_H
#define SQ_ARC_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "../models/llama.h"
#include "../sq.h"
#include "../tokenizers/tokenizer.h"

#define SQ_ARC_MAX_CHOICES 16
#define SQ_ARC_MAX_TEXT (64u << 10) /* bytes of one stem or choice */

typedef struct sq_arc_item {
    char *id;
    char *stem;
    int n_choices;
    char *text[SQ_ARC_MAX_CHOICES];
    char *label[SQ_ARC_MAX_CHOICES];
    int answer; /* index into the choices */
} sq_arc_item;

/* One line of a data file into q (lineno: 1-based, for messages); SQ_OK or an error with
 * a one-line message. sq_arc_item_free releases what a successful parse holds. */
int sq_arc_parse(const char *line, size_t len, size_t lineno, sq_arc_item *q, sq_err *e);
void sq_arc_item_free(sq_arc_item *q);

/* A scorer: the model and tokenizer it borrows, and its logits buffers. */
typedef struct sq_arc {
    const sq_tokenizer *tok;
    sq_llama *llm;
    float *ctx_logits; /* [vocab]: after the prompt's last token */
    float *logits;     /* [max tokens, vocab] for one continuation */
    size_t logits_rows;
} sq_arc;

int sq_arc_init(sq_arc *a, sq_llama *llm, const sq_tokenizer *tok, sq_err *e);
void sq_arc_free(sq_arc *a);
/* Scores of every choice of q into ll[] and their token counts into ntok[]; when js is not
 * NULL, the prompt's and continuations' token ids and the scores are added to it
 * ("prompt_ids", "choices": [{"label", "loglik", "continuation_ids"}]). */
int sq_arc_score(sq_arc *a, const sq_arc_item *q, double *ll, size_t *ntok, cJSON *js, sq_err *e);
/* The picks of acc (highest score; the first of equals) and acc_norm (per character). */
void sq_arc_pick(const sq_arc_item *q, const double *ll, int *pred, int *pred_norm);

#endif
