#!/usr/bin/env bash
# Runs //io:quantize and //io:forward under process memory limits (ulimit -v), from the least a
# tiny run starts with to more than the run needs: each run ends with exit 0 and its output, or
# with exit 1, one message that memory ran out and nothing written; never with an abort (an
# uncaught std::bad_alloc). See files/under_memory_limits.sh.
set -euo pipefail
quantize=$(realpath "$1")
forward=$(realpath "$2")
source "$(dirname "${BASH_SOURCE[0]}")/write_safetensors.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../files/under_memory_limits.sh"
enter_test_dir "$quantize"

ones() { python3 -c "import sys, struct; sys.stdout.buffer.write(struct.pack('<f', 1.0) * $1)"; }
# A 1024 x 4096 weight (16 MB of F32) and a tiny one; for forward one expert of H = I = 32, with
# one token and with 2^17 (a workspace of tens of MB).
ones $((1024 * 4096)) | write_safetensors big.safetensors \
  '{"a.weight":{"dtype":"F32","shape":[1024,4096],"data_offsets":[0,16777216]}}'
ones 512 | write_safetensors tiny.safetensors \
  '{"a.weight":{"dtype":"F32","shape":[16,32],"data_offsets":[0,2048]}}'
ones 3072 | write_safetensors w.safetensors \
  '{"m.0.gate_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[0,4096]},"m.0.up_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[4096,8192]},"m.0.down_proj.weight":{"dtype":"F32","shape":[32,32],"data_offsets":[8192,12288]}}'
t=131072 x=$((131072 * 128))
{ ones $((t * 32)); head -c $((4 * t)) /dev/zero; ones $t; } | write_safetensors x.safetensors \
  "{\"hidden_states\":{\"dtype\":\"F32\",\"shape\":[$t,32],\"data_offsets\":[0,$x]},\"topk_ids\":{\"dtype\":\"I32\",\"shape\":[$t,1],\"data_offsets\":[$x,$((x + 4 * t))]},\"topk_weights\":{\"dtype\":\"F32\",\"shape\":[$t,1],\"data_offsets\":[$((x + 4 * t)),$((x + 8 * t))]}}"
{ ones 32; head -c 4 /dev/zero; ones 1; } | write_safetensors x1.safetensors \
  '{"hidden_states":{"dtype":"F32","shape":[1,32],"data_offsets":[0,128]},"topk_ids":{"dtype":"I32","shape":[1,1],"data_offsets":[128,132]},"topk_weights":{"dtype":"F32","shape":[1,1],"data_offsets":[132,136]}}'

quantize_base=$(least_limit tiny_out.safetensors "$quantize" --input=tiny.safetensors \
  --output=tiny_out.safetensors --format=nvfp4)
for format in nvfp4 mxfp4 int4_k2; do
  sweep_limits $quantize_base 2048 out.safetensors "$quantize" --input=big.safetensors \
    --output=out.safetensors --format=$format
done
forward_base=$(least_limit y1.safetensors "$forward" --weights=w.safetensors --prefix=m \
  --input=x1.safetensors --output=y1.safetensors --threads=2)
sweep_limits $forward_base 4096 y.safetensors "$forward" --weights=w.safetensors --prefix=m \
  --input=x.safetensors --output=y.safetensors --threads=2
echo "every run under a memory limit succeeded or failed cleanly"
