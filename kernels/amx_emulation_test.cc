// The AMX emulation against plain loops written from Intel's pseudo-code, on full and partial
// tile shapes (partial ones are what kernels configure for edge tiles).
#include "kernels/amx_emulation.h"

#include <cstdint>
#include <cstring>
#include <random>

#include "gtest/gtest.h"
#include "kernels/amx_tile_config.h"

namespace fp4moe::kernels {
namespace {

// Shapes of dst (tile 0), a (tile 1) and b (tile 2): dst rows x n_dwords dwords,
// a rows x k_dwords dwords, b k_dwords rows x n_dwords dwords.
struct Shape {
  int rows, n_dwords, k_dwords;
};

constexpr Shape kShapes[] = {{16, 16, 16}, {5, 10, 6}, {1, 16, 8}, {16, 3, 16}};

void Configure(const Shape& s) {
  TileConfig config;
  config.rows[0] = s.rows;
  config.column_bytes[0] = 4 * s.n_dwords;
  config.rows[1] = s.rows;
  config.column_bytes[1] = 4 * s.k_dwords;
  config.rows[2] = s.k_dwords;
  config.column_bytes[2] = 4 * s.n_dwords;
  _tile_loadconfig(&config);
}

// 16 x 64-byte operands with distinct strides, filled with random bytes.
struct Operands {
  static constexpr int kStride = 96;
  uint8_t a[16 * kStride], b[16 * kStride], c[16 * kStride];

  explicit Operands(uint32_t seed) {
    std::mt19937 rng(seed);
    for (uint8_t* p : {a, b, c}) {
      for (int i = 0; i < 16 * kStride; ++i) p[i] = static_cast<uint8_t>(rng());
    }
  }
};

template <typename AByte>
void CheckIntegerDot(bool unsigned_a) {
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "rows " << s.rows << " n " << s.n_dwords << " k "
                                    << s.k_dwords);
    Operands op(s.rows * 100 + s.n_dwords);
    Configure(s);
    _tile_loadd(0, op.c, Operands::kStride);
    _tile_loadd(1, op.a, Operands::kStride);
    _tile_loadd(2, op.b, Operands::kStride);
    if (unsigned_a) {
      _tile_dpbusd(0, 1, 2);
    } else {
      _tile_dpbssd(0, 1, 2);
    }
    int32_t got[16][16];
    _tile_stored(0, got, sizeof got[0]);
    _tile_release();
    for (int m = 0; m < s.rows; ++m) {
      for (int n = 0; n < s.n_dwords; ++n) {
        int32_t c;
        std::memcpy(&c, op.c + m * Operands::kStride + 4 * n, 4);
        int64_t expected = c;
        for (int k = 0; k < s.k_dwords; ++k) {
          for (int i = 0; i < 4; ++i) {
            expected += static_cast<AByte>(op.a[m * Operands::kStride + 4 * k + i]) *
                        static_cast<int8_t>(op.b[k * Operands::kStride + 4 * n + i]);
          }
        }
        ASSERT_EQ(got[m][n], static_cast<int32_t>(expected)) << "m " << m << " n " << n;
      }
    }
  }
}

TEST(AmxEmulationTest, DpbssdMatchesLoops) { CheckIntegerDot<int8_t>(false); }

TEST(AmxEmulationTest, DpbusdMatchesLoops) { CheckIntegerDot<uint8_t>(true); }

float Bf16(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

uint16_t ToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return static_cast<uint16_t>(bits >> 16);
}

TEST(AmxEmulationTest, Dpbf16psMatchesLoops) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "rows " << s.rows);
    float c[16][16];
    uint16_t a[16][32], b[16][32];
    for (auto& row : c) {
      for (float& v : row) v = normal(rng);
    }
    for (auto* p : {&a, &b}) {
      for (auto& row : *p) {
        for (uint16_t& v : row) v = ToBf16(normal(rng));
      }
    }
    Configure(s);
    _tile_loadd(0, c, sizeof c[0]);
    _tile_loadd(1, a, sizeof a[0]);
    _tile_loadd(2, b, sizeof b[0]);
    _tile_dpbf16ps(0, 1, 2);
    float got[16][16];
    _tile_stored(0, got, sizeof got[0]);
    _tile_release();
    for (int m = 0; m < s.rows; ++m) {
      for (int n = 0; n < s.n_dwords; ++n) {
        float expected = c[m][n];
        for (int k = 0; k < s.k_dwords; ++k) {
          expected += Bf16(a[m][2 * k]) * Bf16(b[k][2 * n]);
          expected += Bf16(a[m][2 * k + 1]) * Bf16(b[k][2 * n + 1]);
        }
        ASSERT_EQ(got[m][n], expected) << "m " << m << " n " << n;
      }
    }
  }
}

TEST(AmxEmulationTest, LoadZeroesBeyondConfiguredShapeAndZeroClears) {
  const Shape s = {3, 2, 16};
  Operands op(1);
  Configure(s);
  _tile_loadd(0, op.c, Operands::kStride);
  int32_t got[16][16];
  std::memset(got, 0x55, sizeof got);
  _tile_stored(0, got, sizeof got[0]);
  // Only the configured 3 rows x 8 bytes are stored; the rest of `got` is untouched.
  EXPECT_EQ(std::memcmp(&got[0][0], op.c, 8), 0);
  EXPECT_EQ(std::memcmp(&got[2][0], op.c + 2 * Operands::kStride, 8), 0);
  EXPECT_EQ(got[0][2], 0x55555555);
  EXPECT_EQ(got[3][0], 0x55555555);
  _tile_zero(0);
  _tile_stored(0, got, sizeof got[0]);
  EXPECT_EQ(got[1][1], 0);
  _tile_release();
}

}  // namespace
}  // namespace fp4moe::kernels
