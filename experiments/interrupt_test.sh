#!/usr/bin/env bash
# Ctrl-C and its kin during compare and merge (files/interrupt_cleanup.h): the first Ctrl-C stops
# compare's sweep after the current case and writes every file of the finished cases (exit
# status 130); a second Ctrl-C, or SIGTERM, quits at once and leaves nothing, not a temporary
# file nor a directory it created; Ctrl-C while merge writes its files leaves none of them.
# The tools start with SIGINT at its default, as from a terminal (a shell without job control
# starts background jobs with it ignored, and the tools keep an ignored signal ignored).
set -euo pipefail
compare=$1 merge=$2 tiny=$3
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/interrupt.XXXXXX")
source "$(dirname "${BASH_SOURCE[0]}")/../files/interrupt_while_writing.sh"

# wait_until DESCRIPTION COMMAND...: up to 30 s (a loaded machine) until COMMAND succeeds.
wait_until() {
  local description=$1
  shift
  for _ in $(seq 300); do
    "$@" && return
    sleep 0.1
  done
  echo "timed out waiting for $description"; exit 1
}
rows_printed() { grep -qE '^ +[0-9]+ (gemm|moe) ' "$tmp/slow.out"; }
csv_being_written() { compgen -G "$tmp/out/slow.csv.tmp-*" >/dev/null; }
stopping_said() { grep -q "stopping after the current case" "$tmp/slow.err"; }
# expect_status WANT DESCRIPTION: waits for $pid and checks its exit status.
expect_status() {
  local status=0
  wait "$pid" || status=$?
  cat "$tmp/slow.err"
  [[ $status == "$1" ]] || { echo "$2: exit status $status, want $1"; exit 1; }
}
start_compare() {  # CONFIG ARGS...
  local config=$1
  shift
  env --default-signal=INT "$compare" --config="$config" --csv="$tmp/out/slow.csv" \
    --progress=false "$@" >"$tmp/slow.out" 2>"$tmp/slow.err" &
  pid=$!
}

# Slow cases (many repetitions, timed) so that SIGINT lands mid-sweep: once a case is printed,
# one Ctrl-C.
sed 's/^repetitions: .*/repetitions: 50000/' "$tiny" >"$tmp/slow.textproto"
start_compare "$tmp/slow.textproto" --markdown="$tmp/out/slow.md"
wait_until "a finished case" rows_printed
kill -INT "$pid"
expect_status 130 "one Ctrl-C"
rows=$(($(wc -l <"$tmp/out/slow.csv") - 1))
[[ $rows -ge 1 && $rows -lt 32 ]] || { echo "$rows rows after SIGINT"; exit 1; }
grep -q "^$rows of 32 cases" "$tmp/out/slow.md" || { echo "the report is not of the $rows rows"; exit 1; }
[[ $(find "$tmp/out" -name '*.tmp-*') == "" ]] || { echo "temporary files left"; exit 1; }
"$merge" "$tmp/out/slow.csv" >/dev/null  # the stopped run's CSV reads back
rm -r "$tmp/out"

# Cases slow enough that none ends between the two: once the CSV's header is written, Ctrl-C,
# and Ctrl-C again once compare says it will stop after the current case.
sed 's/^repetitions: .*/repetitions: 100000000/' "$tiny" >"$tmp/slower.textproto"
start_compare "$tmp/slower.textproto"
wait_until "the CSV being written" csv_being_written
kill -INT "$pid"
wait_until "the first Ctrl-C's word" stopping_said
kill -INT "$pid"
expect_status 130 "two Ctrl-Cs"
grep -q "compare: interrupted by SIGINT: removed the unfinished outputs" "$tmp/slow.err" ||
  { echo "two Ctrl-Cs: no word of the removal"; exit 1; }
[[ ! -e $tmp/out ]] || { echo "two Ctrl-Cs: left $(find "$tmp/out")"; exit 1; }

# SIGTERM mid-sweep: no stopping after the case, nothing left.
start_compare "$tmp/slower.textproto"
wait_until "the CSV being written" csv_being_written
kill -TERM "$pid"
expect_status 143 "SIGTERM"
[[ ! -e $tmp/out ]] || { echo "SIGTERM: left $(find "$tmp/out")"; exit 1; }

# merge: Ctrl-C while it writes its files (interrupt_while_writing): none of them, no
# temporary. Only gnuplot's plots make that last long enough to catch (tried up to 6 times).
# The CSV is renamed first, so a stop that finds its temporary file comes before the renames
# (which a signal would wait for) but for the microseconds between taking their lock and the
# first.
"$compare" --config="$tiny" --csv="$tmp/shard.csv" --progress=false >/dev/null
merge_caught() {
  local rc
  interrupt_while_writing "$tmp/out/all.csv" "$tmp/merge.err" "$merge" \
    --csv="$tmp/out/all.csv" --markdown="$tmp/out/all.md" --plot_dir="$tmp/out/plots" \
    "$tmp/shard.csv" || { rm -rf "$tmp/out"; return 1; }
  rc=$interrupted_status
  cat "$tmp/merge.err"
  [[ $rc == 130 ]] || { echo "merge: exit status $rc after SIGINT, want 130"; exit 1; }
  grep -q "merge: interrupted by SIGINT: removed the unfinished outputs" "$tmp/merge.err" ||
    { echo "merge: no word of the removal"; exit 1; }
  [[ ! -e $tmp/out ]] || { echo "merge: left $(find "$tmp/out")"; exit 1; }
}
if command -v gnuplot >/dev/null; then
  for attempt in 1 2 3 4 5 6; do
    merge_caught && break
    [[ $attempt != 6 ]] || { echo "merge never caught while writing in 6 runs"; exit 1; }
  done
fi
echo PASS
