"""Bad input found by an audit of the public API: each gets a clear error
when it is given (not at the first hit, inside the user's function), and
changes nothing (the target's code, what the default NoPdb holds)."""

import bdb
import pdb
import sys
import weakref

import pytest

import splice
from splice import SnippetError, SnippetSyntaxError


def f(x):
    a = x + 1
    c = a * 2
    return c


def other(v):
    w = v + 1
    return w


LINE = "c = a * 2"


# --- snippet text that does not stand alone ------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1), (2",  # closed the template's call early: two arguments
        "0)); a = 'x'; ((0",  # ran a statement that rebinds a local
        "# just a comment",  # recorded () at every hit
    ],
)
def test_an_eval_text_that_is_no_expression_is_a_syntax_error_when_scheduled(text):
    orig = weakref.ref(f.__code__)  # (a strong one makes every enter search the heap)
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(SnippetSyntaxError, match=r"^eval\("):
            bp.eval(text)
        assert f(1) == 4  # the breakpoint is as it was: no action
    assert f.__code__ is orig()


def test_a_cond_that_is_only_a_comment_is_a_syntax_error():
    # (was accepted and never fired: `if (\n# a > 0\n):` is `if ():`)
    with pytest.raises(SnippetSyntaxError, match=r"^cond="):
        splice.breakpoint(f, line=LINE, cond="# a > 0")


def test_exec_texts_are_checked_one_by_one():
    # each is half a statement; pasted one after the other into the
    # template's text they made `y = (1,\n2)`
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(SnippetSyntaxError, match="never closed"):
            bp.exec("y = (1,")
        with pytest.raises(SnippetSyntaxError, match="unmatched"):
            bp.exec("2)")
        assert f(1) == 4


def test_texts_with_trailing_comments_still_run_inline():
    with splice.breakpoint(f, line=LINE, cond="a > 0  # only positive (") as bp:
        values = bp.eval("a  # the local (")
        bp.exec("a = a * 10  # scaled (")
        assert f(1) == 40
    assert values == [2]


def test_a_lone_surrogate_is_a_snippet_error():
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(SnippetError, match=r"lone surrogate.*\\ud800"):
            bp.eval("'\ud800'")


# --- arguments of the wrong kind -----------------------------------------------


def test_a_snippet_of_none_is_a_type_error():
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(TypeError, match=r"^eval\(\) takes Python source .*; not None"):
            bp.eval(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^exec\(\) takes Python source .*; not None"):
            bp.exec(None)  # type: ignore[arg-type]
        assert f(1) == 4


@pytest.mark.parametrize("cls", [None, int, "pdb", bdb])
def test_debug_needs_a_debugger_class_when_scheduled(cls):
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(TypeError, match=r"derived from bdb\.Bdb, such as pdb\.Pdb"):
            bp.debug(cls)  # type: ignore[arg-type]
        assert f(1) == 4  # (was: the error came at the hit, inside f)


def test_debug_keywords_the_debugger_does_not_take_are_refused_when_scheduled():
    with splice.breakpoint(f, line=LINE) as bp:
        with pytest.raises(TypeError, match=r"keyword arguments do not fit Pdb\(.*bogus"):
            bp.debug(pdb.Pdb, bogus=1)
        assert f(1) == 4


def test_max_calls_refuses_a_bool_and_takes_a_huge_int():
    with pytest.raises(ValueError, match="max_calls must be a non-negative int or None, not True"):
        splice.capture_calls(f, max_calls=True)
    with splice.capture_calls(f, max_calls=10**30) as calls:  # was OverflowError
        f(1)
    assert [c.return_value for c in calls] == [4]


def test_a_huge_line_number_is_named_as_given():
    with pytest.raises(splice.LocateError, match=r"line 1000000000000000000000000000000 is past the end"):
        splice.breakpoint(f, line=10**30)


def test_keep_locals_as_bytes_suggests_a_list_of_str():
    with pytest.raises(TypeError, match=r"such as \['a'\], not a single bytes"):
        splice.capture_call(f, keep_locals=b"a")  # type: ignore[arg-type]


def test_a_wrapper_of_a_builtin_names_unwrap_false():
    def wrapper(x):
        return x

    wrapper.__wrapped__ = len  # type: ignore[attr-defined]
    with pytest.raises(splice.TargetError, match="pass unwrap=False to probe that function itself"):
        splice.capture_call(wrapper)
    with splice.capture_call(wrapper, unwrap=False) as call:
        wrapper(3)
    assert call.return_value == 3


# --- a breakpoint made outside a block -----------------------------------------


def comprehension_hides_a_cell(xs):
    x = 0

    def read():
        return x

    r = [x * 2 for x in xs]
    return r, read()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11 runs the comprehension as a function of its own")
def test_a_refusal_only_the_rewriter_sees_comes_when_scheduled_outside_a_block():
    """Such a breakpoint is enabled on the default NoPdb (NoPdb's semantics)
    but not installed: its rewrite ran first when the next `with` started
    that NoPdb, which then failed, for any function, at every `with`."""
    orig = weakref.ref(comprehension_hides_a_cell.__code__)
    bp = splice.breakpoint(comprehension_hides_a_cell, line="r = [x * 2 for x in xs]")
    try:
        named = r"^comprehension_hides_a_cell \(.*test_bad_input\.py\): line \d+ runs a comprehension"
        if (3, 13) <= sys.version_info < (3, 13, 3):
            # (3.13.0-3.13.2 refuse every action on such a line first, as
            # the template is built: gh-128396, test_comprehension_cells.py)
            named = r"^breakpoint at comprehension_hides_a_cell line \d+: CPython 3\.13\.\d crashes"
        with pytest.raises(SnippetError, match=named):
            bp.eval("x")
        with splice.capture_call(other) as call:  # an unrelated block works
            other(1)
        assert call.return_value == 2
        assert comprehension_hides_a_cell.__code__ is orig()
        assert comprehension_hides_a_cell([1]) == ([2], 0)
    finally:
        bp.disable()
