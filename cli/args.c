/* args.c - what the sq commands share beside opening files (files.c): parsing option
 * values, usage errors, the kernels' threads, clocks, the tokenizer of a model, reading a
 * text a line at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "cli.h"

int cli_usage_err(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "sq %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

/* Parse a whole decimal integer / float option value. */
int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s) return 0;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || !*s) return 0;
    double v = strtod(s, &end);
    if (*end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-') return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* --threads N (1..256). */
int cli_parse_threads(const char *s, int *out)
{
    long v;
    if (!cli_parse_long(s, 1, 256, &v)) return 0;
    *out = (int)v;
    return 1;
}

/* The kernels' exec for t threads (the pool argument points at t, which must outlive it). */
/* --activations of the running command (one command per process): int8 by default */
static int g_act = SQ_ACT_INT8;

sq_exec cli_exec_for(int *t)
{
    sq_exec ex;
    ex.parallel = cli_parallel(*t);
    ex.pool = t;
    ex.threads = ex.parallel ? *t : 1;
    ex.act = g_act;
    return ex;
}

int cli_parse_activations(const char *s)
{
    if (strcmp(s, "int8") == 0) g_act = SQ_ACT_INT8;
    else if (strcmp(s, "f32") == 0) g_act = SQ_ACT_F32;
    else return 0;
    return 1;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
double cli_now_s(void) { return clock_s(CLOCK_MONOTONIC); }
double cli_cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

/* tokenizer.json (preferred) or vocab.txt, beside the model or in its metadata. */
int cli_load_tokenizer(const cli_model *m, sq_tokenizer **t, sq_err *e)
{
    if (!m->tokenizer_json && !m->vocab_txt)
        return sq_fail(e, SQ_EINPUT, "%s: no tokenizer.json or vocab.txt beside the model (nor in its metadata)", m->weights_path);
    return sq_bundle_tokenizer(t, m->tokenizer_json, m->tokenizer_json_len, m->vocab_txt, m->vocab_txt_len,
                               m->tokenizer_config, e);
}

/* Next line of buf (modified in place: the newline becomes NUL); NULL at the end. */
char *cli_next_line(char **cur)
{
    char *s = *cur;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = 0;
        *cur = nl + 1;
    } else {
        *cur = s + strlen(s);
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r') s[n - 1] = 0;
    return s;
}

int cli_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

