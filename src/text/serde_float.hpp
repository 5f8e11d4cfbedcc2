// The float32/64 value Hugging Face `tokenizers` sees for a JSON number.
//
// tokenizers reads tokenizer.json with serde_json, built without its
// `float_roundtrip` feature: a decimal is parsed as an integer significand,
// converted to f64 and then multiplied or divided by a power of ten, two
// roundings that land one ulp off the correctly rounded value for some
// numbers (186 of the 2,000 scores of a trained Unigram vocabulary). Unigram
// segmentation compares sums of scores, so an exact tie between two
// segmentations is broken by those ulps: to give the same ids, clrp must
// use the same values. Internal to the text module.
#pragma once

namespace clrp::text::detail {

/// The value serde_json's default parser gives for the JSON text of `value`
/// as tokenizers and Python write it (the shortest representation that
/// round-trips). Equal to `value` for most numbers; one ulp away for some.
double serde_json_f64(double value);

}  // namespace clrp::text::detail
