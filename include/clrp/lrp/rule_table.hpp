// The table of LRP rules: each rule as data (what it does wherever it differs
// from the plain gradient), a cheap handle on it, and its names.
//
// Torch-free on purpose: a campaign spec, the command line and the messages
// between ranks name rules without compute, and the spec's fuzzer compiles
// this file without libtorch. The backward primitives that read a
// description are in rules.hpp; what the rules are and why: docs/lrp.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace clrp::lrp {

/// Shares of the plain gradient that the factors of a product take. A share
/// of ½ each is LRP's uniform rule on a product (the relevance x·y·g splits
/// evenly); 1 is the plain gradient; 0 holds the factor constant.
struct AttentionShares {
  double q = 1, k = 1;  ///< the scores S = Q·Kᵀ·scale (through the softmax)
  double v = 1;         ///< the output O = P·V
};
struct GatedShares {
  double gate = 1, up = 1;  ///< the gated MLP's act(gate) ⊙ up
};

/// What a rule does, everywhere it differs from the plain gradient.
struct RuleDescription {
  /// Parsed, printed, and written into stores and graphs: never rename one.
  std::string name;
  std::string summary;  ///< one line, for help texts
  AttentionShares attention;
  GatedShares gated;
  /// Norms' normalising factors are constants (LRP: the norm is linear and
  /// conserves); false: they take their full gradient (gradient × input).
  bool constant_norms = true;
  /// Elementwise activations pass relevance unchanged (identity rule); false:
  /// their plain derivative.
  bool identity_activations = true;
  /// The rule is linear in the layer input with every attention pattern held
  /// fixed, so the graph builder may compute an attention transition's edges
  /// in closed form (graph/attention_edges.hpp) from `attention`'s shares;
  /// otherwise it runs one backward per target.
  bool structured_graph = true;
};

/// A rule: a handle on one entry of the table of rules. Cheap to copy and
/// compare; its description says what it does.
class Rule {
 public:
  static const Rule AttnLRP;     ///< AttnLRP (Achtibat et al. 2024) as LXT's efficient mode
  static const Rule CPLRP;       ///< CP-LRP: queries, keys and the MLP gate held constant
  static const Rule GradXInput;  ///< plain gradient × input (the baseline)

  constexpr Rule() = default;  ///< AttnLRP
  /// Position in the table: the built-in rules first, then registered ones.
  constexpr std::size_t index() const { return index_; }
  friend constexpr bool operator==(const Rule&, const Rule&) = default;

  /// Boost.Serialization (messages between ranks): the table index, which is
  /// the same on every rank as long as they register the same rules in order.
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& index_;
  }

 private:
  constexpr explicit Rule(std::uint16_t index) : index_(index) {}
  friend Rule register_rule(RuleDescription description);
  friend std::vector<Rule> all_rules();
  std::uint16_t index_ = 0;
};

inline constexpr Rule Rule::AttnLRP{0};
inline constexpr Rule Rule::CPLRP{1};
inline constexpr Rule Rule::GradXInput{2};

/// What `rule` does. The reference stays valid for the whole run.
const RuleDescription& describe(Rule rule);
/// Every rule of the table, built-in ones first.
std::vector<Rule> all_rules();
/// Their names, in table order (for a command line's choices).
std::vector<std::string> rule_names();
/// The names as prose: "attnlrp, cp-lrp or grad-x-input".
std::string rule_choices();

const char* to_string(Rule r);
/// Parses a rule's name; throws clrp::Error listing the choices otherwise.
Rule parse_rule(const std::string& name);

/// Adds a rule to the table and returns it. For tests and experiments: a rule
/// meant to stay belongs in the table of rule_table.cpp. Throws clrp::Error on an
/// empty or taken name. Not thread-safe: register before any rule is used.
Rule register_rule(RuleDescription description);

}  // namespace clrp::lrp
