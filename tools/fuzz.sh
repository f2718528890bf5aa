#!/usr/bin/env bash
# Builds the libFuzzer targets (io/safetensors_fuzzer.cc, experiments/sweep_config_fuzzer.cc,
# experiments/shard_csv_fuzzer.cc)
# with clang, ASan and UBSan, outside Bazel (whose C++ toolchain is gcc), and runs each for a
# bounded time from a small seed corpus. Exits nonzero if a fuzzer finds a crash, a leak, a
# hang or undefined behaviour; the input that did it is kept and its path printed.
#
#   tools/fuzz.sh [--seconds=N]   (N seconds per fuzzer, default 60)
#
# Needs Debian's clang and libclang-rt-14-dev (tools/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
for arg in "$@"; do
  case "$arg" in
    --seconds=*) seconds=${arg#--seconds=} ;;
    *) echo "usage: $0 [--seconds=N]" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gen" "$work/obj"

CXX=${CXX:-clang++}
flags=(-std=c++17 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -O1 -g
       -I. -I"$work/gen" -I/usr/include/eigen3)
libs=($(pkg-config --libs absl_status absl_statusor absl_str_format absl_strings) -lprotobuf
      -pthread)

protoc --cpp_out="$work/gen" experiments/sweep.proto

# The sweep parser reads the microkernel table (names, paths, ISAs) but never runs a kernel nor
# converts activations: link traps in place of the kernels and of the activation rows' ISA
# versions, which keeps ISA flags, SIMDe and the kernels' ongoing changes out of this build.
{
  echo '#include "kernels/activation_rows.h"'
  echo '#include "kernels/microkernels.h"'
  echo 'namespace fp4moe::kernels {'
  sed -n 's/^FP4MOE_DECLARE_MICROKERNEL(\([a-z0-9_]*\));$/\1/p' kernels/microkernels.h |
    while read -r kernel; do
      echo "void $kernel(const GemmArgs&, int64_t, int64_t) { __builtin_trap(); }"
    done
  for isa in Avx2 Avx512; do
    echo "void QuantizeInt8Rows$isa(const FloatRows&, int64_t, int8_t*, float*) {"
    echo "  __builtin_trap();"
    echo "}"
    echo "bool RoundRowsToBf16$isa(const FloatRows&, uint16_t*) { __builtin_trap(); }"
  done
  echo '}'
} > "$work/gen/kernel_traps.cc"

codes=(quant/bf16.cc quant/e2m1.cc quant/e4m3.cc quant/e8m0.cc)
safetensors_srcs=(io/safetensors_fuzzer.cc io/safetensors.cc io/safetensors_header.cc io/sizes.cc
                  files/input_files.cc files/output_set.cc files/interrupt_cleanup.cc
                  files/out_of_memory.cc
                  kernels/cpu_features.cc
                  "${codes[@]}")
shard_csv_srcs=(experiments/shard_csv_fuzzer.cc experiments/shard_merge.cc
                experiments/report_writer.cc experiments/report_summary.cc
                experiments/row_facts.cc)
sweep_srcs=(experiments/sweep_config_fuzzer.cc experiments/sweep_config.cc files/input_files.cc
            files/out_of_memory.cc
            "$work/gen/experiments/sweep.pb.cc" "$work/gen/kernel_traps.cc" moe/moe_config.cc
            moe/model_presets.cc
            kernels/microkernel_table.cc kernels/cpu_features.cc kernels/gemm.cc
            kernels/buffers.cc kernels/weight_buffer.cc kernels/aligned_buffer.cc
            kernels/block_scale.cc
            kernels/activation_rows.cc
            quant/format.cc quant/random_matrix.cc quant/blockwise.cc quant/fp4_float_scale.cc
            quant/int4_k2.cc quant/int8_activation.cc quant/mxfp4.cc quant/nvfp4.cc
            quant/validate.cc "${codes[@]}")

object() { echo "$work/obj/$(echo "${1#"$work"/}" | tr / _).o"; }

# Every source once, two at a time.
pids=()
for src in $(printf '%s\n' "${safetensors_srcs[@]}" "${sweep_srcs[@]}" "${shard_csv_srcs[@]}" | sort -u); do
  "$CXX" "${flags[@]}" -c "$src" -o "$(object "$src")" &
  pids+=($!)
  if ((${#pids[@]} >= 2)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

link() {
  local name=$1; shift
  local objects=()
  for src in "$@"; do objects+=("$(object "$src")"); done
  "$CXX" "${flags[@]}" "${objects[@]}" "${libs[@]}" -o "$work/$name"
}
link safetensors_fuzzer "${safetensors_srcs[@]}"
link sweep_config_fuzzer "${sweep_srcs[@]}"
link shard_csv_fuzzer "${shard_csv_srcs[@]}"

# Seeds. Safetensors: a file with every kind of entry (F32 matrix, BF16 vector, I32 scalar,
# an empty tensor, metadata), an empty header, and the inputs that once crashed the reader
# (io/testdata/safetensors, which //io:safetensors_header_test also runs).
safetensors_file() {  # HEADER DATA(printf escapes) > file
  local n=${#1}
  printf "$(printf '\\x%02x' $((n & 255)) $((n >> 8 & 255)) 0 0 0 0 0 0)%s$2" "$1"
}
mkdir -p "$work/seeds/safetensors" "$work/seeds/sweep_config" "$work/seeds/shard_csv"
safetensors_file '{"__metadata__":{"format":"pt"},"m":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"v":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},"s":{"dtype":"I32","shape":[],"data_offsets":[20,24]},"e":{"dtype":"F16","shape":[0,3],"data_offsets":[24,24]}}' \
  '\0\0\200\77\0\0\0\100\0\0\100\100\0\0\200\100\200\77\0\300\7\0\0\0' \
  > "$work/seeds/safetensors/every_kind"
safetensors_file '{}' '' > "$work/seeds/safetensors/empty"
cp io/testdata/safetensors/* "$work/seeds/safetensors/"
cp experiments/configs/*.textproto experiments/testdata/*.textproto "$work/seeds/sweep_config/"
# Shard CSVs of the tiny sweep as compare wrote them (one shard, and both joined by a NUL byte,
# which the fuzzer splits into two files); regenerate them when the CSV's columns change.
cp experiments/testdata/shard_csv/* "$work/seeds/shard_csv/"

# Dictionaries: the header's keys and dtypes; the Sweep's field names; the CSV's columns.
for token in dtype shape data_offsets __metadata__ F32 BF16 F16 F8_E4M3 U8 I8 I32 I64; do
  echo "\"\\\"$token\\\"\""
done > "$work/safetensors.dict"
sed -n 's/^ *\(optional\|repeated\) [a-zA-Z0-9_]* \([a-z_]*\) = .*/"\2"/p' experiments/sweep.proto \
  | sort -u > "$work/sweep_config.dict"
head -1 experiments/testdata/shard_csv/tiny_shard_0_of_2.csv | tr ',' '\n' \
  | sed 's/.*/"&"/' > "$work/shard_csv.dict"

# Inputs up to 1 MB (the size limit of sweep configs): libFuzzer's default of 4096 bytes cannot
# nest deep enough to overflow a recursive parser's stack (the nesting that crashed the
# safetensors reader took 100k levels).
max_len=1048576

crashes=$(mktemp -d "${TMPDIR:-/tmp}/fp4moe-fuzz.XXXXXX")
failed=0
for name in safetensors sweep_config shard_csv; do
  mkdir -p "$work/corpus/$name"
  if "$work/${name}_fuzzer" "$work/corpus/$name" "$work/seeds/$name" \
      -dict="$work/$name.dict" -max_len=$max_len -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$crashes/$name-" > "$work/$name.log" 2>&1; then
    echo "fuzz: ${name}_fuzzer: $(grep -o 'Done [0-9]* runs in [0-9]* second' "$work/$name.log" |
      sed 's/Done //; s/ second/ s/'), no crash"
  else
    failed=1
    tail -n 60 "$work/$name.log"
    echo "fuzz: ${name}_fuzzer FAILED; input: $(ls "$crashes/$name-"* 2>/dev/null)"
  fi
done
rmdir "$crashes" 2>/dev/null || true
exit "$failed"
