#include "clrp/dist/staged_decoder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <boost/serialization/vector.hpp>
#include <string>
#include <utility>

#include "clrp/dist/message.hpp"
#include "clrp/util/error.hpp"

namespace clrp::dist {

namespace {

constexpr int kTagDecode = 7600;

int comm_size(MPI_Comm comm) {
  int n = 1;
  MPI_Comm_size(comm, &n);
  return n;
}

int comm_rank(MPI_Comm comm) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}

// Where a cache's tokens lie before a request (its room may be replaced by reserve()).
RoomUse use_before(const model::KvCache& cache, std::int64_t rows) {
  if (cache.length > 0 && !cache.room)
    throw Error("a KV cache of " + std::to_string(cache.length) +
                " tokens that no decoding wrote: a pipeline's stages cannot find it");
  return {cache.room ? cache.room->id : 0, cache.length, rows, 0, 0, 0};
}

}  // namespace

StagedDecoder::StagedDecoder(const model::DecoderModel& first, Transport& transport,
                             MPI_Comm stages, std::function<void()> open)
    : first_(first),
      transport_(transport),
      stages_(stages),
      size_(comm_size(stages)),
      open_(std::move(open)) {
  if (!first_.has_embedding() || comm_rank(stages) != 0 || size_ < 2)
    throw Error("a staged decoder runs on the first of two or more stages");
}

RoomUse StagedDecoder::use_after(RoomUse before, const model::KvCache& cache) const {
  const model::KvCache::Room& room = *cache.room;
  before.target = room.id;
  if (before.target != before.source) {
    before.capacity = room.capacity;
    before.batch = room.batch;
  }
  rooms_.emplace(room.id, cache.room);
  return before;
}

at::Tensor StagedDecoder::forward_cached(const at::Tensor& ids, model::KvCache& cache,
                                         bool last_only) const {
  RoomUse before = use_before(cache, ids.dim() == 2 ? ids.size(0) : 1);
  const at::Tensor hidden = first_.read_cached(ids, cache);
  DecodeRequest r;
  r.kind = DecodeRequest::cached;
  r.last_only = last_only;
  r.caches.push_back(use_after(before, cache));
  return request(r, hidden);
}

at::Tensor StagedDecoder::forward_step(const std::vector<std::int32_t>& ids,
                                       const std::vector<model::KvCache*>& caches) const {
  std::vector<RoomUse> before;
  before.reserve(caches.size());
  for (const model::KvCache* c : caches)
    before.push_back(use_before(*c, 1));
  const at::Tensor hidden = first_.read_step(ids, caches);
  DecodeRequest r;
  r.kind = DecodeRequest::step;
  for (std::size_t i = 0; i < caches.size(); ++i)
    r.caches.push_back(use_after(before[i], *caches[i]));
  return request(r, hidden);
}

at::Tensor StagedDecoder::request(DecodeRequest& r, const at::Tensor& hidden) const {
  if (!session_) {
    open_();
    session_ = true;
  }
  r.released = released();
  send_serialized(r, 1, kTagDecode, stages_);
  transport_.send(hidden.contiguous(), 1, Channel::Activations);
  return transport_.recv(size_ - 1, Channel::Gradients);
}

std::vector<std::uint64_t> StagedDecoder::released() const {
  std::vector<std::uint64_t> out;
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    if (it->second.expired()) {
      out.push_back(it->first);
      it = rooms_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void StagedDecoder::close() {
  if (!session_) return;
  DecodeRequest r;
  r.kind = DecodeRequest::close;
  r.released = released();
  send_serialized(r, 1, kTagDecode, stages_);
  transport_.wait_sends();
  session_ = false;
}

DecodingServer::DecodingServer(const model::DecoderModel& stage, Transport& transport,
                               MPI_Comm stages)
    : stage_(stage),
      transport_(transport),
      stages_(stages),
      rank_(comm_rank(stages)),
      size_(comm_size(stages)) {
  if (rank_ == 0) throw Error("the first stage leads decoding; it does not serve it");
}

std::vector<model::KvCache> DecodingServer::caches_of(const DecodeRequest& r) {
  const auto layers = static_cast<std::size_t>(stage_.layer_end() - stage_.layer_begin());
  std::vector<model::KvCache> out;
  out.reserve(r.caches.size());
  for (const RoomUse& u : r.caches) {
    model::KvCache c;
    c.length = u.length;
    c.keys.resize(layers);
    c.values.resize(layers);
    if (u.length > 0) {
      const auto it = rooms_.find(u.source);
      if (it == rooms_.end())
        throw Error("decoding request: stage " + std::to_string(rank_) + " holds no room " +
                    std::to_string(u.source) + " (released, or never written through it)");
      const model::KvCache::Room& source = *it->second;
      for (std::size_t i = 0; i < layers; ++i) {
        c.keys[i] = source.keys[i].narrow(2, 0, u.length);
        c.values[i] = source.values[i].narrow(2, 0, u.length);
        if (source.batch != u.rows) {  // a batch-1 prompt repeated over the rows
          c.keys[i] = c.keys[i].expand({u.rows, -1, -1, -1});
          c.values[i] = c.values[i].expand({u.rows, -1, -1, -1});
        }
      }
    }
    auto& target = rooms_[u.target];
    if (!target) {  // the leader's reserve() moved this cache into room of its own
      target = std::make_shared<model::KvCache::Room>();
      target->id = u.target;
      target->capacity = u.capacity;
      target->batch = u.batch;
      target->keys.resize(layers);
      target->values.resize(layers);
    }
    c.room = target;
    out.push_back(std::move(c));
  }
  return out;
}

void DecodingServer::serve() {
  const bool last = rank_ + 1 == size_;
  for (;;) {
    const auto r =
        receive_serialized<DecodeRequest>(rank_ - 1, kTagDecode, stages_, "decoding request");
    if (!last) send_serialized(r, rank_ + 1, kTagDecode, stages_);
    for (const std::uint64_t id : r.released)
      rooms_.erase(id);
    if (r.kind == DecodeRequest::close) {
      transport_.wait_sends();
      return;
    }
    if (r.kind != DecodeRequest::cached && r.kind != DecodeRequest::step)
      throw Error("decoding request of unknown kind " + std::to_string(r.kind));
    std::vector<model::KvCache> caches = caches_of(r);
    at::Tensor h = transport_.recv(rank_ - 1, Channel::Activations);
    c10::InferenceMode inference_mode;
    if (r.kind == DecodeRequest::cached) {
      if (caches.size() != 1) throw Error("decoding request: one cache per forward_cached");
      h = stage_.run_layers_cached(h, caches[0]);
    } else {
      std::vector<model::KvCache*> rows;
      rows.reserve(caches.size());
      for (model::KvCache& c : caches)
        rows.push_back(&c);
      h = stage_.run_layers_rows(h, rows);
    }
    if (!last) {
      transport_.send(h.contiguous(), rank_ + 1, Channel::Activations);
      continue;
    }
    // The head, as DecoderModel::forward_cached / forward_step end.
    at::Tensor logits;
    if (r.kind == DecodeRequest::cached) {
      if (r.last_only) h = h.narrow(1, h.size(1) - 1, 1);
      logits = stage_.unembed(h);
    } else {
      logits =
          stage_.unembed(h).view({static_cast<std::int64_t>(caches.size()), -1}).to(at::kFloat);
    }
    transport_.send(logits.contiguous(), 0, Channel::Gradients);
  }
}

}  // namespace clrp::dist
