#ifndef FP4MOE_IO_SAFETENSORS_H_
#define FP4MOE_IO_SAFETENSORS_H_

// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value"}}, then the data section the offsets index into.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "quant/matrix.h"

namespace fp4moe::io {

// Every dtype of the safetensors format whose elements are whole bytes (per safetensors' Dtype
// enum, safetensors/src/tensor.rs). The readers below and in io/ read numbers of the first
// eight only, each checking the dtype it reads; the others (BOOL, I16, U16, U32, U64, F64,
// F8_E5M2, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, C64) are opened, copied unchanged by quantize
// (float weights excepted: refused), and refused with the tensor's name wherever a number would
// be read.
enum class Dtype {
  kF32, kBf16, kF16, kF8E4M3, kU8, kI8, kI32, kI64,
  kBool, kI16, kU16, kU32, kU64, kF64, kF8E5M2, kF8E8M0, kF8E4M3Fnuz, kF8E5M2Fnuz, kC64,
};

// As the header spells them: "F32", "BF16", "F16", "F8_E4M3", "U8", "I8", "I32", "I64", "BOOL",
// ... Elements narrower than a byte (F4, F6_E2M3, F6_E3M2) are refused by name.
std::string_view DtypeName(Dtype dtype);
absl::StatusOr<Dtype> ParseDtype(std::string_view name);
// F32, BF16, F16, F64 and the FP8 dtypes.
bool IsFloatingPoint(Dtype dtype);
int64_t DtypeBytes(Dtype dtype);
// "[2, 3]", as error messages print shapes.
std::string ShapeString(absl::Span<const int64_t> shape);

// One tensor of an open file; `bytes` points into the file's mapping.
struct TensorView {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  absl::Span<const uint8_t> bytes;

  int64_t numel() const;
};

// A safetensors file, memory-mapped read-only and checked completely on Open, so that every
// later access is in bounds. Views stay valid while the SafetensorsFile lives.
class SafetensorsFile {
 public:
  // Errors (InvalidArgument for a malformed file, NotFound / PermissionDenied from the OS)
  // name the file and, where one is at fault, the tensor.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);
  // The same checks on a file's bytes held in memory (copied); `path` only labels errors.
  static absl::StatusOr<SafetensorsFile> FromBytes(absl::Span<const uint8_t> bytes,
                                                   const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensor names in sorted order.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;

  // NotFound naming the file and the tensor when absent.
  absl::StatusOr<const TensorView*> Get(std::string_view name) const;
  // Also checks the dtype and the shape, saying what was expected and what the file holds.
  absl::StatusOr<const TensorView*> Get(std::string_view name, Dtype dtype,
                                        absl::Span<const int64_t> shape) const;
  // A 2-D F32, BF16 or F16 tensor converted to float.
  absl::StatusOr<RowMatrixXf> ReadMatrix(std::string_view name) const;
  // An F32 scalar, of shape [] or [1].
  absl::StatusOr<float> ReadScalar(std::string_view name) const;
  // An I32 or I64 tensor of any shape, flattened.
  absl::StatusOr<std::vector<int64_t>> ReadIntegers(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  // Checks `size` bytes at `data`, which live as long as the file, and indexes their tensors.
  absl::Status Index(const uint8_t* data, int64_t size);
  void Unmap();

  std::string path_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::vector<uint8_t> owned_bytes_;  // FromBytes' copy; moving the vector keeps its data
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorView, std::less<>> tensors_;
};

// A 2-D F32, BF16 or F16 tensor (of a file, or any memory a TensorView describes) converted to
// float; errors name `path` and the tensor.
absl::StatusOr<RowMatrixXf> MatrixOf(const TensorView& tensor, std::string_view path);

// F32, BF16 and F16: the dtypes ConvertToFloat reads.
bool IsConvertibleToFloat(Dtype dtype);
// Writes the tensor's numel() elements, of any shape, to `out` as float; false (nothing
// written) where its dtype is not one IsConvertibleToFloat accepts.
bool ConvertToFloat(const TensorView& tensor, float* out);

// Collects tensors and writes them as one safetensors file, atomically: the file is written
// under a temporary name in the destination's directory and renamed over the destination
// (files::OutputSet), so a failure leaves no partial output behind; a destination that exists
// and is not a regular file (a device, a FIFO, a directory) is refused, never replaced.
class SafetensorsWriter {
 public:
  // InvalidArgument for a duplicate or reserved name, a negative dimension, or `bytes` whose
  // size is not numel * DtypeBytes(dtype).
  absl::Status Add(std::string_view name, Dtype dtype, absl::Span<const int64_t> shape,
                   absl::Span<const uint8_t> bytes);
  absl::Status AddF32(std::string_view name, absl::Span<const int64_t> shape,
                      absl::Span<const float> values);
  absl::Status AddI32(std::string_view name, absl::Span<const int64_t> shape,
                      absl::Span<const int32_t> values);
  // Copies a tensor of another file unchanged.
  absl::Status AddCopy(const TensorView& tensor);
  void SetMetadata(std::string_view key, std::string_view value);

  absl::Status Write(const std::string& path) const;
  // The file's bytes, in memory.
  std::vector<uint8_t> Serialize() const;

 private:
  // The length field and the header (padded as the reference implementation pads it).
  std::string Header() const;

  struct Entry {
    Dtype dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Entry, std::less<>> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_SAFETENSORS_H_
