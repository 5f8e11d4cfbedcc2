#include "clrp/util/project_venv.hpp"

#include <cstdlib>

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

}  // namespace clrp::util
