#!/usr/bin/env bash
# Install everything sq needs on Debian 12 (apt-get and npm only). Run as root (or via sudo).
# Used by the README's first command and by CI (.ci/run), so both stay the same.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(
  build-essential make python3 python3-numpy # native build, test scripts; numpy: the float64 reference forward (tests/ref)
  libcjson-dev                             # cJSON for native builds
  clang lld wasi-libc libclang-rt-14-dev-wasm32 wabt binaryen   # sq.wasm (WASI) + wasm-objdump/wasm-strip
  libclang-rt-14-dev                       # libFuzzer + sanitizers for the fuzz targets
  emscripten                               # browser module
  dpkg-dev                                 # apt-get source cjson (cJSON source for wasm builds)
  unicode-data                             # tokenizer Unicode tables generator input
)
# node + npm for the wasm/web tests: Debian's, unless a node with npm is already there
# (e.g. a NodeSource build, whose nodejs package conflicts with Debian's npm)
if ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi
if [ "${SQ_SETUP_BROWSER:-1}" = 1 ]; then pkgs+=(chromium); fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "setup: installed ${#pkgs[@]} packages"
