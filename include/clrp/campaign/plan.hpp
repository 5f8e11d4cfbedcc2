// A campaign expanded into work: targets (model × checkpoint), tables
// (target × benchmark, one store group each) and tasks (one pair under one
// target). Every rank builds the same plan from the same spec and files, so
// tasks are named by their index and only indices travel between ranks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "clrp/campaign/failure_file.hpp"
#include "clrp/campaign/spec.hpp"
#include "clrp/model/config.hpp"
#include "clrp/store/record.hpp"

namespace clrp::campaign {

/// What the plan knows about a model before running it, read once when
/// planning (config, and the tokenizer where the plan compares them):
/// choosing stages and splitting layers read this instead of the checkpoint.
struct TargetShape {
  model::ModelConfig config;
  std::string tokenizer_fingerprint;  ///< equal fingerprints: the same tokenizer
};

struct Target {
  std::size_t model = 0, checkpoint = 0;
  TargetShape shape;
};

struct Task {
  std::uint32_t table = 0;
  std::uint32_t target = 0;
  std::uint32_t pair = 0;  ///< index into Plan::pairs
  std::uint64_t cost = 0;  ///< prompt + prefix bytes: the longest go first
  bool graph = false;      ///< also build the attribution graph (spec.graphs)
};

struct Plan {
  std::vector<Target> targets;
  std::vector<FailureCase> pairs;  ///< every sampled pair of every failure file
  std::vector<store::TableInfo> tables;
  std::vector<std::uint32_t> table_target;  ///< target of each table
  std::vector<Task> tasks;                  ///< ordered: target by target, longest first
};

/// Reads `shape` of a checkpoint (config, and the tokenizer for its
/// fingerprint in fixed-set mode; no weights: model::Parts).
using DescribeTarget = std::function<TargetShape(const ModelSpec&, const CheckpointSpec&)>;

/// Expands the spec. Checks what needs the models themselves (fixed-set: every
/// tokenizer equals the reference's; pair token ids inside each vocabulary)
/// and reports every such problem at once as a SpecError.
Plan make_plan(const CampaignSpec& spec, const DescribeTarget& describe);

/// Batches of at most `batch` tasks, never mixing targets (a rank loads one
/// model per batch), in task order.
std::vector<std::vector<std::uint32_t>> make_batches(const Plan& plan,
                                                     const std::vector<bool>& done, int batch);

}  // namespace clrp::campaign
