#!/usr/bin/env bash
# Interrupts //io:forward while it writes its output: it must die of the signal (exit status
# 130) with a message, leave neither the output nor a temporary file beside it, and leave its
# inputs as they were.
set -euo pipefail
forward=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/forward_interrupt.XXXXXX")

# write_file PATH HEADER: the header's 8-byte little-endian length and the header; the data
# follows on stdin. fill BYTES: BYTES bytes of 0x3f (float32 0.747; read as I32 they would be
# out of range, so the expert ids are zero bytes).
write_file() {
  local path=$1 header=$2 n=${#2}
  {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' \
      $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
    printf '%s' "$header"
    cat
  } >"$path"
}
fill() { head -c "$1" /dev/zero | tr '\0' '?'; }

# One float expert of H = 1024, I = 512 and 4096 tokens routed to it: a 16 MB output, whose
# temporary file exists long enough to be caught.
h=1024 i=512 t=4096
w=$((h * i * 4)) x=$((t * h * 4))
write_file "$dir/w.safetensors" "{\"m.0.gate_proj.weight\":{\"dtype\":\"F32\",\"shape\":[$i,$h],\"data_offsets\":[0,$w]},\"m.0.up_proj.weight\":{\"dtype\":\"F32\",\"shape\":[$i,$h],\"data_offsets\":[$w,$((2 * w))]},\"m.0.down_proj.weight\":{\"dtype\":\"F32\",\"shape\":[$h,$i],\"data_offsets\":[$((2 * w)),$((3 * w))]}}" \
  < <(fill $((3 * w)))
write_file "$dir/x.safetensors" "{\"hidden_states\":{\"dtype\":\"F32\",\"shape\":[$t,$h],\"data_offsets\":[0,$x]},\"topk_ids\":{\"dtype\":\"I32\",\"shape\":[$t,1],\"data_offsets\":[$x,$((x + 4 * t))]},\"topk_weights\":{\"dtype\":\"F32\",\"shape\":[$t,1],\"data_offsets\":[$((x + 4 * t)),$((x + 8 * t))]}}" \
  < <(fill "$x"; head -c $((4 * t)) /dev/zero; fill $((4 * t)))
cp "$dir/w.safetensors" "$dir/w.copy"
cp "$dir/x.safetensors" "$dir/x.copy"
"$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x.safetensors" \
  --output="$dir/whole.safetensors" --threads=1

# interrupt: starts forward, stops it (SIGSTOP) as soon as its temporary output appears, sends
# SIGINT and lets it go on. Returns 2 where it was not caught while the output was unfinished:
# it finished first, or the stop came during the final rename, which a signal waits for (then
# the output must be whole).
out="$dir/y.safetensors"
interrupt() {
  local pid rc=0
  # SIGINT at its default, as from a terminal (a shell without job control starts background
  # jobs with it ignored, and the tool keeps an ignored signal ignored). Not job control: its
  # wait also returns when the job is reported stopped, which races with the CONT below.
  env --default-signal=INT "$forward" --weights="$dir/w.safetensors" --prefix=m \
    --input="$dir/x.safetensors" --output="$out" --threads=1 2>"$dir/stderr" &
  pid=$!
  until compgen -G "$out.tmp-*" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || break
  done
  kill -STOP "$pid" 2>/dev/null || true
  if ! compgen -G "$out.tmp-*" >/dev/null; then  # finished already
    kill -CONT "$pid" 2>/dev/null || true
    wait "$pid" || true
    rm -f "$out"
    return 2
  fi
  kill -INT "$pid"
  kill -CONT "$pid"
  wait "$pid" || rc=$?
  cat "$dir/stderr"
  [[ $rc == 130 ]] || { echo "exit status $rc, expected 130 (SIGINT)"; exit 1; }
  cmp "$dir/w.safetensors" "$dir/w.copy" || { echo "the weights changed"; exit 1; }
  cmp "$dir/x.safetensors" "$dir/x.copy" || { echo "the input changed"; exit 1; }
  if compgen -G "$out.tmp-*" >/dev/null; then echo "left behind:" "$out".tmp-*; exit 1; fi
  if [[ -e $out ]]; then  # caught in the rename: it waited, and the output is whole
    cmp "$out" "$dir/whole.safetensors" || { echo "a partial output"; exit 1; }
    grep -q "removed the unfinished outputs" "$dir/stderr" && { echo "removed, yet there"; exit 1; }
    rm "$out"
    return 2
  fi
  grep -q "forward: interrupted by SIGINT: removed the unfinished outputs" "$dir/stderr" ||
    { echo "no message"; exit 1; }
}

for attempt in $(seq 10); do
  rc=0
  interrupt || rc=$?
  [[ $rc == 2 ]] || { echo "caught in run $attempt"; break; }
  [[ $attempt != 10 ]] || { echo "never caught with its output unfinished in 10 runs"; exit 1; }
done
[[ $(ls -A "$dir" | tr '\n' ' ') == "stderr w.copy w.safetensors whole.safetensors x.copy x.safetensors " ]] ||
  { echo "left:"; ls -A "$dir"; exit 1; }
echo PASS
