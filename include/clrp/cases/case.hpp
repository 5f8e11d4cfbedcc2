// A case: one benchmark item, ready to be run, judged and explained.
//
// The prompt is an ordered list of segments (instruction, few-shot examples,
// context, question, options, answer prefix, ...) whose concatenation is the
// text the model reads. Segments stay raw (no chat template): clrp applies a
// chat format later, if asked, and keeps the segment spans pointing into the
// raw prompt. Relevance is summed per segment by mapping each token to the
// segment that holds its first byte (see docs/cases.md).
//
// Offsets: in case files (JSON) spans count Unicode code points, so Python's
// str slicing and the file agree. In memory every span carries both the
// code-point offsets (`chars`) and the UTF-8 byte offsets (`bytes`) into
// Case::prompt, which is what a tokenizer's byte offsets are compared with.
//
// `gold` says what counts as right, by format:
//   mc_letter, mc_cloze  ChoiceGold: options, the continuation scored for each
//                        (" A" or " <option text>"), the index of the right one;
//   generative           AnswerGold: short answer + aliases, how to judge a
//                        generated text, a correct continuation to teacher-force;
//   code                 CodeGold: the program around the completion, the tests
//                        that must pass, the entry point;
//   instructions         InstructionGold: the verifiable instructions the
//                        response must follow (IFEval), checked by their checkers.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "clrp/cases/pair.hpp"
#include "clrp/judge/instruction_judge.hpp"

namespace clrp::cases {

/// How the model is asked and how its answer is read.
enum class Format {
  mc_letter,     ///< options listed with letters; the next token is a letter
  mc_cloze,      ///< no options shown; each option text is scored as the continuation
  generative,    ///< free text, greedy decoding until a stop sequence, then judged
  code,          ///< a program completion, judged by running tests
  instructions,  ///< free text judged by instruction checkers (IFEval); no gold text
};

/// What part of the prompt a segment is. A closed set, so that relevance can be
/// compared per kind across benchmarks; adding a kind is one line in case.cpp.
enum class SegmentKind {
  instruction,    ///< task description shared by all items
  fewshot,        ///< one solved example (question and its answer)
  context,        ///< passage, background, haystack text
  needle,         ///< the inserted fact of a needle-in-a-haystack case
  question,       ///< the item's question (or goal, sentence, problem)
  options,        ///< the lettered answer options
  code,           ///< program text the completion continues (signature, docstring)
  answer_prefix,  ///< text that cues the answer ("Answer:", "```python\n")
};

/// How a generated answer is compared with AnswerGold (documented in docs/cases.md).
enum class Judge {
  squad,       ///< SQuAD normalisation, equal to the answer or an alias
  number,      ///< final number of the output, numerically equal
  math,        ///< \boxed{} / "final answer is $x$", normalised LaTeX equal
  first_word,  ///< first word of the output equals the answer (LAMBADA)
  contains,    ///< normalised output contains the answer or an alias
};

std::string_view name(Format f);
std::string_view name(SegmentKind k);
std::string_view name(Judge j);
std::optional<Format> parse_format(std::string_view s);
std::optional<SegmentKind> parse_segment_kind(std::string_view s);
std::optional<Judge> parse_judge(std::string_view s);

/// [begin, end) offsets.
struct Span {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
  bool operator==(const Span&) const = default;
};

/// One region of the prompt, as code points and as UTF-8 bytes.
struct TextSpan {
  Span chars;  ///< Unicode code points (what case files store)
  Span bytes;  ///< bytes of Case::prompt (what tokenizer offsets are)
  bool operator==(const TextSpan&) const = default;
};

struct Segment {
  SegmentKind kind = SegmentKind::question;
  std::string text;  ///< raw UTF-8, never empty
  TextSpan span;     ///< where `text` sits in Case::prompt (filled by finalize)
};

struct ChoiceGold {
  std::size_t index = 0;                   ///< the right option
  std::vector<std::string> options;        ///< option texts as in the data
  std::vector<std::string> letters;        ///< "A", "B", ... (required for mc_letter)
  std::vector<std::string> continuations;  ///< appended to the prompt and scored, one per option
};

struct AnswerGold {
  std::string answer;                ///< the short answer judged against
  std::vector<std::string> aliases;  ///< other accepted answers
  Judge judge = Judge::squad;
  std::string reference;          ///< a correct continuation of the prompt (teacher-forced)
  std::vector<std::string> stop;  ///< generation stops at the first of these
  int max_new_tokens = 0;
};

struct CodeGold {
  std::string language;        ///< "python"
  std::string entry_point;     ///< function under test
  std::string program_prefix;  ///< program text before the completion (may be empty)
  std::string tests;           ///< code run after the program; raises on failure
  std::string reference;       ///< the canonical completion
  std::vector<std::string> stop;
  int max_new_tokens = 0;
};

struct InstructionGold {
  std::string checker = "ifeval";                ///< which checkers judge (only IFEval's exist)
  std::vector<judge::Instruction> instructions;  ///< all must be followed; never empty
  /// Per instruction (empty, or one entry each): the prompt text that states
  /// it, in code points, sorted and disjoint; empty where unknown. A failure
  /// takes the spans of the instructions it did not follow as its evidence
  /// (mark_failed_instructions).
  std::vector<std::vector<Span>> evidence;
  std::vector<std::string> stop;
  int max_new_tokens = 0;
};

using Gold = std::variant<ChoiceGold, AnswerGold, CodeGold, InstructionGold>;

struct Case {
  std::string id;         ///< unique within a file
  std::string benchmark;  ///< e.g. "arc_challenge"
  Format format = Format::generative;
  std::vector<Segment> segments;
  Gold gold;
  std::vector<TextSpan> evidence;  ///< where the answer's support lies; sorted, disjoint
  nlohmann::json meta = nlohmann::json::object();  ///< free-form; keys sorted on output
  std::optional<Pair> pair;  ///< failures only: the contrast to explain (pair.hpp)

  std::string prompt;  ///< concatenation of the segments' text (filled by finalize)
};

/// Builds `prompt` and every segment span from the segments' text, and the
/// byte offsets of the evidence from its code-point offsets. Call after
/// changing segments or evidence. Throws clrp::Error on invalid UTF-8 or
/// evidence outside the prompt.
void finalize(Case& c);

/// An instruction case that failed: its evidence becomes the spans stating
/// the instructions not followed (`followed[i]` false; InstructionGold::evidence),
/// merged where they overlap, and the case is finalized again. Other cases,
/// and instruction cases without such spans, keep their evidence.
void mark_failed_instructions(Case& c, const std::vector<bool>& followed);

/// Index of the segment holding prompt byte `byte`, or nullopt past the end.
/// With token byte offsets this assigns each token to a segment.
std::optional<std::size_t> segment_at_byte(const Case& c, std::size_t byte);

/// The continuation that is right: ChoiceGold's correct continuation, the
/// reference of AnswerGold/CodeGold, or "" for InstructionGold (IFEval has
/// no reference response).
const std::string& correct_continuation(const Case& c);

}  // namespace clrp::cases
