# sq - SplitQuant. `make` builds the native CLI at build/sq; `make test` runs every test
# (the list: TEST_SUITES below), `make check` the quick native ones.
# Sources are discovered: every core/**/*.c is the library, cli/*.c the front end,
# host/*.c what the front ends share that calls the platform (the thread pool),
# tests/unit/test_*.c one test program each.

CC       ?= cc
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
SQ_CFLAGS = -std=c11 -Wall -Wextra -Werror -ffp-contract=off -fno-strict-aliasing \
            -D_POSIX_C_SOURCE=200809L -Icore $(CFLAGS) $(SANITIZE)
LDLIBS    = -lcjson -lm -lpthread
BUILD    ?= build

CORE_SRC  := $(sort $(shell find core -name '*.c'))
CLI_SRC   := $(sort $(wildcard cli/*.c))
HOST_SRC  := $(sort $(wildcard host/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
HOST_OBJ  := $(HOST_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(HOST_OBJ)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test check unit-test cli-test tokenizer-test demo clean asan eval
all: $(BUILD)/sq $(BUILD)/sq-synth

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SQ_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libsq.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sq: $(CLI_OBJ) $(BUILD)/libsq.a
	$(CC) $(SQ_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsq.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsq.a $(HOST_OBJ) $(wildcard tests/unit/*.h) $(wildcard tests/kernels/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(SQ_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libsq.a $(HOST_OBJ) $(LDLIBS)

unit-test: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

cli-test: $(BUILD)/sq
	@SQ=$(BUILD)/sq bash tests/cli/run.sh

# Our tokenizers vs an independent implementation (npm @huggingface/tokenizers) on the
# whole wikitext-2 test text, the emotion test set and the TinyStories sample.
tokenizer-test:
	bash tests/tokenizer/run.sh


# The whole suite once more under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BUILD=build/asan SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" OPT=-O1 unit-test cli-test

# The README's first command: split + quantize the bundled BERT-Tiny and show, per layer,
# the original range vs the widest cluster's range and the MSE split vs plain.
demo: $(BUILD)/sq
	@mkdir -p $(BUILD)/demo
	$(BUILD)/sq quantize examples/bert-tiny-emotion $(BUILD)/demo/bert-tiny-int4-split.safetensors \
	  --bits 4 --clusters 3 --format paper --report $(BUILD)/demo/report.json --progress
	$(BUILD)/sq classify $(BUILD)/demo/bert-tiny-int4-split.safetensors "i feel so happy today" "this is terrible and i am scared"

# The accuracy table: docs/results.md and docs/results.json (every number measured).
eval: $(BUILD)/sq
	SQ=$(BUILD)/sq python3 tools/eval.py

clean:
	rm -rf $(BUILD)

# Further targets (wasm, web, fuzz, bench) live in mk/*.mk.
include $(sort $(wildcard mk/*.mk))

# ---------------- every test suite, in one place ----------------
# `make test` runs them all (the suites' rules: unit/cli/tokenizer above, the others in
# mk/*.mk); `make check` is the quick native-only run for development (no wasm, browser,
# fuzz or npm cross-check). Under SANITIZE (make asan) only the native suites apply:
# sanitizers don't reach wasm, and test_kernels runs natively through unit-test.
FUZZ_IN_TEST ?= 1
TEST_SUITES   = unit-test cli-test tokenizer-test
ifneq ($(FUZZ_IN_TEST),0)
TEST_SUITES  += fuzz-regress
endif
ifeq ($(SANITIZE),)
TEST_SUITES  += kernels-test wasm-test web-test
endif
test: $(TEST_SUITES)
check: unit-test cli-test

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The synthetic Llama-3.2-shaped model generator (for scale runs and benchmarks).
$(BUILD)/sq-synth: tools/synth.c $(BUILD)/libsq.a
	$(CC) $(SQ_CFLAGS) -O2 -o $@ $< $(BUILD)/libsq.a $(LDLIBS)
