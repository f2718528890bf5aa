#!/usr/bin/env bash
# compare's files from a sharded run joined by merge equal those of one run; a bad config runs
# nothing; Ctrl-C stops after the current case with a readable CSV; a shard status file that
# cannot be written is an error.
set -euo pipefail
compare=$1 merge=$2 tiny=$3
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
config="$tmp/tiny_accuracy.textproto"
{ cat "$tiny"; echo 'speed: false'; } >"$config"  # accuracy only: deterministic rows

"$compare" --config="$config" --csv="$tmp/one/r.csv" --markdown="$tmp/one/r.md" \
  --plot_dir="$tmp/one/plots" --json="$tmp/one/r.json" --progress=false >/dev/null
for i in 0 1 2; do
  "$compare" --config="$config" --shard_index=$i --shard_count=3 --csv="$tmp/parts/r.csv" \
    --progress=false >/dev/null
done
"$merge" --csv="$tmp/merged/r.csv" --markdown="$tmp/merged/r.md" --plot_dir="$tmp/merged/plots" \
  --json="$tmp/merged/r.json" "$tmp"/parts/r.shard-{2,0,1}-of-3.csv >/dev/null
diff "$tmp/one/r.csv" "$tmp/merged/r.csv"
diff "$tmp/one/r.md" "$tmp/merged/r.md"
diff "$tmp/one/r.json" "$tmp/merged/r.json"
if [ -d "$tmp/one/plots" ]; then
  for dat in "$tmp"/one/plots/*.dat; do diff "$dat" "$tmp/merged/plots/$(basename "$dat")"; done
fi

printf 'model { preset: "mixtral" }\n  bogus_field: 1\n' >"$tmp/bad.textproto"
if "$compare" --config="$tmp/bad.textproto" --csv="$tmp/bad.csv" 2>"$tmp/bad.err"; then
  echo "a bad config ran"; exit 1
fi
grep -q "bad.textproto:2:14" "$tmp/bad.err" || { cat "$tmp/bad.err"; echo "no line:column"; exit 1; }
[ ! -e "$tmp/bad.csv" ] || { echo "a bad config wrote a CSV"; exit 1; }

# Slow cases (many repetitions) so that SIGINT lands mid-sweep.
sed 's/^repetitions: .*/repetitions: 50000/' "$tiny" >"$tmp/slow.textproto"
"$compare" --config="$tmp/slow.textproto" --csv="$tmp/slow.csv" --progress=false >/dev/null &
pid=$!
for _ in $(seq 300); do
  [ -f "$tmp/slow.csv" ] && [ "$(wc -l <"$tmp/slow.csv")" -ge 2 ] && break
  sleep 0.1
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 130 ] || { echo "exit status $status after SIGINT, want 130"; exit 1; }
rows=$(($(wc -l <"$tmp/slow.csv") - 1))
[ "$rows" -ge 1 ] && [ "$rows" -lt 32 ] || { echo "$rows rows after SIGINT"; exit 1; }
"$merge" "$tmp/slow.csv" >/dev/null  # the stopped run's CSV reads back

# A shard status file (Bazel's TEST_SHARD_STATUS_FILE) in a missing directory is one clear error,
# not a crash, and nothing is written.
status=0
TEST_SHARD_STATUS_FILE="$tmp/missing/dir/status" "$compare" --config="$config" \
  --csv="$tmp/status/r.csv" --progress=false >/dev/null 2>"$tmp/status.err" || status=$?
[ "$status" -eq 1 ] || { echo "exit $status with a status file in a missing directory"; exit 1; }
grep -q "cannot write TEST_SHARD_STATUS_FILE" "$tmp/status.err" || { cat "$tmp/status.err"; exit 1; }
[ ! -e "$tmp/status/r.csv" ] || { echo "a CSV was written"; exit 1; }
