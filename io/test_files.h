#ifndef FP4MOE_IO_TEST_FILES_H_
#define FP4MOE_IO_TEST_FILES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace fp4moe::io {

// A path under the test's temporary directory.
std::string TestPath(std::string_view name);
// Writes `bytes` to `path` as they are, for hand-made (often malformed) files.
void WriteFileBytes(const std::string& path, std::string_view bytes);
std::string ReadFileBytes(const std::string& path);
// A safetensors file's bytes: the 8-byte length of `header`, `header`, `data`.
std::string SafetensorsBytes(std::string_view header, std::string_view data);
// Writes a safetensors file of `header` and a data section of `data_bytes` zeros without writing
// them (a sparse file, for tensors as large as memory); returns its path.
std::string WriteSparseSafetensors(std::string_view name, std::string_view header,
                                   int64_t data_bytes);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_TEST_FILES_H_
