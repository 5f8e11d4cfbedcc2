// Streaming reader and atomic writer of case files (JSON Lines).
#include "clrp/cases/case_file.hpp"

#include <filesystem>
#include <functional>
#include <system_error>

#include "clrp/io/json.hpp"
#include "clrp/io/read_file.hpp"
#include "utf8.hpp"

namespace clrp::cases {

namespace {
constexpr std::array<std::string_view, kProblemCount> kProblemNames{
    "invalid_utf8",  "invalid_json",      "truncated",     "line_too_long", "not_an_object",
    "missing_field", "wrong_type",        "unknown_field", "bad_value",     "empty_text",
    "empty_answer",  "span_out_of_range", "span_order",    "gold_index",    "duplicate_id",
};

bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}
}  // namespace

std::string_view name(Problem p) {
  return kProblemNames.at(static_cast<std::size_t>(p));
}

CaseError::CaseError(Problem problem, Where where, const std::string& message)
    : Error(std::move(where), message), problem_(problem) {}

std::string ReadCounts::summary() const {
  std::string out = "read " + std::to_string(read) + (read == 1 ? " case" : " cases");
  out += ", skipped " + std::to_string(skipped);
  if (skipped > 0) {
    std::string parts;
    for (std::size_t i = 0; i < kProblemCount; ++i) {
      if (by_problem[i] == 0) continue;
      parts += (parts.empty() ? "" : ", ") + std::string(kProblemNames[i]) + " " +
               std::to_string(by_problem[i]);
    }
    out += " (" + parts + ")";
  }
  if (blank > 0)
    out += ", " + std::to_string(blank) + (blank == 1 ? " blank line" : " blank lines");
  return out;
}

// The file's lines (io::LineReader): an overlong line is consumed without
// being kept, so memory never exceeds the cap plus the buffer; in skip mode it
// is consumed up to max_skip_bytes to find the next line, in stop mode the
// read ends at the cap.
class CaseReader::Lines : public io::LineReader {
 public:
  Lines(const std::string& path, const ReadOptions& o)
      : io::LineReader(path, o.max_line_bytes,
                       o.on_error == OnError::skip ? o.max_skip_bytes : o.max_line_bytes,
                       o.max_input_bytes) {}
};

CaseReader::CaseReader(const std::string& path, ReadOptions options)
    : path_(path), options_(options), lines_(std::make_unique<Lines>(path, options)) {}

CaseReader::~CaseReader() = default;

void CaseReader::reject(const CaseError& e) {
  if (options_.on_error == OnError::stop) throw e;
  ++counts_.skipped;
  ++counts_.by_problem[static_cast<std::size_t>(e.problem())];
  if (counts_.messages.size() < options_.max_messages) counts_.messages.push_back(e.what());
}

std::optional<Case> CaseReader::parse_line(std::string_view line, std::uint64_t line_no,
                                           std::uint64_t offset, bool terminated) {
  const Where at_line{path_, "", std::nullopt, line_no};
  if (auto bad = detail::find_invalid_utf8(line))
    throw CaseError(Problem::invalid_utf8, Where{path_, "", offset + *bad, line_no},
                    "invalid UTF-8");
  nlohmann::json j;
  try {
    j = io::parse_json(line, path_, offset);
  } catch (const Error& e) {
    Where w = e.where();
    w.line = line_no;
    // Only the last line can lack its newline: a writer stopped mid-line.
    if (!terminated)
      throw CaseError(Problem::truncated, w, "last line is cut off (" + e.bare_message() + ")");
    throw CaseError(Problem::invalid_json, w, e.bare_message());
  }
  Case c = case_from_json(j, at_line);
  if (options_.check_duplicate_ids && !id_hashes_.insert(std::hash<std::string>{}(c.id)).second) {
    Where w = at_line;
    w.field = "id";
    throw CaseError(Problem::duplicate_id, w,
                    "'" + excerpt(c.id) + "' appeared on an earlier line");
  }
  return c;
}

std::optional<Case> CaseReader::next() {
  std::string line;
  io::LineInfo info;
  while (lines_->next(line, info)) {
    const std::uint64_t line_no = ++counts_.lines;
    const Where where{path_, "", info.offset, line_no};
    // A line with no end in sight (an endless stream, /dev/zero) ends the
    // read in either mode: nothing after it can be found.
    if (info.cut) throw CaseError(Problem::line_too_long, where, lines_->too_long_message(info));
    try {
      if (info.too_long)
        throw CaseError(Problem::line_too_long, where, lines_->too_long_message(info));
      if (is_blank(line)) {
        ++counts_.blank;
        continue;
      }
      auto c = parse_line(line, line_no, info.offset, info.terminated);
      ++counts_.read;
      return c;
    } catch (const CaseError& e) {
      reject(e);
    }
  }
  return std::nullopt;
}

std::vector<Case> read_cases(const std::string& path, ReadOptions options, ReadCounts* counts) {
  CaseReader reader(path, options);
  std::vector<Case> out;
  while (auto c = reader.next())
    out.push_back(std::move(*c));
  if (counts) *counts = reader.counts();
  return out;
}

CaseWriter::CaseWriter(std::string path) : path_(std::move(path)), partial_(path_ + ".partial") {
  out_.open(partial_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(Where{partial_, "", std::nullopt, std::nullopt}, "cannot create");
}

CaseWriter::~CaseWriter() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  std::filesystem::remove(partial_, ec);  // best effort: never throw from a destructor
}

void CaseWriter::write(const Case& c) {
  if (committed_) throw Error(Where{path_, "", std::nullopt, std::nullopt}, "write after commit");
  const Where where{path_, "", std::nullopt, written_ + 1};
  validate(c, where);
  if (!ids_.insert(c.id).second)
    throw CaseError(Problem::duplicate_id, Where{path_, "id", std::nullopt, written_ + 1},
                    "'" + excerpt(c.id) + "' written twice");
  out_ << case_to_json_line(c) << '\n';
  if (!out_) throw Error(Where{partial_, "", std::nullopt, std::nullopt}, "write failed");
  ++written_;
}

void CaseWriter::commit() {
  if (committed_) return;
  out_.flush();
  out_.close();
  if (!out_) throw Error(Where{partial_, "", std::nullopt, std::nullopt}, "write failed");
  std::error_code ec;
  std::filesystem::rename(partial_, path_, ec);
  if (ec)
    throw Error(Where{path_, "", std::nullopt, std::nullopt}, "cannot rename: " + ec.message());
  committed_ = true;
}

}  // namespace clrp::cases
