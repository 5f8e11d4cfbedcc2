// Opening a model: the one way from a path to its config, tokenizer and decoder.
//
// Every command that runs a model and every campaign rank goes through load():
// it opens the checkpoint (a Hugging Face directory or a .gguf file) once,
// reads the tokenizer that belongs to it and checks that its ids fit the
// embedding, and builds the decoder of the asked layers on the asked device
// and dtype. Planning needs less: Parts::Config and Parts::Tokenizer stop
// before any weight is read, so a campaign learns a model's shape without
// loading it and carries that config in its plan.
#pragma once

#include <memory>
#include <string>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/compute.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::model {

/// How much of a model load() opens; each part includes the ones before.
enum class Parts {
  Config,     ///< the checkpoint: config and weight index, no weight read
  Tokenizer,  ///< and the tokenizer, checked against the embedding
  Weights,    ///< and the decoder of LoadOptions::layers: ready to run
};

struct LoadOptions {
  Parts parts = Parts::Weights;
  ComputeOptions compute;  ///< device and dtype of the decoder
  LayerRange layers;       ///< all of them unless a pipeline stage
};

/// A model opened by load(). Movable; the decoder holds its own weights.
struct LoadedModel {
  Checkpoint checkpoint;
  std::unique_ptr<text::Tokenizer> tokenizer;  ///< null with Parts::Config
  std::unique_ptr<DecoderModel> decoder;       ///< null below Parts::Weights

  const ModelConfig& config() const { return checkpoint.config(); }
  /// Replaces the decoder by one of `layers` on the same device and dtype,
  /// reading the checkpoint already open (a pipeline stage re-split). The old
  /// decoder is freed first, so a stage never holds two.
  void load_layers(LayerRange layers);
};

/// Opens the model at `path` (a Hugging Face model directory or a .gguf
/// file) up to `options.parts`. Throws clrp::Error naming the file and the
/// key or tensor at fault: an unsupported family, a config the decoder cannot
/// reproduce, a tokenizer with more tokens than the embedding has rows, a
/// missing or misshapen tensor.
LoadedModel load(const std::string& path, const LoadOptions& options = {});

}  // namespace clrp::model
