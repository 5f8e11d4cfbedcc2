// What incremental decoding asks of a model: its config, reading tokens into
// a KV cache (forward_cached) and one step of several sequences at once
// (forward_step). The evaluator, greedy decoding and the counterfactual
// search (eval/) use only this, so they run alike on a whole DecoderModel in
// one process and on a model split over the ranks of a pipeline group
// (dist/staged_decoder.hpp), whose caches are spread over its stages.
//
// The contract, for every implementation: the results equal those of one
// DecoderModel holding every layer, and a cache passed in is extended by the
// tokens read (kv_cache.hpp's fork semantics hold: truncated and expanded
// forks of a cache stay usable after it grows).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "clrp/model/config.hpp"
#include "clrp/model/kv_cache.hpp"

namespace clrp::model {

class IncrementalModel {
 public:
  virtual ~IncrementalModel() = default;
  virtual const ModelConfig& config() const = 0;
  /// Reads `ids` [batch, tokens] at positions cache.length, cache.length + 1,
  /// ..., appends their keys and values to `cache` and returns their logits
  /// [batch, tokens, vocab] (only the last token's, [batch, 1, vocab], when
  /// `last_only`), in the compute dtype on the compute device.
  virtual at::Tensor forward_cached(const at::Tensor& ids, KvCache& cache,
                                    bool last_only = false) const = 0;
  /// One decoding step of several independent sequences: `ids[i]` continues
  /// the sequence whose cache is `*caches[i]` (batch 1, at least one token).
  /// Extends each cache by its token and returns the logits [rows, vocab]
  /// (float32 on the compute device).
  virtual at::Tensor forward_step(const std::vector<std::int32_t>& ids,
                                  const std::vector<KvCache*>& caches) const = 0;
};

}  // namespace clrp::model
