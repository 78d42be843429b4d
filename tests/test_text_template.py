"""Breakpoint snippets compiled as text (splice.template.TextSnippet) must
behave exactly as the same snippets compiled from their AST: the same
instrumented code object, the same values, the same errors. Each scenario
runs twice on fresh copies of one function, once as splice does it and once
with the text path turned off, and the two outcomes are compared; the
snippets include every kind of text the text path hands to the AST path
(its checks are what these cases need)."""

from __future__ import annotations

import hashlib
import importlib
import linecache
import types
from typing import Any, Optional

import pytest

import splice
import splice.template as _template

# (the module: splice.breakpoint the attribute is the function)
_bp = importlib.import_module("splice.breakpoint")

SRC = '''\
G = 0


def target(a, b=2, *rest, k=0, **kw):
    fi = 0
    s = None
    out = []
    z = a + b
    out.append(z)
    return fi, s, out, z
'''
LINE = "out.append(z)"
_copies = iter(range(1_000_000))


def fresh() -> types.FunctionType:
    """A new copy of ``target`` (its own code object: no template cached)."""
    name = f"<splice text template {next(_copies)}>"
    linecache.cache[name] = (len(SRC), None, SRC.splitlines(True), name)
    ns: dict[str, Any] = {}
    exec(compile(SRC, name, "exec"), ns)
    return ns["target"]


def _literal(c: Any) -> str:
    if isinstance(c, (int, float, complex, str, bytes, bool, type(None), type(...))):
        return repr(c)
    if isinstance(c, tuple):
        return "(" + ",".join(_literal(x) for x in c) + ")"
    if isinstance(c, types.CodeType):
        return "code:" + hashlib.sha1(c.co_code).hexdigest()
    return f"<{type(c).__name__}>"  # a hook object: a new one every time


def _shape(code: types.CodeType) -> tuple[Any, ...]:
    return (
        code.co_code, [_literal(c) for c in code.co_consts], code.co_names, code.co_varnames,
        code.co_cellvars, code.co_freevars, code.co_exceptiontable, code.co_linetable,
        code.co_stacksize, code.co_flags,
    )


def _value(v: Any) -> Any:
    """``v`` with functions (a new one every call) as their names."""
    if isinstance(v, (tuple, list)):
        return type(v)(_value(x) for x in v)
    if isinstance(v, types.FunctionType):
        return f"<function {v.__qualname__}>"
    return v


def outcome(kind: str, text: Optional[str], cond: Optional[str]) -> tuple[Any, ...]:
    """What happens: the instrumented code's shape, the call's result, the
    eval results, or the error (type and message)."""
    fn = fresh()
    original = fn.__code__
    try:
        with splice.breakpoint(fn, line=LINE, cond=cond) as bp:
            results: Any = None
            if kind == "exec":
                bp.exec(text)
            elif kind == "eval":
                results = bp.eval(text)
            elif kind == "callback":
                seen: list[int] = []
                bp.callback(lambda view: seen.append(view.locals["z"]))
                results = seen
            elif kind == "count":
                bp.exec(text)
                bp.count_hits()
            shape = _shape(fn.__code__)
            value = fn(1)
            hits = bp.hits
        got: tuple[Any, ...] = ("ok", shape, _value(value), results, hits)
    except Exception as e:  # the error is part of the outcome
        got = ("error", type(e).__name__, str(e), getattr(e, "lineno", None), getattr(e, "offset", None))
    assert fn.__code__ is original
    return got


SCENARIOS = [
    ("exec", "z = z * 3", None),
    ("exec", "  z += 1\n  z += 1", None),  # indented: dedented first
    ("exec", "z = (1 +\n 2)\nif z:\n    s = [x for x in range(a)]\nelse:\n    s = None", None),
    ("exec", "out.append('#'); s = \"x # y\"  # a comment", None),
    ("exec", "s = f'{z!r:>4}'", None),
    ("exec", "global G\nG = z\ns = G", None),
    ("exec", "s = '''a\n  b'''", None),  # a string across lines: its text must not be indented
    ("exec", 's = "a\\\n  b"', None),  # a backslash continuation inside a string
    ("exec", "\ufb01 = 5", None),  # the ligature "fi": the identifier is NFKC "fi", a local
    ("exec", "if z:\n\ts = 1", None),  # tab indentation
    ("exec", "s = 1 if z else 2\r\nz = 0", None),  # CRLF
    ("exec", "s = 'return'", None),  # a refused word, in a string: the AST path decides
    ("exec", "# only a comment", None),
    ("exec", "", None),
    ("exec", "return 1", None),
    ("exec", "s = yield z", None),
    ("exec", "z = = 1", None),
    ("exec", "s = lambda: z", None),  # closes over a plain local: refused
    ("exec", "s = lambda z=z: z", None),
    ("exec", "s = __private", None),
    ("exec", "s = 1 \\", None),  # a trailing backslash
    ("exec", "from __future__ import annotations", None),
    ("eval", "z", None),
    ("eval", "z, a", None),
    ("eval", "*out, z", None),
    ("eval", "f(*out, z)", None),
    ("eval", "z * a, a ** 2", None),
    ("eval", "z  # a comment", None),
    ("eval", "x for x in out", None),  # a bare generator expression
    ("eval", "(y := z)", None),
    ("eval", "y := z", None),
    ("eval", "z +\n 1", None),
    ("eval", "z \\", None),
    ("eval", "", None),
    ("eval", "z = 1", None),
    ("exec", "z = 0", "z > 2"),
    ("exec", "z = 0", "z > 2  # a comment"),
    ("exec", "z = 0", "x for x in out"),
    ("exec", "z = 0", "a ==\n 1"),
    ("exec", "z = 0", "z >"),
    ("callback", None, None),
    ("callback", None, "z > 100"),
    ("count", "z = 7", None),
]


@pytest.mark.parametrize("kind,text,cond", SCENARIOS)
def test_text_path_matches_the_ast_path(kind, text, cond, monkeypatch):
    as_text = outcome(kind, text, cond)
    monkeypatch.setattr(_bp, "build_snippet_lines", lambda *a, **k: None)
    as_ast = outcome(kind, text, cond)
    assert as_text == as_ast


def test_ordinary_snippets_take_the_text_path(monkeypatch):
    taken: list[bool] = []
    compile_text = _template._compile_text

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = compile_text(*args, **kwargs)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(_template, "_compile_text", spy)
    assert outcome("exec", "z = z * 3", None)[0] == "ok"
    assert taken == [True]
    taken.clear()
    # (a breakpoint with a condition compiles it once when created, to check it)
    assert outcome("eval", "z, a", "z > 0")[0] == "ok"
    assert taken == [True, True]
    taken.clear()
    assert outcome("exec", "s = '''a\n  b'''", None)[0] == "ok"
    assert taken == [False]


def test_the_text_path_keeps_strings_that_span_lines():
    # what the fallback is for: indenting these lines would change the values
    fn = fresh()
    with splice.breakpoint(fn, line=LINE) as bp:
        bp.exec("s = '''a\n  b'''")
        assert fn(1)[1] == "a\n  b"
    fn = fresh()
    with splice.breakpoint(fn, line=LINE) as bp:
        bp.exec("\ufb01 = 5")
        assert fn(1)[0] == 5
