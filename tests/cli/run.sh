#!/usr/bin/env bash
# CLI tests: function preservation, determinism, split vs plain, the report contract,
# and the hostile-input table. Run from the repository root: SQ=build/sq bash tests/cli/run.sh
set -u
SQ=${SQ:-build/sq}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   $1"; }
bad()  { fail=$((fail+1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; }
check(){ local name=$1; shift; if "$@" >"$T/log.txt" 2>&1; then ok "$name"; else bad "$name" "$(tail -3 "$T/log.txt")"; fi; }

BERT=examples/bert-tiny-emotion
STORIES=examples/stories260K

# --- function preservation: --bits f32 splits without quantizing; dequantize is exact
for m in $BERT $STORIES; do
  for fmt in paper packed; do
    n=$(basename $m)-$fmt
    check "f32 split ($n)" $SQ quantize $m "$T/$n.f32.safetensors" --bits f32 --clusters 3 --format $fmt --quiet
    check "dequantize f32 split ($n)" $SQ dequantize "$T/$n.f32.safetensors" "$T/$n.back.safetensors"
    check "f32 split round trip is exact ($n)" python3 tests/cli/compare.py exact $m/model.safetensors "$T/$n.back.safetensors"
  done
done

# --- determinism: same input and options -> same bytes
for fmt in paper packed; do
  $SQ quantize $BERT "$T/a.safetensors" --bits 3 --clusters 3 --format $fmt --quiet
  $SQ quantize $BERT "$T/b.safetensors" --bits 3 --clusters 3 --format $fmt --quiet
  check "deterministic output ($fmt)" cmp "$T/a.safetensors" "$T/b.safetensors"
done

# --- the report contract, and split beats plain on the real BERT layers
for bits in 2 4; do
  for fmt in paper packed; do
    check "quantize bert INT$bits $fmt with report" $SQ quantize $BERT "$T/q$bits$fmt.safetensors" --bits $bits --clusters 3 --format $fmt --report "$T/r$bits$fmt.json" --quiet
    check "report contract + split lowers MSE (INT$bits $fmt)" python3 tests/cli/check_report.py "$T/r$bits$fmt.json" $bits
    check "dequantize INT$bits $fmt" $SQ dequantize "$T/q$bits$fmt.safetensors" "$T/d$bits$fmt.safetensors"
    check "dequantized MSE matches report (INT$bits $fmt)" python3 tests/cli/compare.py mse $BERT/model.safetensors "$T/d$bits$fmt.safetensors" "$T/r$bits$fmt.json"
  done
done
# --- the codebook format: documented parts, nearest codes, report, determinism, inference
for m in $BERT $STORIES; do
  n=$(basename $m)
  for bits in 2 3 4; do
    check "quantize $n codebook INT$bits with report" $SQ quantize $m "$T/cb$bits$n.safetensors" --bits $bits --format codebook --report "$T/cb$bits$n.json" --quiet
    check "dequantize $n codebook INT$bits" $SQ dequantize "$T/cb$bits$n.safetensors" "$T/cbd$bits$n.safetensors"
  done
  check "codebook INT3 $n: parts, nearest codes, dequantize, report mse/bytes, beats plain" python3 tests/cli/check_codebook.py $m/model.safetensors "$T/cb3$n.safetensors" "$T/cbd3$n.safetensors" "$T/cb3$n.json"
done
check "codebook INT4 group 32 / row / tensor round trips as documented" bash -c "for g in 32 row tensor; do $SQ quantize $STORIES $T/cbg.safetensors --bits 4 --format codebook --group \$g --quiet && $SQ dequantize $T/cbg.safetensors $T/cbgd.safetensors && python3 tests/cli/check_codebook.py $STORIES/model.safetensors $T/cbg.safetensors $T/cbgd.safetensors || exit 1; done"
$SQ quantize $BERT "$T/cba.safetensors" --bits 4 --format codebook --threads 1 --quiet
$SQ quantize $BERT "$T/cbb.safetensors" --bits 4 --format codebook --threads 2 --quiet
check "deterministic output (codebook, 1 vs 2 threads)" cmp "$T/cba.safetensors" "$T/cbb.safetensors"
check "codebook: --bits 8 is refused with exit 2" bash -c "$SQ quantize $BERT $T/x.safetensors --bits 8 --format codebook 2>/dev/null; [ \$? -eq 2 ] && [ ! -e $T/x.safetensors ]"
check "codebook: --clusters is refused with exit 2" bash -c "$SQ quantize $BERT $T/x.safetensors --bits 4 --clusters 3 --format codebook 2>/dev/null; [ \$? -eq 2 ]"
check "inspect a codebook file" bash -c "$SQ inspect $T/cb4bert-tiny-emotion.safetensors | grep -q 'sq codebook format, bits 4'"
check "classify + eval a codebook INT4 file" bash -c "$SQ classify $T/cb4bert-tiny-emotion.safetensors 'i feel so happy today' | grep -q joy && $SQ eval $T/cb4bert-tiny-emotion.safetensors --data data/emotion/test.jsonl --limit 50 --json | grep -q accuracy"
check "generate + perplexity on a codebook INT4 file" bash -c "$SQ generate $T/cb4stories260K.safetensors --prompt 'Once upon a time' -n 16 | grep -q . && $SQ perplexity $T/cb4stories260K.safetensors --text data/tinystories/tinystories-valid-first1000.jsonl --limit 3 --json | grep -q perplexity"
# --- INT5, INT6, INT7 (formats.h widths): plain, packed split and paper split, through
# inspect, every inference command and dequantize; plain perplexity falls with the width
TXT=data/tinystories/tinystories-valid-first1000.jsonl
ppl(){ $SQ perplexity "$1" --text $TXT --limit 20 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['perplexity'])"; }
PPL32=$(ppl $STORIES)
wide_llama(){ # FILE BITS OPTS...: quantize stories260K, inspect, generate, perplexity within 3% of FP32
  local f=$1 b=$2; shift 2
  $SQ quantize $STORIES $f --bits $b "$@" --quiet && $SQ inspect $f | grep -q "bits $b," &&
    $SQ generate $f --prompt 'Once upon a time' -n 12 | grep -q . &&
    python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) < 1.03 * float(sys.argv[1]) else 1)" $PPL32 "$(ppl $f)"
}
wide_bert(){ # FILE BITS OPTS...: quantize bert-tiny, classify, eval, dequantize (a plain model again)
  local f=$1 b=$2; shift 2
  $SQ quantize $BERT $f --bits $b "$@" --quiet && $SQ classify $f 'i feel so happy today' | grep -q joy &&
    $SQ eval $f --data data/emotion/test.jsonl --limit 50 --json | grep -q accuracy &&
    $SQ dequantize $f $f.deq.safetensors --dtype f32 && $SQ inspect $f.deq.safetensors | grep -q 'to split      14 weights'
}
for b in 5 6 7; do
  for fk in packed:1 packed:3 paper:3; do
    fmt=${fk%:*} k=${fk#*:}
    check "INT$b $fmt k=$k: stories260K quantize, inspect, generate, perplexity near FP32" wide_llama $T/w$b$fmt$k.s.safetensors $b --format $fmt --clusters $k
    check "INT$b $fmt k=$k: bert-tiny classify, eval, dequantize" wide_bert $T/w$b$fmt$k.b.safetensors $b --format $fmt --clusters $k
  done
done
$SQ quantize $STORIES $T/w4packed1.s.safetensors --bits 4 --clusters 1 --quiet
# --- --activations: int8 (the default) vs f32 (the exact float32 arithmetic)
$SQ quantize $STORIES "$T/act4.safetensors" --bits 4 --clusters 1 --quiet
$SQ quantize $STORIES "$T/act4p.safetensors" --bits 4 --clusters 3 --format paper --quiet
for f in act4 act4p; do
  check "--activations int8 vs f32 ($f): perplexity within 0.5%, and they differ" python3 -c "
import json, subprocess, sys
def ppl(a): return json.loads(subprocess.run(['$SQ','perplexity','$T/$f.safetensors','--text','$TXT','--limit','20','--json','--activations',a],capture_output=True,text=True,check=True).stdout)['perplexity']
d = ppl('int8'); f = ppl('f32')
print(d, f); sys.exit(0 if abs(d - f) / f < 0.005 and d != f else 1)"
done
check "--activations int8 is the default (same perplexity without the option)" bash -c "[ \"\$($SQ perplexity $T/act4.safetensors --text $TXT --limit 5 --json)\" = \"\$($SQ perplexity $T/act4.safetensors --text $TXT --limit 5 --json --activations int8)\" ]"
check "--activations int8: generate is the same for 1 and 2 threads" bash -c "[ \"\$($SQ generate $T/act4.safetensors --prompt 'Once upon a time' -n 24 --threads 1)\" = \"\$($SQ generate $T/act4.safetensors --prompt 'Once upon a time' -n 24 --threads 2)\" ]"
check "--activations int8: classify + eval run, accuracy within 1 point of f32" bash -c "$SQ quantize $BERT $T/actb.safetensors --bits 4 --clusters 1 --quiet && python3 -c \"
import json, subprocess, sys
def acc(a): return json.loads(subprocess.run(['$SQ','eval','$T/actb.safetensors','--data','data/emotion/test.jsonl','--limit','300','--json','--activations',a],capture_output=True,text=True,check=True).stdout)['accuracy']
sys.exit(0 if abs(acc('int8') - acc('f32')) <= 0.01 else 1)\" && $SQ classify $T/actb.safetensors --activations f32 'i feel so happy today' | grep -q joy"
check "--activations with a bad value is refused with exit 2" bash -c "for c in 'generate $T/act4.safetensors --prompt x' 'perplexity $T/act4.safetensors --text $TXT' 'classify $T/actb.safetensors hi' 'eval $T/actb.safetensors --data data/emotion/test.jsonl'; do $SQ \$c --activations int4 2>$T/e.txt; [ \$? -eq 2 ] && grep -q 'f32 or int8' $T/e.txt || exit 1; done"
check "plain perplexity falls from INT4 to INT5 to INT7" python3 -c "import sys; a = [float(x) for x in sys.argv[1:]]; sys.exit(0 if a[0] > a[1] > a[2] else 1)" \
  "$(ppl $T/w4packed1.s.safetensors)" "$(ppl $T/w5packed1.s.safetensors)" "$(ppl $T/w7packed1.s.safetensors)"
check "--bits 9 is refused naming every width" bash -c "$SQ quantize $BERT $T/x9.safetensors --bits 9 2>&1 | grep -q -- '--bits must be 2, 3, 4, 5, 6, 7, 8 or f32'"

check "codebook INT4 beats plain INT4 on stories260K perplexity at fewer bytes" bash -c "$SQ quantize $STORIES $T/p4.safetensors --bits 4 --clusters 1 --report $T/p4.json --quiet && python3 -c \"
import json,subprocess,sys
def ppl(f): return json.loads(subprocess.run(['$SQ','perplexity',f,'--text','data/tinystories/tinystories-valid-first1000.jsonl','--limit','20','--json'],capture_output=True,text=True,check=True).stdout)['perplexity']
a,b=ppl('$T/cb4stories260K.safetensors'),ppl('$T/p4.safetensors')
qa,qb=json.load(open('$T/cb4stories260K.json'))['quant_bytes_out'],json.load(open('$T/p4.json'))['quant_bytes_out']
print(a,b,qa,qb); sys.exit(0 if a<b and qa<qb else 1)\""

$SQ quantize $BERT "$T/q8packed.safetensors" --bits 8 --clusters 3 --format packed --quiet
$SQ quantize $BERT "$T/q8paper.safetensors" --bits 8 --clusters 3 --format paper --quiet
check "packed vs paper INT8 k=3: same predictions on >= 99% of 2000 rows" python3 tests/cli/agree.py $SQ "$T/q8packed.safetensors" "$T/q8paper.safetensors" data/emotion/test.jsonl 2000 0.99
# at INT4 each format flips ~0.5% of rows against FP32, on different rows (measured 98.65%)
check "packed vs paper INT4 k=3: same predictions on >= 98% of 2000 rows" python3 tests/cli/agree.py $SQ "$T/q4packed.safetensors" "$T/q4paper.safetensors" data/emotion/test.jsonl 2000 0.98
check "split without quantizing leaves predictions unchanged (f32 split vs original)" python3 tests/cli/agree.py $SQ $BERT "$T/bert-tiny-emotion-packed.f32.safetensors" data/emotion/test.jsonl 200
check "packed INT4 k=3 costs <= 1.6x plain INT4 (quantized tensors)" python3 tests/cli/size_ratio.py $SQ $BERT "$T"
check "paper --clusters 1 matches the reference recipe bit for bit" python3 tests/cli/compare.py reference $SQ $BERT "$T"
check "inspect lists split layers" bash -c "$SQ inspect $BERT | grep -q 'split .*bert.encoder.layer.0.attention.self.query.weight'"
check "inspect --json is JSON" bash -c "$SQ inspect $BERT --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"params\"] > 4000000'"
check "inspect a quantized file" bash -c "$SQ inspect $T/q4paper.safetensors | grep -q 'sq paper format, bits 4, clusters 3'"
for m in $BERT $STORIES; do
  check "bits per weight: report vs bytes written vs inspect ($(basename $m))" python3 tests/cli/check_bpw.py $SQ $m "$T"
done

# --- hostile inputs: one line on stderr, exit 2, no output file left behind
python3 tests/cli/make_hostile.py "$T/h"
one_line_refusal() { # cmd... ; expects exit 2, exactly one stderr line, no file at $OUTF
  local rc
  "$@" >/dev/null 2>"$T/err.txt"; rc=$?
  local lines; lines=$(wc -l <"$T/err.txt")
  if [ $rc -ne 2 ]; then echo "exit $rc (expected 2): $(head -c 300 "$T/err.txt")"; return 1; fi
  if [ "$lines" -ne 1 ]; then echo "stderr has $lines lines: $(head -c 300 "$T/err.txt")"; return 1; fi
  if ls "$T"/out.* >/dev/null 2>&1; then echo "output file left behind: $(ls "$T"/out.*)"; return 1; fi
  return 0
}
for f in "$T"/h/bad_*.safetensors; do
  n=$(basename "$f" .safetensors)
  for cmd in inspect quantize dequantize; do
    case $cmd in
      inspect) args=(inspect "$f");;
      quantize) args=(quantize "$f" "$T/out.safetensors");;
      dequantize) args=(dequantize "$f" "$T/out.safetensors");;
    esac
    if msg=$(timeout 20 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ ${args[*]}"); then ok "$cmd refuses $n"; else bad "$cmd refuses $n" "$msg"; fi
    rm -f "$T"/out.*
  done
done
for f in "$T"/h/val_*.safetensors; do
  n=$(basename "$f" .safetensors)
  check "inspect accepts $n" $SQ inspect "$f"
  if msg=$(timeout 20 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ quantize $f $T/out.safetensors"); then ok "quantize refuses $n"; else bad "quantize refuses $n" "$msg"; fi
  grep -q "tensor 'layer.dense" "$T/err.txt" 2>/dev/null; rm -f "$T"/out.*
done
for f in "$T"/h/nf_*.safetensors; do
  n=$(basename "$f" .safetensors); tn=${n#nf_}
  if msg=$(timeout 20 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ quantize $f $T/out.safetensors"); then
    check "quantize refuses non-finite copied tensor $tn, naming it" grep -q "tensor '$tn'" "$T/err.txt"
  else bad "quantize refuses non-finite copied tensor $tn" "$msg"; fi
  rm -f "$T"/out.*
done
for f in "$T"/h/ok_*.safetensors; do
  n=$(basename "$f" .safetensors)
  check "quantize $n (codebook INT3) + round trip as documented" bash -c "$SQ quantize $f $T/ok.safetensors --bits 3 --format codebook --quiet && $SQ dequantize $T/ok.safetensors $T/ok.back.safetensors && python3 tests/cli/check_codebook.py $f $T/ok.safetensors $T/ok.back.safetensors"
  for opt in "--bits 4 --clusters 3 --format packed" "--bits 2 --clusters 3 --format paper" "--bits 8 --clusters 4 --format paper" "--bits f32 --clusters 3"; do
    check "quantize $n ($opt) + round trip within one step" bash -c "$SQ quantize $f $T/ok.safetensors $opt --quiet && $SQ dequantize $T/ok.safetensors $T/ok.back.safetensors && python3 tests/cli/compare.py step $f $T/ok.back.safetensors $T/ok.safetensors"
  done
done
# --- inference commands on broken configs / tokenizers: exit 2, one line, no crash
python3 tests/cli/make_bad_configs.py "$T/cfg"
for d in "$T"/cfg/*/; do
  n=$(basename "$d")
  case $n in
    bert_*) cmds=("classify $d hello" "eval $d --data data/emotion/test.jsonl --limit 5");;
    llama_*) cmds=("generate $d --prompt hello -n 4" "perplexity $d --text data/tinystories/tinystories-valid-first1000.jsonl --limit 2");;
  esac
  for c in "${cmds[@]}"; do
    if msg=$(timeout 60 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ $c"); then ok "${c%% *} refuses $n"; else bad "${c%% *} refuses $n" "$msg"; fi
  done
done
# inference on hostile weight files too
for f in "$T"/h/bad_*.safetensors; do
  n=$(basename "$f" .safetensors)
  if msg=$(timeout 20 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ generate $f --prompt hi -n 2"); then ok "generate refuses $n"; else bad "generate refuses $n" "$msg"; fi
done

# a failure must not leave a partial file: quantize a NaN model over an existing name
echo keep > "$T/exists.safetensors"
$SQ quantize "$T/h/val_nan_weight.safetensors" "$T/exists.safetensors" --quiet 2>/dev/null
check "failed quantize leaves an existing output untouched" grep -q keep "$T/exists.safetensors"
check "no temporary files left" bash -c "! ls $T/*.tmp-* 2>/dev/null"
check "bad option value is refused with exit 2" bash -c "$SQ quantize $BERT $T/x.safetensors --bits 9 2>/dev/null; [ \$? -eq 2 ]"
check "missing model is refused with exit 2" bash -c "$SQ inspect /nonexistent/model 2>/dev/null; [ \$? -eq 2 ]"
check "every command prints its usage for --help / -h with exit 0" bash -c "for c in inspect quantize dequantize classify eval generate perplexity; do for h in --help -h; do $SQ \$c \$h > $T/help.txt 2>&1 || exit 1; grep -q \"^  sq \$c \" $T/help.txt || exit 1; done; done"
check "quantize usage lists every format, --threads and --quiet" bash -c "$SQ quantize --help > $T/qhelp.txt && grep -q 'packed|paper|codebook' $T/qhelp.txt && grep -q -- '--threads N' $T/qhelp.txt && grep -q -- '--quiet' $T/qhelp.txt"
check "sq --help lists every command's usage, generate with --stats" bash -c "$SQ --help | grep -q 'sq perplexity MODEL' && $SQ --help | grep -q -- '--stats'"
check "classify -- -h classifies the text '-h' instead of printing help" bash -c "$SQ classify $BERT -- -h | grep -q -- '-h\$'"

# --- sharded models (model-0000i-of-0000N.safetensors + index): one logical model
python3 tests/cli/make_shards.py $STORIES "$T/sh3" 3
python3 tests/cli/make_shards.py $STORIES "$T/sh4" 4 --no-index
$SQ quantize $STORIES "$T/sh-single.safetensors" --quiet
for m in "$T/sh3" "$T/sh3/model.safetensors.index.json" "$T/sh4"; do
  n=$(echo "$m" | sed "s|$T/||; s|/|-|g")
  check "sharded $n quantizes to the same tensors as the single file" bash -c "$SQ quantize $m $T/sh-$n.safetensors --quiet && python3 -c \"
import sys; sys.path.insert(0, 'tests/cli'); import stlib
a = stlib.read('$T/sh-single.safetensors')[1]; b = stlib.read('$T/sh-$n.safetensors')[1]
sys.exit(0 if a == b else 1)\""
done
check "inspect a sharded model counts every tensor" bash -c "$SQ inspect $T/sh3 | grep -q 'tensors       47,'"
check "generate and perplexity run on a sharded original" bash -c "[ \"\$($SQ generate $T/sh3 --prompt 'Once upon a time' -n 12 --seed 1)\" = \"\$($SQ generate $STORIES --prompt 'Once upon a time' -n 12 --seed 1)\" ] && $SQ perplexity $T/sh3 --text data/tinystories/tinystories-valid-first1000.jsonl --limit 2 --json | grep -q perplexity"
python3 tests/cli/make_bad_shards.py $STORIES "$T/bsh"
for d in "$T"/bsh/bad_*; do
  n=$(basename "$d")
  for c in "inspect $d" "quantize $d $T/out.safetensors" "generate $d --prompt hi -n 2"; do
    if msg=$(timeout 20 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ $c"); then ok "${c%% *} refuses sharded $n"; else bad "${c%% *} refuses sharded $n" "$msg"; fi
  done
done

# --- multiple choice: sq eval --task arc, checked against an independent numpy forward
ARC=data/arc-easy-sample/ARC-Easy-Dev-first50.jsonl
NUMPY_PY=$(for p in python3 /usr/bin/python3; do if $p -c 'import numpy' 2>/dev/null; then echo $p; break; fi; done)
check "numpy is installed for the reference forward (apt-get install python3-numpy)" test -n "$NUMPY_PY"
check "eval --task arc prints acc and acc_norm" bash -c "$SQ eval $STORIES --task arc --data $ARC --limit 5 | grep -Eq '^acc 0\.[0-9]{4} \([0-9]+/5\)  acc_norm'"
$SQ eval $STORIES --task arc --data $ARC --json > "$T/arc.json" 2>/dev/null
check "arc log-likelihoods of stories260K equal the numpy float64 forward (50 questions)" $NUMPY_PY tests/ref/llama_ref.py arc $STORIES "$T/arc.json"
$SQ quantize $STORIES "$T/arc-q.safetensors" --bits 3 --clusters 3 --quiet && $SQ dequantize "$T/arc-q.safetensors" "$T/arc-q-deq.safetensors" --dtype f32
# --activations f32: the numpy forward is float arithmetic; the quantized head (INT8 codes,
# the --embeddings default) would otherwise meet int8 activations
$SQ eval "$T/arc-q.safetensors" --task arc --data $ARC --limit 20 --json --activations f32 > "$T/arc-q.json" 2>/dev/null
check "arc on a packed INT3 file equals the numpy forward of its dequantized weights" $NUMPY_PY tests/ref/llama_ref.py arc "$T/arc-q-deq.safetensors" "$T/arc-q.json" --config $STORIES/config.json
check "arc: the simple {question, choices, answer} form scores like the ARC form" bash -c "python3 -c \"
import json
for l in open('$ARC'):
    d = json.loads(l); q = d['question']
    print(json.dumps({'question': q['stem'], 'choices': [c['text'] for c in q['choices']], 'answer': [c['label'] for c in q['choices']].index(d['answerKey'])}))
\" > $T/arc-simple.jsonl && [ \"\$($SQ eval $STORIES --task arc --data $T/arc-simple.jsonl)\" = \"\$($SQ eval $STORIES --task arc --data $ARC)\" ]"
printf '{"question":"q?","choices":["a","b"],"answer":"c"}\n' > "$T/arc-bad-answer.jsonl"
printf '{"question":"q?","choices":["a"],"answer":0}\n' > "$T/arc-one-choice.jsonl"
printf 'not json\n' > "$T/arc-not-json.jsonl"
printf '{"question":{"stem":"q?","choices":"x"},"answerKey":"A"}\n' > "$T/arc-bad-choices.jsonl"
: > "$T/arc-empty.jsonl"
for c in "eval $STORIES --task arc --data $T/arc-bad-answer.jsonl" "eval $STORIES --task arc --data $T/arc-one-choice.jsonl" \
         "eval $STORIES --task arc --data $T/arc-not-json.jsonl" "eval $STORIES --task arc --data $T/arc-bad-choices.jsonl" \
         "eval $STORIES --task arc --data $T/arc-empty.jsonl" "eval $STORIES --task arc --data /nonexistent.jsonl" \
         "eval $BERT --task arc --data $ARC" "eval $STORIES --task nope --data $ARC"; do
  if msg=$(timeout 60 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ $c"); then ok "refuses: ${c#eval }"; else bad "refuses: ${c#eval }" "$msg"; fi
done

# --- the Llama family: tiny random llama / mistral / qwen2 models with their own config keys
# and tensor names; log-likelihoods against the numpy forward, original and quantized
$NUMPY_PY tests/ref/make_arch.py $STORIES "$T/arch"
for a in llama mistral qwen2; do
  M="$T/arch/$a-tiny"
  $SQ eval $M --task arc --data $ARC --limit 12 --json > "$T/arch/$a.json" 2>"$T/arch/$a.err"
  check "$a-tiny: arc log-likelihoods equal the numpy forward" $NUMPY_PY tests/ref/llama_ref.py arc $M "$T/arch/$a.json"
  $SQ quantize $M "$T/arch/$a-q.safetensors" --quiet && $SQ dequantize "$T/arch/$a-q.safetensors" "$T/arch/$a-deq.safetensors" --dtype f32
  $SQ eval "$T/arch/$a-q.safetensors" --task arc --data $ARC --limit 6 --json --activations f32 > "$T/arch/$a-q.json" 2>/dev/null
  check "$a-tiny quantized (INT4 k=3 packed): arc equals the numpy forward of its dequantized weights" $NUMPY_PY tests/ref/llama_ref.py arc "$T/arch/$a-deq.safetensors" "$T/arch/$a-q.json" --config $M/config.json
  check "$a-tiny: generate runs on the original and the quantized file" bash -c "$SQ generate $M --prompt 'Once upon a time' -n 8 | grep -q . && $SQ generate $T/arch/$a-q.safetensors --prompt 'Once upon a time' -n 8 | grep -q ."
done
python3 tests/cli/make_shards.py "$T/arch/qwen2-tiny" "$T/arch/qwen2-sharded" 2
check "qwen2-tiny sharded: the same arc scores as the single file" bash -c "[ \"\$($SQ eval $T/arch/qwen2-sharded --task arc --data $ARC --limit 6)\" = \"\$($SQ eval $T/arch/qwen2-tiny --task arc --data $ARC --limit 6)\" ]"
mkdir -p "$T/arch/contra"; cp "$T/arch/qwen2-tiny/"* "$T/arch/contra/"
python3 -c "import json,sys; p='$T/arch/contra/config.json'; c=json.load(open(p)); c['model_type']='mistral'; json.dump(c,open(p,'w'))"
if msg=$(timeout 60 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ generate $T/arch/contra --prompt hi -n 2"); then ok "generate refuses a model_type that contradicts its architecture"; else bad "generate refuses a model_type that contradicts its architecture" "$msg"; fi

# --- the BERT family: tiny random DistilBERT and RoBERTa classifiers; logits against the numpy forward
$NUMPY_PY tests/ref/make_bert_arch.py $BERT "$T/barch"
$SQ classify $BERT "i feel great" "this is awful" "ich bin müde" --json > "$T/barch/bert.json"
check "bert-tiny-emotion: classify logits equal the numpy forward" $NUMPY_PY tests/ref/bert_ref.py $BERT "$T/barch/bert.json"
for a in distilbert roberta; do
  M="$T/barch/$a-tiny"
  $SQ classify $M "the cat sat on the mat" "I feel great today" "Ünïcode ☃ text" --json > "$T/barch/$a.json"
  check "$a-tiny: classify logits equal the numpy forward" $NUMPY_PY tests/ref/bert_ref.py $M "$T/barch/$a.json"
  $SQ quantize $M "$T/barch/$a-q.safetensors" --bits 4 --clusters 3 --quiet && $SQ dequantize "$T/barch/$a-q.safetensors" "$T/barch/$a-deq.safetensors" --dtype f32
  $SQ classify "$T/barch/$a-q.safetensors" "the cat sat on the mat" "I feel great today" --json > "$T/barch/$a-q.json"
  check "$a-tiny quantized: classify logits equal the numpy forward of its dequantized weights" $NUMPY_PY tests/ref/bert_ref.py $M "$T/barch/$a-q.json" --weights "$T/barch/$a-deq.safetensors"
done

# --- sharded output: quantize --shard-size cuts the result into shards + index
mkdir -p "$T/sho"
$SQ quantize $STORIES "$T/sho/model.safetensors" --bits 8 --shard-size 300KB --quiet
$SQ quantize $STORIES "$T/sho-single.safetensors" --bits 8 --quiet
check "--shard-size 300KB: 2 shards and an index, no single file left" bash -c "[ -f $T/sho/model-00001-of-00002.safetensors ] && [ -f $T/sho/model-00002-of-00002.safetensors ] && [ -f $T/sho/model.safetensors.index.json ] && [ ! -e $T/sho/model.safetensors ] && ! ls $T/sho/*.tmp-* 2>/dev/null"
check "sharded output: generate equals the single file's" bash -c "[ \"\$($SQ generate $T/sho --prompt 'Once upon a time' -n 12 --seed 3)\" = \"\$($SQ generate $T/sho-single.safetensors --prompt 'Once upon a time' -n 12 --seed 3)\" ]"
check "sharded output: dequantize equals the single file's" bash -c "$SQ dequantize $T/sho/model.safetensors.index.json $T/sho-a.safetensors && $SQ dequantize $T/sho-single.safetensors $T/sho-b.safetensors && cmp $T/sho-a.safetensors $T/sho-b.safetensors"
check "--shard-size larger than the output writes one file" bash -c "$SQ quantize $STORIES $T/sho-big.safetensors --shard-size 1GB --quiet && [ -f $T/sho-big.safetensors ] && cmp $T/sho-big.safetensors $T/sh-single.safetensors"
check "--shard-size with a bad size is refused with exit 2" bash -c "$SQ quantize $STORIES $T/x.safetensors --shard-size 12XB 2>/dev/null; [ \$? -eq 2 ] && [ ! -e $T/x.safetensors ]"

# --- --embeddings: the token embedding and an untied LM head as plain per-row codes;
# stories260K is tied (the quantized embedding is the head too). Tolerances against FP32
# (20 stories): int8 within 2% (measured +1.0%, all of it the INT4 k=3 linear layers),
# int4 within 6% (measured +3.8%); the embedding at int8 moves perplexity < 0.1%.
emb_llama(){ # EMB: quantize, inspect, generate, perplexity near FP32, dequantize restores the embedding
  local e=$1 f=$T/emb-$1.s.safetensors tol=$2
  $SQ quantize $STORIES $f --embeddings $e --quiet && $SQ inspect $f | grep -q "^embeddings    $e " &&
    python3 -c "import sys; sys.path.insert(0,'tests/cli'); import stlib,json; m,t=stlib.read('$f'); d=json.loads(m['sq.tensors'])['model.embed_tokens.weight']
sys.exit(0 if m['sq.embeddings']=='$e' and d['role']=='embedding' and d['k']==1 and 'model.embed_tokens.weight' not in t else 1)" &&
    $SQ generate $f --prompt 'Once upon a time' -n 12 | grep -q . &&
    python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) < $tol * float(sys.argv[1]) else 1)" $PPL32 "$(ppl $f)" &&
    $SQ dequantize $f $f.deq.safetensors && python3 tests/cli/compare.py step $STORIES/model.safetensors $f.deq.safetensors $f &&
    $SQ inspect $f.deq.safetensors | grep -q 'keep   F32   \[512, 64\] *model.embed_tokens.weight'
}
check "--embeddings int8: stories260K (tied head) quantize, inspect, generate, perplexity within 2% of FP32, dequantize" emb_llama int8 1.02
check "--embeddings int4: stories260K (tied head) quantize, inspect, generate, perplexity within 6% of FP32, dequantize" emb_llama int4 1.06
$SQ quantize $STORIES $T/emb-keep.s.safetensors --embeddings keep --quiet
check "--embeddings int8 moves stories260K perplexity by < 0.1% (vs keep); int4 raises it" python3 -c "import sys; k,a,b = map(float, sys.argv[1:]); sys.exit(0 if abs(a - k) < 1e-3 * k and b > a else 1)" \
  "$(ppl $T/emb-keep.s.safetensors)" "$(ppl $T/emb-int8.s.safetensors)" "$(ppl $T/emb-int4.s.safetensors)"
check "--embeddings: smaller files (keep > int8 > int4)" bash -c "[ \$(stat -c %s $T/emb-keep.s.safetensors) -gt \$(stat -c %s $T/emb-int8.s.safetensors) ] && [ \$(stat -c %s $T/emb-int8.s.safetensors) -gt \$(stat -c %s $T/emb-int4.s.safetensors) ]"
$SQ quantize $STORIES $T/emb-t1.safetensors --embeddings int4 --threads 1 --quiet
$SQ quantize $STORIES $T/emb-t2.safetensors --embeddings int4 --threads 2 --quiet
check "deterministic output (--embeddings int4, 1 vs 2 threads)" cmp $T/emb-t1.safetensors $T/emb-t2.safetensors
check "generate on a quantized embedding is deterministic" bash -c "[ \"\$($SQ generate $T/emb-int4.s.safetensors --prompt 'Once upon a time' -n 16 --seed 5)\" = \"\$($SQ generate $T/emb-int4.s.safetensors --prompt 'Once upon a time' -n 16 --seed 5 --threads 1)\" ]"
check "arc on --embeddings int8 runs" bash -c "$SQ eval $T/emb-int8.s.safetensors --task arc --data data/arc-easy-sample/ARC-Easy-Dev-first50.jsonl --limit 3 | grep -q acc"
check "--format paper keeps the embeddings by default" bash -c "$SQ quantize $STORIES $T/emb-paper.safetensors --format paper --quiet && $SQ inspect $T/emb-paper.safetensors | grep -q '^embeddings    keep' && $SQ inspect $T/emb-paper.safetensors | grep -q 'F32   \[512, 64\] *model.embed_tokens.weight'"
check "--format paper --embeddings int8 quantizes them (packed-kind tensors in a paper file)" bash -c "$SQ quantize $STORIES $T/emb-paper8.safetensors --format paper --embeddings int8 --quiet && $SQ inspect $T/emb-paper8.safetensors | grep -q 'model.embed_tokens.weight.sq.codes' && $SQ perplexity $T/emb-paper8.safetensors --text $TXT --limit 2 --json | grep -q perplexity"
emb_bert(){ # EMB: classify, eval accuracy within 1 point of FP32, dequantize, the position embeddings kept
  local e=$1 f=$T/emb-$1.b.safetensors
  $SQ quantize $BERT $f --embeddings $e --report $f.json --quiet && $SQ classify $f 'i feel so happy today' | grep -q joy &&
    python3 -c "import json,subprocess,sys
acc=lambda m: json.loads(subprocess.run(['$SQ','eval',m,'--data','data/emotion/test.jsonl','--limit','400','--json'],capture_output=True,text=True,check=True).stdout)['accuracy']
a,b=acc('$BERT'),acc('$f'); print(a,b); sys.exit(0 if b >= a - 0.01 else 1)" &&
    python3 -c "import json,sys; r=json.load(open('$f.json')); k=[l for l in r['layers'] if l['kind']=='embedding']
sys.exit(0 if r['embeddings']=='$e' and len(k)==1 and k[0]['name']=='bert.embeddings.word_embeddings.weight' and r['bpw_embeddings'] < 9 else 1)" &&
    $SQ dequantize $f $f.deq.safetensors --dtype f32 && python3 tests/cli/compare.py mse $BERT/model.safetensors $f.deq.safetensors $f.json &&
    $SQ inspect $f | grep -q 'F32   \[512, 128\] *bert.embeddings.position_embeddings.weight'
}
for e in int8 int4; do check "--embeddings $e: bert-tiny classify, eval within 1 point of FP32, report, dequantize" emb_bert $e; done
# the untied heads of the Llama family: lm_head as plain codes, scored against numpy on the dequantized weights
$NUMPY_PY tests/ref/make_arch.py $STORIES "$T/earch" >/dev/null 2>&1
for a in mistral qwen2; do
  M="$T/earch/$a-tiny"
  $SQ quantize $M "$T/earch/$a-e.safetensors" --embeddings int8 --quiet && $SQ dequantize "$T/earch/$a-e.safetensors" "$T/earch/$a-e-deq.safetensors" --dtype f32
  $SQ eval "$T/earch/$a-e.safetensors" --task arc --data data/arc-easy-sample/ARC-Easy-Dev-first50.jsonl --limit 6 --json --activations f32 > "$T/earch/$a-e.json" 2>/dev/null
  check "$a-tiny (untied) --embeddings int8: lm_head is a plain INT8 head, arc equals numpy on the dequantized weights" bash -c "python3 -c \"import sys,json; sys.path.insert(0,'tests/cli'); import stlib; m,t=stlib.read('$T/earch/$a-e.safetensors'); d=json.loads(m['sq.tensors'])
sys.exit(0 if d['lm_head.weight']['role']=='head' and d['lm_head.weight']['bits']==8 and d['lm_head.weight']['k']==1 and d['model.embed_tokens.weight']['role']=='embedding' else 1)\" && $NUMPY_PY tests/ref/llama_ref.py arc $T/earch/$a-e-deq.safetensors $T/earch/$a-e.json --config $M/config.json"
  check "$a-tiny (untied) --embeddings int4: generate runs" bash -c "$SQ quantize $M $T/earch/$a-e4.safetensors --embeddings int4 --quiet && $SQ generate $T/earch/$a-e4.safetensors --prompt 'Once upon a time' -n 8 | grep -q ."
done
check "--embeddings int9 is refused with one line, exit 2" bash -c "$SQ quantize $STORIES $T/x.safetensors --embeddings int9 2>$T/e9.txt; [ \$? -eq 2 ] && [ \$(wc -l < $T/e9.txt) -eq 1 ] && grep -q -- '--embeddings must be keep' $T/e9.txt && [ ! -e $T/x.safetensors ]"
# a 64 MiB BF16 embedding is streamed in row blocks (packed.c weight_streamed): peak RSS
# stays far below the tensor (held whole it took 86-102 MB: its bytes plus its codes), the
# same bytes with 1 and 2 threads
python3 tests/cli/make_big_emb.py $T/bigemb.safetensors
peak_mb(){ python3 -c "import resource,subprocess,sys; rc=subprocess.run(sys.argv[1:]).returncode; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024 if rc == 0 else 'failed')" "$@"; }
for e in int8 int4; do
  mb=$(peak_mb $SQ quantize $T/bigemb.safetensors $T/bigemb-$e.safetensors --embeddings $e --threads 2 --quiet)
  check "--embeddings $e: a 64 MiB embedding quantizes in under 40 MB of peak RSS (got $mb MB)" bash -c "[ '$mb' != failed ] && [ '$mb' -lt 40 ]"
done
$SQ quantize $T/bigemb.safetensors $T/bigemb-t1.safetensors --embeddings int8 --threads 1 --quiet
check "deterministic output (streamed embedding, 1 vs 2 threads)" cmp $T/bigemb-int8.safetensors $T/bigemb-t1.safetensors
rm -f $T/bigemb*.safetensors
# hostile quantized embeddings: wrong shape / dtype, missing scale or min, bad descriptions
python3 tests/cli/make_bad_emb.py $T/emb-int8.s.safetensors "$T/hemb-s"
python3 tests/cli/make_bad_emb.py $T/emb-int4.b.safetensors "$T/hemb-b"
for f in "$T"/hemb-s/bad_*.safetensors "$T"/hemb-b/bad_*.safetensors; do
  n=$(basename "$(dirname "$f")")/$(basename "$f" .safetensors)
  case $n in
    hemb-s/*) cmds=("generate $f --prompt hi -n 2" "perplexity $f --text $TXT --limit 1" "eval $f --task arc --data data/arc-easy-sample/ARC-Easy-Dev-first50.jsonl --limit 1" "dequantize $f $T/out.safetensors");;
    *) cmds=("classify $f hello" "eval $f --data data/emotion/test.jsonl --limit 2" "dequantize $f $T/out.safetensors");;
  esac
  for c in "${cmds[@]}"; do
    if msg=$(timeout 20 bash -c "$(declare -f one_line_refusal); T='$T'; one_line_refusal $SQ $c"); then ok "${c%% *} refuses $n"; else bad "${c%% *} refuses $n" "$msg"; fi
    rm -f "$T"/out.*
  done
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
