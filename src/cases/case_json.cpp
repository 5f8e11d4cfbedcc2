// Cases from and to JSON: every field checked, a fixed key order on output.
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>

#include "clrp/cases/case.hpp"
#include "clrp/cases/case_file.hpp"
#include "clrp/io/json.hpp"
#include "utf8.hpp"

namespace clrp::cases {

using nlohmann::json;

namespace {

// Upper bounds that keep a corrupt file from asking for absurd work.
constexpr int kMaxNewTokens = 1 << 20;
constexpr std::size_t kMaxIdBytes = 1024;

[[noreturn]] void fail(Problem p, const Where& base, const std::string& field,
                       const std::string& message) {
  Where w = base;
  w.field = field;
  throw CaseError(p, std::move(w), message);
}

std::string type_name(const json& v) {
  return v.type_name();
}

// A JSON object whose keys are checked against the fields a level defines.
class Object {
 public:
  Object(const json& j, const Where& where, std::string path,
         std::initializer_list<std::string_view> allowed)
      : j_(j), where_(where), path_(std::move(path)) {
    if (!j.is_object())
      fail(path_.empty() ? Problem::not_an_object : Problem::wrong_type, where_, path_,
           "expected an object, found " + type_name(j));
    for (const auto& [key, value] : j.items()) {
      bool known = false;
      for (auto a : allowed)
        known = known || a == key;
      if (!known) fail(Problem::unknown_field, where_, io::json_path(path_, key), "unknown field");
    }
  }

  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  const json& need(const char* key) const {
    const json* v = find(key);
    if (!v) fail(Problem::missing_field, where_, field(key), "missing");
    return *v;
  }
  std::string field(const std::string& key) const { return io::json_path(path_, key); }
  /// An optional list of [start, end] spans (code points; checked against the
  /// prompt later, by check_span).
  std::vector<Span> spans(const char* key) const {
    std::vector<Span> out;
    const json* list = find(key);
    if (list == nullptr) return out;
    if (!list->is_array())
      fail(Problem::wrong_type, where_, field(key), "expected an array of [start, end]");
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& pair = (*list)[i];
      const std::string path = io::json_path(field(key), i);
      if (!pair.is_array() || pair.size() != 2)
        fail(Problem::wrong_type, where_, path, "expected [start, end]");
      out.push_back({count(pair[0], path + "[0]"), count(pair[1], path + "[1]")});
    }
    return out;
  }

  std::string string(const char* key) const { return as_string(need(key), field(key)); }
  std::string string_or(const char* key, std::string fallback) const {
    const json* v = find(key);
    return v ? as_string(*v, field(key)) : std::move(fallback);
  }
  std::vector<std::string> strings(const char* key, bool required) const {
    const json* v = required ? &need(key) : find(key);
    std::vector<std::string> out;
    if (!v) return out;
    if (!v->is_array())
      fail(Problem::wrong_type, where_, field(key), "expected an array of strings");
    out.reserve(v->size());
    for (std::size_t i = 0; i < v->size(); ++i)
      out.push_back(as_string((*v)[i], io::json_path(field(key), i)));
    return out;
  }
  std::size_t count(const json& v, const std::string& f) const {
    if (!v.is_number_integer())
      fail(Problem::wrong_type, where_, f, "expected an integer, found " + type_name(v));
    if (v.is_number_unsigned()) return v.get<std::size_t>();
    const auto x = v.get<std::int64_t>();
    if (x < 0) fail(Problem::bad_value, where_, f, "negative: " + std::to_string(x));
    return static_cast<std::size_t>(x);
  }
  std::size_t count(const char* key) const { return count(need(key), field(key)); }

  std::string as_string(const json& v, const std::string& f) const {
    if (!v.is_string())
      fail(Problem::wrong_type, where_, f, "expected a string, found " + type_name(v));
    return v.get<std::string>();
  }

 private:
  const json& j_;
  const Where& where_;
  std::string path_;
};

ChoiceGold choice_gold(const Object& g) {
  ChoiceGold out;
  out.index = g.count("index");
  out.options = g.strings("options", true);
  out.letters = g.strings("letters", false);
  out.continuations = g.strings("continuations", true);
  return out;
}

int max_new_tokens(const Object& g, const Where& where) {
  const std::size_t n = g.count("max_new_tokens");
  if (n < 1 || n > static_cast<std::size_t>(kMaxNewTokens))
    fail(Problem::bad_value, where, g.field("max_new_tokens"),
         std::to_string(n) + " is outside [1, " + std::to_string(kMaxNewTokens) + "]");
  return static_cast<int>(n);
}

AnswerGold answer_gold(const Object& g, const Where& where) {
  AnswerGold out;
  out.answer = g.string("answer");
  out.aliases = g.strings("aliases", false);
  const std::string judge = g.string("judge");
  const auto j = parse_judge(judge);
  if (!j)
    fail(Problem::bad_value, where, g.field("judge"), "unknown judge '" + excerpt(judge) + "'");
  out.judge = *j;
  out.reference = g.string("reference");
  out.stop = g.strings("stop", false);
  out.max_new_tokens = max_new_tokens(g, where);
  return out;
}

CodeGold code_gold(const Object& g, const Where& where) {
  CodeGold out;
  out.language = g.string("language");
  out.entry_point = g.string("entry_point");
  out.program_prefix = g.string_or("program_prefix", "");
  out.tests = g.string("tests");
  out.reference = g.string("reference");
  out.stop = g.strings("stop", false);
  out.max_new_tokens = max_new_tokens(g, where);
  return out;
}

InstructionGold instruction_gold(const Object& g, const Where& where) {
  InstructionGold out;
  out.checker = g.string("checker");
  const json& list = g.need("instructions");
  if (!list.is_array())
    fail(Problem::wrong_type, where, g.field("instructions"),
         "expected an array of {id, kwargs}, found " + type_name(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Object item(list[i], where, io::json_path(g.field("instructions"), i),
                      {"id", "kwargs", "evidence"});
    judge::Instruction instruction;
    instruction.id = item.string("id");
    if (const json* kwargs = item.find("kwargs")) {
      if (!kwargs->is_object())
        fail(Problem::wrong_type, where, item.field("kwargs"),
             "expected an object, found " + type_name(*kwargs));
      instruction.kwargs = *kwargs;
    }
    std::vector<Span> spans = item.spans("evidence");
    if (!spans.empty()) {  // one list per instruction once any has spans
      out.evidence.resize(list.size());
      out.evidence[i] = std::move(spans);
    }
    out.instructions.push_back(std::move(instruction));
  }
  out.stop = g.strings("stop", false);
  out.max_new_tokens = max_new_tokens(g, where);
  return out;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) return false;
  return true;
}

bool is_benchmark_name(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.'))
      return false;
  return true;
}

bool is_blank(const std::string& s) {
  for (char ch : s)
    if (!std::isspace(static_cast<unsigned char>(ch))) return false;
  return true;
}

// Valid UTF-8, and not empty unless allowed: every string a case carries.
void check_text(const std::string& s, const Where& where, const std::string& field,
                bool allow_empty = false, Problem if_empty = Problem::empty_text) {
  if (auto bad = detail::find_invalid_utf8(s))
    fail(Problem::invalid_utf8, where, field, "invalid UTF-8 at byte " + std::to_string(*bad));
  if (!allow_empty && s.empty()) fail(if_empty, where, field, "empty");
}

void check_texts(const std::vector<std::string>& v, const Where& where, const std::string& field) {
  for (std::size_t i = 0; i < v.size(); ++i)
    check_text(v[i], where, io::json_path(field, i));
}

void check_generation(const std::vector<std::string>& stop, int max_new_tokens, const Where& w) {
  check_texts(stop, w, "gold.stop");
  if (max_new_tokens < 1 || max_new_tokens > kMaxNewTokens)
    fail(Problem::bad_value, w, "gold.max_new_tokens",
         std::to_string(max_new_tokens) + " is out of range");
}

void validate_choice(const ChoiceGold& g, Format format, const Where& w) {
  const std::size_t n = g.options.size();
  if (n < 2) fail(Problem::gold_index, w, "gold.options", "fewer than 2 options");
  check_texts(g.options, w, "gold.options");
  check_texts(g.continuations, w, "gold.continuations");
  check_texts(g.letters, w, "gold.letters");
  if (g.continuations.size() != n)
    fail(Problem::gold_index, w, "gold.continuations",
         std::to_string(g.continuations.size()) + " continuations for " + std::to_string(n) +
             " options");
  if (format == Format::mc_letter && g.letters.empty())
    fail(Problem::missing_field, w, "gold.letters", "missing (required for mc_letter)");
  if (!g.letters.empty() && g.letters.size() != n)
    fail(Problem::gold_index, w, "gold.letters",
         std::to_string(g.letters.size()) + " letters for " + std::to_string(n) + " options");
  if (g.index >= n)
    fail(Problem::gold_index, w, "gold.index",
         std::to_string(g.index) + " is not an option index (" + std::to_string(n) + " options)");
  // Identical continuations could not be told apart by their scores.
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a + 1; b < n; ++b) {
      if (g.continuations[a] == g.continuations[b])
        fail(Problem::bad_value, w, io::json_path("gold.continuations", b),
             "equal to continuation " + std::to_string(a));
      if (!g.letters.empty() && g.letters[a] == g.letters[b])
        fail(Problem::bad_value, w, io::json_path("gold.letters", b),
             "equal to letter " + std::to_string(a));
    }
}

void validate_answer(const AnswerGold& g, const Where& w) {
  check_text(g.answer, w, "gold.answer", true);
  if (is_blank(g.answer)) fail(Problem::empty_answer, w, "gold.answer", "empty");
  check_texts(g.aliases, w, "gold.aliases");
  check_text(g.reference, w, "gold.reference", false, Problem::empty_answer);
  check_generation(g.stop, g.max_new_tokens, w);
}

void validate_code(const CodeGold& g, const Where& w) {
  if (g.language != "python")
    fail(Problem::bad_value, w, "gold.language",
         "unsupported language '" + excerpt(g.language) + "'");
  if (!is_identifier(g.entry_point))
    fail(Problem::bad_value, w, "gold.entry_point",
         "not an identifier: '" + excerpt(g.entry_point) + "'");
  check_text(g.program_prefix, w, "gold.program_prefix", true);
  check_text(g.tests, w, "gold.tests", false, Problem::empty_answer);
  if (is_blank(g.tests)) fail(Problem::empty_answer, w, "gold.tests", "blank");
  check_text(g.reference, w, "gold.reference", false, Problem::empty_answer);
  check_generation(g.stop, g.max_new_tokens, w);
}

// An evidence span (code points) at `field`: not empty, inside a prompt of
// `chars` code points, and not starting before `previous` ends.
void check_span(const Span& s, const Span* previous, std::size_t chars, const Where& where,
                const std::string& field) {
  const std::string text = "[" + std::to_string(s.begin) + ", " + std::to_string(s.end) + ")";
  if (s.begin >= s.end) fail(Problem::span_out_of_range, where, field, "empty span " + text);
  if (s.end > chars)
    fail(Problem::span_out_of_range, where, field,
         text + " ends past the prompt (" + std::to_string(chars) + " characters)");
  if (previous != nullptr && s.begin < previous->end)
    fail(Problem::span_order, where, field, text + " starts before the previous span ends");
}

// The checker decides what an id means (unknown ids are refused when the
// case is judged, by the checkers themselves); here: the shape.
void validate_instructions(const InstructionGold& g, const Where& w) {
  if (g.checker != "ifeval")
    fail(Problem::bad_value, w, "gold.checker",
         "unknown checker '" + excerpt(g.checker) + "' (the one clrp has is 'ifeval')");
  if (g.instructions.empty())
    fail(Problem::empty_answer, w, "gold.instructions", "no instructions to follow");
  for (std::size_t i = 0; i < g.instructions.size(); ++i) {
    const std::string field = io::json_path(io::json_path("gold.instructions", i), "id");
    check_text(g.instructions[i].id, w, field);
    if (g.instructions[i].id.find(':') == std::string::npos)
      fail(Problem::bad_value, w, field,
           "'" + excerpt(g.instructions[i].id) + "' is not an IFEval id ('group:name')");
    if (!g.instructions[i].kwargs.is_object())
      fail(Problem::wrong_type, w, io::json_path(io::json_path("gold.instructions", i), "kwargs"),
           "expected an object");
  }
  check_generation(g.stop, g.max_new_tokens, w);
}

PairToken pair_token(const Object& o, const Where& where) {
  PairToken t;
  const json& id = o.need("id");
  const std::size_t n = o.count(id, o.field("id"));
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    fail(Problem::bad_value, where, o.field("id"), std::to_string(n) + " is not a token id");
  t.id = static_cast<std::int32_t>(n);
  t.token = o.string("token");
  const json& logit = o.need("logit");
  if (!logit.is_number())
    fail(Problem::wrong_type, where, o.field("logit"),
         "expected a number, found " + type_name(logit));
  t.logit = logit.get<double>();
  t.continuation = o.string_or("continuation", "");
  return t;
}

Pair read_pair(const json& j, const Where& where) {
  const Object o(j, where, "pair",
                 {"prefix", "wrong", "correct", "delta", "method", "model", "chat"});
  Pair p;
  p.prefix = o.string("prefix");
  p.wrong = pair_token(
      Object(o.need("wrong"), where, "pair.wrong", {"id", "token", "logit", "continuation"}),
      where);
  p.correct = pair_token(
      Object(o.need("correct"), where, "pair.correct", {"id", "token", "logit", "continuation"}),
      where);
  const json& delta = o.need("delta");
  if (!delta.is_number())
    fail(Problem::wrong_type, where, "pair.delta", "expected a number, found " + type_name(delta));
  p.delta = delta.get<double>();
  const std::string method = o.string("method");
  const auto m = parse_pair_method(method);
  if (!m)
    fail(Problem::bad_value, where, "pair.method", "unknown method '" + excerpt(method) + "'");
  p.method = *m;
  p.model = o.string("model");
  // "chat": true (the template with default settings) or {system, options, template}.
  if (const json* chat = o.find("chat")) {
    if (chat->is_boolean()) {
      if (chat->get<bool>()) p.chat = text::ChatSettings{};
    } else if (chat->is_object()) {
      try {
        p.chat = text::ChatSettings::from_json(*chat, Where{});
      } catch (const Error& e) {
        fail(Problem::bad_value, where,
             "pair.chat" + (e.where().field.empty() ? "" : "." + e.where().field),
             e.bare_message());
      }
    } else {
      fail(Problem::wrong_type, where, "pair.chat",
           "expected true, false or {system, options, template}, found " + type_name(*chat));
    }
  }
  return p;
}

// A pair must describe one contrast the model can be asked about again: two
// different tokens, finite logits whose difference is the stored Δℓ, and a
// method that fits the case's format.
void validate_pair(const Pair& p, Format format, const Where& w) {
  check_text(p.prefix, w, "pair.prefix", true);
  check_text(p.wrong.token, w, "pair.wrong.token", true);
  check_text(p.correct.token, w, "pair.correct.token", true);
  check_text(p.model, w, "pair.model");
  if (p.wrong.id < 0) fail(Problem::bad_value, w, "pair.wrong.id", "negative");
  if (p.correct.id < 0) fail(Problem::bad_value, w, "pair.correct.id", "negative");
  if (p.wrong.id == p.correct.id)
    fail(Problem::bad_value, w, "pair.correct.id",
         "equals pair.wrong.id (" + std::to_string(p.wrong.id) + "): nothing to contrast");
  for (const auto& [value, field] :
       {std::pair{p.wrong.logit, "pair.wrong.logit"},
        std::pair{p.correct.logit, "pair.correct.logit"}, std::pair{p.delta, "pair.delta"}})
    if (!std::isfinite(value)) fail(Problem::bad_value, w, field, "not a finite number");
  const double expected = p.wrong.logit - p.correct.logit;
  if (std::abs(expected - p.delta) > 1e-4 * (1.0 + std::abs(expected)))
    fail(Problem::bad_value, w, "pair.delta",
         std::to_string(p.delta) +
             " is not wrong.logit - correct.logit = " + std::to_string(expected));
  const bool fits = p.method == PairMethod::letter  ? format == Format::mc_letter
                    : p.method == PairMethod::cloze ? format == Format::mc_cloze
                    : p.method == PairMethod::imported
                        ? true
                        : format == Format::generative || format == Format::code ||
                              format == Format::instructions;
  if (!fits)
    fail(Problem::bad_value, w, "pair.method",
         "'" + std::string(name(p.method)) + "' does not fit format " + std::string(name(format)));
  if (p.method == PairMethod::letter && !p.prefix.empty())
    fail(Problem::bad_value, w, "pair.prefix", "must be empty for a letter pair");
}

}  // namespace

void validate(const Case& c, const Where& where) {
  check_text(c.id, where, "id");
  if (c.id.size() > kMaxIdBytes) fail(Problem::bad_value, where, "id", "longer than 1024 bytes");
  check_text(c.benchmark, where, "benchmark");
  if (!is_benchmark_name(c.benchmark))
    fail(Problem::bad_value, where, "benchmark",
         "'" + excerpt(c.benchmark) + "' is not [A-Za-z0-9_.-]+");
  if (c.segments.empty()) fail(Problem::empty_text, where, "segments", "no segments");
  std::size_t chars = 0;
  for (std::size_t i = 0; i < c.segments.size(); ++i) {
    const std::string field = io::json_path(io::json_path("segments", i), "text");
    check_text(c.segments[i].text, where, field);
    chars += detail::count_code_points(c.segments[i].text);
  }

  const bool choice = c.format == Format::mc_letter || c.format == Format::mc_cloze;
  const bool matches = choice                           ? std::holds_alternative<ChoiceGold>(c.gold)
                       : c.format == Format::generative ? std::holds_alternative<AnswerGold>(c.gold)
                       : c.format == Format::instructions
                           ? std::holds_alternative<InstructionGold>(c.gold)
                           : std::holds_alternative<CodeGold>(c.gold);
  if (!matches)
    fail(Problem::bad_value, where, "gold", "does not fit format " + std::string(name(c.format)));
  if (const auto* g = std::get_if<ChoiceGold>(&c.gold)) validate_choice(*g, c.format, where);
  if (const auto* g = std::get_if<AnswerGold>(&c.gold)) validate_answer(*g, where);
  if (const auto* g = std::get_if<CodeGold>(&c.gold)) validate_code(*g, where);
  if (const auto* g = std::get_if<InstructionGold>(&c.gold)) {
    validate_instructions(*g, where);
    for (std::size_t i = 0; i < g->evidence.size(); ++i)
      for (std::size_t k = 0; k < g->evidence[i].size(); ++k)
        check_span(
            g->evidence[i][k], k > 0 ? &g->evidence[i][k - 1] : nullptr, chars, where,
            io::json_path(io::json_path(io::json_path("gold.instructions", i), "evidence"), k));
  }

  for (std::size_t i = 0; i < c.evidence.size(); ++i)
    check_span(c.evidence[i].chars, i > 0 ? &c.evidence[i - 1].chars : nullptr, chars, where,
               io::json_path("evidence", i));
  if (!c.meta.is_object()) fail(Problem::wrong_type, where, "meta", "expected an object");
  if (c.pair) validate_pair(*c.pair, c.format, where);
}

Case case_from_json(const json& j, const Where& where) {
  const Object top(j, where, "",
                   {"id", "benchmark", "format", "segments", "gold", "evidence", "meta", "pair"});
  Case c;
  c.id = top.string("id");
  c.benchmark = top.string("benchmark");
  const std::string format = top.string("format");
  const auto f = parse_format(format);
  if (!f) fail(Problem::bad_value, where, "format", "unknown format '" + excerpt(format) + "'");
  c.format = *f;

  const json& segments = top.need("segments");
  if (!segments.is_array()) fail(Problem::wrong_type, where, "segments", "expected an array");
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string path = io::json_path("segments", i);
    const Object s(segments[i], where, path, {"kind", "text"});
    const std::string kind = s.string("kind");
    const auto k = parse_segment_kind(kind);
    if (!k)
      fail(Problem::bad_value, where, s.field("kind"),
           "unknown segment kind '" + excerpt(kind) + "'");
    c.segments.push_back(Segment{*k, s.string("text"), {}});
  }

  const bool choice = c.format == Format::mc_letter || c.format == Format::mc_cloze;
  if (choice) {
    c.gold = choice_gold(
        Object(top.need("gold"), where, "gold", {"index", "options", "letters", "continuations"}));
  } else if (c.format == Format::generative) {
    c.gold =
        answer_gold(Object(top.need("gold"), where, "gold",
                           {"answer", "aliases", "judge", "reference", "stop", "max_new_tokens"}),
                    where);
  } else if (c.format == Format::instructions) {
    c.gold = instruction_gold(Object(top.need("gold"), where, "gold",
                                     {"checker", "instructions", "stop", "max_new_tokens"}),
                              where);
  } else {
    c.gold = code_gold(Object(top.need("gold"), where, "gold",
                              {"language", "entry_point", "program_prefix", "tests", "reference",
                               "stop", "max_new_tokens"}),
                       where);
  }

  for (const Span& s : top.spans("evidence"))
    c.evidence.push_back({s, {}});
  if (const json* meta = top.find("meta")) {
    if (!meta->is_object())
      fail(Problem::wrong_type, where, "meta", "expected an object, found " + type_name(*meta));
    c.meta = *meta;
  }
  if (const json* pair = top.find("pair")) c.pair = read_pair(*pair, where);

  validate(c, where);
  finalize(c);
  return c;
}

Pair pair_from_json(const nlohmann::json& j, const Where& where) {
  return read_pair(j, where);
}

nlohmann::ordered_json pair_to_json(const Pair& p) {
  using ordered = nlohmann::ordered_json;
  auto token = [](const PairToken& t) {
    ordered o;
    o["id"] = t.id;
    o["token"] = t.token;
    o["logit"] = t.logit;
    if (!t.continuation.empty()) o["continuation"] = t.continuation;
    return o;
  };
  ordered pj;
  pj["prefix"] = p.prefix;
  pj["wrong"] = token(p.wrong);
  pj["correct"] = token(p.correct);
  pj["delta"] = p.delta;
  pj["method"] = std::string(name(p.method));
  pj["model"] = p.model;
  if (p.chat) {
    const json settings = p.chat->to_json();
    if (settings.empty())
      pj["chat"] = true;
    else
      pj["chat"] = settings;
  }
  return pj;
}

std::string case_to_json_line(const Case& c) {
  using ordered = nlohmann::ordered_json;
  ordered j;
  j["id"] = c.id;
  j["benchmark"] = c.benchmark;
  j["format"] = std::string(name(c.format));
  ordered segments = ordered::array();
  for (const Segment& s : c.segments) {
    ordered seg;
    seg["kind"] = std::string(name(s.kind));
    seg["text"] = s.text;
    segments.push_back(std::move(seg));
  }
  j["segments"] = std::move(segments);

  ordered gold;
  if (const auto* g = std::get_if<ChoiceGold>(&c.gold)) {
    gold["index"] = g->index;
    gold["options"] = g->options;
    if (!g->letters.empty()) gold["letters"] = g->letters;
    gold["continuations"] = g->continuations;
  } else if (const auto* g = std::get_if<AnswerGold>(&c.gold)) {
    gold["answer"] = g->answer;
    gold["aliases"] = g->aliases;
    gold["judge"] = std::string(name(g->judge));
    gold["reference"] = g->reference;
    gold["stop"] = g->stop;
    gold["max_new_tokens"] = g->max_new_tokens;
  } else if (const auto* g = std::get_if<InstructionGold>(&c.gold)) {
    gold["checker"] = g->checker;
    ordered list = ordered::array();
    for (std::size_t n = 0; n < g->instructions.size(); ++n) {
      const judge::Instruction& i = g->instructions[n];
      ordered item;
      item["id"] = i.id;
      item["kwargs"] = ordered::parse(i.kwargs.dump());
      if (n < g->evidence.size() && !g->evidence[n].empty()) {
        ordered spans = ordered::array();
        for (const Span& s : g->evidence[n])
          spans.push_back(ordered::array({s.begin, s.end}));
        item["evidence"] = std::move(spans);
      }
      list.push_back(std::move(item));
    }
    gold["instructions"] = std::move(list);
    gold["stop"] = g->stop;
    gold["max_new_tokens"] = g->max_new_tokens;
  } else {
    const auto& code = std::get<CodeGold>(c.gold);
    gold["language"] = code.language;
    gold["entry_point"] = code.entry_point;
    gold["program_prefix"] = code.program_prefix;
    gold["tests"] = code.tests;
    gold["reference"] = code.reference;
    gold["stop"] = code.stop;
    gold["max_new_tokens"] = code.max_new_tokens;
  }
  j["gold"] = std::move(gold);

  ordered evidence = ordered::array();
  for (const TextSpan& e : c.evidence)
    evidence.push_back(ordered::array({e.chars.begin, e.chars.end}));
  j["evidence"] = std::move(evidence);
  // nlohmann::json keeps object keys sorted; re-reading its dump as ordered
  // keeps that order at every depth (Python writes meta with sort_keys).
  try {
    j["meta"] = ordered::parse(c.meta.dump());
    if (c.pair) j["pair"] = pair_to_json(*c.pair);
    return j.dump();
  } catch (const nlohmann::json::exception& e) {
    // dump() refuses invalid UTF-8; only meta can still hold some here.
    throw CaseError(Problem::invalid_utf8, Where{"", "meta", std::nullopt, std::nullopt}, e.what());
  }
}

}  // namespace clrp::cases
