// MATH (Hendrycks et al., 2021): answers in LaTeX, compared after
// normalisation.
//
// The gold answer is the last \boxed{...} (or \fbox{...}) of the reference
// solution; the model's is the last \boxed{...} of its output, or failing
// that the text after "the final answer is" / "the answer is" (with any
// "$...$" removed). Both are normalised as in the original `strip_string`
// of the MATH repository (rewritten here, step by step in the .cpp), then
// compared as strings:
//   \dfrac and \tfrac -> \frac; \left, \right, \! removed; "^\circ" and
//   "\$" removed; a trailing "\text{ unit}" removed; "\%" removed; ".5" ->
//   "0.5"; a short "x = " prefix dropped; \sqrt3 -> \sqrt{3}; spaces
//   removed; \frac12 -> \frac{1}{2}; "0.5" -> \frac{1}{2}; "a/b" of
//   integers -> \frac{a}{b}.
// Added to the original, because models write them and the gold answers
// do not: \text{...}, \textbf{...}, \mathrm{...}, \mbox{...} unwrapped;
// "\," "\;" "\:" and \displaystyle removed; plain "$" and "%" removed; thousands
// commas in plain integers removed; trailing zeros of plain decimals
// removed ("3.0" -> "3", "2.50" -> "2.5"); a final period removed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace clrp::judge {

/// The content of the last \boxed{...} or \fbox{...} in `text` (braces
/// balanced, so nested \frac{..}{..} and boxes inside are kept whole), or of
/// "\boxed 5" up to the next "$" or end. nullopt when there is none or its
/// braces never close.
std::optional<std::string> last_boxed_content(std::string_view text);

/// The MATH normalisation described above.
std::string math_normalize(std::string_view answer);

/// Equal after normalisation.
bool math_equivalent(std::string_view a, std::string_view b);

/// The model's answer: last box, else the text after the last "answer is",
/// up to the end of its sentence.
std::optional<std::string> math_extract(std::string_view output);

/// The reference solution's boxed answer (or the whole field when it has
/// no box: some datasets store the bare answer) against the model's.
bool math_correct(std::string_view output, std::string_view gold_solution);

}  // namespace clrp::judge
