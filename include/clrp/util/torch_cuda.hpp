// libtorch's CUDA backend, loaded on first use.
//
// libclrp links only libtorch_cpu: loading libtorch_cuda (over a gigabyte of
// kernels and the CUDA libraries behind it) at every start would slow every
// CPU run and test. The backend registers itself with ATen when its shared
// library is loaded, so the first request for a CUDA device dlopen()s it.
#pragma once

#include <string>

namespace clrp::util {

/// Loads libtorch_cuda if ATen has no CUDA backend yet. Returns true when
/// ATen then reports a usable CUDA device; otherwise `why` says what failed.
bool ensure_torch_cuda(std::string& why);

}  // namespace clrp::util
