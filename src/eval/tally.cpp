#include "clrp/eval/tally.hpp"

#include <algorithm>
#include <cstdio>

namespace clrp::eval {

namespace {
std::string key(const cases::Case& c) {
  return c.benchmark + "/" + std::string(cases::name(c.format));
}
double ratio(std::int64_t a, std::int64_t b) {
  return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
}
constexpr std::size_t kMaxMessages = 20;
}  // namespace

void Tally::add(const cases::Case& c, const Outcome& o) {
  GroupTally& g = groups_[key(c)];
  ++g.cases;
  g.correct += o.correct;
  g.correct_per_char += o.correct_per_char;
  g.prompt_tokens += o.prompt_tokens;
  g.generated_tokens += o.generated_tokens;
  if (o.followed) {
    g.prompts_loose += o.followed->all_loose();
    g.instructions += static_cast<std::int64_t>(o.followed->strict.size());
    g.instructions_strict += std::count(o.followed->strict.begin(), o.followed->strict.end(), true);
    g.instructions_loose += std::count(o.followed->loose.begin(), o.followed->loose.end(), true);
  }
  if (o.correct) return;
  if (o.pair)
    ++g.pairs;
  else
    ++g.no_pair[o.no_pair_reason.empty() ? "unknown" : o.no_pair_reason];
}

void Tally::add_error(const cases::Case& c, const std::string& message) {
  ++groups_[key(c)].errors;
  if (error_messages_.size() < kMaxMessages) error_messages_.push_back(c.id + ": " + message);
}

std::int64_t Tally::cases() const {
  std::int64_t n = 0;
  for (const auto& [k, g] : groups_)
    n += g.cases;
  return n;
}
std::int64_t Tally::failures() const {
  std::int64_t n = 0;
  for (const auto& [k, g] : groups_)
    n += g.cases - g.correct;
  return n;
}
std::int64_t Tally::pairs() const {
  std::int64_t n = 0;
  for (const auto& [k, g] : groups_)
    n += g.pairs;
  return n;
}
std::int64_t Tally::errors() const {
  std::int64_t n = 0;
  for (const auto& [k, g] : groups_)
    n += g.errors;
  return n;
}
std::int64_t Tally::generated_tokens() const {
  std::int64_t n = 0;
  for (const auto& [k, g] : groups_)
    n += g.generated_tokens;
  return n;
}

nlohmann::json Tally::to_json() const {
  nlohmann::json groups = nlohmann::json::object();
  for (const auto& [k, g] : groups_) {
    nlohmann::json j = {{"cases", g.cases},
                        {"correct", g.correct},
                        {"accuracy", ratio(g.correct, g.cases)},
                        {"failures", g.cases - g.correct},
                        {"pairs", g.pairs},
                        {"no_pair", g.no_pair},
                        {"errors", g.errors},
                        {"prompt_tokens", g.prompt_tokens},
                        {"generated_tokens", g.generated_tokens}};
    if (k.ends_with("/mc_cloze")) {
      j["correct_per_char"] = g.correct_per_char;
      j["accuracy_per_char"] = ratio(g.correct_per_char, g.cases);
    }
    if (k.ends_with("/instructions")) {
      j["instructions"] = g.instructions;
      j["prompt_level_strict"] = ratio(g.correct, g.cases);
      j["prompt_level_loose"] = ratio(g.prompts_loose, g.cases);
      j["instruction_level_strict"] = ratio(g.instructions_strict, g.instructions);
      j["instruction_level_loose"] = ratio(g.instructions_loose, g.instructions);
    }
    groups[k] = j;
  }
  return {{"groups", groups}, {"errors_first", error_messages_}};
}

std::string Tally::table() const {
  std::string out;
  char line[512];
  for (const auto& [k, g] : groups_) {
    std::snprintf(line, sizeof line, "%-32s %6lld cases  acc %.4f", k.c_str(),
                  static_cast<long long>(g.cases), ratio(g.correct, g.cases));
    out += line;
    if (k.ends_with("/mc_cloze")) {
      std::snprintf(line, sizeof line, "  per-char %.4f", ratio(g.correct_per_char, g.cases));
      out += line;
    }
    if (k.ends_with("/instructions")) {
      std::snprintf(line, sizeof line, "  loose %.4f  instructions strict %.4f loose %.4f",
                    ratio(g.prompts_loose, g.cases), ratio(g.instructions_strict, g.instructions),
                    ratio(g.instructions_loose, g.instructions));
      out += line;
    }
    std::snprintf(line, sizeof line, "  failures %lld  pairs %lld",
                  static_cast<long long>(g.cases - g.correct), static_cast<long long>(g.pairs));
    out += line;
    for (const auto& [reason, n] : g.no_pair) {
      std::snprintf(line, sizeof line, "  %s %lld", reason.c_str(), static_cast<long long>(n));
      out += line;
    }
    if (g.errors > 0) {
      std::snprintf(line, sizeof line, "  errors %lld", static_cast<long long>(g.errors));
      out += line;
    }
    out += "\n";
  }
  return out;
}

}  // namespace clrp::eval
