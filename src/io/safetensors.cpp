#include "clrp/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>

#include "clrp/io/json.hpp"
#include "clrp/util/error.hpp"

namespace fs = std::filesystem;

namespace clrp::io {

namespace {

constexpr std::uint64_t kHeaderLengthBytes = 8;
// The format caps headers at 100 MB; a larger length is a corrupt file.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

bool parse_safetensors_dtype(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F32", DType::F32}, {"F16", DType::F16},   {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I8", DType::I8},   {"I16", DType::I16},   {"I32", DType::I32},   {"I64", DType::I64},
      {"U8", DType::U8},   {"BOOL", DType::BOOL},
  };
  for (const auto& [name, t] : kNames)
    if (s == name) {
      out = t;
      return true;
    }
  return false;
}

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// Reads a non-negative JSON integer or throws naming the field.
std::uint64_t as_u64(const nlohmann::json& v, const Where& where) {
  if (!v.is_number_integer() ||
      (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0))
    throw Error(where, "expected a non-negative integer, got " + v.dump());
  return v.get<std::uint64_t>();
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const std::uint64_t size = file_.size();
  if (size < kHeaderLengthBytes)
    throw Error(
        Where{path, "header length", 0},
        "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  const std::uint64_t n = read_u64_le(file_.data());
  if (n > size - kHeaderLengthBytes || n > kMaxHeaderBytes)
    throw Error(Where{path, "header length", 0}, "header length " + std::to_string(n) +
                                                     " runs past the end of the file (" +
                                                     std::to_string(size) + " bytes)");
  const std::uint64_t data_start = kHeaderLengthBytes + n;
  const std::uint64_t data_size = size - data_start;
  std::string_view text(reinterpret_cast<const char*>(file_.data()) + kHeaderLengthBytes, n);
  // The safetensors library refuses a repeated tensor name (its serde reader
  // ends up with a tensor whose bytes belong to no entry); nlohmann would keep
  // the last silently.
  nlohmann::json header = parse_json(text, path, kHeaderLengthBytes, DuplicateKeys::Refuse);
  if (!header.is_object())
    throw Error(Where{path, "header", kHeaderLengthBytes}, "header is not a JSON object");

  struct Span {
    std::uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(Where{path, "__metadata__"}, "must be an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          throw Error(Where{path, json_path("__metadata__", m.key())},
                      "metadata values must be strings");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto field = [&](const char* f) { return Where{path, json_path(name, f), kHeaderLengthBytes}; };
    if (!entry.is_object()) throw Error(Where{path, name}, "tensor entry is not an object");
    for (const char* required : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(required)) throw Error(field(required), "missing");
    const auto& jd = entry["dtype"];
    TensorInfo t;
    t.name = name;
    t.file = path;
    if (!jd.is_string() || !parse_safetensors_dtype(jd.get<std::string>(), t.dtype))
      throw Error(field("dtype"), "unknown or unsupported dtype " + jd.dump());
    const auto& js = entry["shape"];
    if (!js.is_array()) throw Error(field("shape"), "must be an array");
    std::uint64_t numel = 1;
    for (std::size_t i = 0; i < js.size(); ++i) {
      const std::uint64_t d = as_u64(js[i], field("shape"));
      if (d > 0 && numel > std::numeric_limits<std::uint64_t>::max() / 8 / d)
        throw Error(field("shape"), "shape " + js.dump() + " overflows");
      numel *= d;
      t.shape.push_back(static_cast<std::int64_t>(d));
    }
    const auto& jo = entry["data_offsets"];
    if (!jo.is_array() || jo.size() != 2)
      throw Error(field("data_offsets"), "must be [begin, end]");
    const std::uint64_t begin = as_u64(jo[0], field("data_offsets"));
    const std::uint64_t end = as_u64(jo[1], field("data_offsets"));
    if (begin > end)
      throw Error(field("data_offsets"),
                  "begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size)
      throw Error(Where{path, json_path(name, "data_offsets"), data_start + begin},
                  "tensor data [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") runs past the end of the data section (" + std::to_string(data_size) +
                      " bytes)");
    const std::uint64_t expected = numel * static_cast<std::uint64_t>(dtype_block_bytes(t.dtype));
    if (end - begin != expected)
      throw Error(field("data_offsets"),
                  "holds " + std::to_string(end - begin) + " bytes but shape " + js.dump() +
                      " of " + jd.get<std::string>() + " needs " + std::to_string(expected));
    t.data = file_.data() + data_start + begin;
    t.nbytes = end - begin;
    t.file_offset = data_start + begin;
    spans.push_back({begin, end, name});
    tensors_.push_back(std::move(t));
  }
  // As the safetensors library's Metadata::validate: the tensors, sorted by
  // (begin, end), tile the data section exactly, so no byte is shared and none is
  // a hole that belongs to no tensor (bytes there would be read by nothing, yet a
  // hand-edited header could point a tensor at them instead).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  std::uint64_t expected = 0;
  const Span* previous = nullptr;
  for (const Span& s : spans) {
    const Where where{path, json_path(s.name, "data_offsets"), data_start + s.begin};
    if (s.begin < expected)
      throw Error(where, "tensor data [" + std::to_string(s.begin) + ", " + std::to_string(s.end) +
                             ") overlaps tensor '" + previous->name + "' (which ends at " +
                             std::to_string(expected) + ")");
    if (s.begin > expected)
      throw Error(
          where, "tensor data begins at " + std::to_string(s.begin) + " but " +
                     (previous == nullptr
                          ? std::string("the data section begins at 0")
                          : "tensor '" + previous->name + "' ends at " + std::to_string(expected)) +
                     "; bytes [" + std::to_string(expected) + ", " + std::to_string(s.begin) +
                     ") of the data section belong to no tensor (the tensors must tile "
                     "the data section, as the safetensors library requires)");
    expected = s.end;
    previous = &s;
  }
  if (expected != data_size)
    throw Error(Where{path,
                      previous == nullptr ? std::string("data section")
                                          : json_path(previous->name, "data_offsets"),
                      data_start + expected},
                "the data section is " + std::to_string(data_size) + " bytes but " +
                    (previous == nullptr ? std::string("the header names no tensor")
                                         : "the last tensor, '" + previous->name + "', ends at " +
                                               std::to_string(expected)) +
                    "; bytes past it belong to no tensor (the tensors must tile the data "
                    "section, as the safetensors library requires)");
}

void refuse_pickled_weights(const std::string& path) {
  static const char* kPickled[] = {".bin", ".pt", ".pth", ".ckpt", ".pkl"};
  const std::string ext = fs::path(path).extension().string();
  for (const char* p : kPickled)
    if (ext == p)
      throw Error(Where{path},
                  "pickled PyTorch weights are refused: unpickling runs arbitrary code. Convert "
                  "them once, in a trusted environment, to safetensors, e.g. "
                  "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, "
                  "safe_serialization=True), or to GGUF with llama.cpp's convert_hf_to_gguf.py");
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir) {
  const fs::path root(dir);
  const fs::path single = root / "model.safetensors";
  const fs::path index = root / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::is_regular_file(index, ec)) {
    const auto j = read_json_file(index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(Where{index.string(), "weight_map"}, "missing or not an object");
    std::map<std::string, std::string> tensor_to_shard;
    std::set<std::string> shard_names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw Error(Where{index.string(), json_path("weight_map", it.key())},
                    "must be a file name");
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == "..")
        throw Error(Where{index.string(), json_path("weight_map", it.key())},
                    "shard name '" + excerpt(shard) + "' must be a file in the model directory");
      tensor_to_shard[it.key()] = shard;
      shard_names.insert(shard);
    }
    std::set<std::string> seen;
    for (const auto& shard : shard_names) {
      auto f = std::make_unique<SafetensorsFile>((root / shard).string());
      for (const auto& t : f->tensors()) {
        auto where = tensor_to_shard.find(t.name);
        if (where == tensor_to_shard.end() || where->second != shard)
          throw Error(Where{index.string(), json_path("weight_map", t.name)},
                      "tensor found in shard '" + excerpt(shard) + "' but the index names " +
                          (where == tensor_to_shard.end() ? std::string("no shard")
                                                          : "'" + excerpt(where->second) + "'"));
        if (!seen.insert(t.name).second)
          throw Error(Where{t.file, t.name}, "tensor appears in more than one shard");
        tensors_.push_back(t);
      }
      shards_.push_back(std::move(f));
    }
    for (const auto& [name, shard] : tensor_to_shard)
      if (!seen.count(name))
        throw Error(Where{index.string(), json_path("weight_map", name)},
                    "the index names shard '" + excerpt(shard) + "' but the tensor is not in it");
    return;
  }
  if (fs::is_regular_file(single, ec)) {
    shards_.push_back(std::make_unique<SafetensorsFile>(single.string()));
    tensors_ = shards_.back()->tensors();
    return;
  }
  // Say why a directory with only pickled weights cannot be used.
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_regular_file()) refuse_pickled_weights(entry.path().string());
  throw Error(Where{dir}, "no model.safetensors or model.safetensors.index.json in this directory");
}

std::vector<std::string> SafetensorsCheckpoint::files() const {
  std::vector<std::string> out;
  for (const auto& s : shards_)
    out.push_back(s->files().front());
  return out;
}

}  // namespace clrp::io
