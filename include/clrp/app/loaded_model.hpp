// A model ready to run: checkpoint, tokenizer and the decoder built from them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::app {

struct LoadedModel {
  model::Checkpoint checkpoint;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<model::DecoderModel> decoder;
};

/// Opens `path` (resolved with resolve_model_path) and builds the whole model.
LoadedModel load_model(const std::optional<std::string>& path);

/// The token ids of a prompt as the model sees it: with the model's chat
/// template applied when `chat` is set. Throws clrp::Error for an empty prompt
/// or one longer than the model's context.
std::vector<std::int32_t> prompt_ids(const LoadedModel& m, const std::string& prompt, bool chat);

}  // namespace clrp::app
