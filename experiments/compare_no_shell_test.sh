#!/usr/bin/env bash
# gnuplot starts without a shell: a plot directory, and names in the config that reach the
# plot titles, holding $(...), backquotes and quotes run nothing, and the plots land in the
# directory of that literal name.
set -euo pipefail
compare=$1 merge=$2 tiny=$3
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/no_shell.XXXXXX")
config="$tmp/config.textproto"
# The model's name is in the speed plot's series titles.
sed 's/^model { name: "tiny"/model { name: "tiny`touch PWNED_BY_TITLE`$(touch PWNED_BY_TITLE)"/' \
  "$tiny" >"$config"
grep -q PWNED_BY_TITLE "$config" || { echo "the test config has no model name to try"; exit 1; }

plot_dir="$tmp/"'p$(touch PWNED) `touch PWNED_TOO` it'"'"'s "q"'
"$compare" --config="$config" --csv="$tmp/r.csv" --plot_dir="$plot_dir" --progress=false \
  >"$tmp/compare.out"
merged_dir="$plot_dir/merged \$(touch PWNED_BY_MERGE)"
"$merge" --plot_dir="$merged_dir" "$tmp/r.csv" >"$tmp/merge.out"

pwned=$(find "$tmp" "$PWD" -name 'PWNED*' 2>/dev/null || true)
if [[ -n $pwned ]]; then
  echo "a shell ran a command from a path or a name:"
  echo "$pwned"
  exit 1
fi
if command -v gnuplot >/dev/null; then
  for dir in "$plot_dir" "$merged_dir"; do
    for plot in accuracy_vs_speed speed_vs_qlen error_vs_distribution; do
      [[ -s $dir/$plot.png ]] || { cat "$tmp/compare.out" "$tmp/merge.out"; ls -la "$dir";
                                   echo "no $plot.png in $dir"; exit 1; }
    done
  done
else
  grep -q "gnuplot is not on PATH" "$tmp/compare.out" || { echo "no message for gnuplot"; exit 1; }
fi
echo PASS
