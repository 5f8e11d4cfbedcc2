#include "clrp/graph/stage_work.hpp"

#include <ATen/ATen.h>

#include <memory>

#include "clrp/dist/message.hpp"
#include "clrp/graph/part_serialization.hpp"
#include "clrp/graph/stage.hpp"
#include "clrp/util/error.hpp"

namespace clrp::graph {

namespace {

// What crosses a seam downwards: the main pass's gradient, which of the
// seam's nodes reach the target, and the explained position — as tensors on
// the compute device, so that any transport carries them.
dist::Tensors boundary_tensors(const GraphBoundary& b) {
  const auto device = b.gradient.device();
  return {b.gradient, at::tensor(at::ArrayRef<std::uint8_t>(b.alive), at::kByte).to(device),
          at::full({1}, b.position, at::TensorOptions(at::kLong).device(device))};
}

GraphBoundary boundary_of(const dist::Tensors& t) {
  require(t.size() == 3, Where{"pipeline"}, "malformed graph seam");
  GraphBoundary b;
  b.gradient = t[0];
  const at::Tensor alive = t[1].to(at::kCPU).contiguous();
  b.alive.assign(alive.data_ptr<std::uint8_t>(), alive.data_ptr<std::uint8_t>() + alive.numel());
  b.position = t[2].to(at::kCPU).item<std::int64_t>();
  return b;
}

// One graph (micro-batch 0) on one stage's layers.
class GraphWork final : public dist::StageWork {
 public:
  GraphWork(const model::DecoderModel& m, const GraphOptions& options, const at::Tensor& ids,
            std::int64_t wrong, std::int64_t correct)
      : model_(m), options_(options), ids_(ids), wrong_(wrong), correct_(correct) {}

  dist::Tensors forward(std::size_t, const dist::Tensors& input) override {
    const at::Tensor& in = model_.has_embedding() ? ids_ : input.at(0);
    const std::int64_t tokens = model_.has_embedding() ? in.size(0) : in.size(1);
    stage_ = std::make_unique<GraphStage>(
        model_, options_, plan_graph(model_.config(), tokens, options_, model_.compute().dtype));
    output_ = stage_->forward(in);
    return {output_};
  }

  dist::Tensors seed(std::size_t) override {
    seeded_ = stage_->seed(output_.size(1) - 1, wrong_, correct_);
    return boundary_tensors(seeded_);
  }

  dist::Tensors backward(std::size_t, const dist::Tensors& top) override {
    // The last stage starts from its own seed, which also carries Δℓ and the logits.
    const GraphBoundary bottom = stage_->backward(model_.has_head() ? seeded_ : boundary_of(top));
    return boundary_tensors(bottom);
  }

  void release(std::size_t) override { output_ = at::Tensor(); }

  std::string part(std::size_t) override { return dist::to_bytes(stage_->part()); }

  void merge(std::size_t, const std::vector<std::string>& parts) override {
    std::vector<GraphPart> all{stage_->part()};
    for (std::size_t s = 0; s < parts.size(); ++s)
      all.push_back(
          dist::from_bytes<GraphPart>(parts[s], "graph part", "stage " + std::to_string(s + 1)));
    graph_ = merge_graph_parts(all, model_.config());
  }

  std::optional<Graph>& graph() { return graph_; }

 private:
  const model::DecoderModel& model_;
  const GraphOptions& options_;
  const at::Tensor& ids_;
  std::int64_t wrong_, correct_;
  std::unique_ptr<GraphStage> stage_;
  at::Tensor output_;
  GraphBoundary seeded_;
  std::optional<Graph> graph_;
};

}  // namespace

std::optional<Graph> build_graph(dist::Pipeline& pipeline, const model::DecoderModel& stage_model,
                                 const GraphOptions& options, const at::Tensor& ids,
                                 std::int64_t wrong, std::int64_t correct) {
  GraphWork work(stage_model, options, ids, wrong, correct);
  const std::vector<dist::Outcome> outcomes = pipeline.run(work, 1);
  if (pipeline.stage() != 0) return std::nullopt;
  if (!outcomes.at(0).ok()) throw Error(outcomes[0].error);
  return std::move(work.graph());
}

}  // namespace clrp::graph
