#include "family_weights.hpp"

#include <iterator>

#include "family_table.hpp"

namespace clrp::model::detail {

namespace {

// One row per Family, in the enum's order. Only families with a GGUF reader
// (config_gguf.cpp) are ever read from GGUF; the others' GGUF columns say what
// llama.cpp's converter does for them.
constexpr FamilyWeights kFamilyWeights[] = {
    {Family::Llama, Naming::Llama, true, false},  {Family::Mistral, Naming::Llama, true, false},
    {Family::Qwen2, Naming::Llama, false, false}, {Family::Qwen3, Naming::Llama, false, false},
    {Family::Olmo2, Naming::Llama, false, true},  {Family::Olmo3, Naming::Llama, false, true},
    {Family::Gemma3, Naming::Llama, false, true}, {Family::GptNeox, Naming::GptNeox, false, false},
    {Family::Gpt2, Naming::Gpt2, false, false},
};

static_assert(follows_family_enum(kFamilyWeights),
              "kFamilyWeights has one row per Family, in the enum's order");

}  // namespace

const FamilyWeights& family_weights(Family family) {
  return kFamilyWeights[static_cast<std::size_t>(family)];
}

}  // namespace clrp::model::detail
