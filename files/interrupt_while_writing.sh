# Sourced by the tests of the tools' Ctrl-C (io/quantize_interrupt_test.sh,
# io/forward_interrupt_test.sh, experiments/interrupt_test.sh).
#
# interrupt_while_writing OUTPUT STDERR COMMAND...: starts COMMAND, stops it (SIGSTOP) as soon as
# a temporary file of OUTPUT (OUTPUT.tmp-*) appears, sends SIGINT and lets it go on; sets
# interrupted_status to its exit status. Returns 2, COMMAND finished, where the temporary file
# was gone by the stop. COMMAND starts with SIGINT at its default, as from a terminal (a shell
# without job control starts background jobs with it ignored, and the tools keep an ignored
# signal ignored). Not job control: its wait also returns when the job is reported stopped,
# which raced with the CONT.
interrupt_while_writing() {
  local output=$1 stderr=$2 pid
  shift 2
  env --default-signal=INT "$@" 2>"$stderr" &
  pid=$!
  until compgen -G "$output.tmp-*" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || break
  done
  kill -STOP "$pid" 2>/dev/null || true
  if ! compgen -G "$output.tmp-*" >/dev/null; then
    kill -CONT "$pid" 2>/dev/null || true
    wait "$pid" || true
    return 2
  fi
  kill -INT "$pid"
  kill -CONT "$pid"
  interrupted_status=0
  wait "$pid" || interrupted_status=$?
}
