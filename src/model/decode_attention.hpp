// Attention of one new token per sequence over that sequence's own cache — a
// batched decoding step, whose rows' caches differ in length.
//
// At a few hundred cached tokens a decoding step spends as much time here as
// in its weights: every row reads its whole cache per layer (SmolLM2-135M, 16
// rows of 880 tokens: 650 MB a step). ATen's SDPA, called once per row, reads
// a key head once per query head that shares it and splits a row's few heads
// over the threads unevenly. This kernel takes every (row, key head) of the
// step as one task, reads that head's keys and values once for all the query
// heads of its group, and runs the tasks in one parallel loop.
//
// The reference is the per-row SDPA loop (DecoderModel::attention_rows uses
// it where this kernel does not apply); they agree up to float rounding
// (tests/unit/test_decode_kernels.cpp). Internal to the model module.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace clrp::model::detail {

/// Whether decode_attention() takes these: float32 on the CPU, keys and
/// values [1, kv_heads, L_r, hd] with unit stride along hd, query heads a
/// multiple of the key heads.
bool decode_attention_applies(const at::Tensor& q, const std::vector<at::Tensor>& keys,
                              const std::vector<at::Tensor>& values);

/// q [rows, heads, 1, hd]; keys[r], values[r]: row r's cache [1, kv_heads,
/// L_r, hd]; query head h reads key head h / (heads / kv_heads) (transformers'
/// repeat_kv). Row r's query sees keys first[r] .. L_r - 1 (first[r] > 0 in a
/// sliding window). Returns softmax(q·kᵀ·scale)·v, [rows, heads, 1, hd].
at::Tensor decode_attention(const at::Tensor& q, const std::vector<at::Tensor>& keys,
                            const std::vector<at::Tensor>& values,
                            const std::vector<std::int64_t>& first, double scale);

}  // namespace clrp::model::detail
