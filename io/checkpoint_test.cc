#include "io/checkpoint.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/quantize_checkpoint.h"
#include "io/safetensors.h"
#include "io/test_files.h"
#include "kernels/cpu_features.h"
#include "quant/bf16.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::io {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr int64_t kRows = 24, kCols = 128;

RowMatrixXf Weights(uint64_t seed) {
  return RandomMatrix(kRows, kCols, seed, Distribution::kOutliers);
}

SafetensorsFile WriteAndOpen(const SafetensorsWriter& writer, const std::string& name) {
  const std::string path = TestPath(name);
  EXPECT_TRUE(writer.Write(path).ok());
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return *std::move(file);
}

void ExpectSameMatrix(const RowMatrixXf& a, const RowMatrixXf& b) {
  ASSERT_EQ(a.rows(), b.rows());
  ASSERT_EQ(a.cols(), b.cols());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(CheckpointTest, Nvfp4RoundTripsBitForBit) {
  const Nvfp4Tensor t = *QuantizeNvfp4("w", Weights(1));
  SafetensorsWriter writer;
  ASSERT_TRUE(AddNvfp4("layer.w", t, writer, 0.75f).ok());
  const SafetensorsFile file = WriteAndOpen(writer, "nvfp4.safetensors");
  EXPECT_EQ((*file.Get("layer.w.weight"))->shape, (std::vector<int64_t>{kRows, kCols / 2}));
  EXPECT_EQ((*file.Get("layer.w.weight_scale"))->dtype, Dtype::kF8E4M3);
  EXPECT_TRUE((*file.Get("layer.w.weight_scale_2"))->shape.empty());
  absl::StatusOr<Nvfp4Weight> read = ReadNvfp4(file, "layer.w");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->tensor.rows, kRows);
  EXPECT_EQ(read->tensor.cols, kCols);
  EXPECT_EQ(read->tensor.packed, t.packed);
  EXPECT_EQ(read->tensor.scales, t.scales);
  EXPECT_EQ(read->tensor.scale_2, t.scale_2);
  EXPECT_THAT(read->input_scale, Optional(0.75f));
  ExpectSameMatrix(Dequantize(read->tensor), Dequantize(t));
  EXPECT_THAT(*StoredFormat(file, "layer.w"), Optional(WeightFormat::kNvfp4));
}

TEST(CheckpointTest, Mxfp4RoundTripsBitForBit) {
  const Mxfp4Tensor t = *QuantizeMxfp4("w", Weights(2));
  SafetensorsWriter writer;
  ASSERT_TRUE(AddMxfp4("w", t, writer).ok());
  const SafetensorsFile file = WriteAndOpen(writer, "mxfp4.safetensors");
  EXPECT_EQ((*file.Get("w.weight_scale"))->shape, (std::vector<int64_t>{kRows, kCols / 32}));
  absl::StatusOr<Mxfp4Tensor> read = ReadMxfp4(file, "w");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->packed, t.packed);
  EXPECT_EQ(read->scales, t.scales);
  ExpectSameMatrix(Dequantize(*read), Dequantize(t));
  EXPECT_THAT(*StoredFormat(file, "w"), Optional(WeightFormat::kMxfp4));
}

TEST(CheckpointTest, Int4K2RoundTripsBitForBit) {
  for (int64_t group : {32, 128}) {
    for (Int4ScaleType scale_type : {Int4ScaleType::kBf16, Int4ScaleType::kFloat32}) {
      const Int4K2Tensor t = *QuantizeInt4K2("w", Weights(3), group, scale_type);
      SafetensorsWriter writer;
      ASSERT_TRUE(AddInt4K2("w", t, writer).ok());
      const SafetensorsFile file = WriteAndOpen(writer, "int4.safetensors");
      EXPECT_EQ((*file.Get("w.weight_scale"))->dtype,
                scale_type == Int4ScaleType::kBf16 ? Dtype::kBf16 : Dtype::kF32);
      EXPECT_THAT(*file.ReadIntegers("w.weight_shape"), ElementsAre(kRows, kCols));
      absl::StatusOr<Int4K2Tensor> read = ReadInt4K2(file, "w");
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(read->group_size, group);
      EXPECT_EQ(read->scale_type, scale_type);
      EXPECT_EQ(read->packed, t.packed);
      EXPECT_EQ(read->scales, t.scales);
      ExpectSameMatrix(Dequantize(*read), Dequantize(t));
      EXPECT_THAT(*StoredFormat(file, "w"), Optional(WeightFormat::kInt4K2));
    }
  }
}

// compressed-tensors' pack_to_int32: element 8j+i in bits 4i of word j, stored as q + 8.
TEST(CheckpointTest, Int4K2WordsHoldOffsetBinaryNibbles) {
  const int8_t q[8] = {-8, -1, 0, 1, 7, 3, -4, 2};
  Int4K2Tensor t;
  t.rows = 1;
  t.cols = 8;
  t.group_size = 8;
  t.scales = {1.0f};
  t.packed.resize(4);
  for (int i = 0; i < 8; ++i) t.packed[i / 2] |= (q[i] & 0xF) << (4 * (i % 2));
  SafetensorsWriter writer;
  ASSERT_TRUE(AddInt4K2("w", t, writer).ok());
  const SafetensorsFile file = WriteAndOpen(writer, "int4_words.safetensors");
  EXPECT_EQ(static_cast<uint32_t>((*file.ReadIntegers("w.weight_packed"))[0]), 0xA4BF9870u);
  EXPECT_EQ(ReadInt4K2(file, "w")->packed, t.packed);
}

TEST(CheckpointTest, FloatWeightsAreRecognized) {
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.AddF32("w.weight", {1, 2}, {1.0f, 2.0f}).ok());
  ASSERT_TRUE(writer.AddI32("i.weight", {1}, {1}).ok());
  const SafetensorsFile file = WriteAndOpen(writer, "float.safetensors");
  EXPECT_EQ(*StoredFormat(file, "w"), std::nullopt);
  EXPECT_THAT(StoredFormat(file, "i"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'i.weight': is I32")));
  EXPECT_THAT(StoredFormat(file, "x"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("x.weight"), HasSubstr("x.weight_packed"))));
  EXPECT_THAT(ReadQuantized(file, "w"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float weights")));
}

// An NVFP4 weight written tensor by tensor, so that tests can break any part of it.
struct RawNvfp4 {
  std::string weight_dtype = "U8", scale_dtype = "F8_E4M3";
  std::vector<int64_t> weight_shape = {kRows, kCols / 2}, scale_shape = {kRows, kCols / 16};
  Nvfp4Tensor t = *QuantizeNvfp4("w", Weights(4));
  bool with_scale_2 = true;
  std::optional<float> input_scale;

  absl::StatusOr<Nvfp4Weight> Read(const std::string& name) const {
    SafetensorsWriter writer;
    EXPECT_TRUE(writer.Add("w.weight", *ParseDtype(weight_dtype), weight_shape, t.packed).ok());
    std::vector<uint8_t> scales = t.scales;
    scales.resize(scale_shape[0] * scale_shape[1]);
    EXPECT_TRUE(writer.Add("w.weight_scale", *ParseDtype(scale_dtype), scale_shape, scales).ok());
    if (with_scale_2) {
      EXPECT_TRUE(writer.AddF32("w.weight_scale_2", {1}, {t.scale_2}).ok());
    }
    if (input_scale) {
      EXPECT_TRUE(writer.AddF32("w.input_scale", {}, {*input_scale}).ok());
    }
    const SafetensorsFile file = WriteAndOpen(writer, name);
    return ReadNvfp4(file, "w");
  }
};

TEST(CheckpointTest, Nvfp4ReaderRejectsBadTensors) {
  RawNvfp4 good;
  EXPECT_TRUE(good.Read("nvfp4_good.safetensors").ok());

  RawNvfp4 nan_scale;
  nan_scale.t.scales[5] = 0x7F;
  EXPECT_THAT(nan_scale.Read("nvfp4_nan.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("nvfp4_nan.safetensors: tensor 'w'"),
                             HasSubstr("block scale 5 (row 0, block 5) is NaN"))));
  RawNvfp4 nan_scale_2;
  nan_scale_2.t.scale_2 = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(nan_scale_2.Read("nvfp4_nan2.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale_2")));
  RawNvfp4 negative_scale_2;
  negative_scale_2.t.scale_2 = -1.0f;
  EXPECT_THAT(negative_scale_2.Read("nvfp4_neg2.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale_2")));
  RawNvfp4 wrong_scale_dtype;
  wrong_scale_dtype.scale_dtype = "I8";
  EXPECT_THAT(wrong_scale_dtype.Read("nvfp4_dtype.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'w.weight_scale': is I8 [24, 8], expected F8_E4M3 [24, 8]")));
  RawNvfp4 wrong_weight_dtype;
  wrong_weight_dtype.weight_dtype = "I8";
  EXPECT_THAT(wrong_weight_dtype.Read("nvfp4_wdtype.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected U8 [N, K/2]")));
  RawNvfp4 wrong_scale_shape;
  wrong_scale_shape.scale_shape = {kRows, kCols / 16 - 1};
  EXPECT_THAT(wrong_scale_shape.Read("nvfp4_shape.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is F8_E4M3 [24, 7], expected F8_E4M3 [24, 8]")));
  RawNvfp4 k_not_block;
  k_not_block.weight_shape = {kRows * 16, 4};  // K = 8
  EXPECT_THAT(k_not_block.Read("nvfp4_k.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a multiple of the block")));
  RawNvfp4 missing_scale_2;
  missing_scale_2.with_scale_2 = false;
  EXPECT_THAT(missing_scale_2.Read("nvfp4_missing.safetensors"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'w.weight_scale_2'")));
}

// The optional activation scale is checked like scale_2 when present.
TEST(CheckpointTest, Nvfp4InputScaleIsFiniteAndPositive) {
  RawNvfp4 with_input_scale;
  with_input_scale.input_scale = 0.5f;
  EXPECT_THAT(with_input_scale.Read("nvfp4_input_scale.safetensors")->input_scale,
              Optional(0.5f));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(), 0.0f, -2.0f}) {
    RawNvfp4 raw;
    raw.input_scale = bad;
    EXPECT_THAT(raw.Read("nvfp4_bad_input_scale.safetensors"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("tensor 'w.input_scale': " + absl::StrFormat("%g", bad) +
                                   " is not finite and positive")));
  }
}

// Sizes a header allows but arithmetic or memory does not: K = 2 x a column count of 2^62
// (empty, so the file holds it), and codes larger than this machine's memory (a sparse file).
TEST(CheckpointTest, SizesThatOverflowOrCannotFitAreErrors) {
  SafetensorsWriter empty;
  ASSERT_TRUE(empty.Add("w.weight", Dtype::kU8, {0, int64_t{1} << 62}, {}).ok());
  ASSERT_TRUE(empty.Add("w.weight_scale", Dtype::kF8E4M3, {0, 1}, {}).ok());
  ASSERT_TRUE(empty.AddF32("w.weight_scale_2", {}, {1.0f}).ok());
  EXPECT_THAT(ReadNvfp4(WriteAndOpen(empty, "nvfp4_k_overflow.safetensors"), "w"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'w.weight': K = 2 x 4611686018427387904 overflows 64 bits")));

  const int64_t memory = kernels::PhysicalMemoryBytes();
  const int64_t rows = memory / 1024 + 1, code_bytes = rows * 1024, scale_bytes = rows * 128;
  const std::string path = WriteSparseSafetensors(
      "nvfp4_larger_than_memory.safetensors",
      absl::StrFormat(R"({"w.weight":{"dtype":"U8","shape":[%d,1024],"data_offsets":[0,%d]},)"
                      R"("w.weight_scale":{"dtype":"F8_E4M3","shape":[%d,128],)"
                      R"("data_offsets":[%d,%d]},)"
                      R"("w.weight_scale_2":{"dtype":"F32","shape":[],"data_offsets":[%d,%d]}})",
                      rows, code_bytes, rows, code_bytes, code_bytes + scale_bytes,
                      code_bytes + scale_bytes, code_bytes + scale_bytes + 4),
      code_bytes + scale_bytes + 4);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(ReadNvfp4(*file, "w"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("tensor 'w.weight'"),
                             HasSubstr("more than this machine's"))));
}

TEST(CheckpointTest, Int4K2ReaderRejectsBadTensors) {
  const Int4K2Tensor t = *QuantizeInt4K2("w", Weights(5), 32);
  SafetensorsWriter good;
  ASSERT_TRUE(AddInt4K2("w", t, good).ok());
  const SafetensorsFile good_file = WriteAndOpen(good, "int4_good.safetensors");
  const auto rewrite = [&](const std::string& replaced, Dtype dtype,
                           std::vector<int64_t> shape, absl::Span<const uint8_t> bytes) {
    SafetensorsWriter writer;
    for (const std::string& name : good_file.names()) {
      if (name == replaced) {
        EXPECT_TRUE(writer.Add(name, dtype, shape, bytes).ok());
      } else {
        EXPECT_TRUE(writer.AddCopy(**good_file.Get(name)).ok());
      }
    }
    return WriteAndOpen(writer, "int4_bad.safetensors");
  };
  const int32_t lying_shape[] = {kRows, kCols * 2};
  EXPECT_THAT(ReadInt4K2(rewrite("w.weight_shape", Dtype::kI32, {2},
                                 {reinterpret_cast<const uint8_t*>(lying_shape), 8}),
                         "w"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'w.weight_packed': is I32 [24, 16], expected I32 [24, 32]")));
  const int32_t odd_shape[] = {kRows, 12};
  EXPECT_THAT(ReadInt4K2(rewrite("w.weight_shape", Dtype::kI32, {2},
                                 {reinterpret_cast<const uint8_t*>(odd_shape), 8}),
                         "w"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of 8")));
  const int64_t i64_shape[] = {kRows, kCols};
  EXPECT_TRUE(ReadInt4K2(rewrite("w.weight_shape", Dtype::kI64, {2},
                                 {reinterpret_cast<const uint8_t*>(i64_shape), 16}),
                         "w")
                  .ok());
  std::vector<Bf16> nan_scales(kRows * kCols / 32, FloatToBf16(1.0f));
  nan_scales[3] = 0x7FC0;
  EXPECT_THAT(ReadInt4K2(rewrite("w.weight_scale", Dtype::kBf16, {kRows, kCols / 32},
                                 {reinterpret_cast<const uint8_t*>(nan_scales.data()),
                                  nan_scales.size() * 2}),
                         "w"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale 3 is nan")));
  std::vector<uint8_t> u8_scales(kRows * 3);
  EXPECT_THAT(ReadInt4K2(rewrite("w.weight_scale", Dtype::kU8, {kRows, 3}, u8_scales), "w"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is U8 [24, 3], expected BF16 or F32")));
}

// Writes {a.weight F32, b.weight BF16 (both quantized), c.bias F32, d.weight I32 (copied)}.
std::string WriteFloatCheckpoint(const std::string& name) {
  SafetensorsWriter writer;
  const RowMatrixXf a = Weights(6);
  EXPECT_TRUE(writer.AddF32("a.weight", {kRows, kCols}, {a.data(), size_t(a.size())}).ok());
  const RowMatrixXf b = Weights(7);
  std::vector<Bf16> b_bf16(b.size());
  for (int64_t i = 0; i < b.size(); ++i) b_bf16[i] = FloatToBf16(b.data()[i]);
  EXPECT_TRUE(writer
                  .Add("b.weight", Dtype::kBf16, {kRows, kCols},
                       {reinterpret_cast<const uint8_t*>(b_bf16.data()), b_bf16.size() * 2})
                  .ok());
  EXPECT_TRUE(writer.AddF32("c.bias", {3}, {1.0f, 2.0f, 3.0f}).ok());
  EXPECT_TRUE(writer.AddI32("d.weight", {1, 2}, {4, 5}).ok());
  writer.SetMetadata("format", "pt");
  const std::string path = TestPath(name);
  EXPECT_TRUE(writer.Write(path).ok());
  return path;
}

TEST(QuantizeCheckpointTest, QuantizesWeightsLikeTheQuantizersAndCopiesTheRest) {
  const std::string input = WriteFloatCheckpoint("float_in.safetensors");
  const SafetensorsFile in = *SafetensorsFile::Open(input);
  for (WeightFormat format : {WeightFormat::kNvfp4, WeightFormat::kMxfp4, WeightFormat::kInt4K2}) {
    SCOPED_TRACE(TraitsOf(format).name);
    const std::string output = TestPath("quantized.safetensors");
    ASSERT_TRUE(QuantizeCheckpoint(input, output, format, 64).ok());
    const SafetensorsFile out = *SafetensorsFile::Open(output);
    EXPECT_EQ(out.metadata(), in.metadata());
    for (const char* name : {"a", "b"}) {
      const moe::QuantizedTensor expected =
          *QuantizeWeight("w", *in.ReadMatrix(std::string(name) + ".weight"), format, 64);
      absl::StatusOr<moe::QuantizedTensor> read = ReadQuantized(out, name);
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_EQ(read->index(), expected.index());
      std::visit(
          [&](const auto& q) {
            using T = std::decay_t<decltype(q)>;
            EXPECT_EQ(q.packed, std::get<T>(expected).packed);
            EXPECT_EQ(q.scales, std::get<T>(expected).scales);
            ExpectSameMatrix(Dequantize(q), Dequantize(std::get<T>(expected)));
          },
          *read);
    }
    for (const char* copied : {"c.bias", "d.weight"}) {
      const TensorView& a = **in.Get(copied);
      const TensorView& b = **out.Get(copied);
      EXPECT_EQ(a.dtype, b.dtype);
      EXPECT_EQ(a.shape, b.shape);
      EXPECT_TRUE(std::equal(a.bytes.begin(), a.bytes.end(), b.bytes.begin(), b.bytes.end()));
    }
    EXPECT_EQ(out.contains("a.weight_packed"), format == WeightFormat::kInt4K2);
  }
}

// A checkpoint quantized already, by this tool or in another naming, is refused: quantizing
// would copy its packed weights and quantize only what it kept in float.
TEST(QuantizeCheckpointTest, QuantizedCheckpointsAreRefused) {
  const std::string input = WriteFloatCheckpoint("float_in3.safetensors");
  const std::string quantized = TestPath("quantized_once.safetensors");
  const std::string output = TestPath("quantized_twice.safetensors");
  const struct {
    WeightFormat format;
    const char* message;
  } cases[] = {
      {WeightFormat::kNvfp4, "tensor 'a.weight_scale' holds block scales"},
      {WeightFormat::kMxfp4, "tensor 'a.weight_scale' holds block scales"},
      {WeightFormat::kInt4K2, "tensor 'a.weight_packed' holds INT4 words"},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(QuantizeCheckpoint(input, quantized, c.format, 32).ok());
    EXPECT_THAT(QuantizeCheckpoint(quantized, output, WeightFormat::kNvfp4, 32),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(quantized), HasSubstr(c.message),
                               HasSubstr("already quantized"))));
    EXPECT_NE(::access(output.c_str(), F_OK), 0);
  }
  // DeepSeek-V3's FP8 weights: F8_E4M3 with a float scale per 128 x 128 block.
  SafetensorsWriter fp8;
  ASSERT_TRUE(fp8.Add("w.weight", Dtype::kF8E4M3, {1, 2}, std::vector<uint8_t>{0x38, 0x40}).ok());
  ASSERT_TRUE(fp8.AddF32("w.weight_scale_inv", {1, 1}, {0.5f}).ok());
  ASSERT_TRUE(fp8.AddF32("x.weight", {1, 16}, std::vector<float>(16, 1.0f)).ok());
  const std::string fp8_path = TestPath("fp8.safetensors");
  ASSERT_TRUE(fp8.Write(fp8_path).ok());
  EXPECT_THAT(QuantizeCheckpoint(fp8_path, output, WeightFormat::kNvfp4, 32),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'w.weight_scale_inv' holds FP8 block scales")));
  EXPECT_NE(::access(output.c_str(), F_OK), 0);
}

TEST(QuantizeCheckpointTest, ErrorsLeaveNoOutput) {
  const std::string output = TestPath("never_written.safetensors");
  const std::string input = WriteFloatCheckpoint("float_in2.safetensors");
  // K = 128 is not a multiple of the group size 48.
  EXPECT_THAT(QuantizeCheckpoint(input, output, WeightFormat::kInt4K2, 48),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'a.weight'")));
  EXPECT_NE(::access(output.c_str(), F_OK), 0);
  EXPECT_THAT(QuantizeCheckpoint(input, output, WeightFormat::kFp4FloatScale, 32),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("no checkpoint naming")));
  EXPECT_NE(::access(output.c_str(), F_OK), 0);

  // A float weight beside a tensor of the name its INT4 K2 form takes.
  SafetensorsWriter colliding;
  ASSERT_TRUE(colliding.AddF32("a.weight", {1, 32}, std::vector<float>(32, 1.0f)).ok());
  ASSERT_TRUE(colliding.AddI32("a.weight_shape", {2}, {1, 32}).ok());
  const std::string colliding_path = TestPath("colliding.safetensors");
  ASSERT_TRUE(colliding.Write(colliding_path).ok());
  EXPECT_THAT(QuantizeCheckpoint(colliding_path, output, WeightFormat::kInt4K2, 32),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'a.weight_shape'")));
  EXPECT_NE(::access(output.c_str(), F_OK), 0);

  const std::string truncated = TestPath("truncated_in.safetensors");
  WriteFileBytes(truncated, ReadFileBytes(input).substr(0, 100));
  EXPECT_THAT(QuantizeCheckpoint(truncated, output, WeightFormat::kNvfp4, 32),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated_in")));
  EXPECT_NE(::access(output.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace fp4moe::io
