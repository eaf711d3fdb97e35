#!/usr/bin/env bash
# fetch-cjson.sh - get cJSON's source for the wasm builds from Debian's source package.
#
#   tools/fetch-cjson.sh [DEST]        (DEST defaults to build/deps)
#
# Native builds link the system libcjson (libcjson-dev). The WASI and Emscripten builds
# need cJSON compiled for wasm, so we take the very same code from Debian: `apt-get
# source cjson` (which also applies Debian's patches), pinned to the source version of
# the installed libcjson-dev when there is one. Nothing of it is committed.
#
# Result (idempotent; a second run does nothing):
#   DEST/cjson/cJSON.c, cJSON.h, ...   the unpacked, patched source tree
#   DEST/include/cjson/cJSON.h         so `#include <cjson/cJSON.h>` resolves to it
#   DEST/cjson.version                 the Debian source version used
#
# When apt has no deb-src entries yet, one is added for the same archive(s) the
# machine's binary sources use (/etc/apt/sources.list.d/sq-deb-src.sources, deb822,
# Debian URIs only) followed by `apt-get update`; that step needs root (sudo is used
# when not root). Set CJSON_SRC=/path/to/unpacked/cjson to skip apt entirely.
set -euo pipefail

DEST=${1:-build/deps}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)

if [ -f "$DEST/cjson/cJSON.c" ] && [ -f "$DEST/include/cjson/cJSON.h" ] && [ -f "$DEST/cjson.version" ]; then
    exit 0
fi

say() { echo "fetch-cjson: $*" >&2; }

install_tree() { # $1: unpacked source dir, $2: version label
    rm -rf "$DEST/cjson" "$DEST/include"
    cp -R "$1" "$DEST/cjson"
    mkdir -p "$DEST/include/cjson"
    cp "$DEST/cjson/cJSON.h" "$DEST/include/cjson/cJSON.h"
    echo "$2" > "$DEST/cjson.version"
    say "cJSON $2 ready in $DEST/cjson"
}

if [ -n "${CJSON_SRC:-}" ]; then
    [ -f "$CJSON_SRC/cJSON.c" ] || { say "CJSON_SRC=$CJSON_SRC has no cJSON.c"; exit 1; }
    install_tree "$CJSON_SRC" "local:$CJSON_SRC"
    exit 0
fi

command -v apt-get >/dev/null || { say "apt-get not found (Debian/Ubuntu needed, or set CJSON_SRC)"; exit 1; }
command -v dpkg-source >/dev/null || { say "dpkg-source not found: apt-get install dpkg-dev"; exit 1; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# (no `| grep -q`: under pipefail the early exit would fail the pipeline with SIGPIPE)
have_src() { [[ "$(apt-cache showsrc cjson 2>/dev/null || true)" == *"Package: cjson"* ]]; }

# Print deb822 stanzas of deb-src entries mirroring the machine's Debian binary entries.
make_src_list() {
    local f
    # deb822 files: copy each stanza whose Types has "deb" (not already deb-src) and
    # whose URIs point at a Debian archive (deb.debian.org, snapshot, security, mirrors).
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        [ "$(basename "$f")" = sq-deb-src.sources ] && continue
        awk '
            function flush() {
                if (n && types ~ /(^|[ \t])deb([ \t]|$)/ && types !~ /deb-src/ && uris ~ /debian/ && enabled !~ /no/) {
                    for (i = 1; i <= n; i++) print lines[i]
                    print ""
                }
                n = 0; types = ""; uris = ""; enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            {
                line = $0
                if (tolower($1) == "types:") { types = substr($0, index($0, ":") + 1); line = "Types: deb-src" }
                else if (tolower($1) == "uris:") uris = $0
                else if (tolower($1) == "enabled:") enabled = tolower($0)
                lines[++n] = line
            }
            END { flush() }' "$f"
    done
    # one-line format files
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" && /debian/ {
                i = 2
                opts = ""
                if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
                comps = ""
                for (j = i + 2; j <= NF; j++) comps = comps " " $j
                print "Types: deb-src"; print "URIs: " $i; print "Suites: " $(i+1); print "Components:" comps
                if (opts ~ /signed-by=/) { s = opts; sub(/.*signed-by=/, "", s); sub(/[ \]].*/, "", s); print "Signed-By: " s }
                print ""
            }' "$f"
    done
}

if ! have_src; then
    list=$(make_src_list)
    if [ -z "$list" ]; then
        say "no Debian entries found in /etc/apt/sources.list{,.d} to derive a deb-src entry from"
        exit 1
    fi
    say "adding deb-src entries: /etc/apt/sources.list.d/sq-deb-src.sources"
    printf '# Added by sq tools/fetch-cjson.sh: sources for `apt-get source cjson`.\n%s\n' "$list" |
        $SUDO tee /etc/apt/sources.list.d/sq-deb-src.sources >/dev/null
    say "apt-get update"
    $SUDO apt-get update -qq
    have_src || { say "apt still knows no source package 'cjson'"; exit 1; }
fi

# The source version of the installed libcjson-dev (so wasm and native share one cJSON).
want=$(dpkg-query -W -f='${source:Version}' libcjson-dev 2>/dev/null || true)

work="$DEST/.cjson-src.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    # apt-get source needs no root; it unpacks and applies debian/patches.
    if [ -n "$want" ] && apt-get source -qq "cjson=$want" >/dev/null 2>&1; then :
    else
        [ -n "$want" ] && say "cjson $want not available as source; taking apt's candidate"
        apt-get source -qq cjson >/dev/null
    fi
)
dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'cjson-*' | head -1)
[ -n "$dir" ] && [ -f "$dir/cJSON.c" ] || { say "apt-get source cjson did not produce cjson-*/cJSON.c"; exit 1; }
ver=$(cd "$dir" && dpkg-parsechangelog -S Version 2>/dev/null || basename "$dir")
install_tree "$dir" "$ver"
