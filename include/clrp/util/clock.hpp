// Time for durations and for log lines.
//
// Durations are measured on the steady clock, which never jumps when the
// system time is set (an NTP step during a long campaign would otherwise
// show negative or huge timings); log lines show the wall-clock time of day,
// which is what a person compares against a scheduler's or another rank's log.
#pragma once

#include <chrono>
#include <string>

namespace clrp::util {

/// Seconds on the steady clock since an arbitrary fixed point: subtract two
/// readings for a duration.
inline double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Seconds elapsed on the steady clock since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// The local time of day, "HH:MM:SS": the prefix of rank-log and progress lines.
std::string clock_text();

}  // namespace clrp::util
