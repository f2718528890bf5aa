#include "io/safetensors.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "files/input_files.h"
#include "files/output_set.h"
#include "io/safetensors_header.h"
#include "io/sizes.h"
#include "nlohmann/json.hpp"
#include "quant/bf16.h"

namespace fp4moe::io {
namespace {

using nlohmann::json;

constexpr int64_t kLengthFieldBytes = 8;

struct DtypeInfo {
  Dtype dtype;
  std::string_view name;
  int64_t bytes;
  bool floating;
};

// Names and sizes per safetensors' Dtype enum (safetensors/src/tensor.rs: its serde names and
// bitsize; C64 is a complex of two 32-bit floats, 8 bytes; the FNUZ FP8s came in 2026).
constexpr DtypeInfo kDtypes[] = {
    {Dtype::kF32, "F32", 4, true},         {Dtype::kBf16, "BF16", 2, true},
    {Dtype::kF16, "F16", 2, true},         {Dtype::kF8E4M3, "F8_E4M3", 1, true},
    {Dtype::kU8, "U8", 1, false},          {Dtype::kI8, "I8", 1, false},
    {Dtype::kI32, "I32", 4, false},        {Dtype::kI64, "I64", 8, false},
    {Dtype::kBool, "BOOL", 1, false},      {Dtype::kI16, "I16", 2, false},
    {Dtype::kU16, "U16", 2, false},        {Dtype::kU32, "U32", 4, false},
    {Dtype::kU64, "U64", 8, false},        {Dtype::kF64, "F64", 8, true},
    {Dtype::kF8E5M2, "F8_E5M2", 1, true},  {Dtype::kF8E8M0, "F8_E8M0", 1, true},
    {Dtype::kF8E4M3Fnuz, "F8_E4M3FNUZ", 1, true},
    {Dtype::kF8E5M2Fnuz, "F8_E5M2FNUZ", 1, true},
    {Dtype::kC64, "C64", 8, false},
};

// The format's dtypes whose elements are not whole bytes: a size in bytes cannot say them.
constexpr std::string_view kSubByteDtypes[] = {"F4", "F6_E2M3", "F6_E3M2"};

const DtypeInfo& InfoOf(Dtype dtype) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.dtype == dtype) return info;
  }
  return kDtypes[0];  // unreachable: every enumerator is in the table
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const int exponent = (h >> 10) & 0x1F;
  const uint32_t mantissa = h & 0x3FF;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &magnitude, 4);
  bits |= sign;
  float result;
  std::memcpy(&result, &bits, 4);
  return result;
}

// Reads element i of a little-endian tensor; the mapping gives no alignment guarantee.
template <typename T>
T Load(absl::Span<const uint8_t> bytes, int64_t i) {
  T value;
  std::memcpy(&value, bytes.data() + i * sizeof(T), sizeof(T));
  return value;
}

absl::Status TensorError(const std::string& path, std::string_view tensor,
                         std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: tensor '%s': %s", path, tensor, message));
}

absl::Status TooShortError(const std::string& path, int64_t size) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: file is %d bytes, shorter than the 8-byte header length", path, size));
}

absl::Status ErrnoError(int error, std::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrFormat("%s %s", what, path));
}

}  // namespace

std::string_view DtypeName(Dtype dtype) { return InfoOf(dtype).name; }

int64_t DtypeBytes(Dtype dtype) { return InfoOf(dtype).bytes; }

bool IsFloatingPoint(Dtype dtype) { return InfoOf(dtype).floating; }

absl::StatusOr<Dtype> ParseDtype(std::string_view name) {
  std::vector<std::string> names;
  for (const DtypeInfo& info : kDtypes) {
    if (info.name == name) return info.dtype;
    names.emplace_back(info.name);
  }
  for (std::string_view sub_byte : kSubByteDtypes) {
    if (name == sub_byte) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unsupported dtype \"%s\": elements narrower than a byte are not read here", name));
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat("unsupported dtype \"%s\" (supported: %s)",
                                                    name, absl::StrJoin(names, ", ")));
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Every view's shape was checked when its file was opened.
int64_t TensorView::numel() const { return *CheckedProduct(shape); }

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  // A FIFO, a device or a directory is refused on the open file (opened without blocking, so a
  // FIFO does not wait for a writer).
  absl::StatusOr<int> opened = files::OpenRegularFile(path, "safetensors file");
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError(error, "cannot stat", path);
  }
  const int64_t size = st.st_size;
  // Checked before mapping too: mmap refuses an empty file.
  if (size < kLengthFieldBytes) {
    ::close(fd);
    return TooShortError(path, size);
  }
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_error = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (mapping == MAP_FAILED) return ErrnoError(mmap_error, "cannot map", path);
  file.mapping_ = mapping;
  file.mapping_size_ = size;
  if (absl::Status s = file.Index(static_cast<const uint8_t*>(mapping), size); !s.ok()) return s;
  return file;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::FromBytes(absl::Span<const uint8_t> bytes,
                                                           const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  file.owned_bytes_.assign(bytes.begin(), bytes.end());
  if (absl::Status s = file.Index(file.owned_bytes_.data(), file.owned_bytes_.size()); !s.ok()) {
    return s;
  }
  return file;
}

absl::Status SafetensorsFile::Index(const uint8_t* data, int64_t size) {
  const std::string& path = path_;
  if (size < kLengthFieldBytes) return TooShortError(path, size);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = header_length << 8 | data[i];
  if (header_length > static_cast<uint64_t>(size - kLengthFieldBytes)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: header length %d exceeds the %d bytes after the length field "
                        "(truncated or not a safetensors file)",
                        path, header_length, size - kLengthFieldBytes));
  }
  if (header_length > static_cast<uint64_t>(kMaxHeaderBytes)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: header length %d exceeds the format's limit of %d bytes", path,
                        header_length, kMaxHeaderBytes));
  }
  const int64_t data_begin = kLengthFieldBytes + static_cast<int64_t>(header_length);
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(
      std::string_view(reinterpret_cast<const char*>(data + kLengthFieldBytes), header_length),
      absl::MakeConstSpan(data + data_begin, size - data_begin), path);
  if (!header.ok()) return header.status();
  metadata_ = std::move(header->metadata);
  tensors_ = std::move(header->tensors);
  return absl::OkStatus();
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    metadata_ = std::move(other.metadata_);
    tensors_ = std::move(other.tensors_);
    owned_bytes_ = std::move(other.owned_bytes_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_size_ = std::exchange(other.mapping_size_, 0);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { Unmap(); }

void SafetensorsFile::Unmap() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
  mapping_ = nullptr;
  mapping_size_ = 0;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> names;
  for (const auto& [name, view] : tensors_) names.push_back(name);
  return names;
}

bool SafetensorsFile::contains(std::string_view name) const {
  return tensors_.find(name) != tensors_.end();
}

absl::StatusOr<const TensorView*> SafetensorsFile::Get(std::string_view name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrFormat("%s: no tensor '%s'", path_, name));
  }
  return &it->second;
}

absl::StatusOr<const TensorView*> SafetensorsFile::Get(std::string_view name, Dtype dtype,
                                                       absl::Span<const int64_t> shape) const {
  absl::StatusOr<const TensorView*> t = Get(name);
  if (!t.ok()) return t.status();
  if ((*t)->dtype != dtype || (*t)->shape != std::vector<int64_t>(shape.begin(), shape.end())) {
    return TensorError(path_, name,
                       absl::StrFormat("is %s %s, expected %s %s", DtypeName((*t)->dtype),
                                       ShapeString((*t)->shape), DtypeName(dtype),
                                       ShapeString(shape)));
  }
  return t;
}

absl::StatusOr<RowMatrixXf> SafetensorsFile::ReadMatrix(std::string_view name) const {
  absl::StatusOr<const TensorView*> found = Get(name);
  if (!found.ok()) return found.status();
  return MatrixOf(**found, path_);
}

absl::StatusOr<RowMatrixXf> MatrixOf(const TensorView& t, std::string_view path) {
  const std::string& name = t.name;
  const std::string file(path);
  if (t.shape.size() != 2) {
    return TensorError(file, name,
                       absl::StrCat("has shape ", ShapeString(t.shape), ", expected 2-D"));
  }
  const int64_t n = t.numel();
  RowMatrixXf m;
  if (absl::Status s = AllocateChecked(absl::StrFormat("%s: tensor '%s' as float", file, name), n,
                                       sizeof(float), [&] { m.resize(t.shape[0], t.shape[1]); });
      !s.ok()) {
    return s;
  }
  if (!ConvertToFloat(t, m.data())) {
    return TensorError(file, name,
                       absl::StrFormat("is %s, expected a float matrix (F32, BF16 or F16)",
                                       DtypeName(t.dtype)));
  }
  return m;
}

bool IsConvertibleToFloat(Dtype dtype) {
  return dtype == Dtype::kF32 || dtype == Dtype::kBf16 || dtype == Dtype::kF16;
}

bool ConvertToFloat(const TensorView& t, float* out) {
  const int64_t n = t.numel();
  switch (t.dtype) {
    case Dtype::kF32:
      if (n > 0) std::memcpy(out, t.bytes.data(), n * sizeof(float));
      return true;
    case Dtype::kBf16:
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToFloat(Load<uint16_t>(t.bytes, i));
      return true;
    case Dtype::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = HalfToFloat(Load<uint16_t>(t.bytes, i));
      return true;
    default:
      return false;
  }
}

absl::StatusOr<float> SafetensorsFile::ReadScalar(std::string_view name) const {
  absl::StatusOr<const TensorView*> found = Get(name);
  if (!found.ok()) return found.status();
  const TensorView& t = **found;
  if (t.dtype != Dtype::kF32 || t.numel() != 1 || t.shape.size() > 1) {
    return TensorError(path_, name,
                       absl::StrFormat("is %s %s, expected an F32 scalar (shape [] or [1])",
                                       DtypeName(t.dtype), ShapeString(t.shape)));
  }
  return Load<float>(t.bytes, 0);
}

absl::StatusOr<std::vector<int64_t>> SafetensorsFile::ReadIntegers(std::string_view name) const {
  absl::StatusOr<const TensorView*> found = Get(name);
  if (!found.ok()) return found.status();
  const TensorView& t = **found;
  if (t.dtype != Dtype::kI32 && t.dtype != Dtype::kI64) {
    return TensorError(path_, name,
                       absl::StrFormat("is %s, expected I32 or I64", DtypeName(t.dtype)));
  }
  std::vector<int64_t> values;
  if (absl::Status s =
          AllocateChecked(absl::StrFormat("%s: tensor '%s' as I64", path_, name), t.numel(),
                          sizeof(int64_t), [&] { values.resize(t.numel()); });
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = t.dtype == Dtype::kI32 ? Load<int32_t>(t.bytes, i) : Load<int64_t>(t.bytes, i);
  }
  return values;
}

absl::Status SafetensorsWriter::Add(std::string_view name, Dtype dtype,
                                    absl::Span<const int64_t> shape,
                                    absl::Span<const uint8_t> bytes) {
  if (name.empty() || name == kMetadataKey) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor name '%s' is empty or reserved", name));
  }
  if (tensors_.find(name) != tensors_.end()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s' is added twice", name));
  }
  if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s': shape %s has a negative dimension", name, ShapeString(shape)));
  }
  const std::optional<int64_t> numel = CheckedProduct(shape);
  const std::optional<int64_t> size =
      numel ? CheckedProduct({*numel, DtypeBytes(dtype)}) : std::nullopt;
  if (!size || static_cast<int64_t>(bytes.size()) != *size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s': %d bytes do not hold %s %s", name, bytes.size(),
                        DtypeName(dtype), ShapeString(shape)));
  }
  // The writer holds a copy of every tensor until Write.
  Entry entry{dtype, std::vector<int64_t>(shape.begin(), shape.end()), {}};
  if (absl::Status s = AllocateChecked(absl::StrFormat("tensor '%s' to write", name),
                                       bytes.size(), 1,
                                       [&] { entry.bytes.assign(bytes.begin(), bytes.end()); });
      !s.ok()) {
    return s;
  }
  tensors_.emplace(std::string(name), std::move(entry));
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::AddF32(std::string_view name, absl::Span<const int64_t> shape,
                                       absl::Span<const float> values) {
  return Add(name, Dtype::kF32, shape,
             absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(values.data()),
                                 values.size() * sizeof(float)));
}

absl::Status SafetensorsWriter::AddI32(std::string_view name, absl::Span<const int64_t> shape,
                                       absl::Span<const int32_t> values) {
  return Add(name, Dtype::kI32, shape,
             absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(values.data()),
                                 values.size() * sizeof(int32_t)));
}

absl::Status SafetensorsWriter::AddCopy(const TensorView& tensor) {
  return Add(tensor.name, tensor.dtype, tensor.shape, tensor.bytes);
}

void SafetensorsWriter::SetMetadata(std::string_view key, std::string_view value) {
  metadata_[std::string(key)] = std::string(value);
}

std::string SafetensorsWriter::Header() const {
  json header = json::object();
  if (!metadata_.empty()) header[std::string(kMetadataKey)] = metadata_;
  int64_t offset = 0;
  for (const auto& [name, entry] : tensors_) {
    const int64_t end = offset + static_cast<int64_t>(entry.bytes.size());
    header[name] = {{"dtype", DtypeName(entry.dtype)},
                    {"shape", entry.shape},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string header_text = header.dump();
  // The reference implementation pads the header with spaces so that the data starts aligned.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string text(kLengthFieldBytes, '\0');
  for (int i = 0; i < 8; ++i) text[i] = static_cast<char>(header_text.size() >> (8 * i));
  return text + header_text;
}

std::vector<uint8_t> SafetensorsWriter::Serialize() const {
  const std::string header = Header();
  std::vector<uint8_t> bytes(header.begin(), header.end());
  for (const auto& [name, entry] : tensors_) {
    bytes.insert(bytes.end(), entry.bytes.begin(), entry.bytes.end());
  }
  return bytes;
}

absl::Status SafetensorsWriter::Write(const std::string& path) const {
  // An OutputSet of one file: written beside `path`, renamed over it only once whole and
  // synced, never over a device or FIFO, and removed on any error.
  files::OutputSet outputs;
  absl::StatusOr<files::OutputFile*> file = outputs.Create(path);
  if (!file.ok()) return file.status();
  absl::Status status = (*file)->Write(Header());
  for (const auto& [name, entry] : tensors_) {
    if (!status.ok()) return status;
    status = (*file)->Write(std::string_view(reinterpret_cast<const char*>(entry.bytes.data()),
                                             entry.bytes.size()));
  }
  return status.ok() ? outputs.Commit() : status;
}

}  // namespace fp4moe::io
