"""A probe on a line with an inlined comprehension (CPython 3.12+, PEP 709)
whose variable has the name of one of the function's cell or free variables.

Inside such a comprehension the variable's slot holds the comprehension's
plain values, and a line event of that line fires there on every iteration.
A snippet naming the variable is compiled in the function's scope, where it
is a cell: spliced there, it took a plain object for a cell and crashed the
interpreter (a segfault on 3.12-3.15). splice now refuses such a snippet
with a ``SnippetError`` that names the line and the variable, and the
verifier rejects any code that uses that slot as a cell there.

Each probing case runs in a child process, so that a crash is a failed test
and not the end of the test run.
"""

from __future__ import annotations

import dis
import re
import subprocess
import sys
import textwrap

import pytest

from splice._native import testing
from splice.errors import RewriteError

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11 does not inline comprehensions")

#: CPython 3.13.0-3.13.2 crash reading a frame's locals inside such a comprehension (gh-128396)
LOCALS_CRASH = (3, 13) <= sys.version_info < (3, 13, 3)

MODULE = """\
def cell(xs):
    x = 1
    g = lambda: x
    ys = [x for x in xs]
    return ys, g(), x

def outer():
    x = 10
    def free(xs):
        y = x
        ys = [x for x in xs]
        return y, ys
    return free
free = outer()

def both_cells(xs):
    x = "outer"
    fs = [lambda: x for x in xs]
    return x, [f() for f in fs]

def comp_cell(xs):
    a = [i * 2 for i in xs]
    f = lambda: i
    i = 5
    return a, f()
"""


def _run(body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        """
        import os, sys, tempfile, builtins
        import splice
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "compcells.py"), "w") as fh:
            fh.write(MODULE)
        sys.path.insert(0, d)
        import compcells as m
        builtins.hits = hits = []
        def line_of(fn, text):
            import inspect
            lines, start = inspect.getsourcelines(fn)
            return start + next(i for i, l in enumerate(lines) if text in l)
        """
    ).replace("MODULE", repr(MODULE)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fn, args", [("cell", "[1, 2]"), ("free", "[1, 2]")])
@pytest.mark.parametrize("snippet", ["x", "x = x", "del x", "hits.append(x)", "hits.append((lambda: x)())"])
def test_a_snippet_naming_the_shadowed_cell_is_refused_and_changes_nothing(fn, args, snippet):
    r = _run(
        f"""
        f = m.{fn}
        original = f.__code__
        plain = f({args})
        line = line_of(f, "ys = [x for x in xs]")
        try:
            with splice.breakpoint(f, line=line) as bp:
                bp.exec({snippet!r})
                f({args})
        except splice.SnippetError as e:
            print("refused:", e)
        assert f.__code__ is original
        assert f({args}) == plain
        print("ok", hits)
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    if LOCALS_CRASH:
        # (3.13.0-3.13.2 refuse every action there first: gh-128396, below)
        assert "gh-128396" in r.stdout, r.stdout
    else:
        # named with the function and its file (the rewriter's message names the line)
        assert re.search(r"refused: \S+ \(\S*compcells\.py\): line \d+ runs a comprehension", r.stdout), r.stdout
        assert "comprehension whose variable `x` hides the function's own `x`" in r.stdout
        assert "Put the probe on a line before or after that statement" in r.stdout
    assert r.stdout.rstrip().endswith("ok []")


@pytest.mark.skipif(LOCALS_CRASH, reason="3.13.0-3.13.2 refuse every action on this line (gh-128396)")
def test_a_snippet_not_naming_it_runs_at_every_iteration():
    # the line's first event and one per iteration, as sys.settrace reports
    r = _run(
        """
        f = m.cell
        with splice.breakpoint(f, line=line_of(f, "ys = [x for x in xs]")) as bp:
            bp.exec("hits.append(len(xs))")
            print(f([1, 2, 3]))
        print(hits)
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == ["([1, 2, 3], 1, 1)", "[3, 3, 3, 3]"]


def test_the_cell_is_usable_again_after_the_comprehension():
    # the restoring STORE_FAST ends the shadowing: the next line reads and
    # rebinds the function's cell, which the closure then sees
    r = _run(
        """
        f = m.cell
        with splice.breakpoint(f, line=line_of(f, "return ys, g(), x")) as bp:
            bp.exec("hits.append(x); x = x + 41")
            print(f([1, 2]))
        print(hits)
        print(f([1, 2]))
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == ["([1, 2], 42, 42)", "[1]", "([1, 2], 1, 1)"]


@pytest.mark.skipif(LOCALS_CRASH, reason="3.13.0-3.13.2 refuse every action on this line (gh-128396)")
def test_a_comprehension_variable_that_is_a_cell_too_is_not_refused():
    # both are cells: the slot holds a cell inside the comprehension as well
    # (the comprehension's own, shared by its lambdas)
    r = _run(
        """
        f = m.both_cells
        with splice.breakpoint(f, line=line_of(f, "fs = [lambda: x for x in xs]")) as bp:
            bp.exec("hits.append(x)")
            print(f([1, 2, 3]))
        print(hits)
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == ["('outer', [3, 3, 3])", "['outer', 1, 2, 3]"]


def _cell(xs):
    x = 1
    g = lambda: x  # noqa: E731
    ys = [x for x in xs if x]
    return ys, g()


def test_the_verifier_rejects_a_cell_read_inside_the_comprehension():
    code = _cell.__code__
    testing.verify_code(code)  # CPython's own code passes
    ins = list(dis.get_instructions(code))
    save = next(k for k, i in enumerate(ins) if i.opname == "LOAD_FAST_AND_CLEAR")
    slot = ins[save].arg
    # the filter's read of the comprehension's x, inside the loop: made a
    # LOAD_DEREF, what a snippet compiled in the function's scope would do
    read = next(i for i in ins[save:] if i.opname in ("LOAD_FAST", "LOAD_FAST_BORROW") and i.arg == slot)
    raw = bytearray(code.co_code)
    raw[read.offset] = dis.opmap["LOAD_DEREF"]
    with pytest.raises(RewriteError, match="as a cell inside an inlined comprehension"):
        testing.verify_code(code.replace(co_code=bytes(raw)))


def test_in_the_stdlib_only_the_comprehension_lines_are_refused():
    # functools._c3_mro: `base` is a cell (a generator expression reads it)
    # and the variable of three list comprehensions; a snippet reading it
    # installs on every statement line but those three (the restore after
    # each comprehension is recognised: the return after them installs)
    import functools
    import inspect

    import splice

    src, start = inspect.getsourcelines(functools._c3_mro)
    refused, installed = [], []
    for k, text in enumerate(src):
        try:
            with splice.breakpoint(functools._c3_mro, line=start + k) as bp:
                bp.exec("_ = base")
                installed.append(text.strip())
        except splice.SnippetError as e:
            # (3.13.0-3.13.2 refuse every action on those lines first)
            assert ("gh-128396" if LOCALS_CRASH else "hides the function's own `base`") in str(e)
            refused.append(text.strip().split(" = ")[0])
        except splice.LocateError:
            pass  # no statement starts there
    assert refused == ["explicit_c3_mros", "abstract_c3_mros", "other_c3_mros"]
    assert any(t.startswith("return _c3_merge(") for t in installed)
    assert len(installed) >= 12




@pytest.mark.parametrize(
    "action",
    [
        "bp.callback(lambda view: got.append(sorted(view.locals)))",
        "got = bp.eval(compile('len(xs)', '<s>', 'eval'))",
        "got = bp.eval('sorted(locals())')",
        "got = bp.eval('len(vars())')",
        "bp.debug()",
        # a helper of the module that reads its caller's locals
        "m.show = lambda: len(sys._getframe(1).f_locals); got = bp.eval('show()')",
    ],
)
def test_reading_the_frames_locals_inside_such_a_comprehension(action):
    """CPython 3.13.0-3.13.2 crash reading a frame's locals inside an inlined
    comprehension whose variable is named like one of the function's cell
    variables (gh-128396, fixed in 3.13.3); a probe on that line runs inside
    the comprehension at every iteration, so splice refuses actions that read
    the locals there on those versions. Elsewhere they run (in a child: a
    crash fails the test)."""
    r = _run(
        f"""
        comp_cell = m.comp_cell
        got = []
        try:
            with splice.breakpoint(comp_cell, line=line_of(comp_cell, "a = [i * 2")) as bp:
                {action}
                if "debug" not in {action!r}:
                    print("result", comp_cell([1, 2, 3]))
        except splice.SnippetError as e:
            print("refused:", e)
        print("ok", comp_cell([1, 2, 3]))
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    if LOCALS_CRASH:
        assert "refused:" in r.stdout and "gh-128396" in r.stdout, r.stdout
    else:
        assert "refused:" not in r.stdout, r.stdout
        if "debug" not in action:
            assert "result ([2, 4, 6], 5)" in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("ok ([2, 4, 6], 5)")


@pytest.mark.parametrize(
    "snippet",
    [
        "len(xs)",
        # Python code the snippet runs that reads its caller's locals: a
        # property here (on 3.13.0 a check of the snippet's words let this
        # through, a segfault)
        "type('P', (), {'n': property(lambda s: len(__import__('sys')._getframe(1).f_locals))})().n",
    ],
)
def test_any_action_there_is_refused_on_the_crashing_versions_and_runs_elsewhere(snippet):
    r = _run(
        f"""
        comp_cell = m.comp_cell
        try:
            with splice.breakpoint(comp_cell, line=line_of(comp_cell, "a = [i * 2")) as bp:
                got = bp.eval({snippet!r})
                comp_cell([1, 2, 3])
            print("ok", got[:1])
        except splice.SnippetError as e:
            print("refused:", e)
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    if LOCALS_CRASH:
        assert "refused:" in r.stdout and "gh-128396" in r.stdout, r.stdout
    else:
        assert r.stdout.startswith("ok ["), r.stdout
