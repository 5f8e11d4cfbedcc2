// Writing an output file the commands produce (a JSON explanation, an HTML
// page) in one call, with failures that name the file.
#pragma once

#include <string>

namespace clrp {

/// Writes `content` to `path` as is (binary, replacing the file). Throws
/// clrp::Error naming the path when the file cannot be opened or written.
void write_file(const std::string& path, const std::string& content);

}  // namespace clrp
