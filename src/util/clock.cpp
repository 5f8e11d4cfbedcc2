#include "clrp/util/clock.hpp"

#include <ctime>

namespace clrp::util {

std::string clock_text() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

}  // namespace clrp::util
