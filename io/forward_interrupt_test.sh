#!/usr/bin/env bash
# Interrupts //io:forward while it writes its output: it must die of the signal (exit status
# 130) with a message, leave neither the output nor a temporary file beside it, and leave its
# inputs as they were.
set -euo pipefail
forward=$1
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/forward_interrupt.XXXXXX")
source "$(dirname "${BASH_SOURCE[0]}")/write_safetensors.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../files/interrupt_while_writing.sh"

# fill BYTES: BYTES bytes of 0x3f (float32 0.747; read as I32 they would be out of range, so the
# expert ids are zero bytes).
fill() { head -c "$1" /dev/zero | tr '\0' '?'; }

# One float expert of H = 1024, I = 512 and 4096 tokens routed to it: a 16 MB output, whose
# temporary file exists long enough to be caught.
h=1024 i=512 t=4096
w=$((h * i * 4)) x=$((t * h * 4))
write_safetensors "$dir/w.safetensors" "{\"m.0.gate_proj.weight\":{\"dtype\":\"F32\",\"shape\":[$i,$h],\"data_offsets\":[0,$w]},\"m.0.up_proj.weight\":{\"dtype\":\"F32\",\"shape\":[$i,$h],\"data_offsets\":[$w,$((2 * w))]},\"m.0.down_proj.weight\":{\"dtype\":\"F32\",\"shape\":[$h,$i],\"data_offsets\":[$((2 * w)),$((3 * w))]}}" \
  < <(fill $((3 * w)))
write_safetensors "$dir/x.safetensors" "{\"hidden_states\":{\"dtype\":\"F32\",\"shape\":[$t,$h],\"data_offsets\":[0,$x]},\"topk_ids\":{\"dtype\":\"I32\",\"shape\":[$t,1],\"data_offsets\":[$x,$((x + 4 * t))]},\"topk_weights\":{\"dtype\":\"F32\",\"shape\":[$t,1],\"data_offsets\":[$((x + 4 * t)),$((x + 8 * t))]}}" \
  < <(fill "$x"; head -c $((4 * t)) /dev/zero; fill $((4 * t)))
cp "$dir/w.safetensors" "$dir/w.copy"
cp "$dir/x.safetensors" "$dir/x.copy"
"$forward" --weights="$dir/w.safetensors" --prefix=m --input="$dir/x.safetensors" \
  --output="$dir/whole.safetensors" --threads=1

# interrupt: interrupts forward while its output is unfinished (interrupt_while_writing).
# Returns 2 where it was not caught so: it finished first, or the stop came during the final
# rename, which a signal waits for (then the output must be whole).
out="$dir/y.safetensors"
interrupt() {
  local rc
  interrupt_while_writing "$out" "$dir/stderr" "$forward" --weights="$dir/w.safetensors" \
    --prefix=m --input="$dir/x.safetensors" --output="$out" --threads=1 ||
    { rm -f "$out"; return 2; }
  rc=$interrupted_status
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
