# mk/wasm.mk - the WebAssembly builds and their tests (included by the top-level Makefile).
#
#   make wasi        build/sq.wasm: the whole CLI for WASI preview1 (node:wasi, wasmtime)
#   make web-module  build/web/sq-core.{js,wasm} (+ sq-core-api.js): Emscripten ES module
#                    for the browser's Web Worker; `make web` builds on it
#   make wasm-test   tests/wasm/run.mjs: WASI vs native byte for byte, the module's JS
#                    API vs native, SIMD present (also part of `make test`);
#                    WASM_TEST_ARGS=--large adds a 360 MB synthetic model (~1 min)
#   make wasm-deps   cJSON source from Debian (tools/fetch-cjson.sh -> build/deps/)
#
# Tools (Debian 12 packages): clang lld wasi-libc libclang-rt-14-dev-wasm32 (sq.wasm),
# emscripten (module), binaryen wabt (wasm-opt, wasm-strip, wasm-objdump), nodejs (tests),
# dpkg-dev (apt-get source). Native builds use libcjson-dev; the wasm builds compile the
# same cJSON from `apt-get source cjson` (never committed).

WASM_DEPS   ?= build/deps
CJSON_DIR    = $(WASM_DEPS)/cjson
CJSON_STAMP  = $(WASM_DEPS)/cjson.version
WASM_STRIP  ?= wasm-strip
NODE        ?= node

# Flags shared by both wasm builds. -ffp-contract=off and the same C dialect as the
# native build: the outputs must be byte-identical to build/sq's. Warnings are errors as
# in the native build (clang on a 32-bit target sees things gcc on x86-64 doesn't, e.g.
# `1L << 40`); cJSON is compiled with -w. `make wasi WASM_WERROR=` to relax.
WASM_WERROR ?= -Werror
WASM_COMMON  = -O3 -msimd128 -std=c11 -ffp-contract=off -fno-strict-aliasing \
               -D_POSIX_C_SOURCE=200809L -Wall -Wextra $(WASM_WERROR) -Icore -I$(WASM_DEPS)/include

# ---------------- cJSON from Debian's source package ----------------

.PHONY: wasm-deps
wasm-deps: $(CJSON_STAMP)

$(CJSON_STAMP):
	bash tools/fetch-cjson.sh $(WASM_DEPS)

$(CJSON_DIR)/cJSON.c: | $(CJSON_STAMP)
	@test -f $@

# ---------------- WASI: build/sq.wasm ----------------
# wasi-libc from Debian (headers /usr/include/wasm32-wasi, libs /usr/lib/wasm32-wasi;
# clang finds them without --sysroot). cli/files.c uses getpid() (temporary names):
# wasi-libc emulates it. No threads: the pipeline runs with threads = 1.
WASI_CC     ?= clang
WASI_CFLAGS  = --target=wasm32-wasi $(WASM_COMMON) -D_WASI_EMULATED_GETPID -MMD -MP
# 1 MiB of stack (wasm-ld's default is 64 KiB), placed first so an overflow traps instead
# of overwriting data; memory grows on demand up to 4 GiB.
WASI_LDFLAGS = --target=wasm32-wasi -O3 -msimd128 -Wl,-z,stack-size=1048576 -Wl,--stack-first
WASI_LDLIBS  = -lwasi-emulated-getpid -lm
WASI_OBJ    := $(CORE_SRC:%.c=$(BUILD)/wasi/%.o) $(CLI_SRC:%.c=$(BUILD)/wasi/%.o) $(HOST_SRC:%.c=$(BUILD)/wasi/%.o) \
               $(BUILD)/wasi/deps/cJSON.o

.PHONY: wasi
wasi: $(BUILD)/sq.wasm

$(BUILD)/wasi/%.o: %.c | $(CJSON_STAMP)
	@mkdir -p $(dir $@)
	$(WASI_CC) $(WASI_CFLAGS) -c $< -o $@

$(BUILD)/wasi/deps/cJSON.o: $(CJSON_DIR)/cJSON.c
	@mkdir -p $(dir $@)
	$(WASI_CC) $(WASI_CFLAGS) -w -c $< -o $@

# clang runs wasm-opt (binaryen) after linking when it is installed; it needs the
# target_features section to accept SIMD, so no -Wl,--strip-all: strip afterwards.
# $(BUILD)/wasi/sq.full.wasm is the unstripped link (target_features, producers: for
# the SIMD check of the tests). Links go to a temporary name and are renamed into place:
# two `make`s at once (e.g. make test beside make web) must not mix their outputs.
$(BUILD)/sq.wasm: $(WASI_OBJ)
	@mkdir -p $(BUILD)/wasi
	t=$(BUILD)/wasi/link.$$$$ && \
	$(WASI_CC) $(WASI_LDFLAGS) -o $$t.full.wasm $(WASI_OBJ) $(WASI_LDLIBS) && \
	$(WASM_STRIP) -o $$t.wasm $$t.full.wasm && \
	mv -f $$t.full.wasm $(BUILD)/wasi/sq.full.wasm && mv -f $$t.wasm $@ || { rm -f $$t.*; exit 1; }

# ---------------- Emscripten: build/web/sq-core.js + .wasm ----------------
# Debian's emcc needs NODE_PATH to find its JS dependencies.
EMCC        ?= emcc
EM_RUN       = NODE_PATH=$(or $(NODE_PATH),/usr/share/nodejs) $(EMCC)
EM_CFLAGS    = $(WASM_COMMON) -MMD -MP
WASM_SRC    := $(sort $(wildcard wasm/*.c))
EM_OBJ      := $(CORE_SRC:%.c=$(BUILD)/em/%.o) $(WASM_SRC:%.c=$(BUILD)/em/%.o) $(HOST_SRC:%.c=$(BUILD)/em/%.o) \
               $(BUILD)/em/deps/cJSON.o
EM_JS_IN     = wasm/node-esm-shim.js wasm/pre.js
EM_LDFLAGS   = -O3 -msimd128 -sMODULARIZE -sEXPORT_ES6 -sEXPORT_NAME=createSqCore \
               -sENVIRONMENT=web,worker,node -sALLOW_MEMORY_GROWTH -sMAXIMUM_MEMORY=4GB \
               -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 \
               -sEXPORTED_FUNCTIONS=_malloc,_free \
               -sEXPORTED_RUNTIME_METHODS=UTF8ToString,stringToUTF8,lengthBytesUTF8,HEAPU8 \
               --extern-pre-js wasm/node-esm-shim.js --pre-js wasm/pre.js

# The JS API files (wasm/sq-*.js: sq-core-api.js, and what the inference bindings add)
# are copied beside the module unchanged.
WASM_API_JS := $(sort $(wildcard wasm/sq-*.js))
WEB_API_JS  := $(WASM_API_JS:wasm/%=$(BUILD)/web/%)

.PHONY: web-module
web-module: $(BUILD)/web/sq-core.js $(WEB_API_JS)

$(BUILD)/em/%.o: %.c | $(CJSON_STAMP)
	@mkdir -p $(dir $@)
	$(EM_RUN) $(EM_CFLAGS) -c $< -o $@

$(BUILD)/em/deps/cJSON.o: $(CJSON_DIR)/cJSON.c
	@mkdir -p $(dir $@)
	$(EM_RUN) $(EM_CFLAGS) -w -c $< -o $@

# Linked in a private directory (emcc names the .wasm after the .js and post-processes
# it in place: a concurrent link into the same path yields a module without its JS
# imports), then moved into place, .wasm first.
$(BUILD)/web/sq-core.js: $(EM_OBJ) $(EM_JS_IN)
	@mkdir -p $(dir $@)
	t=$(BUILD)/em/link.$$$$ && rm -rf $$t && mkdir -p $$t && \
	$(EM_RUN) $(EM_LDFLAGS) -o $$t/sq-core.js $(EM_OBJ) && \
	mv -f $$t/sq-core.wasm $(BUILD)/web/sq-core.wasm && mv -f $$t/sq-core.js $@ && rm -rf $$t || { rm -rf $$t; exit 1; }

$(WEB_API_JS): $(BUILD)/web/%: wasm/%
	@mkdir -p $(dir $@)
	cp $< $@

# ---------------- tests ----------------
.PHONY: wasm-test
wasm-test: $(BUILD)/sq $(BUILD)/sq-synth $(BUILD)/sq.wasm web-module
	$(NODE) tests/wasm/run.mjs --build $(BUILD) $(WASM_TEST_ARGS)

# Part of `make test` (TEST_SUITES in the Makefile).

-include $(shell find $(BUILD)/wasi $(BUILD)/em -name '*.d' 2>/dev/null)
