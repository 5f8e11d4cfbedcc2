// A model on disk: its config and its weights, whatever the file format.
//
// Hugging Face directories (config.json + safetensors) and GGUF files are read
// through one interface. Weights are always addressed by their Hugging Face
// names ("model.layers.3.self_attn.q_proj.weight"); GGUF names are translated,
// and the q/k row permutation that llama.cpp's converter applies for its rotary
// layout is undone, so the model code sees one convention.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clrp/io/tensor.hpp"
#include "clrp/model/config.hpp"

namespace clrp::io {
class GgufFile;
}

namespace clrp::model {

enum class CheckpointFormat { HuggingFace, Gguf };

class Checkpoint {
 public:
  /// Opens a Hugging Face model directory or a .gguf file; validates the config.
  static Checkpoint open(const std::string& path);

  const std::string& path() const { return path_; }
  CheckpointFormat format() const { return format_; }
  const ModelConfig& config() const { return config_; }
  const io::WeightSource& weights() const { return *weights_; }
  /// The GGUF file (for its tokenizer metadata); nullptr for Hugging Face directories.
  const io::GgufFile* gguf() const { return gguf_; }
  /// Files the model was read from (config, weights).
  std::vector<std::string> files() const;

  /// The tensor with Hugging Face name `hf_name`, or nullptr when absent.
  const io::TensorInfo* find(const std::string& hf_name) const;
  /// Same, throwing clrp::Error naming the file and the tensor when absent.
  const io::TensorInfo& get(const std::string& hf_name) const;
  /// Reads the tensor as float32 in Hugging Face layout; checks the shape.
  std::vector<float> read(const std::string& hf_name, const std::vector<std::int64_t>& shape) const;
  /// Storage types present in the weights, e.g. {"F32", "Q4_1", "Q8_0"}.
  std::vector<std::string> storage_types() const;

 private:
  std::string path_;
  CheckpointFormat format_ = CheckpointFormat::HuggingFace;
  std::string config_file_;
  ModelConfig config_;
  std::shared_ptr<io::WeightSource> weights_;
  const io::GgufFile* gguf_ = nullptr;
};

/// The GGUF tensor name for a Hugging Face tensor name of a model of `family`,
/// or "" when there is none.
std::string gguf_tensor_name(const std::string& hf_name, Family family);

}  // namespace clrp::model
