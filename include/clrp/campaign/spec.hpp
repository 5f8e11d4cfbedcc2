// A campaign spec: what to explain, under which models, with which rules, and
// where the results go. Written as TOML under jobs/ (docs/campaigns.md).
//
// load_spec() parses and validates the whole file before anything runs and
// reports EVERY problem at once, each with its key path
// ("models[1].path: no such file or directory"), so a spec is fixed in one
// edit instead of one error per run. Relative paths are resolved against the
// spec file's folder, so a spec means the same thing from any working folder.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clrp/dist/transport_kind.hpp"
#include "clrp/eval/pair_method.hpp"
#include "clrp/eval/pairs.hpp"
#include "clrp/lrp/faithfulness.hpp"
#include "clrp/lrp/rule_table.hpp"
#include "clrp/model/compute_names.hpp"
#include "clrp/text/chat_settings.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

/// How pairs and models are combined.
enum class Mode {
  /// Each failure file's pairs are explained under the models it names
  /// (`cases[i].models`, default: every model); with benchmarks, each
  /// target explains its own failures.
  ExplainFailures,
  /// Pairs found with `reference` are explained under every model and
  /// checkpoint; all of them must share the reference's tokenizer (checked).
  /// With benchmarks, every target is evaluated on every item and the
  /// failures of the reference's last checkpoint are explained under all;
  /// with `own_failures` each target also explains its own failures on the
  /// items the reference did not fail.
  FixedSet,
};

/// One training checkpoint (or the final model) of a model.
struct CheckpointSpec {
  std::string name;  ///< "final", or the checkpoint folder's name ("step1000")
  std::string path;  ///< model directory or .gguf file
};

struct ModelSpec {
  std::string name;  ///< group name in the store, [A-Za-z0-9_.-]+
  std::string path;  ///< "default" = the embedded default model
  /// float32 or bfloat16, spelled as the CLI's --dtype (also fp32, bf16).
  model::ComputeDtype dtype = model::ComputeDtype::Float32;
  /// cpu, cuda:N, or cuda: each rank its node-local GPU (group.hpp's rank_device).
  model::DeviceSpec device;
  std::vector<CheckpointSpec> checkpoints;  ///< expanded; at least one
};

/// One failure file and which of its cases to take.
struct CaseSourceSpec {
  std::string path;
  std::int64_t limit = 0;  ///< 0 = every case; else a seeded random subset, kept in file order
  std::uint64_t seed = 0;  ///< seed of that subset
  std::vector<std::string> models;  ///< explain-failures: model names (empty = all)
  bool allow_empty = false;         ///< a file without cases is a problem of the spec unless set
};

/// A benchmark the campaign runs: a prepared case file (docs/cases.md) whose
/// items every model × checkpoint answers; each answer is judged, each
/// failure's contrastive pair searched, and the failures with a pair are
/// explained (docs/campaigns.md, "Benchmarks").
struct BenchmarkSpec {
  std::string path;
  std::int64_t limit = 0;  ///< 0 = every item; else a seeded random subset, kept in file order
  std::uint64_t seed = 0;
  std::vector<std::string> models;         ///< explain-failures: model names (empty = all)
  std::optional<text::ChatSettings> chat;  ///< prompts through each model's chat template
  int max_new_tokens = 0;                  ///< cap on every item's own token budget (0: none)
  bool decide_per_char = false;            ///< mc_cloze: the length-normalised score decides
  double min_delta = 1.0;                  ///< Δℓ below this: no pair (a weak preference)
  eval::GenerativePairs pairs = eval::GenerativePairs::automatic;
  eval::CounterfactualBudget search;  ///< the counterfactual search's limits
  bool skip_bad_lines = false;        ///< count and skip bad lines instead of refusing the file
  bool allow_empty = false;  ///< a file that yields no item is a problem of the spec unless set
  /// Seconds an IFEval verdict may take (the checker's start-up included);
  /// past it the checker is stopped and the item is an error row
  /// (clrp evaluate --checker-timeout).
  double checker_timeout = 60.0;
};

/// What each explanation records besides token relevance.
struct RecordSpec {
  bool residual = true;             ///< relevance per (layer, position), after attention and MLP
  bool heads = true;                ///< per (layer, head)
  std::int64_t neurons = 0;         ///< top-k MLP neurons per layer (0 = none)
  std::int64_t evidence_top_k = 5;  ///< k of the evidence hit rate aggregate
  /// Deletion test: delete up to this many top-ranked tokens, one by one,
  /// until Δℓ <= 0 (0 = off; docs/store.md). Costs up to this many full
  /// forwards per rule (and the random baseline) per case.
  std::int64_t deletion_max_tokens = 0;
};

/// Faithfulness curves (docs/faithfulness.md) for every explained case:
/// on when the spec has a [faithfulness] table.
struct FaithfulnessSpec {
  bool enabled = false;
  lrp::FaithfulnessOptions options;
  lrp::OutcomeThresholds thresholds;  ///< of each failure's outcome and pattern
};

/// Attribution graphs (docs/graphs.md) for some cases of every table.
struct GraphSpec {
  /// Graphs for the first `cases` pairs of each table, in failure-file order
  /// (0: none, -1: every case).
  std::int64_t cases = 0;
  lrp::Rule rule = lrp::Rule::AttnLRP;  ///< default: the campaign's first rule
  std::int64_t max_memory = 0;          ///< bytes above the weights (0: no budget)
  double mass = 0.85;                   ///< per-transition kept share of |edge| mass
  double node_threshold = 0.01;
  /// Kept nodes zeroed one at a time to test each graph against the model
  /// (graph/interventions.hpp; 0: no test).
  std::int64_t interventions = 16;

  bool enabled() const { return cases != 0; }
};

struct LayoutSpec {
  /// Pipeline stages per replica group: the ranks sharing one model, each
  /// holding a share of its layers (the job's ranks must be a multiple).
  /// 0 ("auto"): the fewest stages whose estimate fits `memory_per_rank`.
  int stages = 1;
  /// Bytes one rank may use (0: no budget). With a budget, every model's
  /// per-stage estimate is checked before anything runs.
  std::int64_t memory_per_rank = 0;
  dist::TransportKind transport = dist::TransportKind::Auto;  ///< between the stages
  /// How layers are split over stages: by measured time per layer ("time": a
  /// probe at load, then a re-split when it is clearly better) or by parameter
  /// count ("parameters": no probe; also the starting point of "time").
  bool balance_by_time = true;
  int batch_cases = 4;  ///< cases per scheduler batch (explanations)
  /// Batched explanation: a batch's cases are packed, in order, into
  /// sequences of at most this many tokens, each explained in one forward and
  /// one backward per rule (lrp/engine.hpp; 0: one case at a time).
  std::int64_t pack_tokens = 512;
  /// Benchmark items per scheduler batch: their generated answers decode
  /// together, 16 at a time (continuous batching over the batch).
  int batch_items = 32;
  double commit_seconds = 30;  ///< a collective commit at least this often (and at the end)
};

struct CampaignSpec {
  std::string file;  ///< the spec file, for messages
  std::string name;
  Mode mode = Mode::ExplainFailures;
  std::string reference;  ///< fixed-set: the model whose pairs are explained
  /// fixed-set with benchmarks: each target also explains its own failures on
  /// the items the reference's last checkpoint did not fail (one pair per item
  /// and target, so the store tells them apart by the reference's verdicts).
  bool own_failures = false;
  std::string store;  ///< the HDF5 store to write
  std::vector<ModelSpec> models;
  std::vector<CaseSourceSpec> cases;  ///< failure files (ready-made pairs)
  std::vector<BenchmarkSpec> benchmarks;
  std::vector<lrp::Rule> rules;
  RecordSpec record;
  FaithfulnessSpec faithfulness;
  GraphSpec graphs;
  LayoutSpec layout;

  /// The spec as canonical JSON (resolved paths, expanded checkpoints):
  /// stored in the store and hashed to recognise it on --resume.
  nlohmann::json to_json() const;
  /// FNV-1a 64 of to_json().dump() in hex: equal specs, equal hash.
  std::string hash() const;
};

const char* to_string(Mode m);

/// All problems found in a spec, one per line ("key.path: what is wrong").
class SpecError : public Error {
 public:
  SpecError(const std::string& file, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

/// Reads and validates a spec file. Throws SpecError listing every problem,
/// or clrp::Error when the file cannot be read or is not TOML.
CampaignSpec load_spec(const std::string& path);
/// Same for TOML text; `file` names it in messages and anchors relative paths.
CampaignSpec parse_spec(const std::string& toml_text, const std::string& file);

}  // namespace clrp::campaign
