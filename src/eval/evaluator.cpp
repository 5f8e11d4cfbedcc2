#include "clrp/eval/evaluator.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "clrp/eval/answer_judge.hpp"
#include "clrp/eval/generate.hpp"
#include "clrp/util/error.hpp"

namespace clrp::eval {

// A contrast proposed by a search, before it is checked and measured.
struct Evaluator::Candidate {
  std::vector<std::int32_t> prefix_ids;  ///< tokens between the prompt and the contrast
  std::int32_t wrong = 0, correct = 0;
  cases::PairMethod method = cases::PairMethod::letter;
  /// Each side's tokens from the contrast on, as far as the search knows
  /// them (empty: the token alone); the pair keeps their text.
  std::vector<std::int32_t> wrong_rest = {}, correct_rest = {};
};

namespace {

// Up to cases::kContinuationTokens tokens of `ids` from `from` on.
std::vector<std::int32_t> rest_of(const std::vector<std::int32_t>& ids, std::size_t from) {
  const std::size_t end = std::min(ids.size(), from + cases::kContinuationTokens);
  return from < end ? std::vector<std::int32_t>(ids.begin() + static_cast<std::ptrdiff_t>(from),
                                                ids.begin() + static_cast<std::ptrdiff_t>(end))
                    : std::vector<std::int32_t>{};
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char ch : s)
    n += (ch & 0xC0) != 0x80;
  return n;
}

std::size_t argmax(const std::vector<double>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// The decoded completion of `tokens` as the judge sees it: without a final
// EOS, cut before the first stop sequence.
std::string completion_text(const text::Tokenizer& tok, std::vector<std::int32_t> tokens,
                            const GenerateOptions& g) {
  if (!tokens.empty() && g.eos && tokens.back() == *g.eos) tokens.pop_back();
  std::string text = tok.decode(tokens);
  const std::size_t at = find_stop(text, g.stop);
  if (at != std::string::npos) text.resize(at);
  return text;
}

}  // namespace

Evaluator::Evaluator(const model::IncrementalModel& model, const text::Tokenizer& tokenizer,
                     Render render, std::string model_path, std::optional<text::ChatSettings> chat,
                     EvalOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      render_(std::move(render)),
      model_path_(std::move(model_path)),
      chat_(std::move(chat)),
      options_(std::move(options)),
      instructions_(std::make_shared<judge::InstructionJudge>(options_.instructions)),
      prefixes_(options_.reuse_prefixes ? std::make_shared<PrefixCache>() : nullptr) {
  if (options_.budget.k < 1 || options_.budget.k > 10)
    throw Error("the counterfactual search tries 1 to 10 alternatives per position, not " +
                std::to_string(options_.budget.k));
}

// A case on its way through evaluate(): the prompt read, the answer not yet
// judged when it is to be generated.
struct Evaluator::Pending {
  const cases::Case* c = nullptr;
  RenderedPrompt rendered;
  std::unique_ptr<PromptState> state;
  Outcome out;
  GenerateOptions generate;
  bool counterfactual = false;
};

Outcome Evaluator::evaluate(const cases::Case& c) const {
  Evaluated e = std::move(evaluate({&c}).front());
  if (!e.outcome) throw Error(e.error);
  return std::move(*e.outcome);
}

std::vector<Evaluated> Evaluator::evaluate(const std::vector<const cases::Case*>& batch) const {
  std::vector<Evaluated> results(batch.size());
  std::vector<Pending> pending(batch.size());
  std::vector<std::size_t> generating;  // cases whose answer is generated, in batch order
  std::vector<GenerationRequest> requests;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    try {
      Pending& p = pending[i];
      read_prompt(*batch[i], p);
      const cases::Case& c = *p.c;
      if (c.format == cases::Format::mc_letter) {
        letter(c, p.rendered, *p.state, p.out);
      } else if (c.format == cases::Format::mc_cloze) {
        cloze(c, p.rendered, *p.state, p.out);
      } else {
        p.generate = generation_options(c, p.counterfactual);
        requests.push_back({p.state->cache(), p.state->last_logits(), p.generate});
        generating.push_back(i);
        continue;
      }
      results[i].outcome = conclude(c, std::move(p.out));
    } catch (const Error& e) {
      results[i].error = e.what();
    }
  }
  if (!requests.empty()) {
    // Every generated answer of the batch decodes together.
    std::vector<Generation> generations =
        greedy_generate_batch(model_, tokenizer_, requests, options_.batch);
    for (std::size_t k = 0; k < generating.size(); ++k) {
      const std::size_t i = generating[k];
      Pending& p = pending[i];
      try {
        generated(*p.c, p.rendered, *p.state, p.generate, p.counterfactual, generations[k],
                  requests[k].cache, p.out);
        results[i].outcome = conclude(*p.c, std::move(p.out));
      } catch (const Error& e) {
        results[i].error = e.what();
      }
    }
  }
  return results;
}

void Evaluator::read_prompt(const cases::Case& c, Pending& p) const {
  p.c = &c;
  p.rendered = render_(c.prompt);
  std::vector<std::int32_t> ids = tokenizer_.encode(p.rendered.text, p.rendered.add_special_tokens);
  if (ids.empty()) throw Error("the prompt tokenises to no tokens");
  const std::int64_t context = model_.config().max_position_embeddings;
  if (static_cast<std::int64_t>(ids.size()) > context)
    throw Error("the prompt is " + std::to_string(ids.size()) +
                " tokens, longer than the model's context of " + std::to_string(context));
  p.state = std::make_unique<PromptState>(model_, std::move(ids), prefixes_.get());
  Outcome& out = p.out;
  out.prompt_tokens = static_cast<std::int64_t>(p.state->ids().size());
  out.record = {{"id", c.id},
                {"benchmark", c.benchmark},
                {"format", std::string(cases::name(c.format))},
                {"prompt_tokens", out.prompt_tokens}};
  if (options_.record_ids) out.record["prompt_ids"] = p.state->ids();
}

Outcome Evaluator::conclude(const cases::Case& c, Outcome out) const {
  if (c.format != cases::Format::mc_cloze) out.correct_per_char = out.correct;
  out.record["correct"] = out.correct;
  if (!out.correct && !options_.find_pairs) out.no_pair_reason = no_pair::disabled;
  if (out.pair) {
    out.record["delta"] = out.pair->delta;
  } else if (!out.correct) {
    out.record["no_pair"] = out.no_pair_reason;
  }
  return out;
}

void Evaluator::letter(const cases::Case& c, const RenderedPrompt& r, const PromptState& s,
                       Outcome& out) const {
  const auto& gold = std::get<cases::ChoiceGold>(c.gold);
  const at::Tensor& logits = s.last_logits();
  std::vector<std::int32_t> letter_ids;
  std::vector<double> letter_logits;
  for (const std::string& cont : gold.continuations) {
    const ContinuationTokens t = split_continuation(tokenizer_, r, s.ids(), cont);
    if (t.context != s.ids().size())
      throw Error("the letter continuation " + nlohmann::json(cont).dump() +
                  " merges with the prompt's last token");
    letter_ids.push_back(t.whole[t.context]);
    letter_logits.push_back(logits[t.whole[t.context]].item<double>());
  }
  for (std::size_t a = 0; a < letter_ids.size(); ++a)
    for (std::size_t b = a + 1; b < letter_ids.size(); ++b)
      if (letter_ids[a] == letter_ids[b])
        throw Error("options " + std::to_string(a) + " and " + std::to_string(b) +
                    " start with the same token; letters cannot tell them apart");
  const std::size_t predicted = argmax(letter_logits);
  out.correct = predicted == gold.index;
  const auto top = static_cast<std::int32_t>(logits.argmax().item<std::int64_t>());
  out.record["predicted"] = predicted;
  out.record["letter_logits"] = letter_logits;
  out.record["letter_ids"] = letter_ids;
  out.record["top1_is_letter"] =
      std::find(letter_ids.begin(), letter_ids.end(), top) != letter_ids.end();
  if (out.correct || !options_.find_pairs) return;
  settle_pair({{}, letter_ids[predicted], letter_ids[gold.index], cases::PairMethod::letter}, r, s,
              out);
}

void Evaluator::cloze(const cases::Case& c, const RenderedPrompt& r, const PromptState& s,
                      Outcome& out) const {
  const auto& gold = std::get<cases::ChoiceGold>(c.gold);
  std::vector<ContinuationTokens> splits;
  for (const std::string& cont : gold.continuations)
    splits.push_back(split_continuation(tokenizer_, r, s.ids(), cont));
  const std::vector<ContinuationScore> scores = s.score(splits);
  std::vector<double> sum, per_char;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    sum.push_back(scores[i].logprob);
    per_char.push_back(scores[i].logprob / static_cast<double>(std::max<std::size_t>(
                                               1, code_points(gold.continuations[i]))));
  }
  const std::size_t by_sum = argmax(sum), by_char = argmax(per_char);
  const std::size_t predicted = options_.decide_per_char ? by_char : by_sum;
  out.correct = predicted == gold.index;
  out.correct_per_char = by_char == gold.index;
  out.record["predicted"] = predicted;
  out.record["predicted_sum"] = by_sum;
  out.record["predicted_per_char"] = by_char;
  out.record["logprobs"] = sum;
  out.record["logprobs_per_char"] = per_char;
  if (options_.record_ids) {
    nlohmann::json conts = nlohmann::json::array();
    for (const auto& t : splits)
      conts.push_back({{"context", t.context}, {"ids", t.continuation()}});
    out.record["continuations"] = conts;
  }
  if (out.correct || !options_.find_pairs) return;
  // Compare the two paths past the prompt; a continuation that re-merged with
  // the prompt's end has no common context to put the contrast in.
  const std::size_t n = s.ids().size();
  const auto& w = splits[predicted];
  const auto& g = splits[gold.index];
  if (w.context != n || g.context != n) {
    out.no_pair_reason = no_pair::retokenized;
    return;
  }
  const auto wt = w.continuation(), gt = g.continuation();
  const auto d = first_divergence(wt, gt);
  if (!d) {
    out.no_pair_reason = no_pair::no_divergence;
    return;
  }
  settle_pair({{gt.begin(), gt.begin() + static_cast<std::ptrdiff_t>(*d)},
               wt[*d],
               gt[*d],
               cases::PairMethod::cloze,
               rest_of(wt, *d),
               rest_of(gt, *d)},
              r, s, out);
}

GenerateOptions Evaluator::generation_options(const cases::Case& c, bool& counterfactual) const {
  const auto* answer = std::get_if<cases::AnswerGold>(&c.gold);
  const auto* code = std::get_if<cases::CodeGold>(&c.gold);
  const auto* checked = std::get_if<cases::InstructionGold>(&c.gold);
  // An unknown instruction is refused before any token is generated.
  if (checked) instructions_->check_known(checked->instructions);
  GenerateOptions g;
  if (answer) {
    g.max_new_tokens = answer->max_new_tokens;
    g.stop = answer->stop;
  } else if (code) {
    g.max_new_tokens = code->max_new_tokens;
    g.stop = code->stop;
  } else if (checked) {
    g.max_new_tokens = checked->max_new_tokens;
    g.stop = checked->stop;
  } else {
    throw Error("case " + c.id + ": a generated answer needs a generative, code or IFEval gold");
  }
  if (options_.max_new_tokens > 0)
    g.max_new_tokens = std::min(g.max_new_tokens, options_.max_new_tokens);
  g.eos = tokenizer_.eos_id();
  counterfactual = options_.generative_pairs == GenerativePairs::counterfactual ||
                   (options_.generative_pairs == GenerativePairs::automatic && answer == nullptr);
  if (options_.find_pairs && counterfactual && !options_.imported.count(c.id))
    g.record_top_k = options_.budget.k + 1;  // the generated token may be among them
  return g;
}

void Evaluator::generated(const cases::Case& c, const RenderedPrompt& r, const PromptState& s,
                          const GenerateOptions& g, bool counterfactual, const Generation& gen,
                          model::KvCache& cache, Outcome& out) const {
  const auto* answer = std::get_if<cases::AnswerGold>(&c.gold);
  const auto* code = std::get_if<cases::CodeGold>(&c.gold);
  const auto* checked = std::get_if<cases::InstructionGold>(&c.gold);
  const auto imported = options_.imported.find(c.id);
  const std::int64_t n = s.cache().length;
  out.generated_tokens = static_cast<std::int64_t>(gen.tokens.size());
  judge::InstructionVerdict followed;  // the checkers' verdicts on the last text judged
  auto judge = [&](const std::string& text) -> Verdict {
    if (answer) return judge_answer(*answer, text);
    if (code) return judge_code(*code, text, options_.code);
    followed = instructions_->judge(c.prompt, text, checked->instructions);
    return instructions_verdict(*checked, followed);
  };
  const Verdict verdict = judge(gen.text);
  out.correct = verdict.correct;
  out.record["text"] = gen.text;
  out.record["stop_reason"] = to_string(gen.reason);
  out.record["verdict"] = verdict.reason;
  if (checked) {
    // IFEval's four metrics (prompt/instruction level, strict/loose) are
    // computed from these by whoever reads the records.
    out.record["instructions_strict"] = followed.strict;
    out.record["instructions_loose"] = followed.loose;
    out.followed = followed;
  }
  if (options_.record_ids) out.record["generated"] = gen.tokens;
  if (out.correct || !options_.find_pairs) return;

  if (imported != options_.imported.end()) {
    const ImportedPair& ip = imported->second;
    if (ip.position >= gen.tokens.size() || ip.token < 0 ||
        ip.token >= model_.config().vocab_size || ip.token == gen.tokens[ip.position]) {
      out.no_pair_reason = no_pair::import_invalid;
      out.record["import_error"] =
          ip.position >= gen.tokens.size()
              ? "position " + std::to_string(ip.position) + " is past the " +
                    std::to_string(gen.tokens.size()) + " generated tokens"
              : "token " + std::to_string(ip.token) + " is not a different token of the vocabulary";
      return;
    }
    settle_pair(
        {{gen.tokens.begin(), gen.tokens.begin() + static_cast<std::ptrdiff_t>(ip.position)},
         gen.tokens[ip.position],
         ip.token,
         cases::PairMethod::imported,
         rest_of(gen.tokens, ip.position)},
        r, s, out);
    return;
  }

  if (!counterfactual && checked) {
    out.no_pair_reason = no_pair::no_reference;
    return;
  }
  if (!counterfactual) {
    const std::string& reference = answer ? answer->reference : code->reference;
    const ContinuationTokens ref = split_continuation(tokenizer_, r, s.ids(), reference);
    if (ref.context != s.ids().size()) {
      out.no_pair_reason = no_pair::retokenized;
      return;
    }
    const auto gold_ids = ref.continuation();
    const auto d = first_divergence(gen.tokens, gold_ids);
    if (!d) {
      out.no_pair_reason = no_pair::no_divergence;
      return;
    }
    settle_pair({{gen.tokens.begin(), gen.tokens.begin() + static_cast<std::ptrdiff_t>(*d)},
                 gen.tokens[*d],
                 gold_ids[*d],
                 cases::PairMethod::gold_divergence,
                 rest_of(gen.tokens, *d),
                 rest_of(gold_ids, *d)},
                r, s, out);
    return;
  }

  // Counterfactual: the cache holds prompt + every generated token but the
  // last, so truncating it to n + p is the state in which token p was chosen.
  GenerateOptions tail = g;
  tail.record_top_k = 0;
  std::int64_t extra_tokens = 0;
  int unfinished = 0;  // continuations cut by budget.tokens, counted as not passing
  int judge_errors = 0;
  std::string first_judge_error;
  // All the tries of a round continue together (greedy_generate_batch): each
  // fork is the cache truncated to its position, fed its alternative.
  const TryAlternatives try_all = [&](const std::vector<Try>& tries) {
    std::vector<bool> passes(tries.size(), false);
    std::vector<std::vector<std::int32_t>> tokens(tries.size());
    std::vector<int> to_limit(tries.size());
    std::vector<std::size_t> continued;
    std::vector<GenerationRequest> requests;
    for (std::size_t i = 0; i < tries.size(); ++i) {
      const auto [p, alt] = tries[i];
      tokens[i].assign(gen.tokens.begin(), gen.tokens.begin() + static_cast<std::ptrdiff_t>(p));
      tokens[i].push_back(alt);
      to_limit[i] = g.max_new_tokens - static_cast<int>(p) - 1;
      const int left =
          options_.budget.tokens > 0 ? std::min(options_.budget.tokens, to_limit[i]) : to_limit[i];
      const bool finished = (g.eos && alt == *g.eos) ||
                            find_stop(tokenizer_.decode(tokens[i]), g.stop) != std::string::npos;
      if (left <= 0 || finished) continue;
      GenerationRequest req{cache.truncated(n + static_cast<std::int64_t>(p)), {}, tail};
      req.options.max_new_tokens = left;
      continued.push_back(i);
      requests.push_back(std::move(req));
    }
    if (!requests.empty()) {
      // The alternatives' own tokens, one step for all forks.
      std::vector<std::int32_t> alts;
      std::vector<model::KvCache*> forks;
      for (std::size_t j = 0; j < continued.size(); ++j) {
        alts.push_back(tries[continued[j]].second);
        forks.push_back(&requests[j].cache);
      }
      const at::Tensor next = model_.forward_step(alts, forks).to(at::kCPU);
      for (std::size_t j = 0; j < continued.size(); ++j)
        requests[j].next_logits = next[static_cast<std::int64_t>(j)];
      const std::vector<Generation> rests =
          greedy_generate_batch(model_, tokenizer_, requests, options_.batch);
      for (std::size_t j = 0; j < continued.size(); ++j) {
        const std::size_t i = continued[j];
        const Generation& rest = rests[j];
        extra_tokens += static_cast<std::int64_t>(rest.tokens.size()) + 1;
        // A continuation that the search's own budget cut off is not a whole
        // response, and judging it would be judging a text the model never
        // finished (IFEval's "no commas" holds for any short prefix). Only the
        // case's limit may end a response that is judged.
        if (rest.reason == StopReason::max_tokens &&
            requests[j].options.max_new_tokens < to_limit[i]) {
          ++unfinished;
          tokens[i].clear();  // not judged
          continue;
        }
        tokens[i].insert(tokens[i].end(), rest.tokens.begin(), rest.tokens.end());
      }
    }
    for (std::size_t i = 0; i < tries.size(); ++i) {
      if (tokens[i].empty()) continue;
      // A judge that fails on one alternative (a checker that times out) costs
      // that alternative, not the case: its own answer is already judged.
      try {
        passes[i] = judge(completion_text(tokenizer_, tokens[i], g)).correct;
      } catch (const Error& e) {
        if (judge_errors++ == 0) first_judge_error = e.what();
      }
    }
    return passes;
  };
  const CounterfactualResult found = counterfactual_search(
      gen.tokens, gen.top_ids, options_.budget, try_all, static_cast<std::size_t>(options_.batch));
  out.generated_tokens += extra_tokens;
  out.record["counterfactual_tried"] = found.tried;
  out.record["counterfactual_run"] = found.run;
  out.record["counterfactual_unfinished"] = unfinished;
  if (judge_errors > 0) {
    out.record["counterfactual_judge_errors"] = judge_errors;
    out.record["counterfactual_judge_error"] = first_judge_error;
  }
  if (!found.hit) {
    out.no_pair_reason = no_pair::no_counterfactual;
    out.record["counterfactual"] = found.reason;
    return;
  }
  const CounterfactualHit& h = *found.hit;
  out.record["counterfactual_rank"] = h.rank;
  settle_pair({{gen.tokens.begin(), gen.tokens.begin() + static_cast<std::ptrdiff_t>(h.position)},
               h.wrong,
               h.correct,
               cases::PairMethod::counterfactual,
               rest_of(gen.tokens, h.position)},
              r, s, out);
}

void Evaluator::settle_pair(const Candidate& cand, const RenderedPrompt& r, const PromptState& s,
                            Outcome& out) const {
  if (cand.wrong == cand.correct) {
    out.no_pair_reason = no_pair::same_token;
    return;
  }
  // The explained sequence is tokens(prompt + prefix): it must be the path the
  // model took, or the contrast would be asked in a context it never saw.
  const std::string prefix = tokenizer_.decode(cand.prefix_ids);
  std::vector<std::int32_t> expected = s.ids();
  expected.insert(expected.end(), cand.prefix_ids.begin(), cand.prefix_ids.end());
  if (!cand.prefix_ids.empty() &&
      tokenizer_.encode(r.text + prefix, r.add_special_tokens) != expected) {
    out.no_pair_reason = no_pair::retokenized;
    out.record["prefix"] = prefix;
    return;
  }
  const at::Tensor logits = s.logits_after(cand.prefix_ids);
  cases::Pair p;
  p.prefix = prefix;
  p.wrong = {cand.wrong, tokenizer_.token_string(cand.wrong), logits[cand.wrong].item<double>()};
  p.correct = {cand.correct, tokenizer_.token_string(cand.correct),
               logits[cand.correct].item<double>()};
  if (!cand.wrong_rest.empty()) p.wrong.continuation = tokenizer_.decode(cand.wrong_rest);
  if (!cand.correct_rest.empty()) p.correct.continuation = tokenizer_.decode(cand.correct_rest);
  p.delta = p.wrong.logit - p.correct.logit;
  p.method = cand.method;
  p.model = model_path_;
  p.chat = chat_;
  out.record["pair_delta"] = p.delta;
  out.record["pair_position"] = cand.prefix_ids.size();
  if (!(p.delta >= options_.min_delta)) {
    out.no_pair_reason = no_pair::weak_preference;
    return;
  }
  out.pair = std::move(p);
}

}  // namespace clrp::eval
