// Rank 0's progress display of a campaign.
//
// On a terminal (stderr is a tty) a live bar is redrawn at most twice a
// second; otherwise, as in a batch job's output file, a line
// "HH:MM:SS progress: D/T done, F failed, R cases/s, ETA Ns" goes to stdout
// at most every 10 s, so that the file stays short enough to read.
#pragma once

#include <cstdint>

namespace clrp::campaign {

class Progress {
 public:
  /// `total`: the cases this run has to explain (those committed before excluded).
  explicit Progress(std::uint64_t total);

  /// Shows `done` explained and `failed` cases so far, unless shown too
  /// recently; `final` always shows (and ends the bar's line).
  void show(std::uint64_t done, std::uint64_t failed, bool final = false);

 private:
  std::uint64_t total_;
  double start_, last_ = 0;
  bool tty_;
};

}  // namespace clrp::campaign
