#include "clrp/dist/tensor_blob.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "clrp/util/error.hpp"

namespace clrp::dist {

TensorBlob to_blob(const at::Tensor& t) {
  TensorBlob b;
  if (!t.defined()) return b;
  const at::Tensor c = t.to(at::kCPU).contiguous();
  b.defined = true;
  b.dtype = static_cast<int>(c.scalar_type());
  b.sizes = c.sizes().vec();
  const auto* p = static_cast<const char*>(c.data_ptr());
  b.bytes.assign(p, p + c.nbytes());
  return b;
}

at::Tensor from_blob(const TensorBlob& b) {
  if (!b.defined) return {};
  at::Tensor t =
      at::empty(b.sizes, at::TensorOptions().dtype(static_cast<at::ScalarType>(b.dtype)));
  if (t.nbytes() != b.bytes.size())
    throw Error("tensor message: " + std::to_string(b.bytes.size()) + " bytes for " +
                std::to_string(t.nbytes()) + " expected");
  if (!b.bytes.empty()) std::memcpy(t.data_ptr(), b.bytes.data(), b.bytes.size());
  return t;
}

}  // namespace clrp::dist
