#include "clrp/util/byte_size.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "clrp/util/error.hpp"

namespace clrp {

std::int64_t parse_byte_size(const std::string& text) {
  auto bad = [&] {
    return Error("'" + text + "' is not a memory size (examples: 4G, 512M, 1.5GiB, 1048576)");
  };
  const char* begin = text.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value) || value <= 0) throw bad();
  std::string unit(end);
  for (char& ch : unit)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (!unit.empty() && unit.back() == 'I') unit.pop_back();
  double scale = 1;
  if (unit == "K")
    scale = 1024.0;
  else if (unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "T")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    throw bad();
  const double bytes = value * scale;
  if (bytes < 1 || bytes > 9.0e18) throw bad();
  return static_cast<std::int64_t>(bytes);
}

std::string format_byte_size(std::int64_t bytes) {
  char buf[32];
  const auto b = static_cast<double>(bytes);
  if (bytes < 1024)
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else if (bytes < (std::int64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  else if (bytes < (std::int64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1 << 30));
  return buf;
}

std::string format_whole_mib(std::int64_t bytes) {
  char buf[32];
  const auto b = static_cast<double>(bytes);
  if (bytes >= (std::int64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%.0f MiB", b / (1 << 20));
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024);
  else
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

}  // namespace clrp
