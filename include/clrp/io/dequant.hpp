// Dequantisation of GGML block formats to float32.
//
// Each format stores its values in fixed-size blocks (32 or 256 elements) with
// per-block scales; the layouts follow the GGUF specification and llama.cpp's
// ggml-quants. `n` must be a multiple of the block size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "clrp/io/tensor.hpp"

namespace clrp::io {

/// Dequantises `n` elements of quantised type `t` from `src` into `dst`.
/// Throws clrp::Error for a type that is not a supported quantised type or a
/// count that is not a whole number of blocks.
void dequantize(DType t, const std::byte* src, float* dst, std::int64_t n);

}  // namespace clrp::io
