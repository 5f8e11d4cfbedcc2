// Where and in which precision a model computes, and which of its layers a
// process holds.
//
// The command line and campaign specs name these as text ("bfloat16",
// "cuda:1"); the parsers here are the one place that text becomes a dtype or
// a device, so a spelling the CLI accepts is one a spec accepts. A device is
// held as a DeviceSpec until it is resolved: "cuda" without an index means
// "this process's GPU", which a campaign rank picks by its node-local rank.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>

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

/// The compute dtype a name stands for ("float32"/"fp32", "bfloat16"/"bf16"),
/// or std::nullopt.
std::optional<c10::ScalarType> compute_dtype_named(const std::string& name);
/// The names compute_dtype_named accepts, for messages: "float32, fp32, bfloat16 or bf16".
const std::string& compute_dtype_names();
/// The canonical name of a compute dtype: "float32" or "bfloat16".
std::string compute_dtype_name(c10::ScalarType dtype);
/// compute_dtype_named, throwing clrp::Error for an unknown name.
c10::ScalarType parse_compute_dtype(const std::string& name);

/// A device as named, before it is resolved to a usable one.
struct DeviceSpec {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int index = -1;  ///< CUDA: the GPU; -1 ("cuda"): this process's GPU

  bool any_gpu() const { return kind == Kind::Cuda && index < 0; }
  /// "cpu", "cuda" or "cuda:N": the text it was parsed from.
  std::string to_string() const;
  bool operator==(const DeviceSpec&) const = default;
};

/// Parses "cpu", "cuda" or "cuda:N" (N without leading zeros); std::nullopt
/// otherwise. Checks nothing about the machine.
std::optional<DeviceSpec> device_spec_named(const std::string& name);
/// The device to compute on: CUDA checked usable (clrp::Error naming `spec`
/// and why not). "cuda" without an index stays the current CUDA device.
c10::Device resolve_device(const DeviceSpec& spec);
/// device_spec_named then resolve_device, throwing clrp::Error for an unknown name.
c10::Device parse_compute_device(const std::string& name);

}  // namespace clrp::model
