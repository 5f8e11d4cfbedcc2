// Case files: JSON Lines, one case per line (format in docs/cases.md).
//
// CaseReader streams a file line by line: memory stays bounded by the longest
// line (capped) whatever the file size. Every line is checked completely
// (valid UTF-8, JSON syntax, every field's presence and type, no unknown
// fields, non-empty texts, spans inside the prompt and ordered, gold index in
// range, known format/kind/judge, unique ids). A bad line is either fatal
// (OnError::stop: a clrp::Error naming file, line and field) or skipped and
// counted by its problem (OnError::skip); counts() is available at any time
// for a summary.
//
// CaseWriter writes the same format with a fixed key order, so equal cases
// give byte-identical files (prepare_cases.py writes the same bytes). It
// writes to "<path>.partial" and renames on commit(): a crash never leaves a
// truncated file under the final name.
#pragma once

#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "clrp/cases/case.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/util/error.hpp"

namespace clrp::cases {

/// Why a line was rejected.
enum class Problem {
  invalid_utf8,       ///< the line is not valid UTF-8
  invalid_json,       ///< syntax error, or nesting too deep
  truncated,          ///< the last line is cut off (no newline, not valid JSON)
  line_too_long,      ///< longer than ReadOptions::max_line_bytes
  not_an_object,      ///< the line is JSON but not an object
  missing_field,      ///< a required field is absent
  wrong_type,         ///< a field has the wrong JSON type
  unknown_field,      ///< a field this format does not define (typo?)
  bad_value,          ///< unknown format/kind/judge, bad identifier, out-of-range number
  empty_text,         ///< an empty segment, option, continuation, id, ...
  empty_answer,       ///< the gold answer / reference / tests are empty
  span_out_of_range,  ///< an evidence span reaches past the prompt, or is empty
  span_order,         ///< evidence spans not sorted or overlapping
  gold_index,         ///< gold index outside the options, or list lengths disagree
  duplicate_id,       ///< an id seen earlier in the file
};
inline constexpr std::size_t kProblemCount = 15;
std::string_view name(Problem p);

/// A bad case: a clrp::Error that also says which Problem it is.
class CaseError : public Error {
 public:
  CaseError(Problem problem, Where where, const std::string& message);
  Problem problem() const { return problem_; }

 private:
  Problem problem_;
};

/// Parses and validates one case (a JSON value) read from `where` (file and
/// line; field paths are filled in). Throws CaseError.
Case case_from_json(const nlohmann::json& j, const Where& where);

/// A contrastive pair as case files hold it (the `pair` object, docs/cases.md):
/// read (CaseError naming `where` and the field) and written (fixed key order).
Pair pair_from_json(const nlohmann::json& j, const Where& where);
nlohmann::ordered_json pair_to_json(const Pair& p);

/// Checks an in-memory case as the reader would (used before writing).
/// Throws CaseError naming `where` and the field.
void validate(const Case& c, const Where& where = {});

/// The JSON line of `c` (no newline): fixed key order, UTF-8 unescaped,
/// meta keys sorted. `c` must be finalized and valid.
std::string case_to_json_line(const Case& c);

enum class OnError {
  stop,  ///< throw at the first bad line
  skip,  ///< count it, remember the message, go on
};

struct ReadOptions {
  OnError on_error = OnError::stop;
  std::size_t max_line_bytes = io::kMaxLineBytes;  ///< longer lines are rejected (64 MiB)
  /// OnError::skip: an overlong line is consumed up to this many bytes to find
  /// the next line; one with no newline by then ends the read (a CaseError
  /// even in skip mode). OnError::stop stops at max_line_bytes.
  std::uint64_t max_skip_bytes = io::kMaxSkipBytes;  // 1 GiB
  /// All of the file: a line starting past this many bytes ends the read with
  /// a clrp::Error naming the cap, in either mode (0: no cap).
  std::uint64_t max_input_bytes = io::kMaxCaseFileBytes;  // 4 GiB
  bool check_duplicate_ids = true;  ///< costs one hash (8 bytes) per case read
  std::size_t max_messages = 20;    ///< messages kept for skipped lines
};

struct ReadCounts {
  std::uint64_t lines = 0;                                ///< lines seen (incl. blank ones)
  std::uint64_t blank = 0;                                ///< whitespace-only lines, ignored
  std::uint64_t read = 0;                                 ///< cases returned
  std::uint64_t skipped = 0;                              ///< bad lines skipped
  std::array<std::uint64_t, kProblemCount> by_problem{};  ///< skipped lines per Problem
  std::vector<std::string> messages;  ///< the first ReadOptions::max_messages errors

  /// "read 10 cases, skipped 2 (invalid_json 1, gold_index 1), 1 blank line".
  std::string summary() const;
};

class CaseReader {
 public:
  /// Opens `path` (clrp::Error when it cannot be read).
  explicit CaseReader(const std::string& path, ReadOptions options = {});
  ~CaseReader();
  CaseReader(const CaseReader&) = delete;
  CaseReader& operator=(const CaseReader&) = delete;

  /// The next valid case, or nullopt at the end of the file. Under
  /// OnError::stop a bad line throws CaseError.
  std::optional<Case> next();
  const ReadCounts& counts() const { return counts_; }
  const std::string& path() const { return path_; }

 private:
  class Lines;
  std::optional<Case> parse_line(std::string_view line, std::uint64_t line_no, std::uint64_t offset,
                                 bool terminated);
  void reject(const CaseError& e);

  std::string path_;
  ReadOptions options_;
  std::unique_ptr<Lines> lines_;
  ReadCounts counts_;
  std::unordered_set<std::uint64_t> id_hashes_;
};

/// Reads a whole file (convenience for small files and tests).
std::vector<Case> read_cases(const std::string& path, ReadOptions options = {},
                             ReadCounts* counts = nullptr);

class CaseWriter {
 public:
  /// Creates "<path>.partial"; nothing appears under `path` before commit().
  explicit CaseWriter(std::string path);
  /// Removes the partial file unless committed.
  ~CaseWriter();
  CaseWriter(const CaseWriter&) = delete;
  CaseWriter& operator=(const CaseWriter&) = delete;

  /// Validates and appends one case (clrp::Error when invalid or a duplicate id).
  void write(const Case& c);
  /// Flushes, closes and renames to the final path.
  void commit();
  std::uint64_t written() const { return written_; }

 private:
  std::string path_;
  std::string partial_;
  std::ofstream out_;
  std::uint64_t written_ = 0;
  bool committed_ = false;
  std::unordered_set<std::string> ids_;
};

}  // namespace clrp::cases
