#include "clrp/util/project_venv.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "clrp/util/error.hpp"

namespace fs = std::filesystem;

namespace clrp::util {

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

std::vector<fs::path> project_venvs() {
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      if (fs::is_directory(dir / ".venv", ec)) out.push_back(dir / ".venv");
  if (const char* venv = std::getenv("VIRTUAL_ENV"); venv != nullptr && *venv != '\0')
    if (fs::is_directory(venv, ec)) out.emplace_back(venv);
  return out;
}

std::optional<std::string> find_python_with(const std::filesystem::path& package) {
  if (const char* env = std::getenv("CLRP_PYTHON"); env != nullptr && *env != '\0') {
    if (::access(env, X_OK) != 0)
      throw Error(Where{env}, "CLRP_PYTHON does not name an executable file");
    return fs::absolute(env).string();
  }
  for (const fs::path& venv : project_venvs()) {
    const fs::path python = venv / "bin" / "python";
    for (const fs::path& sp : venv_site_packages(venv)) {
      std::error_code ec;
      if (fs::is_directory(sp / package, ec) && ::access(python.c_str(), X_OK) == 0)
        return python.string();
    }
  }
  return std::nullopt;
}

std::optional<std::string> find_on_path(std::string_view program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  const std::string_view all(path);
  for (std::size_t from = 0; from <= all.size();) {
    const std::size_t to = std::min(all.find(':', from), all.size());
    const std::string_view dir = all.substr(from, to - from);
    if (!dir.empty()) {
      const fs::path candidate = fs::path(dir) / program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    from = to + 1;
  }
  return std::nullopt;
}

}  // namespace clrp::util
