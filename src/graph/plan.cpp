// The memory plan of a graph build: what is kept, what is recomputed, how
// large the attention blocks are.
//
// The estimate counts the activations the builder holds above the loaded
// weights: the residual stream at every layer boundary (always, for
// recomputation), every layer's forward tape (unless recomputed, then one),
// the main backward's gradients for its two seeds, an attention block's
// [heads, rows, keys] temporaries, and the dense edge rows of one transition
// (unless blocks are recomputed for the second pruning pass). The kept edges
// are not known in advance; the builder checks them against the budget as
// they accumulate.
#include <ATen/ATen.h>

#include <algorithm>

#include "clrp/graph/graph.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/error.hpp"

namespace clrp::graph {

namespace {

struct Parts {
  std::int64_t stash = 0, tapes = 0, backward = 0, block = 0, dense = 0;
  std::int64_t total() const { return stash + tapes + backward + block + dense; }
};

Parts estimate(const model::ModelConfig& c, std::int64_t t, const GraphPlan& plan,
               std::int64_t dsize) {
  const std::int64_t h = c.hidden_size, i = c.intermediate_size, hd = c.head_dim, nh = c.num_heads,
                     layers = c.num_layers;
  const std::int64_t tape = c.tape_values_per_token();  // per token, one layer's tape
  Parts p;
  p.stash = (layers + 1) * t * h * dsize;
  p.tapes = (plan.keep_tapes ? layers : 1) * t * tape * dsize;
  // Two seeds (contrast, wrong): gradients, the MLP's inner gradients and
  // the attention kernel's batched copies of q, k, v, out.
  p.backward = 2 * t * (4 * h + 3 * i + 8 * nh * hd) * dsize;
  const std::int64_t rows = std::min(plan.query_block, t);
  p.block = (8 * nh + 2) * rows * t * 4;
  p.dense = plan.dense_transitions ? t * t * 4 : 0;
  return p;
}

}  // namespace

std::string GraphPlan::describe() const {
  return std::string(keep_tapes ? "forward tapes kept" : "each layer recomputed in its backward") +
         ", " + (dense_transitions ? "one dense transition in memory" : "blocks computed twice") +
         ", " + std::to_string(query_block) + " target rows per attention block, estimate " +
         format_whole_mib(estimate_bytes);
}

GraphPlan plan_graph(const model::ModelConfig& config, std::int64_t tokens,
                     const GraphOptions& options, c10::ScalarType dtype) {
  const std::int64_t dsize = dtype == at::kBFloat16 ? 2 : 4;
  GraphPlan plan;
  plan.query_block =
      options.query_block > 0 ? options.query_block : std::min<std::int64_t>(tokens, 512);
  // Each layer's forward is recomputed in its backward, always: next to the
  // edges it costs nothing measurable (SmolLM2, 1,508 tokens: 34 s either way)
  // while keeping every tape costs 1.9 GiB there (docs/performance.md).
  plan.keep_tapes = false;
  auto fits = [&] {
    plan.estimate_bytes = estimate(config, tokens, plan, dsize).total();
    return options.max_memory <= 0 || plan.estimate_bytes <= options.max_memory;
  };
  if (fits()) return plan;
  // Then recompute blocks for the second pruning pass, then shrink blocks.
  plan.dense_transitions = false;
  if (fits()) return plan;
  while (options.query_block <= 0 && plan.query_block > 16) {
    plan.query_block /= 2;
    if (fits()) return plan;
  }
  const Parts p = estimate(config, tokens, plan, dsize);
  throw Error("a graph over " + std::to_string(tokens) + " tokens needs about " +
              format_whole_mib(p.total()) + " above the model's weights even with every saving (" +
              "layer-boundary states " + format_whole_mib(p.stash) + ", one layer's tape " +
              format_whole_mib(p.tapes) + ", backward " + format_whole_mib(p.backward) +
              ", attention block of " + std::to_string(plan.query_block) + " rows " +
              format_whole_mib(p.block) + "); --max-memory is " +
              format_whole_mib(options.max_memory) + ": raise it or explain a shorter input");
}

}  // namespace clrp::graph
