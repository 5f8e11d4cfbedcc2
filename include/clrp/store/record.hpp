// What the store keeps per explained case, and the shape of one table.
//
// A *table* is one model × checkpoint × benchmark: the group
// /runs/<model>/<checkpoint>/<benchmark> of the store. Every case of a table
// shares its model, so the number of rules R, layers L, heads and recorded
// neurons k are the table's, and per-case arrays have fixed shapes; only the
// token count T varies from case to case (ragged data, see docs/store.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clrp::store {

/// Columns of segment relevance: the 8 segment kinds of docs/cases.md in
/// their order, then the chat template's own text (everything a template adds
/// around the prompt), a reasoning model's generated thinking (in the prefix,
/// <think>...</think>), and the rest of the pair's prefix (text appended to
/// the prompt) — eval::place_tokens.
inline constexpr int kSegmentColumns = 11;
inline constexpr int kTemplateColumn = kSegmentColumns - 3;
inline constexpr int kThinkingColumn = kSegmentColumns - 2;
inline constexpr int kPrefixColumn = kSegmentColumns - 1;
/// Names of those columns, in order.
extern const char* const kSegmentColumnNames[kSegmentColumns];

struct TableInfo {
  std::string model, checkpoint, benchmark;
  std::string checkpoint_path;
  std::vector<std::string> rules;  ///< R names, in the spec's order
  std::int64_t layers = 0;         ///< L
  std::int64_t heads = 0;          ///< attention heads per layer (0: not recorded)
  std::int64_t neurons = 0;        ///< k top neurons per layer (0: not recorded)
  bool residual = false;           ///< layer and mid relevance recorded
  bool graphs = false;             ///< attribution graphs recorded (graph_* datasets)
  std::int64_t evidence_top_k = 5;
  std::int64_t deletion_max_tokens = 0;  ///< > 0: per-case deletion test recorded
  /// Faithfulness curves recorded (docs/faithfulness.md): the removal
  /// operators' names in order (empty: not recorded), K single-token steps,
  /// the fractions, the random order's seed.
  std::vector<std::string> removal_operators;
  std::int64_t faithfulness_single_tokens = 0;
  std::vector<double> faithfulness_fractions;
  std::uint64_t faithfulness_seed = 0;
  /// The outcome thresholds: informative recovery, URT ratio, OIT share.
  std::vector<double> outcome_thresholds;
  bool faithfulness() const { return !removal_operators.empty(); }
  /// S = 1 + K + |fractions| steps per curve.
  std::int64_t faithfulness_steps() const {
    return 1 + faithfulness_single_tokens +
           static_cast<std::int64_t>(faithfulness_fractions.size());
  }
  /// Cases the campaign plans for this table (its whole spec, whatever part
  /// of it one run covers): with the `failed_rows` a run records, readers
  /// tell a finished table from an unfinished one (docs/store.md).
  std::uint64_t planned_rows = 0;
  /// The table also records the evaluation of every benchmark item
  /// (`evaluations`, EvaluationRecord): set when the campaign runs benchmarks.
  bool evaluations = false;
  /// Items the campaign evaluates for this table (0 without evaluations).
  std::uint64_t planned_evaluations = 0;

  std::string group() const { return "/runs/" + model + "/" + checkpoint + "/" + benchmark; }
  std::int64_t R() const { return static_cast<std::int64_t>(rules.size()); }
};

/// A reference pair that does not carry to a table's tokenizer (fixed-set
/// campaigns across tokenizers, campaign/carry_pair.hpp): the case and why.
struct PairNotCarried {
  std::string case_id, reason;
};

/// One explained case of a table. Arrays are row-major with the shapes given;
/// T = tokens.size().
struct CaseRecord {
  std::uint32_t table = 0;          ///< index into the store's tables
  std::string case_id;              ///< the case's id (unique within the table)
  std::uint32_t case_index = 0;     ///< line index (0-based) of the case in its failure file
  std::uint32_t prompt_tokens = 0;  ///< tokens of the prompt alone; the rest come from the prefix
  std::int32_t wrong_id = -1, correct_id = -1;
  double wrong_logit = 0, correct_logit = 0;
  double delta = 0;       ///< Δℓ under this model
  double pair_delta = 0;  ///< Δℓ as recorded in the failure file (the model that found it)
  double seconds_tokenize = 0, seconds_forward = 0, seconds_backward = 0;
  std::int32_t rank = 0;  ///< which rank computed it (for timing studies only)

  std::vector<std::int32_t> tokens;         ///< [T]
  std::vector<std::int8_t> token_segment;   ///< [T] segment column (0..10), −1 for special tokens
  std::vector<std::int8_t> token_evidence;  ///< [T] 1 when the token overlaps an evidence span
  std::vector<float> token_relevance;       ///< [T, R]
  std::vector<float> layer_relevance;       ///< [T, R, L] after each layer (residual recorded)
  std::vector<float> mid_relevance;         ///< [T, R, L] after each attention block (or empty)
  std::vector<double> conservation;         ///< [R] (Σ token relevance − Δℓ) / |Δℓ|
  std::vector<double> segment_relevance;    ///< [R, 9]
  std::vector<float> head_relevance;        ///< [R, L, heads]
  std::vector<std::int32_t> neuron_ids;     ///< [R, L, k]
  std::vector<float> neuron_relevance;      ///< [R, L, k]
  std::vector<float> bias_absorbed;         ///< [R, L]
  /// [R + 1] deletion test (table's deletion_max_tokens > 0): tokens deleted
  /// until Δℓ <= 0 under each rule's order, then a random order; 0 when Δℓ <= 0
  /// already, −1 when not flipped within the cap.
  std::vector<std::int32_t> deletion_tokens;
  // Faithfulness curves (table's removal_operators not empty; lrp/faithfulness.hpp):
  // O operators, C = 2R + 1 curves (rule r most- then least-relevant-first,
  // then random), S steps.
  std::vector<std::int32_t> faithfulness_candidates;  ///< [] N, the removable tokens
  std::vector<std::int32_t> faithfulness_steps;       ///< [S] tokens removed at each step
  std::vector<float> faithfulness_delta;              ///< [O, C, S] Δℓ after each step
  std::vector<double> faithfulness_area;              ///< [O, R, 2] (vs least-first, vs random)
  std::vector<std::int32_t> faithfulness_flip;        ///< [O, R + 1] tokens to flip (K steps)
  std::vector<std::int8_t> outcome;  ///< [R] lrp::Outcome code of the case under each rule
  std::vector<std::int8_t> pattern;  ///< [R] URT (1) | OIT (2) bits; −1: no evidence

  // The pruned attribution graph of the contrast (docs/graphs.md), when the
  // table records graphs; empty vectors when this case has none. Nodes are
  // numbered 0..N-1 within the case; edges refer to them.
  std::vector<std::int16_t> graph_node_layer;     ///< [N] node layer (0 = emb, docs/graphs.md)
  std::vector<std::int32_t> graph_node_position;  ///< [N]
  std::vector<float> graph_node_relevance;        ///< [N]
  std::vector<float> graph_node_remainder;        ///< [N] R − Σ incoming edges ("self bias")
  /// [N] the change of Δℓ when the node's hidden state is zeroed in the real
  /// forward (graph interventions; the graph predicts −relevance); NaN for
  /// nodes not tested
  std::vector<float> graph_node_ablation;
  std::vector<std::int32_t> graph_edge_source;  ///< [E] node index
  std::vector<std::int32_t> graph_edge_target;  ///< [E] node index
  std::vector<float> graph_edge_weight;         ///< [E]
  /// [kGraphSummaryColumns]: NaN where the case has no graph.
  std::vector<double> graph_summary;
};

/// How one benchmark item went (EvaluationRecord::outcome).
enum class ItemOutcome : std::int32_t {
  correct = 0,
  failure_with_pair = 1,  ///< a failure whose contrastive pair is kept (and explained)
  failure_no_pair = 2,    ///< a failure without a usable pair (the detail says why)
  error = 3,              ///< the item could not be evaluated (the detail has the message)
};
inline constexpr int kOutcomes = 4;
extern const char* const kOutcomeNames[kOutcomes];

/// One evaluated benchmark item of a table: what the model answered, the
/// judge's verdict and the contrastive pair of a failure. The scalar columns
/// are what tables and aggregates need; everything else the evaluation knows
/// (generated text and token ids, stop reason, the judge's reason, per-option
/// scores, the pair's tokens and prefix, why there is no pair, the search's
/// counts, the error message) is in `detail`, a JSON object (docs/store.md).
struct EvaluationRecord {
  std::uint32_t table = 0;
  std::string case_id;
  std::uint32_t item_index = 0;  ///< the item's line index (0-based) in its benchmark file
  ItemOutcome outcome = ItemOutcome::error;
  std::int32_t correct_per_char = 0;  ///< mc_cloze: correct by the per-character score
  std::uint32_t prompt_tokens = 0, generated_tokens = 0;
  /// The pair (failure_with_pair; also a pair refused for a weak preference):
  /// token ids, their logits and Δℓ at the contrast, prefix tokens before it.
  std::int32_t wrong_id = -1, correct_id = -1, pair_position = -1;
  double wrong_logit = 0, correct_logit = 0, delta = 0;
  double seconds = 0;
  std::int32_t rank = 0;
  std::string detail;  ///< JSON object
};

/// Columns of the per-case graph summary, in order.
inline constexpr int kGraphSummaryColumns = 10;
extern const char* const kGraphSummaryColumnNames[kGraphSummaryColumns];

}  // namespace clrp::store
