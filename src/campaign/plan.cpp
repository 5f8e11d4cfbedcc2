#include "clrp/campaign/plan.hpp"

#include <algorithm>
#include <map>

#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

// Every failure file's sampled pairs into plan.pairs; per file, the indices of its pairs.
std::vector<std::vector<std::uint32_t>> read_pairs(const CampaignSpec& spec, Plan& plan) {
  std::vector<std::vector<std::uint32_t>> pairs_of_source(spec.cases.size());
  for (std::size_t s = 0; s < spec.cases.size(); ++s) {
    auto all = read_failure_file(spec.cases[s].path);
    for (std::size_t i : sample_indices(all.size(), spec.cases[s].limit, spec.cases[s].seed)) {
      pairs_of_source[s].push_back(static_cast<std::uint32_t>(plan.pairs.size()));
      plan.pairs.push_back(std::move(all[i]));
    }
  }
  return pairs_of_source;
}

// Every model × checkpoint, described (config; tokenizer where fixed-set pairs
// must carry over from the reference model).
void describe_targets(const CampaignSpec& spec, const DescribeTarget& describe, Plan& plan,
                      std::vector<std::string>& problems) {
  std::string reference_fp;
  if (spec.mode == Mode::FixedSet) {
    const auto ref = std::find_if(spec.models.begin(), spec.models.end(),
                                  [&](const ModelSpec& m) { return m.name == spec.reference; });
    if (ref == spec.models.end())  // load_spec refuses such a spec; a hand-made one may not
      throw Error(Where{spec.file, "reference"}, "'" + spec.reference + "' is not a model");
    reference_fp = describe(*ref, ref->checkpoints.front()).tokenizer_fingerprint;
  }
  for (std::size_t m = 0; m < spec.models.size(); ++m) {
    const ModelSpec& ms = spec.models[m];
    for (std::size_t c = 0; c < ms.checkpoints.size(); ++c) {
      Target t{m, c, describe(ms, ms.checkpoints[c])};
      const std::string key =
          "models[" + std::to_string(m) + "] (" + ms.name + "/" + ms.checkpoints[c].name + ")";
      if (spec.mode == Mode::FixedSet && t.shape.tokenizer_fingerprint != reference_fp)
        problems.push_back(key + ": its tokenizer differs from the reference model '" +
                           spec.reference + "'s; fixed-set pairs carry token ids of one tokenizer");
      plan.targets.push_back(std::move(t));
    }
  }
}

// The pairs a target explains, by benchmark (in name order); ids outside its
// vocabulary are problems.
std::map<std::string, std::vector<std::uint32_t>> pairs_by_benchmark(
    const CampaignSpec& spec, const Plan& plan, const Target& t,
    const std::vector<std::vector<std::uint32_t>>& pairs_of_source,
    std::vector<std::string>& problems) {
  const ModelSpec& ms = spec.models[t.model];
  const auto uses = [&](std::size_t source) {
    const auto& names = spec.cases[source].models;
    return names.empty() || std::find(names.begin(), names.end(), ms.name) != names.end();
  };
  std::map<std::string, std::vector<std::uint32_t>> by_benchmark;
  for (std::size_t s = 0; s < spec.cases.size(); ++s) {
    if (!uses(s)) continue;
    for (auto p : pairs_of_source[s]) {
      const auto& fc = plan.pairs[p];
      for (const auto* tok : {&fc.pair.wrong, &fc.pair.correct})
        if (tok->id >= t.shape.config.vocab_size)
          problems.push_back(spec.cases[s].path + ": line " + std::to_string(fc.line) +
                             ": pair token id " + std::to_string(tok->id) +
                             " is outside the vocabulary of " + ms.name + " (" +
                             std::to_string(t.shape.config.vocab_size) + ")");
      by_benchmark[fc.c.benchmark].push_back(p);
    }
  }
  return by_benchmark;
}

// What the store records about one table (target × benchmark).
store::TableInfo table_info(const CampaignSpec& spec, const Target& t, const std::string& bench,
                            std::size_t rows) {
  const ModelSpec& ms = spec.models[t.model];
  store::TableInfo info;
  info.model = ms.name;
  info.checkpoint = ms.checkpoints[t.checkpoint].name;
  info.checkpoint_path = ms.checkpoints[t.checkpoint].path;
  info.benchmark = bench;
  for (auto r : spec.rules)
    info.rules.push_back(lrp::to_string(r));
  info.layers = t.shape.config.num_layers;
  info.heads = spec.record.heads ? t.shape.config.num_heads : 0;
  info.neurons = spec.record.neurons;
  info.residual = spec.record.residual;
  info.evidence_top_k = spec.record.evidence_top_k;
  info.deletion_max_tokens = spec.record.deletion_max_tokens;
  info.graphs = spec.graphs.enabled();
  info.planned_rows = rows;
  return info;
}

// One table and a task per pair in it; a case id twice in a table is a problem.
void add_table(const CampaignSpec& spec, std::uint32_t target, const std::string& bench,
               const std::vector<std::uint32_t>& pairs, Plan& plan,
               std::vector<std::string>& problems) {
  const Target& t = plan.targets[target];
  const auto table = static_cast<std::uint32_t>(plan.tables.size());
  plan.tables.push_back(table_info(spec, t, bench, pairs.size()));
  plan.table_target.push_back(target);
  std::vector<std::string> seen;
  // Graphs go to the table's first spec.graphs.cases pairs in failure-file
  // order, whichever rank explains them.
  const auto graphs = static_cast<std::uint64_t>(spec.graphs.cases);  // -1: all
  std::uint64_t nth = 0;
  for (auto p : pairs) {
    const auto& fc = plan.pairs[p];
    seen.push_back(fc.c.id);
    plan.tasks.push_back(
        {table, target, p, fc.c.prompt.size() + fc.pair.prefix.size(), nth++ < graphs});
  }
  std::sort(seen.begin(), seen.end());
  if (auto d = std::adjacent_find(seen.begin(), seen.end()); d != seen.end())
    problems.push_back("case id '" + *d + "' appears twice for " + spec.models[t.model].name + "/" +
                       bench + " (in two failure files?)");
}

}  // namespace

Plan make_plan(const CampaignSpec& spec, const DescribeTarget& describe) {
  Plan plan;
  std::vector<std::string> problems;
  const auto pairs_of_source = read_pairs(spec, plan);
  describe_targets(spec, describe, plan, problems);
  // Tables: target × benchmark, benchmarks in name order.
  for (std::uint32_t ti = 0; ti < plan.targets.size(); ++ti)
    for (const auto& [bench, pairs] :
         pairs_by_benchmark(spec, plan, plan.targets[ti], pairs_of_source, problems))
      add_table(spec, ti, bench, pairs, plan, problems);
  if (!problems.empty()) throw SpecError(spec.file, std::move(problems));
  // Longest first within a target; ties by case id so every rank agrees.
  std::stable_sort(plan.tasks.begin(), plan.tasks.end(), [&](const Task& a, const Task& b) {
    if (a.target != b.target) return a.target < b.target;
    if (a.cost != b.cost) return a.cost > b.cost;
    return plan.pairs[a.pair].c.id < plan.pairs[b.pair].c.id;
  });
  return plan;
}

std::vector<std::vector<std::uint32_t>> make_batches(const Plan& plan,
                                                     const std::vector<bool>& done, int batch) {
  std::vector<std::vector<std::uint32_t>> out;
  for (std::uint32_t i = 0; i < plan.tasks.size(); ++i) {
    if (done[i]) continue;
    if (out.empty() || out.back().size() >= static_cast<std::size_t>(batch) ||
        plan.tasks[out.back().front()].target != plan.tasks[i].target)
      out.emplace_back();
    out.back().push_back(i);
  }
  return out;
}

}  // namespace clrp::campaign
