// The recorded fields of an lrp::Explanation as JSON ({"shape", "data"} per
// tensor, null when not recorded), for the test tools' outputs.
#pragma once

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "clrp/lrp/engine.hpp"

namespace clrp::test_tools {

inline nlohmann::json tensor_json(const at::Tensor& t) {
  if (!t.defined()) return nullptr;
  const at::Tensor c = t.to(at::kDouble).contiguous();
  std::vector<double> flat(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return {{"shape", t.sizes().vec()}, {"data", flat}};
}

inline nlohmann::json explanation_json(const lrp::Explanation& ex) {
  return {{"target", tensor_json(ex.target)},
          {"token_relevance", tensor_json(ex.token_relevance)},
          {"mid_relevance", tensor_json(ex.mid_relevance)},
          {"layer_relevance", tensor_json(ex.layer_relevance)},
          {"head_relevance", tensor_json(ex.head_relevance)},
          {"neuron_ids", tensor_json(ex.neuron_ids)},
          {"neuron_relevance", tensor_json(ex.neuron_relevance)},
          {"bias_absorbed", tensor_json(ex.bias_absorbed)},
          {"head_bias_absorbed", tensor_json(ex.head_bias_absorbed)},
          {"position_relevance", tensor_json(ex.position_relevance)}};
}

}  // namespace clrp::test_tools
