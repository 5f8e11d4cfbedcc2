#include "clrp/lrp/rule_table.hpp"

#include <deque>
#include <stdexcept>
#include <string>

#include "clrp/util/choices.hpp"
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
  return choices_text(rule_names());
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

}  // namespace clrp::lrp
