#include "clrp/io/json.hpp"

#include <map>
#include <set>
#include <vector>

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

// Offset in `text` of the `nth` (1-based) occurrence of `key` written as an
// object key (its JSON spelling followed by optional whitespace and ':'), or
// npos when the file spells it differently (e.g. with \u escapes).
std::size_t find_key_occurrence(std::string_view text, const std::string& key, int nth) {
  const std::string quoted = nlohmann::json(key).dump();
  for (std::size_t at = text.find(quoted); at != std::string_view::npos;
       at = text.find(quoted, at + 1)) {
    std::size_t after = at + quoted.size();
    while (after < text.size() && (text[after] == ' ' || text[after] == '\t' ||
                                   text[after] == '\n' || text[after] == '\r'))
      ++after;
    if (after < text.size() && text[after] == ':' && --nth == 0) return at;
  }
  return std::string_view::npos;
}

// Parser callback state for DuplicateKeys::Refuse: the keys seen in each open object.
class DuplicateKeyCheck {
 public:
  DuplicateKeyCheck(std::string_view text, const std::string& file, std::uint64_t base_offset)
      : text_(text), file_(file), base_offset_(base_offset) {}

  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) {
      open_.push_back(Frame{});
    } else if (event == E::object_end) {
      open_.pop_back();
      if (!open_.empty()) open_.back().current.clear();
    } else if (event == E::key && !open_.empty()) {
      std::string key = parsed.get<std::string>();
      const int nth = ++times_seen_[key];
      if (!open_.back().keys.insert(key).second) {
        std::string path;
        for (std::size_t i = 0; i + 1 < open_.size(); ++i)
          path = json_path(path, open_[i].current);
        path = json_path(path, key);
        const std::size_t at = find_key_occurrence(text_, key, nth);
        throw Error(Where{file_, path, base_offset_ + (at == std::string_view::npos ? 0 : at)},
                    "duplicate key '" + key +
                        "' in one JSON object (refused: readers disagree "
                        "on which value counts)");
      }
      open_.back().current = std::move(key);
    }
    return true;
  }

 private:
  struct Frame {
    std::set<std::string> keys;
    std::string current;  // the key whose value is being parsed
  };
  std::string_view text_;
  const std::string& file_;
  std::uint64_t base_offset_;
  std::vector<Frame> open_;
  std::map<std::string, int> times_seen_;
};
}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& file, std::uint64_t base_offset,
                          DuplicateKeys duplicates) {
  if (auto at = find_excessive_nesting(text); at != std::string_view::npos)
    throw Error(Where{file, "", base_offset + at},
                "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    if (duplicates == DuplicateKeys::Refuse)
      return nlohmann::json::parse(text.begin(), text.end(),
                                   DuplicateKeyCheck(text, file, base_offset));
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
