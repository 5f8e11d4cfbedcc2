// The names of where and in which precision a model computes, as the command
// line and campaign specs spell them ("bfloat16", "cuda:1").
//
// Torch-free on purpose: a spec is read (and fuzzed) without libtorch. The
// parsers here are the one place that text becomes a dtype or a device, so a
// spelling the CLI accepts is one a spec accepts; compute.hpp turns them into
// c10's types. A device is held as a DeviceSpec until it is resolved: "cuda"
// without an index means "this process's GPU", which a campaign rank picks by
// its node-local rank.
#pragma once

#include <optional>
#include <string>

namespace clrp::model {

/// The precisions a model computes in.
enum class ComputeDtype { Float32, BFloat16 };

/// The compute dtype a name stands for ("float32"/"fp32", "bfloat16"/"bf16"),
/// or std::nullopt.
std::optional<ComputeDtype> compute_dtype_named(const std::string& name);
/// The names compute_dtype_named accepts, for messages: "float32, fp32, bfloat16 or bf16".
const std::string& compute_dtype_names();
/// The canonical name of a compute dtype: "float32" or "bfloat16".
const char* to_string(ComputeDtype dtype);

/// The largest GPU index a device name may carry (c10::DeviceIndex's range,
/// checked against it in compute.cpp).
inline constexpr int kMaxDeviceIndex = 127;

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

/// Parses "cpu", "cuda" or "cuda:N" (N without leading zeros, at most
/// kMaxDeviceIndex); std::nullopt otherwise. Checks nothing about the machine.
std::optional<DeviceSpec> device_spec_named(const std::string& name);

}  // namespace clrp::model
