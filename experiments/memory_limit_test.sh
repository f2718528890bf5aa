#!/usr/bin/env bash
# Runs //experiments:compare on its quick default and //experiments:merge on two shards under
# process memory limits (ulimit -v), from the least a tiny run starts with to more than the run
# needs: each run ends with exit 0 and its report, or with exit 1, one message that memory ran
# out and no file written; never with an abort (an uncaught std::bad_alloc). See
# files/under_memory_limits.sh.
set -euo pipefail
compare=$(realpath "$1")
tiny=$(realpath "$2")
merge=$(realpath "$3")
source "$(dirname "${BASH_SOURCE[0]}")/../files/under_memory_limits.sh"
enter_test_dir "$compare"
base=$(least_limit tiny.csv "$compare" --config="$tiny" --csv=tiny.csv --markdown=tiny.md \
  --plot_dir=tiny_plots --progress=false)
sweep_limits $base 8192 quick.csv "$compare" --csv=quick.csv --markdown=quick.md \
  --plot_dir=quick_plots --progress=false
for shard in 0 1; do
  "$compare" --config="$tiny" --shard_index=$shard --shard_count=2 --csv=shard$shard.csv \
    --markdown=shard$shard.md --plot_dir=shard${shard}_plots --progress=false
done
# merge needs all the shards of a sweep, so no smaller run finds its least limit: 16 MB, where
# its libraries load.
sweep_limits 16384 8192 merged.csv "$merge" --csv=merged.csv --markdown=merged.md \
  --plot_dir=merged_plots shard0.shard-0-of-2.csv shard1.shard-1-of-2.csv
echo "every run under a memory limit succeeded or failed cleanly"
