/* main.c - the sq command: the table of subcommands (name, entry point, usage), the usage
 * printed from it, and dispatch. `sq CMD --help` (or -h) prints CMD's usage and exits 0,
 * before CMD parses anything: every command gets it the same way. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    /* its usage forms (NULL-terminated), each the arguments after "sq NAME"; a '\n'
       continues a form on the next line */
    const char *usage[3];
} command;

static const command cmds[] = {
    {"inspect", cmd_inspect, {"MODEL [--json]"}},
    {"quantize",
     cmd_quantize,
     {"MODEL OUT.safetensors [--bits 2..8|f32] [--clusters K]\n[--group auto|row|tensor|N] [--format packed|paper|codebook]\n"
      "[--embeddings keep|int8|int4|int2..int8]\n"
      "[--report REPORT.json] [--threads N] [--seed S] [--quiet|--progress]\n[--shard-size SIZE]"}},
    {"dequantize", cmd_dequantize, {"QMODEL OUT.safetensors [--dtype f32|f16|bf16]"}},
    {"classify", cmd_classify, {"MODEL \"text\" ... [--json] [--threads N] [--activations int8|f32]"}},
    {"eval",
     cmd_eval,
     {"MODEL --data FILE.jsonl [--json] [--limit N] [--threads N]\n[--activations int8|f32]",
      "MODEL --task arc --data FILE.jsonl [--json] [--limit N] [--threads N]\n[--activations int8|f32] [--quiet|--progress]"}},
    {"generate",
     cmd_generate,
     {"MODEL --prompt \"...\" [-n N] [--temp T] [--top-p P] [--seed S] [--chat]\n[--ctx N] [--threads N] [--activations int8|f32] [--stats]"}},
    {"perplexity", cmd_perplexity, {"MODEL --text FILE [--ctx N] [--json] [--limit N] [--threads N]\n[--activations int8|f32]"}},
};
#define NCMDS (sizeof cmds / sizeof cmds[0])

static void print_usage(FILE *f, const command *c)
{
    for (int u = 0; u < 3 && c->usage[u]; u++) {
        int indent = 2 + 3 + (int)strlen(c->name) + 1; /* "  sq NAME " */
        fprintf(f, "  sq %s ", c->name);
        for (const char *p = c->usage[u]; *p; p++) {
            fputc(*p, f);
            if (*p == '\n') fprintf(f, "%*s", indent, "");
        }
        fputc('\n', f);
    }
}

static void print_help(FILE *f)
{
    fputs("sq " SQ_VERSION " - SplitQuant: split layers by k-means, quantize each part\n\nusage:\n", f);
    for (size_t i = 0; i < NCMDS; i++) print_usage(f, &cmds[i]);
    fputs("\n"
          "MODEL is a directory (config.json, *.safetensors, vocab.txt or tokenizer.json) or a\n"
          ".safetensors file; quantized files carry their config and tokenizer inside.\n"
          "`sq COMMAND --help` shows one command's usage.\n"
          "Exit status: 0 ok, 2 bad input, 1 internal error.\n",
          f);
}

/* --help or -h among a command's arguments (before a "--", after which arguments are
 * texts: sq classify MODEL -- -h classifies "-h"). */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sq %s\n", SQ_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            if (wants_help(argc - 2, argv + 2)) {
                fputs("usage:\n", stdout);
                print_usage(stdout, &cmds[i]);
                return 0;
            }
            return cmds[i].fn(argc - 2, argv + 2);
        }
    fprintf(stderr, "sq: unknown command '%s' (try: sq --help)\n", argv[1]);
    return 2;
}
