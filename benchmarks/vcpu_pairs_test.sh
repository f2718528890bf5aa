#!/usr/bin/env bash
# Runs vcpu_pairs: flags out of range and kinds this CPU cannot run exit 1 with one message;
# a short run prints each allowed CPU's rate alone and a table with a row per CPU.
set -euo pipefail
pairs=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/vcpu_pairs.XXXXXX")

expect_refused() {  # MESSAGE FLAGS...
  local message=$1 rc=0
  shift
  timeout 20 "$pairs" "$@" >"$dir/stdout" 2>"$dir/stderr" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 1 ]] || { echo "vcpu_pairs $*: exit code $rc, expected 1"; exit 1; }
  grep -qF -- "$message" "$dir/stderr" || { echo "vcpu_pairs $*: no '$message'"; exit 1; }
}
expect_refused "--window_ms=0 is out of range: must be in [1, 10000]" --window_ms=0
expect_refused "--rounds=0 is out of range: must be in [1, 100]" --rounds=0
expect_refused "--sibling_percent=101 is out of range" --sibling_percent=101
expect_refused "kind 'cache' is not one this CPU runs" --kinds=cache
if ! grep -q amx_bf16 /proc/cpuinfo; then
  expect_refused "kind 'tiles' is not one this CPU runs" --kinds=vector,tiles
fi

timeout 60 "$pairs" --kinds=vector --window_ms=5 >"$dir/stdout"
cat "$dir/stdout"
cpus=$(nproc)
grep -q "^vcpu_pairs: $cpus CPUs allowed" "$dir/stdout" || { echo "no header for $cpus CPUs"; exit 1; }
grep -q "^vector: fastest rate alone" "$dir/stdout" || { echo "no rates alone"; exit 1; }
rows=$(grep -cE '^ +[0-9]+( +(\.|[0-9]+))+$' "$dir/stdout")
[[ $rows == "$cpus" ]] || { echo "$rows table rows, expected $cpus"; exit 1; }
grep -q "^vector: pairs below 70% of alone: " "$dir/stdout" || { echo "no pairs line"; exit 1; }
echo PASS
