// A standalone HTML page for one contrastive explanation: the prompt as
// coloured tokens and a layer × position relevance map. No external assets;
// the page opens offline and from a results folder on a cluster.
//
// Colours follow the reference study: red pushes toward the wrong token,
// blue toward the correct one. Special tokens (BOS and other attention sinks)
// are shown but excluded from the colour scale, which is normalised by the
// largest |relevance| among the remaining tokens.
#pragma once

#include <string>
#include <vector>

namespace clrp::report {

struct TokenScore {
  std::string text;  ///< surface text of the token
  double relevance = 0;
  bool special = false;  ///< kept out of the colour scale (special tokens, attention sinks)
};

struct ContrastToken {
  std::string text;
  double logit = 0;
  double probability = 0;
};

struct ExplainPage {
  std::string title;
  std::string model;
  std::string rule;
  ContrastToken wrong, correct;
  double target = 0;        ///< Δℓ
  double conservation = 0;  ///< relative error of the input-level sum
  std::vector<TokenScore> tokens;
  /// Optional: relevance at the residual stream, [layers][positions].
  std::vector<std::vector<double>> layer_relevance;
  /// Optional: segment name and summed relevance, in prompt order.
  std::vector<std::pair<std::string, double>> segments;
  /// Optional: a sentence under the title (how the explained sequence was formed).
  std::string note;
};

/// Renders the page as one self-contained HTML document.
std::string render_explain_html(const ExplainPage& page);

/// Escapes text for HTML element content and attribute values.
std::string html_escape(const std::string& text);

}  // namespace clrp::report
