// Which layers each pipeline stage holds.
//
// A stage's cost is the sum of its layers' costs, plus the embedding's for
// stage 0 and the head's (final norm and unembedding) for the last stage. The
// split into P contiguous ranges of at least one layer minimises the largest
// stage cost (the pipeline runs at the pace of its slowest stage). Costs are
// either parameter counts (from the config: no weights needed) or seconds
// measured on each stage's own layers.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "clrp/model/config.hpp"
#include "clrp/model/decoder.hpp"

namespace clrp::dist {

struct StageCosts {
  std::vector<double> layers;  ///< [L] cost of each layer
  double embedding = 0;        ///< added to stage 0
  double head = 0;             ///< added to the last stage
};

/// Parameter counts of a model's layers, embedding and head, from its config.
StageCosts parameter_costs(const model::ModelConfig& config);

/// Seconds of one forward and one AttnLRP backward of each layer `stage`
/// holds, measured on `tokens` random hidden states (the best of two runs),
/// plus the embedding (stage 0) and the seed through the head (last stage).
/// Collective over `stages_comm`: every stage measures its own layers and all
/// get the whole model's costs, so every stage computes the same split.
StageCosts measure_costs(const model::DecoderModel& stage, MPI_Comm stages_comm,
                         std::int64_t tokens);

/// The balanced split of `costs` over `stages` ranges; throws clrp::Error when
/// there are more stages than layers.
std::vector<model::LayerRange> balance_layers(const StageCosts& costs, int stages);

/// Throws clrp::Error unless `split` covers layers [0, layers) in order, each
/// stage with at least one layer (a split given by hand).
void check_split(const std::vector<model::LayerRange>& split, std::int64_t layers);

/// The cost of each stage under `split`.
std::vector<double> stage_costs(const StageCosts& costs,
                                const std::vector<model::LayerRange>& split);

/// Estimated peak bytes of stage `stage` of `split` explaining micro-batches
/// of `tokens` tokens under `rules` rules with the 1F1B schedule: its weights,
/// the tapes and boundary states of the P − s micro-batches it can hold at
/// once, and one backward's temporaries. `value_bytes`: 4 (float32) or 2 (bf16).
std::int64_t stage_memory_bytes(const model::ModelConfig& config,
                                const std::vector<model::LayerRange>& split, std::size_t stage,
                                std::int64_t tokens, std::int64_t rules, std::int64_t value_bytes);

/// "[0,15) [15,30)", the split as printed at start.
std::string describe_split(const std::vector<model::LayerRange>& split);

}  // namespace clrp::dist
