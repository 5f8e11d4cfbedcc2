#include "clrp/judge/code_judge.hpp"

#include "clrp/util/error.hpp"

namespace clrp::judge {

namespace {

// Runs solution.py as the HumanEval reference harness does, with exec():
// an exit() or sys.exit(0) in the model's code ends the run as a failure,
// not as a pass before the tests ran, and `if __name__ == "__main__":`
// blocks in completions stay unexecuted. (Code that calls os._exit(0) on
// purpose still "passes"; no in-process harness prevents that.)
constexpr const char* kRunner = R"(import sys, traceback
with open("solution.py", encoding="utf-8") as f:
    source = f.read()
try:
    exec(compile(source, "solution.py", "exec"), {"__name__": "solution"})
except SystemExit as e:
    print("clrp: the program called exit(%r) before its tests finished" % (e.code,), file=sys.stderr)
    sys.exit(1)
except BaseException:
    traceback.print_exc()
    sys.exit(1)
)";

// The last non-empty line of a traceback names the exception: the most
// useful one-line reason.
std::string last_line(const std::string& text) {
  std::size_t end = text.size();
  while (end > 0) {
    const std::size_t start = text.rfind('\n', end - 1);
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    if (end > from) {
      std::string line = text.substr(from, end - from);
      if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
    }
    if (start == std::string::npos) break;
    end = start;
  }
  return "";
}

}  // namespace

std::string humaneval_harness(std::string_view program, std::string_view test,
                              std::string_view entry_point) {
  std::string out(program);
  out += "\n\n";
  out += test;
  out += "\n\ncheck(";
  out += entry_point;
  out += ")\n";
  return out;
}

std::string mbpp_harness(std::string_view program, const std::vector<std::string>& asserts,
                         std::string_view setup) {
  std::string out;
  if (!setup.empty()) {
    out += setup;
    out += "\n\n";
  }
  out += program;
  out += "\n\n";
  for (const std::string& a : asserts) {
    out += a;
    out += '\n';
  }
  return out;
}

std::string extract_code_block(std::string_view generation) {
  const std::size_t fence = generation.find("```");
  if (fence == std::string_view::npos) return std::string(generation);
  // Skip the language tag, whatever it is, to the end of the fence line.
  std::size_t body = generation.find('\n', fence + 3);
  if (body == std::string_view::npos) return "";
  ++body;
  const std::size_t close = generation.find("```", body);
  return std::string(
      generation.substr(body, close == std::string_view::npos ? close : close - body));
}

CodeVerdict run_code_judge(const std::string& harness, const CodeJudgeOptions& options) {
  SandboxRequest request;
  // -I: isolated mode (no user site, no PYTHON* variables, script dir not
  // trusted); -B: no .pyc files to write.
  request.argv = {options.python, "-I", "-B", "runner.py"};
  request.files = {{"solution.py", harness, false}, {"runner.py", kRunner, false}};
  request.limits = options.limits;

  CodeVerdict v;
  v.run = run_sandboxed(request);
  const Isolation& iso = v.run.isolation;
  if (options.require_isolation) {
    // The filter is what keeps host Unix sockets (bound to a path, visible
    // through the read-only root) out of reach; the network namespace does not.
    const bool sockets = iso.seccomp_no_sockets;
    const bool filesystem = iso.mount_namespace && iso.read_only_root;
    if (!sockets || !filesystem) {
      throw Error("code judge: isolation required but only [" + iso.summary() +
                  "] was available; refusing to trust the result");
    }
  }
  v.passed = v.run.success();
  if (v.passed) {
    v.reason = "passed";
  } else if (v.run.timed_out) {
    v.reason = "timed out";
  } else {
    v.reason = v.run.describe();
    const std::string err = last_line(v.run.stderr_text);
    if (!err.empty()) v.reason += ": " + err;
  }
  return v;
}

}  // namespace clrp::judge
