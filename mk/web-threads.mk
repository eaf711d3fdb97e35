# mk/web-threads.mk - the threaded browser module (included by the top-level Makefile).
#
#   make web-module-mt  build/web/sq-core-mt.{js,wasm} + sq-core-mt.worker.js: the core
#                       module of mk/wasm.mk built with Emscripten pthreads; `make web`
#                       builds it beside the single-thread module.
#
# wasm/sq-core-api.js loads it when the page is cross-origin isolated (COOP/COEP, as
# `make serve` sends: SharedArrayBuffer is needed for a shared wasm memory) and the
# single-thread sq-core.js otherwise, and always under node. The parallel-for over the
# pthreads is wasm/pool.c; its threads are Web Workers preloaded while the module starts
# (-sPTHREAD_POOL_SIZE=Module.sqPoolSize, set by sq-core-api.js from
# navigator.hardwareConcurrency): the module's main thread blocks while it quantizes and
# could not start a Worker then.
#
# Same sources and flags as the single-thread module plus -pthread (atomics, bulk memory
# and a shared memory: every object is compiled again, into $(BUILD)/em-mt/). Browser
# only (-sENVIRONMENT=web,worker): node keeps the single-thread module.

EM_MT_CFLAGS  = $(EM_CFLAGS) -pthread
EM_MT_OBJ    := $(CORE_SRC:%.c=$(BUILD)/em-mt/%.o) $(WASM_SRC:%.c=$(BUILD)/em-mt/%.o) $(HOST_SRC:%.c=$(BUILD)/em-mt/%.o) \
                $(BUILD)/em-mt/deps/cJSON.o
# As EM_LDFLAGS (mk/wasm.mk) but for web + worker only, with pthreads. The pool size is a
# JS expression evaluated when the module starts; undefined (no sqPoolSize) = no threads.
# PTHREAD_POOL_SIZE_STRICT=2: asking for more threads than were preloaded fails at once
# instead of waiting for a Worker that cannot start (pool.c never asks for more).
EM_MT_LDFLAGS = -O3 -msimd128 -pthread -sMODULARIZE -sEXPORT_ES6 -sEXPORT_NAME=createSqCore \
                -sENVIRONMENT=web,worker -sALLOW_MEMORY_GROWTH -sMAXIMUM_MEMORY=4GB \
                -sPTHREAD_POOL_SIZE=Module.sqPoolSize -sPTHREAD_POOL_SIZE_STRICT=2 \
                -sEXPORTED_FUNCTIONS=_malloc,_free \
                -sEXPORTED_RUNTIME_METHODS=UTF8ToString,stringToUTF8,lengthBytesUTF8,HEAPU8 \
                -Wno-pthreads-mem-growth \
                --extern-pre-js wasm/node-esm-shim.js --pre-js wasm/pre.js

.PHONY: web-module-mt
web-module-mt: $(BUILD)/web/sq-core-mt.js

$(BUILD)/em-mt/%.o: %.c | $(CJSON_STAMP)
	@mkdir -p $(dir $@)
	$(EM_RUN) $(EM_MT_CFLAGS) -c $< -o $@

$(BUILD)/em-mt/deps/cJSON.o: $(CJSON_DIR)/cJSON.c
	@mkdir -p $(dir $@)
	$(EM_RUN) $(EM_MT_CFLAGS) -w -c $< -o $@

# Linked in a private directory and moved into place (see mk/wasm.mk), the .js last.
$(BUILD)/web/sq-core-mt.js: $(EM_MT_OBJ) $(EM_JS_IN)
	@mkdir -p $(dir $@)
	t=$(BUILD)/em-mt/link.$$$$ && rm -rf $$t && mkdir -p $$t && \
	$(EM_RUN) $(EM_MT_LDFLAGS) -o $$t/sq-core-mt.js $(EM_MT_OBJ) && \
	mv -f $$t/sq-core-mt.wasm $(BUILD)/web/sq-core-mt.wasm && \
	mv -f $$t/sq-core-mt.worker.js $(BUILD)/web/sq-core-mt.worker.js && \
	mv -f $$t/sq-core-mt.js $@ && rm -rf $$t || { rm -rf $$t; exit 1; }

-include $(shell find $(BUILD)/em-mt -name '*.d' 2>/dev/null)
