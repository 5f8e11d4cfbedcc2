#include "clrp/campaign/failure_file.hpp"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "clrp/cases/case_file.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

Where field(const Where& w, const std::string& f) {
  Where out = w;
  out.field = f;
  return out;
}

PairToken token_from_json(const nlohmann::json& j, const Where& where, const std::string& name) {
  require(j.is_object(), field(where, "pair." + name), "must be an object");
  PairToken t;
  const auto id = j.find("id");
  require(id != j.end() && id->is_number_integer() && id->get<std::int64_t>() >= 0,
          field(where, "pair." + name + ".id"), "must be a non-negative integer");
  t.id = id->get<std::int64_t>();
  if (const auto tok = j.find("token"); tok != j.end()) {
    require(tok->is_string(), field(where, "pair." + name + ".token"), "must be a string");
    t.token = tok->get<std::string>();
  }
  if (const auto logit = j.find("logit"); logit != j.end()) {
    require(logit->is_number(), field(where, "pair." + name + ".logit"), "must be a number");
    t.logit = logit->get<double>();
  }
  return t;
}

// SplitMix64: a tiny generator whose output is specified bit for bit.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

ContrastPair pair_from_json(const nlohmann::json& j, const Where& where) {
  require(j.is_object(), field(where, "pair"), "must be an object");
  for (const auto& [k, v] : j.items())
    if (k != "prefix" && k != "wrong" && k != "correct" && k != "delta" && k != "method" &&
        k != "model")
      throw Error(field(where, "pair." + k), "unknown field");
  ContrastPair p;
  if (const auto it = j.find("prefix"); it != j.end()) {
    require(it->is_string(), field(where, "pair.prefix"), "must be a string");
    p.prefix = it->get<std::string>();
  }
  require(j.contains("wrong"), field(where, "pair.wrong"), "missing");
  require(j.contains("correct"), field(where, "pair.correct"), "missing");
  p.wrong = token_from_json(j["wrong"], where, "wrong");
  p.correct = token_from_json(j["correct"], where, "correct");
  require(p.wrong.id != p.correct.id, field(where, "pair.correct.id"),
          "equals the wrong id; there is nothing to contrast");
  if (const auto it = j.find("delta"); it != j.end()) {
    require(it->is_number(), field(where, "pair.delta"), "must be a number");
    p.delta = it->get<double>();
  }
  for (const char* key : {"method", "model"})
    if (const auto it = j.find(key); it != j.end()) {
      require(it->is_string(), field(where, std::string("pair.") + key), "must be a string");
      (key[1] == 'e' ? p.method : p.model) = it->get<std::string>();
    }
  return p;
}

std::vector<FailureCase> read_failure_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Where{path}, "cannot read the failure file");
  std::vector<FailureCase> out;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Where where{path, {}, std::nullopt, line_no};
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    require(!j.is_discarded(), where, "not valid JSON");
    require(j.is_object(), where, "not a JSON object");
    const auto it = j.find("pair");
    require(it != j.end(), field(where, "pair"),
            "missing (this is a case file, not a failure file)");
    FailureCase f;
    f.pair = pair_from_json(*it, where);
    j.erase("pair");
    f.c = cases::case_from_json(j, where);
    f.line = line_no;
    out.push_back(std::move(f));
  }
  std::vector<std::string> ids;
  for (const auto& f : out)
    ids.push_back(f.c.id);
  std::sort(ids.begin(), ids.end());
  if (const auto d = std::adjacent_find(ids.begin(), ids.end()); d != ids.end())
    throw Error(Where{path, "id"}, "'" + *d + "' appears twice");
  return out;
}

std::vector<std::size_t> sample_indices(std::size_t count, std::int64_t limit, std::uint64_t seed) {
  std::vector<std::size_t> idx(count);
  std::iota(idx.begin(), idx.end(), 0);
  if (limit <= 0 || static_cast<std::size_t>(limit) >= count) return idx;
  std::uint64_t state = seed;
  const auto k = static_cast<std::size_t>(limit);
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(splitmix64(state) % (count - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace clrp::campaign
