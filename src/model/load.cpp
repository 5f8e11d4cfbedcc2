#include "clrp/model/load.hpp"

#include "clrp/io/gguf.hpp"
#include "clrp/util/error.hpp"

namespace clrp::model {

namespace {

// The tokenizer stored with the checkpoint: GGUF metadata, or the files of a
// Hugging Face directory. Its ids index the embedding, so it may not have more.
std::unique_ptr<text::Tokenizer> read_tokenizer(const Checkpoint& ck) {
  auto tokenizer = ck.gguf() != nullptr ? text::Tokenizer::from_gguf(*ck.gguf())
                                        : text::load_tokenizer(ck.path());
  if (tokenizer->vocab_size() > ck.config().vocab_size)
    throw Error(Where{tokenizer->source()}, "tokenizer has " +
                                                std::to_string(tokenizer->vocab_size()) +
                                                " tokens but the model's embedding only " +
                                                std::to_string(ck.config().vocab_size));
  return tokenizer;
}

}  // namespace

void LoadedModel::load_layers(LayerRange layers) {
  require(decoder != nullptr, Where{checkpoint.path()}, "no decoder loaded to re-split");
  const ComputeOptions compute = decoder->compute();
  decoder.reset();
  decoder = std::make_unique<DecoderModel>(checkpoint, layers, compute);
}

LoadedModel load(const std::string& path, const LoadOptions& options) {
  LoadedModel m{Checkpoint::open(path), nullptr, nullptr};
  if (options.parts == Parts::Config) return m;
  m.tokenizer = read_tokenizer(m.checkpoint);
  if (options.parts == Parts::Tokenizer) return m;
  m.decoder = std::make_unique<DecoderModel>(m.checkpoint, options.layers, options.compute);
  return m;
}

}  // namespace clrp::model
