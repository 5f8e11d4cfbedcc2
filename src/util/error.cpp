#include "clrp/util/error.hpp"

#include <utility>

namespace clrp {

std::string Where::describe() const {
  std::string out = file;
  auto sep = [&out] { out += out.empty() ? "" : ": "; };
  if (line) {
    sep();
    out += "line " + std::to_string(*line);
  }
  if (offset) {
    sep();
    out += "byte offset " + std::to_string(*offset);
  }
  if (!field.empty()) {
    sep();
    out += "field '" + field + "'";
  }
  return out;
}

Error::Error(const std::string& message) : std::runtime_error(message), bare_(message) {}

Error::Error(Where where, const std::string& message)
    : std::runtime_error(where.describe().empty() ? message : where.describe() + ": " + message),
      where_(std::move(where)),
      bare_(message) {}

}  // namespace clrp
