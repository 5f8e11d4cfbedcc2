// safetensors checkpoints: one file, or shards listed in
// model.safetensors.index.json.
//
// File layout: u64 little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the data section. Offsets are relative to the data section. Everything
// is validated before use, as strictly as the safetensors library does: header
// length inside the file, JSON well formed with no key repeated (a repeated
// tensor name is refused, not "last wins"), known dtypes, shape × element size
// == byte span (without overflow), and the spans, sorted by offset, tiling the
// data section exactly (first at 0, each beginning where the previous ended,
// the last ending at the end of the file: no overlap, no unreferenced hole).
// Errors name the file, the tensor and field, and the byte offset.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clrp/io/mapped_file.hpp"
#include "clrp/io/tensor.hpp"

namespace clrp::io {

/// One .safetensors file, memory-mapped.
class SafetensorsFile final : public WeightSource {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  std::vector<std::string> files() const override { return {file_.path()}; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// A checkpoint in a Hugging Face model directory: `model.safetensors`, or the
/// shards named by `model.safetensors.index.json` (each tensor must live in the
/// shard the index names; a tensor in two shards is an error).
class SafetensorsCheckpoint final : public WeightSource {
 public:
  /// `dir` is the model directory. Throws clrp::Error when it holds no
  /// safetensors weights (and says how to convert pickled .bin/.pt weights).
  explicit SafetensorsCheckpoint(const std::string& dir);

  const std::vector<TensorInfo>& tensors() const override { return tensors_; }
  std::vector<std::string> files() const override;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<TensorInfo> tensors_;
};

/// Refuses pickled weight files (.bin, .pt, .pth, .ckpt, .pkl): loading them
/// would execute arbitrary code. Throws clrp::Error with conversion advice when
/// `path` is such a file.
void refuse_pickled_weights(const std::string& path);

}  // namespace clrp::io
