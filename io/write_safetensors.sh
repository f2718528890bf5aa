# Sourced by io's shell tests. write_safetensors PATH HEADER: a safetensors file of HEADER (JSON)
# after its 8-byte little-endian length; the data follows on stdin. f32_fill BYTES N: N
# little-endian float32 values of BYTES (printf escapes); f32_ones N.
write_safetensors() {
  local path=$1 header=$2 n=${#2}
  {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' \
      $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
    printf '%s' "$header"
    cat
  } >"$path"
}

f32_fill() { local i; for ((i = 0; i < $2; i++)); do printf "$1"; done; }
f32_ones() { f32_fill '\x00\x00\x80\x3f' "$1"; }
