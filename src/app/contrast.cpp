#include "clrp/app/contrast.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "clrp/cases/case_file.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

namespace {

// The case `id` of a case file (written by `clrp evaluate --failures`), with its pair.
cases::Case find_case(const std::string& path, const std::string& id) {
  cases::CaseReader reader(path);
  while (auto c = reader.next()) {
    if (c->id != id) continue;
    if (!c->pair)
      throw Error(Where{path, "pair"}, "case '" + id +
                                           "' has no contrastive pair (evaluate it with clrp "
                                           "evaluate --failures; meta.eval.no_pair says why not)");
    return *c;
  }
  throw Error(Where{path}, "no case with id '" + id + "' (" + reader.counts().summary() + ")");
}

std::int32_t checked(std::int32_t id, const char* which, const model::ModelConfig& config) {
  if (id >= config.vocab_size)
    throw Error("the pair's " + std::string(which) + " token " + std::to_string(id) +
                " is outside this model's vocabulary");
  return id;
}

// --prompt: the first token where the correct and the wrong answer differ,
// the tokens before it read after the prompt.
void share_leading_tokens(const LoadedModel& m, const ContrastOptions& opt,
                          const std::function<std::int32_t(const std::vector<std::int32_t>&)>& top1,
                          Contrast& c) {
  const std::vector<std::int32_t> correct = continuation_tokens(m, c.ids, c.rendered, opt.correct);
  std::size_t d = 0;
  if (opt.wrong) {
    const std::vector<std::int32_t> wrong = continuation_tokens(m, c.ids, c.rendered, *opt.wrong);
    while (d < correct.size() && d < wrong.size() && correct[d] == wrong[d])
      ++d;
    if (d == correct.size() && d == wrong.size())
      throw Error("the correct and the wrong answer are the same " + std::to_string(d) +
                  " token(s); there is nothing to contrast");
    if (d == correct.size() || d == wrong.size())
      throw Error(std::string("the ") + (d == correct.size() ? "correct" : "wrong") +
                  " answer's tokens are the first " + std::to_string(d) + " of the " +
                  (d == correct.size() ? "wrong" : "correct") +
                  " answer's; no token differs to contrast");
    c.wrong = wrong[d];
  } else {
    std::vector<std::int32_t> read = c.ids;
    for (;; ++d) {
      if (d == correct.size())
        throw Error("the model's own greedy continuation is the correct answer's " +
                    std::to_string(d) + " token(s); there is nothing to contrast (give --wrong)");
      const std::int32_t top = top1(read);
      if (top != correct[d]) {
        c.wrong = top;
        break;
      }
      read.push_back(top);
    }
  }
  c.correct = checked(correct[d], "correct", m.checkpoint.config());
  if (d == 0) return;
  const std::vector<std::int32_t> shared(correct.begin(),
                                         correct.begin() + static_cast<std::ptrdiff_t>(d));
  c.ids.insert(c.ids.end(), shared.begin(), shared.end());
  c.position = static_cast<std::int64_t>(c.ids.size()) - 1;
  c.prefix = m.tokenizer->decode(shared);
  c.shared_tokens = d;
  std::fprintf(stderr,
               "clrp: note: both answers start with %s (%zu token%s): read after the prompt, "
               "the contrast is at the next token\n",
               nlohmann::json(c.prefix).dump().c_str(), d, d == 1 ? "" : "s");
}

}  // namespace

void add_contrast_options(CLI::App* cmd, ContrastOptions& opt) {
  cmd->add_option("--prompt", opt.prompt, "The prompt text");
  cmd->add_option("--correct", opt.correct,
                  "A correct continuation; the contrast is at the first token where it and "
                  "the wrong one differ");
  cmd->add_option("--wrong", opt.wrong,
                  "The wrong continuation (default: the model's own greedy tokens)");
  add_chat_options(cmd, opt.chat);
  cmd->add_option("--cases", opt.cases,
                  "A case file with pairs (clrp evaluate --failures); explain --id's pair");
  cmd->add_option("--id", opt.id, "The case to explain (with --cases)");
}

Contrast resolve_contrast(
    const LoadedModel& m, const ContrastOptions& opt,
    const std::function<std::int32_t(const std::vector<std::int32_t>&)>& top1) {
  if (opt.cases.has_value() != opt.id.has_value()) throw Error("--cases and --id go together");
  if (!opt.cases && opt.prompt.empty())
    throw Error("the prompt is empty (give --prompt and --correct, or --cases and --id)");
  if (!opt.cases && opt.correct.empty()) throw Error("--correct is empty");
  if (opt.wrong && opt.wrong->empty()) throw Error("--wrong is empty");
  const model::ModelConfig& config = m.checkpoint.config();
  Contrast c;
  if (opt.cases) c.the_case = find_case(*opt.cases, *opt.id);
  // A case's pair fixes the sequence: tokens(rendered prompt + prefix), with the
  // chat template exactly when the pair was found with it.
  if (c.the_case && opt.chat.settings())
    throw Error(
        "--chat and its options are for --prompt; a case's pair says how its prompt "
        "was rendered (pair.chat)");
  c.rendered = c.the_case ? render_prompt(m, c.the_case->prompt, c.the_case->pair->chat)
                          : render_prompt(m, opt.prompt, opt.chat.settings());
  c.prefix = c.the_case ? c.the_case->pair->prefix : std::string();
  c.ids =
      c.prefix.empty()
          ? prompt_ids(m, c.rendered)
          : prompt_ids(m, PromptText{c.rendered.text + c.prefix, c.rendered.add_special_tokens});
  c.position = static_cast<std::int64_t>(c.ids.size()) - 1;
  if (c.the_case) {
    const cases::Pair& pair = *c.the_case->pair;
    c.correct = checked(pair.correct.id, "correct", config);
    c.wrong = checked(pair.wrong.id, "wrong", config);
    if (pair.model != m.checkpoint.path())
      std::fprintf(stderr, "clrp: note: the pair was found with %s; explaining it under %s\n",
                   pair.model.c_str(), m.checkpoint.path().c_str());
  } else {
    share_leading_tokens(m, opt, top1, c);
  }
  if (c.wrong == c.correct)
    throw Error("the correct and the wrong answer start with the same token (" +
                nlohmann::json(m.tokenizer->token_string(c.wrong)).dump() +
                "); there is nothing to contrast");
  return c;
}

}  // namespace clrp::app
