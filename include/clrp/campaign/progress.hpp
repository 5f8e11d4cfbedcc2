// Rank 0's progress display of a campaign.
//
// On a terminal (stderr is a tty) a live bar is redrawn at most twice a
// second; otherwise, as in a batch job's output file, a line
// "HH:MM:SS progress: PHASE D/T done, F failed, R/s, ETA Ns" goes to stdout
// at most every 10 s, so that the file stays short enough to read.
#pragma once

#include <cstdint>
#include <string>

namespace clrp::campaign {

class Progress {
 public:
  /// `phase` names what is counted ("evaluate", "explain"); `total`: the
  /// tasks this run has to do in it (those committed before excluded).
  Progress(std::string phase, std::uint64_t total);

  /// Shows `done` explained and `failed` cases so far, unless shown too
  /// recently; `final` always shows (and ends the bar's line).
  void show(std::uint64_t done, std::uint64_t failed, bool final = false);

 private:
  std::string phase_;
  std::uint64_t total_;
  double start_, last_ = 0;
  bool tty_;
};

}  // namespace clrp::campaign
