// Keys and values of the tokens a model has already read, for incremental
// decoding: feeding tokens one (or a few) at a time with a KvCache gives the
// logits a full recomputation over the whole sequence would give (checked to
// 1e-4 by the tests), at the cost of one token's work per step.
//
// A cache is a value: copying it, truncated() and expanded() are cheap views,
// so a prompt's cache can be forked (scoring several continuations, going
// back to an earlier position in a counterfactual search, starting many
// prompts from one shared few-shot prefix) without copying what the forks
// share. Appending writes the new tokens into room reserved after the cached
// ones (Room), in place, when no other fork has written there yet; otherwise
// (copy on write) the cache first moves into room of its own. So decoding a
// sequence copies its cache once per growth of the room, not once per token.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace clrp::model {

struct KvCache {
  /// Per layer of the model's range: [batch, kv_heads, length, head_dim], keys
  /// after their norm and rotary embedding (what attention reads). Views into
  /// `room` when it is set.
  std::vector<at::Tensor> keys, values;
  std::int64_t length = 0;  ///< tokens cached (the position of the next token)

  /// Storage with space after the cached tokens, shared by the forks of a
  /// cache: `written` says how far any of them has claimed it (reserve), so a
  /// fork whose length is behind it must not write there.
  struct Room {
    std::vector<at::Tensor> keys, values;  ///< per layer [batch, kv_heads, capacity, head_dim]
    std::int64_t capacity = 0, batch = 0, written = 0;
    /// Unique in the process (from 1): how the stages of a pipeline name the
    /// same room in their own share of the layers (dist/staged_decoder.hpp).
    std::uint64_t id = 0;
  };
  std::shared_ptr<Room> room;

  bool empty() const { return length == 0; }
  /// The cache of the first `n` tokens (views, no copy). clrp::Error when n > length.
  KvCache truncated(std::int64_t n) const;
  /// Repeats a batch-1 cache `n` times along the batch (to score n
  /// continuations at once). Keeps the room the rows repeat: appending to
  /// more than one row moves into room of its own (reserve sees the batch).
  KvCache expanded(std::int64_t n) const;

  // Appending, as the decoder does it for `tokens` new tokens of `batch` rows:
  // reserve() once, write() each layer's new keys and values, then advance().
  /// Ensures room for `tokens` more tokens (at most `max_length` in all) and
  /// claims it: the shared room when no fork has claimed past this cache's
  /// length, else room of its own (the cached tokens copied in).
  void reserve(std::int64_t tokens, std::int64_t batch, std::int64_t max_length);
  /// Writes layer `slot`'s new keys and values [batch, kv_heads, tokens,
  /// head_dim] after the cached ones; keys/values[slot] then cover both.
  void write(std::size_t slot, const at::Tensor& k, const at::Tensor& v);
  /// Counts the `tokens` written to every layer as cached.
  void advance(std::int64_t tokens);
};

}  // namespace clrp::model
