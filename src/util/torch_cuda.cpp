#include "clrp/util/torch_cuda.hpp"

#include <ATen/Context.h>
#include <dlfcn.h>

#include <mutex>

namespace clrp::util {

bool ensure_torch_cuda(std::string& why) {
  static std::once_flag once;
  static std::string load_error;
  std::call_once(once, [] {
    // Not at::hasCUDA() first: ATen caches the CUDA hooks it finds on first use,
    // so asking before the backend is loaded would pin the CPU-only stub.
    // dlopen of an already loaded library just returns it. RTLD_GLOBAL: the
    // backend's symbols must be visible to the libraries it loads in turn. The
    // name resolves through libclrp's RUNPATH (torch/lib) or LD_LIBRARY_PATH.
    if (dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* e = dlerror();
      load_error = e != nullptr ? e : "dlopen failed";
    }
  });
  if (at::hasCUDA()) return true;
  why = !load_error.empty() ? "libtorch_cuda could not be loaded: " + load_error
                            : "libtorch has a CUDA backend but finds no usable GPU (driver?)";
  return false;
}

}  // namespace clrp::util
