// Reading the `<arch>.*` metadata of a GGUF file into the decoder's switches.
//
// GGUF stores only the shapes and a few hyperparameters; what it leaves out
// is what llama.cpp and transformers' GGUF loader assume for the
// architecture. We assume the same, so a GGUF model here equals the model
// transformers builds from that file.
#include <cmath>

#include "clrp/io/gguf.hpp"
#include "clrp/model/config.hpp"
#include "clrp/util/error.hpp"

namespace clrp::model {

namespace {

// Shapes and the rotary base, under the GGUF keys every architecture shares.
void read_shapes(const io::GgufFile& g, const std::string& arch, ModelConfig& c) {
  auto key = [&](const char* k) { return arch + "." + k; };
  c.hidden_size = g.get_int(key("embedding_length"));
  c.intermediate_size = g.get_int(key("feed_forward_length"));
  c.num_layers = g.get_int(key("block_count"));
  check_layer_count(c.num_layers, g.path(), key("block_count"));
  c.num_heads = g.get_int(key("attention.head_count"));
  c.num_kv_heads = g.get_int_opt(key("attention.head_count_kv")).value_or(c.num_heads);
  c.head_dim = g.get_int_opt(key("attention.key_length"))
                   .value_or(c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  if (auto v = g.get_int_opt(key("attention.value_length")); v && *v != c.head_dim)
    throw Error(Where{g.path(), key("attention.value_length")},
                "differs from attention.key_length; clrp needs equal key and value head sizes");
  c.max_position_embeddings = g.get_int_opt(key("context_length")).value_or(2048);
  if (auto v = g.get_int_opt(key("vocab_size"))) {
    c.vocab_size = *v;
  } else if (g.has("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<std::int64_t>(g.get_string_array("tokenizer.ggml.tokens").size());
  } else if (const auto* t = g.find("token_embd.weight"); t != nullptr && t->shape.size() == 2) {
    c.vocab_size = t->shape[0];
  }
  c.norm = NormKind::RMSNorm;
  c.norm_eps = g.get_float(key("attention.layer_norm_rms_epsilon"));
  c.gated_mlp = true;
  c.rope_theta = g.get_float_opt(key("rope.freq_base")).value_or(10000.0);
  if (auto type = g.get_string_opt(key("rope.scaling.type")); type && *type != "none") {
    if (*type == "linear") {
      c.rope_scaling.kind = RopeScaling::Kind::Linear;
      c.rope_scaling.factor = g.get_float(key("rope.scaling.factor"));
    } else {
      throw Error(Where{g.path(), key("rope.scaling.type")},
                  "rope scaling type '" + *type + "' is not implemented");
    }
  }
  // No separate output matrix means the unembedding is tied to the embedding.
  c.tie_word_embeddings = g.find("output.weight") == nullptr;
}

void read_llama(const io::GgufFile& g, ModelConfig& c) {
  c.activation = Activation::SiLU;
  if (auto dims = g.get_int_opt("llama.rope.dimension_count"); dims && c.head_dim > 0)
    c.partial_rotary_factor = static_cast<double>(*dims) / static_cast<double>(c.head_dim);
  // Llama-3 rope scaling lives in a precomputed tensor in GGUF files.
  if (g.find("rope_freqs.weight") != nullptr)
    throw Error(
        Where{g.path(), "rope_freqs.weight"},
        "GGUF files with precomputed rope frequencies (Llama-3.1 scaling) are not supported yet; "
        "use the Hugging Face safetensors checkpoint");
}

// Gemma-3 text models. The GGUF converter stores the RMSNorm weights with
// Gemma's "+1" already added, so here the block multiplies by the stored
// weight (norm_weight_offset stays false). What GGUF leaves out takes
// Gemma3TextConfig's defaults, as transformers' GGUF loader does: a global
// layer every sixth, local rotary base 10000, query_pre_attn_scalar 256.
void read_gemma3(const io::GgufFile& g, ModelConfig& c) {
  c.activation = Activation::GELUTanh;
  c.attn_pre_norm = c.attn_post_norm = c.mlp_pre_norm = c.mlp_post_norm = true;
  c.qk_norm = QKNorm::PerHead;
  c.embedding_scale = std::sqrt(static_cast<double>(c.hidden_size));
  c.attention_scale = 1.0 / std::sqrt(256.0);
  c.local_rope_theta = 10000.0;
  const std::int64_t window = g.get_int_opt("gemma3.attention.sliding_window").value_or(4096);
  c.interleave_sliding_layers(window, 6);
}

// One reader per general.architecture: the family it stands for and what its
// GGUF files leave out. The shared `<arch>.*` keys are read before it.
struct ArchitectureReader {
  const char* architecture;
  Family family;
  void (*read)(const io::GgufFile&, ModelConfig&);
};

const ArchitectureReader kArchitectures[] = {
    {"llama", Family::Llama, read_llama},
    {"gemma3", Family::Gemma3, read_gemma3},
};

}  // namespace

const std::vector<std::string>& supported_gguf_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& a : kArchitectures)
      out.emplace_back(a.architecture);
    return out;
  }();
  return names;
}

ModelConfig read_gguf_config(const io::GgufFile& g) {
  ModelConfig c;
  c.source = g.path();
  const std::string arch = g.get_string("general.architecture");
  for (const auto& reader : kArchitectures)
    if (arch == reader.architecture) {
      c.family = reader.family;
      read_shapes(g, arch, c);
      reader.read(g, c);
      c.validate();
      return c;
    }
  std::string list;
  for (const auto& name : supported_gguf_architectures())
    list += (list.empty() ? "" : ", ") + name;
  throw Error(Where{g.path(), "general.architecture"},
              "unknown or unsupported GGUF architecture '" + arch + "' (supported: " + list + ")");
}

}  // namespace clrp::model
