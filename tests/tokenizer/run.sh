#!/usr/bin/env bash
# run.sh - independent cross-check of the C tokenizers against @huggingface/tokenizers (JS).
#
# Builds tests/tokenizer/tokdump.c, installs the pinned npm package (package-lock.json) into
# tests/tokenizer/node_modules if needed, then runs crosscheck.mjs: Llama 3 on the whole
# WikiText-2 test text (line by line and as one string), BERT (tokenizer.json and vocab.txt)
# on the emotion test set, stories260K on 1000 TinyStories, and all of them on generated
# tricky strings; plus decoding. Exits non-zero on any mismatch; ends with
# "N passed, N failed". Extra arguments go to crosscheck.mjs (--quick: fewer strings).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
CC=${CC:-cc}
mkdir -p "$BUILD/tests"
"$CC" -std=c11 -Wall -Wextra -Werror -ffp-contract=off -fno-strict-aliasing -D_POSIX_C_SOURCE=200809L -Icore -O2 \
    tests/tokenizer/tokdump.c core/tokenizers/*.c core/io.c core/json.c -lcjson -lm -o "$BUILD/tests/tokdump"

if ! command -v node >/dev/null 2>&1; then
    echo "run.sh: node is not installed (apt-get install nodejs npm)" >&2
    exit 2
fi
if [ ! -f tests/tokenizer/node_modules/@huggingface/tokenizers/package.json ]; then
    (cd tests/tokenizer && npm ci --no-audit --no-fund --loglevel=error)
fi
exec node tests/tokenizer/crosscheck.mjs "$BUILD/tests/tokdump" "$@"
