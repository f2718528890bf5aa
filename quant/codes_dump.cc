// Prints this library's code conversions for an external oracle (tests/oracle compares them
// with ml_dtypes):
//   codes_dump encode   reads float32 bit patterns (hex, one per line) from stdin and prints
//                       "e2m1 e4m3 bf16" codes (hex) per line
//   codes_dump decode   prints "kind code float32-bits" for every E2M1, E4M3 and E8M0 code
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "quant/bf16.h"
#include "quant/e2m1.h"
#include "quant/e4m3.h"
#include "quant/e8m0.h"

namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

int Encode() {
  unsigned bits;
  while (std::scanf("%x", &bits) == 1) {
    float x;
    const uint32_t b = bits;
    std::memcpy(&x, &b, sizeof x);
    std::printf("%x %x %x\n", fp4moe::EncodeE2M1(x), fp4moe::EncodeE4M3(x), fp4moe::FloatToBf16(x));
  }
  return 0;
}

int Decode() {
  for (int c = 0; c < 16; ++c) std::printf("e2m1 %d %08x\n", c, Bits(fp4moe::DecodeE2M1(c)));
  for (int c = 0; c < 256; ++c) std::printf("e4m3 %d %08x\n", c, Bits(fp4moe::DecodeE4M3(c)));
  for (int c = 0; c < 256; ++c) std::printf("e8m0 %d %08x\n", c, Bits(fp4moe::DecodeE8M0(c)));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "encode") return Encode();
  if (mode == "decode") return Decode();
  std::fprintf(stderr, "usage: codes_dump encode|decode\n");
  return 2;
}
