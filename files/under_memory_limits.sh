# Sourced by the tests that run the tools under process memory limits (ulimit -v):
# io/memory_limit_test.sh, experiments/memory_limit_test.sh.
#
# enter_test_dir BINARY: ends the test as skipped where BINARY is built with ASan (which reserves
# its shadow memory beyond any such limit), else changes to a fresh directory.
enter_test_dir() {
  if grep -qa __asan_init "$1"; then
    echo "skipped: ASan reserves its shadow memory beyond any such limit"
    exit 0
  fi
  cd "$(mktemp -d "${TEST_TMPDIR:-/tmp}/memory_limit.XXXXXX")"
}

# least_limit OUTPUT COMMAND...: the least limit (kB, in 8 MB steps) under which COMMAND, a tiny
# run, succeeds and writes OUTPUT (below it a tool may not even start its threads).
least_limit() {
  local output=$1 limit=8192
  shift
  until (ulimit -v $limit && exec "$@") >/dev/null 2>&1 && [[ -s $output ]]; do
    limit=$((limit + 8192))
    ((limit < 4194304)) || { echo "$* did not run under 4 GB" >&2; exit 1; }
  done
  echo $limit
}

# run_under_limit LIMIT OUTPUT COMMAND...: runs COMMAND under LIMIT kB; it must either succeed and
# write OUTPUT, or exit 1 with one message that memory ran out and write nothing (OUTPUT absent,
# no OUTPUT.* temporary). Returns 0 where it succeeded, 1 where it ran out; exits the test on
# anything else (an abort: an uncaught std::bad_alloc).
run_under_limit() {
  local limit=$1 output=$2 rc=0
  shift 2
  rm -rf "$output"
  (ulimit -v "$limit" && exec "$@") >/dev/null 2>under_limit.stderr || rc=$?
  if ((rc == 0)); then
    [[ -s $output ]] || { echo "$* under $limit kB: exit 0 and no output"; exit 1; }
  elif ((rc == 1)); then
    # Ours; OpenMP's own when it cannot start a thread's stack (it exits 1 itself); or the tool's
    # report of gnuplot, which fails, crashes or spins (until the tool's deadline) when its memory
    # is limited.
    local clean="RESOURCE_EXHAUSTED: .*memory|out of memory|^libgomp: Thread creation failed"
    clean+="|gnuplot .*(did not finish within|failed: exit status|was killed by signal)"
    grep -qE "$clean" under_limit.stderr ||
      { cat under_limit.stderr; echo "$* under $limit kB: no message"; exit 1; }
    [[ ! -e $output ]] || { echo "$* under $limit kB: output left after the error"; exit 1; }
  else
    cat under_limit.stderr
    echo "$* under $limit kB: exit $rc"
    exit 1
  fi
  if compgen -G "$output.*" >/dev/null; then
    cat under_limit.stderr
    echo "$* under $limit kB: exit $rc, temporary left"
    exit 1
  fi
  ((rc == 0))
}

# sweep_limits FROM STEP OUTPUT COMMAND...: run_under_limit at FROM, FROM + STEP, ... kB until
# COMMAND succeeds (at most 2 GB above FROM).
sweep_limits() {
  local from=$1 step=$2 limit=$1
  shift 2
  until run_under_limit $limit "$@"; do
    limit=$((limit + step))
    ((limit < from + 2097152)) || { echo "$*: no success within 2 GB more"; exit 1; }
  done
}
