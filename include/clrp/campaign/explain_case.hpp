// One pair under one model: tokens, contrastive relevance under every rule of
// the campaign, and what the store keeps of it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clrp/campaign/failure_file.hpp"
#include "clrp/campaign/spec.hpp"
#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/store/record.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::campaign {

/// A checkpoint loaded to run: config, tokenizer, the whole decoder.
struct TargetModel {
  model::Checkpoint checkpoint;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<model::DecoderModel> decoder;

  /// Loads `path` (a model directory or .gguf) on `device` in `dtype`.
  static std::unique_ptr<TargetModel> load(const std::string& path, const std::string& device,
                                           const std::string& dtype);
};

/// The tokenizer of a checkpoint without its weights.
std::unique_ptr<text::Tokenizer> load_target_tokenizer(const model::Checkpoint& checkpoint);

/// A digest of a tokenizer's vocabulary and special ids: equal digests, equal
/// token ids for every text (the pipeline itself is assumed to follow the vocabulary).
std::string tokenizer_fingerprint(const text::Tokenizer& tokenizer);

/// The segment column (store::kSegmentColumnNames) of every token of
/// tokenize(prompt + prefix), −1 for special tokens, found by walking the
/// tokens' bytes; and 1 where a token overlaps an evidence span. When the
/// tokens' bytes do not spell the text (a normaliser changed it), every token
/// gets −1 and no evidence: sums per segment are then unknown, not wrong.
void map_tokens(const cases::Case& c, std::size_t prefix_bytes, const text::Tokenizer& tokenizer,
                const std::vector<std::int32_t>& ids, std::vector<std::int8_t>& segment,
                std::vector<std::int8_t>& evidence);

/// Explains `fc` under `m` with every rule of `spec` into a store record for
/// `table`, with its attribution graph when `graph` is set (spec.graphs). Throws
/// clrp::Error when the pair does not fit the model (too long, ids out of range)
/// or the graph does not fit its budget.
store::CaseRecord explain_case(const FailureCase& fc, const TargetModel& m,
                               const CampaignSpec& spec, std::uint32_t table, bool graph = false);

}  // namespace clrp::campaign
