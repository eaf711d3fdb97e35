# mk/fuzz.mk - libFuzzer targets (fuzz/fuzz_<name>.c) over the portable core.
#
#   make fuzz             build every target, then fuzz each for FUZZ_SECONDS (default 60)
#   make fuzz-smoke       the same with FUZZ_SMOKE_SECONDS per target (default 30; for CI)
#   make fuzz-regress     run every target once over fuzz/regressions/<t>/ and
#                         fuzz/corpus/<t>/ (no fuzzing; part of `make test`); the last line
#                         is "N passed, N failed"
#   make fuzz-build       only build (build/fuzz/fuzz_<t> and build/fuzz/regress_<t>)
#   make fuzz-<t>         fuzz one target, e.g. make fuzz-safetensors FUZZ_SECONDS=900
#   make fuzz-seeds       rewrite the generated seed corpora (fuzz/gen_seeds.c)
#
# Needs clang with libFuzzer and the sanitizer runtimes (Debian: clang-14 and
# libclang-rt-14-dev). Findings (crash-*, leak-*, oom-*, timeout-*) land in
# build/fuzz/findings/<t>/; the corpus grown while fuzzing in build/fuzz/corpus/<t>/
# (the committed seeds in fuzz/corpus/<t>/ are only read). Keep reproducers of fixed
# bugs in fuzz/regressions/<t>/.

FUZZ_CC        ?= clang
FUZZ_BUILD     ?= build/fuzz
FUZZ_SECONDS   ?= 60
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_JOBS      ?= 1
# libFuzzer limits: one allocation above FUZZ_MALLOC_MB is a finding (allocations must be
# bounded by the input size), so is an input that takes longer than FUZZ_TIMEOUT s.
FUZZ_MALLOC_MB ?= 512
FUZZ_RSS_MB    ?= 2048
FUZZ_TIMEOUT   ?= 20
FUZZ_MAX_LEN   ?= 65536
FUZZ_ARGS      ?=

FUZZ_CFLAGS  = -g -O1 -std=c11 -ffp-contract=off -fno-strict-aliasing -D_POSIX_C_SOURCE=200809L -Icore \
               -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_TARGETS := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
FUZZ_OBJ     := $(CORE_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_HDRS    := $(wildcard fuzz/*.h)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_REGRESS_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/regress_%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-regress fuzz-seeds $(FUZZ_TARGETS:%=fuzz-%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libsq-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_BUILD)/libsq-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libsq-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/regress_%: fuzz/fuzz_%.c fuzz/regress_main.c $(FUZZ_HDRS) $(FUZZ_BUILD)/libsq-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< fuzz/regress_main.c $(FUZZ_BUILD)/libsq-fuzz.a $(LDLIBS)

$(FUZZ_BUILD)/gen_seeds: fuzz/gen_seeds.c $(FUZZ_BUILD)/libsq-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_BUILD)/libsq-fuzz.a $(LDLIBS)

fuzz-build: $(FUZZ_BINS) $(FUZZ_REGRESS_BINS)

# Fuzz targets $(1) for $(2) s each, one after the other; a finding in one target does
# not stop the others, but makes the whole run fail at the end.
define FUZZ_RUN
	@fail=""; for t in $(1); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/findings/$$t; touch $(FUZZ_BUILD)/findings/.start-$$t; \
	  echo "== fuzz $$t for $(2) s (findings: $(FUZZ_BUILD)/findings/$$t/)"; \
	  dict=""; if [ -f fuzz/dict/$$t.dict ]; then dict=-dict=fuzz/dict/$$t.dict; fi; \
	  reg=""; if [ -d fuzz/regressions/$$t ]; then reg=fuzz/regressions/$$t; fi; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(2) -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) \
	    -malloc_limit_mb=$(FUZZ_MALLOC_MB) -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/findings/$$t/ $$dict \
	    $(if $(filter-out 1,$(FUZZ_JOBS)),-jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS)) $(FUZZ_ARGS) \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t $$reg 2>&1 | grep -v '^#[0-9]' || true; \
	  if [ -n "$$(find $(FUZZ_BUILD)/findings/$$t -type f -newer $(FUZZ_BUILD)/findings/.start-$$t)" ]; then fail="$$fail $$t"; fi; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz: findings in:$$fail (see $(FUZZ_BUILD)/findings/)"; exit 1; fi
endef

$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: $(FUZZ_BUILD)/fuzz_%
	$(call FUZZ_RUN,$*,$(FUZZ_SECONDS))

fuzz: $(FUZZ_BINS)
	$(call FUZZ_RUN,$(FUZZ_TARGETS),$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BINS)
	$(call FUZZ_RUN,$(FUZZ_TARGETS),$(FUZZ_SMOKE_SECONDS))

# Every target once over its regressions and seeds; fast (no fuzzing).
fuzz-regress: $(FUZZ_REGRESS_BINS)
	@pass=0; fail=0; \
	for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_BUILD)/regress_$$t $$t fuzz/regressions/$$t fuzz/corpus/$$t >$(FUZZ_BUILD)/regress_$$t.out 2>$(FUZZ_BUILD)/regress_$$t.log; \
	  cat $(FUZZ_BUILD)/regress_$$t.out; \
	  line=$$(tail -n 1 $(FUZZ_BUILD)/regress_$$t.out); \
	  p=$$(echo "$$line" | sed -n 's/^.*: \([0-9]*\) passed, \([0-9]*\) failed$$/\1/p'); \
	  f=$$(echo "$$line" | sed -n 's/^.*: \([0-9]*\) passed, \([0-9]*\) failed$$/\2/p'); \
	  if [ -z "$$p" ]; then p=0; f=1; echo "$$t: the regression runner failed (see $(FUZZ_BUILD)/regress_$$t.log)"; fi; \
	  if [ "$$f" != 0 ]; then echo "   sanitizer reports: $(FUZZ_BUILD)/regress_$$t.log"; fi; \
	  pass=$$((pass + p)); fail=$$((fail + f)); \
	done; \
	echo "$$pass passed, $$fail failed"; test $$fail = 0

fuzz-seeds: $(FUZZ_BUILD)/gen_seeds
	$(FUZZ_BUILD)/gen_seeds fuzz/corpus
	python3 fuzz/gen_text_seeds.py fuzz/corpus

# Part of `make test` (TEST_SUITES in the Makefile; FUZZ_IN_TEST=0 leaves it out).

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
