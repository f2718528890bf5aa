#!/usr/bin/env bash
# Runs //io:forward on a small float MoE layer written by hand: exit 0 and an output; then an
# output that is one of its inputs (any spelling or link) or not a regular file, and --threads
# beyond any machine: exit 1, a message, both inputs unchanged and nothing written.
set -euo pipefail
forward=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/forward.XXXXXX")

# f32_ones N, i32_zeros N: N little-endian values.
f32_ones() { local i; for ((i = 0; i < $1; i++)); do printf '\x00\x00\x80\x3f'; done; }
i32_zeros() { local i; for ((i = 0; i < $1; i++)); do printf '\x00\x00\x00\x00'; done; }
# write_file PATH HEADER: the header's 8-byte little-endian length and the header; the data
# follows on stdin.
write_file() {
  local path=$1 header=$2 n=${#2}
  {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' \
      $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
    printf '%s' "$header"
    cat
  } >"$path"
}

# One expert with H = I = 32 (float, quantized to NVFP4 on load); one token routed to it.
f32_ones 3072 | write_file "$dir/w.safetensors" \
  '{"m.0.gate_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[0,4096]},"m.0.up_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[4096,8192]},"m.0.down_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[8192,12288]}}'
{ f32_ones 32; i32_zeros 1; f32_ones 1; } | write_file "$dir/x.safetensors" \
  '{"hidden_states":{"dtype":"F32","shape":[1,32],"data_offsets":[0,128]},"topk_ids":{"dtype":"I32","shape":[1,1],"data_offsets":[128,132]},"topk_weights":{"dtype":"F32","shape":[1,1],"data_offsets":[132,136]}}'

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

# More threads than any machine has: one message, not a crash in the OpenMP runtime.
rc=0
"$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x.safetensors" \
  --output="$dir/threads.safetensors" --threads=100000 2>"$dir/stderr" || rc=$?
cat "$dir/stderr"
[[ $rc == 1 ]] || { echo "--threads=100000: exit code $rc, expected 1"; exit 1; }
grep -qF "num_threads: must be in [1, 1024], got 100000" "$dir/stderr" || exit 1
[[ ! -e $dir/threads.safetensors ]] || { echo "--threads=100000: output written"; exit 1; }
echo PASS
