// Test tool: clrp's IFEval judge on explicit responses (test_ifeval.py).
//
// Reads JSON lines {"prompt", "response", "instructions": [{"id", "kwargs"}]}
// from stdin and writes one line per request: {"strict": [...], "loose": [...]}
// or {"error": "..."} when clrp refuses it. Responses travel as JSON strings,
// so a test can send any text, invalid UTF-8 aside. With --python the checker
// runs under that interpreter, with --timeout its per-verdict limit.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "clrp/judge/instruction_judge.hpp"
#include "clrp/util/error.hpp"

int main(int argc, char** argv) {
  clrp::judge::InstructionJudgeOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--python") options.python = argv[i + 1];
    if (flag == "--timeout") options.timeout_seconds = std::stod(argv[i + 1]);
  }
  clrp::judge::InstructionJudge judge(options);
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::json reply;
    try {
      const nlohmann::json request = nlohmann::json::parse(line);
      std::vector<clrp::judge::Instruction> instructions;
      for (const auto& i : request.at("instructions"))
        instructions.push_back(
            {i.at("id").get<std::string>(), i.value("kwargs", nlohmann::json::object())});
      const auto v = judge.judge(request.at("prompt").get<std::string>(),
                                 request.at("response").get<std::string>(), instructions);
      reply = {{"strict", v.strict}, {"loose", v.loose}};
    } catch (const std::exception& e) {
      reply = {{"error", e.what()}};
    }
    std::cout << reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  }
  return 0;
}
