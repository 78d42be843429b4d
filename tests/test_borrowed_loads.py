"""Borrowed loads (CPython 3.14+): a snippet that rebinds a local must never
leave a borrowed reference to the local's old value on the stack.

`LOAD_FAST_BORROW` pushes a local's object without owning a reference; the
compiler proved the local keeps it alive until it is used. An `exec` probe
that rebinds that local between the load and the use would free the object
under the interpreter (splice turns such loads into owning `LOAD_FAST`).
Without that, the decorator below is freed while still on the stack: found
and confirmed by reverting the demotion by hand, which made `make()` fail
with an AttributeError from a reused object.
"""

from __future__ import annotations

import dis
import sys

import pytest

import splice

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 14), reason="LOAD_FAST_BORROW exists from CPython 3.14 on"
)


class Deco:
    def __init__(self) -> None:
        self.payload = list(range(100))

    def __call__(self, fn):
        fn.tag = len(self.payload)
        return fn


def make():
    dec = Deco()

    @dec
    def g():
        return 1

    return g


DEF_LINE = make.__code__.co_firstlineno + 4  # `def g():`, which runs with `dec` on the stack


def loads(code, name: str) -> list[str]:
    return [i.opname for i in dis.get_instructions(code) if i.opname.startswith("LOAD_FAST") and i.argval == name]


def test_the_decorator_is_a_borrowed_load_on_the_stack_at_the_def_line():
    assert loads(make.__code__, "dec") == ["LOAD_FAST_BORROW"]


def test_rebinding_a_borrowed_local_is_safe():
    with splice.breakpoint(make, line=DEF_LINE) as bp:
        bp.exec("dec = None")
        assert loads(make.__code__, "dec") == ["LOAD_FAST"], "the live borrowed load must own its reference"
        assert loads(make.__code__, "g") == ["LOAD_FAST_BORROW"], "loads that are not live at the site stay borrowed"
        for _ in range(2000):
            g = make()
            churn = [Deco() for _ in range(5)]  # reuse freed memory, if any
            assert g.tag == 100
        del churn
    assert loads(make.__code__, "dec") == ["LOAD_FAST_BORROW"]


def test_a_snippet_that_only_reads_keeps_borrowed_loads():
    with splice.breakpoint(make, line=DEF_LINE) as bp:
        values = bp.eval("type(dec).__name__")
        # the function's own load stays borrowed; the snippet's are checked loads
        assert sorted(set(loads(make.__code__, "dec"))) == ["LOAD_FAST_BORROW", "LOAD_FAST_CHECK"]
        make()
    assert values == ["Deco", "Deco"]  # the def line runs twice: before and after the decorator call
