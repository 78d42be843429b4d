"""Every statement line a user can name either takes a breakpoint with an
``exec`` or raises ``LocateError`` saying why; never another error.

The work is in ``tests/line_walk.py`` (a subprocess, on all cores). ``make
test`` walks every 10th file of the running interpreter's stdlib (the
summary line says so); ``make line-walk PY=3.X`` (or
``SPLICE_LINE_WALK_EVERY=1``) walks all of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVERY = int(os.environ.get("SPLICE_LINE_WALK_EVERY", "10"))


def test_every_statement_line_installs_or_is_refused_with_a_reason(capsys):
    done = subprocess.run(
        [sys.executable, str(HERE / "line_walk.py"), "--every", str(EVERY)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=HERE.parent,
    )
    summary = [l for l in done.stdout.splitlines() if l.startswith(("line-walk:", "  error:"))]
    with capsys.disabled():
        print()
        for line in summary:
            print(line)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    head = next(l for l in summary if " lines: " in l)
    assert head.endswith(" 0 other errors"), head
    assert " installed, " in head and "refused (LocateError)" in head


def test_a_declaration_line_is_refused_with_the_reason():
    import splice

    def f():
        global _SOME_GLOBAL
        _SOME_GLOBAL = 1
        return _SOME_GLOBAL

    line = f.__code__.co_firstlineno + 1
    try:
        splice.breakpoint(f, line=line)
    except splice.LocateError as e:
        msg = str(e)
    else:
        raise AssertionError("a `global` line took a breakpoint")
    assert "is a `global` declaration, which runs no code" in msg
    assert f"the nearest line where a probe can go is {line + 1}" in msg


def test_unreachable_and_dead_lines_name_the_cause():
    import splice

    def g(x):
        if False:
            x = 1
        return x
        x = 2

    first = g.__code__.co_firstlineno
    for line, says in [(first + 2, "body of `if False:`"), (first + 4, "after the `return` on line")]:
        try:
            splice.breakpoint(g, line=line)
        except splice.LocateError as e:
            assert says in str(e), str(e)
        else:
            raise AssertionError(f"line {line} took a breakpoint")


def test_a_line_after_a_statement_every_path_of_which_leaves_says_so():
    """compileall.main's shape: a `try` whose body and handler both return,
    an `if`/`else` that both raise, a `while True:` with no break."""
    import splice

    def h(x):
        try:
            return 1 / x
        except ZeroDivisionError:
            return 0
        return -1

    def k(x):
        if x:
            raise ValueError(x)
        else:
            raise KeyError(x)
        return x

    def w(x):
        while True:
            for _ in range(x):
                break  # leaves the for, not the while
            x = yield x
        return x

    cases = [(h, 5, "every path through the `try` on line"), (k, 5, "every path through the `if` on line"),
             (w, 5, "every path through the `while` on line")]
    for fn, offset, says in cases:
        line = fn.__code__.co_firstlineno + offset
        try:
            splice.breakpoint(fn, line=line)
        except splice.LocateError as e:
            assert says in str(e), str(e)
            assert "compiler emits no code for it" in str(e)
        else:
            raise AssertionError(f"line {line} of {fn.__name__} took a breakpoint")
