"""A lambda, nested function or comprehension in a snippet that closes over
one of the function's own cell or free variables: valid typed into the
source (the function already has the cell), and valid spliced.

3.13+ builds a closure from cells with plain LOAD_FAST instructions (3.12's
LOAD_CLOSURE); splice refused such snippets there ("uses 'n' as a Fast
variable but it is a Free variable") while 3.11 and 3.12 ran them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import splice


def outer(n):
    def inner(x):
        y = x + n
        return y

    return inner


def cellf(x):
    c = 5

    def use():
        return c

    y = x + c
    return y, use()


inner = outer(10)

CASES = [
    (inner, "y = x + n", "R = (lambda: n)()", "R", (1,), 10),
    (inner, "y = x + n", "R = (lambda k: n * k)(3)", "R", (1,), 30),
    (inner, "y = x + n", "def g(k):\n    return n + k\nR = g(x)", "R", (1,), 11),
    (inner, "y = x + n", "R = [n + i for i in range(2)]", "R", (1,), [10, 11]),
    (cellf, "y = x + c", "R = (lambda: c)()", "R", (1,), 5),
    (cellf, "y = x + c", "R = [(lambda k=i: c + k)() for i in range(2)]", "R", (1,), [5, 6]),
]


@pytest.mark.parametrize("fn, line, stmt, expr, args, want", CASES)
def test_a_closure_in_a_snippet_over_the_functions_own_cell_runs(fn, line, stmt, expr, args, want):
    plain = fn(*args)
    with splice.breakpoint(fn, line=line) as bp:
        bp.exec(stmt)
        got = bp.eval(expr)
        assert fn(*args) == plain
    assert got == [want]
    assert fn(*args) == plain


def test_assigning_the_cell_in_a_closure_of_the_snippet_is_seen_by_the_function():
    """`nonlocal` in a snippet's nested function writes the function's own
    cell, as typed into the source."""
    def counter():
        total = 0

        def bump():
            nonlocal total
            total += 1

        bump()
        return total

    with splice.breakpoint(counter, line="return total") as bp:
        bp.exec("def more():\n    nonlocal total\n    total += 100\nmore()")
        assert counter() == 101
    assert counter() == 1


def test_a_closure_over_a_shadowed_cell_inside_a_comprehension_is_refused(tmp_path):
    """On a line inside an inlined comprehension (3.12+) whose variable hides
    a cell, a snippet's closure over that name would get the comprehension's
    plain object for a cell: refused (the snippet check, and the verifier
    behind it), in a child so that a crash fails the test."""
    script = textwrap.dedent(
        """
        import splice
        def f(xs):
            x = 1
            g = lambda: x
            ys = [x for x in xs]
            return ys, g()
        try:
            with splice.breakpoint(f, line="ys = [x for x in xs]") as bp:
                bp.exec("h = (lambda: x)()")
                f([1, 2])
        except splice.SnippetError as e:
            print("refused")
        assert f([1, 2]) == ([1, 2], 1)
        print("ok")
        """
    )
    path = tmp_path / "shadowed.py"  # a file: its lines are found by text on every version
    path.write_text(script)
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    if sys.version_info >= (3, 12):
        assert "refused" in r.stdout, r.stdout
    assert r.stdout.rstrip().endswith("ok")
