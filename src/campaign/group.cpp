#include "clrp/campaign/group.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cstdio>

#include "clrp/dist/layer_split.hpp"
#include "clrp/dist/message.hpp"
#include "clrp/graph/stage_work.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/util/build_info.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

constexpr int kTagOrder = 7500;
// Tokens of the probe that times each layer when balancing by time.
constexpr std::int64_t kProbeTokens = 256;

}  // namespace

int choose_stages(const CampaignSpec& spec, const Plan& plan, int ranks, std::string& report) {
  const std::int64_t budget = spec.layout.memory_per_rank;
  if (budget == 0) return spec.layout.stages;
  // The longest case of each target bounds its micro-batches (a token has at
  // least one byte: the bound is safe, and tight for long contexts).
  std::vector<std::int64_t> longest(plan.targets.size(), 0);
  for (const Task& t : plan.tasks)
    longest[t.target] = std::max(longest[t.target], static_cast<std::int64_t>(t.cost) + 2);
  // The largest stage estimate of target i with P stages.
  std::vector<model::ModelConfig> configs;
  for (const Target& t : plan.targets)
    configs.push_back(t.shape.config);
  // A packed micro-batch holds up to pack_tokens of a batch's cases; a
  // longer case goes alone.
  const auto micro_batch_tokens = [&](std::size_t i) {
    const std::int64_t case_tokens = std::min(longest[i], configs[i].max_position_embeddings);
    return std::max(case_tokens,
                    std::min(spec.layout.pack_tokens, spec.layout.batch_cases * case_tokens));
  };
  const auto estimate = [&](std::size_t i, int P) {
    const model::ModelConfig& c = configs[i];
    const std::int64_t tokens = micro_batch_tokens(i);
    const ModelSpec& ms = spec.models[plan.targets[i].model];
    const std::int64_t bytes = ms.dtype == model::ComputeDtype::BFloat16 ? 2 : 4;
    const auto split = dist::balance_layers(dist::parameter_costs(c), P);
    std::int64_t worst = 0;
    for (std::size_t s = 0; s < split.size(); ++s)
      worst = std::max(
          worst, dist::stage_memory_bytes(c, split, s, tokens,
                                          static_cast<std::int64_t>(spec.rules.size()), bytes));
    return worst;
  };
  const auto fits = [&](int P) {
    for (std::size_t i = 0; i < configs.size(); ++i)
      if (P > configs[i].num_layers || estimate(i, P) > budget) return false;
    return true;
  };
  int P = spec.layout.stages;
  if (P == 0) {  // auto: the fewest stages that fit and divide the job
    for (int p = 1; p <= ranks && P == 0; ++p)
      if (ranks % p == 0 && fits(p)) P = p;
  }
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const Target& t = plan.targets[i];
    const std::string name =
        spec.models[t.model].name + "/" + spec.models[t.model].checkpoints[t.checkpoint].name;
    if (P == 0 || P > configs[i].num_layers || estimate(i, P) > budget) {
      std::string need;
      for (int p = 1; p <= configs[i].num_layers; ++p)
        if (estimate(i, p) <= budget) {
          need = "; it fits with " + std::to_string(p) + " stages";
          break;
        }
      throw Error(
          Where{spec.file, "layout.memory_per_rank"},
          name + " needs about " + format_byte_size(estimate(i, std::max(P, 1))) +
              " per rank with " + std::to_string(std::max(P, 1)) + " stage(s) (weights, tapes of " +
              std::to_string(micro_batch_tokens(i)) + " tokens), over the budget of " +
              format_byte_size(budget) + (need.empty() ? "; no split of its layers fits" : need) +
              (spec.layout.stages == 0 && !need.empty() ? " (start a multiple of that many ranks)"
                                                        : ""));
    }
    report += name + ": about " + format_byte_size(estimate(i, P)) + " per rank with " +
              std::to_string(P) + " stage(s), budget " + format_byte_size(budget) + "\n";
  }
  return P;
}

c10::Device rank_device(const model::DeviceSpec& device, MPI_Comm world) {
  if (!device.any_gpu()) return model::resolve_device(device);
  const int local = dist::node_local_rank(world);
  const auto gpus = static_cast<int>(util::gpu_info().devices.size());
  const int index = gpus > 0 ? local % gpus : 0;
  return model::resolve_device({model::DeviceSpec::Kind::Cuda, index});
}

GroupMember::GroupMember(const CampaignSpec& spec, const Plan& plan, const dist::World& world,
                         std::function<void(const std::string&)> log)
    : spec_(spec), plan_(plan), world_(world), log_(std::move(log)) {}

GroupMember::~GroupMember() = default;

void GroupMember::ensure_loaded(std::uint32_t target) {
  if (model_ && loaded_ == target) return;
  // Loading is collective over the group (the split, the transport): the
  // leader first brings its stages along.
  if (world_.leader()) send_order(GroupOrder{GroupOrder::load, target, {}, {}, {}});
  staged_.reset();
  decoding_.reset();
  pipeline_.reset();
  transport_.reset();
  model_.reset();
  const auto t0 = std::chrono::steady_clock::now();
  const Target& t = plan_.targets[target];
  const ModelSpec& ms = spec_.models[t.model];
  const std::string& path = ms.checkpoints[t.checkpoint].path;
  device_ = rank_device(ms.device, world_.world());
  // The split by parameter count needs only the config; each stage then maps
  // just its layers. Balancing by time measures those layers, then moves to
  // the timed split when it shortens the slowest stage by 5 % or more.
  const model::ModelConfig& config = t.shape.config;
  const int P = world_.stages();
  auto split = dist::balance_layers(dist::parameter_costs(config), P);
  model_ = std::make_unique<model::LoadedModel>(
      model::load(path, {.compute = {device_, model::scalar_type(ms.dtype)},
                         .layers = split[static_cast<std::size_t>(world_.stage())]}));
  std::string how = "parameter count";
  if (P > 1 && spec_.layout.balance_by_time) {
    const auto costs =
        dist::measure_costs(*model_->decoder, world_.stages_comm(),
                            std::min<std::int64_t>(kProbeTokens, config.max_position_embeddings));
    const auto timed = dist::balance_layers(costs, P);
    const auto slowest = [&](const auto& s) {
      const auto c = dist::stage_costs(costs, s);
      return *std::max_element(c.begin(), c.end());
    };
    how = "measured time";
    if (slowest(timed) < 0.95 * slowest(split)) {
      how += " (re-split from " + dist::describe_split(split) + ")";
      split = timed;
      model_->load_layers(split[static_cast<std::size_t>(world_.stage())]);
    }
  }
  const model::LayerRange mine = split[static_cast<std::size_t>(world_.stage())];
  loaded_ = target;
  transport_ = dist::make_transport(world_.stages_comm(), device_, spec_.layout.transport);
  pipeline_ = std::make_unique<dist::Pipeline>(world_.stages_comm(), *transport_);
  if (P > 1 && world_.leader())
    staged_ = std::make_unique<dist::StagedDecoder>(
        *model_->decoder, *transport_, world_.stages_comm(), [this] {
          send_order(GroupOrder{GroupOrder::generate, loaded_, {}, {}, {}});
        });
  else if (P > 1)
    decoding_ =
        std::make_unique<dist::DecodingServer>(*model_->decoder, *transport_, world_.stages_comm());
  std::string line = "loaded " + ms.name + "/" + ms.checkpoints[t.checkpoint].name;
  if (P > 1)
    line += " layers [" + std::to_string(mine.begin) + "," + std::to_string(mine.end) + ") of " +
            std::to_string(config.num_layers) + " (stage " + std::to_string(world_.stage()) +
            " of " + std::to_string(P) + "; split " + dist::describe_split(split) + " by " + how +
            "; transport " + transport_->name() + ")";
  log_(line + " in " + std::to_string(util::seconds_since(t0)) + " s");
}

const model::LoadedModel& GroupMember::target(std::uint32_t target) {
  ensure_loaded(target);
  return *model_;
}

const model::IncrementalModel& GroupMember::decoder(std::uint32_t target) {
  ensure_loaded(target);
  if (staged_) return *staged_;
  return *model_->decoder;
}

void GroupMember::send_order(const GroupOrder& order) {
  // The stages serve decoding requests until told otherwise: that comes first.
  if (staged_ && order.kind != GroupOrder::generate) staged_->close();
  for (int s = 1; s < world_.stages(); ++s)
    dist::send_serialized(order, s, kTagOrder, world_.stages_comm());
}

std::vector<lrp::MicroBatch> GroupMember::micro_batches(const std::vector<at::Tensor>& ids,
                                                        const GroupOrder& order) const {
  const std::int64_t vocab = model_->checkpoint.config().vocab_size;
  std::vector<model::Packing> packings = order.packings;
  if (packings.empty()) packings.assign(order.wrong.size(), {});  // a case each
  std::vector<lrp::MicroBatch> out(packings.size());
  std::size_t next = 0;  // the first case of the micro-batch
  for (std::size_t m = 0; m < out.size(); ++m) {
    lrp::MicroBatch& mb = out[m];
    mb.packing = packings[m].size() > 1 ? packings[m] : model::Packing{};
    mb.rules = spec_.rules;
    std::vector<at::Tensor> parts;
    for (std::size_t s = 0; s < mb.sequences(); ++s, ++next) {
      if (!ids.empty()) parts.push_back(ids.at(next));
      // −1: the last token, which only stage 0 knows the position of.
      mb.seeds.push_back(
          lrp::Seed::contrastive(-1, order.wrong.at(next), order.correct.at(next), vocab));
    }
    if (!parts.empty()) mb.ids = parts.size() == 1 ? parts[0] : at::cat(parts);
    if (m < order.states.size()) mb.states = order.states[m];
  }
  return out;
}

std::vector<lrp::MicroBatchResult> GroupMember::run_explain(const GroupOrder& order,
                                                            const std::vector<at::Tensor>& ids) {
  return lrp::explain(*pipeline_, *model_->decoder, micro_batches(ids, order),
                      {.residual = spec_.record.residual,
                       .heads = spec_.record.heads,
                       .neurons = spec_.record.neurons});
}

std::vector<lrp::MicroBatchResult> GroupMember::explain(
    std::uint32_t target, const std::vector<at::Tensor>& ids,
    const std::vector<store::CaseRecord>& records) {
  ensure_loaded(target);
  GroupOrder order{GroupOrder::explain, target, {}, {}, {}};
  for (const auto& r : records) {
    order.wrong.push_back(r.wrong_id);
    order.correct.push_back(r.correct_id);
  }
  if (spec_.layout.pack_tokens > 0) {
    std::vector<std::int64_t> lengths;
    for (const at::Tensor& t : ids)
      lengths.push_back(t.size(0));
    order.packings = model::pack_in_order(lengths, spec_.layout.pack_tokens);
  }
  send_order(order);
  std::vector<lrp::MicroBatchResult> results = run_explain(order, ids);
  // A packed micro-batch fails as a whole (say, one case's activations are not
  // finite): its cases are explained again one by one, so that a case fails alone.
  GroupOrder again{GroupOrder::explain, target, {}, {}, {}};
  std::vector<std::size_t> which;
  std::vector<at::Tensor> again_ids;
  std::size_t next = 0;
  for (const model::Packing& pack : order.packings) {
    for (std::size_t s = 0; s < pack.size(); ++s, ++next)
      if (pack.size() > 1 && !results[next].ok()) {
        which.push_back(next);
        again.wrong.push_back(order.wrong[next]);
        again.correct.push_back(order.correct[next]);
        again_ids.push_back(ids[next]);
      }
  }
  if (!which.empty()) {
    send_order(again);
    std::vector<lrp::MicroBatchResult> alone = run_explain(again, again_ids);
    for (std::size_t i = 0; i < which.size(); ++i)
      results[which[i]] = std::move(alone[i]);
  }
  return results;
}

std::vector<double> GroupMember::values(std::uint32_t target,
                                        const std::vector<lrp::ValueInput>& inputs,
                                        std::int32_t wrong, std::int32_t correct) {
  ensure_loaded(target);
  std::vector<lrp::MicroBatch> batches =
      lrp::value_batches(inputs, wrong, correct, model_->checkpoint.config().vocab_size);
  GroupOrder order{GroupOrder::values, target, {}, {}, {}};
  order.wrong.assign(inputs.size(), wrong);
  order.correct.assign(inputs.size(), correct);
  for (const lrp::MicroBatch& mb : batches) {
    order.packings.push_back(mb.packing.empty() ? model::Packing{mb.ids.size(0)} : mb.packing);
    order.states.push_back(mb.states);
  }
  send_order(order);
  return lrp::seed_values(*pipeline_, *model_->decoder, batches);
}

graph::Graph GroupMember::graph(std::uint32_t target, const at::Tensor& ids,
                                const store::CaseRecord& r) {
  ensure_loaded(target);
  const GroupOrder order{GroupOrder::graph, target, {r.wrong_id}, {r.correct_id}, {}};
  send_order(order);
  return *build_graph(order, ids);
}

// One graph, stage by stage (graph/stage_work.hpp); the merged graph on the leader.
std::optional<graph::Graph> GroupMember::build_graph(const GroupOrder& order,
                                                     const at::Tensor& ids) {
  return graph::build_graph(*pipeline_, *model_->decoder, graph_options(spec_.graphs), ids,
                            order.wrong.at(0), order.correct.at(0));
}

void GroupMember::order_commit(bool finish) {
  send_order(GroupOrder{finish ? GroupOrder::finish : GroupOrder::commit, 0, {}, {}, {}});
}

GroupOrder::Kind GroupMember::serve() {
  const auto order =
      dist::receive_serialized<GroupOrder>(0, kTagOrder, world_.stages_comm(), "group order");
  // Evaluation is over once the leader explains: its caches are gone.
  if (decoding_ && order.kind != GroupOrder::generate && order.kind != GroupOrder::commit)
    decoding_->clear();
  switch (order.kind) {
    case GroupOrder::generate:
      ensure_loaded(order.target);
      decoding_->serve();
      break;
    case GroupOrder::explain:
      ensure_loaded(order.target);
      run_explain(order, {});
      break;
    case GroupOrder::values:
      ensure_loaded(order.target);
      lrp::seed_values(*pipeline_, *model_->decoder, micro_batches({}, order));
      break;
    case GroupOrder::graph:
      ensure_loaded(order.target);
      build_graph(order, {});
      break;
    case GroupOrder::load:
      ensure_loaded(order.target);
      break;
    case GroupOrder::commit:
    case GroupOrder::finish:
      break;
    default:
      throw Error("group order of unknown kind " + std::to_string(order.kind));
  }
  return static_cast<GroupOrder::Kind>(order.kind);
}

}  // namespace clrp::campaign
