// Reading user input: whole files and lines, from anything that can be read.
//
// Every file clrp reads from a user (case files, token inputs, tokenizer and
// config JSON, chat templates, campaign specs, --pairs/--ids files) is read
// through these, never through a stat'd size or a second open: a regular
// file, a pipe (/dev/stdin, <(...)) and a character device (/dev/zero) are
// read alike, once, front to back, with the same byte caps. A cap that is hit
// ends the read with a clrp::Error naming the file and the cap, so an endless
// stream costs at most the cap in memory and the time to read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace clrp::io {

/// The cap of read_text_file: far above any tokenizer.json or config.
inline constexpr std::uint64_t kMaxTextFileBytes = std::uint64_t{256} << 20;

/// The line cap of every line-by-line input (case files, token inputs).
inline constexpr std::size_t kMaxLineBytes = std::size_t{64} << 20;
/// How far past the line cap an overlong line is consumed, when the reader
/// skips bad lines, to find the next one (an endless line ends the read).
inline constexpr std::uint64_t kMaxSkipBytes = std::uint64_t{1} << 30;
/// The cap on all of a case file: far above any benchmark (MMLU's 14k items
/// take ~30 MB), and what ends an endless stream of blank lines (`yes ""`),
/// which no line cap reaches.
inline constexpr std::uint64_t kMaxCaseFileBytes = std::uint64_t{4} << 30;

/// Reads all of `path` (or standard input for "-"), at most `max_bytes`.
/// Throws clrp::Error naming the file when it cannot be opened, is a
/// directory, cannot be read, or holds more than `max_bytes` bytes (then it
/// names the cap; a regular file that large is refused before reading).
std::string read_file(const std::string& path, std::uint64_t max_bytes);

/// read_file(path, kMaxTextFileBytes).
std::string read_text_file(const std::string& path);

/// What `path` is, for messages: "a regular file", "a directory", "a FIFO",
/// "a character device", "a block device", "a socket", "a symbolic link to
/// nothing" or "missing" (symbolic links are followed).
std::string file_kind(const std::string& path);

/// An optional input file of a model folder: true for a regular file (or a
/// link to one), false when nothing is there; anything else (a directory, a
/// FIFO, a device) is a clrp::Error saying what it is, not a silent "missing".
bool regular_file_or_none(const std::string& path);

/// One line as LineReader returns it.
struct LineInfo {
  std::uint64_t number = 0;  ///< 1-based
  std::uint64_t offset = 0;  ///< byte offset of its first byte
  bool terminated = false;   ///< it ended with '\n' (only the last line may not)
  bool too_long = false;     ///< longer than max_line_bytes: its text is not kept
  bool cut = false;          ///< too long and no '\n' within max_skip_bytes: reading stopped there
};

/// Lines of `path` ("-": standard input) through a fixed buffer. A line
/// longer than max_line_bytes is not kept (memory stays below the cap plus
/// 64 KiB); it is consumed up to max_skip_bytes to find the next line, and a
/// line with no newline by then ends the read (`cut`; next() is false after).
/// With max_input_bytes, a line that starts past that many bytes is a
/// clrp::Error naming the file and the cap (0: no cap, as for a filter such
/// as `tokenize --input`, which keeps nothing).
class LineReader {
 public:
  LineReader(std::string path, std::size_t max_line_bytes, std::uint64_t max_skip_bytes = 0,
             std::uint64_t max_input_bytes = 0);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line without its '\n'; false at the end. Throws clrp::Error
  /// naming the file on a read error.
  bool next(std::string& line, LineInfo& info);

  /// "line longer than 64.0 MiB" (and, for a cut line, that reading stopped).
  std::string too_long_message(const LineInfo& info) const;
  /// Throws clrp::Error naming the file, line and offset with too_long_message.
  [[noreturn]] void refuse_too_long(const LineInfo& info) const;

  const std::string& path() const { return path_; }
  std::size_t max_line_bytes() const { return max_line_; }

 private:
  bool fill();

  std::string path_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool ended_ = false;
  std::size_t max_line_;
  std::uint64_t max_skip_;
  std::uint64_t max_input_;
  std::string buf_;
  std::size_t head_ = 0, tail_ = 0;
  std::uint64_t offset_ = 0, number_ = 0;
};

}  // namespace clrp::io
