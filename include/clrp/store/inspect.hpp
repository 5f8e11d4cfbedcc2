// A summary of a store for `clrp inspect`: campaign, spec, every table with
// its committed counts and shapes, and the aggregates when they exist.
// Reads the file with HDF5's default (serial) driver: no MPI needed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace clrp::store {

/// The summary as JSON (clrp::Error when `path` is not a clrp store).
nlohmann::json inspect_store(const std::string& path);

}  // namespace clrp::store
