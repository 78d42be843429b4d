"""A snippet naming a comprehension's variable on another line of the
function: CPython 3.12+ inlines comprehensions (PEP 709) and lists their
variables in ``co_varnames``, but the function has no such variable of its
own; typed into the source, the name is the global. splice compiled it as
the function's local and raised UnboundLocalError in the user's call."""

from __future__ import annotations

import textwrap

import pytest

import splice

SOURCE = textwrap.dedent(
    """\
    i = "GLOBAL"
    j = "GLOBAL-J"

    def only_comp(xs):
        n = len(xs)
        a = [i * 2 for i in xs]
        return a, n

    def own_too(xs):
        i = 7
        n = len(xs)
        a = [i * 2 for i in xs]
        return a, i

    def nested(xs):
        n = len(xs)
        a = [[i + j for j in range(i)] for i in xs]
        return a, {i: 0 for i in xs}
    """
)

CASES = [
    ("only_comp", "n = len(xs)", "i"),
    ("own_too", "n = len(xs)", "i"),
    ("nested", "n = len(xs)", "(i, j)"),
    ("only_comp", "return a, n", "i"),
]


def _load(tmp_path, text: str, name: str) -> dict:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    ns: dict = {"__name__": name}
    exec(compile(text, str(path), "exec"), ns)
    return ns


@pytest.mark.parametrize("fn, line, expr", CASES)
def test_a_comprehensions_variable_named_elsewhere_is_what_the_source_would_read(tmp_path, fn, line, expr):
    ns = _load(tmp_path, SOURCE, "compnames")
    # the oracle: the expression typed into the source before the line
    lines = SOURCE.splitlines()
    at = next(k for k, text in enumerate(lines) if text.strip() == line and k > lines.index(f"def {fn}(xs):"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    edited = "\n".join(lines[:at] + [f"{indent}SEEN.append({expr})"] + lines[at:]) + "\n"
    ens = _load(tmp_path, edited, "compnames_edited")
    ens["SEEN"] = want = []
    plain = ens[fn]([1, 2])
    with splice.breakpoint(ns[fn], line=line) as bp:
        got = bp.eval(expr)
        assert ns[fn]([1, 2]) == plain
    assert got == want
