#include "clrp/model/compute_names.hpp"

#include <regex>
#include <utility>
#include <vector>

#include "clrp/util/choices.hpp"

namespace clrp::model {

namespace {

// Every accepted spelling; the first of each dtype is its canonical name.
const std::pair<const char*, ComputeDtype> kDtypeNames[] = {
    {"float32", ComputeDtype::Float32},
    {"fp32", ComputeDtype::Float32},
    {"bfloat16", ComputeDtype::BFloat16},
    {"bf16", ComputeDtype::BFloat16},
};

}  // namespace

std::optional<ComputeDtype> compute_dtype_named(const std::string& name) {
  for (const auto& [n, t] : kDtypeNames)
    if (name == n) return t;
  return std::nullopt;
}

const std::string& compute_dtype_names() {
  static const std::string names = [] {
    std::vector<std::string> all;
    for (const auto& [n, t] : kDtypeNames)
      all.emplace_back(n);
    return choices_text(all);
  }();
  return names;
}

const char* to_string(ComputeDtype dtype) {
  for (const auto& [n, t] : kDtypeNames)
    if (t == dtype) return n;
  return "?";
}

std::string DeviceSpec::to_string() const {
  if (kind == Kind::Cpu) return "cpu";
  return index < 0 ? "cuda" : "cuda:" + std::to_string(index);
}

std::optional<DeviceSpec> device_spec_named(const std::string& name) {
  static const std::regex re("cpu|cuda(?::(0|[1-9][0-9]{0,2}))?");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return std::nullopt;
  if (name == "cpu") return DeviceSpec{};
  const int index = m[1].matched ? std::stoi(m[1].str()) : -1;
  if (index > kMaxDeviceIndex) return std::nullopt;
  return DeviceSpec{DeviceSpec::Kind::Cuda, index};
}

}  // namespace clrp::model
