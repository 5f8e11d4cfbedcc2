// What `clrp merge` checks before writing anything (private to src/store):
// the inputs are clrp stores of one spec and one clrp version, with the same
// tables. Kept apart from the copying so each refusal reads on its own.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "clrp/store/record.hpp"
#include "clrp/store/store.hpp"
#include "h5.hpp"

namespace clrp::store::merge_check {

struct Input {
  std::string path;
  h5::Id file;
  std::string spec_json, spec_hash, campaign, version;
  std::vector<std::string> groups;  ///< table groups, name order
};

/// Opens an input read-only and reads its identity; refuses a file that is not
/// a clrp store or that a running campaign holds the lock of.
Input open_input(const std::string& path);

/// Throws clrp::Error naming both files and the attribute (or spec key, or
/// table) in which `b` differs from `a`, or `a`'s version from this clrp's.
void require_same(const Input& a, const Input& b);
void require_this_version(const Input& a);

/// The first key path at which two spec JSON texts differ ("models[0].path"),
/// or "" when equal.
std::string first_difference(const std::string& spec_a, const std::string& spec_b);

}  // namespace clrp::store::merge_check
