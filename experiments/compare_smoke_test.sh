#!/usr/bin/env bash
# Runs the comparison's quick default in full and checks a row per format and measure, the CSV
# and the report.
set -euo pipefail
out_dir="${TEST_TMPDIR:-$(mktemp -d)}/quick"
out=$("$1" --csv="$out_dir/quick.csv" --markdown="$out_dir/quick.md" --plot_dir="$out_dir/plots" \
      --progress=false)
echo "$out"
for measure in gemm moe; do
  for format in nvfp4 fp4_float_scale mxfp4 int4_k2; do
    grep -qE "^ +[0-9]+ $measure +[a-z0-9_]+ +outliers +$format +[0-9]+ [a-z0-9_]+ .*\| +0\.[0-9]+ " \
      <<<"$out" || { echo "no $measure row for $format"; exit 1; }
  done
done
if grep -q skipped <<<"$out"; then echo "a path was skipped"; exit 1; fi
rows=$(($(wc -l <"$out_dir/quick.csv") - 1))
[ "$rows" -eq 22 ] || { echo "quick.csv has $rows rows, want 22"; exit 1; }
# Storage per weight, scales included: E2M1 with an E4M3 per 16 (NVFP4), a float per 16, an
# E8M0 per 32 (MXFP4); INT4 with a BF16 per 32.
python3 - "$out_dir/quick.csv" <<'PY'
import csv, sys
want = {"nvfp4": 4.5, "fp4_float_scale": 6.0, "mxfp4": 4.25, "int4_k2": 4.5}
for row in csv.DictReader(open(sys.argv[1])):
    assert float(row["bits_per_weight"]) == want[row["format"]], row
PY
grep -q "^## Summary" "$out_dir/quick.md" || { echo "no summary in the report"; exit 1; }
grep -q "^## GEMM" "$out_dir/quick.md" || { echo "no GEMM table in the report"; exit 1; }
grep -q "^## MoE layer" "$out_dir/quick.md" || { echo "no MoE table in the report"; exit 1; }
