# Sourced by the sh_tests of compare and merge. expect_refused DESCRIPTION MESSAGE COMMAND...:
# COMMAND exits 1 with MESSAGE on stderr and writes nothing under $tmp/new (where each case's
# outputs go); a test that defines inputs_unchanged DESCRIPTION has it check its inputs too.
expect_refused() {
  local description=$1 message=$2 rc=0
  shift 2
  "$@" >/dev/null 2>"$tmp/stderr" || rc=$?
  cat "$tmp/stderr"
  [[ $rc == 1 ]] || { echo "$description: exit code $rc, expected 1"; exit 1; }
  grep -qF -- "$message" "$tmp/stderr" || { echo "$description: no '$message'"; exit 1; }
  if declare -F inputs_unchanged >/dev/null; then inputs_unchanged "$description"; fi
  [[ ! -e $tmp/new ]] || { echo "$description: wrote $(find "$tmp/new")"; exit 1; }
}
