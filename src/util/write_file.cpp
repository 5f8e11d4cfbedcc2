#include "clrp/util/write_file.hpp"

#include <fstream>

#include "clrp/util/error.hpp"

namespace clrp {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(Where{path}, "cannot open for writing");
  f << content;
  // Flushing here turns a full disk into an error instead of a short file.
  if (!f.flush()) throw Error(Where{path}, "write failed");
}

}  // namespace clrp
