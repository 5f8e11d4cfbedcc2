// How a generative failure gets its contrastive pair, as a campaign spec or
// the command line names it. Torch-free, so that a spec is read (and fuzzed)
// without libtorch; the search itself: pairs.hpp and evaluator.hpp.
#pragma once

#include <optional>
#include <string>

namespace clrp::eval {

/// How generative failures get their pair.
enum class GenerativePairs {
  automatic,       ///< gold_divergence for generative, counterfactual for code and instructions
  divergence,      ///< gold_divergence (code: against gold.reference; instructions: none)
  counterfactual,  ///< counterfactual search for all
};

/// "auto", "divergence", "counterfactual".
const char* to_string(GenerativePairs p);
/// The inverse; nullopt for any other text.
std::optional<GenerativePairs> parse_generative_pairs(const std::string& text);

}  // namespace clrp::eval
