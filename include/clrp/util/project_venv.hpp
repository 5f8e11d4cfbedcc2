// Where clrp finds the Python packages it reads data from (the embedded model)
// or runs (IFEval's checkers): the project's virtual environment, made by
// scripts/bootstrap.sh, or the one the user activated.
#pragma once

#include <filesystem>
#include <vector>

namespace clrp::util {

/// Every `.venv` in the folders above the running executable, nearest first
/// (a build tree inside the checkout finds the checkout's .venv), then
/// $VIRTUAL_ENV. Only folders that exist are listed.
std::vector<std::filesystem::path> project_venvs();

/// The site-packages folders of a virtual environment (lib/python*/site-packages).
std::vector<std::filesystem::path> venv_site_packages(const std::filesystem::path& venv);

}  // namespace clrp::util
