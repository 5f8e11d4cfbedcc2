// libFuzzer target: random byte flips in a real campaign store, read as
// `clrp inspect` reads it (store::inspect_store: schema, every checksum, the
// summary). The input is a list of flips, 5 bytes each: a little-endian
// offset (taken modulo the store's size) and a byte to xor there, so every
// input is the seed store with bytes flipped. What must hold:
//   - no crash, no hang, no exception other than clrp::Error, and the error
//     names the store;
//   - damage is never reported clean: when inspect_store returns, its summary
//     equals the undamaged store's (a flip in unused bytes changes nothing);
//   - no HDF5 object is left open (a leaked file handle would let HDF5 serve
//     the next run from stale metadata; the row types the store builds once
//     per process stay open by design).
//
// The seed (store/seed_store.h5.gz, made by make_store_seed.py; env
// CLRP_FUZZ_STORE_SEED overrides) is unpacked once into a scratch file; each
// run writes its flips into that file and writes the original bytes back.
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "clrp/store/inspect.hpp"
#include "clrp/util/error.hpp"

namespace {

std::vector<std::uint8_t> g_clean;  // the seed store's bytes
std::string g_path;                 // the scratch copy every run reads
int g_fd = -1;
nlohmann::json g_summary;  // inspect_store of the clean store, without its timing

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "fuzz_store: %s\n", why.c_str());
  std::abort();
}

std::vector<std::uint8_t> gunzip(const char* path) {
  gzFile in = gzopen(path, "rb");
  if (in == nullptr) die(std::string("cannot open the seed store ") + path);
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  int n = 0;
  while ((n = gzread(in, buf, sizeof buf)) > 0)
    out.insert(out.end(), buf, buf + n);
  gzclose(in);
  if (n < 0 || out.empty()) die(std::string("cannot unpack the seed store ") + path);
  return out;
}

void write_at(std::size_t offset, const void* bytes, std::size_t n) {
  if (::pwrite(g_fd, bytes, n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n))
    die("cannot write the scratch store " + g_path);
}

nlohmann::json summary_of_scratch() {
  nlohmann::json j = clrp::store::inspect_store(g_path);
  j.erase("verify_seconds");  // the one field that is not the store's content
  return j;
}

// HDF5 objects open between runs: the row types the store builds once per
// process (schema.cpp, evaluations.cpp), nothing else.
ssize_t g_resident = -1;

ssize_t open_objects() {
  return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
}

void check_nothing_open() {
  if (const ssize_t open = open_objects(); open != g_resident)
    die(std::to_string(open - g_resident) + " HDF5 objects left open after a run");
}

}  // namespace

// HDF5 itself leaks a few small blocks on some error paths (inside
// libhdf5, not reachable from here): only leaks of this program count.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libhdf5";
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* seed = std::getenv("CLRP_FUZZ_STORE_SEED");
  g_clean = gunzip(seed != nullptr ? seed : CLRP_FUZZ_STORE_SEED);
  const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string tmpl = std::string(dir) + "/clrp-fuzz-store-XXXXXX";
  g_fd = ::mkstemp(tmpl.data());
  if (g_fd < 0) die("cannot make a scratch store in " + std::string(dir));
  g_path = tmpl;
  std::atexit([] { ::unlink(g_path.c_str()); });
  write_at(0, g_clean.data(), g_clean.size());
  try {
    g_summary = summary_of_scratch();
  } catch (const std::exception& e) {
    die(std::string("the seed store is not a clean store of this version (") + e.what() +
        "); make it again with tests/fuzz/make_store_seed.py");
  }
  g_resident = open_objects();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kFlipBytes = 5, kMaxFlips = 16;
  std::vector<std::size_t> flipped;
  for (std::size_t i = 0; i + kFlipBytes <= size && flipped.size() < kMaxFlips; i += kFlipBytes) {
    const std::uint32_t at = data[i] | data[i + 1] << 8 | data[i + 2] << 16 |
                             static_cast<std::uint32_t>(data[i + 3]) << 24;
    const std::size_t offset = at % g_clean.size();
    const std::uint8_t mask = data[i + 4] == 0 ? 1 : data[i + 4];
    std::uint8_t byte = 0;
    if (::pread(g_fd, &byte, 1, static_cast<off_t>(offset)) != 1) die("cannot read " + g_path);
    byte ^= mask;
    write_at(offset, &byte, 1);
    flipped.push_back(offset);
  }
  try {
    // Compared as text: a NaN (an aggregate over no cases) is not equal to itself.
    if (const nlohmann::json summary = summary_of_scratch(); summary.dump() != g_summary.dump())
      die("a damaged store was reported clean, with other content: " +
          nlohmann::json::diff(g_summary, summary).dump());
  } catch (const clrp::Error& e) {
    if (std::string(e.what()).find(g_path) == std::string::npos)
      die(std::string("an error that does not name the store: ") + e.what());
  }
  // Any other exception escapes: libFuzzer reports it as a crash.
  for (const std::size_t offset : flipped)
    write_at(offset, &g_clean[offset], 1);
  check_nothing_open();
  return 0;
}
