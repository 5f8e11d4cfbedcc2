#include "clrp/dist/layer_split.hpp"

#include <algorithm>
#include <limits>

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
