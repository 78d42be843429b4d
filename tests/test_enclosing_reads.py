"""A snippet that reads a local of an enclosing function the target does not
use itself is refused when it is scheduled (a SnippetError), not left to raise
NameError in the user's call or read a global of the same name.

Typed into the source, such a read makes the target a closure over that
local; the running target has no cell for it and splice cannot add one.
"""

from __future__ import annotations

import sys
import weakref

import pytest

import splice
from splice import SnippetError

shadowed = "the module's"
cvar = "the module's cvar"
g_declared = "the module's g_declared"


def outer():
    used = 7
    unused = 5  # noqa: F841 - read by snippets only
    shadowed = "outer's"  # noqa: F841 - read by snippets only
    ys = [cvar for cvar in range(3)]  # inlined into outer on 3.12+ (PEP 709)
    g_declared = "outer's"  # noqa: F841

    def inner(x):
        y = x * used
        return y

    def declares(x):
        global g_declared
        return x

    class Local:
        k = "class body"

        def meth(self, x):
            return x

    return inner, declares, Local, ys


inner, declares, Local, _ = outer()


def test_reading_an_enclosing_local_the_target_does_not_use_is_refused_and_changes_nothing():
    original = weakref.ref(inner.__code__)  # (held strongly, it would make splice search the heap)
    with splice.breakpoint(inner, line="return y") as bp:
        with pytest.raises(SnippetError) as e:
            bp.eval("unused + y")
        text = str(e.value)
        del e  # its traceback holds a frame
        assert "'unused'" in text and "enclosing function outer" in text, text
        assert "outer.<locals>.inner does not use itself" in text, text
        # nothing scheduled, nothing patched: the breakpoint takes other actions
        assert inner.__code__ is original()
        assert inner(2) == 14
        got = bp.eval("used + y")
        assert inner(2) == 14 and got == [21]
    assert inner.__code__ is original()


def test_an_enclosing_local_the_target_uses_is_read():
    with splice.breakpoint(inner, line="return y") as bp:
        got = bp.eval("used")
        inner(1)
    assert got == [7]


def test_an_enclosing_local_shadows_a_global_of_the_same_name():
    """Typed into inner's source, `shadowed` would be outer's local: splice
    must not read the module's instead."""
    with splice.breakpoint(inner, line="return y") as bp:
        with pytest.raises(SnippetError, match="'shadowed'"):
            bp.exec("z = shadowed")


def test_a_lambda_in_the_snippet_that_reads_an_enclosing_local_is_refused():
    with splice.breakpoint(inner, line="return y") as bp:
        with pytest.raises(SnippetError, match="'unused'"):
            bp.exec("z = (lambda: unused)()")


def test_a_condition_that_reads_an_enclosing_local_is_refused_on_creation():
    original = weakref.ref(inner.__code__)
    with pytest.raises(SnippetError, match="'unused'"):
        splice.breakpoint(inner, line="return y", cond="unused > 1")
    assert inner.__code__ is original()


def test_a_comprehension_variable_of_the_enclosing_function_is_not_its_local():
    """On 3.12+ outer's code lists the inlined comprehension's variable among
    its locals; it is not visible to inner, so the name is the global."""
    if sys.version_info >= (3, 12):
        assert "cvar" in outer.__code__.co_varnames  # the case this test is about
    with splice.breakpoint(inner, line="return y") as bp:
        got = bp.eval("cvar")
        inner(1)
    assert got == ["the module's cvar"]


def test_a_name_the_target_declares_global_is_the_global():
    with splice.breakpoint(declares, line="return x") as bp:
        got = bp.eval("g_declared")
        declares(1)
    assert got == ["the module's g_declared"]


def test_a_class_body_between_is_not_an_enclosing_scope_but_the_function_around_it_is():
    obj = Local()
    with splice.breakpoint(Local.meth, line="return x") as bp:
        # `k` is a class attribute, not visible to the method as a name;
        # `shadowed` is a local of outer, around the class
        with pytest.raises(SnippetError, match="'shadowed'.*enclosing function outer"):
            bp.eval("shadowed")
        got = bp.eval("x + 1")
        obj.meth(1)
    assert got == [2]


GENERIC_SRC = """
T = "the module global"

def gen[T](x: T) -> T:
    y = x
    return y

def uses[T](x: T) -> T:
    y = x
    print(T, end="")
    return y

class K[U]:
    def m(self, x):
        return x
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695 type parameters are new in 3.12")
def test_reading_a_type_parameter_the_function_does_not_use_is_refused(tmp_path):
    """Typed into the source, `T` is the type parameter (a closure variable
    of the function); splice read the module's global `T` instead."""
    path = tmp_path / "generic.py"
    path.write_text(GENERIC_SRC)
    ns: dict = {"__name__": "generic"}
    exec(compile(GENERIC_SRC, str(path), "exec"), ns)
    with splice.breakpoint(ns["gen"], line="y = x") as bp:
        with pytest.raises(SnippetError, match="'T', a type parameter of gen"):
            bp.eval("T")
    with splice.breakpoint(ns["K"].m, line="return x") as bp:
        with pytest.raises(SnippetError, match="'U', a type parameter of K"):
            bp.eval("U")
    # a function that uses its type parameter has the cell: the snippet reads it
    with splice.breakpoint(ns["uses"], line="y = x") as bp:
        got = bp.eval("T")
        ns["uses"](1)
    assert got == list(ns["uses"].__type_params__)
