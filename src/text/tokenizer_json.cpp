// tokenizer.json -> TokenizerSpec, with errors naming the file and field path.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "clrp/io/json.hpp"
#include "clrp/io/mapped_file.hpp"
#include "clrp/text/tokenizer.hpp"
#include "clrp/util/error.hpp"
#include "serde_float.hpp"
#include "tokenizer_spec.hpp"

namespace clrp::text {

namespace detail {

std::shared_ptr<const Regex> gpt2_regex() {
  static const std::shared_ptr<const Regex> re = std::make_shared<const Regex>(kGpt2Pattern);
  return re;
}

namespace {

using io::json_path;
using nlohmann::json;

/// Largest gap between the number of vocabulary entries and the ids they use.
constexpr std::int64_t kMaxIdSlack = std::int64_t{1} << 20;

class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw Error(Where{origin_, field, std::nullopt}, message);
  }

  const json& require(const json& object, const std::string& path, const char* key) const {
    const std::string field = json_path(path, key);
    if (!object.is_object()) fail(path, "expected a JSON object");
    auto it = object.find(key);
    if (it == object.end()) fail(field, "missing");
    return *it;
  }
  const json* find(const json& object, const char* key) const {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }
  std::string string(const json& value, const std::string& field) const {
    if (!value.is_string()) fail(field, "expected a string, found " + kind(value));
    return value.get<std::string>();
  }
  bool boolean(const json& object, const std::string& path, const char* key, bool fallback) const {
    const json* v = object.is_object() ? find(object, key) : nullptr;
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail(json_path(path, key), "expected true or false, found " + kind(*v));
    return v->get<bool>();
  }
  std::int64_t integer(const json& value, const std::string& field, std::int64_t lo,
                       std::int64_t hi) const {
    std::int64_t v = 0;
    if (value.is_number_unsigned()) {
      const auto u = value.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(hi))
        fail(field, "value " + std::to_string(u) + " out of range");
      v = static_cast<std::int64_t>(u);
    } else if (value.is_number_integer()) {
      v = value.get<std::int64_t>();
    } else {
      fail(field, "expected an integer, found " + kind(value));
    }
    if (v < lo || v > hi)
      fail(field, "value " + std::to_string(v) + " out of range [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
    return v;
  }
  const json& array(const json& value, const std::string& field) const {
    if (!value.is_array()) fail(field, "expected an array, found " + kind(value));
    return value;
  }
  std::string type_of(const json& object, const std::string& path) const {
    if (!object.is_object()) fail(path, "expected a JSON object, found " + kind(object));
    return string(require(object, path, "type"), json_path(path, "type"));
  }
  std::shared_ptr<const Regex> regex(std::string_view pattern, bool literal,
                                     const std::string& field) const {
    try {
      return std::make_shared<const Regex>(pattern, literal);
    } catch (const RegexError& e) {
      fail(field, std::string("invalid regular expression '") + excerpt(pattern) +
                      "': " + e.what() + " (near pattern offset " + std::to_string(e.offset) + ")");
    }
  }

  static std::string kind(const json& v) {
    switch (v.type()) {
      case json::value_t::null:
        return "null";
      case json::value_t::object:
        return "an object";
      case json::value_t::array:
        return "an array";
      case json::value_t::string:
        return "a string";
      case json::value_t::boolean:
        return "a boolean";
      case json::value_t::number_float:
        return "a floating-point number";
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
        return "an integer";
      default:
        return "an unsupported value";
    }
  }

  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
};

void read_unigram(const Reader& r, const json& model, BpeSpec& spec) {
  spec.kind = BpeSpec::Kind::Unigram;
  spec.byte_fallback = r.boolean(model, "model", "byte_fallback", false);
  const json& vocab = r.array(r.require(model, "model", "vocab"), "model.vocab");
  if (vocab.empty()) r.fail("model.vocab", "the vocabulary is empty");
  if (vocab.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    r.fail("model.vocab", "too many pieces");
  spec.pieces.reserve(vocab.size());
  spec.vocab.reserve(vocab.size());
  for (std::size_t k = 0; k < vocab.size(); ++k) {
    const std::string field = json_path("model.vocab", k);
    const json& entry = vocab[k];
    if (!entry.is_array() || entry.size() != 2)
      r.fail(field, "expected [piece, score], found " + Reader::kind(entry));
    std::string piece = r.string(entry[0], json_path(field, std::size_t{0}));
    if (!entry[1].is_number())
      r.fail(json_path(field, std::size_t{1}), "expected a score, found " + Reader::kind(entry[1]));
    // The value tokenizers' JSON parser gives, which can be an ulp off (serde_float.hpp).
    const double score = detail::serde_json_f64(entry[1].get<double>());
    if (!std::isfinite(score)) r.fail(json_path(field, std::size_t{1}), "score is not finite");
    spec.vocab[piece] = static_cast<std::int32_t>(k);  // a later duplicate wins
    spec.pieces.emplace_back(std::move(piece), score);
  }
  if (const json* v = r.find(model, "unk_id"))
    spec.unigram_unk_id = static_cast<std::int32_t>(
        r.integer(*v, "model.unk_id", 0, static_cast<std::int64_t>(vocab.size()) - 1));
}

void read_model(const Reader& r, const json& model, BpeSpec& bpe) {
  const std::string path = "model";
  std::string type;
  if (model.is_object() && model.contains("type")) {
    type = r.type_of(model, path);
  } else if (model.is_object() && model.contains("merges")) {
    type = "BPE";  // tokenizers infers the model from its fields
  } else {
    r.fail(path, "expected an object with \"type\": \"BPE\" or \"Unigram\"");
  }
  if (type == "Unigram") {
    read_unigram(r, model, bpe);
    return;
  }
  if (type != "BPE")
    r.fail(json_path(path, "type"), "unsupported model type '" + excerpt(type) +
                                        "' (clrp reads BPE and Unigram tokenizers)");

  if (const json* d = r.find(model, "dropout")) {
    if (!d->is_number()) r.fail("model.dropout", "expected a number or null");
    if (d->get<double>() != 0.0)
      r.fail("model.dropout", "BPE dropout is random and cannot give reproducible ids");
  }
  if (const json* v = r.find(model, "unk_token")) bpe.unk_token = r.string(*v, "model.unk_token");
  if (const json* v = r.find(model, "continuing_subword_prefix"))
    bpe.continuing_subword_prefix = r.string(*v, "model.continuing_subword_prefix");
  if (const json* v = r.find(model, "end_of_word_suffix"))
    bpe.end_of_word_suffix = r.string(*v, "model.end_of_word_suffix");
  bpe.fuse_unk = r.boolean(model, path, "fuse_unk", false);
  bpe.byte_fallback = r.boolean(model, path, "byte_fallback", false);
  bpe.ignore_merges = r.boolean(model, path, "ignore_merges", false);

  const json& vocab = r.require(model, path, "vocab");
  if (!vocab.is_object()) r.fail("model.vocab", "expected an object mapping tokens to ids");
  const auto count = static_cast<std::int64_t>(vocab.size());
  const std::int64_t limit =
      std::min<std::int64_t>(std::numeric_limits<std::int32_t>::max(), count + kMaxIdSlack);
  std::unordered_map<std::int32_t, std::string> seen;
  seen.reserve(vocab.size());
  bpe.vocab.reserve(vocab.size());
  for (const auto& [token, value] : vocab.items()) {
    const std::string field = json_path("model.vocab", token);
    if (!value.is_number_integer())
      r.fail(field, "token id must be an integer, found " + Reader::kind(value));
    if (value.is_number_unsigned()
            ? value.get<std::uint64_t>() >= static_cast<std::uint64_t>(limit)
            : (value.get<std::int64_t>() < 0 || value.get<std::int64_t>() >= limit))
      r.fail(field, "token id " + value.dump() + " out of range: the vocabulary has " +
                        std::to_string(count) + " entries, ids must lie in [0, " +
                        std::to_string(limit) + ")");
    const auto id = static_cast<std::int32_t>(value.get<std::int64_t>());
    auto [it, fresh] = seen.emplace(id, token);
    if (!fresh)
      r.fail(field, "token id " + std::to_string(id) + " is also used by token '" +
                        excerpt(it->second) + "'");
    bpe.vocab.emplace(token, id);
  }

  const json& merges = r.array(r.require(model, path, "merges"), "model.merges");
  bpe.merges.reserve(merges.size());
  std::size_t index = 0;
  for (const auto& m : merges) {
    const std::string field = json_path("model.merges", index++);
    if (m.is_string()) {
      const auto& line = m.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      const auto space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        r.fail(field,
               "a merge must be two tokens separated by one space, found '" + excerpt(line) + "'");
      bpe.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (m.is_array() && m.size() == 2) {
      bpe.merges.emplace_back(r.string(m[0], json_path(field, std::size_t{0})),
                              r.string(m[1], json_path(field, std::size_t{1})));
    } else {
      r.fail(field, "a merge must be \"a b\" or [\"a\", \"b\"], found " + Reader::kind(m));
    }
  }
}

void read_added_tokens(const Reader& r, const json& list, std::vector<AddedTokenSpec>& out) {
  r.array(list, "added_tokens");
  std::size_t index = 0;
  for (const auto& item : list) {
    const std::string path = json_path("added_tokens", index++);
    if (!item.is_object()) r.fail(path, "expected an object, found " + Reader::kind(item));
    AddedTokenSpec t;
    t.content = r.string(r.require(item, path, "content"), json_path(path, "content"));
    if (const json* id = r.find(item, "id"))
      r.integer(*id, json_path(path, "id"), 0, std::numeric_limits<std::int32_t>::max());
    t.single_word = r.boolean(item, path, "single_word", false);
    t.lstrip = r.boolean(item, path, "lstrip", false);
    t.rstrip = r.boolean(item, path, "rstrip", false);
    t.special = r.boolean(item, path, "special", false);
    t.normalized = r.boolean(item, path, "normalized", !t.special);
    out.push_back(std::move(t));
  }
}

// A Replace normalizer's or Split pre-tokenizer's {"String": ...} / {"Regex": ...}.
struct Pattern {
  std::string literal;
  std::shared_ptr<const Regex> regex;
};

Pattern read_pattern(const Reader& r, const json& object, const std::string& path) {
  const std::string pattern_path = json_path(path, "pattern");
  const json& pattern = r.require(object, path, "pattern");
  if (!pattern.is_object() || pattern.size() != 1)
    r.fail(pattern_path, "expected {\"Regex\": ...} or {\"String\": ...}");
  Pattern out;
  if (pattern.contains("Regex")) {
    const std::string f = json_path(pattern_path, "Regex");
    out.regex = r.regex(r.string(pattern["Regex"], f), false, f);
  } else if (pattern.contains("String")) {
    const std::string f = json_path(pattern_path, "String");
    out.literal = r.string(pattern["String"], f);
    out.regex = r.regex(out.literal, true, f);
  } else {
    r.fail(pattern_path, "expected {\"Regex\": ...} or {\"String\": ...}");
  }
  return out;
}

void read_normalizer(const Reader& r, const json& n, const std::string& path,
                     std::vector<NormalizerStep>& out, int depth = 0) {
  if (n.is_null()) return;
  if (depth > 16) r.fail(path, "normalizers nested too deeply");
  const std::string type = r.type_of(n, path);
  NormalizerStep step;
  step.field = path;
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.kind = NormalizerStep::Kind::Unicode;
    step.form = type == "NFC"    ? NormalForm::NFC
                : type == "NFD"  ? NormalForm::NFD
                : type == "NFKC" ? NormalForm::NFKC
                                 : NormalForm::NFKD;
  } else if (type == "Replace") {
    step.kind = NormalizerStep::Kind::Replace;
    Pattern p = read_pattern(r, n, path);
    if (p.regex && p.literal.empty() && !p.regex->pattern().empty()) {
      step.regex = std::move(p.regex);
    } else if (!p.literal.empty()) {
      step.literal = std::move(p.literal);
    } else {
      // tokenizers would insert the content between every two characters.
      r.fail(json_path(path, "pattern"), "an empty pattern is not supported");
    }
    step.content = r.string(r.require(n, path, "content"), json_path(path, "content"));
  } else if (type == "Prepend") {
    step.kind = NormalizerStep::Kind::Prepend;
    step.content = r.string(r.require(n, path, "prepend"), json_path(path, "prepend"));
  } else if (type == "Sequence") {
    const std::string list_path = json_path(path, "normalizers");
    const json& list = r.array(r.require(n, path, "normalizers"), list_path);
    for (std::size_t k = 0; k < list.size(); ++k)
      read_normalizer(r, list[k], json_path(list_path, k), out, depth + 1);
    return;
  } else {
    r.fail(json_path(path, "type"), "unsupported normalizer '" + excerpt(type) +
                                        "' (supported: NFC, NFD, NFKC, NFKD, Replace, Prepend, "
                                        "Sequence)");
  }
  out.push_back(std::move(step));
}

// Metaspace's replacement (exactly one character) and prepend_scheme, with
// the older add_prefix_space field read as tokenizers reads it.
void read_metaspace(const Reader& r, const json& m, const std::string& path,
                    std::string& replacement, PrependScheme& scheme) {
  const std::string rp = json_path(path, "replacement");
  replacement = r.string(r.require(m, path, "replacement"), rp);
  if (replacement.empty() || find_invalid_utf8(replacement) ||
      utf8_length(static_cast<unsigned char>(replacement[0])) != replacement.size())
    r.fail(rp, "expected exactly one character");
  scheme = PrependScheme::Always;
  if (const json* v = r.find(m, "prepend_scheme")) {
    const std::string s = r.string(*v, json_path(path, "prepend_scheme"));
    if (s == "always")
      scheme = PrependScheme::Always;
    else if (s == "first")
      scheme = PrependScheme::First;
    else if (s == "never")
      scheme = PrependScheme::Never;
    else
      r.fail(json_path(path, "prepend_scheme"),
             "unknown prepend scheme '" + excerpt(s) + "' (always, first, never)");
  }
  if (!r.boolean(m, path, "add_prefix_space", true)) {
    if (scheme != PrependScheme::Never && r.find(m, "prepend_scheme"))
      r.fail(json_path(path, "add_prefix_space"),
             "add_prefix_space false does not match prepend_scheme");
    scheme = PrependScheme::Never;
  }
}

SplitBehavior read_behavior(const Reader& r, const json& v, const std::string& field) {
  const std::string b = r.string(v, field);
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  r.fail(field, "unknown split behavior '" + excerpt(b) +
                    "' (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

void read_pre_tokenizer(const Reader& r, const json& p, const std::string& path,
                        std::vector<PreTokenizerStep>& out, int depth = 0) {
  if (p.is_null()) return;
  if (depth > 16) r.fail(path, "pre-tokenizers nested too deeply");
  const std::string type = r.type_of(p, path);
  PreTokenizerStep step;
  if (type == "Sequence") {
    const std::string list_path = json_path(path, "pretokenizers");
    const json& list = r.array(r.require(p, path, "pretokenizers"), list_path);
    for (std::size_t k = 0; k < list.size(); ++k)
      read_pre_tokenizer(r, list[k], json_path(list_path, k), out, depth + 1);
    return;
  }
  if (type == "Split") {
    step.kind = PreTokenizerStep::Kind::Split;
    step.regex = read_pattern(r, p, path).regex;
    step.behavior = read_behavior(r, r.require(p, path, "behavior"), json_path(path, "behavior"));
    step.invert = r.boolean(p, path, "invert", false);
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizerStep::Kind::ByteLevel;
    step.add_prefix_space = r.boolean(p, path, "add_prefix_space", true);
    if (r.boolean(p, path, "use_regex", true)) step.regex = gpt2_regex();
  } else if (type == "Digits") {
    step.kind = PreTokenizerStep::Kind::Digits;
    step.individual_digits = r.boolean(p, path, "individual_digits", false);
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Kind::Metaspace;
    read_metaspace(r, p, path, step.replacement, step.prepend_scheme);
    if (r.boolean(p, path, "split", true)) step.regex = r.regex(step.replacement, true, path);
  } else {
    r.fail(json_path(path, "type"),
           "unsupported pre-tokenizer '" + excerpt(type) +
               "' (supported: Sequence, Split, ByteLevel, Digits, Metaspace)");
  }
  out.push_back(std::move(step));
}

// The id of a token named in the post-processor, looked up like tokenizers does.
std::int32_t special_id(const Reader& r, const json& value, const std::string& field) {
  return static_cast<std::int32_t>(
      r.integer(value, field, 0, std::numeric_limits<std::int32_t>::max()));
}

void read_template_items(const Reader& r, const json& single, const json* specials,
                         const std::string& path, PostTemplate& out) {
  auto ids_of = [&](const std::string& name, const std::string& field) {
    if (specials == nullptr || !specials->is_object() || !specials->contains(name))
      r.fail(field, "special token '" + excerpt(name) + "' is not listed in special_tokens");
    const std::string sp = json_path(json_path(path, "special_tokens"), name);
    const json& entry = (*specials)[name];
    const json& ids = r.array(r.require(entry, sp, "ids"), json_path(sp, "ids"));
    std::vector<std::int32_t> v;
    for (std::size_t k = 0; k < ids.size(); ++k)
      v.push_back(special_id(r, ids[k], json_path(json_path(sp, "ids"), k)));
    return v;
  };
  const std::string single_path = json_path(path, "single");
  if (single.is_string()) {
    // "[CLS] $A [SEP]" form.
    const std::string s = single.get<std::string>();
    std::size_t pos = 0;
    while (pos < s.size()) {
      const auto end = std::min(s.find(' ', pos), s.size());
      std::string piece = s.substr(pos, end - pos);
      pos = end + 1;
      if (piece.empty()) continue;
      if (piece[0] == '$') {
        if (piece.rfind("$B", 0) != 0) out.items.emplace_back(std::nullopt);
        continue;
      }
      if (auto colon = piece.rfind(':'); colon != std::string::npos && colon > 0)
        piece = piece.substr(0, colon);
      out.items.emplace_back(ids_of(piece, single_path));
    }
    return;
  }
  r.array(single, single_path);
  for (std::size_t k = 0; k < single.size(); ++k) {
    const std::string item_path = json_path(single_path, k);
    const json& item = single[k];
    if (item.is_object() && item.contains("SpecialToken")) {
      const std::string f = json_path(json_path(item_path, "SpecialToken"), "id");
      const std::string name =
          r.string(r.require(item["SpecialToken"], json_path(item_path, "SpecialToken"), "id"), f);
      out.items.emplace_back(ids_of(name, f));
    } else if (item.is_object() && item.contains("Sequence")) {
      const std::string f = json_path(json_path(item_path, "Sequence"), "id");
      const std::string which =
          r.string(r.require(item["Sequence"], json_path(item_path, "Sequence"), "id"), f);
      if (which == "A") out.items.emplace_back(std::nullopt);
    } else {
      r.fail(item_path, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
}

void read_post_processor(const Reader& r, const json& p, const std::string& path,
                         std::vector<PostTemplate>& out, int depth = 0) {
  if (p.is_null()) return;
  if (depth > 16) r.fail(path, "post-processors nested too deeply");
  const std::string type = r.type_of(p, path);
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    const std::string list_path = json_path(path, "processors");
    const json& list = r.array(r.require(p, path, "processors"), list_path);
    for (std::size_t k = 0; k < list.size(); ++k)
      read_post_processor(r, list[k], json_path(list_path, k), out, depth + 1);
    return;
  }
  PostTemplate t;
  if (type == "TemplateProcessing") {
    read_template_items(r, r.require(p, path, "single"), r.find(p, "special_tokens"), path, t);
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto pair_id = [&](const char* key) {
      const std::string f = json_path(path, key);
      const json& v = r.require(p, path, key);
      if (!v.is_array() || v.size() != 2) r.fail(f, "expected [token, id]");
      return special_id(r, v[1], json_path(f, std::size_t{1}));
    };
    t.items.emplace_back(std::vector<std::int32_t>{pair_id("cls")});
    t.items.emplace_back(std::nullopt);
    t.items.emplace_back(std::vector<std::int32_t>{pair_id("sep")});
  } else {
    r.fail(json_path(path, "type"),
           "unsupported post-processor '" + excerpt(type) +
               "' (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, "
               "Sequence)");
  }
  out.push_back(std::move(t));
}

void read_decoder(const Reader& r, const json& d, const std::string& path,
                  std::vector<DecoderStep>& out, int depth = 0) {
  if (d.is_null()) return;
  if (depth > 16) r.fail(path, "decoders nested too deeply");
  const std::string type = r.type_of(d, path);
  DecoderStep step;
  if (type == "Sequence") {
    const std::string list_path = json_path(path, "decoders");
    const json& list = r.array(r.require(d, path, "decoders"), list_path);
    for (std::size_t k = 0; k < list.size(); ++k)
      read_decoder(r, list[k], json_path(list_path, k), out, depth + 1);
    return;
  }
  if (type == "ByteLevel") {
    step.kind = DecoderStep::Kind::ByteLevel;
  } else if (type == "ByteFallback") {
    step.kind = DecoderStep::Kind::ByteFallback;
  } else if (type == "Fuse") {
    step.kind = DecoderStep::Kind::Fuse;
  } else if (type == "Replace") {
    step.kind = DecoderStep::Kind::Replace;
    const std::string pp = json_path(path, "pattern");
    const json& pattern = r.require(d, path, "pattern");
    if (!pattern.is_object() || !pattern.contains("String"))
      r.fail(pp, "only {\"String\": ...} patterns are supported in the Replace decoder");
    step.pattern = r.string(pattern["String"], json_path(pp, "String"));
    step.content = r.string(r.require(d, path, "content"), json_path(path, "content"));
  } else if (type == "Strip") {
    step.kind = DecoderStep::Kind::Strip;
    step.content = r.string(r.require(d, path, "content"), json_path(path, "content"));
    step.start = static_cast<std::size_t>(
        r.integer(r.require(d, path, "start"), json_path(path, "start"), 0, 1 << 20));
    step.stop = static_cast<std::size_t>(
        r.integer(r.require(d, path, "stop"), json_path(path, "stop"), 0, 1 << 20));
  } else if (type == "Metaspace") {
    step.kind = DecoderStep::Kind::Metaspace;
    read_metaspace(r, d, path, step.content, step.prepend_scheme);
  } else {
    r.fail(json_path(path, "type"),
           "unsupported decoder '" + excerpt(type) +
               "' (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, "
               "Sequence)");
  }
  out.push_back(std::move(step));
}

}  // namespace

TokenizerSpec parse_tokenizer_json(std::string_view json_text, const std::string& origin) {
  const json root = io::parse_json(json_text, origin);
  const Reader r(origin);
  if (!root.is_object())
    r.fail("", "a tokenizer.json must hold a JSON object, found " + Reader::kind(root));
  TokenizerSpec spec;
  spec.origin = origin;
  spec.kind = "tokenizer.json";
  if (const json* v = r.find(root, "version")) {
    const std::string version = r.string(*v, "version");
    if (version != "1.0")
      r.fail("version", "unknown tokenizer.json version '" + excerpt(version) + "'");
  }
  read_model(r, r.require(root, "", "model"), spec.model);
  if (spec.model.kind == BpeSpec::Kind::Unigram) spec.unk_field = "model.unk_id";
  if (const json* v = r.find(root, "added_tokens")) read_added_tokens(r, *v, spec.added_tokens);
  if (const json* v = r.find(root, "normalizer"))
    read_normalizer(r, *v, "normalizer", spec.normalizers);
  if (const json* v = r.find(root, "pre_tokenizer"))
    read_pre_tokenizer(r, *v, "pre_tokenizer", spec.pre_tokenizers);
  if (const json* v = r.find(root, "post_processor"))
    read_post_processor(r, *v, "post_processor", spec.post_processors);
  if (const json* v = r.find(root, "decoder")) {
    spec.has_decoder = true;
    read_decoder(r, *v, "decoder", spec.decoders);
  }
  // bos: the first special token the post-processor puts before the text.
  for (const auto& post : spec.post_processors) {
    if (!post.items.empty() && post.items.front() && post.items.front()->size() == 1) {
      spec.bos_id = post.items.front()->front();
      break;
    }
  }
  return spec;
}

}  // namespace detail

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path) {
  const std::string text = io::read_text_file(path);
  return from_tokenizer_json_text(text, path);
}

}  // namespace clrp::text
