# mk/kernels.mk - the kernel twins' tests and benchmark (included by the top-level Makefile).
#
#   make kernels-test   native: build/tests/test_kernels (ref vs avx2 bit for bit, threads,
#                       oracle); wasm: build/kernels/test_kernels.wasm under node:wasi (ref
#                       vs simd128 bit for bit, inside wasm). Ends "N passed, N failed";
#                       part of `make test`.
#   make kernels-bench  GB/s of weight bytes per kernel, scalar twin vs SIMD twin, in node
#                       (and natively): build/bench/kernels.json; part of `make bench`.
#
# The wasm program is built with sq.wasm's flags (clang --target=wasm32-wasi -O3
# -msimd128); its scalar reference (ref.c) with -fno-vectorize -fno-slp-vectorize,
# so "scalar" means scalar. test_kernels_autovec.wasm keeps the reference as sq.wasm
# compiles it (auto-vectorised) for the bench's comparison column.

KERNELS_DIR  = $(BUILD)/kernels
# Every kernel file but linear.c (the loader, which needs the quantized-file reader) and
# ref.c (built separately, see above): a new ISA file is picked up without an edit here.
KERNELS_REF  = core/kernels/ref.c
KERNELS_SRC  = $(filter-out $(KERNELS_REF) core/kernels/linear.c,$(sort $(wildcard core/kernels/*.c))) core/dtype.c
KERNELS_DEP  = $(KERNELS_SRC) $(KERNELS_REF) $(wildcard core/kernels/*.h) core/dtype.h \
               $(wildcard tests/kernels/*.h) tests/kernels/test_kernels_wasm.c
KERNELS_WASM = --target=wasm32-wasi -O3 -msimd128 -std=c11 -ffp-contract=off -fno-strict-aliasing \
               -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Icore -Itests/kernels \
               -Wl,-z,stack-size=1048576
KERNELS_CC  ?= clang
NODE        ?= node

.PHONY: kernels-test kernels-bench bench

$(KERNELS_DIR)/ref_scalar.o: $(KERNELS_DEP)
	@mkdir -p $(dir $@)
	$(KERNELS_CC) $(filter-out -Wl%,$(KERNELS_WASM)) -fno-vectorize -fno-slp-vectorize -c $(KERNELS_REF) -o $@

$(KERNELS_DIR)/test_kernels.wasm: $(KERNELS_DEP) $(KERNELS_DIR)/ref_scalar.o
	$(KERNELS_CC) $(KERNELS_WASM) -o $@ tests/kernels/test_kernels_wasm.c $(KERNELS_SRC) $(KERNELS_DIR)/ref_scalar.o

$(KERNELS_DIR)/test_kernels_autovec.wasm: $(KERNELS_DEP)
	@mkdir -p $(dir $@)
	$(KERNELS_CC) $(KERNELS_WASM) -o $@ tests/kernels/test_kernels_wasm.c $(KERNELS_SRC) $(KERNELS_REF)

# The same program natively (ref vs avx2): the native column of the bench.
$(KERNELS_DIR)/kernels_native: $(KERNELS_DEP)
	@mkdir -p $(dir $@)
	$(CC) $(SQ_CFLAGS) -Itests/kernels -o $@ tests/kernels/test_kernels_wasm.c $(KERNELS_SRC) $(KERNELS_REF) -lm

kernels-test: $(BUILD)/tests/test_kernels $(KERNELS_DIR)/test_kernels.wasm
	@$(NODE) tests/kernels/run.mjs --wasm $(KERNELS_DIR)/test_kernels.wasm --native-test $(BUILD)/tests/test_kernels

kernels-bench: $(KERNELS_DIR)/test_kernels.wasm $(KERNELS_DIR)/test_kernels_autovec.wasm $(KERNELS_DIR)/kernels_native
	$(NODE) tests/kernels/run.mjs --bench --wasm $(KERNELS_DIR)/test_kernels.wasm \
	  --autovec $(KERNELS_DIR)/test_kernels_autovec.wasm --native $(KERNELS_DIR)/kernels_native \
	  --out $(BUILD)/bench/kernels.json

bench: kernels-bench

# Part of `make test` (TEST_SUITES in the Makefile).
