#!/usr/bin/env bash
# compare --json writes every row with every CSV column, as JSON that parses, in Google
# Benchmark's layout (a context object and a benchmarks array).
set -euo pipefail
compare=$1 tiny=$3
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
"$compare" --config="$tiny" --csv="$tmp/r.csv" --json="$tmp/out/r.json" --progress=false \
  >"$tmp/compare.out"
grep -q "^json: $tmp/out/r.json$" "$tmp/compare.out" || { cat "$tmp/compare.out"; exit 1; }
python3 - "$tmp/r.csv" "$tmp/out/r.json" <<'PY'
import csv, json, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
report = json.load(open(sys.argv[2]))
benchmarks = report["benchmarks"]
assert len(rows) == 32 and len(benchmarks) == len(rows), (len(rows), len(benchmarks))
assert report["context"]["sweep"] == "tiny" and report["context"]["finished_cases"] == 32
for row, bench in zip(rows, benchmarks):
    for column, text in row.items():
        value = bench[column]
        if isinstance(value, str):
            assert value == text, (column, value, text)
        elif value is None:
            assert text == "", (column, text)
        else:
            assert math.isclose(value, float(text), rel_tol=1e-12), (column, value, text)
    assert bench["run_type"] == "iteration"
    assert bench["time_unit"] == "us" and bench["real_time"] == bench["time_median_us"]
    assert bench["items_per_second"] == bench["tokens_per_s"]
print("PASS:", len(benchmarks), "rows")
PY
