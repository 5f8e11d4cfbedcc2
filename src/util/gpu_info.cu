// GPU inventory for `clrp env`, compiled by nvcc in CUDA builds only.
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "clrp/util/build_info.hpp"

namespace clrp::util {

GpuInfo gpu_info() {
  GpuInfo info;
  info.built_with_cuda = true;
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
    info.cuda_runtime =
        std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10);
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    // NCCL >= 2.9 encodes versions as major*10000 + minor*100 + patch.
    info.nccl = std::to_string(nccl / 10000) + "." + std::to_string((nccl % 10000) / 100) + "." +
                std::to_string(nccl % 100);
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.error = cudaGetErrorString(err);
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    info.devices.push_back({i, p.name,
                            static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0),
                            p.major, p.minor});
  }
  return info;
}

long long gpu_memory_used_bytes(int index) {
  if (cudaSetDevice(index) != cudaSuccess) return -1;
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return -1;
  return static_cast<long long>(total_bytes - free_bytes);
}

}  // namespace clrp::util
