# mk/web.mk - the web app (web/) as a static site in build/web/, and its browser tests.
#
#   make web        build/web/: page, app.js + worker.js (esbuild), the core modules
#                   (make web-module; the threaded one: make web-module-mt,
#                   mk/web-threads.mk), service worker, bundled examples
#   make serve      serve build/web on http://127.0.0.1:$(PORT)/ (default 8080) with
#                   COOP/COEP headers (node web/serve.mjs; no other server needed)
#   make web-test   tests/web/run.mjs: headless Chromium (Debian's chromium, driven by
#                   npm playwright-core) loads the page, quantizes the bundled models,
#                   checks rows, downloads (byte-identical to build/sq), inference,
#                   offline reload; screenshots in build/web-test/. Part of `make test`.
#
# npm packages (esbuild, @observablehq/plot, playwright-core) are pinned by
# package-lock.json and installed with `npm ci` once (stamp: node_modules/.sq-npm-ci).

PORT        ?= 8080
NPM         ?= npm
CHROMIUM    ?= /usr/bin/chromium
WEB_OUT      = $(BUILD)/web
NPM_STAMP    = node_modules/.sq-npm-ci
WEB_SRC     := $(wildcard web/*.html web/*.css web/*.js web/*.mjs web/src/*.js) wasm/sq-infer-api.js
EXAMPLE_SRC := $(wildcard examples/bert-tiny-emotion/* examples/stories260K/*)

.PHONY: web serve web-test

$(NPM_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_OUT)/.built: $(NPM_STAMP) $(WEB_SRC) $(EXAMPLE_SRC) $(WEB_OUT)/sq-core.js $(WEB_OUT)/sq-core-api.js $(WEB_OUT)/sq-core-mt.js
	$(NODE) web/build.mjs --out $(WEB_OUT)
	@touch $@

web: web-module web-module-mt $(WEB_OUT)/.built

serve: web
	PORT=$(PORT) $(NODE) web/serve.mjs --root $(WEB_OUT) --port $(PORT)

web-test: web $(BUILD)/sq $(BUILD)/sq-synth
	$(NODE) tests/web/run.mjs --build $(BUILD) --chromium $(CHROMIUM)

# Part of `make test` (TEST_SUITES in the Makefile).
