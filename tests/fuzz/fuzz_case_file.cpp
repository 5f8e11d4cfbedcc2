// libFuzzer target: arbitrary bytes as a case file (docs/cases.md). The reader,
// skipping bad lines, must either return valid cases or count every line it
// refused, never crash; and every case it returns must write out as a line
// that reads back as the same line (the failure files clrp writes are case
// files that clrp reads again).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "clrp/cases/case_file.hpp"
#include "clrp/util/error.hpp"
#include "mem_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static clrp::fuzz::MemFile file("fuzz-cases");
  file.write(data, size);
  clrp::cases::ReadOptions options;
  options.on_error = clrp::cases::OnError::skip;
  try {
    clrp::cases::ReadCounts counts;
    for (const clrp::cases::Case& c : clrp::cases::read_cases(file.path, options, &counts)) {
      const std::string line = clrp::cases::case_to_json_line(c);
      const auto again =
          clrp::cases::case_from_json(nlohmann::json::parse(line), clrp::Where{"again"});
      if (clrp::cases::case_to_json_line(again) != line) std::abort();  // not a fixed point
    }
  } catch (const clrp::Error&) {
    // refused with a message (a file that cannot be read, meta that cannot be written): fine
  }
  return 0;
}
