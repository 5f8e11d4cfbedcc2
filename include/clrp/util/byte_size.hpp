// Memory sizes as users write them: "4G", "512MiB", "1.5GB", "1048576".
#pragma once

#include <cstdint>
#include <string>

namespace clrp {

/// Parses a byte count with an optional unit K, M, G, T (powers of 1024; "KB",
/// "KiB", "MB", "MiB"… mean the same), case-insensitive. Throws clrp::Error
/// naming the text when it is not a positive size.
std::int64_t parse_byte_size(const std::string& text);

/// A byte count for people: "512 B", "12.0 KiB", "340.5 MiB", "1.50 GiB".
std::string format_byte_size(std::int64_t bytes);

/// Whole MiB from 1 MiB up ("340 MiB", "2048 MiB"), else whole KiB or bytes
/// ("12 KiB", "512 B"): a small size never reads "0 MiB".
std::string format_whole_mib(std::int64_t bytes);

}  // namespace clrp
