// Answer matching for extractive and short-answer benchmarks: SQuAD,
// TriviaQA, Natural Questions (open) and LAMBADA.
//
// The normalisation is the one of the official SQuAD evaluation script,
// written anew: lowercase, drop ASCII punctuation (Python's
// string.punctuation), drop the articles "a", "an", "the" as words, and
// collapse whitespace. Like the script it is ASCII-only: non-ASCII bytes are
// kept as they are (so "Café" and "café" differ only in the "C").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clrp::judge {

/// SQuAD normalisation: "The  Eiffel-Tower!" -> "eiffeltower".
std::string squad_normalize(std::string_view text);

/// The normalised text split on whitespace.
std::vector<std::string> squad_tokens(std::string_view text);

/// 1 when the normalised texts are equal, else 0.
double exact_match(std::string_view prediction, std::string_view gold);

/// Token-level F1 over the multiset of normalised tokens, as in SQuAD.
/// When either side normalises to nothing, F1 is 1 if both do, else 0 (the
/// SQuAD 2.0 convention; 1.1 gave 0 for two empty answers).
double token_f1(std::string_view prediction, std::string_view gold);

/// The best score over several gold answers (SQuAD lists up to 5, TriviaQA
/// and NQ lists of aliases). 0 for an empty list.
double max_exact_match(std::string_view prediction, const std::vector<std::string>& golds);
double max_token_f1(std::string_view prediction, const std::vector<std::string>& golds);

/// TriviaQA / NQ-open: the prediction matches any alias after SQuAD
/// normalisation. Only the answer itself is compared: callers pass the
/// model's answer line, not a whole explanation (see first_line()).
bool alias_match(std::string_view prediction, const std::vector<std::string>& aliases);

/// The first non-empty line of a generation, trimmed: generative QA
/// prompts ask for a short answer and models often continue after it.
std::string first_line(std::string_view generation);

/// LAMBADA: the word the model produced (its continuation's first word,
/// with trailing punctuation and quotes removed) equals the target word
/// exactly, case included.
bool lambada_correct(std::string_view continuation, std::string_view target_word);

/// The last word of a LAMBADA passage (the target), punctuation removed.
std::string lambada_last_word(std::string_view passage);

}  // namespace clrp::judge
