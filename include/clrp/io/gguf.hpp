// GGUF model files (versions 2 and 3): metadata, tensor directory, tensor data.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64
// metadata count, metadata key/value pairs, tensor infos (name, n_dims, ne[],
// ggml type, offset relative to the data section), padding to
// `general.alignment` (default 32), tensor data. Every count, length and offset
// is checked against the file size before it is used; the data is laid out as
// llama.cpp's loader requires (in directory order, each tensor at the previous
// one's end padded to the alignment, the first at 0; each size from its type's
// block size and shape); errors name the file and the byte offset where the bad
// value starts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "clrp/io/mapped_file.hpp"
#include "clrp/io/tensor.hpp"

namespace clrp::io {

/// A GGUF metadata value. Arrays hold one element type; strings are UTF-8 as stored.
struct GgufValue {
  enum class Type : std::uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
  };
  Type type = Type::UINT32;
  /// Scalars: integers widened to int64/uint64, floats to double.
  std::variant<std::int64_t, std::uint64_t, double, bool, std::string> scalar;
  /// For ARRAY: the element type and the elements (each a scalar GgufValue).
  Type element_type = Type::UINT8;
  std::vector<GgufValue> elements;
  std::uint64_t offset = 0;  ///< byte offset of the value in the file (for messages)
};

/// "UINT32", "STRING", ... for messages.
std::string_view gguf_type_name(GgufValue::Type t);

class GgufFile final : public WeightSource {
 public:
  /// Parses and validates `path`; throws clrp::Error with file and byte offset.
  explicit GgufFile(const std::string& path);

  std::uint32_t version() const { return version_; }
  /// `general.alignment` (32 when absent): every tensor's data offset is a multiple of it.
  std::uint64_t alignment() const { return alignment_; }
  /// Absolute byte offset of the tensor data section.
  std::uint64_t data_offset() const { return data_offset_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }

  /// Typed metadata accessors; throw clrp::Error naming the file and the key
  /// when it is missing or of the wrong type (the *_opt variants return
  /// nullopt when it is missing). Integers of any width are accepted where an
  /// integer is asked for (an unsigned value above INT64_MAX is an error);
  /// get_float and get_float_array also accept integers.
  std::string get_string(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::optional<std::int64_t> get_int_opt(const std::string& key) const;
  std::optional<double> get_float_opt(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<std::int64_t> get_int_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }

  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  std::vector<std::string> files() const override { return {file_.path()}; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  const GgufValue& require_key(const std::string& key) const;

  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace clrp::io
