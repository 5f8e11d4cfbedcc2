#include "clrp/model/compute.hpp"

#include <limits>

#include "clrp/util/error.hpp"
#include "clrp/util/torch_cuda.hpp"

namespace clrp::model {

static_assert(kMaxDeviceIndex == std::numeric_limits<c10::DeviceIndex>::max(),
              "compute_names.hpp's device index bound is c10's");

c10::ScalarType scalar_type(ComputeDtype dtype) {
  return dtype == ComputeDtype::BFloat16 ? c10::kBFloat16 : c10::kFloat;
}

c10::ScalarType parse_compute_dtype(const std::string& name) {
  if (auto t = compute_dtype_named(name)) return scalar_type(*t);
  throw Error("unknown compute dtype '" + name + "' (expected " + compute_dtype_names() + ")");
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
