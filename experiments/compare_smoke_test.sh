#!/usr/bin/env bash
# Runs the comparison on a small case and checks that every format produced a row.
set -euo pipefail
out=$("$1" --n=128 --k=256 --m=3 --repetitions=2)
echo "$out"
for format in nvfp4 fp4_float_scale mxfp4 int4_k2; do
  grep -qE "^$format +[0-9.]+ +[0-9.]+ +[0-9.]+ \| " <<<"$out" || { echo "no row for $format"; exit 1; }
done
if grep -q skipped <<<"$out"; then echo "a path was skipped"; exit 1; fi
