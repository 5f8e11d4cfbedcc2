// Judging generated code by running it (HumanEval, MBPP).
//
// The harness is one Python script: the program (for HumanEval the prompt
// followed by the model's completion; for MBPP the model's code), then the
// benchmark's tests, then the call that runs them. It runs in the sandbox
// (sandbox.hpp) with python3; it passes when it exits with status 0 within
// the limits. Anything else (an assertion, a syntax error, a timeout, a
// limit) fails, and the sandbox result says which.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "clrp/judge/sandbox.hpp"

namespace clrp::judge {

/// How code is run.
struct CodeJudgeOptions {
  /// The interpreter. As root the sandbox runs under an unprivileged uid,
  /// so it must be readable and executable by anyone: /usr/bin/python3
  /// works, a virtual environment under /root does not.
  std::string python = "/usr/bin/python3";
  SandboxLimits limits = default_code_limits();
  /// Throw clrp::Error instead of giving a verdict unless the network was
  /// blocked (namespace or seccomp) and the program could not write outside
  /// its directory (a mount namespace with a read-only root).
  bool require_isolation = false;

  /// HumanEval's reference harness allows 3 s per problem; 10 s of wall
  /// time leaves room for interpreter start-up on a loaded machine.
  static SandboxLimits default_code_limits() {
    SandboxLimits l;
    l.wall_seconds = 10.0;
    l.cpu_seconds = 10.0;
    l.memory_bytes = std::uint64_t{2} << 30;
    return l;
  }
};

/// The outcome of one program against its tests.
struct CodeVerdict {
  bool passed = false;
  std::string reason;  ///< "passed", "exit 1: AssertionError", "timed out", ...
  SandboxResult run;
};

/// HumanEval: program, the test code (defines check(candidate)), then
/// "check(<entry_point>)".
std::string humaneval_harness(std::string_view program, std::string_view test,
                              std::string_view entry_point);

/// MBPP: optional setup code, the program, then the assert lines.
std::string mbpp_harness(std::string_view program, const std::vector<std::string>& asserts,
                         std::string_view setup = {});

/// The code in a chat answer: the first ```python (or ```py, or bare ```)
/// fenced block; the whole text when there is no fence.
std::string extract_code_block(std::string_view generation);

/// Runs a harness script in the sandbox.
CodeVerdict run_code_judge(const std::string& harness, const CodeJudgeOptions& options = {});

}  // namespace clrp::judge
