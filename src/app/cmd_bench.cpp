// clrp bench: timings of clrp's own kernels, for bench/*.py to set side by side
// with the reference implementations in the same run.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/loaded_model.hpp"
#include "clrp/graph/export.hpp"
#include "clrp/graph/graph.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/faithfulness.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/model/kv_cache.hpp"
#include "clrp/util/build_info.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"
#include "clrp/util/threads.hpp"
#include "clrp/util/write_file.hpp"

namespace clrp::app {

namespace {

using Clock = std::chrono::steady_clock;

// Peak resident memory of this process so far, in MiB.
double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

struct BenchOptions {
  ModelOptions model_options;
  std::int64_t tokens = 512;
  int repeat = 5;
  int warmup = 1;
  std::uint64_t seed = 0;
  std::string rule = lrp::to_string(lrp::Rule::AttnLRP);
  std::optional<std::string> ids_file, max_memory;  ///< graph: token ids (JSON list), budget
  std::optional<std::string> dump_file;  ///< faithfulness: every case's relevance and curves
  std::string method = "structured";
  std::string pairs_file;          ///< lrp-pairs: JSON list of {"ids", "wrong", "correct"}
  std::int64_t pack_tokens = 512;  ///< lrp-pairs: packed micro-batches of at most this many tokens
  std::int64_t batch = 16;         ///< decode: sequences stepping together
  std::int64_t steps = 32;         ///< decode: timed steps per repetition
};

// A --pairs file: a non-empty JSON list of {"ids", "wrong", "correct"}.
nlohmann::json read_pairs(const std::string& path) {
  auto all = nlohmann::json::parse(io::read_text_file(path), nullptr, false);
  if (!all.is_array() || all.empty())
    throw Error(Where{path}, "expected a JSON list of {\"ids\", \"wrong\", \"correct\"}");
  return all;
}

// The median wall time of `opt.repeat` runs of `run`, after `opt.warmup` untimed ones.
template <typename Run>
double median_seconds(const BenchOptions& opt, const Run& run) {
  for (int i = 0; i < opt.warmup; ++i)
    run();
  std::vector<double> times;
  for (int i = 0; i < opt.repeat; ++i) {
    const auto t0 = Clock::now();
    run();
    times.push_back(util::seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Forward pass over `tokens` random ids: model load time, then the median and
// minimum of `repeat` timed passes after `warmup` untimed ones.
void run_forward(const BenchOptions& opt) {
  const auto t_load = Clock::now();
  const LoadedModel m = load_model(opt.model_options);
  const double load_s = util::seconds_since(t_load);
  if (opt.tokens > m.checkpoint.config().max_position_embeddings)
    throw Error("--tokens exceeds the model's context of " +
                std::to_string(m.checkpoint.config().max_position_embeddings));
  c10::InferenceMode inference_mode;
  at::manual_seed(opt.seed);
  const at::Tensor ids = at::randint(m.checkpoint.config().vocab_size, {1, opt.tokens}, at::kLong);
  for (int i = 0; i < opt.warmup; ++i)
    (void)m.decoder->forward(ids);
  std::vector<double> times;
  for (int i = 0; i < opt.repeat; ++i) {
    const auto t0 = Clock::now();
    const at::Tensor logits = m.decoder->forward(ids);
    (void)logits.sum().item<float>();
    times.push_back(util::seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  nlohmann::json j{{"benchmark", "forward"},       {"model", m.checkpoint.path()},
                   {"tokens", opt.tokens},         {"threads", util::compute_threads()},
                   {"load_seconds", load_s},       {"median_seconds", times[times.size() / 2]},
                   {"min_seconds", times.front()}, {"repeat", opt.repeat}};
  std::cout << j.dump() << "\n";
}

// One contrastive explanation (forward with tapes, seed, rule-modified backward)
// over `tokens` random ids; reports time and the process's peak memory. Run one
// length per process: peak memory is a high-water mark.
void run_lrp(const BenchOptions& opt) {
  const LoadedModel m = load_model(opt.model_options);
  const double rss_loaded = peak_rss_mib();
  const bool on_gpu = m.decoder->compute().device.is_cuda();
  const int gpu = on_gpu ? m.decoder->compute().device.index() : 0;
  const double gpu_loaded = static_cast<double>(util::gpu_memory_used_bytes(std::max(gpu, 0)));
  const lrp::Rule rule = lrp::parse_rule(opt.rule);
  const auto& c = m.checkpoint.config();
  at::manual_seed(opt.seed);
  const at::Tensor ids = at::randint(c.vocab_size, {opt.tokens}, at::kLong);
  const std::vector<lrp::Seed> seeds{lrp::Seed::contrastive(opt.tokens - 1, 1, 2, c.vocab_size)};
  const lrp::Engine engine(*m.decoder);
  for (int i = 0; i < opt.warmup; ++i)
    (void)engine.explain(ids, seeds, rule);
  std::vector<double> times;
  for (int i = 0; i < opt.repeat; ++i) {
    const auto t0 = Clock::now();
    const auto ex = engine.explain(ids, seeds, rule);
    (void)ex.token_relevance.sum().item<float>();
    times.push_back(util::seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  nlohmann::json j{{"benchmark", "lrp"},
                   {"rule", opt.rule},
                   {"tokens", opt.tokens},
                   {"threads", util::compute_threads()},
                   {"median_seconds", times[times.size() / 2]},
                   {"min_seconds", times.front()},
                   {"peak_rss_mib", peak_rss_mib()},
                   {"rss_after_load_mib", rss_loaded},
                   {"device", m.decoder->compute().device.str()},
                   {"dtype", opt.model_options.dtype},
                   {"repeat", opt.repeat}};
  if (on_gpu) {
    constexpr double kMiB = 1024.0 * 1024.0;
    j["gpu_used_after_load_mib"] = gpu_loaded / kMiB;
    j["gpu_used_peak_mib"] =
        static_cast<double>(util::gpu_memory_used_bytes(std::max(gpu, 0))) / kMiB;
  }
  std::cout << j.dump() << "\n";
}

// One attribution graph over `tokens` ids (the last `tokens` of --ids-file, else
// random), contrasting the model's top-2 tokens at the last position: time,
// peak memory and the graph's size. One run per process (peak memory).
void run_graph(const BenchOptions& opt) {
  const LoadedModel m = load_model(opt.model_options);
  const double rss_loaded = peak_rss_mib();
  const auto& c = m.checkpoint.config();
  at::Tensor ids;
  if (opt.ids_file) {
    const auto all = nlohmann::json::parse(io::read_text_file(*opt.ids_file), nullptr, false);
    if (!all.is_array() || static_cast<std::int64_t>(all.size()) < opt.tokens)
      throw Error(Where{*opt.ids_file},
                  "expected a JSON list of at least " + std::to_string(opt.tokens) + " token ids");
    std::vector<std::int64_t> v;
    for (std::size_t i = all.size() - static_cast<std::size_t>(opt.tokens); i < all.size(); ++i)
      v.push_back(all[i].get<std::int64_t>());
    ids = at::tensor(v, at::kLong);
  } else {
    at::manual_seed(opt.seed);
    ids = at::randint(c.vocab_size, {opt.tokens}, at::kLong);
  }
  std::int64_t wrong = 0, correct = 0;
  {
    c10::InferenceMode inference_mode;
    const at::Tensor h = m.decoder->run_layers(m.decoder->embed(ids.unsqueeze(0)),
                                               at::arange(opt.tokens, at::kLong));
    const auto top = at::topk(m.decoder->unembed(h.narrow(1, opt.tokens - 1, 1)).flatten(), 2);
    wrong = std::get<1>(top)[0].item<std::int64_t>();
    correct = std::get<1>(top)[1].item<std::int64_t>();
  }
  graph::GraphOptions go;
  go.rule = lrp::parse_rule(opt.rule);
  go.method = opt.method == "packed" ? graph::EdgeMethod::Packed : graph::EdgeMethod::Structured;
  if (opt.max_memory) go.max_memory = parse_byte_size(*opt.max_memory);
  const graph::Graph g = graph::build_graph(*m.decoder, ids, opt.tokens - 1, wrong, correct, go);
  const graph::GraphSummary s = graph::summarize(g);
  nlohmann::json j{{"benchmark", "graph"},
                   {"rule", opt.rule},
                   {"method", opt.method},
                   {"tokens", opt.tokens},
                   {"threads", util::compute_threads()},
                   {"seconds", g.seconds},
                   {"peak_rss_mib", peak_rss_mib()},
                   {"rss_after_load_mib", rss_loaded},
                   {"plan", g.plan.describe()},
                   {"nodes", s.nodes},
                   {"edges", s.edges},
                   {"target", g.target}};
  std::cout << j.dump() << "\n";
}

// Contrastive pairs explained one at a time and packed (batched explanation,
// lrp/engine.hpp) in the same process, recording what a campaign records by
// default (residual and heads): medians of the loop's wall time, cases/s, and
// how far the packed token relevance is from the one-at-a-time one.
void run_lrp_pairs(const BenchOptions& opt) {
  const LoadedModel m = load_model(opt.model_options);
  const lrp::Rule rule = lrp::parse_rule(opt.rule);
  const std::int64_t vocab = m.checkpoint.config().vocab_size;
  const nlohmann::json all = read_pairs(opt.pairs_file);
  std::vector<at::Tensor> ids;
  std::vector<lrp::Seed> seeds;
  std::int64_t tokens = 0;
  for (const auto& p : all) {
    ids.push_back(at::tensor(p.at("ids").get<std::vector<std::int64_t>>(), at::kLong));
    seeds.push_back(lrp::Seed::contrastive(-1, p.at("wrong"), p.at("correct"), vocab));
    tokens += ids.back().size(0);
  }
  // Packed in order, as a campaign packs a batch.
  std::vector<std::int64_t> lengths;
  for (const at::Tensor& t : ids)
    lengths.push_back(t.size(0));
  const std::vector<model::Packing> packs = model::pack_in_order(lengths, opt.pack_tokens);
  std::vector<std::size_t> first;  // each pack's first pair
  for (std::size_t k = 0, next = 0; k < packs.size(); next += packs[k++].size())
    first.push_back(next);
  const lrp::Engine engine(*m.decoder);
  const lrp::RecordOptions record{.residual = true, .heads = true};
  std::vector<at::Tensor> alone(ids.size()), packed(ids.size());
  const auto one_at_a_time = [&] {
    for (std::size_t i = 0; i < ids.size(); ++i)
      alone[i] = engine.explain(ids[i], {seeds[i]}, rule, record).token_relevance;
  };
  const auto batched = [&] {
    for (std::size_t k = 0; k < packs.size(); ++k) {
      const std::size_t n = packs[k].size();
      std::vector<at::Tensor> part(ids.begin() + static_cast<std::ptrdiff_t>(first[k]),
                                   ids.begin() + static_cast<std::ptrdiff_t>(first[k] + n));
      std::vector<lrp::Seed> s(seeds.begin() + static_cast<std::ptrdiff_t>(first[k]),
                               seeds.begin() + static_cast<std::ptrdiff_t>(first[k] + n));
      const auto each = lrp::unpack(
          engine.explain(engine.forward_ids(at::cat(part), packs[k]), s, rule, record), packs[k]);
      for (std::size_t j = 0; j < n; ++j)
        packed[first[k] + j] = each[j].token_relevance;
    }
  };
  // Alternating would interleave the caches' warm-up; each gets its own warm-up instead.
  const double t_alone = median_seconds(opt, one_at_a_time);
  const double t_packed = median_seconds(opt, batched);
  double deviation = 0;
  for (std::size_t i = 0; i < ids.size(); ++i)
    deviation = std::max(
        deviation, ((packed[i] - alone[i]).abs().max() / alone[i].abs().max().clamp_min(1e-30))
                       .item<double>());
  const double n = static_cast<double>(ids.size());
  nlohmann::json j{{"benchmark", "lrp-pairs"},
                   {"rule", opt.rule},
                   {"cases", ids.size()},
                   {"tokens", tokens},
                   {"pack_tokens", opt.pack_tokens},
                   {"packs", packs.size()},
                   {"threads", util::compute_threads()},
                   {"device", m.decoder->compute().device.str()},
                   {"one_at_a_time_seconds", t_alone},
                   {"packed_seconds", t_packed},
                   {"one_at_a_time_cases_per_second", n / t_alone},
                   {"packed_cases_per_second", n / t_packed},
                   {"speedup", t_alone / t_packed},
                   {"max_relative_deviation", deviation},
                   {"repeat", opt.repeat}};
  std::cout << j.dump() << "\n";
}

// The cost of faithfulness curves (lrp/faithfulness.hpp) beside the
// explanation they test: for every pair of --pairs, one explanation under
// --rule, then the curves of both operators on the default grid, their
// removal inputs packed (as campaigns and clrp explain run them) and one
// forward per input; the two must give the same curves.
void run_faithfulness(const BenchOptions& opt) {
  const LoadedModel m = load_model(opt.model_options);
  const lrp::Rule rule = lrp::parse_rule(opt.rule);
  const std::int64_t vocab = m.checkpoint.config().vocab_size;
  const nlohmann::json all = read_pairs(opt.pairs_file);
  struct Pair {
    std::vector<std::int32_t> ids;
    std::int32_t wrong, correct;
    std::vector<float> relevance;
    double delta = 0;
  };
  std::vector<Pair> pairs;
  std::int64_t tokens = 0;
  for (const auto& p : all) {
    pairs.push_back({p.at("ids").get<std::vector<std::int32_t>>(), p.at("wrong"), p.at("correct")});
    tokens += static_cast<std::int64_t>(pairs.back().ids.size());
  }
  const lrp::Engine engine(*m.decoder);
  const lrp::RecordOptions record{.residual = true, .heads = true};
  const auto explain_all = [&] {
    for (Pair& p : pairs) {
      const lrp::Explanation ex = engine.explain(
          at::tensor(std::vector<std::int64_t>(p.ids.begin(), p.ids.end()), at::kLong),
          {lrp::Seed::contrastive(-1, p.wrong, p.correct, vocab)}, rule, record);
      const at::Tensor r = ex.token_relevance[0].to(at::kFloat).contiguous();
      p.relevance.assign(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
      p.delta = ex.target[0].item<double>();
    }
  };
  const lrp::FaithfulnessOptions fo;
  std::vector<std::vector<float>> packed(pairs.size()), alone(pairs.size());
  std::size_t forwards = 0;
  const auto curves = [&](bool pack, std::vector<std::vector<float>>& out) {
    forwards = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const Pair& p = pairs[i];
      const lrp::DeltaOf delta_of = [&](const std::vector<lrp::ValueInput>& inputs) {
        if (pack) return lrp::whole_model_delta_of(*m.decoder, p.wrong, p.correct)(inputs);
        std::vector<double> values;
        for (const lrp::ValueInput& in : inputs)
          values.push_back(
              lrp::seed_values(*m.decoder, lrp::value_batches({in}, p.wrong, p.correct, vocab))[0]);
        return values;
      };
      const std::vector<char> removable =
          lrp::removable_tokens(std::vector<std::int8_t>(p.ids.size(), 0), p.ids,
                                [&](std::int32_t id) { return m.tokenizer->is_special(id); });
      const lrp::FaithfulnessCurves c = lrp::faithfulness_curves(
          delta_of, p.ids, removable, p.relevance, 1, std::to_string(i), p.delta, fo);
      out[i] = c.delta;
      forwards += c.forwards;
    }
  };
  const double t_explain = median_seconds(opt, explain_all);
  const double t_packed = median_seconds(opt, [&] { curves(true, packed); });
  const double t_alone = median_seconds(opt, [&] { curves(false, alone); });
  double deviation = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i)
    for (std::size_t k = 0; k < packed[i].size(); ++k)
      deviation = std::max(deviation, static_cast<double>(std::abs(packed[i][k] - alone[i][k])));
  nlohmann::json j{{"benchmark", "faithfulness"},
                   {"rule", opt.rule},
                   {"cases", pairs.size()},
                   {"tokens", tokens},
                   {"forwards", forwards},
                   {"steps", fo.steps()},
                   {"operators", fo.operators.size()},
                   {"threads", util::compute_threads()},
                   {"device", m.decoder->compute().device.str()},
                   {"explain_seconds", t_explain},
                   {"faithfulness_packed_seconds", t_packed},
                   {"faithfulness_one_at_a_time_seconds", t_alone},
                   {"packed_over_explain", t_packed / t_explain},
                   {"packing_speedup", t_alone / t_packed},
                   {"max_abs_deviation", deviation},
                   {"repeat", opt.repeat}};
  if (opt.dump_file) {
    // What a reference needs to recompute the same curves: the orders come
    // from this relevance.
    nlohmann::json d = nlohmann::json::array();
    for (std::size_t i = 0; i < pairs.size(); ++i)
      d.push_back({{"case_id", std::to_string(i)},
                   {"ids", pairs[i].ids},
                   {"wrong", pairs[i].wrong},
                   {"correct", pairs[i].correct},
                   {"relevance", pairs[i].relevance},
                   {"delta", pairs[i].delta},
                   {"curves", packed[i]}});
    write_file(*opt.dump_file, d.dump() + "\n");
  }
  std::cout << j.dump() << "\n";
}

// Batched decoding steps (DecoderModel::forward_step, as greedy_generate_batch
// drives it): `batch` sequences of `tokens` random ids each (one prefill per
// sequence, untimed), then `steps` steps of all of them together, each row
// feeding its own top token. Reports steps/s and generated tokens/s, the
// decode figure bench/generate.py sets beside llama.cpp's batched decode.
void run_decode(const BenchOptions& opt) {
  const LoadedModel m = load_model(opt.model_options);
  const auto& c = m.checkpoint.config();
  if (opt.tokens + opt.steps * (opt.warmup + opt.repeat) > c.max_position_embeddings)
    throw Error("--tokens plus every step exceed the model's context of " +
                std::to_string(c.max_position_embeddings));
  c10::InferenceMode inference_mode;
  at::manual_seed(opt.seed);
  std::vector<model::KvCache> caches(static_cast<std::size_t>(opt.batch));
  std::vector<std::int32_t> next;
  for (model::KvCache& cache : caches) {
    const at::Tensor ids = at::randint(c.vocab_size, {1, opt.tokens}, at::kLong);
    const at::Tensor logits = m.decoder->forward_cached(ids, cache, true);
    next.push_back(static_cast<std::int32_t>(logits.argmax().item<std::int64_t>()));
  }
  std::vector<model::KvCache*> rows;
  for (model::KvCache& cache : caches)
    rows.push_back(&cache);
  const auto run = [&] {
    for (std::int64_t s = 0; s < opt.steps; ++s) {
      const at::Tensor top = m.decoder->forward_step(next, rows).argmax(1).to(at::kCPU);
      for (std::size_t i = 0; i < next.size(); ++i)
        next[i] = static_cast<std::int32_t>(top[static_cast<std::int64_t>(i)].item<std::int64_t>());
    }
  };
  const double median = median_seconds(opt, run);
  const auto steps = static_cast<double>(opt.steps);
  nlohmann::json j{{"benchmark", "decode"},
                   {"model", m.checkpoint.path()},
                   {"prompt_tokens", opt.tokens},
                   {"batch", opt.batch},
                   {"steps", opt.steps},
                   {"threads", util::compute_threads()},
                   {"device", m.decoder->compute().device.str()},
                   {"median_seconds", median},
                   {"steps_per_second", steps / median},
                   {"tokens_per_second", steps * static_cast<double>(opt.batch) / median},
                   {"repeat", opt.repeat}};
  std::cout << j.dump() << "\n";
}

}  // namespace

void register_bench(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Time clrp's kernels (bench/*.py runs these beside the reference implementations)");
  cmd->require_subcommand(1);
  CLI::App* fwd = cmd->add_subcommand(
      "forward", "Model load time and forward-pass time on random tokens (JSON)");
  add_model_options(fwd, opt->model_options);
  fwd->add_option("--tokens", opt->tokens, "Sequence length")->check(CLI::PositiveNumber);
  fwd->add_option("--repeat", opt->repeat, "Timed repetitions")->check(CLI::PositiveNumber);
  fwd->add_option("--warmup", opt->warmup, "Untimed repetitions first")
      ->check(CLI::NonNegativeNumber);
  fwd->add_option("--seed", opt->seed, "Seed of the random token ids");
  fwd->callback([opt] { run_forward(*opt); });
  CLI::App* lrp = cmd->add_subcommand(
      "lrp", "One contrastive explanation on random tokens: time and peak memory (JSON)");
  add_model_options(lrp, opt->model_options);
  lrp->add_option("--tokens", opt->tokens, "Sequence length")->check(CLI::PositiveNumber);
  add_rule_option(lrp, opt->rule);
  lrp->add_option("--repeat", opt->repeat, "Timed repetitions")->check(CLI::PositiveNumber);
  lrp->add_option("--warmup", opt->warmup, "Untimed repetitions first")
      ->check(CLI::NonNegativeNumber);
  lrp->add_option("--seed", opt->seed, "Seed of the random token ids");
  lrp->callback([opt] { run_lrp(*opt); });
  CLI::App* gr = cmd->add_subcommand(
      "graph",
      "One attribution graph (top-2 contrast at the last token): time, memory, size (JSON)");
  add_model_options(gr, opt->model_options);
  gr->add_option("--tokens", opt->tokens, "Sequence length")->check(CLI::PositiveNumber);
  gr->add_option("--ids-file", opt->ids_file,
                 "A JSON list of token ids; its last --tokens are used (default: random ids)");
  add_rule_option(gr, opt->rule);
  gr->add_option("--method", opt->method, "structured or packed")
      ->check(CLI::IsMember({"structured", "packed"}));
  gr->add_option("--max-memory", opt->max_memory, "Memory budget above the weights (e.g. 3G)");
  gr->add_option("--seed", opt->seed, "Seed of the random token ids");
  gr->callback([opt] { run_graph(*opt); });
  CLI::App* lp = cmd->add_subcommand(
      "lrp-pairs",
      "Contrastive pairs explained one at a time and packed, side by side: cases/s (JSON)");
  add_model_options(lp, opt->model_options);
  lp->add_option("--pairs", opt->pairs_file,
                 "A JSON list of {\"ids\": [...], \"wrong\": id, \"correct\": id}")
      ->required();
  lp->add_option("--pack-tokens", opt->pack_tokens, "Tokens per packed micro-batch")
      ->check(CLI::PositiveNumber);
  add_rule_option(lp, opt->rule);
  lp->add_option("--repeat", opt->repeat, "Timed repetitions")->check(CLI::PositiveNumber);
  lp->add_option("--warmup", opt->warmup, "Untimed repetitions first")
      ->check(CLI::NonNegativeNumber);
  lp->callback([opt] { run_lrp_pairs(*opt); });
  CLI::App* fa = cmd->add_subcommand(
      "faithfulness",
      "Faithfulness curves of contrastive pairs beside their explanations: seconds, packed and "
      "one forward at a time (JSON)");
  add_model_options(fa, opt->model_options);
  fa->add_option("--pairs", opt->pairs_file,
                 "A JSON list of {\"ids\": [...], \"wrong\": id, \"correct\": id}")
      ->required();
  add_rule_option(fa, opt->rule);
  fa->add_option("--repeat", opt->repeat, "Timed repetitions")->check(CLI::PositiveNumber);
  fa->add_option("--warmup", opt->warmup, "Untimed repetitions first")
      ->check(CLI::NonNegativeNumber);
  fa->add_option("--dump", opt->dump_file,
                 "Write every case's ids, token relevance, Δℓ and curves (JSON) for a reference");
  fa->callback([opt] { run_faithfulness(*opt); });
  CLI::App* dec = cmd->add_subcommand(
      "decode", "Batched greedy decoding steps after random prompts: tokens/s (JSON)");
  add_model_options(dec, opt->model_options);
  dec->add_option("--tokens", opt->tokens, "Prompt length of every sequence")
      ->check(CLI::PositiveNumber);
  dec->add_option("--batch", opt->batch, "Sequences stepping together")->check(CLI::PositiveNumber);
  dec->add_option("--steps", opt->steps, "Timed steps per repetition")->check(CLI::PositiveNumber);
  dec->add_option("--repeat", opt->repeat, "Timed repetitions")->check(CLI::PositiveNumber);
  dec->add_option("--warmup", opt->warmup, "Untimed repetitions first")
      ->check(CLI::NonNegativeNumber);
  dec->add_option("--seed", opt->seed, "Seed of the random prompts");
  dec->callback([opt] { run_decode(*opt); });
}

}  // namespace clrp::app
