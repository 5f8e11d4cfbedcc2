// A residual-stream state set to zero inside a forward pass: the one
// intervention a graph test makes (graph/interventions.hpp). A light header:
// the value inputs of lrp/faithfulness.hpp carry these without the model.
#pragma once

#include <cstdint>
#include <tuple>

namespace clrp::model {

/// Where the residual stream is read between a model's operations: the
/// embedding output, the state after a layer's attention block ("mid";
/// sequential families only) and a layer's output. Attribution graphs put
/// their nodes there (graph/graph.hpp).
enum class StatePoint : std::int8_t { Embedding, Mid, Out };

/// A residual-stream state set to zero in a forward: how graph interventions
/// (graph/interventions.hpp) ablate a node. The model computes on from the
/// zeroed state: every layer above reads it. Only the embedding output and
/// layer outputs are zeroed: zeroing a mid state is, under RMSNorm and a
/// bias-free MLP (every sequential family but GPT-2), zeroing the layer's
/// output, so it would repeat that intervention.
struct ZeroedState {
  StatePoint point = StatePoint::Out;
  std::int64_t layer = 0;  ///< the decoder layer (0 for the embedding)
  std::int64_t row = 0;    ///< the token row of the forward (packed: counted across sequences)

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    int p = static_cast<int>(point);
    ar& p& layer& row;
    point = static_cast<StatePoint>(p);
  }
  bool operator==(const ZeroedState&) const = default;
  bool operator<(const ZeroedState& o) const {
    return std::tie(point, layer, row) < std::tie(o.point, o.layer, o.row);
  }
};

}  // namespace clrp::model
