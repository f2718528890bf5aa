#!/usr/bin/env bash
# Runs //io:quantize and //io:forward under process memory limits (ulimit -v), from the least a
# tiny run starts with to more than the run needs: each run ends with exit 0 and its output, or
# with exit 1, one message that memory ran out and nothing written; never with an abort (an
# uncaught std::bad_alloc). Both also run on model folders (--model), whose tensors load in
# OpenMP loops. See files/under_memory_limits.sh.
set -euo pipefail
quantize=$(realpath "$1")
forward=$(realpath "$2")
source "$(dirname "${BASH_SOURCE[0]}")/write_safetensors.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../files/under_memory_limits.sh"
enter_test_dir "$quantize"

ones() { python3 -c "import sys, struct; sys.stdout.buffer.write(struct.pack('<f', 1.0) * $1)"; }
# model_folder DIR CONFIG NAME:DTYPE:SHAPE...: DIR/config.json holding CONFIG and
# DIR/model.safetensors the tensors (F32 or F8_E4M3, every value 1).
model_folder() {
  local dir=$1 config=$2 header="" offset=0 spec name dtype shape bytes
  shift 2
  mkdir "$dir"
  printf '%s' "$config" >"$dir/config.json"
  for spec; do
    IFS=: read -r name dtype shape <<<"$spec"
    bytes=$((${shape//,/*}))
    [[ $dtype == F32 ]] && bytes=$((4 * bytes))
    header+="${header:+,}\"$name\":{\"dtype\":\"$dtype\",\"shape\":[$shape],"
    header+="\"data_offsets\":[$offset,$((offset + bytes))]}"
    offset=$((offset + bytes))
  done
  for spec; do
    IFS=: read -r name dtype shape <<<"$spec"
    if [[ $dtype == F32 ]]; then ones $((${shape//,/*})); else
      head -c $((${shape//,/*})) /dev/zero | tr '\0' '\070'; fi
  done | write_safetensors "$dir/model.safetensors" "{$header}"
}
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

# A Mixtral layer of two experts in FP8 with DeepSeek's block scales (dequantized on load), and
# a gpt-oss layer with float fused experts (each expert's columns transposed out on load).
h=1024
mixtral=model.layers.0.block_sparse_moe
fp8=()
for e in 0 1; do
  for p in w1 w3 w2; do
    fp8+=("$mixtral.experts.$e.$p.weight:F8_E4M3:$h,$h" "$mixtral.experts.$e.$p.weight_scale_inv:F32:8,8")
  done
done
model_folder fp8 '{"architectures":["MixtralForCausalLM"],"hidden_size":'$h',"num_hidden_layers":1,"num_local_experts":2,"num_experts_per_tok":2,"intermediate_size":'$h'}' \
  "$mixtral.gate.weight:F32:2,$h" "${fp8[@]}"
h=512
oss=model.layers.0.mlp
model_folder gpt_oss '{"architectures":["GptOssForCausalLM"],"hidden_size":'$h',"num_hidden_layers":1,"num_local_experts":2,"num_experts_per_tok":2,"intermediate_size":'$h'}' \
  "$oss.router.weight:F32:2,$h" "$oss.router.bias:F32:2" \
  "$oss.experts.gate_up_proj:F32:2,$h,$((2 * h))" "$oss.experts.gate_up_proj_bias:F32:2,$((2 * h))" \
  "$oss.experts.down_proj:F32:2,$h,$h" "$oss.experts.down_proj_bias:F32:2,$h"
for h in 1024 512; do
  ones $h | write_safetensors x$h.safetensors \
    "{\"hidden_states\":{\"dtype\":\"F32\",\"shape\":[1,$h],\"data_offsets\":[0,$((4 * h))]}}"
done
for model in fp8:1024 gpt_oss:512; do
  for format in nvfp4 mxfp4; do
    sweep_limits $quantize_base 2048 quantized "$quantize" --model=${model%:*} --output=quantized \
      --format=$format --threads=2
  done
  sweep_limits $forward_base 2048 y.safetensors "$forward" --model=${model%:*} --layer=0 \
    --input=x${model#*:}.safetensors --output=y.safetensors --threads=2
done
echo "every run under a memory limit succeeded or failed cleanly"
