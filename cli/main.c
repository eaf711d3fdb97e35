/* main.c - the sq command: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "sq " SQ_VERSION " - SplitQuant: split layers by k-means, quantize each part\n"
    "\n"
    "usage:\n"
    "  sq inspect MODEL [--json]\n"
    "  sq quantize MODEL OUT.safetensors [--bits 2|3|4|8|f32] [--clusters K]\n"
    "              [--group auto|row|tensor|N] [--format packed|paper]\n"
    "              [--report REPORT.json] [--threads N] [--seed S] [--quiet|--progress]\n"
    "  sq dequantize QMODEL OUT.safetensors [--dtype f32|f16|bf16]\n"
    "  sq classify MODEL \"text\" ... [--json]\n"
    "  sq eval MODEL --data FILE.jsonl [--json] [--limit N]\n"
    "  sq eval MODEL --task arc --data FILE.jsonl [--json] [--limit N]\n"
    "  sq generate MODEL --prompt \"...\" [-n N] [--temp T] [--top-p P] [--seed S] [--chat]\n"
    "  sq perplexity MODEL --text FILE [--ctx N] [--json] [--limit N]\n"
    "\n"
    "MODEL is a directory (config.json, *.safetensors, vocab.txt or tokenizer.json) or a\n"
    ".safetensors file; quantized files carry their config and tokenizer inside.\n"
    "Exit status: 0 ok, 2 bad input, 1 internal error.\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sq %s\n", SQ_VERSION);
        return 0;
    }
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"inspect", cmd_inspect},   {"quantize", cmd_quantize}, {"dequantize", cmd_dequantize},
        {"classify", cmd_classify}, {"eval", cmd_eval},         {"generate", cmd_generate},
        {"perplexity", cmd_perplexity},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "sq: unknown command '%s' (try: sq --help)\n", argv[1]);
    return 2;
}
