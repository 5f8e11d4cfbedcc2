// Model paths handed to a unit test by the oracle test that built them (e.g.
// tests/oracle/test_evaluate_kv_cache.py), as a colon-separated list in an
// environment variable.
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace clrp::test {

/// The non-empty items of `$variable` split at ':'; none when it is unset.
inline std::vector<std::string> paths_from_env(const char* variable) {
  const char* env = std::getenv(variable);
  std::vector<std::string> out;
  if (env == nullptr) return out;
  std::stringstream ss(env);
  std::string item;
  while (std::getline(ss, item, ':'))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace clrp::test
