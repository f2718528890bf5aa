#!/usr/bin/env bash
# Runs //io:quantize on small hand-made files: exit 0 and an output for good input; exit 1, a
# message, and no output (not even a temporary file) for bad input, and for an output that is
# the input or not a regular file, with the input unchanged.
set -euo pipefail
quantize=$(realpath "$1")  # absolute: one case runs from another directory
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/quantize.XXXXXX")

source "$(dirname "${BASH_SOURCE[0]}")/write_safetensors.sh"
# write_file PATH HEADER COUNT: a safetensors file of HEADER and COUNT float32 ones.
write_file() { f32_ones "$3" | write_safetensors "$1" "$2"; }

write_file "$dir/good.safetensors" \
  '{"a.weight":{"dtype":"F32","shape":[2,32],"data_offsets":[0,256]},"a.bias":{"dtype":"F32","shape":[2],"data_offsets":[256,264]}}' 66
write_file "$dir/k8.safetensors" \
  '{"a.weight":{"dtype":"F32","shape":[2,8],"data_offsets":[0,64]}}' 16
head -c 100 "$dir/good.safetensors" >"$dir/truncated.safetensors"

expect_success() {  # FORMAT EXPECTED_NAME
  rm -f "$dir/out.safetensors"
  "$quantize" --input="$dir/good.safetensors" --output="$dir/out.safetensors" --format="$1"
  [[ -s $dir/out.safetensors ]] || { echo "$1: no output"; exit 1; }
  grep -q "$2" "$dir/out.safetensors" || { echo "$1: no tensor $2 in the output"; exit 1; }
}
expect_success nvfp4 a.weight_scale_2
expect_success mxfp4 a.weight_scale
expect_success int4_k2 a.weight_packed
rm -f "$dir/out.safetensors"

expect_failure() {  # DESCRIPTION ARGS...
  local description=$1 rc=0
  shift
  "$quantize" "$@" --output="$dir/out.safetensors" 2>"$dir/stderr" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 1 ]] || { echo "$description: exit code $rc, expected 1"; exit 1; }
  [[ -s $dir/stderr ]] || { echo "$description: no message"; exit 1; }
  if compgen -G "$dir/out.safetensors*" >/dev/null; then
    echo "$description: output left behind"; exit 1
  fi
}
expect_failure "truncated input" --input="$dir/truncated.safetensors" --format=nvfp4
expect_failure "K not a multiple of 16" --input="$dir/k8.safetensors" --format=nvfp4
expect_failure "missing input" --input="$dir/absent.safetensors" --format=mxfp4
expect_failure "unknown format" --input="$dir/good.safetensors" --format=int3
expect_failure "bad group size" --input="$dir/good.safetensors" --format=int4_k2 --group_size=12
# A float weight of a dtype quantize does not read is refused by name, not copied unquantized.
write_file "$dir/f64.safetensors" \
  '{"a.weight":{"dtype":"F64","shape":[2,32],"data_offsets":[0,512]}}' 128
expect_failure "F64 weight" --input="$dir/f64.safetensors" --format=nvfp4
grep -qF "tensor 'a.weight' is F64: quantize reads F32, BF16 or F16 weights" "$dir/stderr" ||
  { echo "F64 weight: no message"; exit 1; }
# An input quantized already (by quantize itself) is refused, not quantized again.
for format in nvfp4 int4_k2; do
  "$quantize" --input="$dir/good.safetensors" --output="$dir/quantized.safetensors" \
    --format="$format"
  expect_failure "$format input" --input="$dir/quantized.safetensors" --format=mxfp4
  grep -qF "the checkpoint is already quantized" "$dir/stderr" ||
    { echo "$format: no message"; exit 1; }
done

# A full disk, as a file size limit (1 kB; the output is 1.2 kB): writes fail with EFBIG.
write_file "$dir/large.safetensors" \
  '{"a.weight":{"dtype":"F32","shape":[32,64],"data_offsets":[0,8192]}}' 2048
(ulimit -f 1; trap '' XFSZ; exec "$quantize" --input="$dir/large.safetensors" \
  --output="$dir/large_out.safetensors" --format=nvfp4) 2>"$dir/stderr" && exit 1
grep -q "File too large" "$dir/stderr" || { cat "$dir/stderr"; echo "full disk: no message"; exit 1; }
if compgen -G "$dir/large_out.safetensors*" >/dev/null; then echo "full disk: output left"; exit 1; fi

cp "$dir/good.safetensors" "$dir/good.copy"
ln -s good.safetensors "$dir/symlink.safetensors"
ln "$dir/good.safetensors" "$dir/hardlink.safetensors"
mkdir "$dir/a_directory"
mkfifo "$dir/a_fifo"
expect_refused() {  # DESCRIPTION MESSAGE ARGS...
  local description=$1 message=$2 rc=0
  shift 2
  "$quantize" --format=nvfp4 "$@" 2>"$dir/stderr" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 1 ]] || { echo "$description: exit code $rc, expected 1"; exit 1; }
  grep -qF -- "$message" "$dir/stderr" || { echo "$description: no '$message'"; exit 1; }
  cmp "$dir/good.safetensors" "$dir/good.copy" || { echo "$description: input changed"; exit 1; }
  if compgen -G "$dir/*.tmp-*" >/dev/null; then
    echo "$description: temporary file left behind"; exit 1
  fi
}
same="is the same file as input --input=$dir/good.safetensors: refusing to overwrite an input"
expect_refused "the input's path" "$same" \
  --input="$dir/good.safetensors" --output="$dir/good.safetensors"
expect_refused "a ./ spelling" "$same" \
  --input="$dir/good.safetensors" --output="$dir/./good.safetensors"
expect_refused "a symlink" "$same" \
  --input="$dir/good.safetensors" --output="$dir/symlink.safetensors"
expect_refused "a hard link" "$same" \
  --input="$dir/good.safetensors" --output="$dir/hardlink.safetensors"
(cd "$dir" && expect_refused "relative and absolute" \
  "--output=$dir/good.safetensors is the same file as input --input=good.safetensors" \
  --input=good.safetensors --output="$dir/good.safetensors")
expect_refused "a directory" "--output=$dir/a_directory exists and is a directory" \
  --input="$dir/good.safetensors" --output="$dir/a_directory"
[[ -d $dir/a_directory && -z $(ls -A "$dir/a_directory") ]] || { echo "directory changed"; exit 1; }
expect_refused "a FIFO" "--output=$dir/a_fifo exists and is a FIFO" \
  --input="$dir/good.safetensors" --output="$dir/a_fifo"
[[ -p $dir/a_fifo ]] || { echo "the FIFO was replaced"; exit 1; }
echo PASS
