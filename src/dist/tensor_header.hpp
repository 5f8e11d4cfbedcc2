// The small MPI message that precedes every tensor between stages: its dtype
// and shape, so a receiver needs to know only whom it receives from (private
// to the transports).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "clrp/util/error.hpp"

namespace clrp::dist {

inline constexpr int kMaxTensorDims = 8;
using TensorHeader = std::array<std::int64_t, 2 + kMaxTensorDims>;  // dtype, rank, sizes

inline TensorHeader header_of(const at::Tensor& t) {
  require(t.dim() <= kMaxTensorDims, Where{"transport"}, "tensor of more than 8 dimensions");
  TensorHeader h{};
  h[0] = static_cast<std::int64_t>(t.scalar_type());
  h[1] = t.dim();
  for (int d = 0; d < t.dim(); ++d)
    h[2 + d] = t.size(d);
  return h;
}

/// An uninitialised tensor of the header's dtype and shape.
inline at::Tensor empty_like_header(const TensorHeader& h, const at::TensorOptions& options) {
  require(h[1] >= 0 && h[1] <= kMaxTensorDims, Where{"transport"}, "malformed tensor header");
  const std::vector<std::int64_t> sizes(h.begin() + 2, h.begin() + 2 + h[1]);
  return at::empty(sizes, options.dtype(static_cast<at::ScalarType>(h[0])));
}

}  // namespace clrp::dist
