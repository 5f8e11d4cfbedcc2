// Tensors as they lie in model files, before any compute library sees them.
//
// io/ deliberately knows nothing of libtorch: parsers describe tensors (name,
// storage type, shape, where the bytes are) and convert them to float32 on
// request. model/ turns them into compute tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace clrp::io {

/// Storage types found in safetensors and GGUF files.
enum class DType : std::uint8_t {
  F32,
  F16,
  BF16,
  F64,
  I8,
  I16,
  I32,
  I64,
  U8,
  BOOL,
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
};

std::string_view dtype_name(DType t);

/// Elements per quantisation block (1 for plain types).
std::int64_t dtype_block_elements(DType t);
/// Bytes per block (bytes per element for plain types).
std::int64_t dtype_block_bytes(DType t);
/// True for the float types clrp can convert to float32 (incl. quantised ones).
bool dtype_is_float_convertible(DType t);

/// One tensor inside a mapped file.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  /// Row-major shape, outermost first (PyTorch/Hugging Face order; GGUF's
  /// reversed `ne` is turned around by its parser).
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;  ///< first byte, inside a mapping that the source owns
  std::uint64_t nbytes = 0;
  std::string file;               ///< file the bytes live in
  std::uint64_t file_offset = 0;  ///< absolute byte offset of `data` in `file`

  std::int64_t numel() const;
};

/// Converts `n` elements of type `t` (whole blocks for quantised types) to float32.
/// `src` must hold n / block_elements * block_bytes bytes.
void convert_to_f32(DType t, const std::byte* src, float* dst, std::int64_t n);

/// Converts IEEE half and bfloat16 bit patterns to float.
float half_to_float(std::uint16_t h);
float bf16_to_float(std::uint16_t b);

/// A set of named tensors (one safetensors file, a sharded checkpoint, a GGUF file).
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  /// Files the tensors come from, for messages and `model-info`.
  virtual std::vector<std::string> files() const = 0;

  /// nullptr when absent.
  const TensorInfo* find(std::string_view name) const;
  /// Throws clrp::Error naming the source when absent.
  const TensorInfo& get(std::string_view name) const;
  /// The whole tensor as float32 (dequantised when needed).
  std::vector<float> read_f32(const TensorInfo& t) const;
  void read_f32(const TensorInfo& t, std::span<float> out) const;
  /// Same, converted in cache-sized chunks, each checked for NaN and infinity
  /// while it is still in cache. Returns the index of the first non-finite
  /// value (the rest of `out` then unspecified), or numel() when all are finite.
  std::int64_t read_f32_finite(const TensorInfo& t, std::span<float> out) const;
};

}  // namespace clrp::io
