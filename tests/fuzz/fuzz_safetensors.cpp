// libFuzzer target: arbitrary bytes as a .safetensors file. Parsing must
// either succeed or throw clrp::Error; on success every float tensor is
// converted to float32, under ASan and UBSan.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "clrp/io/safetensors.hpp"
#include "clrp/util/error.hpp"

namespace {

// One in-memory file reused across runs, opened by path through /proc.
struct MemFile {
  int fd = -1;
  std::string path;
  MemFile() {
    fd = ::memfd_create("fuzz_safetensors", MFD_CLOEXEC);
    if (fd < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  void write(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
      std::perror("memfd write");
      std::abort();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static MemFile file;
  file.write(data, size);
  try {
    clrp::io::SafetensorsFile f(file.path);
    for (const auto& t : f.tensors())
      if (clrp::io::dtype_is_float_convertible(t.dtype) && t.numel() <= (1 << 20))
        (void)f.read_f32(t);
  } catch (const clrp::Error&) {
  }
  return 0;
}
