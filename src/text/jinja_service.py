"""Chat templates rendered by Jinja2, as a line-oriented service for clrp.

clrp embeds this file in its binary (src/CMakeLists.txt) and runs it as one
long-lived child process (src/text/jinja_service.cpp): a chat template is a
Jinja program, and the engine that renders it for the reference —
transformers' apply_chat_template — is Jinja2 itself. clrp does not
re-implement Jinja; it renders with the same engine, configured the way
transformers configures it (transformers/utils/chat_template_utils.py,
_compile_jinja_template, pinned in scripts/requirements.txt):

  * ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with
    the loop-controls extension and a `{% generation %}` block tag (transformers
    uses it to find assistant tokens; here it renders its body unchanged);
  * the filter `tojson` as json.dumps(x, ensure_ascii=False, indent, separators,
    sort_keys) (Jinja's own escapes HTML characters; transformers replaces it);
  * the globals raise_exception(message) (raises TemplateError) and
    strftime_now(format) (the local time, as transformers does);
  * render(messages=..., tools=None, documents=None, add_generation_prompt=...,
    the tokenizer's special tokens (bos_token, eos_token, ...), and the
    caller's template switches such as enable_thinking).

Protocol (UTF-8 JSON, one object per line):
  start    -> {"ready": true, "jinja2": "3.1.6"}
              or {"ready": false, "error": "..."} (no Jinja2, or one older than 3.1)
  request  <- {"template": str, "messages": [{"role": str, "content": str}, ...],
               "add_generation_prompt": bool, "special_tokens": {name: str or [str]},
               "options": {name: any JSON value}, "unread_options": "error" | "ignore"}
  reply    -> {"text": str}
              or {"error": str, "kind": "syntax" | "raised" | "option" | "failed",
                  "line": int or null}
  request  <- {"template": str, "variables": true}
  reply    -> {"reads": [names]} (the variables the template reads), or an error
"unread_options": "ignore" drops the options the template never reads (a
campaign's settings apply to every model's template; each reads its own).
"syntax": the template does not parse; "raised": it called raise_exception
(a conversation it refuses, e.g. Gemma's "roles must alternate"); "option":
an option the template never reads (with the names it does read); "failed":
anything else rendering raised (an undefined attribute, a sandbox refusal).
The service keeps running after every error reply.
"""

import json
import sys
from datetime import datetime


def _hello_error(message):
    sys.stdout.write(json.dumps({"ready": False, "error": message}) + "\n")
    sys.stdout.flush()
    sys.exit(0)


try:
    import jinja2
    import jinja2.ext
    import jinja2.meta
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as e:  # pragma: no cover - depends on the interpreter
    _hello_error("this Python (" + sys.executable + ") has no Jinja2: " + str(e))


def _version_tuple(v):
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


if _version_tuple(jinja2.__version__) < (3, 1, 0):
    _hello_error("chat templates need Jinja2 >= 3.1.0 (as transformers does); " + sys.executable +
                 " has " + jinja2.__version__)


class GenerationBlock(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: the body, unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[GenerationBlock, jinja2.ext.loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now

# Compiled templates and the variables each reads, by source text. A process
# renders one or a few templates (one per model), thousands of times.
_COMPILED = {}


def _compile(source):
    entry = _COMPILED.get(source)
    if entry is None:
        reads = jinja2.meta.find_undeclared_variables(ENV.parse(source))
        entry = (ENV.from_string(source), reads)
        if len(_COMPILED) >= 16:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[source] = entry
    return entry


# What every render passes, whether the template reads it or not.
_STANDARD = {"messages", "tools", "documents", "add_generation_prompt"}


def _error(kind, message, line=None):
    return {"error": message, "kind": kind, "line": line}


def _line_of(error):
    # The template line a runtime error came from: the innermost traceback
    # frame compiled from the template ("<template>").
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(request):
    source = request["template"]
    options = request.get("options") or {}
    try:
        template, reads = _compile(source)
    except jinja2.exceptions.TemplateSyntaxError as e:
        return _error("syntax", e.message or str(e), e.lineno)
    if request.get("variables"):
        return {"reads": sorted(reads)}
    special_tokens = request.get("special_tokens") or {}
    unread = sorted(k for k in options if k not in reads)
    if unread and request.get("unread_options") == "ignore":
        options = {k: v for k, v in options.items() if k in reads}
    elif unread:
        switches = sorted(reads - _STANDARD - set(special_tokens))
        return _error("option", "the template does not read " +
                      ", ".join(repr(k) for k in unread) + "; " +
                      ("the other variables it reads: " + ", ".join(switches) if switches
                       else "it reads no variable besides the conversation and special tokens"))
    variables = dict(special_tokens)
    variables.update(options)  # as transformers: template kwargs overwrite special tokens
    try:
        text = template.render(messages=request["messages"], tools=None, documents=None,
                               add_generation_prompt=bool(request["add_generation_prompt"]),
                               **variables)
    except jinja2.exceptions.TemplateError as e:
        # raise_exception() and Jinja's own errors (undefined names, sandbox
        # refusals) are TemplateErrors; the former carry the template's words.
        kind = "raised" if type(e) is jinja2.exceptions.TemplateError else "failed"
        message = str(e) if kind == "raised" else type(e).__name__ + ": " + str(e)
        return _error(kind, message, _line_of(e))
    except Exception as e:  # noqa: BLE001 - the template's own failure, reported
        return _error("failed", type(e).__name__ + ": " + str(e), _line_of(e))
    return {"text": text}


def main():
    # Replies are ASCII (json.dumps escapes the rest), whatever the locale.
    sys.stdout.write(json.dumps({"ready": True, "jinja2": jinja2.__version__}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line.decode("utf-8"))
            reply = render(request)
        except (ValueError, KeyError, TypeError) as e:
            reply = _error("failed", "a request clrp should not have sent: " + str(e))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
