// Incremental decoding: the KvCache and DecoderModel::forward_cached.
//
// The layers are the same code as forward() (run_layer_impl with a cache):
// attention appends the new tokens' keys and values after the cached ones
// (KvCache::write) and masks by absolute position, so a token fed later sees
// exactly what it would see in a full pass.
#include "clrp/model/kv_cache.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>

#include "clrp/model/decoder.hpp"
#include "clrp/util/error.hpp"

namespace clrp::model {

KvCache KvCache::truncated(std::int64_t n) const {
  if (n < 0 || n > length)
    throw Error("cannot truncate a KV cache of " + std::to_string(length) + " tokens to " +
                std::to_string(n));
  KvCache out;
  out.length = n;
  out.room = room;  // may write there only if nobody has beyond n (reserve checks)
  out.keys.reserve(keys.size());
  out.values.reserve(values.size());
  for (const at::Tensor& k : keys)
    out.keys.push_back(k.defined() ? k.narrow(2, 0, n) : k);
  for (const at::Tensor& v : values)
    out.values.push_back(v.defined() ? v.narrow(2, 0, n) : v);
  return out;
}

void KvCache::reserve(std::int64_t tokens, std::int64_t batch, std::int64_t max_length) {
  const std::int64_t need = length + tokens;
  // The room past `written` is claimed at once: a fork of the same length
  // reserving next (in the same batched step) must not write there too.
  if (room && room->written == length && need <= room->capacity && room->batch == batch) {
    room->written = need;
    return;
  }
  // Room of its own, with slack for what usually follows (a generation):
  // a quarter more, at least 128 tokens, within the model's context.
  static std::atomic<std::uint64_t> next_id{1};
  auto r = std::make_shared<Room>();
  r->id = next_id.fetch_add(1);
  r->capacity = std::max(need, std::min(max_length, need + std::max<std::int64_t>(128, need / 4)));
  r->batch = batch;
  r->written = need;
  r->keys.resize(keys.size());
  r->values.resize(values.size());
  room = std::move(r);  // layers get their buffers at their first write (shapes known there)
}

void KvCache::write(std::size_t slot, const at::Tensor& k, const at::Tensor& v) {
  Room& r = *room;
  const std::int64_t t = k.size(2);
  if (!r.keys[slot].defined()) {
    r.keys[slot] = at::empty({r.batch, k.size(1), r.capacity, k.size(3)}, k.options());
    r.values[slot] = at::empty({r.batch, v.size(1), r.capacity, v.size(3)}, v.options());
    if (length > 0) {  // the cached tokens move in (a batch-1 cache broadcasts over the rows)
      r.keys[slot].narrow(2, 0, length).copy_(keys[slot]);
      r.values[slot].narrow(2, 0, length).copy_(values[slot]);
    }
  }
  r.keys[slot].narrow(2, length, t).copy_(k);
  r.values[slot].narrow(2, length, t).copy_(v);
  keys[slot] = r.keys[slot].narrow(2, 0, length + t);
  values[slot] = r.values[slot].narrow(2, 0, length + t);
}

void KvCache::advance(std::int64_t tokens) {
  length += tokens;
}

KvCache KvCache::expanded(std::int64_t n) const {
  KvCache out;
  out.length = length;
  out.room = room;
  for (const at::Tensor& k : keys) {
    if (k.defined() && k.size(0) != 1) throw Error("only a batch-1 KV cache can be expanded");
    out.keys.push_back(k.defined() ? k.expand({n, -1, -1, -1}) : k);
  }
  for (const at::Tensor& v : values)
    out.values.push_back(v.defined() ? v.expand({n, -1, -1, -1}) : v);
  return out;
}

at::Tensor DecoderModel::cached_attention_mask(std::int64_t layer, std::int64_t start,
                                               std::int64_t tokens) const {
  const std::int64_t total = start + tokens;
  const std::int64_t window = config_.window(layer);
  const bool banded = window > 0 && window < total;
  if (start == 0 && !banded) return {};   // plain causal: the caller sets is_causal
  if (tokens == 1 && !banded) return {};  // one query at the end sees every key
  // Query i (absolute start + i) sees key j when j <= start + i and, in a
  // sliding-window layer, start + i - j < window (as attention_mask()).
  const auto opts = at::TensorOptions().dtype(at::kLong).device(compute_.device);
  const at::Tensor qpos = at::arange(start, total, opts);
  const at::Tensor kpos = at::arange(total, opts);
  const at::Tensor d = qpos.unsqueeze(1) - kpos.unsqueeze(0);
  at::Tensor mask = d.ge(0);
  if (window > 0) mask = mask.logical_and(d.lt(window));
  return mask;
}

at::Tensor DecoderModel::read_cached(const at::Tensor& ids, KvCache& cache) const {
  if (!has_embedding()) throw Error("reading tokens needs the first stage (layer 0)");
  if (ids.dim() != 2 || ids.size(1) < 1) throw Error("forward_cached() takes ids [batch, tokens]");
  c10::InferenceMode inference_mode;
  const std::int64_t start = cache.length, t = ids.size(1);
  const std::int64_t n_layers = end_ - begin_;
  if (cache.keys.empty()) {
    cache.keys.resize(static_cast<std::size_t>(n_layers));
    cache.values.resize(static_cast<std::size_t>(n_layers));
  }
  if (static_cast<std::int64_t>(cache.keys.size()) != n_layers)
    throw Error("the KV cache was made for another model");
  if (start + t > config_.max_position_embeddings)
    throw Error(std::to_string(start + t) + " tokens exceed the model's context of " +
                std::to_string(config_.max_position_embeddings));
  at::Tensor h = embed_tokens(ids);
  if (config_.positions == PositionKind::Learned) h = h + stem_.position_embed.narrow(0, start, t);
  cache.reserve(t, ids.size(0), config_.max_position_embeddings);
  h = run_layers_cached(h, cache);
  cache.advance(t);
  return h;
}

at::Tensor DecoderModel::run_layers_cached(at::Tensor hidden, KvCache& cache) const {
  c10::InferenceMode inference_mode;
  const std::int64_t start = cache.length, t = hidden.size(1);
  const RotaryTables rope = rotary(at::arange(start, start + t, at::kLong));
  for (std::int64_t i = begin_; i < end_; ++i)
    hidden = run_layer_impl(i, hidden, rope, nullptr, {&cache, nullptr});
  return hidden;
}

at::Tensor DecoderModel::forward_cached(const at::Tensor& ids, KvCache& cache,
                                        bool last_only) const {
  if (!has_embedding() || !has_head())
    throw Error("forward_cached() needs the whole model (layers 0 to the last)");
  at::Tensor h = read_cached(ids, cache);
  c10::InferenceMode inference_mode;
  if (last_only) h = h.narrow(1, h.size(1) - 1, 1);
  return unembed(h);
}

at::Tensor DecoderModel::read_step(const std::vector<std::int32_t>& ids,
                                   const std::vector<KvCache*>& caches) const {
  if (!has_embedding()) throw Error("reading tokens needs the first stage (layer 0)");
  if (ids.size() != caches.size() || ids.empty())
    throw Error("forward_step() takes one token per cache");
  c10::InferenceMode inference_mode;
  const auto n = static_cast<std::int64_t>(ids.size());
  const std::int64_t n_layers = end_ - begin_;
  std::vector<std::int64_t> pos;
  for (KvCache* c : caches) {
    if (c->length < 1 || static_cast<std::int64_t>(c->keys.size()) != n_layers)
      throw Error(
          "forward_step() continues sequences of this model (a cache of at least one token)");
    if (c->length + 1 > config_.max_position_embeddings)
      throw Error(std::to_string(c->length + 1) + " tokens exceed the model's context of " +
                  std::to_string(config_.max_position_embeddings));
    pos.push_back(c->length);
    c->reserve(1, 1, config_.max_position_embeddings);
  }
  at::Tensor h = embed_tokens(
      at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong).view({n, 1}));
  if (config_.positions == PositionKind::Learned)
    h = h + stem_.position_embed.index_select(0, at::tensor(pos, at::kLong).to(compute_.device))
                .unsqueeze(1);
  h = run_layers_rows(h, caches);
  for (KvCache* c : caches)
    c->advance(1);
  return h;
}

at::Tensor DecoderModel::run_layers_rows(at::Tensor hidden,
                                         const std::vector<KvCache*>& caches) const {
  c10::InferenceMode inference_mode;
  std::vector<std::int64_t> pos;
  pos.reserve(caches.size());
  for (const KvCache* c : caches)
    pos.push_back(c->length);
  const RotaryTables rope = rotary(at::tensor(pos, at::kLong));
  for (std::int64_t i = begin_; i < end_; ++i)
    hidden = run_layer_impl(i, hidden, rope, nullptr, {nullptr, &caches});
  return hidden;
}

at::Tensor DecoderModel::forward_step(const std::vector<std::int32_t>& ids,
                                      const std::vector<KvCache*>& caches) const {
  if (!has_embedding() || !has_head())
    throw Error("forward_step() needs the whole model (layers 0 to the last)");
  const at::Tensor h = read_step(ids, caches);
  c10::InferenceMode inference_mode;
  return unembed(h).view({static_cast<std::int64_t>(ids.size()), -1}).to(at::kFloat);
}

}  // namespace clrp::model
