// What this clrp binary was built with and what it finds at run time
// (`clrp env`): users on clusters need to know which MPI, HDF5, libtorch and
// GPU stack a job actually got.
#pragma once

#include <string>
#include <vector>

namespace clrp::util {

struct GpuDevice {
  int index = 0;
  std::string name;
  double memory_gib = 0;
  int compute_major = 0, compute_minor = 0;
};

struct GpuInfo {
  bool built_with_cuda = false;
  std::string cuda_runtime;  ///< e.g. "13.0"; empty without CUDA
  std::string nccl;          ///< e.g. "2.28.9"; empty without NCCL
  std::vector<GpuDevice> devices;
  std::string error;  ///< why devices could not be listed, if so
};

/// GPU devices and library versions (empty device list on CPU-only builds or machines).
GpuInfo gpu_info();

/// Bytes of device `index`'s memory in use by all processes (total − free), or
/// −1 without CUDA. With a caching allocator that never returns memory this is
/// the process's high-water mark plus the context, which is what benchmarks report.
long long gpu_memory_used_bytes(int index = 0);

struct BuildInfo {
  std::string clrp_version;
  std::string torch_version;
  std::string mpi_library;
  std::string hdf5_version;
  bool hdf5_parallel = false;
  int compute_threads = 0;
};

BuildInfo build_info();

}  // namespace clrp::util
