// The LRP rules as data, and the few backward primitives where rules differ.
//
// Relevance of a state h is h ⊙ g, where g is a *modified* gradient: the
// backward of every op is the plain gradient except where a rule says
// otherwise. Following LXT's efficient mode, a rule differs from the plain
// gradient in three places only, and a RuleDescription says what it does in
// each:
//   - products of two activations (attention's Q·Kᵀ and P·V, the gated MLP's
//     act(gate) ⊙ up): each factor takes a share of the plain gradient;
//   - norms: their normalising factor is a constant (LRP), or takes its full
//     gradient (gradient × input);
//   - elementwise activations: the identity rule, or the plain derivative.
// The engine (engine.hpp) and the attribution-graph builder read only the
// description, so adding a rule is one entry in the table of rules.cpp (or,
// in tests, one register_rule call) plus its tests. Derivations: docs/lrp.md.
//
// Tensors: gradients carry a leading batch of seeds [B, ...]; forward
// activations have batch 1 and broadcast against them.
#pragma once

#include <ATen/core/Tensor.h>

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
/// meant to stay belongs in the table of rules.cpp. Throws clrp::Error on an
/// empty or taken name. Not thread-safe: register before any rule is used.
Rule register_rule(RuleDescription description);

/// The share `share` of a gradient: g·share, exactly g for 1 and zeros for 0
/// (a factor held constant takes nothing, not even the NaN of 0·∞).
at::Tensor share_of(const at::Tensor& g, double share);

/// Stabiliser of the identity rule, as LXT's: act(x) / (x + eps).
inline constexpr double kIdentityRuleEps = 1e-10;

/// Identity rule for an elementwise activation y = act(x):
///   g_x = g_y · act(x) / (x + ε)
/// i.e. the relevance y·g_y passes to x unchanged (x·g_x = y·g_y up to ε).
at::Tensor identity_rule(const at::Tensor& g_y, const at::Tensor& x, const at::Tensor& y);

/// RMSNorm y = w ⊙ x · r with r = rsqrt(mean(x²) + eps).
/// Constant norms (the LRP rules): r is a constant, so g_x = r · w ⊙ g_y
/// (linear, conservative). Otherwise (grad×input) the full gradient, g_x = r·w⊙g − x·r³·mean(x ⊙ w
/// ⊙ g).
at::Tensor rmsnorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& r);

/// LayerNorm y = w ⊙ (x − mean(x)) · r + b with r = 1/sqrt(var(x) + eps).
/// Constant norms (the LRP rules): r is a constant and the centring stays linear, so
///   g_x = u − mean(u),  u = r · w ⊙ g_y   (the centring's Jacobian is symmetric).
/// Otherwise (grad×input) the full gradient, g_x = r·(u' − mean(u') − x̂·mean(u' ⊙ x̂)), u' = w⊙g, x̂
/// = (x−mean)·r.
at::Tensor layernorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                              const at::Tensor& weight, const at::Tensor& r);

/// Softmax p = softmax(s) along the last axis: plain gradient
///   g_s = p ⊙ (g_p − Σ_j g_p,j p_j).
/// With gradient × input this is the AttnLRP softmax rule (s ⊙ g_s).
at::Tensor softmax_backward(const at::Tensor& g_p, const at::Tensor& p);

/// Inverse of the rotate-half rotary embedding y = x·cos + rot(x)·sin,
/// rot(x) = [−x₂, x₁]: g_x = g·cos + rotᵀ(g·sin), rotᵀ(u) = [u₂, −u₁].
/// Only the first cos.size(-1) features rotate; the rest pass through.
at::Tensor rotary_backward(const at::Tensor& g_y, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace clrp::lrp
