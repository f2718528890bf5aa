#!/usr/bin/env bash
# compare and merge write all their files or none: where a write fails (a file size limit,
# standing in for a full disk: writes past it fail with EFBIG once SIGXFSZ is ignored), they
# exit 1 with one message and leave no file behind, not the CSV rows written before the error,
# not a temporary file, not the directories they created. (Ctrl-C: interrupt_test.sh.)
set -euo pipefail
compare=$1 merge=$2 tiny=$3
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/all_or_nothing.XXXXXX")
config="$tmp/tiny.textproto"
{ cat "$tiny"; echo 'speed: false'; } >"$config"  # accuracy only: quick

# expect_nothing_written DESCRIPTION KBYTES COMMAND...: under a file size limit of KBYTES, exit 1,
# one line on stderr, and nothing under $tmp/out.
expect_nothing_written() {
  local description=$1 limit=$2 rc=0
  shift 2
  (ulimit -f "$limit"; trap '' XFSZ; exec "$@") >/dev/null 2>"$tmp/stderr" || rc=$?
  cat "$tmp/stderr"
  [[ $rc == 1 ]] || { echo "$description: exit code $rc, expected 1"; exit 1; }
  [[ $(wc -l <"$tmp/stderr") == 1 ]] || { echo "$description: not one message"; exit 1; }
  grep -q "File too large\|did not write .* whole" "$tmp/stderr" ||
    { echo "$description: the message does not say why"; exit 1; }
  [[ ! -e $tmp/out ]] || { echo "$description: left $(find "$tmp/out")"; exit 1; }
}

# The CSV (8 kB for the tiny sweep) outgrows 4 kB after its first rows.
expect_nothing_written "compare, a CSV write fails mid-sweep" 4 \
  "$compare" --config="$config" --csv="$tmp/out/r.csv" --markdown="$tmp/out/r.md" \
  --plot_dir="$tmp/out/plots" --progress=false
"$compare" --config="$config" --csv="$tmp/r.csv" --progress=false >/dev/null
expect_nothing_written "merge, a CSV write fails" 4 \
  "$merge" --csv="$tmp/out/r.csv" --markdown="$tmp/out/deeper/r.md" "$tmp/r.csv"
if command -v gnuplot >/dev/null; then
  # The CSV and the report fit in 16 kB; a plot (40 kB) does not, after both were written.
  expect_nothing_written "compare, a plot fails after the CSV and the report" 16 \
    "$compare" --config="$config" --csv="$tmp/out/r.csv" --markdown="$tmp/out/r.md" \
    --plot_dir="$tmp/out/plots" --progress=false
  expect_nothing_written "merge, a plot fails after the CSV and the report" 16 \
    "$merge" --csv="$tmp/out/r.csv" --markdown="$tmp/out/r.md" --plot_dir="$tmp/out/plots" \
    "$tmp/r.csv"
fi
# What fits is written whole.
(ulimit -f 64; trap '' XFSZ; "$merge" --csv="$tmp/out/r.csv" --markdown="$tmp/out/r.md" \
  "$tmp/r.csv" >/dev/null)
cmp "$tmp/r.csv" "$tmp/out/r.csv"
rm -r "$tmp/out"

echo PASS
