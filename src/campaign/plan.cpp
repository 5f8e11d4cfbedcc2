#include "clrp/campaign/plan.hpp"

#include <algorithm>
#include <map>

namespace clrp::campaign {

Plan make_plan(const CampaignSpec& spec, const DescribeTarget& describe) {
  Plan plan;
  std::vector<std::string> problems;
  // Pairs, and which models explain each failure file.
  std::vector<std::vector<std::uint32_t>> pairs_of_source(spec.cases.size());
  for (std::size_t s = 0; s < spec.cases.size(); ++s) {
    auto all = read_failure_file(spec.cases[s].path);
    for (std::size_t i : sample_indices(all.size(), spec.cases[s].limit, spec.cases[s].seed)) {
      pairs_of_source[s].push_back(static_cast<std::uint32_t>(plan.pairs.size()));
      plan.pairs.push_back(std::move(all[i]));
    }
  }
  std::map<std::string, std::size_t> model_index;
  for (std::size_t m = 0; m < spec.models.size(); ++m)
    model_index[spec.models[m].name] = m;
  std::string reference_fp;
  if (spec.mode == Mode::FixedSet) {
    const ModelSpec& ref = spec.models[model_index.at(spec.reference)];
    reference_fp = describe(ref, ref.checkpoints.front()).tokenizer_fingerprint;
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
  // Tables: target × benchmark, benchmarks in name order.
  const auto uses = [&](std::size_t source, std::size_t model) {
    const auto& names = spec.cases[source].models;
    return names.empty() ||
           std::find(names.begin(), names.end(), spec.models[model].name) != names.end();
  };
  for (std::uint32_t ti = 0; ti < plan.targets.size(); ++ti) {
    const Target& t = plan.targets[ti];
    const ModelSpec& ms = spec.models[t.model];
    std::map<std::string, std::vector<std::uint32_t>> by_benchmark;
    for (std::size_t s = 0; s < spec.cases.size(); ++s) {
      if (!uses(s, t.model)) continue;
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
    for (auto& [bench, pairs] : by_benchmark) {
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
      info.planned_rows = pairs.size();
      const auto table = static_cast<std::uint32_t>(plan.tables.size());
      plan.tables.push_back(info);
      plan.table_target.push_back(ti);
      std::vector<std::string> seen;
      // Graphs go to the table's first spec.graphs.cases pairs in failure-file
      // order, whichever rank explains them.
      const auto graphs = static_cast<std::uint64_t>(spec.graphs.cases);  // -1: all
      std::uint64_t nth = 0;
      for (auto p : pairs) {
        seen.push_back(plan.pairs[p].c.id);
        const auto& fc = plan.pairs[p];
        plan.tasks.push_back(
            {table, ti, p, fc.c.prompt.size() + fc.pair.prefix.size(), nth++ < graphs});
      }
      std::sort(seen.begin(), seen.end());
      if (auto d = std::adjacent_find(seen.begin(), seen.end()); d != seen.end())
        problems.push_back("case id '" + *d + "' appears twice for " + ms.name + "/" + bench +
                           " (in two failure files?)");
    }
  }
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
