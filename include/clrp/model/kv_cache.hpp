// Keys and values of the tokens a model has already read, for incremental
// decoding: feeding tokens one (or a few) at a time with a KvCache gives the
// logits a full recomputation over the whole sequence would give (checked to
// 1e-4 by the tests), at the cost of one token's work per step.
//
// The cache is functional in spirit: appending concatenates into new tensors,
// and truncated() returns views, so a cache can be forked cheaply (scoring
// several continuations of one prompt, or going back to an earlier position
// in a counterfactual search) without copying what the copies share.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace clrp::model {

struct KvCache {
  /// Per layer of the model's range: [batch, kv_heads, length, head_dim], keys
  /// after their norm and rotary embedding (what attention reads).
  std::vector<at::Tensor> keys, values;
  std::int64_t length = 0;  ///< tokens cached (the position of the next token)

  bool empty() const { return length == 0; }
  /// The cache of the first `n` tokens (views, no copy). clrp::Error when n > length.
  KvCache truncated(std::int64_t n) const;
  /// Repeats a batch-1 cache `n` times along the batch (to score n continuations at once).
  KvCache expanded(std::int64_t n) const;
};

}  // namespace clrp::model
