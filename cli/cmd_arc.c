/* cmd_arc.c - sq eval MODEL --task arc --data FILE.jsonl: multiple-choice accuracy of a
 * Llama model, scored the way lm-evaluation-harness scores ARC (core/eval/arc.h: the
 * prompt, the scoring and the data lines; here: the file, progress and the output).
 *
 * Lines are all parsed before the model loads, so a bad line is reported at once.
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval/arc.h"
#include "models/llama.h"
#include "tokenizers/tokenizer.h"

#define ARC_DATA_LIMIT (256u << 20)

int cmd_eval_arc(int argc, char **argv)
{
    const char *path = NULL, *data = NULL;
    int json = 0, quiet = 0, progress = isatty(2), threads = cli_default_threads();
    long limit = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
        else if (strcmp(argv[i], "--progress") == 0) progress = 1;
        else if (strcmp(argv[i], "--task") == 0 && i + 1 < argc) {
            if (strcmp(argv[++i], "arc") != 0) return cli_usage_err("eval", "unknown --task '%s' (tasks: arc)", argv[i]);
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, LONG_MAX, &limit)) return cli_usage_err("eval", "--limit needs a positive integer, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--activations") == 0 && i + 1 < argc) {
            if (!cli_parse_activations(argv[++i])) return cli_usage_err("eval", "--activations must be f32 or int8, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!cli_parse_threads(argv[++i], &threads)) return cli_usage_err("eval", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        } else if (argv[i][0] == '-') return cli_usage_err("eval", "unknown option or missing value: '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_err("eval", "unexpected argument '%s'", argv[i]);
    }
    if (!path || !data) return cli_usage_err("eval", "%s", "usage: sq eval MODEL --task arc --data FILE.jsonl [--limit N] [--json] [--threads N] [--activations int8|f32] [--quiet|--progress]");
    if (quiet) progress = 0;

    sq_err e = {0};
    cli_model cm;
    memset(&cm, 0, sizeof cm);
    sq_tokenizer *tok = NULL;
    sq_llama *llm = NULL;
    sq_arc a;
    memset(&a, 0, sizeof a);
    size_t len = 0, n_items = 0, cap = 0;
    sq_arc_item *items = NULL;
    char *text = cli_read_text(data, ARC_DATA_LIMIT, &len, &e);
    int rc = text ? SQ_OK : e.code;
    /* every line first: a bad line is reported before the model loads */
    long lineno = 0;
    char *cur = text, *line;
    while (!rc && (!limit || n_items < (size_t)limit) && (line = cli_next_line(&cur))) {
        lineno++;
        if (cli_blank(line)) continue;
        if (n_items == cap) {
            cap = cap ? 2 * cap : 64;
            sq_arc_item *q = realloc(items, cap * sizeof *q);
            if (!q) { rc = sq_fail(&e, SQ_EINTERNAL, "out of memory"); break; }
            items = q;
        }
        if ((rc = sq_arc_parse(line, strlen(line), (size_t)lineno, &items[n_items], &e))) {
            char pre[300];
            snprintf(pre, sizeof pre, "%.280s: ", data);
            sq_err_prefix(&e, pre);
            break;
        }
        n_items++;
    }
    free(text);
    if (!rc && n_items == 0) rc = sq_fail(&e, SQ_EINPUT, "%s: no questions in the file", data);

    int exec_threads = threads;
    sq_exec ex = cli_exec_for(&exec_threads);
    if (!rc) rc = cli_model_open(&cm, path, &e);
    if (!rc && !cm.config) rc = sq_fail(&e, SQ_EINPUT, "%s: no config.json beside the model (nor in its metadata)", cm.weights_path);
    if (!rc) rc = cli_load_tokenizer(&cm, &tok, &e); /* the choice every command makes (bundle.h) */
    if (!rc) rc = sq_llama_load(&llm, &cm.st, cm.config, 0, &e);
    if (!rc) {
        sq_llama_set_exec(llm, &ex);
        rc = sq_arc_init(&a, llm, tok, &e);
    }

    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *jq = root ? cJSON_AddArrayToObject(root, "questions") : NULL;
    size_t correct = 0, correct_norm = 0;
    for (size_t i = 0; !rc && i < n_items; i++) {
        const sq_arc_item *q = &items[i];
        double ll[SQ_ARC_MAX_CHOICES];
        size_t ntok[SQ_ARC_MAX_CHOICES];
        cJSON *o = jq ? cJSON_CreateObject() : NULL;
        if (o) {
            cJSON_AddStringToObject(o, "id", q->id);
            cJSON_AddNumberToObject(o, "answer", q->answer);
        }
        rc = sq_arc_score(&a, q, ll, ntok, o, &e);
        if (rc) { cJSON_Delete(o); break; }
        int best, best_norm;
        sq_arc_pick(q, ll, &best, &best_norm);
        correct += best == q->answer;
        correct_norm += best_norm == q->answer;
        if (o) {
            cJSON_AddNumberToObject(o, "pred", best);
            cJSON_AddNumberToObject(o, "pred_norm", best_norm);
            cJSON_AddItemToArray(jq, o);
        }
        if (progress) fprintf(stderr, "\r[%zu/%zu] acc %.4f", i + 1, n_items, (double)correct / (double)(i + 1));
    }
    if (progress) fputc('\n', stderr);
    if (!rc) {
        double acc = (double)correct / (double)n_items, acc_norm = (double)correct_norm / (double)n_items;
        if (root) {
            cJSON_AddStringToObject(root, "task", "arc");
            cJSON_AddNumberToObject(root, "n", (double)n_items);
            cJSON_AddNumberToObject(root, "acc", acc);
            cJSON_AddNumberToObject(root, "acc_norm", acc_norm);
            char *s = cJSON_PrintUnformatted(root);
            if (!s) rc = sq_fail(&e, SQ_EINTERNAL, "out of memory");
            else { puts(s); free(s); }
        } else {
            printf("acc %.4f (%zu/%zu)  acc_norm %.4f (%zu/%zu)\n", acc, correct, n_items, acc_norm, correct_norm, n_items);
        }
    }
    cJSON_Delete(root);
    for (size_t i = 0; i < n_items; i++) sq_arc_item_free(&items[i]);
    free(items);
    sq_arc_free(&a);
    sq_llama_free(llm);
    sq_tokenizer_free(tok);
    if (cm.weights_path) cli_model_close(&cm);
    return rc ? cli_report(&e) : 0;
}
