#!/usr/bin/env bash
# Runs gemm_benchmark and moe_benchmark with flags out of range (their own, Google Benchmark's
# --benchmark_repetitions, the --peak_* rates): each must exit 1 with one message naming the
# flag, at once (before measuring or allocating), never crash.
set -euo pipefail
gemm=$1 moe=$2
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/benchmark_flags.XXXXXX")

expect_refused() {  # BINARY MESSAGE FLAGS...
  local binary=$1 message=$2 rc=0
  shift 2
  timeout 20 "$binary" "$@" >"$dir/stdout" 2>"$dir/stderr" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 1 ]] || { echo "$(basename "$binary") $*: exit code $rc, expected 1"; exit 1; }
  grep -qF -- "$message" "$dir/stderr" || { echo "$(basename "$binary") $*: no '$message'"; exit 1; }
}
huge=9000000000000000000
for binary in "$gemm" "$moe"; do
  expect_refused "$binary" "--threads=100000 is out of range: must be in [0, 1024]" --threads=100000
  expect_refused "$binary" "--threads=-3 is out of range" --threads=-3
  expect_refused "$binary" "--stream_bytes=-1 is out of range" --stream_bytes=-1
  expect_refused "$binary" "--stream_bytes: needs $huge bytes" --stream_bytes=$huge
  expect_refused "$binary" "--bandwidth_probe_bytes=0 is out of range" --bandwidth_probe_bytes=0
  expect_refused "$binary" "--bandwidth_probe_bytes: needs $huge bytes" \
    --bandwidth_probe_bytes=$huge
  for repetitions in 0 -2 1001 2147483648 nan abc ""; do
    expect_refused "$binary" \
      "--benchmark_repetitions=$repetitions is out of range: must be an integer in [1, 1000]" \
      --benchmark_repetitions=$repetitions
  done
  # The last one counts, as in Google Benchmark's parser; the environment's where none is given.
  expect_refused "$binary" "--benchmark_repetitions=0 is out of range" \
    --benchmark_repetitions=3 --benchmark_repetitions=0
  BENCHMARK_REPETITIONS=-1 expect_refused "$binary" "\$BENCHMARK_REPETITIONS=-1 is out of range"
  for flag in peak_amx_int8 peak_amx_bf16 peak_avx512_int8 peak_avx512_bf16 peak_avx2_int8 \
    peak_avx2_f32; do
    for rate in -1 nan inf -inf 200 1e+19; do
      expect_refused "$binary" "--$flag=$rate is out of range" --$flag=$rate
    done
  done
  expect_refused "$binary" "--peak_amx_bf16=-1 is out of range: must be 0 (measure it) or in" \
    --peak_amx_bf16=-1
done
expect_refused "$gemm" "shape '0x2048' is not NxK of positive integers" --shapes=0x2048
expect_refused "$gemm" "shape 4000000000x4000000000: overflows 64 bits" \
  --shapes=4000000000x4000000000
expect_refused "$gemm" "shape 10000000x10000000: needs" --shapes=10000000x10000000
expect_refused "$gemm" "m=100000000000 with shape 2048x7168: needs" --shapes=2048x7168 \
  --ms=100000000000
expect_refused "$gemm" "m '-1' is not a positive integer" --ms=-1
expect_refused "$gemm" "--slices=-1 is out of range: must be in [0, 1048576]" --slices=-1
expect_refused "$gemm" "--slices=-1 is out of range" --slices=0,16,-1
expect_refused "$gemm" "--slices 'many' is not an integer" --slices=0,many
expect_refused "$gemm" "--row_groups=0 is out of range: must be in [1, 1048576]" --row_groups=0
expect_refused "$gemm" "--row_groups=3 does not divide the 2 threads" --row_groups=3 --threads=2
expect_refused "$gemm" "--row_groups and --slices cannot be combined" --row_groups=2 --threads=2 \
  --slices=4
expect_refused "$moe" "no kernel is named 'no_such_kernel'" --tile_kernels=no_such_kernel
# A ceiling is found by name (it runs only where the CPU has AMX, which these machines lack).
if ! grep -qw amx_tile /proc/cpuinfo; then
  expect_refused "$moe" "this CPU cannot run w4a16_no_decode_32x32_amx" \
    --tile_kernels=w4a16_no_decode_32x32_amx
fi
expect_refused "$moe" "qlen '0' is not a positive integer" --qlens=0
expect_refused "$moe" "--prefill_slice_columns 'abc' is not a positive integer" \
  --prefill_slice_columns=abc
expect_refused "$moe" "MoeConfig.prefill_slice_columns: must be a positive multiple of 64" \
  --prefill_slice_columns=256,100
expect_refused "$moe" "--max_len=-5 is out of range" --max_len=-5
expect_refused "$moe" "--routings=100000 is out of range" --routings=100000
expect_refused "$moe" "--routings=0 is out of range: must be in [1, 65536]" --routings=0
expect_refused "$moe" "--layers=1000000 is out of range" --layers=1000000
expect_refused "$moe" "--max_len=1000000000000 rows of mixtral: needs" --models=mixtral \
  --qlens=1000000000000
expect_refused "$moe" "unknown model 'llama'" --models=llama
expect_refused "$moe" "unknown GEMM path 'w4a9'" --paths=auto,w4a9
expect_refused "$moe" "path int4_w4a16 takes none of --formats" --formats=nvfp4 \
  --paths=int4_w4a16
expect_refused "$moe" "no paths" --paths=
expect_refused "$moe" "unknown weight format 'fp5'" --formats=nvfp4,fp5
expect_refused "$moe" "no kernel is named 'fp4_w4a16_fast'" --tile_kernels=fp4_w4a16_fast
expect_refused "$moe" "no layer's tile kernel has the path of int4_w4a16_scalar (int4_w4a16)" \
  --formats=nvfp4 --tile_kernels=int4_w4a16_scalar
if ! grep -q amx_bf16 /proc/cpuinfo; then
  expect_refused "$moe" "this CPU cannot run fp4_w4a16_32x32_amx" \
    --tile_kernels=fp4_w4a16_32x32_amx
fi
echo PASS
