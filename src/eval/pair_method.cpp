#include "clrp/eval/pair_method.hpp"

namespace clrp::eval {

const char* to_string(GenerativePairs p) {
  switch (p) {
    case GenerativePairs::automatic:
      return "auto";
    case GenerativePairs::divergence:
      return "divergence";
    case GenerativePairs::counterfactual:
      return "counterfactual";
  }
  return "?";
}

std::optional<GenerativePairs> parse_generative_pairs(const std::string& text) {
  for (auto p :
       {GenerativePairs::automatic, GenerativePairs::divergence, GenerativePairs::counterfactual})
    if (text == to_string(p)) return p;
  return std::nullopt;
}

}  // namespace clrp::eval
