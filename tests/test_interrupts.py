"""A KeyboardInterrupt (a signal handler's exception) that lands while splice
changes code: entering or leaving a block, a breakpoint's exec, a capture by
name instrumenting a function at its first call. Whatever was interrupted,
afterwards the function runs its original code, splice's registry is empty,
and new probes work and are removed again: a commit that has changed
functions finishes before the exception goes on, one that has not changes
nothing, and leaving a block removes its probes even when interrupted.

The interruption is raised by a trace function at the start of one of
splice's functions (where CPython also runs signal handlers: a function's
first instruction checks for them); the sweep test does that at every such
point of a sequence of blocks, one point per run."""

from __future__ import annotations

import gc
import os
import sys
import weakref

import pytest

import splice
from splice.first_calls import _WATCH
from splice.patcher import PATCHER

SPLICE_DIR = os.path.dirname(splice.__file__)


def interrupted_f(x):
    y = x * 2
    return y + 1


def interrupted_g(x):
    return x + 1


def _scenario() -> None:
    with splice.breakpoint(interrupted_f, line="y = x * 2") as bp:
        bp.exec("x = x + 100")
        assert interrupted_f(3) == 207
    with splice.capture_calls(interrupted_f):
        interrupted_f(3)
    with splice.capture_calls("interrupted_g"):
        interrupted_g(3)


class _Interrupt:
    """A trace function that raises KeyboardInterrupt at the ``at``-th start
    of a function of splice (1-based); counts them all."""

    def __init__(self, at: int, only: str = "") -> None:
        self.at, self.only, self.seen, self.hit = at, only, 0, ""
        self.chain: list[str] = []

    def __call__(self, frame, event, arg):
        code = frame.f_code
        if event == "call" and code.co_filename.startswith(SPLICE_DIR):
            if self.only and code.co_name != self.only:
                return None
            self.seen += 1
            if self.seen == self.at:
                chain, up = [], frame
                while up is not None:
                    chain.append(up.f_code.co_qualname)
                    up = up.f_back
                self.chain = chain
                self.hit = " <- ".join(chain[:3])
                raise KeyboardInterrupt(f"at {self.hit}")
        return None


def _run(interrupt: _Interrupt) -> None:
    sys.settrace(interrupt)
    try:
        _scenario()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)


def _assert_restored(where: str) -> None:
    gc.collect()
    f_orig, g_orig = weakref.ref(interrupted_f.__code__), weakref.ref(interrupted_g.__code__)
    assert PATCHER.is_idle(), where
    assert not _WATCH.watchers, where
    assert interrupted_f(3) == 7 and interrupted_g(3) == 4, where
    with splice.breakpoint(interrupted_f, line="return y + 1") as bp:
        bp.exec("y = 0")
        assert interrupted_f(3) == 1, where
    with splice.capture_calls("interrupted_g") as calls:
        interrupted_g(1)
    assert len(calls) == 1, where
    assert interrupted_f.__code__ is f_orig() and interrupted_g.__code__ is g_orig(), where
    assert PATCHER.is_idle(), where


@pytest.mark.parametrize(
    "phase", ["_commit", "_plan", "_build_all", "_assign", "_record", "_settle", "_tell", "_record_active", "sync"]
)
@pytest.mark.parametrize("nth", [1, 2, 3, 4, 5, 6])
def test_an_interruption_at_a_commit_phase_leaves_nothing_patched(phase, nth):
    interrupt = _Interrupt(nth, only=phase)
    _run(interrupt)
    _assert_restored(f"interrupted at the {nth}th start of {phase}: {interrupt.hit or 'not reached'}")


#: Functions of splice that an interruption can stop as they start, before
#: any of their work: the with statement's own calls of ``__enter__`` and
#: ``__exit__``, and the first calls of a block's exit. The object is then
#: left enabled (with its probes in, if it was entered), a state it can be
#: in anyway: disabling it (or leaving its NoPdb) removes them.
WINDOWS = ("Managed.__enter__", "Managed.__exit__", "settle", "NoPdb._release", "NoPdb.stop")


def _left(before: set[int]) -> str:
    """What is left installed or wrong ("" if nothing); objects registered
    with the default NoPdb before the run (``before``: another test's, left
    enabled as NoPdb allows) do not count."""
    gc.collect()
    left = [
        ("the registry is not empty", not PATCHER.is_idle()),
        ("a lazy scope still watches", bool(_WATCH.watchers)),
        ("f does not run its original code", interrupted_f(3) != 7),
        ("g does not run its original code", interrupted_g(3) != 4),
    ]
    objs = [
        f"{type(o).__name__}(enabled={o.enabled}, active={o.active})"
        for key, o in splice.get_nopdb()._items.items()
        if key not in before
    ]
    return "; ".join(what for what, bad in left if bad) + (f" [{', '.join(objs)}]" if objs else "")


def test_an_interruption_anywhere_in_splice_leaves_nothing_patched():
    """About 150 starts of a function of splice spread over the scenario (on
    3.11 the frame evaluator's callback makes more than a thousand), each in
    its own run. Where the interruption stopped a function of WINDOWS as it
    started, disabling what is still enabled must restore everything; at
    any other place nothing may be left."""
    count = _Interrupt(0)
    _run(count)
    total = count.seen
    assert total > 50
    step = max(1, total // 150)
    for at in range(1, total + 1, step):
        before = set(splice.get_nopdb()._items)
        interrupt = _Interrupt(at)
        _run(interrupt)
        where = f"interrupted at start {at} of {total}: {interrupt.hit}"
        # (3.11: splice's frame evaluator runs its callback, _on_frame, as
        # every frame starts, the block's __exit__ too: an interruption in it
        # acts as one at that frame's start)
        # (no chain: this run made fewer starts than the counting run and was
        # not interrupted; then nothing may be left either)
        if not interrupt.chain or (interrupt.chain[0] not in WINDOWS and "_on_frame" not in interrupt.chain):
            left = _left(before)
            assert not left, f"{where}: {left}"
        nopdb = splice.get_nopdb()
        for obj in list(nopdb._items.values()):
            obj.disable()
        if nopdb.started:
            nopdb.stop()
        _assert_restored(where)
