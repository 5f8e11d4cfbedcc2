// Crash-test hook (tests/oracle/test_campaign.py): CLRP_TEST_KILL_AT=POINT:N
// makes every rank that reaches the named point for the N-th time SIGKILL
// itself there, inside the store's HDF5 write windows where an outside kill
// is too rare to hit by timing. The points are reached collectively, so all
// ranks die at the same place. Unset: one getenv per call, nothing else.
#pragma once

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace clrp::store {

inline void kill_point(const char* point) {
  static const char* spec = std::getenv("CLRP_TEST_KILL_AT");
  if (spec == nullptr) return;
  static std::map<std::string, int> seen;
  const char* colon = std::strrchr(spec, ':');
  const std::string name = colon ? std::string(spec, colon) : std::string(spec);
  const int nth = colon ? std::atoi(colon + 1) : 1;
  if (name == point && ++seen[name] == nth) std::raise(SIGKILL);
}

}  // namespace clrp::store
