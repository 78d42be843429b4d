"""A snippet with a syntax error raises a SyntaxError (what code written for
NoPdb, which compiles snippets with compile(), catches) that is also a
SnippetError; nothing is patched."""

from __future__ import annotations

import pytest

import splice


def f(x):
    z = x + 1
    return z


LINE = "return z"


@pytest.mark.parametrize(
    "add,text,offset",
    [
        ("exec", "z = = 1", 5),
        ("exec", "if x:\n    z = (\n", None),
        ("eval", "x +", None),
    ],
)
def test_syntax_errors_are_syntax_errors(add, text, offset):
    original = f.__code__
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(SyntaxError) as info:
            getattr(bp, add)(text)
        assert f(1) == 2
    err = info.value
    assert isinstance(err, splice.SnippetError) and isinstance(err, ValueError)
    assert isinstance(err, splice.SnippetSyntaxError)
    assert err.lineno is not None and err.lineno >= 1
    if offset is not None:
        assert err.offset == offset
        assert err.text is not None and err.text.rstrip("\n") == text
    assert str(err).startswith(f"{add}(")  # the message names the snippet
    assert f.__code__ is original


def test_cond_syntax_error():
    with pytest.raises(SyntaxError):
        with splice.breakpoint(f, line=LINE, cond="x ==") as bp:
            bp.eval("x")


def test_other_snippet_errors_are_not_syntax_errors():
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(splice.SnippetError) as info:
            bp.exec("return 5")
    assert not isinstance(info.value, SyntaxError)
    assert "return" in str(info.value)
