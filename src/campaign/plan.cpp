#include "clrp/campaign/plan.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <variant>

#include "clrp/campaign/carry_pair.hpp"
#include "clrp/cases/case_file.hpp"
#include "clrp/text/chat_template.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

// A file that yields nothing would give an empty store that looks complete:
// a problem of the spec unless its table says allow_empty = true.
void check_not_empty(bool empty, bool allowed, const std::string& key, const std::string& path,
                     const std::string& what, std::vector<std::string>& problems) {
  if (empty && !allowed)
    problems.push_back(key + ".path: " + path + " " + what +
                       "; a campaign over it would record nothing (set " + key +
                       ".allow_empty = true if that is meant)");
}

// Every failure file's sampled pairs into plan.pairs; per file, the indices of its pairs.
std::vector<std::vector<std::uint32_t>> read_pairs(const CampaignSpec& spec, Plan& plan,
                                                   std::vector<std::string>& problems) {
  std::vector<std::vector<std::uint32_t>> pairs_of_source(spec.cases.size());
  for (std::size_t s = 0; s < spec.cases.size(); ++s) {
    auto all = read_failure_file(spec.cases[s].path);
    check_not_empty(all.empty(), spec.cases[s].allow_empty, "cases[" + std::to_string(s) + "]",
                    spec.cases[s].path, "holds no failure", problems);
    for (std::size_t i : sample_indices(all.size(), spec.cases[s].limit, spec.cases[s].seed)) {
      pairs_of_source[s].push_back(static_cast<std::uint32_t>(plan.pairs.size()));
      plan.pairs.push_back(std::move(all[i]));
    }
  }
  return pairs_of_source;
}

// Every benchmark file's sampled items into plan.items; per benchmark, the
// indices of its items. Bad lines stop the plan (naming file, line, field)
// unless the benchmark skips them; then they are counted in skipped_lines.
std::vector<std::vector<std::uint32_t>> read_items(const CampaignSpec& spec, Plan& plan,
                                                   std::vector<std::string>& problems) {
  std::vector<std::vector<std::uint32_t>> items_of(spec.benchmarks.size());
  for (std::size_t b = 0; b < spec.benchmarks.size(); ++b) {
    const BenchmarkSpec& bs = spec.benchmarks[b];
    cases::ReadOptions ro;
    ro.on_error = bs.skip_bad_lines ? cases::OnError::skip : cases::OnError::stop;
    cases::CaseReader reader(bs.path, ro);
    std::vector<Item> all;
    while (auto c = reader.next())
      all.push_back({std::move(*c), static_cast<std::uint32_t>(b),
                     static_cast<std::uint32_t>(reader.counts().lines - 1)});
    plan.skipped_lines.push_back(
        reader.counts().skipped > 0 ? bs.path + ": " + reader.counts().summary() : std::string());
    check_not_empty(all.empty(), bs.allow_empty, "benchmarks[" + std::to_string(b) + "]", bs.path,
                    "yields no item (" + reader.counts().summary() + ")", problems);
    for (std::size_t i : sample_indices(all.size(), bs.limit, bs.seed)) {
      items_of[b].push_back(static_cast<std::uint32_t>(plan.items.size()));
      plan.items.push_back(std::move(all[i]));
    }
  }
  return items_of;
}

// The token budget of a generated answer (0 for multiple choice).
std::uint64_t answer_budget(const cases::Case& c, const BenchmarkSpec& b) {
  int budget = 0;
  if (const auto* a = std::get_if<cases::AnswerGold>(&c.gold)) budget = a->max_new_tokens;
  if (const auto* a = std::get_if<cases::CodeGold>(&c.gold)) budget = a->max_new_tokens;
  if (const auto* a = std::get_if<cases::InstructionGold>(&c.gold)) budget = a->max_new_tokens;
  if (b.max_new_tokens > 0) budget = std::min(budget, b.max_new_tokens);
  return static_cast<std::uint64_t>(budget);
}

// Every model × checkpoint, described (config; tokenizer where fixed-set pairs
// are carried from the reference model).
void describe_targets(const CampaignSpec& spec, const DescribeTarget& describe, Plan& plan) {
  if (spec.mode == Mode::FixedSet &&
      std::none_of(spec.models.begin(), spec.models.end(),
                   [&](const ModelSpec& m) { return m.name == spec.reference; }))
    // load_spec refuses such a spec; a hand-made one may not
    throw Error(Where{spec.file, "reference"}, "'" + excerpt(spec.reference) + "' is not a model");
  for (std::size_t m = 0; m < spec.models.size(); ++m) {
    const ModelSpec& ms = spec.models[m];
    for (std::size_t c = 0; c < ms.checkpoints.size(); ++c)
      plan.targets.push_back({m, c, describe(ms, ms.checkpoints[c])});
  }
}

// Fixed-set pairs under targets whose tokenizer is not the reference's:
// each pair carried once per tokenizer (carry_pair.hpp), the carried copy a
// new entry of plan.pairs, a refusal listed for the table. A pair found under
// a chat template is carried after the prompt as each target's own template
// renders it (once per target model), and kept as it is only where both the
// tokens and the rendered prompt are the reference's.
class Carrier {
 public:
  Carrier(const CampaignSpec& spec, Plan& plan) : spec_(spec), plan_(plan) {
    if (spec.mode != Mode::FixedSet) return;
    const std::uint32_t ref = reference_target(spec, plan);
    reference_ = plan.targets[ref].shape.tokenizer.get();
    fingerprint_ = plan.targets[ref].shape.tokenizer_fingerprint;
    reference_path_ = path_of(ref);
  }

  /// Whether `target` reads the pairs' token ids as they are.
  bool same_tokens(std::uint32_t target) const {
    return reference_ == nullptr ||
           plan_.targets[target].shape.tokenizer_fingerprint == fingerprint_;
  }

  /// `pairs` as `target` explains them in `table`.
  std::vector<std::uint32_t> under(std::uint32_t target, std::uint32_t table,
                                   const std::vector<std::uint32_t>& pairs) {
    if (reference_ == nullptr) return pairs;
    const TargetShape& shape = plan_.targets[target].shape;
    if (!shape.tokenizer)
      throw Error(
          "fixed-set planning needs the tokenizer of every target (model::Parts::Tokenizer)");
    if (plan_.not_carried.size() <= table) plan_.not_carried.resize(table + 1);
    std::vector<std::uint32_t> out;
    for (auto p : pairs) {
      const bool chat = plan_.pairs[p].pair.chat.has_value();
      if (!chat && same_tokens(target)) {
        out.push_back(p);
        continue;
      }
      // A chat pair depends on the target's template, so it is carried per
      // model path; a plain one per tokenizer.
      const std::string key = chat ? "chat:" + path_of(target) : shape.tokenizer_fingerprint;
      auto [it, fresh] = done_.try_emplace({p, key});
      if (fresh) it->second = carry(p, target, *shape.tokenizer);
      if (const auto* index = std::get_if<std::uint32_t>(&it->second))
        out.push_back(*index);
      else
        plan_.not_carried[table].push_back(
            {plan_.pairs[p].c.id, std::get<std::string>(it->second)});
    }
    return out;
  }

 private:
  std::string path_of(std::uint32_t target) const {
    const Target& t = plan_.targets[target];
    return spec_.models[t.model].checkpoints[t.checkpoint].path;
  }

  // Pair `p` under `target`: its index in plan.pairs (itself, or a carried
  // copy appended), or why it does not carry.
  std::variant<std::uint32_t, std::string> carry(std::uint32_t p, std::uint32_t target,
                                                 const text::Tokenizer& to) {
    const FailureCase& fc = plan_.pairs[p];
    CarriedPair carried;
    if (fc.pair.chat) {
      eval::RenderedPrompt prompt;
      try {
        prompt = eval::render_prompt(path_of(target), fc.c.prompt, fc.pair.chat);
        if (same_tokens(target) &&
            prompt.text == eval::render_prompt(reference_path_, fc.c.prompt, fc.pair.chat).text)
          return p;
      } catch (const Error& e) {
        return std::string(not_carried::chat) + ": " + e.what();
      }
      carried = carry_pair(fc.c, fc.pair, *reference_, to, prompt);
    } else {
      carried = carry_pair(fc.c, fc.pair, *reference_, to);
    }
    if (!carried.pair) return std::move(carried.reason);
    FailureCase copy = fc;
    copy.pair = *carried.pair;
    copy.c.pair = copy.pair;
    plan_.pairs.push_back(std::move(copy));
    return static_cast<std::uint32_t>(plan_.pairs.size() - 1);
  }

  const CampaignSpec& spec_;
  Plan& plan_;
  const text::Tokenizer* reference_ = nullptr;
  std::string fingerprint_;
  std::string reference_path_;
  /// (pair, tokenizer fingerprint or "chat:" + target path) -> the carried pair's index, or why not
  std::map<std::pair<std::uint32_t, std::string>, std::variant<std::uint32_t, std::string>> done_;
};

// The pairs a target explains, by benchmark (in name order); ids outside its
// vocabulary are problems where it reads them as they are (`same_tokens`).
std::map<std::string, std::vector<std::uint32_t>> pairs_by_benchmark(
    const CampaignSpec& spec, const Plan& plan, const Target& t, bool same_tokens,
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
        if (same_tokens && tok->id >= t.shape.config.vocab_size)
          problems.push_back(spec.cases[s].path + ": line " + std::to_string(fc.line) +
                             ": pair token id " + std::to_string(tok->id) +
                             " is outside the vocabulary of " + ms.name + " (" +
                             std::to_string(t.shape.config.vocab_size) + ")");
      by_benchmark[fc.c.benchmark].push_back(p);
    }
  }
  return by_benchmark;
}

// The items a target answers, by benchmark name.
std::map<std::string, std::vector<std::uint32_t>> items_by_benchmark(
    const CampaignSpec& spec, const Plan& plan, const Target& t,
    const std::vector<std::vector<std::uint32_t>>& items_of) {
  const ModelSpec& ms = spec.models[t.model];
  std::map<std::string, std::vector<std::uint32_t>> by_benchmark;
  for (std::size_t b = 0; b < spec.benchmarks.size(); ++b) {
    const auto& names = spec.benchmarks[b].models;
    if (!names.empty() && std::find(names.begin(), names.end(), ms.name) == names.end()) continue;
    for (auto i : items_of[b])
      by_benchmark[plan.items[i].c.benchmark].push_back(i);
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
  if (spec.faithfulness.enabled) {
    const lrp::FaithfulnessOptions& f = spec.faithfulness.options;
    for (const lrp::Removal op : f.operators)
      info.removal_operators.emplace_back(lrp::to_string(op));
    info.faithfulness_single_tokens = f.single_tokens;
    info.faithfulness_fractions = f.fractions;
    info.faithfulness_seed = f.seed;
    const lrp::OutcomeThresholds& th = spec.faithfulness.thresholds;
    info.outcome_thresholds = {th.recovery, th.urt_ratio, th.oit_share};
  }
  info.graphs = spec.graphs.enabled();
  info.planned_rows = rows;
  return info;
}

// A task per pair of a table. Graphs go to the table's first
// spec.graphs.cases pairs in the order given, whichever rank explains them;
// `nth` counts the table's pairs so far.
void add_tasks(const CampaignSpec& spec, std::uint32_t table, std::uint32_t target,
               const std::vector<std::uint32_t>& pairs, std::uint64_t nth, Plan& plan) {
  const auto graphs = static_cast<std::uint64_t>(spec.graphs.cases);  // -1: all
  for (auto p : pairs) {
    const auto& fc = plan.pairs[p];
    plan.tasks.push_back(
        {table, target, p, fc.c.prompt.size() + fc.pair.prefix.size(), nth++ < graphs});
  }
}

// One table, a task per pair in it and an evaluation per item; a case id
// twice in a table is a problem.
void add_table(const CampaignSpec& spec, std::uint32_t target, const std::string& bench,
               const std::vector<std::uint32_t>& pairs, const std::vector<std::uint32_t>& items,
               Plan& plan, std::vector<std::string>& problems) {
  const Target& t = plan.targets[target];
  const auto table = static_cast<std::uint32_t>(plan.tables.size());
  plan.tables.push_back(table_info(spec, t, bench, pairs.size()));
  plan.not_carried.resize(plan.tables.size());
  plan.tables.back().evaluations = !items.empty();
  plan.tables.back().planned_evaluations = items.size();
  plan.table_target.push_back(target);
  add_tasks(spec, table, target, pairs, 0, plan);
  std::vector<std::string> seen;
  for (auto p : pairs)
    seen.push_back(plan.pairs[p].c.id);
  for (auto i : items) {
    const Item& item = plan.items[i];
    seen.push_back(item.c.id);
    plan.evaluations.push_back(
        {table, target, i,
         item.c.prompt.size() + 4 * answer_budget(item.c, spec.benchmarks[item.benchmark])});
  }
  std::sort(seen.begin(), seen.end());
  if (auto d = std::adjacent_find(seen.begin(), seen.end()); d != seen.end())
    problems.push_back("case id '" + excerpt(*d) + "' appears twice for " +
                       spec.models[t.model].name + "/" + bench +
                       " (in two failure or benchmark files?)");
}

// Longest first within a target; ties by case id so every rank agrees.
void sort_tasks(Plan& plan) {
  std::stable_sort(plan.tasks.begin(), plan.tasks.end(), [&](const Task& a, const Task& b) {
    if (a.target != b.target) return a.target < b.target;
    if (a.cost != b.cost) return a.cost > b.cost;
    return plan.pairs[a.pair].c.id < plan.pairs[b.pair].c.id;
  });
}

// Benchmarks read through chat templates: every checkpoint that answers one
// must have a template, and each of its options must be read by at least one
// of those templates (an option no template reads is a typo; one that only
// some read — enable_thinking across Qwen3 and Llama — applies where read).
void check_chat_templates(const CampaignSpec& spec, std::vector<std::string>& problems) {
  for (std::size_t i = 0; i < spec.benchmarks.size(); ++i) {
    const BenchmarkSpec& b = spec.benchmarks[i];
    if (!b.chat) continue;
    const std::string key = "benchmarks[" + std::to_string(i) + "].chat";
    std::set<std::string> read;
    for (const ModelSpec& ms : spec.models) {
      if (!b.models.empty() &&
          std::find(b.models.begin(), b.models.end(), ms.name) == b.models.end())
        continue;
      for (const CheckpointSpec& c : ms.checkpoints) {
        try {
          for (std::string& v : text::load_chat_template(c.path, b.chat->template_name).variables())
            read.insert(std::move(v));
        } catch (const Error& e) {
          problems.push_back(key + ": " + ms.name + "/" + c.name + ": " + e.what());
        }
      }
    }
    for (const auto& [option, value] : b.chat->options.items())
      if (!read.contains(option))
        problems.push_back(key + ".options." + option +
                           ": no chat template of the models that answer it reads it");
  }
}

}  // namespace

Plan make_plan(const CampaignSpec& spec, const DescribeTarget& describe) {
  Plan plan;
  std::vector<std::string> problems;
  check_chat_templates(spec, problems);
  const auto pairs_of_source = read_pairs(spec, plan, problems);
  const auto items_of = read_items(spec, plan, problems);
  describe_targets(spec, describe, plan);
  Carrier carrier(spec, plan);
  // Tables: target × benchmark, benchmarks in name order.
  for (std::uint32_t ti = 0; ti < plan.targets.size(); ++ti) {
    auto pairs = pairs_by_benchmark(spec, plan, plan.targets[ti], carrier.same_tokens(ti),
                                    pairs_of_source, problems);
    auto items = items_by_benchmark(spec, plan, plan.targets[ti], items_of);
    std::set<std::string> names;
    for (const auto& kv : pairs)
      names.insert(kv.first);
    for (const auto& kv : items)
      names.insert(kv.first);
    for (const auto& bench : names) {
      const auto table = static_cast<std::uint32_t>(plan.tables.size());
      add_table(spec, ti, bench, carrier.under(ti, table, pairs[bench]), items[bench], plan,
                problems);
    }
  }
  if (!problems.empty()) throw SpecError(spec.file, std::move(problems));
  sort_tasks(plan);
  std::stable_sort(plan.evaluations.begin(), plan.evaluations.end(),
                   [&](const EvalTask& a, const EvalTask& b) {
                     if (a.target != b.target) return a.target < b.target;
                     if (a.cost != b.cost) return a.cost > b.cost;
                     return plan.items[a.item].c.id < plan.items[b.item].c.id;
                   });
  return plan;
}

std::uint32_t reference_target(const CampaignSpec& spec, const Plan& plan) {
  std::uint32_t found = 0;
  bool any = false;
  for (std::uint32_t t = 0; t < plan.targets.size(); ++t)
    if (spec.models[plan.targets[t].model].name == spec.reference) found = t, any = true;
  if (!any)
    throw Error(Where{spec.file, "reference"}, "'" + excerpt(spec.reference) + "' is not a model");
  return found;  // the last of its checkpoints
}

std::vector<std::uint64_t> add_found_pairs(
    const CampaignSpec& spec, Plan& plan,
    const std::vector<std::vector<store::EvaluationRecord>>& evaluations) {
  // Each table's pairs so far (failure files) and the item of each evaluation.
  std::vector<std::uint64_t> planned(plan.tables.size(), 0);
  for (const Task& t : plan.tasks)
    ++planned[t.table];
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> item_of;
  for (const EvalTask& e : plan.evaluations)
    item_of[{e.table, plan.items[e.item].c.id}] = e.item;
  // The tables of each target, by benchmark name (fixed-set: where the
  // reference's failures go).
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> table_of;
  for (std::uint32_t t = 0; t < plan.tables.size(); ++t)
    table_of[{plan.table_target[t], plan.tables[t].benchmark}] = t;
  const bool fixed = spec.mode == Mode::FixedSet;
  const std::uint32_t reference = fixed ? reference_target(spec, plan) : 0;
  // fixed-set with own_failures: the items the reference failed (with a pair),
  // per benchmark, gathered from its tables; a target explains its own
  // failures on the other items only, so that each (table, item) holds one
  // pair and the reference's verdicts say whose it is.
  std::set<std::pair<std::string, std::string>> reference_failed;
  Carrier carrier(spec, plan);
  // The reference's tables first, so that its pairs come first in every table
  // (the first [graphs] cases of a table get graphs) and reference_failed is
  // complete before any target's own failures are read.
  std::vector<std::uint32_t> order(evaluations.size());
  for (std::uint32_t table = 0; table < order.size(); ++table)
    order[table] = table;
  if (fixed)
    std::stable_partition(order.begin(), order.end(), [&](std::uint32_t table) {
      return plan.table_target[table] == reference;
    });
  for (const std::uint32_t table : order) {
    const std::uint32_t target = plan.table_target[table];
    const bool own_only = fixed && target != reference;  // this target's own failures
    if (own_only && !spec.own_failures) continue;
    // In item order, so that graphs go to the same pairs however the
    // evaluation was spread over ranks.
    std::vector<const store::EvaluationRecord*> found;
    for (const auto& e : evaluations[table])
      if (e.outcome == store::ItemOutcome::failure_with_pair) found.push_back(&e);
    std::sort(found.begin(), found.end(),
              [](const auto* a, const auto* b) { return a->item_index < b->item_index; });
    std::vector<std::uint32_t> pairs;
    for (const store::EvaluationRecord* e : found) {
      const auto it = item_of.find({table, e->case_id});
      if (it == item_of.end()) continue;  // an item this spec no longer samples
      const std::pair<std::string, std::string> key{plan.tables[table].benchmark, e->case_id};
      if (spec.own_failures && !own_only)
        reference_failed.insert(key);
      else if (reference_failed.count(key) != 0)
        continue;  // explained with the reference's pair
      const Item& item = plan.items[it->second];
      const nlohmann::json detail = nlohmann::json::parse(e->detail);
      FailureCase fc;
      fc.c = item.c;
      // An IFEval failure's evidence: the text of the instructions it did not follow.
      if (const auto s = detail.find("instructions_strict"); s != detail.end() && s->is_array())
        cases::mark_failed_instructions(fc.c, s->get<std::vector<bool>>());
      fc.pair = cases::pair_from_json(detail.at("pair"), Where{plan.tables[table].group()});
      fc.c.pair = fc.pair;
      fc.line = item.index + 1;
      pairs.push_back(static_cast<std::uint32_t>(plan.pairs.size()));
      plan.pairs.push_back(std::move(fc));
    }
    const std::string& bench = plan.tables[table].benchmark;
    for (std::uint32_t t = 0; t < plan.targets.size(); ++t) {
      if ((!fixed || own_only) && t != target) continue;
      const auto explained_in = table_of.find({t, bench});
      if (explained_in == table_of.end()) continue;
      const std::uint32_t into = explained_in->second;
      // A target's own pairs are in its own tokens already.
      const std::vector<std::uint32_t> carried = own_only ? pairs : carrier.under(t, into, pairs);
      add_tasks(spec, into, t, carried, planned[into], plan);
      planned[into] += carried.size();
    }
  }
  sort_tasks(plan);
  return planned;
}

std::vector<std::vector<std::uint32_t>> make_batches(const std::vector<std::uint32_t>& targets,
                                                     const std::vector<bool>& done, int batch) {
  std::vector<std::vector<std::uint32_t>> out;
  for (std::uint32_t i = 0; i < targets.size(); ++i) {
    if (done[i]) continue;
    if (out.empty() || out.back().size() >= static_cast<std::size_t>(batch) ||
        targets[out.back().front()] != targets[i])
      out.emplace_back();
    out.back().push_back(i);
  }
  return out;
}

}  // namespace clrp::campaign
