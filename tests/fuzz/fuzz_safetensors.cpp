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
#include "mem_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static clrp::fuzz::MemFile file("fuzz_safetensors");
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
