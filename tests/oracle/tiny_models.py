"""Tiny random models saved as safetensors, the way users have them (config.json + weights).

Each variant switches one thing that the loader or the forward pass must get
right. LLAMA_VARIANTS (make_llama) are Llama models; FAMILY_VARIANTS (make_family)
cover the other supported families: Qwen2, Qwen3, Mistral, OLMo-2, OLMo-3,
Gemma-3 (text), GPT-NeoX and GPT-2. make_family also accepts LLAMA_VARIANTS names. Models are cached under tests/oracle/.fixtures/ keyed by variant name;
they are deterministic (fixed seed), so the cache never goes stale silently —
a changed recipe must change the variant name.
"""
from __future__ import annotations

import pathlib

import torch
import transformers

FIXTURES = pathlib.Path(__file__).resolve().parent / ".fixtures"

LLAMA_BASE = dict(
    vocab_size=311,
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    tie_word_embeddings=False,
)

LLAMA_VARIANTS: dict[str, dict] = {
    "llama_gqa_untied": {},
    "llama_mha_tied": dict(num_key_value_heads=4, tie_word_embeddings=True),
    "llama_rope_llama3": dict(
        rope_theta=500000.0,
        max_position_embeddings=1024,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64),
    ),
    "llama_rope_linear": dict(rope_scaling=dict(rope_type="linear", factor=4.0)),
    "llama_biases": dict(attention_bias=True, mlp_bias=True),
    "llama_head_dim": dict(head_dim=24, num_attention_heads=6, num_key_value_heads=3),
    "llama_bf16_weights": dict(torch_dtype="bfloat16"),
    "llama_sharded": dict(shard="60KB"),
}


TOKENIZER_TEXT = (
    "The quick brown fox jumps over the lazy dog. Question: What is the capital of France? Answer: Paris.\n"
    "Which of these is a mammal? A. shark B. whale C. trout D. eel. Answer: B. 12 + 30 = 42.\n"
) * 20


def ensure_tokenizer(out: pathlib.Path, vocab_size: int) -> None:
    """A byte-level BPE tokenizer.json of exactly `vocab_size` entries, trained on fixed text."""
    if (out / "tokenizer.json").exists():
        return
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator([TOKENIZER_TEXT], trainer)
    tok.save(str(out / "tokenizer.json"))


def make_llama(name: str) -> pathlib.Path:
    """Creates (once) and returns the model directory of LLAMA_VARIANTS[name] (with a tokenizer.json)."""
    out = FIXTURES / name
    if (out / "config.json").exists():
        ensure_tokenizer(out, LLAMA_BASE["vocab_size"])
        return out
    spec = dict(LLAMA_BASE)
    spec.update(LLAMA_VARIANTS[name])
    shard = spec.pop("shard", None)
    dtype = spec.pop("torch_dtype", "float32")
    torch.manual_seed(sum(map(ord, name)))  # stable across runs, unlike hash()
    config = transformers.LlamaConfig(**spec)
    model = transformers.LlamaForCausalLM(config).eval()
    # Random init has tiny weights; widen them so every layer matters to the logits.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.08 if p.dim() > 1 else 0.5)
    if dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    tmp = out.with_suffix(".tmp")
    model.save_pretrained(tmp, safe_serialization=True, max_shard_size=shard or "10GB")
    ensure_tokenizer(tmp, config.vocab_size)
    tmp.rename(out)
    return out


def load_reference(path: pathlib.Path) -> transformers.PreTrainedModel:
    """The transformers model in fp32 (bf16 weights upcast), eager attention."""
    return transformers.AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation="eager").eval()


# --- The other families ------------------------------------------------------------------------------

# Shared tiny dimensions (every family): the tokenizer's vocabulary, 4 layers, hidden 64.
_DIMS = dict(vocab_size=LLAMA_BASE["vocab_size"], hidden_size=64, intermediate_size=160, num_hidden_layers=4,
             num_attention_heads=4, max_position_embeddings=512)

FAMILY_BASE: dict[str, dict] = {
    # Attention biases on q, k, v (not o): Qwen2's fixed layout.
    "qwen2": dict(_DIMS, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False),
    # Per-head q/k RMSNorm before rotary; head_dim is a free parameter (here 24, not hidden / heads).
    "qwen3": dict(_DIMS, num_key_value_heads=2, head_dim=24, rms_norm_eps=1e-6, rope_theta=10000.0,
                  tie_word_embeddings=False),
    # Sliding-window attention on every layer (window 16 matters from 17 tokens on).
    "mistral": dict(_DIMS, num_key_value_heads=2, sliding_window=16, rms_norm_eps=1e-5, rope_theta=10000.0,
                    tie_word_embeddings=False),
    # Norms after attention and MLP (not before); q/k RMSNorm over the whole projection (all heads).
    "olmo2": dict(_DIMS, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False),
    # OLMo-2 plus sliding-window layers (layer_types); full layers use rope_scaling, sliding ones default rope.
    "olmo3": dict(_DIMS, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                  sliding_window=16,
                  layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]),
    # Gemma-3 text: embeddings × sqrt(hidden), (1 + w) RMSNorm, 4 norms per block, q/k norm per head,
    # GELU-tanh gate, query_pre_attn_scalar ≠ head_dim, local (sliding, own rope base) and global layers.
    "gemma3_text": dict(_DIMS, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=24, rms_norm_eps=1e-6,
                        rope_theta=1000000.0, rope_local_base_freq=10000.0, sliding_window=512,
                        layer_types=["sliding_attention", "sliding_attention", "full_attention",
                                     "sliding_attention"],
                        hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                        final_logit_softcapping=None, attn_logit_softcapping=None),
    # LayerNorm with bias, fused per-head-interleaved qkv with bias, partial rotary (25 %), GELU MLP.
    "gpt_neox": dict(_DIMS, rotary_pct=0.25, rotary_emb_base=10000, layer_norm_eps=1e-5, hidden_act="gelu",
                     attention_bias=True, use_parallel_residual=True, tie_word_embeddings=False),
    # Learned positions, LayerNorm, Conv1D (transposed) fused c_attn, GELU (tanh, "gelu_new"), tied.
    "gpt2": dict(vocab_size=_DIMS["vocab_size"], n_embd=64, n_layer=4, n_head=4, n_inner=160, n_positions=512,
                 activation_function="gelu_new", layer_norm_epsilon=1e-5, tie_word_embeddings=True),
}

# name -> (model_type, overrides of FAMILY_BASE[model_type]).
FAMILY_VARIANTS: dict[str, tuple[str, dict]] = {
    "qwen2": ("qwen2", {}),
    "qwen2_tied": ("qwen2", dict(tie_word_embeddings=True)),
    # Sliding window on the layers from max_window_layers on (Qwen2's switch).
    "qwen2_swa": ("qwen2", dict(use_sliding_window=True, sliding_window=16, max_window_layers=2)),
    "qwen3": ("qwen3", {}),
    "qwen3_tied": ("qwen3", dict(tie_word_embeddings=True, num_key_value_heads=4, head_dim=16)),
    "mistral": ("mistral", {}),
    "mistral_full": ("mistral", dict(sliding_window=None)),
    "olmo2": ("olmo2", {}),
    "olmo3": ("olmo3", {}),
    "olmo3_yarn": ("olmo3", dict(rope_scaling=dict(rope_type="yarn", factor=4.0,
                                                   original_max_position_embeddings=128))),
    "gemma3": ("gemma3_text", {}),
    "gemma3_swa16": ("gemma3_text", dict(sliding_window=16)),
    "gpt_neox_parallel": ("gpt_neox", {}),
    "gpt_neox_sequential": ("gpt_neox", dict(use_parallel_residual=False)),
    "gpt2": ("gpt2", {}),
    "gpt2_untied_inv_layer": ("gpt2", dict(tie_word_embeddings=False, scale_attn_by_inverse_layer_idx=True)),
}


def family_of(name: str) -> str:
    """The model_type of a variant of FAMILY_VARIANTS or LLAMA_VARIANTS ("llama")."""
    return "llama" if name in LLAMA_VARIANTS else FAMILY_VARIANTS[name][0]


def _is_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.LayerNorm) or "Norm" in type(module).__name__


@torch.no_grad()
def _randomise(model: torch.nn.Module, zero_centred_norms: bool) -> None:
    """Weights that make every part of the model matter: matrices N(0, 0.08²), biases N(0, 0.1²), norm
    weights 1 + N(0, 0.2²) (Gemma's (1 + w) norms: w ~ N(0, 0.2²)), norm biases N(0, 0.1²)."""
    norm_params = set()
    for module in model.modules():
        if _is_norm(module):
            for pname, p in module.named_parameters(recurse=False):
                norm_params.add(id(p))
                if pname == "weight":
                    p.normal_(0.0, 0.2)
                    if not zero_centred_norms:
                        p.add_(1.0)
                else:
                    p.normal_(0.0, 0.1)
    for p in model.parameters():
        if id(p) in norm_params:
            continue
        p.normal_(0.0, 0.08 if p.dim() > 1 else 0.1)


def make_family(name: str) -> pathlib.Path:
    """Creates (once) and returns the model directory of FAMILY_VARIANTS[name] (or LLAMA_VARIANTS[name]),
    with config.json, fp32 model.safetensors and the tiny tokenizer.json."""
    if name in LLAMA_VARIANTS:
        return make_llama(name)
    model_type, overrides = FAMILY_VARIANTS[name]
    out = FIXTURES / name
    if (out / "config.json").exists():
        ensure_tokenizer(out, _DIMS["vocab_size"])
        return out
    spec = dict(FAMILY_BASE[model_type])
    spec.update(overrides)
    torch.manual_seed(sum(map(ord, name)))
    config = transformers.AutoConfig.for_model(model_type, **spec)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    _randomise(model, zero_centred_norms=model_type == "gemma3_text")
    if config.tie_word_embeddings:
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    tmp = out.with_suffix(".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    ensure_tokenizer(tmp, _DIMS["vocab_size"])
    tmp.rename(out)
    return out


def load_family(path: pathlib.Path) -> transformers.PreTrainedModel:
    """load_reference with every parameter frozen (only activations get gradients)."""
    model = load_reference(path)
    for p in model.parameters():
        p.requires_grad_(False)
    return model
