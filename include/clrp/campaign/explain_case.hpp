// One pair under one model: tokens, contrastive relevance under every rule of
// the campaign, and what the store keeps of it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clrp/campaign/failure_file.hpp"
#include "clrp/campaign/spec.hpp"
#include "clrp/eval/prompt_state.hpp"
#include "clrp/graph/graph.hpp"
#include "clrp/graph/interventions.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/faithfulness.hpp"
#include "clrp/model/load.hpp"
#include "clrp/store/record.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::campaign {

/// A digest of a tokenizer's vocabulary and special ids: equal digests, equal
/// token ids for every text (the pipeline itself is assumed to follow the vocabulary).
std::string tokenizer_fingerprint(const text::Tokenizer& tokenizer);

/// The segment column (store::kSegmentColumnNames) of every token of
/// tokenize(rendered_text + prefix), placed by eval::place_tokens: a case
/// segment's kind, the chat template's text, generated thinking, the rest of
/// the pair's prefix, −1 for special
/// tokens the tokenizer adds; and 1 where a token overlaps an evidence span.
/// When the tokens' bytes do not spell the text (a normaliser or a template
/// changed it), every token gets −1 and no evidence: sums per segment are then
/// unknown, not wrong.
void map_tokens(const cases::Case& c, const std::string& rendered_text, const std::string& prefix,
                const text::Tokenizer& tokenizer, const std::vector<std::int32_t>& ids,
                std::vector<std::int8_t>& segment, std::vector<std::int8_t>& evidence);

// Explaining a case for the store happens in three steps, so that a pipeline
// group can explain a batch of cases together: prepare each case (tokens and
// what they belong to), explain all of them (campaign/group.hpp), then record
// each one's explanations, deletion test and graph.

/// A case's store record with its tokens — tokenize(prompt + the pair's
/// prefix), `prompt` being the case's prompt as the model read it (through its
/// chat template when the pair was found so: eval::render_prompt) — segments
/// and evidence filled, and its token ids (int64 [T]). Throws clrp::Error when
/// the pair does not fit the model (too long, ids outside the vocabulary, no tokens).
store::CaseRecord prepare_case(const FailureCase& fc, const eval::RenderedPrompt& prompt,
                               const model::ModelConfig& config, const text::Tokenizer& tokenizer,
                               std::uint32_t table, at::Tensor& ids);

/// The contrastive seed of a prepared case: Δℓ at its last token.
lrp::Seed case_seed(const store::CaseRecord& r, std::int64_t vocab);

/// Fills `r`'s relevance fields (Δℓ, logits, token, segment, layer, mid, head,
/// neuron and bias relevance, conservation) from the explanation of its
/// contrast under each rule of `spec`, in order.
void record_relevance(store::CaseRecord& r, const std::vector<lrp::Explanation>& per_rule,
                      const CampaignSpec& spec, std::int64_t layers);

/// Fills `r`'s deletion test (spec.record.deletion_max_tokens > 0) from its
/// recorded token relevance, removing `removable` tokens
/// (lrp::removable_tokens) and evaluating the shortened sequences with
/// `delta_of` `chunk` at a time.
void record_deletion(store::CaseRecord& r, const CampaignSpec& spec,
                     const std::vector<char>& removable, const lrp::DeltaOf& delta_of,
                     std::int64_t chunk);

/// Fills `r`'s faithfulness curves (spec.faithfulness.enabled) from its
/// recorded token relevance, every removal input through one `delta_of` call,
/// and its outcome and pattern under each rule (lrp::classify; `graph`: the
/// scores of the case's graph test, when it had one).
void record_faithfulness(store::CaseRecord& r, const CampaignSpec& spec,
                         const std::vector<char>& removable, const lrp::DeltaOf& delta_of,
                         const std::optional<lrp::GraphScores>& graph);

/// Fills `r`'s graph fields from its pruned attribution graph and, when it
/// was tested, the intervention test's measured changes and scores.
void record_graph(store::CaseRecord& r, const graph::Graph& g,
                  const std::optional<graph::InterventionTest>& tested);

/// The graph options of the spec's [graphs] table.
graph::GraphOptions graph_options(const GraphSpec& gs);

}  // namespace clrp::campaign
