#include "io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "io/sizes.h"
#include "nlohmann/json.hpp"

namespace fp4moe::io {
namespace {

using nlohmann::json;

// The keys of a tensor entry, each required once.
enum Field { kDtype, kShape, kOffsets, kFieldCount };
constexpr std::string_view kFieldNames[kFieldCount] = {"dtype", "shape", "data_offsets"};

// Where the parser stands in the only shape a header may have; every event that does not fit
// the place is an error at once, which is what bounds nesting.
enum class Place {
  kBeforeHeader,    // expects the header's '{'
  kHeader,          // in the header: a key or '}'
  kEntryValue,      // after a tensor's name: its entry's '{'
  kEntry,           // in an entry: a key or '}'
  kDtype,           // after "dtype": a string
  kShapeValue,      // after "shape": '['
  kShape,           // in the shape: integers or ']'
  kOffsetsValue,    // after "data_offsets": '['
  kOffsets,         // in data_offsets: integers or ']'
  kMetadataValue,   // after "__metadata__": '{'
  kMetadata,        // in the metadata: a key or '}'
  kMetadataString,  // after a metadata key: a string
  kAfterHeader,     // the header's '}' has been seen
};

struct Extent {
  int64_t begin, end;
  const std::string* name;
};

// nlohmann's SAX events for one header, checked against the format as they come (the DOM
// parser keeps the last of duplicate keys, and its callback mode is quadratic in the keys).
class HeaderHandler : public nlohmann::json_sax<json> {
 public:
  HeaderHandler(const std::string& path, absl::Span<const uint8_t> data,
                SafetensorsHeader& header)
      : path_(path), data_(data), header_(header) {}

  const absl::Status& status() const { return status_; }
  std::vector<Extent>& extents() { return extents_; }

  bool null() override { return Unexpected("null"); }
  bool boolean(bool value) override { return Unexpected(value ? "true" : "false"); }
  bool number_integer(number_integer_t value) override {
    // Only a '-' makes a JSON integer signed: this one is negative, or -0.
    return Unexpected(value == 0 ? "-0" : absl::StrCat(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Unexpected(absl::StrCat(value));
    }
    if (place_ == Place::kShape) {
      shape_.push_back(static_cast<int64_t>(value));
      return true;
    }
    if (place_ == Place::kOffsets && offset_count_ < 2) {
      offsets_[offset_count_++] = static_cast<int64_t>(value);
      return true;
    }
    return Unexpected(absl::StrCat(value));
  }
  bool number_float(number_float_t, const string_t& text) override { return Unexpected(text); }
  bool binary(binary_t&) override { return Unexpected("binary data"); }

  bool string(string_t& value) override {
    if (place_ == Place::kDtype) {
      absl::StatusOr<Dtype> dtype = ParseDtype(value);
      if (!dtype.ok()) return FailTensor(std::string(dtype.status().message()));
      dtype_ = *dtype;
      place_ = Place::kEntry;
      return true;
    }
    if (place_ == Place::kMetadataString) {
      header_.metadata.emplace(std::move(key_), std::move(value));
      place_ = Place::kMetadata;
      return true;
    }
    return Unexpected(absl::StrFormat("the string \"%s\"", value));
  }

  bool start_object(std::size_t) override {
    switch (place_) {
      case Place::kBeforeHeader:
        place_ = Place::kHeader;
        return true;
      case Place::kEntryValue:
        place_ = Place::kEntry;
        return true;
      case Place::kMetadataValue:
        place_ = Place::kMetadata;
        return true;
      default:
        return Unexpected("an object");
    }
  }

  bool key(string_t& key) override {
    switch (place_) {
      case Place::kHeader:
        if (key == kMetadataKey) {
          if (seen_metadata_) return Fail("__metadata__ appears twice in the header");
          seen_metadata_ = true;
          place_ = Place::kMetadataValue;
          return true;
        }
        if (header_.tensors.count(key) != 0) {
          name_ = std::move(key);
          return FailTensor("name appears twice in the header");
        }
        name_ = std::move(key);
        StartEntry();
        place_ = Place::kEntryValue;
        return true;
      case Place::kMetadata:
        if (header_.metadata.count(key) != 0) {
          return Fail(absl::StrFormat("__metadata__ key \"%s\" appears twice", key));
        }
        key_ = std::move(key);
        place_ = Place::kMetadataString;
        return true;
      case Place::kEntry: {
        const auto field = std::find(std::begin(kFieldNames), std::end(kFieldNames), key);
        if (field == std::end(kFieldNames)) {
          return FailTensor(absl::StrFormat(
              "unknown key \"%s\" in the header entry (allowed: dtype, shape, data_offsets)",
              key));
        }
        const int f = static_cast<int>(field - std::begin(kFieldNames));
        if (seen_[f]) return FailTensor(absl::StrFormat("key \"%s\" appears twice", key));
        seen_[f] = true;
        place_ = f == kDtype ? Place::kDtype : f == kShape ? Place::kShapeValue
                                                           : Place::kOffsetsValue;
        return true;
      }
      default:
        return Unexpected(absl::StrFormat("the key \"%s\"", key));
    }
  }

  bool end_object() override {
    switch (place_) {
      case Place::kHeader:
        place_ = Place::kAfterHeader;
        return true;
      case Place::kMetadata:
        place_ = Place::kHeader;
        return true;
      case Place::kEntry:
        place_ = Place::kHeader;
        return FinishEntry();
      default:
        return Unexpected("'}'");  // unreachable: JSON closes what it opened
    }
  }

  bool start_array(std::size_t) override {
    if (place_ == Place::kShapeValue) {
      place_ = Place::kShape;
      return true;
    }
    if (place_ == Place::kOffsetsValue) {
      place_ = Place::kOffsets;
      return true;
    }
    return Unexpected("an array");
  }

  bool end_array() override {
    if (place_ == Place::kShape) {
      place_ = Place::kEntry;
      return true;
    }
    if (place_ == Place::kOffsets && offset_count_ == 2) {
      place_ = Place::kEntry;
      return true;
    }
    return Unexpected(absl::StrFormat("']' after %d offsets", offset_count_));
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& e) override {
    return Fail(absl::StrCat("header is not valid JSON: ", e.what()));
  }

 private:
  void StartEntry() {
    std::fill(std::begin(seen_), std::end(seen_), false);
    shape_.clear();
    offset_count_ = 0;
  }

  // The entry's sizes, against its dtype and shape and against the data section.
  bool FinishEntry() {
    for (int f = 0; f < kFieldCount; ++f) {
      if (!seen_[f]) {
        return FailTensor(absl::StrFormat("no \"%s\" in the header entry", kFieldNames[f]));
      }
    }
    const auto [begin, end] = offsets_;
    if (end < begin) {
      return FailTensor(absl::StrFormat("data_offsets [%d, %d] end before begin", begin, end));
    }
    const std::optional<int64_t> numel = CheckedProduct(shape_);
    const std::optional<int64_t> bytes =
        numel ? CheckedProduct({*numel, DtypeBytes(dtype_)}) : std::nullopt;
    if (!bytes) {
      return FailTensor(absl::StrFormat("%s %s overflows 64 bits", DtypeName(dtype_),
                                        ShapeString(shape_)));
    }
    if (end - begin != *bytes) {
      return FailTensor(absl::StrFormat("data_offsets [%d, %d] span %d bytes, but %s %s needs %d",
                                        begin, end, end - begin, DtypeName(dtype_),
                                        ShapeString(shape_), *bytes));
    }
    if (end > static_cast<int64_t>(data_.size())) {
      return FailTensor(absl::StrFormat(
          "data_offsets [%d, %d] lie beyond the %d-byte data section (truncated file?)", begin,
          end, data_.size()));
    }
    TensorView view;
    view.name = name_;
    view.dtype = dtype_;
    view.shape = shape_;
    view.bytes = data_.subspan(begin, end - begin);
    const auto inserted = header_.tensors.emplace(name_, std::move(view));
    extents_.push_back({begin, end, &inserted.first->first});
    return true;
  }

  bool Fail(std::string_view message) {
    status_ = absl::InvalidArgumentError(absl::StrFormat("%s: %s", path_, message));
    return false;
  }

  bool FailTensor(std::string_view message) {
    return Fail(absl::StrFormat("tensor '%s': %s", name_, message));
  }

  // `found` where the place wants something else.
  bool Unexpected(std::string_view found) {
    switch (place_) {
      case Place::kBeforeHeader:
        return Fail(absl::StrFormat("header is %s, not a JSON object", found));
      case Place::kEntryValue:
        return FailTensor(absl::StrFormat("header entry is %s, not a JSON object", found));
      case Place::kDtype:
        return FailTensor(absl::StrFormat("\"dtype\" is %s, expected a string", found));
      case Place::kShapeValue:
        return FailTensor(absl::StrFormat(
            "\"shape\" is %s, expected an array of non-negative integers", found));
      case Place::kShape:
        return FailTensor(absl::StrFormat(
            "shape entry %d is %s, expected a non-negative integer", shape_.size(), found));
      case Place::kOffsetsValue:
      case Place::kOffsets:
        return FailTensor(absl::StrFormat(
            "data_offsets: found %s, expected [begin, end] of non-negative integers", found));
      case Place::kMetadataValue:
        return Fail(absl::StrFormat("__metadata__ is %s, expected an object of strings", found));
      case Place::kMetadataString:
        return Fail(
            absl::StrFormat("__metadata__ value of \"%s\" is %s, expected a string", key_, found));
      default:
        return Fail(absl::StrFormat("header: unexpected %s", found));
    }
  }

  const std::string& path_;
  const absl::Span<const uint8_t> data_;
  SafetensorsHeader& header_;
  absl::Status status_;
  Place place_ = Place::kBeforeHeader;
  bool seen_metadata_ = false;
  std::string key_;   // the metadata key whose value comes next
  std::string name_;  // the tensor whose entry is being read
  bool seen_[kFieldCount] = {};
  Dtype dtype_ = Dtype::kF32;
  std::vector<int64_t> shape_;
  int64_t offsets_[2] = {0, 0};
  int offset_count_ = 0;
  std::vector<Extent> extents_;
};

// The tensors' ranges, sorted, must follow each other from 0 to the end of the data section.
absl::Status CheckTiling(const std::string& path, std::vector<Extent>& extents,
                         int64_t data_size) {
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  int64_t covered = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    const Extent& e = extents[i];
    if (e.begin < covered) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s': data_offsets [%d, %d] overlap tensor '%s' [%d, %d]", path, *e.name,
          e.begin, e.end, *extents[i - 1].name, extents[i - 1].begin, extents[i - 1].end));
    }
    if (e.begin > covered) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s': data_offsets [%d, %d] leave bytes [%d, %d) of the data section "
          "unused",
          path, *e.name, e.begin, e.end, covered, e.begin));
    }
    covered = e.end;
  }
  if (covered != data_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensors cover %d bytes of the %d-byte data section (trailing bytes)", path,
        covered, data_size));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view header,
                                                         absl::Span<const uint8_t> data,
                                                         const std::string& path) {
  if (header.empty() || header.front() != '{') {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: header does not begin with '{', so it is not a JSON object", path));
  }
  SafetensorsHeader parsed;
  HeaderHandler handler(path, data, parsed);
  if (!json::sax_parse(header.begin(), header.end(), &handler)) return handler.status();
  if (absl::Status s = CheckTiling(path, handler.extents(), data.size()); !s.ok()) return s;
  return parsed;
}

}  // namespace fp4moe::io
