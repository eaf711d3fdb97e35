#!/usr/bin/env bash
# tools/cmp_outputs.sh - do two builds of sq write the same bytes? For refactors that must
# not change behaviour (issue 14's redesign): every format x width x k (and a few group
# settings) is quantized by both binaries on each model given, the .safetensors outputs
# are compared with cmp, each output is dequantized by both to f32 (compared too), and
# for Llama/BERT models one generation / classification per output is compared as text.
#
#   tools/cmp_outputs.sh OLD_SQ NEW_SQ MODEL... [-- NEW_ONLY_OPTION...]
#
# NEW_ONLY_OPTION: options only the new binary gets, for behaviour that changed on
# purpose since OLD (e.g. `--embeddings keep`, the old default). Widths and formats are
# those both know: 2, 3, 4, 8 and f32; packed k 1-4, paper k 2-3, codebook. Reports are
# not compared (they gain fields), nor classify's token ids. Prints one line per case and a total; exit 1 on any
# difference. Scratch goes to ${TMPDIR:-/tmp}/sq-cmp.
set -u
old=$1 new=$2
shift 2
models=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do models+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
extra=("$@")
work=${TMPDIR:-/tmp}/sq-cmp
rm -rf "$work" && mkdir -p "$work"
same=0 differ=0

check() { # name, file a, file b
    if cmp -s "$2" "$3"; then same=$((same + 1)); else differ=$((differ + 1)); echo "DIFFER $1"; fi
}

cases=("--bits f32")
for b in 2 3 4 8; do
    for k in 1 2 3 4; do cases+=("--bits $b --clusters $k --format packed"); done
    for k in 2 3; do cases+=("--bits $b --clusters $k --format paper"); done
    [ $b -le 4 ] && cases+=("--bits $b --format codebook")
done
cases+=("--bits 4 --clusters 3 --group row" "--bits 4 --clusters 3 --group tensor" "--bits 3 --clusters 1 --group 32"
        "--bits 4 --clusters 2 --format paper --group row")

for m in "${models[@]}"; do
    name=$(basename "$m")
    kind=none
    grep -q '"Llama\|"llama' "$m/config.json" 2>/dev/null && kind=llama
    grep -q '"Bert\|"bert' "$m/config.json" 2>/dev/null && kind=bert
    n=0
    for c in "${cases[@]}"; do
        n=$((n + 1))
        a=$work/$name.$n.old.safetensors b=$work/$name.$n.new.safetensors
        # shellcheck disable=SC2086
        "$old" quantize "$m" "$a" $c --quiet >/dev/null 2>"$work/err" || { echo "OLD FAILED $name $c: $(tail -1 "$work/err")"; differ=$((differ + 1)); continue; }
        # shellcheck disable=SC2086
        "$new" quantize "$m" "$b" $c "${extra[@]}" --quiet >/dev/null 2>"$work/err" || { echo "NEW FAILED $name $c: $(tail -1 "$work/err")"; differ=$((differ + 1)); continue; }
        check "$name quantize $c" "$a" "$b"
        "$old" dequantize "$a" "$a.f32" --dtype f32 >/dev/null 2>&1
        "$new" dequantize "$b" "$b.f32" --dtype f32 >/dev/null 2>&1
        check "$name dequantize $c" "$a.f32" "$b.f32"
        rm -f "$a.f32" "$b.f32"
        if [ $kind = llama ]; then # a copy of the model folder with the quantized file in it
            for v in old new; do
                d=$work/$name.$v.dir && rm -rf "$d" && mkdir -p "$d"
                for f in "$m"/*; do case $f in *.safetensors) ;; *) ln -s "$(readlink -f "$f")" "$d/";; esac; done
                cp "$work/$name.$n.$v.safetensors" "$d/model.safetensors"
            done
            "$old" generate "$work/$name.old.dir" --prompt "Once upon a time" -n 24 >"$work/go" 2>/dev/null
            "$new" generate "$work/$name.new.dir" --prompt "Once upon a time" -n 24 --activations f32 >"$work/gn" 2>/dev/null
            check "$name generate $c" "$work/go" "$work/gn"
        elif [ $kind = bert ]; then
            for v in old new; do
                d=$work/$name.$v.dir && rm -rf "$d" && mkdir -p "$d"
                for f in "$m"/*; do case $f in *.safetensors) ;; *) ln -s "$(readlink -f "$f")" "$d/";; esac; done
                cp "$work/$name.$n.$v.safetensors" "$d/model.safetensors"
            done
            "$old" classify "$work/$name.old.dir" "i am so happy today" "this is terrible" --json >"$work/go" 2>/dev/null
            # the token ids field came later (9e9952d, on purpose): compared without it
            "$new" classify "$work/$name.new.dir" "i am so happy today" "this is terrible" --json --activations f32 2>/dev/null |
                sed 's/"ids":\[[0-9,]*\],//g' >"$work/gn"
            check "$name classify $c" "$work/go" "$work/gn"
        fi
        rm -f "$a" "$b"
    done
    echo "$name: ${#cases[@]} settings"
done
echo "cmp_outputs: $same identical, $differ different"
[ $differ -eq 0 ]
