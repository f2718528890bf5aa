#!/usr/bin/env bash
# compare and merge write all their files or none: where a write fails (a file size limit,
# standing in for a full disk: writes past it fail with EFBIG once SIGXFSZ is ignored), they
# exit 1 with one message and leave no file behind, not the CSV rows written before the error,
# not a temporary file, not the directories they created. Ctrl-C stops after the current case
# and writes every file of the finished cases; a second Ctrl-C quits at once, writing nothing.
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

# Slow cases (many repetitions, timed) so that SIGINT lands mid-sweep. wait_for_rows OUT: until
# compare has printed a finished case.
sed 's/^repetitions: .*/repetitions: 50000/' "$tiny" >"$tmp/slow.textproto"
wait_for_rows() {
  for _ in $(seq 300); do
    grep -qE '^ +[0-9]+ (gemm|moe) ' "$1" && return
    sleep 0.1
  done
  echo "no row printed"; exit 1
}
"$compare" --config="$tmp/slow.textproto" --csv="$tmp/out/slow.csv" --markdown="$tmp/out/slow.md" \
  --progress=false >"$tmp/slow.out" &
pid=$!
wait_for_rows "$tmp/slow.out"
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[[ $status == 130 ]] || { echo "exit status $status after SIGINT, want 130"; exit 1; }
rows=$(($(wc -l <"$tmp/out/slow.csv") - 1))
[[ $rows -ge 1 && $rows -lt 32 ]] || { echo "$rows rows after SIGINT"; exit 1; }
grep -q "^$rows of 32 cases" "$tmp/out/slow.md" || { echo "the report is not of the $rows rows"; exit 1; }
[[ $(find "$tmp/out" -name '*.tmp-*') == "" ]] || { echo "temporary files left"; exit 1; }
"$merge" "$tmp/out/slow.csv" >/dev/null  # the stopped run's CSV reads back
rm -r "$tmp/out"

# Cases slow enough that none ends between the two: once the CSV's header is written, Ctrl-C,
# and Ctrl-C again once compare says it will stop after the current case.
sed 's/^repetitions: .*/repetitions: 100000000/' "$tiny" >"$tmp/slower.textproto"
"$compare" --config="$tmp/slower.textproto" --csv="$tmp/out/slow.csv" --progress=false \
  >/dev/null 2>"$tmp/slow.err" &
pid=$!
for _ in $(seq 300); do
  compgen -G "$tmp/out/slow.csv.tmp-*" >/dev/null && break
  sleep 0.1
done
compgen -G "$tmp/out/slow.csv.tmp-*" >/dev/null || { echo "no CSV being written"; exit 1; }
kill -INT "$pid"
for _ in $(seq 300); do
  grep -q "stopping after the current case" "$tmp/slow.err" && break
  sleep 0.1
done
grep -q "stopping after the current case" "$tmp/slow.err" || { echo "the first Ctrl-C: no word"; exit 1; }
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[[ $status == 130 ]] || { echo "exit status $status after two SIGINTs, want 130"; exit 1; }
[[ $(find "$tmp/out" -type f) == "" ]] || { echo "left $(find "$tmp/out" -type f)"; exit 1; }
echo PASS
