"""Tiny random models saved as safetensors, the way users have them (config.json + weights).

Each variant switches one thing that the loader or the forward pass must get
right. Models are cached under tests/oracle/.fixtures/ keyed by variant name;
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
