// Tokenizer: small hand-written tokenizer.json files (expected ids from Hugging
// Face `tokenizers` 0.22.1; SentencePiece styles and Unigram too), malformed
// files refused with clrp::Error naming file and field, GGUF metadata (byte
// level and SentencePiece, expected ids from transformers 4.57's GGUF
// loader) and the regex translation.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "../../src/text/regex.hpp"
#include "../../src/text/unicode.hpp"
#include "clrp/io/gguf.hpp"
#include "clrp/text/tokenizer.hpp"
#include "clrp/util/error.hpp"

namespace {

using clrp::text::Tokenizer;
using Ids = std::vector<std::int32_t>;

const std::string kTiny = std::string(CLRP_TEST_DATA_DIR) + "/tokenizers/tiny_bpe.json";

std::unique_ptr<Tokenizer> tiny() {
  return Tokenizer::from_tokenizer_json(kTiny);
}

// --- the hand-written tokenizer ---------------------------------------------------

TEST(Tokenizer, TinyEncodesLikeHuggingFace) {
  auto t = tiny();
  EXPECT_EQ(t->encode("hello world!"), (Ids{1, 15, 20, 11, 2}));
  EXPECT_EQ(t->encode("hello world!", false), (Ids{15, 20, 11}));
  // Digits(individual_digits=false) keeps "12" and "121" whole; BPE merges "1 2".
  EXPECT_EQ(t->encode("hello world 12 121"), (Ids{1, 15, 20, 7, 23, 7, 23, 21, 2}));
  // [MASK] has lstrip and rstrip: it swallows the spaces around it.
  EXPECT_EQ(t->encode("hello   [MASK]   world"), (Ids{1, 15, 24, 8, 17, 19, 2}));
  // Unknown characters become <unk>; consecutive ones fuse (fuse_unk).
  EXPECT_EQ(t->encode("hexxo"), (Ids{1, 12, 0, 6, 2}));
  EXPECT_EQ(t->encode("Hello"), (Ids{1, 0, 4, 13, 6, 2}));
  EXPECT_EQ(t->encode("h\xC3\xA9llo"), (Ids{1, 3, 0, 13, 6, 2}));
  // Special tokens in the text are matched before anything else.
  EXPECT_EQ(t->encode("<s>hello</s>"), (Ids{1, 1, 15, 2, 2}));
  EXPECT_EQ(t->encode(""), (Ids{1, 2}));
  EXPECT_EQ(t->encode("", false), Ids{});
}

TEST(Tokenizer, TinyDecodes) {
  auto t = tiny();
  const Ids a{1, 15, 20, 11, 2};
  EXPECT_EQ(t->decode(a), "<s>hello world!</s>");
  EXPECT_EQ(t->decode(a, true), "hello world!");
  const Ids b{1, 12, 0, 6, 2};
  EXPECT_EQ(t->decode(b), "<s>he<unk>o</s>");
  EXPECT_EQ(t->decode(b, true), "heo");
  const Ids unknown{15, 99, 20};  // unknown ids are skipped, as tokenizers does
  EXPECT_EQ(t->decode(unknown), "hello world");
  EXPECT_EQ(t->token_string(20), " world");
  EXPECT_EQ(t->token_bytes(20), " world");
  EXPECT_EQ(t->id_to_token(20), "\xC4\xA0world");
  EXPECT_EQ(t->token_to_id("[MASK]"), 24);
  EXPECT_THROW(t->token_string(99), clrp::Error);
  EXPECT_EQ(t->vocab_size(), 25);
  EXPECT_TRUE(t->is_special(1));
  EXPECT_FALSE(t->is_special(24));
  EXPECT_FALSE(t->is_special(15));
  EXPECT_EQ(t->bos_id(), 1);
}

TEST(Tokenizer, RejectsInvalidUtf8Input) {
  auto t = tiny();
  try {
    t->encode("ok\xC3(");
    FAIL() << "no error";
  } catch (const clrp::Error& e) {
    EXPECT_EQ(e.where().offset, 2u);
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos);
  }
}

TEST(Tokenizer, MergesInListForm) {
  const std::string json =
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "abab": 3},
    "merges": [["a", "b"], ["ab", "ab"]]}, "pre_tokenizer": null})";
  auto t = Tokenizer::from_tokenizer_json_text(json, "list.json");
  EXPECT_EQ(t->encode("ababa"), (Ids{3, 0}));
  // Without a decoder tokens are joined with spaces, as in tokenizers.
  const Ids ids{3, 0};
  EXPECT_EQ(t->decode(ids), "abab a");
}

TEST(Tokenizer, IgnoreMergesTakesWholeWords) {
  // "abc" is in the vocabulary but no merge path reaches it.
  const std::string base =
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4},
    "merges": ["a b"], "ignore_merges": )";
  EXPECT_EQ(Tokenizer::from_tokenizer_json_text(base + "false}}", "x.json")->encode("abc"),
            (Ids{3, 2}));
  EXPECT_EQ(Tokenizer::from_tokenizer_json_text(base + "true}}", "x.json")->encode("abc"),
            (Ids{4}));
}

TEST(Tokenizer, SplitBehaviours) {
  auto make = [](const std::string& behavior, bool invert) {
    const std::string json =
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "-": 1, "a-": 2, "-a": 3}, "merges": ["a -", "- a"]},
           "pre_tokenizer": {"type": "Split", "pattern": {"String": "-"}, "behavior": ")" +
        behavior + R"(", "invert": )" + (invert ? "true" : "false") + "}}";
    return Tokenizer::from_tokenizer_json_text(json, "split.json");
  };
  EXPECT_EQ(make("Removed", false)->encode("a-a"), (Ids{0, 0}));
  EXPECT_EQ(make("Isolated", false)->encode("a-a"), (Ids{0, 1, 0}));
  EXPECT_EQ(make("MergedWithPrevious", false)->encode("a-a"), (Ids{2, 0}));
  EXPECT_EQ(make("MergedWithNext", false)->encode("a-a"), (Ids{0, 3}));
  EXPECT_EQ(make("Contiguous", false)->encode("a--a"), (Ids{0, 1, 1, 0}));
  EXPECT_EQ(make("Removed", true)->encode("a-a"), (Ids{1}));
}

// --- malformed tokenizer.json -----------------------------------------------------

// Asserts that parsing `json` fails with a clrp::Error whose message names the
// file and contains `field` (and `also`, when given).
void expect_bad(const std::string& json, const std::string& field, const std::string& also = "") {
  SCOPED_TRACE(json.substr(0, 200));
  try {
    Tokenizer::from_tokenizer_json_text(json, "bad/tokenizer.json");
    FAIL() << "accepted";
  } catch (const clrp::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad/tokenizer.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(field), std::string::npos) << msg;
    if (!also.empty()) {
      EXPECT_NE(msg.find(also), std::string::npos) << msg;
    }
  }
}

const std::string kModel =
    R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

TEST(TokenizerJson, NotJson) {
  expect_bad("{\"model\": ", "byte offset", "invalid JSON");
  expect_bad("[1, 2", "byte offset");
  expect_bad("{\"a\": \"\xff\"}", "byte offset");
  expect_bad(std::string(5000, '['), "byte offset", "nested");
  expect_bad(R"({"model": 1e99999})", "bad/tokenizer.json", "invalid JSON");
}

TEST(TokenizerJson, NotJsonFileNamesPathAndOffset) {
  const auto path = std::filesystem::temp_directory_path() / "clrp_test_tokenizer_bad.json";
  { std::ofstream(path) << "{\n  \"model\": {\"type\": \"BPE\",, }\n}"; }
  try {
    Tokenizer::from_tokenizer_json(path.string());
    FAIL() << "accepted";
  } catch (const clrp::Error& e) {
    EXPECT_EQ(e.where().file, path.string());
    ASSERT_TRUE(e.where().offset.has_value());
    EXPECT_EQ(*e.where().offset, 28u);  // the second comma
  }
  std::filesystem::remove(path);
  EXPECT_THROW(Tokenizer::from_tokenizer_json("/nonexistent/tokenizer.json"), clrp::Error);
}

TEST(TokenizerJson, StructuralErrors) {
  expect_bad("[]", "must hold a JSON object");
  expect_bad("{}", "field 'model'", "missing");
  expect_bad(R"({"model": 3})", "field 'model'");
  expect_bad(R"({"model": {"type": "WordPiece", "vocab": {}}})", "field 'model.type'", "WordPiece");
  expect_bad(R"({"model": {"type": "BPE", "merges": []}})", "field 'model.vocab'", "missing");
  expect_bad(R"({"model": {"type": "BPE", "vocab": [], "merges": []}})", "field 'model.vocab'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {}}})", "field 'model.merges'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {}, "merges": {}}})", "field 'model.merges'");
  expect_bad(R"({"version": "2.0", )" + kModel + "}", "field 'version'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "dropout": 0.1}})",
             "field 'model.dropout'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "fuse_unk": "yes"}})",
             "field 'model.fuse_unk'");
}

TEST(TokenizerJson, VocabularyErrors) {
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}})",
             "field 'model.vocab.a'", "out of range");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 1000000000000}, "merges": []}})",
             "field 'model.vocab.a'", "out of range");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 2000000000}, "merges": []}})",
             "field 'model.vocab.a'", "out of range");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 1.5}, "merges": []}})",
             "field 'model.vocab.a'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": "0"}, "merges": []}})",
             "field 'model.vocab.a'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}})",
             "field 'model.vocab.b'", "also used by token 'a'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})",
             "field 'model.unk_token'");
}

TEST(TokenizerJson, MergeErrors) {
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})",
             "field 'model.merges[0]'", "'b'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})",
             "field 'model.merges[0]'", "'ab'");
  expect_bad(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a b c"]}})",
      "field 'model.merges[1]'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["ab"]}})",
             "field 'model.merges[0]'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}})",
             "field 'model.merges[0]'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", 1]]}})",
             "field 'model.merges[0][1]'");
  expect_bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})",
             "field 'model.merges[0]'");
}

TEST(TokenizerJson, PipelineErrors) {
  expect_bad("{" + kModel + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"},
             "behavior": "Isolated", "invert": false}})",
             "field 'pre_tokenizer.pattern.Regex'", "invalid regular expression");
  expect_bad("{" + kModel +
                 R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"},
             {"type": "Split", "pattern": {"Regex": "[z-a]"}, "behavior": "Isolated"}]}})",
             "field 'pre_tokenizer.pretokenizers[1].pattern.Regex'");
  expect_bad("{" + kModel + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"},
             "behavior": "Sideways"}})",
             "field 'pre_tokenizer.behavior'", "Sideways");
  expect_bad("{" + kModel +
                 R"(, "pre_tokenizer": {"type": "Split", "pattern": "a", "behavior": "Isolated"}})",
             "field 'pre_tokenizer.pattern'");
  expect_bad("{" + kModel + R"(, "pre_tokenizer": {"type": "Metaspace"}})",
             "field 'pre_tokenizer.replacement'", "missing");
  expect_bad("{" + kModel + R"(, "pre_tokenizer": {"type": "Metaspace", "replacement": "ab"}})",
             "field 'pre_tokenizer.replacement'", "one character");
  expect_bad("{" + kModel + R"(, "pre_tokenizer": {"type": "Metaspace", "replacement": "_",
             "prepend_scheme": "sometimes"}})",
             "field 'pre_tokenizer.prepend_scheme'", "sometimes");
  expect_bad("{" + kModel + R"(, "decoder": {"type": "Metaspace", "replacement": "_",
             "prepend_scheme": "always", "add_prefix_space": false}})",
             "field 'decoder.add_prefix_space'");
  expect_bad("{" + kModel + R"(, "normalizer": {"type": "Replace", "pattern": {"String": ""},
             "content": "x"}})",
             "field 'normalizer.pattern'", "empty");
  expect_bad("{" + kModel + R"(, "normalizer": {"type": "Replace", "pattern": {"String": " "}}})",
             "field 'normalizer.content'", "missing");
  expect_bad("{" + kModel + R"(, "normalizer": {"type": "Prepend", "prepend": 1}})",
             "field 'normalizer.prepend'");
  expect_bad("{" + kModel + R"(, "pre_tokenizer": {"pattern": 1}})", "field 'pre_tokenizer.type'",
             "missing");
  expect_bad("{" + kModel + R"(, "normalizer": {"type": "Lowercase"}})", "field 'normalizer.type'",
             "Lowercase");
  expect_bad("{" + kModel +
                 R"(, "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, 5]}})",
             "field 'normalizer.normalizers[1]'");
  expect_bad("{" + kModel + R"(, "decoder": {"type": "WordPiece"}})", "field 'decoder.type'");
  expect_bad("{" + kModel + R"(, "post_processor": {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {}}})",
             "field 'post_processor.single[0].SpecialToken.id'", "'<s>'");
  expect_bad("{" + kModel + R"(, "post_processor": {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}],
             "special_tokens": {"<s>": {"id": "<s>", "ids": [77], "tokens": ["<s>"]}}}})",
             "field 'post_processor'", "77");
  expect_bad(
      "{" + kModel + R"(, "post_processor": {"type": "ByteLevel"}, "added_tokens": [{"id": 3}]})",
      "field 'added_tokens[0].content'", "missing");
  expect_bad("{" + kModel + R"(, "added_tokens": [{"id": 3, "content": 5}]})",
             "field 'added_tokens[0].content'");
  expect_bad("{" + kModel + R"(, "added_tokens": [{"id": 3, "content": "x", "special": 1}]})",
             "field 'added_tokens[0].special'");
  expect_bad("{" + kModel + R"(, "added_tokens": {}})", "field 'added_tokens'");
}

// --- SentencePiece-style tokenizer.json ------------------------------------------------

const std::string kMeta = "\xE2\x96\x81";  // "▁"

// <unk> <s> </s>, the 256 byte tokens (3..258), then ▁ h i hi ▁hi e l o ▁▁
// (259..267) with merges "h i", "▁ hi", "▁ ▁": a Llama-2 layout in miniature.
std::string spm_json(const std::string& normalizer, const std::string& pre,
                     const std::string& decoder) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    vocab += std::string(", \"<0x") + hex[b >> 4] + hex[b & 15] + ">\": " + std::to_string(3 + b);
  int id = 259;
  for (const std::string& t :
       {kMeta, std::string("h"), std::string("i"), std::string("hi"), kMeta + "hi",
        std::string("e"), std::string("l"), std::string("o"), kMeta + kMeta})
    vocab += ", \"" + t + "\": " + std::to_string(id++);
  return R"({"added_tokens": [
      {"id": 0, "content": "<unk>", "normalized": false, "special": true},
      {"id": 1, "content": "<s>", "normalized": false, "special": true},
      {"id": 2, "content": "</s>", "normalized": false, "special": true}],
    "normalizer": )" +
         normalizer + R"(, "pre_tokenizer": )" + pre + R"(,
    "post_processor": {"type": "TemplateProcessing", "single": "<s> $A",
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": )" +
         decoder + R"(,
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
      "vocab": {)" +
         vocab + "}, \"merges\": [\"h i\", \"" + kMeta + " hi\", \"" + kMeta + " " + kMeta +
         "\"]}}";
}

const std::string kLegacyNormalizer = R"({"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": ")" +
                                      kMeta + R"("},
    {"type": "Replace", "pattern": {"String": " "}, "content": ")" +
                                      kMeta + R"("}]})";
const std::string kSpmDecoder = R"({"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": ")" +
                                kMeta +
                                R"("}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})";

std::string metaspace(const std::string& scheme, bool split) {
  return R"({"type": "Metaspace", "replacement": ")" + kMeta + R"(", "prepend_scheme": ")" +
         scheme + R"(", "split": )" + (split ? "true" : "false") + "}";
}

std::unique_ptr<Tokenizer> spm(const std::string& normalizer, const std::string& pre,
                               const std::string& decoder) {
  return Tokenizer::from_tokenizer_json_text(spm_json(normalizer, pre, decoder), "spm.json");
}

TEST(TokenizerSpm, Llama2LegacyPipeline) {
  auto t = spm(kLegacyNormalizer, "null", kSpmDecoder);
  EXPECT_EQ(t->encode("hi hi"), (Ids{1, 263, 263}));
  // é and the letters without a piece fall back to bytes.
  const Ids cafe{1, 259, 260, 198, 172, 265, 265, 266, 259, 263};
  EXPECT_EQ(t->encode("h\xC3\xA9llo  hi"), cafe);
  EXPECT_EQ(t->decode(cafe), "<s> h\xC3\xA9llo  hi");  // Strip sees "<s>" first
  EXPECT_EQ(t->decode(cafe, true), "h\xC3\xA9llo  hi");
  // Prepend applies to every piece between added tokens.
  EXPECT_EQ(t->encode("hi<s>hi"), (Ids{1, 263, 1, 263}));
  EXPECT_EQ(t->encode(" hi"), (Ids{1, 259, 263}));
  EXPECT_EQ(t->encode(""), (Ids{1}));
  const Ids han{1, 259, 231, 187, 176, 263};
  EXPECT_EQ(t->encode("\xE4\xB8\xAD hi"), han);
  EXPECT_EQ(t->decode(han, true), "\xE4\xB8\xAD hi");
  // A lone byte token decodes to U+FFFD; Strip takes the leading space of "▁hi".
  EXPECT_EQ(t->token_string(231), "\xEF\xBF\xBD");
  EXPECT_EQ(t->token_string(263), "hi");
  EXPECT_EQ(t->token_string(259), "");
}

// Normalizers' output is bounded (64 x input + 4 KiB), checked after every step
// and before a Replace builds its output: 20 steps that each double 'h' would
// turn 100 characters into 100 MiB; they stop at the step that passes the bound.
TEST(TokenizerSpm, NormalizerBlowUpStopsAtTheBound) {
  for (const std::string pattern : {R"({"String": "h"})", R"({"Regex": "h"})"}) {
    std::string seq = R"({"type": "Sequence", "normalizers": [)";
    for (int i = 0; i < 20; ++i)
      seq += std::string(i ? "," : "") + R"({"type": "Replace", "pattern": )" + pattern +
             R"(, "content": "hh"})";
    seq += "]}";
    auto t = spm(seq, "null", kSpmDecoder);
    EXPECT_NO_THROW((void)t->encode("i i"));  // nothing to double
    const auto start = std::chrono::steady_clock::now();
    try {
      (void)t->encode(std::string(100, 'h'));
      ADD_FAILURE() << "no error for " << pattern;
    } catch (const clrp::Error& e) {
      // 100 x 2^(k+1) bytes after step k; 64 x 100 + 4096 = 10496 is passed at k = 6.
      const std::string msg = e.what();
      for (const char* f : {"spm.json", "field 'normalizer.normalizers[6]'",
                            "normalizer 6 (Replace) would make 12800 bytes of a 100-byte input",
                            "64 x input + 4096"})
        EXPECT_NE(msg.find(f), std::string::npos) << f << " not in " << msg;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  }
}

TEST(TokenizerSpm, MetaspacePrependSchemes) {
  auto first = spm("null", metaspace("first", false), kSpmDecoder);
  EXPECT_EQ(first->encode("hi hi"), (Ids{1, 263, 263}));
  // Only the piece at the start of the text gets the "▁".
  EXPECT_EQ(first->encode("hi<s>hi"), (Ids{1, 263, 1, 262}));
  EXPECT_EQ(first->encode(" hi"), (Ids{1, 263}));
  EXPECT_EQ(first->encode("<s>hi", false), (Ids{1, 262}));
  auto always = spm("null", metaspace("always", true), metaspace("always", true));
  EXPECT_EQ(always->encode("hi<s>hi"), (Ids{1, 263, 1, 263}));
  const Ids ids{1, 259, 260, 198, 172, 265, 265, 266, 259, 263};
  EXPECT_EQ(always->encode("h\xC3\xA9llo  hi"), ids);
  // The Metaspace decoder drops every "▁" of the first token and has no byte fallback.
  EXPECT_EQ(always->decode(ids, true), "h<0xC3><0xA9>llo  hi");
  auto never = spm("null", metaspace("never", true), metaspace("never", true));
  EXPECT_EQ(never->encode("hi hi"), (Ids{1, 262, 263}));
  EXPECT_EQ(never->encode("\xE4\xB8\xAD hi"), (Ids{1, 231, 187, 176, 263}));
  EXPECT_EQ(never->token_string(263), " hi");
}

TEST(TokenizerSpm, ByteFallbackWithoutByteTokensFallsBackToUnknown) {
  // Expected ids: tokenizers 0.22.1 on the same files. A character whose bytes
  // are not all byte tokens is the unknown token (fused when fuse_unk is on).
  const auto bpe = [](const std::string& vocab, bool fuse) {
    return Tokenizer::from_tokenizer_json_text(
        R"({"model": {"type": "BPE", "byte_fallback": true, "unk_token": "u", "fuse_unk": )" +
            std::string(fuse ? "true" : "false") + R"(, "vocab": )" + vocab + R"(, "merges": []}})",
        "bf.json");
  };
  EXPECT_EQ(bpe(R"({"u": 0, "a": 1})", false)
                ->encode("abb\xc3\xa9"
                         "a",
                         false),
            (Ids{1, 0, 0, 0, 1}));
  EXPECT_EQ(bpe(R"({"u": 0, "a": 1})", true)
                ->encode("abb\xc3\xa9"
                         "a",
                         false),
            (Ids{1, 0, 1}));
  EXPECT_EQ(bpe(R"({"u": 0, "a": 1, "<0x62>": 2})", false)->encode("abb\xc3\xa9", false),
            (Ids{1, 2, 2, 0}));
}

// A Unigram model: "a" appears twice (the later id wins), "<0xC3>" is the only byte token.
const std::string kUnigram = R"({"added_tokens": [{"id": 0, "content": "<unk>",
    "normalized": false, "special": true}],
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
    "split": true},
  "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
    "split": true},
  "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": true, "vocab": [["<unk>", 0.0],
    ["<s>", 0.0], ["\u2581", -2.0], ["a", -3.0], ["b", -3.0], ["ab", -4.0], ["\u2581a", -3.5],
    ["abc", -9.0], ["c", -7.0], ["<0xC3>", -1.0], ["bc", -5.5], ["a", -2.5]]}})";

TEST(TokenizerUnigram, ViterbiLikeHuggingFace) {
  auto t = Tokenizer::from_tokenizer_json_text(kUnigram, "unigram.json");
  EXPECT_EQ(t->encode("ab abc"), (Ids{2, 5, 6, 10}));
  EXPECT_EQ(t->encode("abcab"), (Ids{6, 10, 5}));
  // Unknown characters fuse into one <unk>; é has only half its bytes as tokens.
  EXPECT_EQ(t->encode("xyz a"), (Ids{2, 0, 6}));
  EXPECT_EQ(t->encode("\xC3\xA9"
                      "a"),
            (Ids{2, 0, 11}));
  EXPECT_EQ(t->encode("a<s>"), (Ids{6, 1}));
  EXPECT_EQ(t->encode("ax"), (Ids{6, 0}));
  EXPECT_EQ(t->encode(""), Ids{});
  EXPECT_EQ(t->decode(Ids{2, 5, 6, 10}), "ab abc");
  EXPECT_EQ(t->id_to_token(3), "a");
  EXPECT_EQ(t->token_to_id("a"), 11);
  EXPECT_EQ(t->vocab_size(), 12);
  EXPECT_EQ(t->unk_id(), 0);
}

TEST(TokenizerUnigram, MissingUnknownTokenFailsOnlyWhenNeeded) {
  std::string json = kUnigram;
  json.replace(json.find("\"unk_id\": 0"), 11, "\"unk_id\": null");
  auto t = Tokenizer::from_tokenizer_json_text(json, "unigram.json");
  EXPECT_EQ(t->encode("ab", false), (Ids{2, 5}));
  try {
    t->encode("xa");
    FAIL() << "accepted";
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.unk_id"), std::string::npos) << e.what();
  }
}

TEST(TokenizerUnigram, Errors) {
  expect_bad(R"({"model": {"type": "Unigram", "vocab": []}})", "field 'model.vocab'", "empty");
  expect_bad(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b"]]}})",
             "field 'model.vocab[1]'");
  expect_bad(R"({"model": {"type": "Unigram", "vocab": [["a", "x"]]}})",
             "field 'model.vocab[0][1]'");
  expect_bad(R"({"model": {"type": "Unigram", "unk_id": 2, "vocab": [["a", 0.0]]}})",
             "field 'model.unk_id'");
  expect_bad(R"({"model": {"type": "WordPiece", "vocab": {}}})", "field 'model.type'", "WordPiece");
}

// --- regex and Unicode helpers -------------------------------------------------------

std::vector<std::pair<std::size_t, std::size_t>> matches(const std::string& pattern,
                                                         const std::string& text) {
  clrp::text::detail::Regex re(pattern);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  re.find_all(text, out);
  return out;
}

TEST(TokenizerRegex, WhiteSpaceIsOnigurumas) {
  // U+180E MONGOLIAN VOWEL SEPARATOR is no White_Space (PCRE2's own \s takes it); U+0085 is.
  EXPECT_TRUE(matches("\\s", "\xE1\xA0\x8E").empty());
  EXPECT_EQ(matches("\\s", "\xC2\x85").size(), 1u);
  EXPECT_EQ(matches("[^\\S]", "a b").size(), 1u);
  EXPECT_EQ(matches("[\\S]+", "ab cd").size(), 2u);
  EXPECT_EQ(matches("\\h+", "a b1").size(), 2u);  // hexadecimal digits, as in Oniguruma
  EXPECT_EQ(matches("\\u0041", "BAB"), (std::vector<std::pair<std::size_t, std::size_t>>{{1, 2}}));
  // Empty matches: onig's iterator steps one character past an empty match at the previous end.
  EXPECT_EQ(matches("x*", "abxxc"),
            (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {1, 1}, {2, 4}, {5, 5}}));
  EXPECT_THROW(clrp::text::detail::Regex("(unclosed"), clrp::text::detail::RegexError);
  // Case-insensitive contractions: 'S and 'ſ (long s) both match, as in Oniguruma.
  EXPECT_EQ(matches("(?i:'s)", "x'S x'\xC5\xBF").size(), 2u);
}

TEST(TokenizerUnicode, LossyDecodingLikeRust) {
  using clrp::text::detail::utf8_lossy;
  EXPECT_EQ(utf8_lossy("ab"), "ab");
  EXPECT_EQ(utf8_lossy("a\xC3"), "a\xEF\xBF\xBD");
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");  // one maximal subpart
  EXPECT_EQ(utf8_lossy("\xE0\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(clrp::text::detail::normalize("e\xCC\x81", clrp::text::detail::NormalForm::NFC),
            "\xC3\xA9");
  EXPECT_EQ(clrp::text::detail::byte_to_unicode()[' '], "\xC4\xA0");
  EXPECT_EQ(clrp::text::detail::unicode_to_byte(0x120), ' ');
}

// --- GGUF metadata ---------------------------------------------------------------------

class GgufWriter {
 public:
  std::vector<std::uint8_t> b;
  std::uint64_t n_kv = 0;
  void raw(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
  }
  void u32(std::uint32_t v) { raw(&v, 4); }
  void u64(std::uint64_t v) { raw(&v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void kv_string(const std::string& k, const std::string& v) {
    ++n_kv;
    str(k);
    u32(8);
    str(v);
  }
  void kv_u32(const std::string& k, std::uint32_t v) {
    ++n_kv;
    str(k);
    u32(4);
    u32(v);
  }
  void kv_bool(const std::string& k, bool v) {
    ++n_kv;
    str(k);
    u32(7);
    const std::uint8_t x = v ? 1 : 0;
    raw(&x, 1);
  }
  void kv_strings(const std::string& k, const std::vector<std::string>& v) {
    ++n_kv;
    str(k);
    u32(9);
    u32(8);
    u64(v.size());
    for (const auto& s : v)
      str(s);
  }
  void kv_f32s(const std::string& k, const std::vector<float>& v) {
    ++n_kv;
    str(k);
    u32(9);
    u32(6);
    u64(v.size());
    for (auto x : v)
      raw(&x, 4);
  }
  void kv_i32s(const std::string& k, const std::vector<std::int32_t>& v) {
    ++n_kv;
    str(k);
    u32(9);
    u32(5);
    u64(v.size());
    for (auto x : v)
      raw(&x, 4);
  }
  std::string write(const std::string& name) const {
    std::vector<std::uint8_t> file;
    const char magic[4] = {'G', 'G', 'U', 'F'};
    file.insert(file.end(), magic, magic + 4);
    const std::uint32_t version = 3;
    const std::uint64_t n_tensors = 0;
    const auto* pv = reinterpret_cast<const std::uint8_t*>(&version);
    file.insert(file.end(), pv, pv + 4);
    const auto* pt = reinterpret_cast<const std::uint8_t*>(&n_tensors);
    file.insert(file.end(), pt, pt + 8);
    const auto* pk = reinterpret_cast<const std::uint8_t*>(&n_kv);
    file.insert(file.end(), pk, pk + 8);
    file.insert(file.end(), b.begin(), b.end());
    const auto path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(file.data()),
               static_cast<std::streamsize>(file.size()));
    return path;
  }
};

GgufWriter tiny_gguf(const std::string& model, const std::string& pre) {
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_string("tokenizer.ggml.model", model);
  if (!pre.empty()) w.kv_string("tokenizer.ggml.pre", pre);
  // Byte-level tokens: "Ġ" is the space.
  w.kv_strings("tokenizer.ggml.tokens", {"<|endoftext|>", "<|im_start|>", "h", "i", "\xC4\xA0", "1",
                                         "2", "hi", "\xC4\xA0hi", "12",
                                         "\xC4\xA0"
                                         "1"});
  w.kv_i32s("tokenizer.ggml.token_type", {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  w.kv_strings("tokenizer.ggml.merges", {"h i", "\xC4\xA0 hi", "1 2", "\xC4\xA0 1"});
  w.kv_u32("tokenizer.ggml.bos_token_id", 1);
  w.kv_u32("tokenizer.ggml.eos_token_id", 0);
  return w;
}

TEST(TokenizerGguf, SmolLmStyle) {
  auto w = tiny_gguf("gpt2", "smollm");
  w.kv_bool("tokenizer.ggml.add_bos_token", false);
  const auto path = w.write("clrp_test_tok_smollm.gguf");
  const clrp::io::GgufFile g(path);
  auto t = Tokenizer::from_gguf(g);
  // Digits are split one by one before the GPT-2 regex: " 12" -> " ", "1", "2".
  EXPECT_EQ(t->encode("hi hi 12<|im_start|>"), (Ids{7, 8, 4, 5, 6, 1}));
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 0);
  EXPECT_TRUE(t->is_special(1));
  const Ids ids{7, 8, 1};
  EXPECT_EQ(t->decode(ids), "hi hi<|im_start|>");
  EXPECT_EQ(t->decode(ids, true), "hi hi");
  std::filesystem::remove(path);
}

TEST(TokenizerGguf, Gpt2StyleAndBos) {
  auto w = tiny_gguf("gpt2", "gpt-2");
  w.kv_bool("tokenizer.ggml.add_bos_token", true);
  const auto path = w.write("clrp_test_tok_gpt2.gguf");
  const clrp::io::GgufFile g(path);
  auto t = Tokenizer::from_gguf(g);
  // Without the digit split " 12" is one piece; "1 2" outranks "Ġ 1": "Ġ", "12".
  EXPECT_EQ(t->encode("hi 12"), (Ids{1, 7, 4, 9}));
  EXPECT_EQ(t->encode("hi 12", false), (Ids{7, 4, 9}));
  std::filesystem::remove(path);
}

void expect_bad_gguf(GgufWriter w, const std::string& key, const std::string& also) {
  const auto path = w.write("clrp_test_tok_bad.gguf");
  try {
    const clrp::io::GgufFile g(path);
    Tokenizer::from_gguf(g);
    FAIL() << "accepted";
  } catch (const clrp::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(key), std::string::npos) << msg;
    EXPECT_NE(msg.find(also), std::string::npos) << msg;
  }
  std::filesystem::remove(path);
}

TEST(TokenizerGguf, Errors) {
  expect_bad_gguf(tiny_gguf("gpt2", "no-such-pre"), "tokenizer.ggml.pre", "no-such-pre");
  expect_bad_gguf(tiny_gguf("gpt2", ""), "tokenizer.ggml.pre", "missing");
  expect_bad_gguf(tiny_gguf("t5", "default"), "tokenizer.ggml.model", "t5");
  expect_bad_gguf(tiny_gguf("llama", "default"), "tokenizer.ggml.scores", "missing");
  auto w = tiny_gguf("gpt2", "smollm");
  w.kv_u32("tokenizer.ggml.padding_token_id", 500);
  expect_bad_gguf(w, "tokenizer.ggml.padding_token_id", "500");
  GgufWriter bad_merge;
  bad_merge.kv_string("tokenizer.ggml.model", "gpt2");
  bad_merge.kv_string("tokenizer.ggml.pre", "gpt2");
  bad_merge.kv_strings("tokenizer.ggml.tokens", {"a", "b"});
  bad_merge.kv_strings("tokenizer.ggml.merges", {"a b"});
  expect_bad_gguf(bad_merge, "tokenizer.ggml.merges[0]", "'ab'");
}

// SentencePiece ("llama") GGUF vocabularies; the expected ids are what
// transformers 4.57 gives for the same metadata (AutoTokenizer, gguf_file=).
struct SpmVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
  void add(const std::string& t, float score, std::int32_t type) {
    tokens.push_back(t);
    scores.push_back(score);
    types.push_back(type);
  }
};

std::string byte_name(int b) {
  static const char* hex = "0123456789ABCDEF";
  return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

// Gemma-like: specials, the tab byte and a literal tab, a run of two blanks,
// byte tokens (without <0x09>), then pieces.
GgufWriter gemma_gguf(const SpmVocab& v, const std::string& arch = "gemma3") {
  GgufWriter w;
  w.kv_string("general.architecture", arch);
  w.kv_string("tokenizer.ggml.model", "llama");
  w.kv_strings("tokenizer.ggml.tokens", v.tokens);
  w.kv_f32s("tokenizer.ggml.scores", v.scores);
  w.kv_i32s("tokenizer.ggml.token_type", v.types);
  w.kv_u32("tokenizer.ggml.unknown_token_id", 3);
  w.kv_u32("tokenizer.ggml.bos_token_id", 2);
  w.kv_u32("tokenizer.ggml.eos_token_id", 1);
  w.kv_u32("tokenizer.ggml.padding_token_id", 0);
  w.kv_bool("tokenizer.ggml.add_bos_token", true);
  w.kv_bool("tokenizer.ggml.add_space_prefix", false);
  return w;
}

SpmVocab gemma_vocab() {
  SpmVocab v;
  for (const char* s : {"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>"})
    v.add(s, -1000, 3);
  v.add("<0x09>", 0, 6);
  v.add("\t", -5, 1);
  v.add("  ", -1000, 4);
  for (int b = 0; b < 256; ++b)
    if (b != 9) v.add(byte_name(b), 0, 6);
  v.add(kMeta, -3, 1);         // 263
  v.add("h", -4, 1);           // 264
  v.add("i", -4.5F, 1);        // 265
  v.add("hi", -2, 1);          // 266
  v.add(kMeta + "hi", -1, 1);  // 267
  v.add("x", -6, 1);           // 268
  v.add("\n", -1000, 4);       // 269
  return v;
}

TEST(TokenizerGgufSpm, GemmaIsTransformersUnigram) {
  const auto path = gemma_gguf(gemma_vocab()).write("clrp_test_tok_gemma.gguf");
  const clrp::io::GgufFile g(path);
  auto t = Tokenizer::from_gguf(g);
  EXPECT_EQ(t->encode("hi hi"), (Ids{2, 266, 267}));
  // "<0x09>" became "\t", and the later "\t" (id 6) wins.
  EXPECT_EQ(t->encode("hi\thi"), (Ids{2, 266, 6, 266}));
  // "  " became "▁▁" (id 7), but "▁" + "▁hi" scores higher.
  EXPECT_EQ(t->encode("x  hi"), (Ids{2, 268, 263, 267}));
  // Control pieces are vocabulary entries found by the Viterbi search...
  EXPECT_EQ(t->encode("<start_of_turn>hi"), (Ids{2, 4, 266}));
  // ...bos/eos/unk/pad are special added tokens.
  const Ids ids{2, 264, 202, 176, 267, 2};
  EXPECT_EQ(t->encode("h\xC3\xA9 hi<bos>"), ids);
  EXPECT_EQ(t->decode(ids), "<bos>h\xC3\xA9 hi<bos>");
  EXPECT_EQ(t->decode(ids, true), "h\xC3\xA9 hi");
  EXPECT_EQ(t->encode("  "), (Ids{2, 263, 263}));
  EXPECT_EQ(t->encode(""), (Ids{2}));
  EXPECT_EQ(t->token_string(267), " hi");
  EXPECT_EQ(t->token_string(7), "  ");
  EXPECT_EQ(t->id_to_token(5), "\t");
  EXPECT_TRUE(t->is_special(2));
  EXPECT_FALSE(t->is_special(4));
  EXPECT_EQ(t->bos_id(), 2);
  EXPECT_EQ(t->eos_id(), 1);
  EXPECT_EQ(t->vocab_size(), 270);
  std::filesystem::remove(path);
}

TEST(TokenizerGgufSpm, LlamaMergesFromScores) {
  SpmVocab v;
  v.add("<unk>", 0, 2);
  v.add("<s>", 0, 3);
  v.add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b)
    v.add(byte_name(b), 0, 6);
  const std::vector<std::pair<std::string, float>> pieces{
      {kMeta, -1},        {"h", -2},     {"i", -3},   {"hi", -4},         {kMeta + "h", -5},
      {kMeta + "hi", -6}, {"ih", -3.5F}, {"hih", -7}, {kMeta + kMeta, -8}};
  for (const auto& [p, s] : pieces)
    v.add(p, s, 1);
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_string("tokenizer.ggml.model", "llama");
  w.kv_strings("tokenizer.ggml.tokens", v.tokens);
  w.kv_f32s("tokenizer.ggml.scores", v.scores);
  w.kv_i32s("tokenizer.ggml.token_type", v.types);
  w.kv_u32("tokenizer.ggml.unknown_token_id", 0);
  w.kv_u32("tokenizer.ggml.bos_token_id", 1);
  w.kv_u32("tokenizer.ggml.eos_token_id", 2);
  const auto path = w.write("clrp_test_tok_llama_spm.gguf");
  const clrp::io::GgufFile g(path);
  auto t = Tokenizer::from_gguf(g);
  EXPECT_EQ(t->encode("hi hi"), (Ids{1, 264, 264}));
  // "i h" (score of "ih", -3.5) outranks "h i" (-4): "▁", "h", "ih", "▁", "ih", "i".
  EXPECT_EQ(t->encode("hih ihi"), (Ids{1, 263, 265, 259, 265, 261}));
  EXPECT_EQ(t->encode(" hi"), (Ids{1, 259, 264}));
  EXPECT_EQ(t->encode("h\xC3\xA9</s>"), (Ids{1, 263, 198, 172, 2}));
  EXPECT_EQ(t->encode("a  b"), (Ids{1, 259, 100, 267, 101}));
  EXPECT_EQ(t->decode(Ids{1, 264, 264}), "<s> hi hi");
  EXPECT_EQ(t->decode(Ids{1, 264, 264}, true), "hi hi");
  EXPECT_TRUE(t->is_special(2));
  std::filesystem::remove(path);
}

TEST(TokenizerGgufSpm, Errors) {
  const SpmVocab v = gemma_vocab();
  {  // one score too few
    GgufWriter w;
    w.kv_string("general.architecture", "gemma3");
    w.kv_string("tokenizer.ggml.model", "llama");
    w.kv_strings("tokenizer.ggml.tokens", v.tokens);
    w.kv_f32s("tokenizer.ggml.scores", std::vector<float>(v.scores.begin(), v.scores.end() - 1));
    expect_bad_gguf(w, "tokenizer.ggml.scores", "269 entries for 270 tokens");
  }
  {
    SpmVocab nan = v;
    nan.scores[266] = std::numeric_limits<float>::quiet_NaN();
    expect_bad_gguf(gemma_gguf(nan), "tokenizer.ggml.scores[266]", "finite");
  }
  {
    SpmVocab bad_byte = v;
    bad_byte.tokens[8] = "<0xZZ>";
    expect_bad_gguf(gemma_gguf(bad_byte), "tokenizer.ggml.tokens[8]", "<0xNN>");
  }
  {
    SpmVocab bad_type = v;
    bad_type.types[9] = 9;
    expect_bad_gguf(gemma_gguf(bad_type), "tokenizer.ggml.token_type[9]", "unknown token type");
  }
  {
    SpmVocab short_types = v;
    short_types.types.pop_back();
    expect_bad_gguf(gemma_gguf(short_types), "tokenizer.ggml.token_type", "269 entries");
  }
  expect_bad_gguf(gemma_gguf(v, "phi3"), "general.architecture", "phi3");
}

}  // namespace
