// libFuzzer target: arbitrary bytes as a GGUF file. Parsing must either succeed
// or throw clrp::Error; on success every float tensor is converted to float32
// and every metadata accessor is exercised, under ASan and UBSan.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "clrp/io/gguf.hpp"
#include "clrp/util/error.hpp"
#include "mem_file.hpp"

namespace {

void exercise(const clrp::io::GgufFile& f) {
  for (const auto& [key, value] : f.metadata()) {
    // Each accessor either returns or throws clrp::Error for a type mismatch.
    try {
      (void)f.get_int(key);
    } catch (const clrp::Error&) {
    }
    try {
      (void)f.get_float(key);
    } catch (const clrp::Error&) {
    }
    try {
      (void)f.get_string(key);
    } catch (const clrp::Error&) {
    }
    try {
      (void)f.get_bool(key);
    } catch (const clrp::Error&) {
    }
    try {
      (void)f.get_string_array(key);
    } catch (const clrp::Error&) {
    }
    try {
      (void)f.get_int_array(key);
    } catch (const clrp::Error&) {
    }
    try {
      (void)f.get_float_array(key);
    } catch (const clrp::Error&) {
    }
  }
  std::vector<float> buf;
  for (const auto& t : f.tensors()) {
    if (!clrp::io::dtype_is_float_convertible(t.dtype)) continue;
    if (t.numel() > (std::int64_t{1} << 22)) continue;  // data lies inside the small input
    buf.resize(static_cast<std::size_t>(t.numel()));
    f.read_f32(t, buf);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static clrp::fuzz::MemFile file("fuzz_gguf");
  file.write(data, size);
  try {
    clrp::io::GgufFile f(file.path);
    exercise(f);
  } catch (const clrp::Error& e) {
    // Every refusal must say where: the file and a byte offset (or a key).
    const std::string msg = e.what();
    if (msg.find(file.path) == std::string::npos) {
      std::fprintf(stderr, "error message without the file name: %s\n", msg.c_str());
      std::abort();
    }
  }
  return 0;
}
