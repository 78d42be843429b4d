"""A block entered from code that runs in the middle of splice's own work
on the same thread: a finalizer the collector runs, a signal handler. The
docs promise such a block records nothing; splice's state must come out
as it would without it. Each test puts the inner block at the exact point
with a profile function (the random-timing versions found these: a
SIGALRM handler that enters a block every millisecond got the default
NoPdb stuck started within seconds on every version)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import splice
from splice import owners


def f(x):
    a = x + 1
    return a


def g(x):
    return x * 2


def _inside(caller: str, callee: str, act: Callable[[], None]) -> Callable[..., Any]:
    """A profile function that runs ``act`` once, when ``caller`` calls
    ``callee`` (a Python function: 'call'; a C function: 'c_call')."""
    done: list[int] = []

    def prof(frame: FrameType, event: str, arg: Any) -> None:
        if done:
            return
        if event == "call" and frame.f_code.co_name == callee and frame.f_back is not None:
            here = frame.f_back.f_code.co_name
        elif event == "c_call" and getattr(arg, "__name__", None) == callee:
            here = frame.f_code.co_name
        else:
            return
        if here == caller:
            done.append(1)
            act()

    prof.done = done  # type: ignore[attr-defined]
    return prof


def _with_profile(prof: Callable[..., Any], body: Callable[[], None]) -> None:
    sys.setprofile(prof)
    try:
        body()
    finally:
        sys.setprofile(None)
    assert prof.done, "the profile function never ran the inner block"  # type: ignore[attr-defined]


def _capture_g(inner: list[int]) -> Callable[[], None]:
    """The inner block: a capture of ``g`` around a call of it, whose
    number of records goes into ``inner``."""

    def nested() -> None:
        with splice.capture_calls(g) as calls:
            g(1)
        inner.append(len(calls))

    return nested


def test_a_block_entered_while_the_default_nopdb_stops_leaves_it_stopped():
    inner: list[int] = []

    def outer() -> None:
        with splice.breakpoint(f, line="return a") as bp:
            bp.exec("a = -a")
            assert f(1) == -2

    _with_profile(_inside("_stop_step", "sync", _capture_g(inner)), outer)
    nopdb = splice.get_nopdb()
    assert inner == [0]  # records nothing, as documented
    # Before: the inner block restarted the instance the outer was stopping,
    # whose stop then forgot every holder: started, with no block open.
    assert not nopdb.started and nopdb._holders == []
    bp = splice.breakpoint(f, line="return a")  # enabled, never entered: not active
    try:
        bp.exec("a = 1000")
        assert f(1) == 2
    finally:
        bp.disable()


def test_a_block_entered_while_the_default_nopdb_starts_records_nothing():
    inner: list[int] = []

    def outer() -> None:
        with splice.capture_calls(f) as calls:
            assert f(1) == 2
        assert [c.return_value for c in calls] == [2]

    _with_profile(_inside("start", "sync", _capture_g(inner)), outer)
    assert inner == [0]
    assert not splice.get_nopdb().started and splice.get_nopdb()._holders == []


def test_holders_registered_while_the_census_reads_the_holders():
    """A finalizer or signal handler that makes a probe on the same
    function in the middle of the census's loops over its holders (before:
    "dictionary changed size during iteration" from the user's own `with`).
    Python code in the loop is put there by a holder entry whose call (the
    loop calls each weak reference) registers more holders."""
    keep = [splice.Scope(f) for _ in range(3)]
    added: list[Any] = []

    class RegistersWhenRead:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self) -> None:
            self.calls += 1
            if self.calls == 1:  # (registering prunes, which reads this again)
                added.extend(splice.Scope(f) for _ in range(20))
            return None

    refs = owners._HOLDERS[owners._addr(f.__code__)]
    for read in (
        lambda: owners.registered_refs(f.__code__),
        lambda: owners.view_frame_refs(f.__code__, f.__code__),
        lambda: owners._forget_dead(refs),
    ):
        refs[-1] = RegistersWhenRead()  # type: ignore[assignment]
        read()
        refs.pop(-1, None)
    assert len(added) == 60
    with splice.capture_calls(f) as calls:
        f(3)
    assert [c.return_value for c in calls] == [4]
    del keep


def test_the_same_breakpoint_entered_in_the_window_releases_nothing_of_the_outer_block():
    # a block of the same object entered between the outer block's hold
    # and its start: its exit released the outer block's hold (matched by
    # identity), which stopped the instance under it ("list.remove(x): x
    # not in list" from the outer exit, or the NoPdb left started)
    bp = splice.breakpoint(f, line="return a")
    values = bp.eval("a")
    bp.disable()

    def nested() -> None:
        with bp:
            f(10)

    def outer() -> None:
        with bp:
            f(1)

    try:
        _with_profile(_inside("_ensure_started", "start", nested), outer)
        nopdb = splice.get_nopdb()
        assert not nopdb.started and nopdb._holders == [] and nopdb._unheld == []
        assert values == [2]  # the outer block's call; the inner records nothing
        later = splice.breakpoint(f, line="return a")  # enabled, never entered
        try:
            got = later.eval("a")
            f(3)
            assert got == []
        finally:
            later.disable()
    finally:
        bp.disable()
