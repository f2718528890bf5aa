#!/usr/bin/env bash
# compare and merge refuse, before they write anything, an output that is one of their inputs
# (the config; the shard CSVs) under any spelling or link, two outputs that are one file, and an
# output that is a directory: exit 1, a message, the inputs unchanged, no other output written.
set -euo pipefail
compare=$(realpath "$1") merge=$(realpath "$2") tiny=$3  # absolute: some cases cd
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/outputs.XXXXXX")
config="$tmp/tiny.textproto"
{ cat "$tiny"; echo 'speed: false'; } >"$config"  # accuracy only: quick
cp "$config" "$tmp/config.copy"
"$compare" --config="$config" --shard_index=0 --shard_count=2 --csv="$tmp/r.csv" \
  --progress=false >/dev/null
shard="$tmp/r.shard-0-of-2.csv"
cp "$shard" "$tmp/shard.copy"

# Every refusal (expect_refused) leaves the config and the shard unchanged.
source "$(dirname "${BASH_SOURCE[0]}")/expect_refused.sh"
inputs_unchanged() {
  cmp "$config" "$tmp/config.copy" || { echo "$1: the config changed"; exit 1; }
  cmp "$shard" "$tmp/shard.copy" || { echo "$1: the shard changed"; exit 1; }
}
refusal=": refusing to overwrite an input"

expect_refused "compare --markdown=its config" \
  "--markdown=$config is the same file as input --config=$config$refusal" \
  "$compare" --progress=false --config="$config" --csv="$tmp/new/r.csv" --markdown="$config"
(cd "$tmp" && expect_refused "compare --csv=./config" \
  "--csv=./tiny.textproto is the same file as input --config=tiny.textproto$refusal" \
  "$compare" --progress=false --config=tiny.textproto --csv=./tiny.textproto \
  --markdown="$tmp/new/r.md")
ln -s tiny.textproto "$tmp/config_link.csv"
expect_refused "compare --csv=a symlink to its config" \
  "--csv=$tmp/config_link.csv is the same file as input --config=$config$refusal" \
  "$compare" --progress=false --config="$config" --csv="$tmp/config_link.csv" \
  --plot_dir="$tmp/new/plots"
mkdir "$tmp/plots"
ln "$config" "$tmp/plots/speed_vs_qlen.dat"
expect_refused "compare, a plot file hard-linked to its config" \
  "plot file $tmp/plots/speed_vs_qlen.dat is the same file as input --config=$config$refusal" \
  "$compare" --progress=false --config="$config" --csv="$tmp/new/r.csv" --plot_dir="$tmp/plots"
rm "$tmp/plots/speed_vs_qlen.dat"
ln "$config" "$tmp/c.shard-1-of-2.csv"
expect_refused "compare, a shard's CSV hard-linked to its config" \
  "--csv=$tmp/c.shard-1-of-2.csv is the same file as input --config=$config$refusal" \
  "$compare" --progress=false --config="$config" --shard_index=1 --shard_count=2 --csv="$tmp/c.csv"
expect_refused "compare, --csv and --markdown one file" \
  "--markdown=$tmp/new/../new/r.csv is the same file as output --csv=$tmp/new/r.csv" \
  "$compare" --progress=false --config="$config" --csv="$tmp/new/r.csv" \
  --markdown="$tmp/new/../new/r.csv"
mkdir "$tmp/a_directory"
expect_refused "compare --markdown=a directory" \
  "--markdown=$tmp/a_directory exists and is a directory" \
  "$compare" --progress=false --config="$config" --csv="$tmp/new/r.csv" \
  --markdown="$tmp/a_directory"

expect_refused "merge --csv=a shard" \
  "--csv=$shard is the same file as input shard CSV $shard$refusal" \
  "$merge" --csv="$shard" --markdown="$tmp/new/r.md" "$shard"
ln "$shard" "$tmp/shard_hard.md"
expect_refused "merge --markdown=a hard link to a shard" \
  "--markdown=$tmp/shard_hard.md is the same file as input shard CSV $shard$refusal" \
  "$merge" --csv="$tmp/new/r.csv" --markdown="$tmp/shard_hard.md" "$shard"
expect_refused "merge --json=a shard" \
  "--json=$shard is the same file as input shard CSV $shard$refusal" \
  "$merge" --csv="$tmp/new/r.csv" --json="$shard" "$shard"
expect_refused "compare --json=its config" \
  "--json=$config is the same file as input --config=$config$refusal" \
  "$compare" --progress=false --config="$config" --csv="$tmp/new/r.csv" --json="$config"
ln -s "$shard" "$tmp/plots/accuracy_vs_speed.png"
expect_refused "merge, a plot symlinked to a shard" \
  "plot file $tmp/plots/accuracy_vs_speed.png is the same file as input shard CSV $shard$refusal" \
  "$merge" --csv="$tmp/new/r.csv" --plot_dir="$tmp/plots" "$shard"
echo PASS
