// Where and in which precision a model computes, and which of its layers a
// process holds, as c10's types. The names ("bfloat16", "cuda:1") and their
// parsers are torch-free, in compute_names.hpp.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

#include "clrp/model/compute_names.hpp"

namespace clrp::model {

/// Layers [begin, end) of a model: what a pipeline stage holds.
struct LayerRange {
  std::int64_t begin = 0;
  std::int64_t end = -1;  ///< -1: up to the last layer
};

/// Where and in which precision a model computes.
struct ComputeOptions {
  c10::Device device = c10::kCPU;
  c10::ScalarType dtype = c10::kFloat;  ///< kFloat or kBFloat16
};

/// c10's scalar type of a compute dtype.
c10::ScalarType scalar_type(ComputeDtype dtype);
/// compute_dtype_named as c10's type, throwing clrp::Error for an unknown name.
c10::ScalarType parse_compute_dtype(const std::string& name);

/// The device to compute on: CUDA checked usable (clrp::Error naming `spec`
/// and why not). "cuda" without an index stays the current CUDA device.
c10::Device resolve_device(const DeviceSpec& spec);
/// device_spec_named then resolve_device, throwing clrp::Error for an unknown name.
c10::Device parse_compute_device(const std::string& name);

}  // namespace clrp::model
