// A CPU tensor as a plain struct for Boost.Serialization messages: dtype,
// sizes and bytes (or "undefined"). For results gathered between ranks;
// hidden states and gradients between stages go through a Transport instead.
#pragma once

#include <ATen/core/Tensor.h>

#include <boost/serialization/split_free.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <vector>

namespace clrp::dist {

struct TensorBlob {
  bool defined = false;
  int dtype = 0;  ///< at::ScalarType
  std::vector<std::int64_t> sizes;
  std::vector<char> bytes;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& defined& dtype& sizes& bytes;
  }
};

/// The tensor's values (copied to the CPU); an undefined tensor stays undefined.
TensorBlob to_blob(const at::Tensor& t);
/// Back to a CPU tensor; throws clrp::Error when the bytes do not fit the sizes.
at::Tensor from_blob(const TensorBlob& b);

}  // namespace clrp::dist

// at::Tensor as a member of a Boost.Serialization message: written as a blob.
namespace boost::serialization {

template <class Archive>
void save(Archive& ar, const at::Tensor& t, unsigned /*version*/) {
  const clrp::dist::TensorBlob b = clrp::dist::to_blob(t);
  ar << b;
}
template <class Archive>
void load(Archive& ar, at::Tensor& t, unsigned /*version*/) {
  clrp::dist::TensorBlob b;
  ar >> b;
  t = clrp::dist::from_blob(b);
}
template <class Archive>
void serialize(Archive& ar, at::Tensor& t, unsigned version) {
  split_free(ar, t, version);
}

}  // namespace boost::serialization
