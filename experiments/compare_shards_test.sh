#!/usr/bin/env bash
# compare's files from a sharded run joined by merge equal those of one run; merge refuses a set
# of shards that is not whole or not of one config, and compare a shard that does not exist,
# writing nothing; a bad config runs nothing; a shard status file that cannot be written is an
# error.
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

source "$(dirname "${BASH_SOURCE[0]}")/expect_refused.sh"
merge_to_new() { "$merge" --csv="$tmp/new/r.csv" --markdown="$tmp/new/r.md" "$@"; }
part() { echo "$tmp/parts/r.shard-$1-of-3.csv"; }
expect_refused "a missing shard" "2 shard CSVs given for a sweep run as 3 shards (no rows of shard 1)" \
  merge_to_new "$(part 0)" "$(part 2)"
expect_refused "a shard given twice" "$(part 1) and $(part 1) are both shard 1 of 3" \
  merge_to_new "$(part 0)" "$(part 1)" "$(part 1)"
"$compare" --config="$config" --shard_index=1 --shard_count=2 --csv="$tmp/halves/r.csv" \
  --progress=false >/dev/null
expect_refused "shards of different counts" \
  "$(part 0) is shard 0 of 3 and $tmp/halves/r.shard-1-of-2.csv shard 1 of 2: shards of different counts" \
  merge_to_new "$(part 0)" "$tmp/halves/r.shard-1-of-2.csv" "$(part 2)"
# The same sweep with another seed: as many cases, another config.
sed 's/^repetitions: .*/seed: 7/' "$config" >"$tmp/other_seed.textproto"
"$compare" --config="$tmp/other_seed.textproto" --shard_index=1 --shard_count=3 \
  --csv="$tmp/other/r.csv" --progress=false >/dev/null
expect_refused "shards of different configs" "are shards of different configs (config_hash" \
  merge_to_new "$(part 0)" "$tmp/other/r.shard-1-of-3.csv" "$(part 2)"
# A case index edited out of the sweep's range.
sed 's/^1,32,/40,32,/' "$(part 1)" >"$tmp/edited.csv"
expect_refused "a case out of range" \
  "$tmp/edited.csv: case 40 is out of range: the sweep has cases 0 to 31" \
  merge_to_new "$(part 0)" "$tmp/edited.csv" "$(part 2)"

for flags in "--shard_index=3 --shard_count=3" "--shard_index=-1 --shard_count=3" \
             "--shard_count=0" "--shard_count=-2 --shard_index=0"; do
  # shellcheck disable=SC2086  # one word per flag
  expect_refused "compare $flags" "nothing was run" \
    "$compare" --config="$config" $flags --csv="$tmp/new/r.csv" --progress=false
done
expect_refused "a shard count from the environment that is not a number" \
  '$TEST_TOTAL_SHARDS=two is not a number' \
  env TEST_TOTAL_SHARDS=two "$compare" --config="$config" --csv="$tmp/new/r.csv" --progress=false

printf 'model { preset: "mixtral" }\n  bogus_field: 1\n' >"$tmp/bad.textproto"
if "$compare" --config="$tmp/bad.textproto" --csv="$tmp/bad.csv" 2>"$tmp/bad.err"; then
  echo "a bad config ran"; exit 1
fi
grep -q "bad.textproto:2:14" "$tmp/bad.err" || { cat "$tmp/bad.err"; echo "no line:column"; exit 1; }
[ ! -e "$tmp/bad.csv" ] || { echo "a bad config wrote a CSV"; exit 1; }

# A shard status file (Bazel's TEST_SHARD_STATUS_FILE) in a missing directory is one clear error,
# not a crash, and nothing is written.
status=0
TEST_SHARD_STATUS_FILE="$tmp/missing/dir/status" "$compare" --config="$config" \
  --csv="$tmp/status/r.csv" --progress=false >/dev/null 2>"$tmp/status.err" || status=$?
[ "$status" -eq 1 ] || { echo "exit $status with a status file in a missing directory"; exit 1; }
grep -q "cannot write TEST_SHARD_STATUS_FILE" "$tmp/status.err" || { cat "$tmp/status.err"; exit 1; }
[ ! -e "$tmp/status/r.csv" ] || { echo "a CSV was written"; exit 1; }
