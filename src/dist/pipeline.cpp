#include "clrp/dist/pipeline.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cmath>

#include "clrp/dist/message.hpp"
#include "clrp/dist/tensor_blob.hpp"
#include "clrp/util/error.hpp"

namespace clrp::dist {

namespace {

constexpr int kTagParts = 7400;
constexpr int kTagValues = 7401;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Adds the time from construction to destruction to `total`.
class Timer {
 public:
  explicit Timer(double& total) : total_(total), start_(now()) {}
  ~Timer() { total_ += now() - start_; }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  double& total_;
  double start_;
};

// The fields of an explanation part that travel to stage 0, in a fixed order
// (the input gradient stays: it is the seam, already handed down).
std::vector<at::Tensor*> travelling_fields(lrp::Explanation& e) {
  return {&e.target,           &e.logits,          &e.token_relevance,   &e.position_relevance,
          &e.mid_relevance,    &e.layer_relevance, &e.head_relevance,    &e.neuron_ids,
          &e.neuron_relevance, &e.bias_absorbed,   &e.head_bias_absorbed};
}

// One stage's results: parts [micro-batch][rule][field] (no rules where the
// micro-batch failed), errors raised on this stage, compute seconds.
struct PartsMessage {
  std::vector<std::vector<std::vector<TensorBlob>>> parts;
  std::vector<std::string> errors;
  std::vector<double> forward_seconds, backward_seconds;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& parts& errors& forward_seconds& backward_seconds;
  }
};

// What travels instead of hidden states or gradients once a micro-batch has
// failed: an empty tensor, so that every stage still sends and receives one
// message per micro-batch and the schedule stays in step.
at::Tensor kFailed() {
  return at::empty({0});
}

}  // namespace

double StageTimes::bubble() const {
  const double schedule = wall - gather;
  return schedule > 0 ? std::max(0.0, 1.0 - compute / schedule) : 0.0;
}

Pipeline::Pipeline(MPI_Comm stages, const model::DecoderModel& model, Transport& transport)
    : comm_(stages), model_(model), engine_(model), transport_(transport) {
  MPI_Comm_rank(stages, &stage_);
  MPI_Comm_size(stages, &stages_);
  const bool first = stage_ == 0, last = stage_ == stages_ - 1;
  if (first != model.has_embedding() || last != model.has_head())
    throw Error("pipeline stage " + std::to_string(stage_) + " of " + std::to_string(stages_) +
                " holds layers [" + std::to_string(model.layer_begin()) + "," +
                std::to_string(model.layer_end()) +
                "): the first stage must start at layer 0 "
                "and only the last may end at the last layer");
}

std::vector<MicroBatchResult> Pipeline::explain(const std::vector<MicroBatch>& batches,
                                                const lrp::RecordOptions& record,
                                                const StageHook& hook) {
  times_ = {};
  const double start = now();
  const std::int64_t sent_before = transport_.bytes_sent();
  const std::size_t M = batches.size();
  states_.assign(M, {});
  parts_.assign(M, {});
  errors_.assign(M, {});
  failed_.assign(M, 0);
  forward_s_.assign(M, 0);
  backward_s_.assign(M, 0);
  // 1F1B: stage s runs P − 1 − s forwards ahead, so that the last stage can
  // start its first backward as soon as its first forward is done; then one
  // forward and one backward alternate; then the remaining backwards.
  const std::size_t warmup = std::min(M, static_cast<std::size_t>(stages_ - 1 - stage_));
  std::size_t f = 0, b = 0;
  for (; f < warmup; ++f)
    forward(f, batches[f]);
  for (; f < M; ++f, ++b) {
    forward(f, batches[f]);
    backward(b, batches[b], record, hook);
  }
  for (; b < M; ++b)
    backward(b, batches[b], record, hook);
  transport_.wait_sends();
  for (std::size_t m = 0; m < M; ++m)
    times_.compute += forward_s_[m] + backward_s_[m];
  const double gather_start = now();
  auto out = gather(M);
  times_.gather = now() - gather_start;
  times_.wall = now() - start;
  times_.bytes_sent = transport_.bytes_sent() - sent_before;
  return out;
}

template <class F>
bool Pipeline::guarded(std::size_t m, F&& work) {
  try {
    work();
    return true;
  } catch (const std::exception& e) {
    failed_[m] = 1;
    errors_[m] = "stage " + std::to_string(stage_) + ": " + e.what();
    return false;
  }
}

void Pipeline::forward(std::size_t m, const MicroBatch& mb) {
  at::Tensor hidden;
  if (stage_ > 0) {
    hidden = transport_.recv(stage_ - 1, Channel::Activations);
    if (hidden.numel() == 0) failed_[m] = 1;  // failed upstream: pass the marker on
  }
  if (!failed_[m]) {
    Timer t(forward_s_[m]);
    guarded(m, [&] {
      states_[m] = stage_ == 0 ? engine_.forward_ids(mb.ids) : engine_.forward(hidden);
    });
  }
  if (stage_ + 1 < stages_)
    transport_.send(failed_[m] ? kFailed() : states_[m].output, stage_ + 1, Channel::Activations);
}

void Pipeline::backward(std::size_t m, const MicroBatch& mb, const lrp::RecordOptions& record,
                        const StageHook& hook) {
  const std::size_t R = mb.rules.size();
  std::vector<lrp::Explanation>& parts = parts_[m];
  std::vector<at::Tensor> g(R);
  if (stage_ + 1 < stages_) {
    const at::Tensor all = transport_.recv(stage_ + 1, Channel::Gradients);  // [R, B, T, H]
    if (all.numel() == 0) failed_[m] = 1;
    for (std::size_t r = 0; r < R && !failed_[m]; ++r)
      g[r] = all[static_cast<std::int64_t>(r)];
  }
  std::vector<at::Tensor> down;
  if (!failed_[m]) {
    Timer t(backward_s_[m]);
    guarded(m, [&] {
      const lrp::ForwardState& st = states_[m];
      parts.assign(R, {});
      if (stage_ + 1 == stages_) {
        const std::int64_t T = st.output.size(1);
        std::vector<lrp::Seed> seeds = mb.seeds;
        for (auto& s : seeds)
          if (s.position < 0) s.position += T;
        for (std::size_t r = 0; r < R; ++r)
          g[r] = engine_.seed(st, seeds, mb.rules[r], parts[r]);
      }
      for (std::size_t r = 0; r < R; ++r) {
        engine_.backward(st, g[r], mb.rules[r], record, parts[r]);
        if (hook) hook(m, r, st, parts[r]);
        if (stage_ > 0) down.push_back(std::move(parts[r].input_gradient));
      }
    });
  }
  if (failed_[m]) parts.clear();
  if (stage_ > 0)
    transport_.send(failed_[m] ? kFailed() : at::stack(down), stage_ - 1, Channel::Gradients);
  states_[m] = {};  // the tapes of a finished micro-batch are the memory 1F1B bounds
}

std::vector<double> Pipeline::seed_values(const std::vector<MicroBatch>& batches) {
  c10::InferenceMode inference_mode;
  const std::size_t M = batches.size();
  std::vector<double> values(M, std::nan(""));
  // Forward only: nothing waits for a backward, so each stage simply streams
  // the micro-batches through (the pipeline fills, then drains).
  for (std::size_t m = 0; m < M; ++m) {
    at::Tensor h;
    bool ok = true;
    if (stage_ > 0) {
      h = transport_.recv(stage_ - 1, Channel::Activations);
      ok = h.numel() > 0;
    }
    if (ok) {
      try {
        if (stage_ == 0) h = model_.embed(batches[m].ids.unsqueeze(0));
        h = model_.run_layers(h, at::arange(h.size(1), at::kLong));
        if (stage_ + 1 == stages_) {
          const lrp::Seed& seed = batches[m].seeds.at(0);
          const std::int64_t p = seed.position < 0 ? seed.position + h.size(1) : seed.position;
          // Only the seed's position goes through the (vocabulary-wide) unembedding.
          const at::Tensor logits =
              model_.unembed(h.narrow(1, p, 1))[0][0].to(at::kCPU).to(at::kDouble);
          values[m] = at::dot(logits, seed.weights.to(at::kDouble)).item<double>();
        }
      } catch (const std::exception&) {
        ok = false;  // NaN: the caller treats it as "no value"
      }
    }
    if (stage_ + 1 < stages_) transport_.send(ok ? h : kFailed(), stage_ + 1, Channel::Activations);
  }
  transport_.wait_sends();
  if (stages_ > 1 && stage_ == stages_ - 1)
    MPI_Send(values.data(), static_cast<int>(M), MPI_DOUBLE, 0, kTagValues, comm_);
  if (stages_ > 1 && stage_ == 0)
    MPI_Recv(values.data(), static_cast<int>(M), MPI_DOUBLE, stages_ - 1, kTagValues, comm_,
             MPI_STATUS_IGNORE);
  if (stage_ != 0) return {};
  return values;
}

std::vector<MicroBatchResult> Pipeline::gather(std::size_t micro_batches) {
  if (stage_ > 0) {
    PartsMessage msg;
    for (std::size_t m = 0; m < micro_batches; ++m) {
      auto& rules = msg.parts.emplace_back();
      for (auto& part : parts_[m]) {
        auto& fields = rules.emplace_back();
        for (at::Tensor* f : travelling_fields(part))
          fields.push_back(to_blob(*f));
      }
    }
    msg.errors = errors_;
    msg.forward_seconds = forward_s_;
    msg.backward_seconds = backward_s_;
    parts_.clear();
    send_serialized(msg, 0, kTagParts, comm_);
    return {};
  }
  std::vector<MicroBatchResult> out(micro_batches);
  // stage_parts[s][m][r]
  std::vector<std::vector<std::vector<lrp::Explanation>>> stage_parts(
      static_cast<std::size_t>(stages_));
  stage_parts[0] = std::move(parts_);
  for (std::size_t m = 0; m < micro_batches; ++m) {
    out[m].error = errors_[m];
    out[m].forward_seconds = forward_s_[m];
    out[m].backward_seconds = backward_s_[m];
  }
  for (int s = 1; s < stages_; ++s) {
    const auto msg = receive_serialized<PartsMessage>(s, kTagParts, comm_, "pipeline results");
    require(msg.parts.size() == micro_batches && msg.errors.size() == micro_batches,
            Where{"pipeline"},
            "stage " + std::to_string(s) + " sent results for another number of micro-batches");
    auto& mine = stage_parts[static_cast<std::size_t>(s)];
    for (std::size_t m = 0; m < micro_batches; ++m) {
      auto& rules = mine.emplace_back();
      for (const auto& fields : msg.parts[m]) {
        lrp::Explanation& e = rules.emplace_back();
        const auto slots = travelling_fields(e);
        require(fields.size() == slots.size(), Where{"pipeline"}, "malformed stage results");
        for (std::size_t i = 0; i < slots.size(); ++i)
          *slots[i] = from_blob(fields[i]);
      }
      if (out[m].error.empty()) out[m].error = msg.errors[m];
      out[m].forward_seconds += msg.forward_seconds[m];
      out[m].backward_seconds += msg.backward_seconds[m];
    }
  }
  for (std::size_t m = 0; m < micro_batches; ++m) {
    if (!out[m].error.empty()) continue;
    for (std::size_t r = 0; r < stage_parts[0][m].size(); ++r) {
      std::vector<lrp::Explanation> parts;
      for (auto& sp : stage_parts)
        parts.push_back(std::move(sp[m][r]));
      out[m].rules.push_back(merge_stage_parts(parts));
    }
  }
  return out;
}

std::vector<StageTimes> Pipeline::gather_times() const {
  const double mine[4] = {times_.wall, times_.compute, times_.gather,
                          static_cast<double>(times_.bytes_sent)};
  std::vector<double> all(4 * static_cast<std::size_t>(stages_));
  MPI_Gather(mine, 4, MPI_DOUBLE, all.data(), 4, MPI_DOUBLE, 0, comm_);
  if (stage_ != 0) return {times_};
  std::vector<StageTimes> out;
  for (int s = 0; s < stages_; ++s) {
    const double* p = &all[4 * static_cast<std::size_t>(s)];
    out.push_back({p[0], p[1], p[2], static_cast<std::int64_t>(p[3])});
  }
  return out;
}

lrp::Explanation merge_stage_parts(const std::vector<lrp::Explanation>& parts) {
  require(!parts.empty(), Where{"pipeline"}, "no stage parts to merge");
  const lrp::Explanation& first = parts.front();
  const lrp::Explanation& last = parts.back();
  lrp::Explanation out;
  out.token_relevance = first.token_relevance;
  out.position_relevance = first.position_relevance;
  out.input_gradient = first.input_gradient;
  out.target = last.target;
  out.logits = last.logits;
  out.head_bias_absorbed = last.head_bias_absorbed;
  // Per-layer records: one slice per stage along the layer axis (dim 1).
  const auto cat_layers = [&](at::Tensor lrp::Explanation::*field) {
    if (!(first.*field).defined()) return at::Tensor();
    std::vector<at::Tensor> slices;
    for (const auto& p : parts)
      slices.push_back(p.*field);
    return at::cat(slices, 1);
  };
  out.mid_relevance = cat_layers(&lrp::Explanation::mid_relevance);
  out.layer_relevance = cat_layers(&lrp::Explanation::layer_relevance);
  out.head_relevance = cat_layers(&lrp::Explanation::head_relevance);
  out.neuron_ids = cat_layers(&lrp::Explanation::neuron_ids);
  out.neuron_relevance = cat_layers(&lrp::Explanation::neuron_relevance);
  out.bias_absorbed = cat_layers(&lrp::Explanation::bias_absorbed);
  return out;
}

}  // namespace clrp::dist
