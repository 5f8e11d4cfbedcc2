// A campaign expanded into work: targets (model × checkpoint), tables
// (target × benchmark, one store group each) and tasks (one pair under one
// target). Every rank builds the same plan from the same spec and files, so
// tasks are named by their index and only indices travel between ranks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clrp/campaign/failure_file.hpp"
#include "clrp/campaign/spec.hpp"
#include "clrp/model/config.hpp"
#include "clrp/store/record.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::campaign {

/// What the plan knows about a model before running it, read once when
/// planning (config, and the tokenizer where the plan compares them):
/// choosing stages and splitting layers read this instead of the checkpoint.
struct TargetShape {
  model::ModelConfig config;
  std::string tokenizer_fingerprint;  ///< equal fingerprints: the same tokenizer
  /// The tokenizer itself (fixed-set mode: a pair is carried by its text to
  /// a target whose fingerprint differs from the reference's, carry_pair.hpp).
  /// Targets with equal fingerprints may share one.
  std::shared_ptr<const text::Tokenizer> tokenizer;
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

/// One sampled item of a benchmark file.
struct Item {
  cases::Case c;
  std::uint32_t benchmark = 0;  ///< index into spec.benchmarks
  std::uint32_t index = 0;      ///< its line index (0-based) in the file
};

/// One item answered by one target (evaluation, judging, pair search).
struct EvalTask {
  std::uint32_t table = 0;
  std::uint32_t target = 0;
  std::uint32_t item = 0;  ///< index into Plan::items
  std::uint64_t cost = 0;  ///< prompt bytes + token budget: the longest go first
};

struct Plan {
  std::vector<Target> targets;
  /// Every sampled pair of every failure file, then (add_found_pairs) those
  /// the evaluation found.
  std::vector<FailureCase> pairs;
  std::vector<store::TableInfo> tables;
  std::vector<std::uint32_t> table_target;  ///< target of each table
  std::vector<Task> tasks;                  ///< ordered: target by target, longest first
  std::vector<Item> items;                  ///< every sampled benchmark item
  std::vector<EvalTask> evaluations;        ///< ordered like tasks
  /// Per benchmark: its file's bad lines, skipped (skip_bad_lines), and why.
  std::vector<std::string> skipped_lines;
  /// Per table, in fixed-set mode: the reference's pairs that do not carry
  /// to the table's tokenizer, and why (carry_pair.hpp).
  std::vector<std::vector<store::PairNotCarried>> not_carried;
};

/// Reads `shape` of a checkpoint (config, and the tokenizer for its
/// fingerprint in fixed-set mode; no weights: model::Parts).
using DescribeTarget = std::function<TargetShape(const ModelSpec&, const CheckpointSpec&)>;

/// Expands the spec. Checks what needs the models themselves (pair token ids
/// inside each vocabulary) and reports every such problem at once as a
/// SpecError. Fixed-set: under a target whose tokenizer differs from the
/// reference's, each pair is carried by its text (carry_pair.hpp) or, where
/// it does not carry, listed in `not_carried`.
Plan make_plan(const CampaignSpec& spec, const DescribeTarget& describe);

/// Adds the pairs the evaluation found (`evaluations`, per table, as
/// committed in the store) and a task for each: in explain-failures mode
/// under the target that failed, in fixed-set mode the reference's failures
/// under every target. Each table's pairs are taken in item order (graphs
/// go to its first ones), carried to other tokenizers like make_plan's, and
/// the tasks re-sorted like make_plan's. Returns
/// the cases each table now plans (failure-file pairs + found ones).
std::vector<std::uint64_t> add_found_pairs(
    const CampaignSpec& spec, Plan& plan,
    const std::vector<std::vector<store::EvaluationRecord>>& evaluations);

/// The plan target whose failures a fixed-set campaign with benchmarks
/// explains: the reference model's last checkpoint.
std::uint32_t reference_target(const CampaignSpec& spec, const Plan& plan);

/// Batches of at most `batch` of the tasks whose `targets` are given, never
/// mixing targets (a rank loads one model per batch), in task order,
/// skipping those `done`.
std::vector<std::vector<std::uint32_t>> make_batches(const std::vector<std::uint32_t>& targets,
                                                     const std::vector<bool>& done, int batch);

}  // namespace clrp::campaign
