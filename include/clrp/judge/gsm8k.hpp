// GSM8K: grade-school maths with a single numeric answer.
//
// The gold "answer" field ends with "#### N". A model's answer is taken, in
// this order, from: its own "#### N" line; the number after the last "the
// answer is" (any case, also "answer:"); the last \boxed{...}; the last
// number anywhere in the output. This is lm-evaluation-harness's "strict"
// then "flexible" extraction, plus the phrasings chat models use. Both are
// compared by value (numbers.hpp): commas, "$", units and "3.0" vs "3" do
// not matter.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace clrp::judge {

/// The number after the last "####" of a gold answer, or nullopt.
std::optional<double> gsm8k_gold(std::string_view answer_field);

/// The model's final number (see the header comment), or nullopt.
std::optional<double> gsm8k_extract(std::string_view output);

/// The model's extracted number equals the gold number. False when either
/// cannot be extracted.
bool gsm8k_correct(std::string_view output, std::string_view answer_field);

}  // namespace clrp::judge
