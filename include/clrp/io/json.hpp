// Parsing untrusted JSON (safetensors headers, tokenizer.json, config.json,
// case files) with errors that name the file and byte offset.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace clrp::io {

/// Deepest nesting accepted. nlohmann's parser recurses per level, so a file of
/// a million '[' would otherwise exhaust the stack.
inline constexpr int kMaxJsonDepth = 256;

/// What parse_json does with a key that appears twice in one object.
enum class DuplicateKeys {
  LastWins,  ///< nlohmann's (and Python's json) behaviour: the later value replaces the earlier
  Refuse,    ///< a clrp::Error naming the key path and the byte offset of its second occurrence
};

/// Parses `text` (found in `file` at byte `base_offset`). Throws clrp::Error with
/// the absolute byte offset of a syntax error or of excessive nesting, and, with
/// DuplicateKeys::Refuse, of a key repeated within one object.
nlohmann::json parse_json(std::string_view text, const std::string& file,
                          std::uint64_t base_offset = 0,
                          DuplicateKeys duplicates = DuplicateKeys::LastWins);

/// Reads and parses a JSON file.
nlohmann::json read_json_file(const std::string& path);

/// "a.b[3].c"-style path join for messages.
std::string json_path(const std::string& parent, const std::string& key);
std::string json_path(const std::string& parent, std::size_t index);

}  // namespace clrp::io
