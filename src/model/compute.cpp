#include "clrp/model/compute.hpp"

#include <limits>
#include <regex>
#include <utility>

#include "clrp/util/error.hpp"
#include "clrp/util/torch_cuda.hpp"

namespace clrp::model {

namespace {

// Every accepted spelling; the first of each dtype is its canonical name.
const std::pair<const char*, c10::ScalarType> kDtypeNames[] = {
    {"float32", c10::kFloat},
    {"fp32", c10::kFloat},
    {"bfloat16", c10::kBFloat16},
    {"bf16", c10::kBFloat16},
};

}  // namespace

std::optional<c10::ScalarType> compute_dtype_named(const std::string& name) {
  for (const auto& [n, t] : kDtypeNames)
    if (name == n) return t;
  return std::nullopt;
}

const std::string& compute_dtype_names() {
  static const std::string names = [] {
    std::string out;
    const std::size_t n = std::size(kDtypeNames);
    for (std::size_t i = 0; i < n; ++i)
      out += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kDtypeNames[i].first;
    return out;
  }();
  return names;
}

std::string compute_dtype_name(c10::ScalarType dtype) {
  for (const auto& [n, t] : kDtypeNames)
    if (t == dtype) return n;
  return c10::toString(dtype);
}

c10::ScalarType parse_compute_dtype(const std::string& name) {
  if (auto t = compute_dtype_named(name)) return *t;
  throw Error("unknown compute dtype '" + name + "' (expected " + compute_dtype_names() + ")");
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
  if (index > std::numeric_limits<c10::DeviceIndex>::max()) return std::nullopt;
  return DeviceSpec{DeviceSpec::Kind::Cuda, index};
}

c10::Device resolve_device(const DeviceSpec& spec) {
  if (spec.kind == DeviceSpec::Kind::Cpu) return c10::kCPU;
  if (std::string why; !util::ensure_torch_cuda(why))
    throw Error("device '" + spec.to_string() + "' asked for, but no usable CUDA device: " + why);
  return {c10::kCUDA, static_cast<c10::DeviceIndex>(spec.index)};
}

c10::Device parse_compute_device(const std::string& name) {
  const auto spec = device_spec_named(name);
  if (!spec) throw Error("unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
  return resolve_device(*spec);
}

}  // namespace clrp::model
