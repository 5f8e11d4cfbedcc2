#include "merge_check.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "checksum.hpp"
#include "clrp/util/error.hpp"
#include "schema.hpp"
#include "table_io.hpp"

namespace clrp::store::merge_check {

namespace {

// True when a campaign holds the store's lock right now. Only probes an
// existing lock file (never creates one next to an input).
bool lock_held(const std::string& store) {
  const int fd = ::open((store + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

std::string diff(const nlohmann::json& a, const nlohmann::json& b, const std::string& at) {
  if (a.type() != b.type()) return at.empty() ? "(top level)" : at;
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string key = at.empty() ? it.key() : at + "." + it.key();
      if (!b.contains(it.key())) return key;
      if (auto d = diff(it.value(), b.at(it.key()), key); !d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) return at.empty() ? it.key() : at + "." + it.key();
    return "";
  }
  if (a.is_array()) {
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
      if (auto d = diff(a[i], b[i], at + "[" + std::to_string(i) + "]"); !d.empty()) return d;
    return a.size() == b.size() ? "" : at + " (length)";
  }
  return a == b ? "" : (at.empty() ? "(top level)" : at);
}

}  // namespace

std::string first_difference(const std::string& spec_a, const std::string& spec_b) {
  try {
    return diff(nlohmann::json::parse(spec_a), nlohmann::json::parse(spec_b), "");
  } catch (const nlohmann::json::exception&) {
    return spec_a == spec_b ? "" : "(not JSON)";
  }
}

Input open_input(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw Error(Where{path}, "no such store");
  if (lock_held(path))
    throw Error(Where{path},
                "a campaign is writing this store (its lock is held); merge it when the run "
                "has stopped");
  Input in;
  in.path = path;
  in.file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                     path + ": cannot open as HDF5");
  schema::require_store(in.file, path);
  // Nothing damaged goes into a merged store, where no checksum would betray it.
  if (const auto damage = checksum::verify_file(in.file); !damage.empty())
    throw Error(Where{path}, "cannot merge it: " + checksum::report(damage));
  in.spec_json = h5::get_string_attr(in.file, "spec");
  in.spec_hash = h5::get_string_attr(in.file, "spec_hash");
  in.campaign = h5::get_string_attr(in.file, "campaign");
  in.version = h5::get_string_attr(in.file, "clrp_version");
  in.groups = table_io::table_groups(in.file);
  return in;
}

void require_this_version(const Input& a) {
  if (a.version != CLRP_VERSION)
    throw Error(Where{a.path}, "attribute clrp_version: the store was written by clrp " +
                                   a.version + ", this is clrp " + CLRP_VERSION +
                                   "; merge with the clrp that wrote it");
}

void require_same(const Input& a, const Input& b) {
  const std::string both = a.path + " and " + b.path;
  if (a.version != b.version)
    throw Error("cannot merge " + both + ": attribute clrp_version differs ('" + a.version +
                "' vs '" + b.version + "')");
  if (a.spec_hash != b.spec_hash) {
    const std::string key = first_difference(a.spec_json, b.spec_json);
    throw Error("cannot merge " + both + ": attribute spec_hash differs (" + a.spec_hash + " vs " +
                b.spec_hash + "): they were written by different campaign specs" +
                (key.empty() ? std::string() : " (first difference at spec key '" + key + "')"));
  }
  if (a.groups != b.groups)
    throw Error("cannot merge " + both + ": they hold different tables (" +
                std::to_string(a.groups.size()) + " vs " + std::to_string(b.groups.size()) + ")");
  for (const auto& g : a.groups) {
    h5::Id ga = h5::make(H5Gopen2(a.file, g.c_str(), H5P_DEFAULT), H5Gclose, a.path + ":" + g);
    h5::Id gb = h5::make(H5Gopen2(b.file, g.c_str(), H5P_DEFAULT), H5Gclose, b.path + ":" + g);
    for (const char* attr : {"layout", "checkpoint_path"})
      if (h5::get_string_attr(ga, attr) != h5::get_string_attr(gb, attr))
        throw Error("cannot merge " + both + ": table " + g + ": attribute " + attr + " differs");
  }
}

}  // namespace clrp::store::merge_check
