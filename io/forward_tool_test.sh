#!/usr/bin/env bash
# Runs //io:forward on a small float MoE layer written by hand: exit 0 and an output; then an
# output that is one of its inputs (any spelling or link) or not a regular file, --threads
# beyond any machine, and finite inputs whose output overflows: exit 1, a message, both inputs
# unchanged and nothing written.
set -euo pipefail
forward=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/forward.XXXXXX")
source "$(dirname "${BASH_SOURCE[0]}")/write_safetensors.sh"

# i32_zeros N: N int32 zeros.
i32_zeros() { local i; for ((i = 0; i < $1; i++)); do printf '\x00\x00\x00\x00'; done; }

# One expert with H = I = 32 (float, quantized to NVFP4 on load); one token routed to it.
weights_header='{"m.0.gate_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[0,4096]},"m.0.up_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[4096,8192]},"m.0.down_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[8192,12288]}}'
input_header='{"hidden_states":{"dtype":"F32","shape":[1,32],"data_offsets":[0,128]},"topk_ids":{"dtype":"I32","shape":[1,1],"data_offsets":[128,132]},"topk_weights":{"dtype":"F32","shape":[1,1],"data_offsets":[132,136]}}'
f32_ones 3072 | write_safetensors "$dir/w.safetensors" "$weights_header"
{ f32_ones 32; i32_zeros 1; f32_ones 1; } | write_safetensors "$dir/x.safetensors" "$input_header"

"$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x.safetensors" \
  --output="$dir/y.safetensors"
grep -q '"output"' "$dir/y.safetensors" || { echo "no output tensor"; exit 1; }

cp "$dir/w.safetensors" "$dir/w.copy"
cp "$dir/x.safetensors" "$dir/x.copy"
ln -s x.safetensors "$dir/x_link.safetensors"
ln "$dir/w.safetensors" "$dir/w_hard.safetensors"
mkdir "$dir/a_directory"
expect_refused() {  # DESCRIPTION OUTPUT MESSAGE
  local rc=0
  "$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x.safetensors" \
    --output="$2" 2>"$dir/stderr" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 1 ]] || { echo "$1: exit code $rc, expected 1"; exit 1; }
  grep -qF -- "$3" "$dir/stderr" || { echo "$1: no '$3'"; exit 1; }
  cmp "$dir/w.safetensors" "$dir/w.copy" || { echo "$1: the weights changed"; exit 1; }
  cmp "$dir/x.safetensors" "$dir/x.copy" || { echo "$1: the input changed"; exit 1; }
  if compgen -G "$dir/*.tmp-*" >/dev/null; then echo "$1: temporary file left behind"; exit 1; fi
}
refusal=": refusing to overwrite an input"
expect_refused "the weights" "$dir/w.safetensors" \
  "--output=$dir/w.safetensors is the same file as input --weights=$dir/w.safetensors$refusal"
expect_refused "the input" "$dir/./x.safetensors" \
  "--output=$dir/./x.safetensors is the same file as input --input=$dir/x.safetensors$refusal"
expect_refused "a symlink to the input" "$dir/x_link.safetensors" \
  "is the same file as input --input=$dir/x.safetensors$refusal"
expect_refused "a hard link to the weights" "$dir/w_hard.safetensors" \
  "is the same file as input --weights=$dir/w.safetensors$refusal"
expect_refused "a directory" "$dir/a_directory" "exists and is a directory"

# hidden_states in F64 (a dtype of the format that forward does not read): refused by name,
# never read as another dtype.
f64_header='{"hidden_states":{"dtype":"F64","shape":[1,16],"data_offsets":[0,128]},"topk_ids":{"dtype":"I32","shape":[1,1],"data_offsets":[128,132]},"topk_weights":{"dtype":"F32","shape":[1,1],"data_offsets":[132,136]}}'
{ f32_ones 32; i32_zeros 1; f32_ones 1; } | write_safetensors "$dir/x_f64.safetensors" "$f64_header"
rc=0
"$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x_f64.safetensors" \
  --output="$dir/f64.safetensors" 2>"$dir/stderr" || rc=$?
cat "$dir/stderr"
[[ $rc == 1 ]] || { echo "F64 hidden_states: exit code $rc, expected 1"; exit 1; }
grep -qF "tensor 'hidden_states' is F64 [1, 16], expected F32 or BF16" "$dir/stderr" || exit 1
[[ ! -e $dir/f64.safetensors ]] || { echo "F64 hidden_states: output written"; exit 1; }

# More threads than any machine has: one message, not a crash in the OpenMP runtime.
rc=0
"$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x.safetensors" \
  --output="$dir/threads.safetensors" --threads=100000 2>"$dir/stderr" || rc=$?
cat "$dir/stderr"
[[ $rc == 1 ]] || { echo "--threads=100000: exit code $rc, expected 1"; exit 1; }
grep -qF "num_threads: must be in [1, 1024], got 100000" "$dir/stderr" || exit 1
[[ ! -e $dir/threads.safetensors ]] || { echo "--threads=100000: output written"; exit 1; }

# Finite inputs whose output overflows float: a routing weight of 3e38 (the expert gives about
# 3e4 per column), or down_proj weights of 1e38 (finite, and so are their NVFP4 scales, but a
# sum of 32 products is not); and gate and up weights of 1e38, which overflow already inside
# the layer. One message naming the tensor or the files, exit 1, nothing written.
{ f32_ones 32; i32_zeros 1; f32_fill '\xe6\xb1\x61\x7f' 1; } |
  write_safetensors "$dir/x_3e38.safetensors" "$input_header"
{ f32_ones 2048; f32_fill '\x99\x76\x96\x7e' 1024; } |
  write_safetensors "$dir/w_down_1e38.safetensors" "$weights_header"
f32_fill '\x99\x76\x96\x7e' 3072 | write_safetensors "$dir/w_1e38.safetensors" "$weights_header"
expect_overflow() {  # DESCRIPTION WEIGHTS INPUT MESSAGE...
  local description=$1 weights=$2 input=$3 rc=0 message
  shift 3
  "$forward" --weights="$weights" --prefix=m --input="$input" \
    --output="$dir/overflow.safetensors" 2>"$dir/stderr" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 1 ]] || { echo "$description: exit code $rc, expected 1"; exit 1; }
  for message in "$@"; do
    grep -qF -- "$message" "$dir/stderr" || { echo "$description: no '$message'"; exit 1; }
  done
  [[ ! -e $dir/overflow.safetensors ]] || { echo "$description: output written"; exit 1; }
}
output_message="$dir/overflow.safetensors: tensor 'output' [token 0, column 0] = "
expect_overflow "routing weight 3e38" "$dir/w.safetensors" "$dir/x_3e38.safetensors" \
  "$output_message" "is not finite although every input is" "expert 0 with weight 3e+38"
expect_overflow "down_proj weights of 1e38" "$dir/w_down_1e38.safetensors" "$dir/x.safetensors" \
  "$output_message" "is not finite although every input is"
expect_overflow "gate and up weights of 1e38" "$dir/w_1e38.safetensors" "$dir/x.safetensors" \
  "experts 'm' of $dir/w_1e38.safetensors on $dir/x.safetensors: " "non-finite value inf"
echo PASS
