#include "clrp/dist/layer_split.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>

#include "clrp/lrp/engine.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"

namespace clrp::dist {

StageCosts parameter_costs(const model::ModelConfig& config) {
  StageCosts c;
  const auto h = static_cast<double>(config.hidden_size);
  c.layers.assign(static_cast<std::size_t>(config.num_layers),
                  static_cast<double>(config.layer_parameter_count()));
  c.embedding = static_cast<double>(config.vocab_size) * h;
  if (config.positions == model::PositionKind::Learned)
    c.embedding += static_cast<double>(config.max_position_embeddings) * h;
  // A split model's last stage holds its own unembedding, tied or not.
  c.head = static_cast<double>(config.vocab_size) * h +
           (config.norm == model::NormKind::LayerNorm ? 2 : 1) * h;
  return c;
}

namespace {

double seconds_of(const std::function<void()>& work) {
  double best = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < 2; ++rep) {  // the first run also warms caches and allocators
    const auto t0 = std::chrono::steady_clock::now();
    work();
    best = std::min(best, util::seconds_since(t0));
  }
  return best;
}

}  // namespace

StageCosts measure_costs(const model::DecoderModel& stage, MPI_Comm stages_comm,
                         std::int64_t tokens) {
  c10::InferenceMode inference_mode;
  const model::ModelConfig& c = stage.config();
  const lrp::Engine engine(stage);
  const at::Tensor hidden = at::randn({1, tokens, c.hidden_size}, stage.options());
  const model::RotaryTables rope = stage.rotary(at::arange(tokens, at::kLong));
  std::vector<double> mine;  // this stage's layers, then its embedding and head times
  for (auto l = stage.layer_begin(); l < stage.layer_end(); ++l)
    mine.push_back(seconds_of([&] {
      model::LayerTape tape;
      stage.run_layer(l, hidden, rope, &tape);
      engine.backward_layer(l, tape, rope, hidden, lrp::Rule::AttnLRP);
    }));
  const at::Tensor ids = at::zeros({tokens}, at::kLong);
  mine.push_back(stage.has_embedding() ? seconds_of([&] { stage.embed(ids.unsqueeze(0)); }) : 0);
  double head = 0;
  if (stage.has_head()) {
    lrp::ForwardState st;
    st.output = hidden;
    lrp::Explanation out;
    const auto seed = lrp::Seed::contrastive(tokens - 1, 0, 1, c.vocab_size);
    head = seconds_of([&] { engine.seed(st, {seed}, lrp::Rule::AttnLRP, out); });
  }
  mine.push_back(head);
  // Gather everyone's list (stage s sends its layers' count + 2 values).
  int size = 1;
  MPI_Comm_size(stages_comm, &size);
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, stages_comm);
  int total = 0;
  for (int s = 0; s < size; ++s)
    offsets[s] = total, total += counts[s];
  std::vector<double> all(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                 stages_comm);
  StageCosts costs;
  for (int s = 0; s < size; ++s) {
    const double* p = &all[static_cast<std::size_t>(offsets[s])];
    costs.layers.insert(costs.layers.end(), p, p + counts[s] - 2);
    costs.embedding += p[counts[s] - 2];
    costs.head += p[counts[s] - 1];
  }
  return costs;
}

std::vector<double> stage_costs(const StageCosts& costs,
                                const std::vector<model::LayerRange>& split) {
  std::vector<double> out;
  for (std::size_t s = 0; s < split.size(); ++s) {
    double c = 0;
    for (auto l = split[s].begin; l < split[s].end; ++l)
      c += costs.layers[static_cast<std::size_t>(l)];
    if (s == 0) c += costs.embedding;
    if (s + 1 == split.size()) c += costs.head;
    out.push_back(c);
  }
  return out;
}

std::vector<model::LayerRange> balance_layers(const StageCosts& costs, int stages) {
  const auto L = static_cast<int>(costs.layers.size());
  if (stages < 1 || stages > L)
    throw Error(std::to_string(stages) + " pipeline stages for a model of " + std::to_string(L) +
                " layers: every stage needs at least one layer");
  // prefix[i]: cost of layers [0, i).
  std::vector<double> prefix(static_cast<std::size_t>(L) + 1, 0);
  for (int i = 0; i < L; ++i)
    prefix[i + 1] = prefix[i] + costs.layers[static_cast<std::size_t>(i)];
  const auto range_cost = [&](int a, int b, int s) {
    double c = prefix[b] - prefix[a];
    if (s == 0) c += costs.embedding;
    if (s == stages - 1) c += costs.head;
    return c;
  };
  // best[s][i]: the smallest largest-stage cost of layers [0, i) over stages
  // 0..s, each with at least one layer; cut[s][i] is where stage s starts.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(stages, std::vector<double>(L + 1, inf));
  std::vector<std::vector<int>> cut(stages, std::vector<int>(L + 1, 0));
  for (int i = 1; i <= L; ++i)
    best[0][i] = range_cost(0, i, 0);
  for (int s = 1; s < stages; ++s)
    for (int i = s + 1; i <= L; ++i)
      for (int a = s; a < i; ++a) {
        const double c = std::max(best[s - 1][a], range_cost(a, i, s));
        // Ties go to the later cut: earlier stages take more layers, the
        // last one (which also seeds) fewer.
        if (c <= best[s][i]) best[s][i] = c, cut[s][i] = a;
      }
  std::vector<model::LayerRange> split(static_cast<std::size_t>(stages));
  int end = L;
  for (int s = stages - 1; s >= 0; --s) {
    const int begin = s == 0 ? 0 : cut[s][end];
    split[static_cast<std::size_t>(s)] = {begin, end};
    end = begin;
  }
  return split;
}

std::int64_t stage_memory_bytes(const model::ModelConfig& c,
                                const std::vector<model::LayerRange>& split, std::size_t stage,
                                std::int64_t tokens, std::int64_t rules, std::int64_t value_bytes) {
  const auto P = static_cast<std::int64_t>(split.size());
  const std::int64_t in_flight = P - static_cast<std::int64_t>(stage);
  const std::int64_t layers = split[stage].end - split[stage].begin;
  const auto weights =
      static_cast<std::int64_t>(stage_costs(parameter_costs(c), split)[stage]) * value_bytes;
  const std::int64_t tapes =
      in_flight * tokens * (layers * c.tape_values_per_token() + c.hidden_size) * value_bytes;
  // One rule's backward at a time; gradients for every rule wait at the seam.
  const std::int64_t backward = tokens *
                                (4 * c.hidden_size + 3 * c.intermediate_size +
                                 8 * c.num_heads * c.head_dim + rules * c.hidden_size) *
                                value_bytes;
  return weights + tapes + backward;
}

void check_split(const std::vector<model::LayerRange>& split, std::int64_t layers) {
  std::int64_t next = 0;
  for (std::size_t s = 0; s < split.size(); ++s) {
    if (split[s].begin != next || split[s].end <= split[s].begin)
      throw Error("stage split " + describe_split(split) + ": stage " + std::to_string(s) +
                  " must start at layer " + std::to_string(next) + " and hold at least one layer");
    next = split[s].end;
  }
  if (next != layers)
    throw Error("stage split " + describe_split(split) + " does not end at the model's " +
                std::to_string(layers) + " layers");
}

std::string describe_split(const std::vector<model::LayerRange>& split) {
  std::string out;
  for (const auto& r : split)
    out += (out.empty() ? "[" : " [") + std::to_string(r.begin) + "," + std::to_string(r.end) + ")";
  return out;
}

}  // namespace clrp::dist
