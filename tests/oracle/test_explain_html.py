"""`clrp explain --html`: a standalone page that headless Chromium renders, with
the layer map drawn by its script, hostile token text escaped, and the colour
scale ignoring special tokens."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tiny_models import make_llama

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def render(clrp_bin, tmp_path, prompt):
    html = tmp_path / "e.html"
    subprocess.run([str(clrp_bin), "explain", "--model", str(make_llama("llama_gqa_untied")), "--prompt", prompt,
                    "--correct", " Paris", "--html", str(html)], check=True, capture_output=True, text=True)
    return html


def test_html_escapes_prompt_text(clrp_bin, tmp_path):
    page = render(clrp_bin, tmp_path, 'A <script>alert("x")</script> & "quotes"').read_text()
    assert "<script>alert" not in page
    assert "&lt;" in page and "&amp;" in page
    assert page.count("<script>") == 1  # only the page's own map script


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is installed by scripts/bootstrap.sh")
def test_html_renders_in_headless_chromium(clrp_bin, tmp_path):
    html = render(clrp_bin, tmp_path, "Question: What is the capital of France? Answer:")
    dom = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # The script sized the canvas from the relevance matrix: it ran without error.
    m = re.search(r'<canvas id="map" width="(\d+)" height="(\d+)"', dom)
    assert m, "layer map canvas was not drawn"
    assert int(m.group(2)) == 4 * 8  # 4 layers, 8 px each
