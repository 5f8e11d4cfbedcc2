// The ranks of one replica group explaining cases together.
//
// A group of P ranks shares one model: rank s of the group (stage s) holds
// layers [a_s, b_s) of it. The group's leader (stage 0) takes batches of tasks
// from the scheduler, tokenises them and orders the other stages, who serve
// orders until told to finish:
//   - load: the target's model, each stage its layers (the split is agreed
//     collectively, so it comes before anything else that uses the model);
//   - explain: the batch's cases as micro-batches through the pipeline
//     (lrp/stage_work.hpp), every rule of the campaign; results gathered to the leader;
//   - values: forward passes only, Δℓ of shortened inputs (the deletion test and
//     faithfulness curves, lrp/faithfulness.hpp);
//   - graph: one case's attribution graph (graph/stage_work.hpp: stage-local
//     edges, gathered);
//   - generate: serve the leader's decoding requests until it closes the
//     session (dist/staged_decoder.hpp): benchmark items evaluated through
//     the stages. The leader opens a session at its first request and closes
//     it before its next order;
//   - commit / finish: take part in the store's collective commit (and stop).
// With P = 1 the leader is the whole group and no order is ever sent; the
// same code explains, so one stage and P stages give the same numbers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clrp/campaign/explain_case.hpp"
#include "clrp/campaign/plan.hpp"
#include "clrp/dist/pipeline.hpp"
#include "clrp/dist/staged_decoder.hpp"
#include "clrp/dist/transport.hpp"
#include "clrp/dist/world.hpp"
#include "clrp/lrp/stage_work.hpp"

namespace clrp::campaign {

/// What the leader tells its stages.
struct GroupOrder {
  enum Kind : int {
    load = 0,
    explain = 1,
    values = 2,
    graph = 3,
    commit = 4,
    finish = 5,
    generate = 6
  };
  int kind = load;
  std::uint32_t target = 0;                  ///< the plan target (model × checkpoint) to use
  std::vector<std::int32_t> wrong, correct;  ///< per case (explain, values, graph)
  /// explain: the cases packed into each micro-batch, by their token counts
  /// (empty: a micro-batch per case)
  std::vector<model::Packing> packings;
  /// values: per micro-batch, the hidden states its forward zeroes (graph interventions)
  std::vector<std::vector<model::ZeroedState>> states;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& kind& target& wrong& correct& packings& states;
  }
};

class GroupMember {
 public:
  /// `log` receives one line per event worth a rank log (model loads, splits).
  GroupMember(const CampaignSpec& spec, const Plan& plan, const dist::World& world,
              std::function<void(const std::string&)> log);
  ~GroupMember();

  // --- the leader ---------------------------------------------------------
  /// The target's tokenizer and config (loading its stage model if needed;
  /// the other stages load theirs with the next order).
  const model::LoadedModel& target(std::uint32_t target);
  /// The target's model for incremental decoding (loading it if needed): the
  /// whole model with one stage, else the group's stages (dist::StagedDecoder).
  /// Valid until another target is loaded.
  const model::IncrementalModel& decoder(std::uint32_t target);
  /// Explains prepared cases of `target` (ids and their contrastive seeds):
  /// one result per case, whose rules follow spec.rules.
  std::vector<lrp::MicroBatchResult> explain(std::uint32_t target,
                                             const std::vector<at::Tensor>& ids,
                                             const std::vector<store::CaseRecord>& records);
  /// Δℓ of `wrong` over `correct` at the last token of each removal input
  /// (lrp::value_batches: packed, streamed through the stages).
  std::vector<double> values(std::uint32_t target, const std::vector<lrp::ValueInput>& inputs,
                             std::int32_t wrong, std::int32_t correct);
  /// The pruned attribution graph of a prepared case.
  graph::Graph graph(std::uint32_t target, const at::Tensor& ids, const store::CaseRecord& r);
  /// Tells the other stages to commit (and, with `finish`, to stop afterwards).
  void order_commit(bool finish);
  /// Micro-batches a forward-only chunk should hold to keep every stage busy.
  std::int64_t stages() const { return world_.stages(); }

  // --- the other stages -----------------------------------------------------
  /// Waits for the leader's next order and carries it out; returns its kind
  /// (commit and finish are the caller's to carry out).
  GroupOrder::Kind serve();

 private:
  void ensure_loaded(std::uint32_t target);
  void send_order(const GroupOrder& order);
  /// Every stage's share of one graph; the merged graph on the leader.
  std::optional<graph::Graph> build_graph(const GroupOrder& order, const at::Tensor& ids);
  /// The order's micro-batches: a case each, or its packings' cases packed
  /// (ids read on the leader only).
  std::vector<lrp::MicroBatch> micro_batches(const std::vector<at::Tensor>& ids,
                                             const GroupOrder& order) const;
  /// Explains the order's cases on every stage (the leader gets a result per case).
  std::vector<lrp::MicroBatchResult> run_explain(const GroupOrder& order,
                                                 const std::vector<at::Tensor>& ids);

  const CampaignSpec& spec_;
  const Plan& plan_;
  const dist::World& world_;
  std::function<void(const std::string&)> log_;
  c10::Device device_ = c10::kCPU;
  std::unique_ptr<model::LoadedModel> model_;
  std::uint32_t loaded_ = 0;
  std::unique_ptr<dist::Transport> transport_;
  std::unique_ptr<dist::Pipeline> pipeline_;
  std::unique_ptr<dist::StagedDecoder> staged_;     ///< the leader's, with stages
  std::unique_ptr<dist::DecodingServer> decoding_;  ///< the other stages'
};

/// The stages per group of a job of `ranks` ranks: layout.stages, checked
/// against layout.memory_per_rank when there is a budget, or with "auto" the
/// fewest stages (dividing `ranks`) whose largest stage estimate
/// (dist::stage_memory_bytes, for each target's longest case) fits. Throws
/// clrp::Error naming the model, the estimate and the budget when it cannot
/// fit. `report` gets a line per target with its estimate.
int choose_stages(const CampaignSpec& spec, const Plan& plan, int ranks, std::string& report);

/// The compute device of this rank for a model spec's `device`: "cuda"
/// without an index (DeviceSpec::any_gpu) becomes this rank's GPU on its node (node-local rank
/// modulo the node's GPUs), so that the stages of a group spread over them.
c10::Device rank_device(const model::DeviceSpec& device, MPI_Comm world);

}  // namespace clrp::campaign
