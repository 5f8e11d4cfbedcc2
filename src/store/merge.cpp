#include "clrp/store/merge.hpp"

#include <fcntl.h>
#include <mpi.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "clrp/store/aggregate.hpp"
#include "clrp/store/store.hpp"
#include "clrp/util/error.hpp"
#include "merge_check.hpp"
#include "table_io.hpp"

namespace fs = std::filesystem;

namespace clrp::store {

namespace {

// Cases copied per append: bounds memory whatever the size of a table.
constexpr std::uint64_t kBatchRows = 256;

// The temporary output, for the signal handler (a fixed buffer: only
// async-signal-safe calls happen there).
char g_tmp_path[4096] = {0};
extern "C" void on_merge_signal(int) {
  if (g_tmp_path[0] != '\0') ::unlink(g_tmp_path);
  ::_exit(75);  // EX_TEMPFAIL, like `clrp run`: run the merge again
}

// Removes the temporary file on every way out but success and SIGKILL.
class TmpGuard {
 public:
  explicit TmpGuard(std::string path) : path_(std::move(path)) {
    std::snprintf(g_tmp_path, sizeof g_tmp_path, "%s", path_.c_str());
    struct sigaction sa {};
    sa.sa_handler = on_merge_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGINT, &sa, &old_int_);
  }
  ~TmpGuard() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    g_tmp_path[0] = '\0';
    if (!kept_) {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
  struct sigaction old_term_ {
  }, old_int_{};
};

// An advisory lock (flock) on a file, held while the object lives. Best
// effort: where the file system has no flock the sweep also leaves files alone
// (it removes only files it could lock).
class LockFd {
 public:
  explicit LockFd(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX | LOCK_NB);
  }
  ~LockFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  LockFd(const LockFd&) = delete;
  LockFd& operator=(const LockFd&) = delete;

 private:
  int fd_;
};

// Test hook: a pause after every table, so that tests can kill a merge midway.
int test_delay_ms() {
  const char* v = std::getenv("CLRP_TEST_MERGE_DELAY_MS");
  return v != nullptr ? std::atoi(v) : 0;
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// The temporary output is OUT.tmp-<host>-<pid>: the host, because OUT may sit
// on a file system that merges on other nodes share, so a pid alone says
// nothing about whether the writer still lives.
std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string tmp_prefix(const std::string& output) {
  return fs::path(output).filename().string() + ".tmp-" + host_name() + "-";
}

// Temporary outputs of earlier merges on this host whose process is gone (a
// merge killed with SIGKILL cannot remove its own): removed, and each one
// reported, before this merge starts.
void remove_stale_tmp(const std::string& output,
                      const std::function<void(const std::string&)>& progress) {
  const fs::path dir =
      fs::path(output).parent_path().empty() ? fs::path(".") : fs::path(output).parent_path();
  const std::string prefix = tmp_prefix(output);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or unknown
    // A pid can be dead here and alive in another pid namespace (a container
    // with this host's name on the same file system): the writer's lock says.
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const bool unlocked = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    const bool removed = unlocked && fs::remove(entry.path(), ec);
    ::close(fd);
    if (removed && progress)
      progress("removed " + entry.path().string() + ", left by an interrupted merge (pid " +
               pid_text + ")");
  }
}

}  // namespace

MergeResult merge_stores(const std::string& output, const std::vector<std::string>& inputs,
                         const std::function<void(const std::string&)>& progress) {
  h5::quiet();
  if (inputs.empty()) throw Error("clrp merge: no input stores");
  if (fs::exists(output))
    throw Error(Where{output},
                "the output exists; merge into a new path (inputs are never "
                "overwritten)");
  std::set<fs::path> seen;
  for (const auto& in : inputs) {
    if (!seen.insert(fs::weakly_canonical(in)).second)
      throw Error(Where{in}, "given twice: every input's cases would be stored twice");
    if (fs::weakly_canonical(in) == fs::weakly_canonical(output))
      throw Error(Where{in}, "the output cannot be one of the inputs");
  }

  // Every check before the first byte is written.
  std::vector<merge_check::Input> in;
  in.reserve(inputs.size());
  for (const auto& p : inputs)
    in.push_back(merge_check::open_input(p));
  merge_check::require_this_version(in[0]);
  for (std::size_t i = 1; i < in.size(); ++i)
    merge_check::require_same(in[0], in[i]);

  std::vector<TableInfo> tables;
  std::vector<std::uint64_t> failed(in[0].groups.size(), 0);
  std::vector<std::map<std::string, std::size_t>> evaluated_by(in[0].groups.size());
  std::vector<std::vector<PairNotCarried>> not_carried(in[0].groups.size());  // union of inputs
  // Which input holds each case id of each table: a case twice is refused.
  for (std::size_t ti = 0; ti < in[0].groups.size(); ++ti) {
    const std::string& g = in[0].groups[ti];
    std::map<std::string, std::size_t> owner;
    for (std::size_t k = 0; k < in.size(); ++k) {
      h5::Id group = h5::make(H5Gopen2(in[k].file, g.c_str(), H5P_DEFAULT), H5Gclose, g);
      if (k == 0) tables.push_back(table_io::read_table_info(group));
      const auto c = table_io::read_committed(group);
      failed[ti] += c.failed;
      for (const auto& r : table_io::read_case_ids(group, c)) {
        auto [it, inserted] = owner.emplace(r, k);
        if (!inserted)
          throw Error("cannot merge: case '" + r + "' of table " + g + " is in both " +
                      in[it->second].path + " and " + in[k].path);
      }
      // A benchmark table's planned cases are known to the runs that
      // evaluated it: the largest count any input recorded.
      const TableInfo info = table_io::read_table_info(group);
      tables[ti].planned_rows = std::max(tables[ti].planned_rows, info.planned_rows);
      for (auto& n : table_io::read_pairs_not_carried(group))
        if (std::none_of(not_carried[ti].begin(), not_carried[ti].end(),
                         [&](const PairNotCarried& m) { return m.case_id == n.case_id; }))
          not_carried[ti].push_back(std::move(n));
      for (const auto& e : table_io::read_evaluations(group, info, 0))
        if (!evaluated_by[ti].emplace(e.case_id, k).second)
          throw Error("cannot merge: item '" + e.case_id + "' of table " + g +
                      " was evaluated in both " + in[evaluated_by[ti][e.case_id]].path + " and " +
                      in[k].path);
    }
  }

  remove_stale_tmp(output, progress);
  const std::string tmp =
      (fs::path(output).parent_path() / tmp_prefix(output)).string() + std::to_string(::getpid());
  TmpGuard guard(tmp);
  std::optional<LockFd> lock;
  MergeResult result;
  result.tables = tables.size();
  result.cases_per_input.assign(in.size(), 0);
  {
    const StoreIdentity id{in[0].spec_json, in[0].spec_hash, in[0].campaign};
    Store out = Store::create(tmp, MPI_COMM_SELF, id, tables);
    // Held until the merge has renamed its output: another merge's
    // stale-file sweep sees it and leaves the file alone.
    lock.emplace(tmp);
    const int delay = test_delay_ms();
    for (std::size_t ti = 0; ti < tables.size(); ++ti) {
      const std::string& g = in[0].groups[ti];
      std::uint64_t copied = 0;
      for (std::size_t k = 0; k < in.size(); ++k) {
        h5::Id group = h5::make(H5Gopen2(in[k].file, g.c_str(), H5P_DEFAULT), H5Gclose, g);
        const std::uint64_t rows = table_io::read_committed(group).of(schema::Rows::Case);
        for (std::uint64_t r0 = 0; r0 < rows; r0 += kBatchRows) {
          const std::uint64_t n = std::min(kBatchRows, rows - r0);
          out.append(
              table_io::read_records(group, tables[ti], static_cast<std::uint32_t>(ti), r0, n));
        }
        copied += rows;
        result.cases_per_input[k] += rows;
        out.append(table_io::read_evaluations(group, tables[ti], static_cast<std::uint32_t>(ti)));
      }
      result.cases += copied;
      // A failure count can only be as large as what is missing.
      const std::uint64_t missing =
          tables[ti].planned_rows > copied ? tables[ti].planned_rows - copied : 0;
      failed[ti] = std::min(failed[ti], missing);
      if (progress) progress("table " + g + ": " + std::to_string(copied) + " cases");
      if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
    out.commit();
    std::vector<std::int64_t> f(failed.begin(), failed.end());
    out.set_failed_rows(f);
    out.set_pairs_not_carried(not_carried);
    write_aggregates(out);
    out.close();
  }
  fsync_path(tmp);
  // No-replace rename: an output that appeared meanwhile is not clobbered.
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, output.c_str(), RENAME_NOREPLACE) != 0)
    throw Error(Where{output},
                std::string("cannot move the merged store into place: ") + std::strerror(errno));
  guard.keep();
  fsync_path(fs::path(output).parent_path().empty() ? "."
                                                    : fs::path(output).parent_path().string());
  return result;
}

}  // namespace clrp::store
