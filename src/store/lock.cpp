#include "clrp/store/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "clrp/util/error.hpp"

namespace clrp::store {

StoreLock::StoreLock(const std::string& store_path) : path_(store_path + ".lock") {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(Where{path_}, std::string("cannot open the lock file: ") + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[512] = {0};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    throw Error(Where{store_path}, "the store is being written by another campaign (" +
                                       std::string(n > 0 ? holder : "holder unknown") +
                                       "); wait for it to finish or stop it first");
  }
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  const std::string who = "pid " + std::to_string(::getpid()) + " on " + host + ", since " + when;
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] auto w = ::pwrite(fd_, who.data(), who.size(), 0);
  }
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) {
    [[maybe_unused]] auto t = ::ftruncate(fd_, 0);
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace clrp::store
