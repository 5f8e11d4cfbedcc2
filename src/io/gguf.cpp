#include "clrp/io/gguf.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

#include "clrp/util/error.hpp"

namespace clrp::io {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

namespace {

constexpr std::uint32_t kMagic = 0x46554747u;  // "GGUF" read as a little-endian u32
constexpr std::uint64_t kDefaultAlignment = 32;
constexpr std::uint64_t kMaxAlignment = std::uint64_t{1} << 30;
constexpr std::uint32_t kMaxDims = 4;
// Arrays of arrays are legal GGUF but unused in practice; bound the nesting so
// that a hostile file cannot recurse deeply.
constexpr int kMaxArrayDepth = 3;
// Every array element becomes a GgufValue (~100 bytes); bound the total so a
// hostile file cannot turn 1 byte of input into 100 bytes of heap without limit.
// The largest real arrays (vocabularies, merges) have well under 1M elements.
constexpr std::uint64_t kMaxArrayElementsTotal = std::uint64_t{1} << 26;

using VT = GgufValue::Type;

// Where{} built member by member (aggregate init with omitted members trips -Wextra).
Where at(const std::string& file, const std::string& field,
         std::optional<std::uint64_t> offset = std::nullopt) {
  Where w;
  w.file = file;
  w.field = field;
  w.offset = offset;
  return w;
}

// ggml type ids (ggml.h, enum ggml_type) and what clrp makes of them.
struct GgmlType {
  std::uint32_t id;
  std::string_view name;
  bool supported;
  DType dtype;
};

constexpr GgmlType kGgmlTypes[] = {
    {0, "F32", true, DType::F32},
    {1, "F16", true, DType::F16},
    {2, "Q4_0", true, DType::Q4_0},
    {3, "Q4_1", true, DType::Q4_1},
    {4, "Q4_2 (removed)", false, {}},
    {5, "Q4_3 (removed)", false, {}},
    {6, "Q5_0", true, DType::Q5_0},
    {7, "Q5_1", true, DType::Q5_1},
    {8, "Q8_0", true, DType::Q8_0},
    {9, "Q8_1", false, {}},
    {10, "Q2_K", true, DType::Q2_K},
    {11, "Q3_K", true, DType::Q3_K},
    {12, "Q4_K", true, DType::Q4_K},
    {13, "Q5_K", true, DType::Q5_K},
    {14, "Q6_K", true, DType::Q6_K},
    {15, "Q8_K", false, {}},
    {16, "IQ2_XXS", false, {}},
    {17, "IQ2_XS", false, {}},
    {18, "IQ3_XXS", false, {}},
    {19, "IQ1_S", false, {}},
    {20, "IQ4_NL", false, {}},
    {21, "IQ3_S", false, {}},
    {22, "IQ2_S", false, {}},
    {23, "IQ4_XS", false, {}},
    {24, "I8", true, DType::I8},
    {25, "I16", true, DType::I16},
    {26, "I32", true, DType::I32},
    {27, "I64", true, DType::I64},
    {28, "F64", true, DType::F64},
    {29, "IQ1_M", false, {}},
    {30, "BF16", true, DType::BF16},
    {31, "Q4_0_4_4 (removed)", false, {}},
    {32, "Q4_0_4_8 (removed)", false, {}},
    {33, "Q4_0_8_8 (removed)", false, {}},
    {34, "TQ1_0", false, {}},
    {35, "TQ2_0", false, {}},
    {36, "IQ4_NL_4_4 (removed)", false, {}},
    {37, "IQ4_NL_4_8 (removed)", false, {}},
    {38, "IQ4_NL_8_8 (removed)", false, {}},
    {39, "MXFP4", false, {}},
};

const GgmlType* find_ggml_type(std::uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

bool is_known_value_type(std::uint32_t t) {
  return t <= static_cast<std::uint32_t>(VT::FLOAT64);
}

// Smallest number of bytes one value of type `t` occupies in the file.
std::uint64_t min_value_size(VT t) {
  switch (t) {
    case VT::UINT8:
    case VT::INT8:
    case VT::BOOL:
      return 1;
    case VT::UINT16:
    case VT::INT16:
      return 2;
    case VT::UINT32:
    case VT::INT32:
    case VT::FLOAT32:
      return 4;
    case VT::UINT64:
    case VT::INT64:
    case VT::FLOAT64:
    case VT::STRING:  // u64 length
      return 8;
    case VT::ARRAY:  // u32 element type + u64 count
      return 12;
  }
  return 1;
}

bool is_integer_type(VT t) {
  switch (t) {
    case VT::UINT8:
    case VT::INT8:
    case VT::UINT16:
    case VT::INT16:
    case VT::UINT32:
    case VT::INT32:
    case VT::UINT64:
    case VT::INT64:
      return true;
    default:
      return false;
  }
}

bool is_float_type(VT t) {
  return t == VT::FLOAT32 || t == VT::FLOAT64;
}

// Bounds-checked little-endian reads from the mapping. Every read names what it
// reads and the byte offset where it starts when it fails.
class Reader {
 public:
  Reader(const std::string& path, const std::byte* data, std::uint64_t size)
      : path_(path), data_(data), size_(size) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(std::uint64_t offset, const std::string& field,
                         const std::string& message) const {
    throw Error(at(path_, field, offset), message);
  }

  void need(std::uint64_t n, std::string_view what, const std::string& field) const {
    if (remaining() < n)
      fail(pos_, field,
           "unexpected end of file reading " + std::string(what) + " (needs " + std::to_string(n) +
               " bytes, " + std::to_string(remaining()) + " left of " + std::to_string(size_) +
               ")");
  }

  template <class T>
  T read(std::string_view what, const std::string& field) {
    need(sizeof(T), what, field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what, const std::string& field) {
    const std::uint64_t at = pos_;
    const auto len = read<std::uint64_t>(std::string(what) + " length", field);
    if (len > remaining())
      fail(at, field,
           std::string(what) + " length " + std::to_string(len) +
               " runs past the end of the file (" + std::to_string(remaining()) + " bytes left)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const std::string& path_;
  const std::byte* data_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
};

class ValueParser {
 public:
  explicit ValueParser(Reader& r) : r_(r) {}

  GgufValue parse(VT type, const std::string& key, int depth) {
    GgufValue v;
    v.type = type;
    v.offset = r_.pos();
    switch (type) {
      case VT::UINT8:
        v.scalar = std::uint64_t{r_.read<std::uint8_t>("UINT8 value", key)};
        break;
      case VT::INT8:
        v.scalar = std::int64_t{r_.read<std::int8_t>("INT8 value", key)};
        break;
      case VT::UINT16:
        v.scalar = std::uint64_t{r_.read<std::uint16_t>("UINT16 value", key)};
        break;
      case VT::INT16:
        v.scalar = std::int64_t{r_.read<std::int16_t>("INT16 value", key)};
        break;
      case VT::UINT32:
        v.scalar = std::uint64_t{r_.read<std::uint32_t>("UINT32 value", key)};
        break;
      case VT::INT32:
        v.scalar = std::int64_t{r_.read<std::int32_t>("INT32 value", key)};
        break;
      case VT::UINT64:
        v.scalar = r_.read<std::uint64_t>("UINT64 value", key);
        break;
      case VT::INT64:
        v.scalar = r_.read<std::int64_t>("INT64 value", key);
        break;
      case VT::FLOAT32:
        v.scalar = double{r_.read<float>("FLOAT32 value", key)};
        break;
      case VT::FLOAT64:
        v.scalar = r_.read<double>("FLOAT64 value", key);
        break;
      case VT::BOOL: {
        const auto b = r_.read<std::uint8_t>("BOOL value", key);
        if (b > 1)
          r_.fail(v.offset, key, "BOOL value is " + std::to_string(b) + ", expected 0 or 1");
        v.scalar = b == 1;
        break;
      }
      case VT::STRING:
        v.scalar = r_.read_string("string", key);
        break;
      case VT::ARRAY:
        parse_array(v, key, depth);
        break;
    }
    return v;
  }

 private:
  void parse_array(GgufValue& v, const std::string& key, int depth) {
    if (depth >= kMaxArrayDepth)
      r_.fail(v.offset, key,
              "arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
    const auto et = r_.read<std::uint32_t>("array element type", key);
    if (!is_known_value_type(et))
      r_.fail(v.offset, key, "unknown array element type " + std::to_string(et));
    v.element_type = static_cast<VT>(et);
    const std::uint64_t count_at = r_.pos();
    const auto count = r_.read<std::uint64_t>("array count", key);
    const std::uint64_t min_size = min_value_size(v.element_type);
    if (count > r_.remaining() / min_size)
      r_.fail(count_at, key,
              "array count " + std::to_string(count) + " of " +
                  std::string(gguf_type_name(v.element_type)) + " needs at least " +
                  (count > std::numeric_limits<std::uint64_t>::max() / min_size
                       ? std::string("more than 2^64")
                       : std::to_string(count * min_size)) +
                  " bytes, but only " + std::to_string(r_.remaining()) + " are left in the file");
    if (count > kMaxArrayElementsTotal - elements_total_)
      r_.fail(count_at, key,
              "array count " + std::to_string(count) +
                  " exceeds the limit on metadata array elements (" +
                  std::to_string(kMaxArrayElementsTotal) + " in all)");
    elements_total_ += count;
    v.elements.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i)
      v.elements.push_back(parse(v.element_type, key, depth + 1));
  }

  Reader& r_;
  std::uint64_t elements_total_ = 0;
};

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) {
  const std::uint64_t rem = x % a;
  return rem == 0 ? x : x + (a - rem);  // callers keep x far below 2^64
}

// A tensor as described in the directory, before its data is located.
struct RawTensor {
  std::uint64_t info_offset;   // where its name starts
  std::uint64_t offset_field;  // where its data offset field starts
  std::uint64_t dims_field;    // where ne[0] starts
  std::uint64_t data_rel;      // offset relative to the data section
  std::uint64_t nbytes;
};

}  // namespace

std::string_view gguf_type_name(GgufValue::Type t) {
  switch (t) {
    case VT::UINT8:
      return "UINT8";
    case VT::INT8:
      return "INT8";
    case VT::UINT16:
      return "UINT16";
    case VT::INT16:
      return "INT16";
    case VT::UINT32:
      return "UINT32";
    case VT::INT32:
      return "INT32";
    case VT::FLOAT32:
      return "FLOAT32";
    case VT::BOOL:
      return "BOOL";
    case VT::STRING:
      return "STRING";
    case VT::ARRAY:
      return "ARRAY";
    case VT::UINT64:
      return "UINT64";
    case VT::INT64:
      return "INT64";
    case VT::FLOAT64:
      return "FLOAT64";
  }
  return "unknown";
}

GgufFile::GgufFile(const std::string& path) : file_(path) {
  const std::string& p = file_.path();
  Reader r(p, file_.data(), file_.size());

  // --- header ---------------------------------------------------------------
  if (file_.size() < 4)
    r.fail(0, "", "file is too short to be GGUF (" + std::to_string(file_.size()) + " bytes)");
  const auto magic = r.read<std::uint32_t>("magic", "");
  if (magic != kMagic) {
    char m[4];
    std::memcpy(m, &magic, 4);
    std::string shown;
    for (char c : m)
      shown += (c >= 32 && c < 127) ? std::string(1, c) : "?";
    r.fail(0, "", "not a GGUF file: magic is '" + shown + "', expected 'GGUF'");
  }
  version_ = r.read<std::uint32_t>("version", "version");
  if (version_ == 1)
    r.fail(4, "version",
           "GGUF version 1 is not supported (it used 32-bit counts and lengths); convert the "
           "file to version 3 with a current llama.cpp or gguf-py");
  if (version_ == 0x02000000u || version_ == 0x03000000u)
    r.fail(4, "version", "big-endian GGUF files are not supported");
  if (version_ != 2 && version_ != 3)
    r.fail(4, "version",
           "unsupported GGUF version " + std::to_string(version_) + " (supported: 2 and 3)");
  const std::uint64_t n_tensors_at = r.pos();
  const auto n_tensors = r.read<std::uint64_t>("tensor count", "tensor_count");
  const std::uint64_t n_kv_at = r.pos();
  const auto n_kv = r.read<std::uint64_t>("metadata count", "metadata_kv_count");
  // A key/value pair takes at least 8 (key length) + 4 (type) + 1 (value) bytes.
  if (n_kv > r.remaining() / 13)
    r.fail(n_kv_at, "metadata_kv_count",
           "metadata count " + std::to_string(n_kv) + " cannot fit in the " +
               std::to_string(r.remaining()) + " bytes left in the file");

  // --- metadata ---------------------------------------------------------------
  ValueParser values(r);
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::uint64_t key_at = r.pos();
    std::string key = r.read_string("metadata key", "metadata[" + std::to_string(i) + "]");
    if (metadata_.count(key) != 0) r.fail(key_at, key, "duplicate metadata key");
    const std::uint64_t type_at = r.pos();
    const auto type = r.read<std::uint32_t>("metadata value type", key);
    if (!is_known_value_type(type))
      r.fail(type_at, key, "unknown metadata value type " + std::to_string(type));
    GgufValue v = values.parse(static_cast<VT>(type), key, 0);
    metadata_.emplace(std::move(key), std::move(v));
  }

  if (auto it = metadata_.find("general.alignment"); it != metadata_.end()) {
    const GgufValue& v = it->second;
    if (!is_integer_type(v.type))
      r.fail(v.offset, it->first,
             "general.alignment must be an integer, found " + std::string(gguf_type_name(v.type)));
    const std::int64_t a = get_int(it->first);
    if (a <= 0 || static_cast<std::uint64_t>(a) > kMaxAlignment ||
        !std::has_single_bit(static_cast<std::uint64_t>(a)))
      r.fail(v.offset, it->first,
             "general.alignment is " + std::to_string(a) +
                 "; it must be a power of two no larger than 2^30");
    alignment_ = static_cast<std::uint64_t>(a);
  } else {
    alignment_ = kDefaultAlignment;
  }

  // --- tensor directory -------------------------------------------------------------
  // A tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  if (n_tensors > r.remaining() / 24)
    r.fail(n_tensors_at, "tensor_count",
           "tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
               std::to_string(r.remaining()) + " bytes left in the file");
  tensors_.reserve(static_cast<std::size_t>(n_tensors));
  std::vector<RawTensor> raw;
  raw.reserve(static_cast<std::size_t>(n_tensors));
  std::unordered_set<std::string> names;
  names.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    RawTensor rt{};
    rt.info_offset = r.pos();
    TensorInfo t;
    t.name = r.read_string("tensor name", "tensors[" + std::to_string(i) + "]");
    if (!names.insert(t.name).second) r.fail(rt.info_offset, t.name, "duplicate tensor name");
    const std::uint64_t ndims_at = r.pos();
    const auto n_dims = r.read<std::uint32_t>("tensor n_dims", t.name);
    if (n_dims > kMaxDims)
      r.fail(ndims_at, t.name,
             "tensor has " + std::to_string(n_dims) + " dimensions; GGUF allows at most " +
                 std::to_string(kMaxDims));
    rt.dims_field = r.pos();
    std::uint64_t ne[kMaxDims] = {1, 1, 1, 1};
    std::int64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::uint64_t dim_at = r.pos();
      ne[d] = r.read<std::uint64_t>("tensor dimension", t.name);
      if (ne[d] == 0 ||
          ne[d] > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        r.fail(dim_at, t.name,
               "tensor dimension " + std::to_string(d) + " is " +
                   std::to_string(static_cast<std::int64_t>(ne[d])) + "; it must be positive");
      if (__builtin_mul_overflow(numel, static_cast<std::int64_t>(ne[d]), &numel))
        r.fail(dim_at, t.name, "tensor element count overflows 64 bits");
    }
    const std::uint64_t type_at = r.pos();
    const auto type_id = r.read<std::uint32_t>("tensor type", t.name);
    const GgmlType* gt = find_ggml_type(type_id);
    if (gt == nullptr)
      r.fail(type_at, t.name, "unknown ggml tensor type " + std::to_string(type_id));
    if (!gt->supported)
      r.fail(type_at, t.name,
             "ggml tensor type " + std::string(gt->name) + " (" + std::to_string(type_id) +
                 ") is not supported by clrp");
    t.dtype = gt->dtype;
    const std::int64_t block = dtype_block_elements(t.dtype);
    if (static_cast<std::int64_t>(ne[0]) % block != 0)
      r.fail(rt.dims_field, t.name,
             "innermost dimension " + std::to_string(ne[0]) + " of a " + std::string(gt->name) +
                 " tensor is not a multiple of its block size " + std::to_string(block));
    std::int64_t nbytes = 0;
    if (__builtin_mul_overflow(numel / block, dtype_block_bytes(t.dtype), &nbytes))
      r.fail(rt.dims_field, t.name, "tensor byte size overflows 64 bits");
    rt.nbytes = static_cast<std::uint64_t>(nbytes);
    rt.offset_field = r.pos();
    rt.data_rel = r.read<std::uint64_t>("tensor data offset", t.name);
    // GGUF's ne[] is innermost first; clrp's shapes are outermost first.
    t.shape.resize(n_dims);
    for (std::uint32_t d = 0; d < n_dims; ++d)
      t.shape[n_dims - 1 - d] = static_cast<std::int64_t>(ne[d]);
    t.nbytes = rt.nbytes;
    t.file = p;
    tensors_.push_back(std::move(t));
    raw.push_back(rt);
  }

  // --- tensor data --------------------------------------------------------------
  // As llama.cpp's gguf_init_from_file_impl: in directory order, each tensor's
  // data starts where the previous one's ended, padded to the alignment, the
  // first at 0. So every offset is aligned, no two tensors share a byte, and no
  // unreferenced bytes hide between them. Each tensor must also lie inside the
  // file (llama.cpp's model loader checks that per tensor).
  data_offset_ = align_up(r.pos(), alignment_);
  const std::uint64_t file_size = file_.size();
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    TensorInfo& t = tensors_[i];
    const RawTensor& rt = raw[i];
    if (rt.data_rel % alignment_ != 0)
      r.fail(rt.offset_field, t.name,
             "tensor data offset " + std::to_string(rt.data_rel) +
                 " is not a multiple of the alignment " + std::to_string(alignment_));
    const bool inside = data_offset_ <= file_size && rt.data_rel <= file_size - data_offset_ &&
                        rt.nbytes <= file_size - data_offset_ - rt.data_rel;
    if (!inside)
      r.fail(rt.offset_field, t.name,
             "tensor data (offset " + std::to_string(rt.data_rel) +
                 " in the data section at byte " + std::to_string(data_offset_) + ", " +
                 std::to_string(rt.nbytes) + " bytes) runs past the end of the file (" +
                 std::to_string(file_size) + " bytes)");
    if (rt.data_rel != expected)
      r.fail(rt.offset_field, t.name,
             "tensor data offset " + std::to_string(rt.data_rel) + " should be " +
                 std::to_string(expected) + ": " +
                 (i == 0 ? std::string("the first tensor's data starts the data section")
                         : "tensor '" + tensors_[i - 1].name +
                               "' before it in the directory "
                               "has its data at " +
                               std::to_string(raw[i - 1].data_rel) + ", " +
                               std::to_string(raw[i - 1].nbytes) +
                               " bytes padded to the alignment " + std::to_string(alignment_)) +
                 " (llama.cpp requires the tensors' data to follow one another in directory "
                 "order, without gaps or overlaps)");
    // Inside the file, so neither sum can overflow.
    expected = align_up(rt.data_rel + rt.nbytes, alignment_);
    t.file_offset = data_offset_ + rt.data_rel;
    t.data = file_.data() + t.file_offset;
  }
}

const GgufValue& GgufFile::require_key(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) throw Error(at(path(), key), "metadata key is missing");
  return it->second;
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const GgufValue& v,
                             std::string_view expected) {
  std::string found(gguf_type_name(v.type));
  if (v.type == VT::ARRAY) found += " of " + std::string(gguf_type_name(v.element_type));
  throw Error(at(path, key, v.offset),
              "metadata value has type " + found + ", expected " + std::string(expected));
}

std::int64_t as_int(const std::string& path, const std::string& key, const GgufValue& v) {
  if (const auto* u = std::get_if<std::uint64_t>(&v.scalar)) {
    if (*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw Error(at(path, key, v.offset),
                  "metadata value " + std::to_string(*u) + " does not fit a signed 64-bit integer");
    return static_cast<std::int64_t>(*u);
  }
  return std::get<std::int64_t>(v.scalar);
}

double as_float(const GgufValue& v) {
  if (const auto* d = std::get_if<double>(&v.scalar)) return *d;
  if (const auto* u = std::get_if<std::uint64_t>(&v.scalar)) return static_cast<double>(*u);
  return static_cast<double>(std::get<std::int64_t>(v.scalar));
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (v.type != VT::STRING) wrong_type(path(), key, v, "STRING");
  return std::get<std::string>(v.scalar);
}

std::int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (!is_integer_type(v.type)) wrong_type(path(), key, v, "an integer");
  return as_int(path(), key, v);
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (!is_float_type(v.type) && !is_integer_type(v.type)) wrong_type(path(), key, v, "a number");
  return as_float(v);
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (v.type != VT::BOOL) wrong_type(path(), key, v, "BOOL");
  return std::get<bool>(v.scalar);
}

std::optional<std::int64_t> GgufFile::get_int_opt(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_float(key);
}

std::optional<std::string> GgufFile::get_string_opt(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_string(key);
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (v.type != VT::ARRAY || v.element_type != VT::STRING)
    wrong_type(path(), key, v, "ARRAY of STRING");
  std::vector<std::string> out;
  out.reserve(v.elements.size());
  for (const auto& e : v.elements)
    out.push_back(std::get<std::string>(e.scalar));
  return out;
}

std::vector<std::int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (v.type != VT::ARRAY || !is_integer_type(v.element_type))
    wrong_type(path(), key, v, "ARRAY of integers");
  std::vector<std::int64_t> out;
  out.reserve(v.elements.size());
  for (const auto& e : v.elements)
    out.push_back(as_int(path(), key, e));
  return out;
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  const GgufValue& v = require_key(key);
  if (v.type != VT::ARRAY || !(is_float_type(v.element_type) || is_integer_type(v.element_type)))
    wrong_type(path(), key, v, "ARRAY of numbers");
  std::vector<double> out;
  out.reserve(v.elements.size());
  for (const auto& e : v.elements)
    out.push_back(as_float(e));
  return out;
}

}  // namespace clrp::io
