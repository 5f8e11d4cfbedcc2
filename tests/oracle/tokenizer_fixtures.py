"""Tokenizer files of the families that ship no real tokenizer in a package.

Each is a small BPE (or Unigram) vocabulary trained with the `tokenizers`
library on the oracle corpus, then given its family's exact pipeline
(normalizer, pre-tokenizer, decoder, post-processor, model flags) as the real
tokenizer.json of that family has it:

  llama2_spm      Llama-2 / Mistral-7B-v0.1 (legacy SentencePiece conversion):
                  Sequence[Prepend("▁"), Replace(" " -> "▁")], no pre-tokenizer,
                  BPE byte_fallback + fuse_unk, decoder Sequence[Replace("▁" -> " "),
                  ByteFallback, Fuse, Strip(" ", 1, 0)], "<s> $A".
  mistral_spm     non-legacy Llama/Mistral conversion (LlamaConverter with
                  legacy=False): no normalizer, Metaspace(prepend_scheme "first",
                  split false) pre-tokenizer, the same decoder as llama2_spm.
  gemma_spm       Gemma-2/3: Replace(" " -> "▁"), Split(" ", MergedWithPrevious),
                  BPE byte_fallback, decoder Sequence[Replace, ByteFallback, Fuse],
                  "<bos> $A".
  unigram_spm     a Unigram model with Metaspace(always, split) pre-tokenizer and
                  decoder (T5/ALBERT-style SentencePiece Unigram, without the
                  Precompiled normalizer), plus byte fallback and its decoders.
  gpt2_bytelevel  GPT-2: ByteLevel(add_prefix_space false) with GPT-2's regex,
                  ByteLevel decoder and post-processor.
  qwen2_bytelevel Qwen2: NFC, Split(Qwen2's regex, Isolated) + ByteLevel(use_regex
                  false), ChatML added tokens.

Files are cached in tests/oracle/.fixtures/ (git-ignored), named with FIXTURE_VERSION.
"""
from __future__ import annotations

import json
import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parent / ".fixtures"
FIXTURE_VERSION = "v1"
META = "\u2581"

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def _training_texts(corpus: list[str]) -> list[str]:
    # Short and medium texts only: enough for a few thousand merges, fast to train.
    return [t for t in corpus if 0 < len(t) < 4000]


def _spm_bpe(corpus: list[str], specials: list[str], vocab_size: int) -> dict:
    """A SentencePiece-style BPE: specials, then the 256 byte tokens, then merges."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=specials[0] if "<unk>" in specials else None))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials + BYTE_TOKENS,
                                  limit_alphabet=180, show_progress=False)
    tok.train_from_iterator(_training_texts(corpus), trainer)
    data = json.loads(tok.to_str())
    # The byte tokens are plain vocabulary entries in SentencePiece files.
    data["added_tokens"] = [a for a in data["added_tokens"] if a["content"] in specials]
    for a in data["added_tokens"]:
        a.update(normalized=False, special=True)
    data["model"].update(dropout=None, fuse_unk=True, byte_fallback=True, ignore_merges=False,
                         continuing_subword_prefix=None, end_of_word_suffix=None)
    return data


def _template(token: str, token_id: int) -> dict:
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": token, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {token: {"id": token, "ids": [token_id], "tokens": [token]}}}


SPM_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": META}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def llama2_spm(corpus: list[str]) -> dict:
    data = _spm_bpe(corpus, ["<unk>", "<s>", "</s>"], 3000)
    data["model"]["unk_token"] = "<unk>"
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": META},
        {"type": "Replace", "pattern": {"String": " "}, "content": META}]}
    data["pre_tokenizer"] = None
    data["decoder"] = SPM_DECODER
    data["post_processor"] = _template("<s>", 1)
    return data


def mistral_spm(corpus: list[str]) -> dict:
    data = _spm_bpe(corpus, ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"], 2500)
    data["model"]["unk_token"] = "<unk>"
    data["normalizer"] = None
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": META, "prepend_scheme": "first",
                             "split": False}
    data["decoder"] = SPM_DECODER
    data["post_processor"] = _template("<s>", 1)
    return data


def gemma_spm(corpus: list[str]) -> dict:
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    data = _spm_bpe(corpus, specials, 3500)
    data["model"]["unk_token"] = "<unk>"
    data["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": META}
    data["pre_tokenizer"] = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                             "invert": False}
    data["decoder"] = {"type": "Sequence", "decoders": SPM_DECODER["decoders"][:3]}
    data["post_processor"] = _template("<bos>", 2)
    return data


def unigram_spm(corpus: list[str]) -> dict:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(vocab_size=2000, special_tokens=["<pad>", "</s>", "<unk>"] + BYTE_TOKENS,
                                      unk_token="<unk>", show_progress=False, max_piece_length=12)
    tok.train_from_iterator(_training_texts(corpus)[:3000], trainer)
    data = json.loads(tok.to_str())
    data["added_tokens"] = [a for a in data["added_tokens"] if a["content"] not in BYTE_TOKENS]
    data["model"]["byte_fallback"] = True
    data["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    data["post_processor"] = {"type": "TemplateProcessing",
                              "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                         {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                              "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                       {"Sequence": {"id": "B", "type_id": 1}}],
                              "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}}
    return data


def _byte_level_bpe(corpus: list[str], pre_tokenizer, normalizer, specials: list[str], vocab_size: int) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_training_texts(corpus), trainer)
    return json.loads(tok.to_str())


def gpt2_bytelevel(corpus: list[str]) -> dict:
    from tokenizers import pre_tokenizers

    data = _byte_level_bpe(corpus, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), None,
                           ["<|endoftext|>"], 3000)
    data["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                              "use_regex": True}
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    return data


def qwen2_bytelevel(corpus: list[str]) -> dict:
    from tokenizers import Regex, normalizers, pre_tokenizers

    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    data = _byte_level_bpe(corpus, pre, normalizers.NFC(), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                           3000)
    data["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                              "use_regex": False}
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                       "use_regex": False}
    return data


BUILDERS = {
    "llama2_spm": llama2_spm,
    "mistral_spm": mistral_spm,
    "gemma_spm": gemma_spm,
    "unigram_spm": unigram_spm,
    "gpt2_bytelevel": gpt2_bytelevel,
    "qwen2_bytelevel": qwen2_bytelevel,
}


def fixture_path(name: str, corpus: list[str]) -> pathlib.Path:
    """The cached tokenizer.json of `name`, trained on first use."""
    FIXTURES.mkdir(exist_ok=True)
    path = FIXTURES / f"{name}-{FIXTURE_VERSION}.json"
    if not path.exists():
        data = BUILDERS[name](corpus)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    return path


def write_llama_spm_gguf(tokenizer_json: pathlib.Path, dst: pathlib.Path) -> None:
    """A metadata-only GGUF with a SentencePiece ('llama') tokenizer made from a
    llama2_spm file: its pieces, scores that rank them (-id, as Llama-2's BPE
    scores do) and llama.cpp's token types."""
    import gguf

    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    tokens = [""] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    specials = {a["content"] for a in data["added_tokens"]}
    types = [6 if t in BYTE_TOKENS else 3 if t in specials else 1 for t in tokens]
    types[0] = 2  # <unk>
    w = gguf.GGUFWriter(str(dst), "llama")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_embedding_length(8)
    w.add_feed_forward_length(16)
    w.add_head_count(1)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores([0.0 if t in specials or t in BYTE_TOKENS else -float(i) for i, t in enumerate(tokens)])
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_gemma_template_gguf(src: pathlib.Path, dst: pathlib.Path, template: str) -> None:
    """A metadata-only copy of the tokenizer fields of a Gemma GGUF, with a chat template."""
    import gguf
    from gguf import GGUFReader

    r = GGUFReader(str(src))
    f = {k: v.contents() for k, v in r.fields.items() if k.startswith("tokenizer.")}
    w = gguf.GGUFWriter(str(dst), "gemma3")
    w.add_tokenizer_model(f["tokenizer.ggml.model"])
    w.add_tokenizer_pre(f["tokenizer.ggml.pre"])
    w.add_token_list(f["tokenizer.ggml.tokens"])
    w.add_token_scores(f["tokenizer.ggml.scores"])
    w.add_token_types(f["tokenizer.ggml.token_type"])
    w.add_bos_token_id(f["tokenizer.ggml.bos_token_id"])
    w.add_eos_token_id(f["tokenizer.ggml.eos_token_id"])
    w.add_unk_token_id(f["tokenizer.ggml.unknown_token_id"])
    w.add_pad_token_id(f["tokenizer.ggml.padding_token_id"])
    w.add_add_bos_token(f["tokenizer.ggml.add_bos_token"])
    w.add_add_eos_token(f["tokenizer.ggml.add_eos_token"])
    w.add_add_space_prefix(f["tokenizer.ggml.add_space_prefix"])
    w.add_chat_template(template)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
