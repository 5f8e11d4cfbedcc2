// clrp_dump_tensors: writes what clrp reads from a GGUF file, for the Python
// oracle tests.
//
//   clrp_dump_tensors MODEL.gguf OUTDIR [TENSOR_NAME...]
//
// OUTDIR/data.f32 holds the named tensors (all when none are named), each
// converted to float32 by clrp and stored back to back; OUTDIR/index.json holds
// {"file", "version", "alignment", "data_offset", "metadata": {key: value},
//  "tensors": [{"name", "shape", "dtype", "file_offset", "nbytes", "offset", "numel"}]}
// where "offset" counts float32 elements into data.f32. Tensors that clrp
// cannot convert to float32 (integer types) are listed with "offset": null.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "clrp/io/gguf.hpp"
#include "clrp/util/error.hpp"

namespace {

using clrp::io::GgufValue;
using nlohmann::json;

json to_json(const GgufValue& v) {
  if (v.type == GgufValue::Type::ARRAY) {
    json a = json::array();
    for (const auto& e : v.elements)
      a.push_back(to_json(e));
    return a;
  }
  return std::visit([](const auto& x) { return json(x); }, v.scalar);
}

int run(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.gguf OUTDIR [TENSOR_NAME...]\n";
    return 2;
  }
  const std::string model = argv[1];
  const std::filesystem::path out = argv[2];
  std::set<std::string> wanted(argv + 3, argv + argc);

  clrp::io::GgufFile f(model);
  std::filesystem::create_directories(out);

  json index;
  index["file"] = f.path();
  index["version"] = f.version();
  index["alignment"] = f.alignment();
  index["data_offset"] = f.data_offset();
  json meta = json::object();
  for (const auto& [k, v] : f.metadata())
    meta[k] = to_json(v);
  index["metadata"] = std::move(meta);

  std::ofstream data(out / "data.f32", std::ios::binary);
  if (!data) throw std::runtime_error((out / "data.f32").string() + ": cannot write");
  json tensors = json::array();
  std::uint64_t offset = 0;
  std::vector<float> buf;
  for (const auto& t : f.tensors()) {
    if (!wanted.empty() && wanted.count(t.name) == 0) continue;
    json j;
    j["name"] = t.name;
    j["shape"] = t.shape;
    j["dtype"] = std::string(clrp::io::dtype_name(t.dtype));
    j["file_offset"] = t.file_offset;
    j["nbytes"] = t.nbytes;
    j["numel"] = t.numel();
    if (clrp::io::dtype_is_float_convertible(t.dtype)) {
      buf.resize(static_cast<std::size_t>(t.numel()));
      f.read_f32(t, buf);
      data.write(reinterpret_cast<const char*>(buf.data()),
                 static_cast<std::streamsize>(buf.size() * sizeof(float)));
      j["offset"] = offset;
      offset += buf.size();
    } else {
      j["offset"] = nullptr;
    }
    tensors.push_back(std::move(j));
  }
  data.close();
  if (!data) throw std::runtime_error((out / "data.f32").string() + ": write failed");
  index["tensors"] = std::move(tensors);
  std::ofstream idx(out / "index.json");
  idx << index.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
  if (!idx) throw std::runtime_error((out / "index.json").string() + ": write failed");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "clrp_dump_tensors: " << e.what() << "\n";
    return 1;
  }
}
