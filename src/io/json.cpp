#include "clrp/io/json.hpp"

#include "clrp/io/mapped_file.hpp"
#include "clrp/util/error.hpp"

namespace clrp::io {

namespace {
// Offset of the first place where nesting exceeds kMaxJsonDepth, or npos.
std::size_t find_excessive_nesting(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}
}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& file,
                          std::uint64_t base_offset) {
  if (auto at = find_excessive_nesting(text); at != std::string_view::npos)
    throw Error(Where{file, "", base_offset + at},
                "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based and counts from the start of `text`.
    const std::uint64_t at = base_offset + (e.byte > 0 ? e.byte - 1 : 0);
    std::string msg = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix.
    if (auto colon = msg.find(": "); colon != std::string::npos) msg = msg.substr(colon + 2);
    throw Error(Where{file, "", at}, "invalid JSON: " + excerpt(msg, 400));
  } catch (const nlohmann::json::exception& e) {
    // e.g. out_of_range for a number like 1e99999; the parser gives no offset here.
    std::string msg = e.what();
    if (auto space = msg.find("] "); space != std::string::npos) msg = msg.substr(space + 2);
    throw Error(Where{file, "", base_offset}, "invalid JSON: " + excerpt(msg, 400));
  }
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json(read_text_file(path), path, 0);
}

std::string json_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string json_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

}  // namespace clrp::io
