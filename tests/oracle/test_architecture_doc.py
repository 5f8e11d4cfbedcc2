"""docs/architecture.md stays a true map of the code (issue 19): every repository path it names in
backticks exists, every module folder of src/ and include/clrp/ has its paragraph, and each of the five
"how to" recipes names the files it touches. Reads files only: no build needed."""
from __future__ import annotations

import glob
import re

import pytest

from conftest import REPO

DOC = REPO / "docs" / "architecture.md"

# The five kinds of change the doc must explain, as "### <heading>" sections.
RECIPES = [
    "Add a model family",
    "Add a rule",
    "Add a benchmark, or a benchmark format",
    "Add a stored column",
    "Add a pipeline stage kind",
]

# Top-level folders outside src/ and include/ that the module map covers too.
OTHER_MODULES = ["analysis", "tests", "bench", "slurm", "scripts", "jobs"]


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The doc without its fenced code blocks (the data-flow picture names folders loosely)."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)


def looks_like_path(span: str) -> bool:
    """A repository path: contains a '/' and its last part has a file extension, or ends with '/'.
    Placeholders ("src/<module>/", "<store>.logs/...") and spans with spaces are not paths."""
    if any(c in span for c in " <>|:{}()") or "/" not in span:
        return False
    if span.endswith("/"):
        return True
    return re.search(r"\.[A-Za-z0-9_]+$", span.rsplit("/", 1)[-1]) is not None


def named_paths(text: str) -> list[str]:
    spans = re.findall(r"`([^`\n]+)`", prose(text))
    return sorted({s for s in spans if looks_like_path(s)})


def section(text: str, heading: str) -> str:
    m = re.search(rf"^### {re.escape(heading)}\n(.*?)(?=^##+ |\Z)", text, flags=re.S | re.M)
    assert m, f"docs/architecture.md has no section '### {heading}'"
    return m.group(1)


def test_the_doc_names_paths():
    assert len(named_paths(doc_text())) > 50


def test_every_named_path_exists():
    missing = []
    for p in named_paths(doc_text()):
        if "*" in p:
            if not glob.glob(str(REPO / p)):
                missing.append(p)
        elif not (REPO / p).exists():
            missing.append(p)
        elif p.endswith("/") and not (REPO / p).is_dir():
            missing.append(p + " (not a folder)")
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def source_modules() -> list[str]:
    src = {p.name for p in (REPO / "src").iterdir() if p.is_dir()}
    inc = {p.name for p in (REPO / "include" / "clrp").iterdir() if p.is_dir()}
    return sorted(src | inc)


def test_there_are_modules_to_check():
    assert {"util", "model", "lrp", "campaign", "store"} <= set(source_modules())


@pytest.mark.parametrize("module", source_modules() + OTHER_MODULES)
def test_every_module_has_its_paragraph(module):
    assert re.search(rf"^\*\*{re.escape(module)}/\*\*", doc_text(), flags=re.M), (
        f"docs/architecture.md has no paragraph starting '**{module}/**'")


@pytest.mark.parametrize("heading", RECIPES)
def test_every_recipe_names_the_files_it_touches(heading):
    paths = named_paths(section(doc_text(), heading))
    files = [p for p in paths if not p.endswith("/")]
    assert len(files) >= 3, f"'{heading}' names too few files: {paths}"
    assert any(p.startswith(("src/", "include/", "analysis/")) for p in files)
    assert any(p.startswith("tests/") for p in paths), f"'{heading}' names no test"


def test_no_pointer_outside_the_repository():
    text = doc_text()
    assert "shared/DESIGN.md" not in text
    assert "Not yet built" not in text


def test_length_stays_readable():
    assert 250 <= len(doc_text().splitlines()) <= 450
