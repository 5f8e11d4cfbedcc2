#include "clrp/util/build_info.hpp"

#include <hdf5.h>
#include <mpi.h>
#include <torch/version.h>

#include "clrp/util/threads.hpp"

namespace clrp::util {

BuildInfo build_info() {
  BuildInfo b;
  b.clrp_version = CLRP_VERSION;
  b.torch_version = TORCH_VERSION;
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);  // allowed before MPI_Init
  b.mpi_library.assign(mpi, static_cast<std::size_t>(len));
  while (!b.mpi_library.empty() && (b.mpi_library.back() == '\n' || b.mpi_library.back() == '\0'))
    b.mpi_library.pop_back();
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  b.hdf5_version =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
#ifdef H5_HAVE_PARALLEL
  b.hdf5_parallel = true;
#endif
  b.compute_threads = compute_threads();
  return b;
}

#ifndef CLRP_HAVE_CUDA
GpuInfo gpu_info() {
  return GpuInfo{};
}
long long gpu_memory_used_bytes(int /*index*/) {
  return -1;
}
#endif

}  // namespace clrp::util
