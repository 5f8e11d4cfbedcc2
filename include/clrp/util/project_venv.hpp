// Where clrp finds the Python packages it reads data from (the embedded model)
// or runs (IFEval's checkers, the Jinja engine of chat templates): the
// project's virtual environment, made by scripts/bootstrap.sh, or the one the
// user activated.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clrp::util {

/// Every `.venv` in the folders above the running executable, nearest first
/// (a build tree inside the checkout finds the checkout's .venv), then
/// $VIRTUAL_ENV. Only folders that exist are listed.
std::vector<std::filesystem::path> project_venvs();

/// The site-packages folders of a virtual environment (lib/python*/site-packages).
std::vector<std::filesystem::path> venv_site_packages(const std::filesystem::path& venv);

/// The interpreter for one of clrp's Python services: $CLRP_PYTHON when set
/// (clrp::Error when it is not an executable file); else the python of the
/// first project venv whose site-packages holds the folder `package`; else
/// nullopt.
std::optional<std::string> find_python_with(const std::filesystem::path& package);

/// The absolute path of `program` on $PATH, nullopt when it is not there.
std::optional<std::string> find_on_path(std::string_view program);

}  // namespace clrp::util
