#!/usr/bin/env bash
# Runs //experiments:compare on its quick default under process memory limits (ulimit -v), from
# the least a tiny sweep starts with to more than the default needs: each run ends with exit 0
# and its report, or with exit 1, one message that memory ran out and no file written; never
# with an abort (an uncaught std::bad_alloc). See files/under_memory_limits.sh.
set -euo pipefail
compare=$(realpath "$1")
tiny=$(realpath "$2")
source "$(dirname "${BASH_SOURCE[0]}")/../files/under_memory_limits.sh"
if asan_build "$compare"; then
  echo "skipped: ASan reserves its shadow memory beyond any such limit"
  exit 0
fi
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/memory_limit.XXXXXX")
cd "$dir"
base=$(least_limit tiny.csv "$compare" --config="$tiny" --csv=tiny.csv --markdown=tiny.md \
  --plot_dir=tiny_plots --progress=false)
sweep_limits $base 8192 quick.csv "$compare" --csv=quick.csv --markdown=quick.md \
  --plot_dir=quick_plots --progress=false
echo "every run under a memory limit succeeded or failed cleanly"
