"""A breakpoint's ``exec`` behaves as the same statements typed into the
source before that line: CPython itself is the oracle.

Hypothesis draws small functions (plain, with a closure over one local, or
generators; assignments, augmented assignments, ``del``, ``if``/``else``,
``for`` loops, ``try``/``except ... as``, ``with``, expressions that may
divide by zero or read an unbound local) and a snippet
of the same statements, and puts the snippet at one of the function's
simple statement lines: once with ``splice.breakpoint(f, line=...).exec``,
once typed into the source at that line. For several arguments each, both
must return the same value or raise the same exception (type and message),
and the function's code is back afterwards.

Simple statements only: a breakpoint fires at every 'line' event of its
line, and a ``for`` or ``with`` header has more than one per execution (each
iteration; the exit), which text typed before it would not repeat.

``SPLICE_HYPOTHESIS_EXAMPLES`` sets the number of functions (default 150).
"""

from __future__ import annotations

import inspect
import linecache
import os
import textwrap
import warnings

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import splice

EXAMPLES = int(os.environ.get("SPLICE_HYPOTHESIS_EXAMPLES", "150"))

VARS = ["a", "b", "c"]
EXPRS = [
    "x + 1", "y * 2", "a + 1", "b - y", "c * a", "len(str(b))", "10 // (x - 1)",
    "x if y else a", "[a, b][y % 2]", "-c",
]


@st.composite
def statement(draw: st.DrawFn, depth: int) -> list[str]:
    """One statement as lines (relative indentation); compound ones nest."""
    kinds = ["assign", "assign", "aug", "del"] + (["if", "for", "try", "with"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    v = draw(st.sampled_from(VARS))
    e = draw(st.sampled_from(EXPRS))
    if kind == "assign":
        return [f"{v} = {e}"]
    if kind == "aug":
        return [f"{v} += {e}"]
    if kind == "del":
        return [f"del {v}"]
    body = draw(block(depth + 1))
    ind = ["    " + line for line in body]
    if kind == "if":
        other = ["    " + line for line in draw(block(depth + 1))]
        return [f"if {e}:", *ind, "else:", *other]
    if kind == "for":
        return [f"for {draw(st.sampled_from(['i', v]))} in range(y % 3):", *ind]
    if kind == "with":
        return ["with nullcontext():", *ind]
    handler = ["    " + line for line in draw(block(depth + 1))]
    name = draw(st.sampled_from(["e", v]))
    return ["try:", *ind, f"except (ZeroDivisionError, UnboundLocalError, NameError) as {name}:", *handler]


@st.composite
def block(draw: st.DrawFn, depth: int) -> list[str]:
    stmts = draw(st.lists(statement(depth), min_size=1, max_size=3))
    return [line for s in stmts for line in s]


SIMPLE = ("del ", "a ", "b ", "c ")  # an assignment, augmented assignment or del


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[str], int, list[str]]:
    # The store after the return (never run, no code) makes b and c locals
    # of the function however the drawn body uses them: a snippet that
    # assigns a name the function reads as a global makes a local of the
    # call only, where typed into the source it would make the whole
    # function's reads local (documented; tests/test_api_behaviour.py).
    first = draw(st.sampled_from([["a = x", "b = y", "c = 1"], ["a = x"]]))
    # A plain function; one whose b is a cell (a closure reads it: loads,
    # stores and `del` of b become *_DEREF); a generator (the result is
    # yielded, and the calls are list(f(x, y))).
    shape = draw(st.sampled_from(["plain", "cell", "generator"]))
    prefix = ["peek = lambda: b"] if shape == "cell" else []
    end = "yield [a, b, c]" if shape == "generator" else "return [a, b, c]"
    body = [*prefix, *first, *draw(block(0)), end, "b = c = None"]
    sites = [
        i for i, line in enumerate(body[:-1])
        if line.lstrip().startswith(SIMPLE) or line.startswith(("return", "yield"))
    ]
    at = draw(st.sampled_from(sites))
    snippet = draw(block(1))
    return body, at, snippet


def _define(lines: list[str], filename: str) -> object:
    text = "from contextlib import nullcontext\n\ndef f(x, y):\n" + "".join(f"    {line}\n" for line in lines)
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    ns: dict[str, object] = {}
    exec(compile(text, filename, "exec"), ns)
    return ns["f"]


def _outcome(f: object, x: int, y: int) -> tuple[str, ...]:
    try:
        value = f(x, y)  # type: ignore[operator]
        if inspect.isgenerator(value):
            value = list(value)
        return ("value", repr(value))
    except Exception as e:  # noqa: BLE001 - the exception is the outcome
        return ("raised", type(e).__name__, str(e))


ARGS = [(0, 0), (1, 1), (2, 3), (5, 2)]
_counter = iter(range(10**9))


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases())
def test_exec_at_a_line_behaves_as_the_snippet_typed_there(case):
    body, at, snippet = case
    n = next(_counter)
    f = _define(body, f"<splice-vs-source {n}>")
    indent = body[at][: len(body[at]) - len(body[at].lstrip())]
    edited = _define(body[:at] + [indent + s for s in snippet] + body[at:], f"<edited {n}>")
    want = [_outcome(edited, x, y) for x, y in ARGS]
    line_no = 3 + at + 1  # the def is line 3
    orig = f.__code__  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", splice.HeapSearchWarning)  # `orig` above
        with splice.breakpoint(f, line=line_no) as bp:
            bp.exec("\n".join(snippet))
            got = [_outcome(f, x, y) for x, y in ARGS]
    assert f.__code__ is orig  # type: ignore[attr-defined]
    assert got == want, "\n".join(
        ["function:", *body, f"snippet at line {at} ({body[at].strip()!r}):", *snippet]
    )
    plain = [_outcome(_define(body, f"<again {n}>"), x, y) for x, y in ARGS]
    assert [_outcome(f, x, y) for x, y in ARGS] == plain
    # what the drawn cases exercise (--hypothesis-show-statistics)
    event("the snippet changes an outcome" if want != plain else "the snippet changes no outcome")
    event("some call raises" if any(o[0] == "raised" for o in want) else "every call returns")
    event(f"a {'generator' if 'yield' in body[-2] else 'cell' if body[0].startswith('peek') else 'plain'} function")
    if any(s.lstrip().startswith(("del ", "except")) for s in snippet):
        event("the snippet unbinds a local (del, except ... as)")


def test_a_name_the_source_declares_global_is_assigned_as_the_global(tmp_path, monkeypatch):
    # `global G` shows in the bytecode only through a store or delete of G;
    # a function that only reads G (or whose store is dead code the compiler
    # dropped) left the snippet's `G = ...` a new local, unlike the same
    # statement typed into the source
    (tmp_path / "globmod.py").write_text(textwrap.dedent("""
        G = 0
        def reads():
            global G
            x = G
            return x, G

        def dead_store():
            global G
            x = 1
            return x
            G = 5

        def never_uses():
            global G
            x = 2
            return x
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import globmod

    import splice

    with splice.breakpoint(globmod.reads, line="x = G") as bp:
        bp.exec("G = G + 100")
        assert globmod.reads() == (100, 100)
    assert globmod.G == 100
    with splice.breakpoint(globmod.dead_store, line="x = 1") as bp:
        bp.exec("G = G + 1")
        assert globmod.dead_store() == 1
    assert globmod.G == 101
    # declared and never used: not even a name of the code object
    assert "G" not in globmod.never_uses.__code__.co_names
    with splice.breakpoint(globmod.never_uses, line="x = 2") as bp:
        bp.exec("G = 7")
        assert globmod.never_uses() == 2
    assert globmod.G == 7
