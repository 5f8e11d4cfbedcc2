// Errors that say what is wrong and where.
//
// Every failure caused by user input (a model file, a tokenizer, a config, a
// campaign spec, a benchmark file, a store) is reported as a clrp::Error that
// names the file and the place inside it: a field path ("model.layers.3.mlp"),
// a byte offset, or a line number. The CLI prints the message and exits with a
// non-zero status; nothing is half-written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace clrp {

/// At most `max` bytes of `text` as a message may quote them: control bytes,
/// NULs and invalid UTF-8 escaped (\x00, \n), a cut never inside a character,
/// and "… (N bytes)" appended when the text was longer. Every message that
/// quotes user input (a case line, a token, a key) goes through this.
std::string excerpt(std::string_view text, std::size_t max = 200);

/// Where in an input a problem was found. Every part is optional.
struct Where {
  std::string file;                     ///< path of the offending file
  std::string field;                    ///< field path or key, e.g. "tensors.lm_head.weight.dtype"
  std::optional<std::uint64_t> offset;  ///< byte offset in the file
  std::optional<std::uint64_t> line;    ///< 1-based line number

  /// "file: at byte 12, field 'x'" style prefix (empty when nothing is known);
  /// the field is quoted through excerpt().
  std::string describe() const;
};

/// The one exception type for bad input and failed preconditions. NUL bytes
/// in the message are written \x00 (what() is read as a C string).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message);
  Error(Where where, const std::string& message);

  const Where& where() const { return where_; }
  /// The message without the location prefix.
  const std::string& bare_message() const { return bare_; }

 private:
  Where where_;
  std::string bare_;
};

/// Throws Error(where, message) unless `condition` holds.
inline void require(bool condition, const Where& where, const std::string& message) {
  if (!condition) throw Error(where, message);
}

}  // namespace clrp
