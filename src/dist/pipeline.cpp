#include "clrp/dist/pipeline.hpp"

#include <ATen/ATen.h>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "clrp/dist/message.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"

namespace clrp::dist {

namespace {

constexpr int kTagParts = 7400;

// Adds the time from construction to destruction to `total`.
class Timer {
 public:
  explicit Timer(double& total) : total_(total), start_(util::steady_seconds()) {}
  ~Timer() { total_ += util::steady_seconds() - start_; }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  double& total_;
  double start_;
};

// One stage's share of the call, for stage 0: per micro-batch the work's part
// (empty where it failed here or below), the error raised here, compute seconds.
struct PartsMessage {
  std::vector<std::string> parts, errors;
  std::vector<double> forward_seconds, backward_seconds;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& parts& errors& forward_seconds& backward_seconds;
  }
};

}  // namespace

double StageTimes::bubble() const {
  const double schedule = wall - gather;
  return schedule > 0 ? std::max(0.0, 1.0 - compute / schedule) : 0.0;
}

Pipeline::Pipeline(MPI_Comm stages, Transport& transport) : comm_(stages), transport_(transport) {
  MPI_Comm_rank(stages, &stage_);
  MPI_Comm_size(stages, &stages_);
}

void Pipeline::start(std::size_t micro_batches) {
  times_ = {};
  slots_.assign(micro_batches, {});
}

std::vector<Outcome> Pipeline::run(StageWork& work, std::size_t M) {
  const double started = util::steady_seconds();
  const std::int64_t sent_before = transport_.bytes_sent();
  start(M);
  // 1F1B: stage s runs P − 1 − s forwards ahead, so that the last stage can
  // start its first backward as soon as its first forward is done; then one
  // forward and one backward alternate; then the remaining backwards.
  const std::size_t warmup = std::min(M, static_cast<std::size_t>(stages_ - 1 - stage_));
  std::size_t f = 0, b = 0;
  for (; f < warmup; ++f)
    forward(work, f);
  for (; f < M; ++f, ++b) {
    forward(work, f);
    backward(work, b);
  }
  for (; b < M; ++b)
    backward(work, b);
  return finish(work, started, sent_before);
}

std::vector<Outcome> Pipeline::stream(StageWork& work, std::size_t M) {
  const double started = util::steady_seconds();
  const std::int64_t sent_before = transport_.bytes_sent();
  start(M);
  for (std::size_t m = 0; m < M; ++m) {
    forward(work, m);
    work.release(m);
  }
  return finish(work, started, sent_before);
}

std::vector<Outcome> Pipeline::finish(StageWork& work, double started, std::int64_t sent_before) {
  transport_.wait_sends();
  for (const Slot& s : slots_)
    times_.compute += s.forward_seconds + s.backward_seconds;
  const double gather_start = util::steady_seconds();
  auto out = gather(work);
  times_.gather = util::steady_seconds() - gather_start;
  times_.wall = util::steady_seconds() - started;
  times_.bytes_sent = transport_.bytes_sent() - sent_before;
  return out;
}

template <class F>
void Pipeline::guarded(std::size_t m, F&& step) {
  try {
    step();
  } catch (const std::exception& e) {
    slots_[m].failed = true;
    slots_[m].error = "stage " + std::to_string(stage_) + ": " + e.what();
  }
}

// A list travels as a header, an empty tensor of shape [0, n] (no payload, so
// any transport sends it as it is), then its n tensors. A failed micro-batch
// travels as the empty list, so that every stage still sends and receives one
// list per micro-batch and the schedule stays in step.
void Pipeline::send(const Tensors& tensors, bool failed, int peer, Channel channel) {
  const std::int64_t n = failed ? 0 : static_cast<std::int64_t>(tensors.size());
  transport_.send(at::empty({0, n}), peer, channel);
  for (std::int64_t i = 0; i < n; ++i)
    transport_.send(tensors[static_cast<std::size_t>(i)], peer, channel);
}

Tensors Pipeline::receive(int peer, Channel channel) {
  const at::Tensor header = transport_.recv(peer, channel);
  require(header.dim() == 2 && header.numel() == 0, Where{"pipeline"},
          "stage " + std::to_string(peer) + " sent a tensor where a list header belongs");
  Tensors out;
  for (std::int64_t i = 0; i < header.size(1); ++i)
    out.push_back(transport_.recv(peer, channel));
  return out;
}

void Pipeline::forward(StageWork& work, std::size_t m) {
  Slot& slot = slots_[m];
  Tensors input;
  if (stage_ > 0) {
    input = receive(stage_ - 1, Channel::Activations);
    slot.failed = input.empty();  // failed below: pass the marker on
  }
  Tensors up;
  if (!slot.failed) {
    Timer t(slot.forward_seconds);
    guarded(m, [&] { up = work.forward(m, input); });
  }
  if (stage_ + 1 < stages_) send(up, slot.failed, stage_ + 1, Channel::Activations);
}

void Pipeline::backward(StageWork& work, std::size_t m) {
  Slot& slot = slots_[m];
  Tensors top;
  if (stage_ + 1 < stages_) {
    top = receive(stage_ + 1, Channel::Gradients);
    if (top.empty()) slot.failed = true;
  }
  Tensors down;
  if (!slot.failed) {
    Timer t(slot.backward_seconds);
    guarded(m, [&] {
      if (stage_ + 1 == stages_) top = work.seed(m);
      down = work.backward(m, top);
    });
  }
  if (stage_ > 0) send(down, slot.failed, stage_ - 1, Channel::Gradients);
  work.release(m);
}

std::vector<Outcome> Pipeline::gather(StageWork& work) {
  const std::size_t M = slots_.size();
  if (stage_ > 0) {
    PartsMessage msg;
    for (std::size_t m = 0; m < M; ++m) {
      const Slot& s = slots_[m];
      std::string part;
      if (!s.failed) guarded(m, [&] { part = work.part(m); });
      msg.parts.push_back(std::move(part));
      msg.errors.push_back(s.error);
      msg.forward_seconds.push_back(s.forward_seconds);
      msg.backward_seconds.push_back(s.backward_seconds);
    }
    send_serialized(msg, 0, kTagParts, comm_);
    return {};
  }
  std::vector<Outcome> out(M);
  for (std::size_t m = 0; m < M; ++m)
    out[m] = {slots_[m].error, slots_[m].forward_seconds, slots_[m].backward_seconds};
  std::vector<std::vector<std::string>> parts(M);  // [micro-batch][stage − 1]
  for (int s = 1; s < stages_; ++s) {
    auto msg = receive_serialized<PartsMessage>(s, kTagParts, comm_, "pipeline results");
    require(msg.parts.size() == M && msg.errors.size() == M && msg.forward_seconds.size() == M &&
                msg.backward_seconds.size() == M,
            Where{"pipeline"},
            "stage " + std::to_string(s) + " sent results for another number of micro-batches");
    for (std::size_t m = 0; m < M; ++m) {
      if (out[m].error.empty()) out[m].error = msg.errors[m];
      out[m].forward_seconds += msg.forward_seconds[m];
      out[m].backward_seconds += msg.backward_seconds[m];
      parts[m].push_back(std::move(msg.parts[m]));
    }
  }
  for (std::size_t m = 0; m < M; ++m) {
    if (!out[m].ok()) continue;
    try {
      work.merge(m, parts[m]);
    } catch (const std::exception& e) {
      out[m].error = std::string("merging the stages' parts: ") + e.what();
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

}  // namespace clrp::dist
