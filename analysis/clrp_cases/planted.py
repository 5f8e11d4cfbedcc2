"""Planted-evidence tasks: cases whose evidence and failure mechanism are known by construction.

Each task is generated from the seed alone (no data source), item by item from its own
`random.Random(f"{seed}:{task}:{index}")`, so any prefix of a task is the same whatever the
count asked for. Every case carries `evidence` (the span that decides the answer) and, in
`meta`, the mechanism it tests (`meta.mechanism`) and, where a task plants them, the spans of
its distractors (`meta.distractor_spans`, code points like `evidence`) and the answer a model
that follows them gives (`meta.distractor_answer`). docs/cases.md, "Planted-evidence tasks",
describes each task; issue 23's trained series learns them, and its validation compares
clrp's evidence recovery and outcome categories with what is planted here.

- planted_retrieval: key→value lines ("- apple: 42"); the question names one key. Evidence: its line.
- planted_copy: a passage with several people and what they found; the question asks for one
  person's name or number, copied from the passage. Evidence: that person's sentence.
- planted_format: a question with a one-word answer and a format instruction (capital letters,
  double quotes, or a closing phrase), judged by IFEval's checkers. Evidence: the instruction's sentence.
- planted_two_step: who is whose partner, and who lives in which room; the question asks for the
  room of someone's partner. Evidence: both facts (neither alone decides).
- planted_distractor: retrieval with a near-duplicate key (the key's plural) just before the
  question with another value: a model matching by surface and recency answers the distractor's value
  (relevance outside the evidence, the reference study's OIT). Evidence: the true line.
"""
from __future__ import annotations

import random

from .caseformat import Case, answer_gold, instruction_gold

TASKS = ("planted_retrieval", "planted_copy", "planted_format", "planted_two_step", "planted_distractor")
FORMATS = {t: "instructions" if t == "planted_format" else "generative" for t in TASKS}
DEFAULT_COUNT = 100  # items per task when no --limit is given

# Retrieval keys: common nouns, each one token for most tokenizers, written after a space both in
# its line and in the question, so that finding the key is matching a token (what a small trained
# model can learn; issue 23's series) rather than matching a split word to another split.
_KEYS = ["apple", "river", "candle", "garden", "window", "pencil", "mirror", "ladder", "basket", "bottle",
         "carpet", "castle", "cherry", "cloud", "coffee", "copper", "cotton", "desert", "dragon", "engine",
         "forest", "glove", "hammer", "island", "jacket", "kettle", "lemon", "magnet", "meadow", "needle",
         "orange", "parrot", "pepper", "pillow", "planet", "pocket", "rabbit", "ribbon", "rocket", "saddle",
         "silver", "spider", "tiger", "tomato", "tunnel", "violin", "wagon", "walnut", "whistle", "winter",
         "wizard", "anchor", "bridge", "camera", "doctor", "falcon", "guitar", "helmet", "lantern", "monkey"]
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
_VOWELS = ["a", "e", "i", "o", "u"]
_FIRST = ["Ada", "Bruno", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
          "Leon", "Maya", "Nils", "Olga", "Pavel", "Rosa", "Samir", "Tara", "Viktor"]
_OBJECTS = ["shells", "coins", "keys", "stamps", "marbles", "feathers", "buttons", "pebbles"]
_PLACES = ["river", "old mill", "harbour", "garden wall", "bus stop", "library", "bridge", "market"]
_FILLER = ["The weather had been mild all week.", "Nobody in town remembered such a quiet spring.",
           "A light wind came in from the sea.", "The shops closed early that afternoon.",
           "Children were playing near the square.", "The evening bells rang at seven."]
# (question, one-word answer): facts any reader knows, so that the format is what is tested.
_FACTS = [("What color is fresh grass?", "green"), ("What is frozen water called?", "ice"),
          ("Which animal barks?", "dog"), ("What color is the clear daytime sky?", "blue"),
          ("What do bees make?", "honey"), ("Which star does the Earth orbit?", "sun"),
          ("What is the opposite of hot?", "cold"), ("How many legs does a spider have?", "eight")]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


def _distinct(rng: random.Random, n: int, make) -> list:
    out: list = []
    while len(out) < n:
        v = make()
        if v not in out:
            out.append(v)
    return out


def _span_of(case: Case, segment_index: int, text: str) -> tuple[int, int]:
    at = case.segments[segment_index][1].index(text)
    start = case.segment_start(segment_index) + at
    return (start, start + len(text))


def _meta(task: str, index: int, seed: int, mechanism: str, **more) -> dict:
    # source, shots, fewshot_ids and native_id as every prepared case has them.
    return {"source": "analysis/clrp_cases/planted.py", "task": task, "index": index, "seed": seed,
            "mechanism": mechanism, "shots": 0, "fewshot_ids": [], "native_id": f"{task}/{index}", **more}


def _retrieval(rng: random.Random, index: int, seed: int, distractor: bool, ask: int | None = None) -> Case:
    task = "planted_distractor" if distractor else "planted_retrieval"
    n = rng.randint(6, 10)
    keys = rng.sample(_KEYS, n)
    values = _distinct(rng, n + 1, lambda: rng.randint(10, 99))
    target = _pick(rng.randrange(n), ask, n)
    lines = [f"{k}: {v}" for k, v in zip(keys, values)]
    context = "".join(f"- {line}\n" for line in lines)
    segments = [("instruction", "Each line below pairs a code word with a number.\n\n"), ("context", context)]
    decoy = None
    if distractor:
        # The target key's plural (no key is a plural), carrying a value no line has: only
        # surface matching leads there.
        decoy = keys[target] + "s"
        segments.append(("context", f"\nReminder: {decoy}: {values[n]}\n"))
    segments += [("question", f"\nWhat number goes with {keys[target]}?\n"), ("answer_prefix", "Answer:")]
    answer = str(values[target])
    case = Case(id=f"{task}/{index}", benchmark=task, format="generative", segments=segments,
                gold=answer_gold(answer, [], "number", " " + answer, ["\n"], 24))
    case.evidence = [_span_of(case, 1, lines[target])]
    if distractor:
        reminder = f"{decoy}: {values[n]}"
        case.meta = _meta(task, index, seed, "distractor", pairs=n, position=target,
                          distractor_spans=[list(_span_of(case, 2, reminder))],
                          distractor_answer=str(values[n]))
    else:
        case.meta = _meta(task, index, seed, "retrieval", pairs=n, position=target)
    return case


def _copy(rng: random.Random, index: int, seed: int, ask: int | None = None) -> Case:
    task = "planted_copy"
    n = rng.randint(3, 5)
    people = _distinct(rng, n, lambda: f"{rng.choice(_FIRST)} {_word(rng, 2)}")
    objects = rng.sample(_OBJECTS, n)
    counts = _distinct(rng, n, lambda: rng.randint(2, 99))
    places = [rng.choice(_PLACES) for _ in range(n)]
    facts = [f"{p} found {c} {o} near the {pl}." for p, c, o, pl in zip(people, counts, objects, places)]
    sentences = facts + rng.sample(_FILLER, 2)
    rng.shuffle(sentences)
    # Questions: (person, name or number); the item's own is its drawn person, name for even items.
    question_index = _pick(2 * rng.randrange(n) + index % 2, ask, 2 * n)
    target, ask_name = question_index // 2, question_index % 2 == 0
    if ask_name:
        question, answer, judge = f"Who found the {objects[target]}?", people[target], "contains"
    else:
        question, answer, judge = f"How many {objects[target]} did {people[target]} find?", str(counts[target]), "number"
    segments = [("instruction", "Read the passage and answer the question.\n\n"),
                ("context", " ".join(sentences) + "\n"), ("question", f"\n{question}\n"),
                ("answer_prefix", "Answer:")]
    case = Case(id=f"{task}/{index}", benchmark=task, format="generative", segments=segments,
                gold=answer_gold(answer, [], judge, " " + answer, ["\n"], 24))
    case.evidence = [_span_of(case, 1, facts[target])]
    case.meta = _meta(task, index, seed, "copy", people=n, asks="name" if ask_name else "number")
    return case


def _format(rng: random.Random, index: int, seed: int) -> Case:
    task = "planted_format"
    question, answer = rng.choice(_FACTS)
    kind = index % 3
    if kind == 0:
        # IFEval's capital-letters check also asks langdetect for English, which a single
        # word does not always pass: the instruction asks for a sentence.
        sentence = "Answer with a full sentence written in capital letters only."
        check, kwargs, reference = "change_case:english_capital", {}, f" THE ANSWER IS {answer.upper()}."
    elif kind == 1:
        sentence = "Wrap your whole answer in double quotation marks."
        check, kwargs, reference = "startend:quotation", {}, f' "{answer}"'
    else:
        phrase = rng.choice(["Done.", "That is all.", "Thank you."])
        sentence = f"End your answer with the exact phrase \"{phrase}\""
        check, kwargs, reference = "startend:end_checker", {"end_phrase": phrase}, f" {answer}. {phrase}"
    segments = [("question", f"Question: {question}\n"), ("instruction", f"{sentence}\n"),
                ("answer_prefix", "Answer:")]
    case = Case(id=f"{task}/{index}", benchmark=task, format="instructions", segments=segments, gold={})
    span = _span_of(case, 1, sentence)
    case.gold = instruction_gold([(check, kwargs)], ["\n"], 24, evidence=[[span]])
    case.evidence = [span]
    # A response that follows the instruction (instructions gold has no reference field).
    case.meta = _meta(task, index, seed, "format", instruction=check, answer=answer,
                      reference_response=reference)
    return case


def _two_step(rng: random.Random, index: int, seed: int, ask: int | None = None) -> Case:
    task = "planted_two_step"
    n = rng.randint(3, 4)
    names = _distinct(rng, 2 * n, lambda: rng.choice(_FIRST))
    rooms = _distinct(rng, 2 * n, lambda: rng.randint(10, 99))
    askers, partners = names[:n], names[n:]
    partner_facts = [f"{a}'s partner is {b}." for a, b in zip(askers, partners)]
    room_facts = [f"{p} lives in room {r}." for p, r in zip(names, rooms)]
    rng.shuffle(partner_facts)
    rng.shuffle(room_facts)
    target = _pick(rng.randrange(n), ask, n)
    first = f"{askers[target]}'s partner is {partners[target]}."
    second = f"{partners[target]} lives in room {rooms[n + target]}."
    segments = [("context", " ".join(partner_facts) + "\n" + " ".join(room_facts) + "\n"),
                ("question", f"\nIn which room does {askers[target]}'s partner live?\n"),
                ("answer_prefix", "Answer: room")]
    answer = str(rooms[n + target])
    case = Case(id=f"{task}/{index}", benchmark=task, format="generative", segments=segments,
                gold=answer_gold(answer, [], "number", " " + answer, ["\n"], 24))
    case.evidence = sorted([_span_of(case, 0, first), _span_of(case, 0, second)])
    # The asker's own room is the answer of a model that takes one step only.
    case.meta = _meta(task, index, seed, "two_step", people=2 * n, one_step_answer=str(rooms[target]))
    return case


def _pick(drawn: int, ask: int | None, count: int) -> int:
    """The question asked: the one drawn, or question `ask` of the item's `count` (questions())."""
    if ask is None:
        return drawn
    if not 0 <= ask < count:
        raise IndexError(f"question {ask} of {count}")
    return ask


def _item(task: str, index: int, seed: int, ask: int | None = None) -> Case:
    rng = random.Random(f"{seed}:{task}:{index}")
    if task == "planted_retrieval":
        return _retrieval(rng, index, seed, distractor=False, ask=ask)
    if task == "planted_distractor":
        return _retrieval(rng, index, seed, distractor=True)  # its reminder belongs to its question
    if task == "planted_copy":
        return _copy(rng, index, seed, ask)
    if task == "planted_format":
        return _format(rng, index, seed)
    return _two_step(rng, index, seed, ask)


def build(task: str, count: int, seed: int) -> list[Case]:
    """The first `count` items of `task` (one of TASKS) for `seed`."""
    if task not in TASKS:
        raise ValueError(f"unknown planted task {task!r} (one of {', '.join(TASKS)})")
    return [_item(task, i, seed) for i in range(count)]


def questions(task: str, index: int, seed: int) -> list[Case]:
    """Every question item `index` of `task` can ask about its own context (the same context,
    instruction and distractors; its own question first): each key of a retrieval list, each
    person's name and number, each asker's partner's room. A training document that asks them all
    teaches the task with several answers per context (analysis/train_series.py); format and
    distractor items ask one question only."""
    own = _item(task, index, seed)
    count = {"planted_retrieval": own.meta.get("pairs"), "planted_copy": 2 * own.meta.get("people", 0),
             "planted_two_step": own.meta.get("people", 0) // 2}.get(task)
    if not count:
        return [own]
    others = [_item(task, index, seed, ask) for ask in range(count)]
    return [own] + [c for c in others if c.prompt != own.prompt]
