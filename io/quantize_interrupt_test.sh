#!/usr/bin/env bash
# Interrupts //io:quantize while its output is unfinished, in both modes (a file, a model
# folder): it must die of the signal with a message and leave nothing behind, neither the
# output nor a temporary file or directory beside it.
set -euo pipefail
quantize=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/quantize_interrupt.XXXXXX")
source "$(dirname "${BASH_SOURCE[0]}")/write_safetensors.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../files/interrupt_while_writing.sh"

# A Mixtral model folder of 8 experts of 1024 x 1024 in F32 (96 MB, every byte 0x3f: 0.747), long enough to
# quantize that the interruption comes while the output is unfinished.
experts=8 size=1024
header='{' offset=0
add_tensor() {  # NAME ROWS COLS
  local end=$((offset + $2 * $3 * 4))
  header+="\"$1\":{\"dtype\":\"F32\",\"shape\":[$2,$3],\"data_offsets\":[$offset,$end]},"
  offset=$end
}
add_tensor model.layers.0.block_sparse_moe.gate.weight $experts $size
for ((e = 0; e < experts; e++)); do
  for p in w1 w2 w3; do add_tensor "model.layers.0.block_sparse_moe.experts.$e.$p.weight" \
    $size $size; done
done
header="${header%,}}"
mkdir "$dir/model"
head -c "$offset" /dev/zero | tr "\0" "?" | write_safetensors "$dir/model/model.safetensors" "$header"
cat >"$dir/model/config.json" <<JSON
{"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": $size,
 "num_hidden_layers": 1, "num_local_experts": $experts, "num_experts_per_tok": 2,
 "intermediate_size": $size}
JSON

# interrupt OUTPUT ARGS...: interrupts quantize while OUTPUT is unfinished
# (interrupt_while_writing). Returns 2 where it finished before it could be caught.
interrupt() {
  local out=$1 rc
  shift
  interrupt_while_writing "$out" "$dir/stderr" "$quantize" "$@" --output="$out" --format=nvfp4 ||
    { rm -rf "$out"; return 2; }
  rc=$interrupted_status
  cat "$dir/stderr"
  [[ $rc == 130 ]] || { echo "$out: exit status $rc, expected 130 (SIGINT)"; exit 1; }
  grep -q "quantize: interrupted by SIGINT: removed the unfinished outputs" "$dir/stderr" ||
    { echo "$out: no message"; exit 1; }
  if compgen -G "$out*" >/dev/null; then
    echo "$out: left behind:" "$out"*; exit 1
  fi
}

# The output file exists only while it is written, at the end: try a few times to catch it.
caught() {  # OUTPUT ARGS...
  local attempt rc
  for attempt in 1 2 3 4 5; do
    rc=0
    interrupt "$@" || rc=$?
    [[ $rc == 2 ]] || return 0
  done
  echo "$1: never caught unfinished in 5 runs"; exit 1
}
caught "$dir/out_model" --model="$dir/model"
caught "$dir/out.safetensors" --input="$dir/model/model.safetensors"
[[ $(ls -A "$dir" | tr '\n' ' ') == "model stderr " ]] || { echo "left:"; ls -A "$dir"; exit 1; }
echo PASS
