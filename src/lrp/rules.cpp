#include "clrp/lrp/rules.hpp"

#include <ATen/ATen.h>

#include <deque>
#include <stdexcept>
#include <string>

#include "clrp/util/error.hpp"

namespace clrp::lrp {

namespace {

// The table of rules: what each rule does, written once. The shares follow
// LRP's uniform rule on a product of two activations (½ to each factor):
// AttnLRP applies it to both of attention's products, so v gets ½ and q, k
// get ½·½ = ¼ (S = Q·Kᵀ sits inside P); CP-LRP holds the attention pattern
// and the MLP gate constant, so v and up take the whole gradient.
struct Entry {
  Rule rule;
  RuleDescription description;
};
const Entry kBuiltIn[] = {
    {Rule::AttnLRP,
     {.name = "attnlrp",
      .summary = "AttnLRP (Achtibat et al. 2024), as LXT's efficient mode",
      .attention = {.q = 0.25, .k = 0.25, .v = 0.5},
      .gated = {.gate = 0.5, .up = 0.5},
      .constant_norms = true,
      .identity_activations = true,
      .structured_graph = true}},
    {Rule::CPLRP,
     {.name = "cp-lrp",
      .summary = "CP-LRP: the attention pattern and the MLP gate held constant",
      .attention = {.q = 0, .k = 0, .v = 1},
      .gated = {.gate = 0, .up = 1},
      .constant_norms = true,
      .identity_activations = true,
      .structured_graph = true}},
    {Rule::GradXInput,
     {.name = "grad-x-input",
      .summary = "plain gradient × input: an ordinary forward and backward (the baseline)",
      .attention = {.q = 1, .k = 1, .v = 1},
      .gated = {.gate = 1, .up = 1},
      .constant_norms = false,
      .identity_activations = false,
      .structured_graph = false}},
};

// The built-in rules, then registered ones. A deque: describe() hands out
// references that registering a rule must not invalidate.
std::deque<RuleDescription>& table() {
  static std::deque<RuleDescription> rules = [] {
    std::deque<RuleDescription> out;
    for (const Entry& e : kBuiltIn) {
      if (e.rule.index() != out.size())
        throw std::logic_error("the table of rules is out of order at " + e.description.name);
      out.push_back(e.description);
    }
    return out;
  }();
  return rules;
}

}  // namespace

const RuleDescription& describe(Rule rule) {
  const auto& rules = table();
  if (rule.index() >= rules.size())
    throw Error("rule #" + std::to_string(rule.index()) + " is not in the table of rules");
  return rules[rule.index()];
}

std::vector<Rule> all_rules() {
  std::vector<Rule> out;
  for (std::size_t i = 0; i < table().size(); ++i)
    out.push_back(Rule(static_cast<std::uint16_t>(i)));
  return out;
}

std::vector<std::string> rule_names() {
  std::vector<std::string> out;
  for (const RuleDescription& d : table())
    out.push_back(d.name);
  return out;
}

std::string rule_choices() {
  const std::vector<std::string> names = rule_names();
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

const char* to_string(Rule r) {
  return describe(r).name.c_str();
}

Rule parse_rule(const std::string& name) {
  for (Rule r : all_rules())
    if (describe(r).name == name) return r;
  throw Error("unknown rule '" + name + "' (expected " + rule_choices() + ")");
}

Rule register_rule(RuleDescription description) {
  if (description.name.empty()) throw Error("a rule needs a name");
  for (const RuleDescription& d : table())
    if (d.name == description.name) throw Error("a rule named '" + d.name + "' exists already");
  if (description.structured_graph && !description.constant_norms)
    throw Error("rule '" + description.name +
                "': the graph's closed form needs constant norms (a linear rule)");
  auto& rules = table();
  rules.push_back(std::move(description));
  return Rule(static_cast<std::uint16_t>(rules.size() - 1));
}

at::Tensor share_of(const at::Tensor& g, double share) {
  if (share == 1) return g;
  if (share == 0) return at::zeros_like(g);
  return g * share;
}

at::Tensor identity_rule(const at::Tensor& g_y, const at::Tensor& x, const at::Tensor& y) {
  return g_y * (y / (x + kIdentityRuleEps));
}

at::Tensor rmsnorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& r) {
  const at::Tensor wg = g_y * weight;
  if (describe(rule).constant_norms) return wg * r;
  return wg * r - x * r.pow(3) * (x * wg).mean(-1, true);
}

at::Tensor layernorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                              const at::Tensor& weight, const at::Tensor& r) {
  const at::Tensor wg = g_y * weight;
  if (describe(rule).constant_norms) {
    const at::Tensor u = wg * r;
    return u - u.mean(-1, true);
  }
  const at::Tensor x_hat = (x - x.mean(-1, true)) * r;
  return r * (wg - wg.mean(-1, true) - x_hat * (wg * x_hat).mean(-1, true));
}

at::Tensor softmax_backward(const at::Tensor& g_p, const at::Tensor& p) {
  return p * (g_p - (g_p * p).sum(-1, true));
}

at::Tensor rotary_backward(const at::Tensor& g_y, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t rd = cos.size(-1), hd = g_y.size(-1);
  const at::Tensor gr = rd == hd ? g_y : g_y.narrow(-1, 0, rd);
  const at::Tensor gs = gr * sin;
  const at::Tensor back =
      at::cat({gs.narrow(-1, rd / 2, rd / 2), -gs.narrow(-1, 0, rd / 2)}, -1);  // rotᵀ(g·sin)
  const at::Tensor out = gr * cos + back;
  return rd == hd ? out : at::cat({out, g_y.narrow(-1, rd, hd - rd)}, -1);
}

}  // namespace clrp::lrp
