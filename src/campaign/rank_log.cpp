#include "clrp/campaign/rank_log.hpp"

#include "clrp/util/clock.hpp"

namespace clrp::campaign {

RankLog::RankLog(const std::string& path) : out_(path, std::ios::app) {}

void RankLog::write(const std::string& text) {
  std::lock_guard<std::mutex> g(mu_);
  out_ << util::clock_text() << " " << text << "\n";
  out_.flush();
}

}  // namespace clrp::campaign
