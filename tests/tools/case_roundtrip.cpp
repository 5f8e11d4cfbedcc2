// Test tool for tests/oracle/test_prepare_cases.py: reads a case file with
// clrp's reader, writes it again with clrp's writer, and prints what C++ saw.
//
//   clrp_case_roundtrip IN.jsonl OUT.jsonl [--skip]
//
// stdout: one JSON object per case: id, format, prompt size in bytes and code
// points, segment spans and evidence spans (byte offsets into the prompt);
// then a last line {"summary": "..."} with the reader's counts. Exit status 2
// with the message on stderr when the reader refuses a line (without --skip).
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "clrp/cases/case_file.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: clrp_case_roundtrip IN.jsonl OUT.jsonl [--skip]\n";
    return 1;
  }
  try {
    clrp::cases::ReadOptions options;
    if (argc > 3 && std::strcmp(argv[3], "--skip") == 0)
      options.on_error = clrp::cases::OnError::skip;
    clrp::cases::CaseReader reader(argv[1], options);
    clrp::cases::CaseWriter writer(argv[2]);
    while (auto c = reader.next()) {
      nlohmann::json line;
      line["id"] = c->id;
      line["format"] = std::string(clrp::cases::name(c->format));
      line["prompt_bytes"] = c->prompt.size();
      line["prompt_chars"] = c->segments.empty() ? 0 : c->segments.back().span.chars.end;
      for (const auto& s : c->segments)
        line["segments"].push_back(
            {std::string(clrp::cases::name(s.kind)), s.span.bytes.begin, s.span.bytes.end});
      line["evidence"] = nlohmann::json::array();
      for (const auto& e : c->evidence)
        line["evidence"].push_back({e.bytes.begin, e.bytes.end});
      line["correct"] = clrp::cases::correct_continuation(*c);
      std::cout << line.dump() << '\n';
      writer.write(*c);
    }
    writer.commit();
    std::cout << nlohmann::json{{"summary", reader.counts().summary()},
                                {"skipped", reader.counts().skipped}}
                     .dump()
              << '\n';
    return 0;
  } catch (const clrp::Error& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
}
