// Streaming reader and atomic writer of case files (JSON Lines).
#include "clrp/cases/case_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <system_error>

#include "clrp/io/json.hpp"
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

// Reads lines through a fixed buffer; a line longer than the cap is consumed
// but not kept, so memory never exceeds cap + buffer.
class CaseReader::Lines {
 public:
  Lines(const std::string& path, std::size_t max_bytes) : max_(max_bytes), buf_(1 << 16) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_)
      throw Error(Where{path, "", std::nullopt, std::nullopt},
                  std::string("cannot open: ") + std::strerror(errno));
  }
  ~Lines() {
    if (file_) std::fclose(file_);
  }

  /// Next line without its '\n'; false at the end of the file.
  bool next(std::string& line, bool& terminated, bool& too_long) {
    line.clear();
    terminated = false;
    too_long = false;
    start_ = offset_;
    bool any = false;
    for (;;) {
      if (head_ == tail_ && !fill()) break;
      any = true;
      const char* begin = buf_.data() + head_;
      const std::size_t avail = tail_ - head_;
      const auto* nl = static_cast<const char*>(std::memchr(begin, '\n', avail));
      const std::size_t take = nl ? static_cast<std::size_t>(nl - begin) : avail;
      if (!too_long && line.size() + take > max_) {
        too_long = true;
        std::string().swap(line);  // give the memory back
      }
      if (!too_long) line.append(begin, take);
      head_ += take;
      offset_ += take;
      if (nl) {
        ++head_;
        ++offset_;
        terminated = true;
        return true;
      }
    }
    return any;
  }
  std::uint64_t line_start() const { return start_; }
  bool failed() const { return std::ferror(file_) != 0; }

 private:
  bool fill() {
    head_ = 0;
    tail_ = std::fread(buf_.data(), 1, buf_.size(), file_);
    return tail_ > 0;
  }

  std::FILE* file_ = nullptr;
  std::size_t max_;
  std::vector<char> buf_;
  std::size_t head_ = 0, tail_ = 0;
  std::uint64_t offset_ = 0, start_ = 0;
};

CaseReader::CaseReader(const std::string& path, ReadOptions options)
    : path_(path),
      options_(options),
      lines_(std::make_unique<Lines>(path, options.max_line_bytes)) {}

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
    throw CaseError(Problem::duplicate_id, w, "'" + c.id + "' appeared on an earlier line");
  }
  return c;
}

std::optional<Case> CaseReader::next() {
  std::string line;
  bool terminated = false, too_long = false;
  while (lines_->next(line, terminated, too_long)) {
    const std::uint64_t line_no = ++counts_.lines;
    const std::uint64_t offset = lines_->line_start();
    try {
      if (too_long)
        throw CaseError(Problem::line_too_long, Where{path_, "", offset, line_no},
                        "line longer than " + std::to_string(options_.max_line_bytes) + " bytes");
      if (is_blank(line)) {
        ++counts_.blank;
        continue;
      }
      auto c = parse_line(line, line_no, offset, terminated);
      ++counts_.read;
      return c;
    } catch (const CaseError& e) {
      reject(e);
    }
  }
  if (lines_->failed()) throw Error(Where{path_, "", std::nullopt, std::nullopt}, "read error");
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
                    "'" + c.id + "' written twice");
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
