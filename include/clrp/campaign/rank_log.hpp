// The log file of one rank: "<store>.logs/rank-<r>.log".
//
// Each line starts with the time of day, so the logs of several ranks (and
// the scheduler's) can be read side by side. A rank writes from two threads
// (rank 0 explains on a thread of its own while it coordinates), so lines are
// written whole, under a lock, and flushed at once: a rank killed with -9
// leaves its log complete up to its last line (tests watch the logs to time
// their kills).
#pragma once

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

namespace clrp::campaign {

class RankLog {
 public:
  /// Appends to `path` (a resumed run continues the log of the run before).
  explicit RankLog(const std::string& path);

  /// Writes the parts, streamed one after the other, as one line.
  template <class... Parts>
  void line(const Parts&... parts) {
    std::ostringstream text;
    (text << ... << parts);
    write(text.str());
  }

 private:
  void write(const std::string& text);

  std::mutex mu_;
  std::ofstream out_;
};

}  // namespace clrp::campaign
