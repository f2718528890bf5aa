# Sourced by io's shell tests. write_safetensors PATH HEADER: a safetensors file of HEADER (JSON)
# after its 8-byte little-endian length; the data follows on stdin.
write_safetensors() {
  local path=$1 header=$2 n=${#2}
  {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' \
      $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
    printf '%s' "$header"
    cat
  } >"$path"
}
