#include "clrp/io/tensor.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

#include "clrp/io/dequant.hpp"
#include "clrp/util/error.hpp"

namespace clrp::io {

namespace {
struct DTypeTraits {
  std::string_view name;
  std::int64_t block_elements;
  std::int64_t block_bytes;
  bool float_convertible;
};

// GGML block layouts: see docs/architecture.md (model files) for the byte maps.
constexpr DTypeTraits kTraits[] = {
    {"F32", 1, 4, true},      {"F16", 1, 2, true},      {"BF16", 1, 2, true},
    {"F64", 1, 8, true},      {"I8", 1, 1, false},      {"I16", 1, 2, false},
    {"I32", 1, 4, false},     {"I64", 1, 8, false},     {"U8", 1, 1, false},
    {"BOOL", 1, 1, false},    {"Q4_0", 32, 18, true},   {"Q4_1", 32, 20, true},
    {"Q5_0", 32, 22, true},   {"Q5_1", 32, 24, true},   {"Q8_0", 32, 34, true},
    {"Q2_K", 256, 84, true},  {"Q3_K", 256, 110, true}, {"Q4_K", 256, 144, true},
    {"Q5_K", 256, 176, true}, {"Q6_K", 256, 210, true},
};
static_assert(std::size(kTraits) == static_cast<std::size_t>(DType::Q6_K) + 1,
              "kTraits must have one row per DType, in enum order");
// Where{} built member by member (aggregate init with omitted members trips -Wextra).
Where at(const std::string& file, const std::string& field) {
  Where w;
  w.file = file;
  w.field = field;
  return w;
}

const DTypeTraits& traits(DType t) {
  const auto i = static_cast<std::size_t>(t);
  if (i >= std::size(kTraits)) throw Error("invalid DType value " + std::to_string(i));
  return kTraits[i];
}
}  // namespace

std::string_view dtype_name(DType t) {
  return traits(t).name;
}
std::int64_t dtype_block_elements(DType t) {
  return traits(t).block_elements;
}
std::int64_t dtype_block_bytes(DType t) {
  return traits(t).block_bytes;
}
bool dtype_is_float_convertible(DType t) {
  return traits(t).float_convertible;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape)
    n *= d;
  return n;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal half: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf or nan
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

void convert_to_f32(DType t, const std::byte* src, float* dst, std::int64_t n) {
  if (n < 0) throw Error("convert_to_f32: negative element count " + std::to_string(n));
  if (n == 0) return;
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
      return;
    case DType::F16:
    case DType::BF16: {
      const bool half = t == DType::F16;
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        dst[i] = half ? half_to_float(v) : bf16_to_float(v);
      }
      return;
    }
    case DType::F64:
      for (std::int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      return;
    default:
      if (!dtype_is_float_convertible(t))
        throw Error("cannot convert tensor of type " + std::string(dtype_name(t)) + " to float32");
      dequantize(t, src, dst, n);
  }
}

const TensorInfo* WeightSource::find(std::string_view name) const {
  for (const auto& t : tensors())
    if (t.name == name) return &t;
  return nullptr;
}

const TensorInfo& WeightSource::get(std::string_view name) const {
  if (const auto* t = find(name)) return *t;
  auto fs = files();
  throw Error(at(fs.empty() ? std::string() : fs.front(), std::string(name)),
              "tensor not found in the model files");
}

std::vector<float> WeightSource::read_f32(const TensorInfo& t) const {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  read_f32(t, out);
  return out;
}

namespace {

void check_read_size(const TensorInfo& t, std::span<float> out) {
  if (static_cast<std::int64_t>(out.size()) != t.numel())
    throw Error(at(t.file, t.name), "output buffer size does not match the tensor");
  const std::int64_t block = dtype_block_elements(t.dtype);
  if (t.numel() % block != 0 ||
      t.nbytes != static_cast<std::uint64_t>(t.numel() / block * dtype_block_bytes(t.dtype)))
    throw Error(at(t.file, t.name), "tensor byte size " + std::to_string(t.nbytes) +
                                        " does not match " + std::to_string(t.numel()) +
                                        " elements of " + std::string(dtype_name(t.dtype)));
}

// How many of `n` floats are NaN or infinite (exponent bits all ones). Branch-free
// on the bit patterns, so it does not depend on the floating-point mode; the
// fixed-width inner loop is what GCC vectorises at -O2 (its cheap cost model
// leaves the plain loop scalar, 3x slower).
std::uint32_t count_non_finite(const float* p, std::int64_t n) {
  constexpr std::uint32_t kExponent = 0x7f800000u;
  constexpr int kLanes = 16;
  auto non_finite = [p](std::int64_t i) {
    std::uint32_t bits;
    std::memcpy(&bits, p + i, 4);
    return static_cast<std::uint32_t>((bits & kExponent) == kExponent);
  };
  std::uint32_t lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k)
      lanes[k] += non_finite(i + k);
  std::uint32_t bad = 0;
  for (const std::uint32_t l : lanes)
    bad += l;
  for (; i < n; ++i)
    bad += non_finite(i);
  return bad;
}

}  // namespace

void WeightSource::read_f32(const TensorInfo& t, std::span<float> out) const {
  check_read_size(t, out);
  convert_to_f32(t.dtype, t.data, out.data(), t.numel());
}

std::int64_t WeightSource::read_f32_finite(const TensorInfo& t, std::span<float> out) const {
  check_read_size(t, out);
  // 16K floats (64 KiB) stay in L2 between conversion and check; a multiple of
  // every block size (32 and 256), so chunks start on block boundaries.
  constexpr std::int64_t kChunk = 16384;
  const std::int64_t block = dtype_block_elements(t.dtype);
  const std::int64_t block_bytes = dtype_block_bytes(t.dtype);
  const std::int64_t n = t.numel();
  for (std::int64_t begin = 0; begin < n; begin += kChunk) {
    const std::int64_t count = std::min(kChunk, n - begin);
    float* dst = out.data() + begin;
    convert_to_f32(t.dtype, t.data + begin / block * block_bytes, dst, count);
    if (count_non_finite(dst, count) != 0)
      for (std::int64_t i = 0; i < count; ++i)
        if (!std::isfinite(dst[i])) return begin + i;
  }
  return n;
}

}  // namespace clrp::io
