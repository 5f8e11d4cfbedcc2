// An attribution graph built through a model's layers sharded over pipeline
// stages: the stage work of dist::Pipeline for graphs.
//
// One micro-batch is one graph. Hidden states go up the stages
// (GraphStage::forward), the last stage seeds the contrast, the main pass's
// gradient and the seam's reachability come down (GraphStage::backward), and
// every stage's GraphPart is merged on stage 0 (merge_graph_parts). With one
// stage this is build_graph on the whole model, to the bit (graph/stage.hpp).
#pragma once

#include <optional>

#include "clrp/dist/pipeline.hpp"
#include "clrp/graph/graph.hpp"

namespace clrp::graph {

/// The pruned graph of Δℓ = logit(wrong) − logit(correct) at the last of
/// `ids`' tokens (int64 [T], read on stage 0), built by every stage of the
/// pipeline's group over its own `stage_model`. On stage 0: the whole graph;
/// elsewhere: nothing. Throws clrp::Error (on stage 0) with the message of
/// the stage where the build failed.
std::optional<Graph> build_graph(dist::Pipeline& pipeline, const model::DecoderModel& stage_model,
                                 const GraphOptions& options, const at::Tensor& ids,
                                 std::int64_t wrong, std::int64_t correct);

}  // namespace clrp::graph
