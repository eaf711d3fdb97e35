/* Temporary: inference commands until cli/cmd_infer.c lands. */
#include <stdio.h>
#include "cli.h"
#ifndef SQ_HAVE_INFER
static int not_yet(void) { fprintf(stderr, "sq: inference commands are not built yet\n"); return 1; }
int cmd_classify(int argc, char **argv) { (void)argc; (void)argv; return not_yet(); }
int cmd_eval(int argc, char **argv) { (void)argc; (void)argv; return not_yet(); }
int cmd_generate(int argc, char **argv) { (void)argc; (void)argv; return not_yet(); }
int cmd_perplexity(int argc, char **argv) { (void)argc; (void)argv; return not_yet(); }
#endif
