#include "io/safetensors.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/test_files.h"
#include "kernels/cpu_features.h"
#include "quant/bf16.h"
#include "quant/test_matchers.h"
#include "quant/test_memory_limit.h"

namespace fp4moe::io {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Span<const uint8_t> Bytes(const void* data, size_t size) {
  return absl::MakeConstSpan(static_cast<const uint8_t*>(data), size);
}

// Every dtype, a scalar, an empty tensor and metadata.
SafetensorsWriter AllDtypesWriter() {
  SafetensorsWriter w;
  const float f32[] = {1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -5.0f};
  EXPECT_TRUE(w.AddF32("f32", {2, 3}, f32).ok());
  const Bf16 bf16[] = {FloatToBf16(1.0f), FloatToBf16(-0.5f), FloatToBf16(3.0f),
                       FloatToBf16(96.0f)};
  EXPECT_TRUE(w.Add("bf16", Dtype::kBf16, {2, 2}, Bytes(bf16, sizeof(bf16))).ok());
  // 1, -2, 0.5, the smallest subnormal 2^-24, +inf, 65504.
  const uint16_t f16[] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x7C00, 0x7BFF};
  EXPECT_TRUE(w.Add("f16", Dtype::kF16, {3, 2}, Bytes(f16, sizeof(f16))).ok());
  const uint8_t u8[] = {0, 1, 255};
  EXPECT_TRUE(w.Add("f8", Dtype::kF8E4M3, {3}, u8).ok());
  EXPECT_TRUE(w.Add("u8", Dtype::kU8, {1, 3}, u8).ok());
  EXPECT_TRUE(w.Add("i8", Dtype::kI8, {3, 1}, u8).ok());
  const int32_t i32[] = {-7, 1 << 30};
  EXPECT_TRUE(w.AddI32("i32", {2}, i32).ok());
  const int64_t i64[] = {int64_t{1} << 40, -3};
  EXPECT_TRUE(w.Add("i64", Dtype::kI64, {2}, Bytes(i64, sizeof(i64))).ok());
  EXPECT_TRUE(w.AddF32("scalar", {}, {0.125f}).ok());
  EXPECT_TRUE(w.AddF32("empty", {0, 4}, {}).ok());
  w.SetMetadata("format", "pt");
  return w;
}

// Dtypes no tool reads as numbers: opened with their sizes checked, refused by each reader of
// numbers with the tensor's name, never reinterpreted as another dtype.
TEST(SafetensorsTest, OpensEveryByteSizedDtypeAndReadsNumbersOfKnownOnesOnly) {
  std::string header = "{", data;
  // Sizes per safetensors' Dtype enum (bitsize / 8).
  const std::pair<const char*, int> kOthers[] = {
      {"BOOL", 1},    {"I16", 2},         {"U16", 2},         {"U32", 4},
      {"U64", 8},     {"F64", 8},         {"F8_E5M2", 1},     {"F8_E8M0", 1},
      {"C64", 8},     {"F8_E4M3FNUZ", 1}, {"F8_E5M2FNUZ", 1}};
  for (const auto& [dtype, bytes] : kOthers) {
    absl::StrAppendFormat(&header, R"("%s":{"dtype":"%s","shape":[1,2],"data_offsets":[%d,%d]},)",
                          dtype, dtype, data.size(), data.size() + 2 * bytes);
    data.append(2 * bytes, '\x01');
  }
  header.back() = '}';
  absl::StatusOr<SafetensorsFile> file =
      SafetensorsFile::FromBytes(Bytes(SafetensorsBytes(header, data).data(),
                                       SafetensorsBytes(header, data).size()),
                                 "others.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  for (const auto& [dtype, bytes] : kOthers) {
    absl::StatusOr<const TensorView*> t = file->Get(dtype);
    ASSERT_TRUE(t.ok()) << dtype;
    EXPECT_EQ(DtypeName((*t)->dtype), dtype);
    EXPECT_EQ(static_cast<int>((*t)->bytes.size()), 2 * bytes) << dtype;
    EXPECT_THAT(file->ReadMatrix(dtype).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(absl::StrFormat("'%s'", dtype)),
                               HasSubstr(absl::StrFormat("is %s, expected", dtype)))));
    EXPECT_FALSE(file->ReadIntegers(dtype).ok()) << dtype;
    EXPECT_FALSE(file->ReadScalar(dtype).ok()) << dtype;
  }
  EXPECT_TRUE(IsFloatingPoint(Dtype::kF64));
  EXPECT_TRUE(IsFloatingPoint(Dtype::kF8E5M2));
  EXPECT_TRUE(IsFloatingPoint(Dtype::kF8E4M3Fnuz));
  EXPECT_FALSE(IsFloatingPoint(Dtype::kC64));
  EXPECT_FALSE(IsFloatingPoint(Dtype::kU64));
}

TEST(SafetensorsTest, RefusesElementsNarrowerThanAByteByName) {
  for (const char* dtype : {"F4", "F6_E2M3", "F6_E3M2"}) {
    const std::string bytes = SafetensorsBytes(
        absl::StrFormat(R"({"w":{"dtype":"%s","shape":[2],"data_offsets":[0,1]}})", dtype),
        std::string(1, '\0'));
    EXPECT_THAT(SafetensorsFile::FromBytes(Bytes(bytes.data(), bytes.size()), "f.safetensors")
                    .status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("'w'"), HasSubstr("narrower than a byte"))));
  }
}

TEST(SafetensorsTest, RoundTripsEveryDtype) {
  const std::string path = TestPath("all_dtypes.safetensors");
  ASSERT_TRUE(AllDtypesWriter().Write(path).ok());
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(file->names(), ElementsAre("bf16", "empty", "f16", "f32", "f8", "i32", "i64",
                                         "i8", "scalar", "u8"));
  EXPECT_EQ(file->metadata().at("format"), "pt");

  absl::StatusOr<RowMatrixXf> f32 = file->ReadMatrix("f32");
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_EQ(f32->rows(), 2);
  EXPECT_EQ((*f32)(1, 2), -5.0f);
  absl::StatusOr<RowMatrixXf> bf16 = file->ReadMatrix("bf16");
  ASSERT_TRUE(bf16.ok());
  EXPECT_THAT(std::vector<float>(bf16->data(), bf16->data() + 4),
              ElementsAre(1.0f, -0.5f, 3.0f, 96.0f));
  absl::StatusOr<RowMatrixXf> f16 = file->ReadMatrix("f16");
  ASSERT_TRUE(f16.ok());
  EXPECT_THAT(std::vector<float>(f16->data(), f16->data() + 6),
              ElementsAre(1.0f, -2.0f, 0.5f, std::ldexp(1.0f, -24),
                          std::numeric_limits<float>::infinity(), 65504.0f));
  EXPECT_THAT(*file->ReadIntegers("i32"), ElementsAre(-7, 1 << 30));
  EXPECT_THAT(*file->ReadIntegers("i64"), ElementsAre(int64_t{1} << 40, -3));
  EXPECT_EQ(*file->ReadScalar("scalar"), 0.125f);
  const TensorView* u8 = *file->Get("u8", Dtype::kU8, {1, 3});
  EXPECT_THAT(std::vector<uint8_t>(u8->bytes.begin(), u8->bytes.end()), ElementsAre(0, 1, 255));
  EXPECT_EQ((*file->Get("empty"))->numel(), 0);
  EXPECT_EQ((*file->Get("f8"))->dtype, Dtype::kF8E4M3);
}

TEST(SafetensorsTest, FromBytesReadsLikeOpenAndOutlivesItsInput) {
  const std::string path = TestPath("from_bytes.safetensors");
  ASSERT_TRUE(AllDtypesWriter().Write(path).ok());
  std::string bytes = ReadFileBytes(path);
  absl::StatusOr<SafetensorsFile> file =
      SafetensorsFile::FromBytes(Bytes(bytes.data(), bytes.size()), "in memory");
  ASSERT_TRUE(file.ok()) << file.status();
  bytes.assign(bytes.size(), '\0');  // the file keeps its own copy
  const SafetensorsFile moved = *std::move(file);
  EXPECT_EQ(moved.path(), "in memory");
  EXPECT_EQ(moved.names(), SafetensorsFile::Open(path)->names());
  EXPECT_EQ(moved.metadata().at("format"), "pt");
  EXPECT_THAT(*moved.ReadIntegers("i32"), ElementsAre(-7, 1 << 30));
  absl::StatusOr<RowMatrixXf> f32 = moved.ReadMatrix("f32");
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_EQ((*f32)(1, 2), -5.0f);
}

TEST(SafetensorsTest, HeaderIsPaddedSoThatDataIsAligned) {
  const std::string path = TestPath("aligned.safetensors");
  ASSERT_TRUE(AllDtypesWriter().Write(path).ok());
  const std::string bytes = ReadFileBytes(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
}

TEST(SafetensorsTest, WriteLeavesNoTemporaryFiles) {
  const std::string dir = TestPath("write_dir");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string path = dir + "/out.safetensors";
  ASSERT_TRUE(AllDtypesWriter().Write(path).ok());
  SafetensorsWriter second;
  ASSERT_TRUE(second.AddF32("x", {1}, {2.0f}).ok());
  ASSERT_TRUE(second.Write(path).ok());  // replaces the first file
  EXPECT_THAT(SafetensorsFile::Open(path)->names(), ElementsAre("x"));
  DIR* d = ::opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::string> entries;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') entries.push_back(e->d_name);
  }
  ::closedir(d);
  EXPECT_THAT(entries, ElementsAre("out.safetensors"));
}

TEST(SafetensorsTest, WriteIntoAMissingDirectoryFailsWithoutOutput) {
  const std::string path = TestPath("no_such_dir/out.safetensors");
  EXPECT_THAT(AllDtypesWriter().Write(path),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_such_dir")));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(SafetensorsTest, WriteNeverReplacesWhatIsNotARegularFile) {
  const std::string fifo = TestPath("a_fifo.safetensors");
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(AllDtypesWriter().Write(fifo),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a_fifo.safetensors exists and is a FIFO, not a regular file")));
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  const std::string dir = TestPath("a_directory.safetensors");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  EXPECT_THAT(AllDtypesWriter().Write(dir),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exists and is a directory")));
  for (const std::filesystem::directory_entry& e :
       std::filesystem::directory_iterator(std::filesystem::path(fifo).parent_path())) {
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
  }
}

TEST(SafetensorsTest, WriterRejectsBadTensors) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.AddF32("a", {2}, {1.0f, 2.0f}).ok());
  EXPECT_THAT(w.AddF32("a", {1}, {1.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'a' is added twice")));
  EXPECT_THAT(w.AddF32("b", {3}, {1.0f, 2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not hold F32 [3]")));
  EXPECT_THAT(w.AddF32("c", {-1}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  EXPECT_THAT(w.AddF32("__metadata__", {1}, {1.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")));
}

TEST(SafetensorsTest, AccessorsCheckNamesDtypesAndShapes) {
  const std::string path = TestPath("accessors.safetensors");
  ASSERT_TRUE(AllDtypesWriter().Write(path).ok());
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_THAT(file->Get("missing"),
              StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr(path), HasSubstr("missing"))));
  EXPECT_THAT(file->Get("u8", Dtype::kF32, {1, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'u8': is U8 [1, 3], expected F32 [1, 3]")));
  EXPECT_THAT(file->Get("u8", Dtype::kU8, {3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected U8 [3]")));
  EXPECT_THAT(file->ReadMatrix("i32"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 2-D")));
  EXPECT_THAT(file->ReadMatrix("u8"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("float matrix")));
  EXPECT_THAT(file->ReadScalar("f32"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("F32 scalar")));
  EXPECT_THAT(file->ReadIntegers("f32"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected I32 or I64")));
}

TEST(SafetensorsTest, TruncatedFilesAreErrors) {
  const std::string whole_path = TestPath("whole.safetensors");
  ASSERT_TRUE(AllDtypesWriter().Write(whole_path).ok());
  const std::string whole = ReadFileBytes(whole_path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, whole.data(), 8);
  const std::string path = TestPath("truncated.safetensors");
  for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{8 + header_length / 2},
                     size_t{8 + header_length}, size_t{8 + header_length + 3},
                     whole.size() - 1}) {
    WriteFileBytes(path, whole.substr(0, cut));
    EXPECT_THAT(SafetensorsFile::Open(path),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path)))
        << "cut at " << cut;
    EXPECT_THAT(SafetensorsFile::FromBytes(Bytes(whole.data(), cut), "cut"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cut")))
        << "cut at " << cut;
  }
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  EXPECT_THAT(SafetensorsFile::Open(TestPath("nothing_here.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nothing_here")));
}

// A FIFO (whose blocking open would wait for a writer), a device and a directory: one error
// each, at once.
TEST(SafetensorsTest, WhatIsNotARegularFileIsRefusedWithoutWaiting) {
  const std::string fifo = TestPath("a_fifo.safetensors");
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(SafetensorsFile::Open(fifo),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a FIFO")));
  EXPECT_THAT(SafetensorsFile::Open("/dev/zero"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a character device")));
  EXPECT_THAT(SafetensorsFile::Open(TestPath("")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
}

TEST(SafetensorsTest, HeaderLengthBeyondTheFileIsAnError) {
  const std::string path = TestPath("long_header.safetensors");
  std::string bytes = SafetensorsBytes("{}", "");
  bytes[0] = 100;
  WriteFileBytes(path, bytes);
  EXPECT_THAT(SafetensorsFile::Open(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header length 100")));
  bytes.replace(0, 8, std::string(8, '\xff'));
  WriteFileBytes(path, bytes);
  EXPECT_THAT(SafetensorsFile::Open(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("header length")));
}

// A file of an F16 tensor 'h' [h_rows, 1024] and an I32 tensor 'i' [i_rows, 1024], sparse.
std::string SparseFile(const std::string& name, int64_t h_rows, int64_t i_rows) {
  const int64_t h_bytes = h_rows * 1024 * 2, i_bytes = i_rows * 1024 * 4;
  return WriteSparseSafetensors(
      name,
      absl::StrFormat(R"({"h":{"dtype":"F16","shape":[%d,1024],"data_offsets":[0,%d]},)"
                      R"("i":{"dtype":"I32","shape":[%d,1024],"data_offsets":[%d,%d]}})",
                      h_rows, h_bytes, i_rows, h_bytes, h_bytes + i_bytes),
      h_bytes + i_bytes);
}

// Tensors whose float (or I64) copies are larger than this machine's memory: refused before
// anything is allocated, not std::bad_alloc.
TEST(SafetensorsTest, ReadsLargerThanMemoryAreRefused) {
  const int64_t memory = kernels::PhysicalMemoryBytes();
  const std::string path = SparseFile("larger_than_memory.safetensors",
                                      memory / (4 * 1024) + 1, memory / (8 * 1024) + 1);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(file->ReadMatrix("h"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("tensor 'h' as float"),
                             HasSubstr("more than this machine's"))));
  EXPECT_THAT(file->ReadIntegers("i"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("tensor 'i' as I64"),
                             HasSubstr("more than this machine's"))));
}

// Under a process memory limit (ulimit -v) allocations fail below the machine's memory: the
// std::bad_alloc becomes an error naming the tensor.
TEST(SafetensorsTest, AllocationsBeyondTheProcessLimitAreErrors) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan reports a failed allocation instead of throwing std::bad_alloc";
#endif
  // 256 MB of F16 and of I32, whose copies take 512 MB each.
  const std::string path = SparseFile("beyond_limit.safetensors", 128 * 1024, 64 * 1024);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<RowMatrixXf> h;
  absl::StatusOr<std::vector<int64_t>> i;
  ASSERT_TRUE(RunUnderMemoryLimit(int64_t{128} << 20, [&] {
                h = file->ReadMatrix("h");
                i = file->ReadIntegers("i");
              }).ok());
  EXPECT_THAT(h, StatusIs(absl::StatusCode::kResourceExhausted,
                          AllOf(HasSubstr("tensor 'h' as float: allocating 536870912 bytes"),
                                HasSubstr("out of memory (is the process's memory limited"))));
  EXPECT_THAT(i, StatusIs(absl::StatusCode::kResourceExhausted,
                          AllOf(HasSubstr("tensor 'i' as I64: allocating 536870912 bytes"),
                                HasSubstr("out of memory (is the process's memory limited"))));
}

TEST(SafetensorsTest, AcceptsHandWrittenFilesWithUnsortedOffsetsAndPadding) {
  const std::string path = TestPath("hand.safetensors");
  const float values[] = {1.0f, 2.0f, 3.0f};
  std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  WriteFileBytes(path, SafetensorsBytes(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                                        R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   )",
                                        data));
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*file->ReadScalar("b"), 3.0f);
}

}  // namespace
}  // namespace fp4moe::io
