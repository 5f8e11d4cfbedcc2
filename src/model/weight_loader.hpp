// Loading a family's weights into the one block layout (BlockWeights, StemWeights).
//
// Families name their tensors differently and some store them differently:
// GPT-2's Conv1D matrices are [in, out], GPT-NeoX fuses q/k/v per head. The
// loader knows each family's names and brings every tensor to Hugging Face
// Llama layout: [out, in] matrices, q/k/v rows in [all q; all k; all v] order,
// gate rows before up rows, Gemma's "+1" folded into RMSNorm weights.
// Internal to the model module.
#pragma once

#include <cstdint>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"

namespace clrp::model::detail {

/// The weights of block `layer`, as float32 on the CPU.
BlockWeights load_block(const Checkpoint& ck, std::int64_t layer);

/// The embedding (when `embedding`) and the final norm and unembedding (when
/// `head`), as float32 on the CPU.
StemWeights load_stem(const Checkpoint& ck, bool embedding, bool head);

}  // namespace clrp::model::detail
