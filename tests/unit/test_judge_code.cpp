// Code judging: HumanEval- and MBPP-shaped problems run in the sandbox.
// Correct programs pass; wrong answers, syntax errors, early exits,
// endless loops and missing entry points fail with a reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "clrp/judge/code_judge.hpp"
#include "clrp/util/error.hpp"

namespace {

using namespace clrp::judge;

const char* python() {
  const char* p = std::getenv("CLRP_SANDBOX_PYTHON");
  return p != nullptr ? p : "/usr/bin/python3";
}

#define REQUIRE_PYTHON() \
  if (access(python(), X_OK) != 0) GTEST_SKIP() << python() << " is not available"

CodeJudgeOptions fast() {
  CodeJudgeOptions o;
  o.python = python();
  o.limits.wall_seconds = 2.0;
  o.limits.cpu_seconds = 2.0;
  return o;
}

// HumanEval/0, verbatim in shape: prompt, test, entry point.
const char* kPrompt = R"(from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    """
)";

const char* kTest = R"(

METADATA = {
    'author': 'jt',
    'dataset': 'test'
}


def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False
)";

const char* kCorrect = R"(    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True

    return False
)";

CodeVerdict humaneval(const std::string& completion,
                      const std::string& entry = "has_close_elements") {
  return run_code_judge(humaneval_harness(std::string(kPrompt) + completion, kTest, entry), fast());
}

TEST(JudgeCode, HarnessText) {
  EXPECT_EQ(humaneval_harness("def f(): return 1", "def check(c): assert c() == 1", "f"),
            "def f(): return 1\n\ndef check(c): assert c() == 1\n\ncheck(f)\n");
  EXPECT_EQ(mbpp_harness("def f(x): return x", {"assert f(1) == 1", "assert f(2) == 2"}),
            "def f(x): return x\n\nassert f(1) == 1\nassert f(2) == 2\n");
  EXPECT_EQ(mbpp_harness("p", {"assert p"}, "import math"), "import math\n\np\n\nassert p\n");
}

TEST(JudgeCode, ExtractCodeBlock) {
  EXPECT_EQ(extract_code_block("Here you go:\n```python\ndef f():\n    return 1\n```\nDone."),
            "def f():\n    return 1\n");
  EXPECT_EQ(extract_code_block("```\nx = 1\n```"), "x = 1\n");
  EXPECT_EQ(extract_code_block("```py\nx = 2\n"), "x = 2\n");  // unterminated: to the end
  EXPECT_EQ(extract_code_block("def g(): pass"), "def g(): pass");
}

TEST(JudgeCode, HumanEvalCorrectCompletionPasses) {
  REQUIRE_PYTHON();
  const CodeVerdict v = humaneval(kCorrect);
  EXPECT_TRUE(v.passed) << v.reason << "\n" << v.run.stderr_text;
  EXPECT_EQ(v.reason, "passed");
}

TEST(JudgeCode, HumanEvalWrongCompletionFails) {
  REQUIRE_PYTHON();
  // Off by one: <= instead of <, and a wrong default.
  const CodeVerdict v = humaneval("    return len(numbers) > 5\n");
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.reason.find("AssertionError"), std::string::npos) << v.reason;
  EXPECT_TRUE(v.run.exited);
}

TEST(JudgeCode, SyntaxErrorFails) {
  REQUIRE_PYTHON();
  const CodeVerdict v = humaneval("    return (((\n");
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.reason.find("SyntaxError"), std::string::npos) << v.reason;
}

TEST(JudgeCode, EarlyExitIsNotAPass) {
  REQUIRE_PYTHON();
  const CodeVerdict a = humaneval("    return True\nimport sys\nsys.exit(0)\n");
  EXPECT_FALSE(a.passed) << a.reason;
  EXPECT_NE(a.reason.find("exit(0)"), std::string::npos) << a.reason;
  const CodeVerdict b = humaneval("    return True\nexit()\n");
  EXPECT_FALSE(b.passed) << b.reason;
}

TEST(JudgeCode, MainBlockDoesNotRun) {
  REQUIRE_PYTHON();
  // A completion that reads stdin under __main__ would fail if it ran.
  const CodeVerdict v =
      humaneval(std::string(kCorrect) + "\nif __name__ == '__main__':\n    input()\n");
  EXPECT_TRUE(v.passed) << v.reason << "\n" << v.run.stderr_text;
}

TEST(JudgeCode, EndlessLoopTimesOut) {
  REQUIRE_PYTHON();
  const CodeVerdict v = humaneval("    while True:\n        pass\n");
  EXPECT_FALSE(v.passed);
  EXPECT_TRUE(v.run.timed_out || v.run.cpu_limited) << v.reason;
  EXPECT_LT(v.run.wall_seconds, 3.0);
}

TEST(JudgeCode, MissingEntryPointFails) {
  REQUIRE_PYTHON();
  const CodeVerdict v = humaneval(kCorrect, "has_close_elementz");
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.reason.find("NameError"), std::string::npos) << v.reason;
}

TEST(JudgeCode, Mbpp) {
  REQUIRE_PYTHON();
  // MBPP/2 in shape.
  const std::vector<std::string> asserts = {
      "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
      "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))",
      "assert set(similar_elements((11, 12, 14, 13),(17, 15, 14, 13))) == set((13, 14))"};
  const std::string good =
      "def similar_elements(test_tup1, test_tup2):\n"
      "  res = tuple(set(test_tup1) & set(test_tup2))\n"
      "  return (res) \n";
  const std::string bad =
      "def similar_elements(a, b):\n"
      "  return tuple(set(a) | set(b))\n";
  EXPECT_TRUE(run_code_judge(mbpp_harness(good, asserts), fast()).passed);
  const CodeVerdict v = run_code_judge(mbpp_harness(bad, asserts), fast());
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.reason.find("AssertionError"), std::string::npos) << v.reason;
  // test_setup_code runs first.
  EXPECT_TRUE(
      run_code_judge(
          mbpp_harness("def f():\n  return math.pi > 3\n", {"assert f()"}, "import math"), fast())
          .passed);
}

TEST(JudgeCode, HostileCompletionIsContained) {
  REQUIRE_PYTHON();
  const CodeVerdict v = humaneval(
      "    import socket\n"
      "    socket.create_connection(('1.1.1.1', 53), timeout=0.5)\n"
      "    return True\n");
  EXPECT_FALSE(v.passed) << v.reason;
  EXPECT_TRUE(v.reason.find("PermissionError") != std::string::npos ||
              v.reason.find("OSError") != std::string::npos ||
              v.reason.find("unreachable") != std::string::npos)
      << v.reason;
}

TEST(JudgeCode, RequireIsolation) {
  REQUIRE_PYTHON();
  CodeJudgeOptions o = fast();
  o.require_isolation = true;
  const std::string harness =
      humaneval_harness(std::string(kPrompt) + kCorrect, kTest, "has_close_elements");
  const auto& ns = available_namespaces();
  if (ns.mount_namespace) {
    EXPECT_TRUE(run_code_judge(harness, o).passed);
  }
  // Without the seccomp filter it must refuse, network namespace or not: the
  // namespace leaves host Unix sockets bound to a path reachable.
  o.limits.block_sockets = false;
  EXPECT_THROW(run_code_judge(harness, o), clrp::Error);
}

}  // namespace
