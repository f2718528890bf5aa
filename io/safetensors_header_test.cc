#include "io/safetensors_header.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/safetensors.h"
#include "io/test_files.h"
#include "quant/test_matchers.h"

namespace fp4moe::io {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

absl::StatusOr<SafetensorsFile> FromString(const std::string& bytes) {
  return SafetensorsFile::FromBytes(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      "in memory");
}

struct MalformedCase {
  const char* what;
  std::string header;
  std::string data;
  const char* message;
};

TEST(SafetensorsHeaderTest, MalformedHeadersAreErrorsNamingTheTensor) {
  const std::string f32_entry = R"("dtype":"F32","shape":[2])";
  const std::string a_entry = "\"a\":{" + f32_entry + ",\"data_offsets\":[0,8]}";
  const std::string eight(8, '\0');
  const MalformedCase cases[] = {
      {"not JSON", "{\"a\":", "", "not valid JSON"},
      {"not an object", "[1, 2]", "", "not a JSON object"},
      {"leading space", " {}", "", "does not begin with '{'"},
      {"trailing garbage", "{} x", "", "not valid JSON"},
      {"entry not an object", R"({"a": 3})", "", "'a': header entry is 3, not a JSON object"},
      {"entry null", R"({"a": null})", "", "'a': header entry is null, not a JSON object"},
      {"unknown dtype", R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})",
       std::string(1, '\0'), "'a': unsupported dtype \"Q4\""},
      {"dtype not a string", R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})",
       std::string(4, '\0'), "'a': \"dtype\" is 4, expected a string"},
      {"no dtype", R"({"a":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'),
       "'a': no \"dtype\""},
      {"unknown key", "{\"a\":{" + f32_entry + ",\"data_offsets\":[0,8],\"offsets\":[0,8]}}",
       eight, "'a': unknown key \"offsets\""},
      {"shape not an array", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight,
       "'a': \"shape\" is 2, expected an array"},
      {"negative dimension", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
       eight, "'a': shape entry 0 is -2, expected a non-negative integer"},
      {"minus zero", R"({"a":{"dtype":"F32","shape":[2,-0],"data_offsets":[0,0]}})", "",
       "'a': shape entry 1 is -0"},
      {"fractional dimension", R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
       std::string(4, '\0'), "'a': shape entry 0 is 1.5"},
      {"dimension of 2^63",
       R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}})",
       std::string(4, '\0'), "'a': shape entry 0 is 9223372036854775808"},
      {"no offsets", "{\"a\":{" + f32_entry + "}}", eight, "'a': no \"data_offsets\""},
      {"one offset", "{\"a\":{" + f32_entry + ",\"data_offsets\":[8]}}", eight,
       "'a': data_offsets: found ']' after 1 offsets"},
      {"three offsets", "{\"a\":{" + f32_entry + ",\"data_offsets\":[0,4,8]}}", eight,
       "'a': data_offsets: found 8, expected [begin, end]"},
      {"offset as a string", "{\"a\":{" + f32_entry + ",\"data_offsets\":[\"0\",8]}}", eight,
       "'a': data_offsets: found the string \"0\""},
      {"end before begin", "{\"a\":{" + f32_entry + ",\"data_offsets\":[8,0]}}", eight,
       "'a': data_offsets [8, 0] end before begin"},
      {"size lies", "{\"a\":{" + f32_entry + ",\"data_offsets\":[0,4]}}", std::string(4, '\0'),
       "'a': data_offsets [0, 4] span 4 bytes, but F32 [2] needs 8"},
      {"shape overflows",
       R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
       std::string(4, '\0'), "'a': F32 [4294967296, 4294967296] overflows 64 bits"},
      {"bytes overflow",
       R"({"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,8]}})", eight,
       "'a': I64 [2305843009213693952] overflows 64 bits"},
      {"out of range", "{\"a\":{" + f32_entry + ",\"data_offsets\":[8,16]}}", eight,
       "'a': data_offsets [8, 16] lie beyond the 8-byte data section"},
      {"overlap",
       "{" + a_entry + ",\"b\":{" + f32_entry + ",\"data_offsets\":[4,12]}}",
       std::string(12, '\0'), "'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
      {"gap", "{" + a_entry + ",\"b\":{" + f32_entry + ",\"data_offsets\":[12,20]}}",
       std::string(20, '\0'), "'b': data_offsets [12, 20] leave bytes [8, 12)"},
      {"trailing bytes", "{" + a_entry + "}", std::string(12, '\0'),
       "cover 8 bytes of the 12-byte data section"},
      {"metadata not strings", R"({"__metadata__":{"k":1}})", "",
       "__metadata__ value of \"k\" is 1, expected a string"},
      {"metadata not an object", R"({"__metadata__":["k"]})", "",
       "__metadata__ is an array, expected an object of strings"},
      {"metadata null", R"({"__metadata__":null})", "", "__metadata__ is null"},
  };
  for (const MalformedCase& c : cases) {
    const std::string path = TestPath("malformed.safetensors");
    WriteFileBytes(path, SafetensorsBytes(c.header, c.data));
    EXPECT_THAT(SafetensorsFile::Open(path),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(path), HasSubstr(c.message))))
        << c.what;
    EXPECT_THAT(FromString(SafetensorsBytes(c.header, c.data)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.what;
  }
}

// nlohmann keeps the last of two equal keys: a second "dtype" would turn an F32 weight into
// I32, a second name or metadata key would hide the first.
TEST(SafetensorsHeaderTest, KeysThatAppearTwiceAreRefusedAtEveryLevel) {
  const std::string eight(8, '\0');
  const MalformedCase cases[] = {
      {"dtype", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"dtype":"I32"}})",
       eight, "tensor 'w': key \"dtype\" appears twice"},
      {"shape", R"({"w":{"dtype":"F32","shape":[2],"shape":[1,2],"data_offsets":[0,8]}})",
       eight, "tensor 'w': key \"shape\" appears twice"},
      {"data_offsets",
       R"({"w":{"dtype":"F32","data_offsets":[0,4],"shape":[2],"data_offsets":[0,8]}})", eight,
       "tensor 'w': key \"data_offsets\" appears twice"},
      {"tensor name",
       R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
       eight, "tensor 'w': name appears twice in the header"},
      {"__metadata__", R"({"__metadata__":{"a":"1"},"__metadata__":{"b":"2"}})", "",
       "__metadata__ appears twice"},
      {"metadata key", R"({"__metadata__":{"format":"pt","format":"np"}})", "",
       "__metadata__ key \"format\" appears twice"},
  };
  for (const MalformedCase& c : cases) {
    EXPECT_THAT(FromString(SafetensorsBytes(c.header, c.data)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.what;
  }
}

std::string Repeat(std::string_view s, int n) {
  std::string out;
  out.reserve(s.size() * n);
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

// A million levels of nesting anywhere in a header: refused at the first bracket where none
// belongs, with no recursion (a recursive parser or printer overflows the stack far earlier).
TEST(SafetensorsHeaderTest, DeepNestingIsRefusedAtItsFirstBracket) {
  constexpr int kDepth = 1'000'000;
  const std::string arrays = Repeat("[", kDepth) + Repeat("]", kDepth);
  const std::string objects = Repeat("{\"x\":", kDepth) + "1" + Repeat("}", kDepth);
  const struct {
    std::string header;
    const char* message;
  } cases[] = {
      {arrays, "not a JSON object"},
      {"{\"a\":" + arrays + "}", "'a': header entry is an array"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":" + arrays + ",\"data_offsets\":[0,0]}}",
       "'a': shape entry 0 is an array"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":" + arrays + "}}",
       "'a': data_offsets: found an array"},
      {"{\"a\":{\"dtype\":" + objects + "}}", "'a': \"dtype\" is an object"},
      {"{\"a\":{\"x\":" + objects + "}}", "'a': unknown key \"x\""},
      {"{\"__metadata__\":" + arrays + "}", "__metadata__ is an array"},
      {"{\"__metadata__\":{\"k\":" + objects + "}}", "__metadata__ value of \"k\" is an object"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(FromString(SafetensorsBytes(c.header, "")),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
}

// A file of `count` one-byte U8 tensors.
std::string ManyTensors(int count) {
  std::string header = "{";
  for (int i = 0; i < count; ++i) {
    if (i > 0) header += ',';
    absl::StrAppend(&header, "\"model.layers.", i / 1000, ".mlp.experts.", i % 1000,
                    ".weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[", i, ",",
                    i + 1, "]}");
  }
  header += '}';
  return SafetensorsBytes(header, std::string(count, '\x01'));
}

// Seconds to open a file of `count` tensors, the best of `runs`.
double OpenSeconds(int count, int runs) {
  const std::string bytes = ManyTensors(count);
  double best = 1e9;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<SafetensorsFile> file = FromString(bytes);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(file->names().size(), count);
    best = std::min(best, took.count());
  }
  return best;
}

// A quantized DeepSeek-V3 has over 100k tensors; the header's keys once took quadratic time
// (40k tensors: 13 s).
TEST(SafetensorsHeaderTest, OpeningIsNotQuadraticInTheTensors) {
  const double small_seconds = OpenSeconds(20'000, 3), large_seconds = OpenSeconds(100'000, 2);
  EXPECT_LT(large_seconds, 5.0);
  // 5x the tensors: 5x the time when linear, about 6x at n log n, 25x when quadratic.
  EXPECT_LT(large_seconds, 12 * small_seconds)
      << "20k tensors: " << small_seconds << " s, 100k: " << large_seconds << " s";
}

// Checked on a sparse file, so that no 100 MB is written.
TEST(SafetensorsHeaderTest, HeaderLongerThanTheFormatAllowsIsRefused) {
  const std::string path = TestPath("huge_header.safetensors");
  const uint64_t length = kMaxHeaderBytes + 1;
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(length >> (8 * i));
  WriteFileBytes(path, bytes + "{");
  ASSERT_EQ(::truncate(path.c_str(), 8 + length), 0);
  EXPECT_THAT(SafetensorsFile::Open(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("header length 100000001 exceeds the format's limit")));
}

// Inputs that crashed the reader (found by tools/fuzz.sh, or by hand): each is one error now.
TEST(SafetensorsHeaderTest, InputsThatOnceCrashedAreErrors) {
  const std::filesystem::path dir = std::filesystem::path(std::getenv("TEST_SRCDIR")) /
                                    std::getenv("TEST_WORKSPACE") / "io/testdata/safetensors";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_THAT(FromString(ReadFileBytes(entry.path())),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("in memory")))
        << entry.path();
    ++count;
  }
  EXPECT_GT(count, 0) << "no inputs in " << dir;
}

}  // namespace
}  // namespace fp4moe::io
