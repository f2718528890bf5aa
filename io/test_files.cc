#include "io/test_files.h"

#include <unistd.h>

#include <fstream>
#include <iterator>

#include "gtest/gtest.h"

namespace fp4moe::io {

std::string TestPath(std::string_view name) {
  return testing::TempDir() + std::string(name);
}

void WriteFileBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), bytes.size());
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string SafetensorsBytes(std::string_view header, std::string_view data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(uint64_t{header.size()} >> (8 * i));
  bytes.append(header);
  bytes.append(data);
  return bytes;
}

std::string WriteSparseSafetensors(std::string_view name, std::string_view header,
                                   int64_t data_bytes) {
  const std::string path = TestPath(name);
  WriteFileBytes(path, SafetensorsBytes(header, ""));
  EXPECT_EQ(::truncate(path.c_str(), 8 + header.size() + data_bytes), 0) << path;
  return path;
}

}  // namespace fp4moe::io
