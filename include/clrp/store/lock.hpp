// One writer campaign per store: an exclusive flock on "<store>.lock", held
// for the whole run by rank 0. The kernel drops it when the process dies (even
// by kill -9), so a crashed campaign never leaves a stale lock behind; the file
// records who holds it, for the message a second campaign gets.
#pragma once

#include <string>

namespace clrp::store {

class StoreLock {
 public:
  /// Takes the lock or throws clrp::Error naming the holder (pid, host, start time).
  explicit StoreLock(const std::string& store_path);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace clrp::store
