#include "clrp/campaign/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "clrp/util/clock.hpp"

namespace clrp::campaign {

Progress::Progress(std::string phase, std::uint64_t total)
    : phase_(std::move(phase)),
      total_(total),
      start_(util::steady_seconds()),
      tty_(::isatty(2) != 0) {}

void Progress::show(std::uint64_t done, std::uint64_t failed, bool final) {
  const double t = util::steady_seconds();
  if (!final && t - last_ < (tty_ ? 0.5 : 10.0)) return;
  last_ = t;
  const double elapsed = std::max(1e-9, t - start_);
  const double rate = static_cast<double>(done + failed) / elapsed;
  const double left = static_cast<double>(total_ - std::min(total_, done + failed));
  const double eta = rate > 0 ? left / rate : 0;
  char buf[256];
  if (tty_) {
    const int width = 30;
    const int fill = total_ ? static_cast<int>(width * (done + failed) / total_) : width;
    std::string bar(static_cast<std::size_t>(fill), '#');
    bar.resize(width, ' ');
    std::snprintf(buf, sizeof buf, "\r%s [%s] %llu/%llu done, %llu failed, %.2f/s, ETA %.0fs ",
                  phase_.c_str(), bar.c_str(), static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(total_), static_cast<unsigned long long>(failed),
                  rate, eta);
    std::fputs(buf, stderr);
    if (final) std::fputs("\n", stderr);
  } else {
    std::snprintf(buf, sizeof buf,
                  "%s progress: %s %llu/%llu done, %llu failed, %.2f/s, ETA %.0fs\n",
                  util::clock_text().c_str(), phase_.c_str(), static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(total_), static_cast<unsigned long long>(failed),
                  rate, eta);
    std::fputs(buf, stdout);
    std::fflush(stdout);
  }
}

}  // namespace clrp::campaign
