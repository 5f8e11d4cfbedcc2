"""Writes the seed corpus of fuzz_chat_template (tests/fuzz/corpus/chat_template/):
model folders as the fuzzer reads them (fuzz_chat_template.cpp says the format),
with templates and special tokens as real models ship them (SmolLM2's template,
Llama 3's special tokens, Qwen3's enable_thinking switch, named templates).

    .venv/bin/python tests/fuzz/make_chat_template_corpus.py
"""

import json
import os
import tempfile
from pathlib import Path

import gguf

OUT = Path(__file__).resolve().parent / "corpus" / "chat_template"
SEP = b"\n\x1e\n"

SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN3_THINK = (
    "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\n\n</think>\n\n' }}{%- endif %}{%- endif %}"
)
LLAMA3 = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{%- endif %}"
)


def seed(name, config=b"", settings=b"", user=b"What is 2 + 2?", special_map=b"", jinja=b"",
         chat_json=b"", additional=(), options=()):
    def enc(x):
        if isinstance(x, (dict, list)):
            return json.dumps(x, ensure_ascii=False).encode()
        return x.encode() if isinstance(x, str) else x

    extra = b"\x1f".join(enc(n) + b"\x1f" + enc(t) for n, t in additional)
    parts = [enc(config), enc(settings), enc(user), enc(special_map), enc(jinja), enc(chat_json),
             extra, "\n".join(options).encode()]
    while parts and parts[-1] == b"":
        parts.pop()
    (OUT / name).write_bytes(SEP.join(parts))


def gguf_bytes(templates):
    fd, path = tempfile.mkstemp(suffix=".gguf")
    os.close(fd)
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<unk>", "<|im_start|>", "<|im_end|>", "hi"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(7)  # out of range: no pad_token
    w.add_chat_template(templates)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = Path(path).read_bytes()
    os.remove(path)
    return data


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seed("smollm2_config", {"chat_template": SMOLLM2, "bos_token": "<|im_start|>",
                            "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                            "unk_token": "<|endoftext|>", "added_tokens_decoder": {}})
    seed("llama3_added_tokens", {
        "added_tokens_decoder": {"128000": {"content": "<|begin_of_text|>", "special": True}},
        "bos_token": {"content": "<|begin_of_text|>", "lstrip": False, "special": True},
        "eos_token": "<|eot_id|>", "pad_token": None, "sep_token": "",
        "additional_special_tokens": ["<|eom_id|>", {"content": "<|python_tag|>"}, 3],
        "chat_template": LLAMA3}, settings={"system": "You are terse."})
    seed("qwen3_options", {"chat_template": QWEN3_THINK, "eos_token": "<|im_end|>"},
         settings={"options": {"enable_thinking": False, "depth": 2, "tags": ["a", "b"]}},
         options=["enable_thinking=false", "tools=[]", "name=plain text", "x="])
    seed("named_templates", {"chat_template": [
        {"name": "default", "template": "{{ messages[0].content }}"},
        {"name": "rag", "template": "{{ documents }}{{ messages[0].content }}"},
        {"name": "tool_use", "template": "{{ tools }}"}]},
        settings={"template": "rag", "system": "sys"})
    seed("named_no_default", {"chat_template": [{"name": "tool_use", "template": "{{ tools }}"}]})
    seed("bad_named_entry", {"chat_template": [{"name": "rag"}, "x"]})
    seed("bad_chat_template_type", {"chat_template": 3})
    seed("jinja_file_legacy_map", {"bos_token": "<s>"}, special_map={
        "bos_token": {"content": "<|bos|>"}, "eos_token": "</s>",
        "additional_special_tokens": [{"content": "<x>"}, "<y>"]},
        jinja="{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>\n"
              "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
        additional=[("tool_use", "{{ tools }}"), ("rag", "{{ documents }}")])
    seed("additional_only", b"", settings={"template": "tool_use"},
         additional=[("tool_use", "T"), ("rag", "R")])
    seed("chat_template_json", b"", chat_json={"chat_template": "{{ messages | length }}"})
    seed("chat_template_json_bad", b"", chat_json={"chat_template": ["x"]})
    seed("no_template", {"bos_token": "<s>"})
    seed("template_fails", b"", jinja="line one\n{% if messages %}unclosed")
    seed("settings_unknown_field", {"chat_template": SMOLLM2}, settings={"sistem": "x"})
    seed("settings_bad_types", {"chat_template": SMOLLM2}, settings={"options": [1], "template": 2})
    seed("gguf_templates", gguf_bytes([
        {"name": "default", "template": SMOLLM2}, {"name": "rag", "template": "{{ documents }}"}]),
        settings={"template": "rag"})
    seed("gguf_one_template", gguf_bytes(SMOLLM2))


if __name__ == "__main__":
    main()
