"""splice's own enter and exit near the recursion limit: a block entered or
left deep in a recursion (or whose ``__exit__`` is called deeper than its
``__enter__``, as an ExitStack may) must leave nothing patched and nothing
holding the NoPdb started. Found by an adversarial run: an exit that ran out
of stack left the function patched and the capture recording for good, and
no later exit removed it; a failed enter left phantom holders that kept the
next unrelated block's NoPdb started."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

import splice
from splice import TargetError
from splice.first_calls import _WATCH
from splice.patcher import PATCHER


def deep_f(x):
    y = x + 1
    return y


def deep_g(x):
    return x * 2


def _at_depth(n, fn):
    return fn() if n == 0 else _at_depth(n - 1, fn)


@pytest.fixture
def low_limit():
    """A recursion limit 150 frames above the test's depth (the search for
    the depth where splice runs out of room stays short)."""
    here = 0
    frame = sys._getframe()
    while frame is not None:
        here += 1
        frame = frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(here + 150)
    try:
        yield here + 150
    finally:
        sys.setrecursionlimit(old)


def _assert_clean(orig_f, orig_g=None):
    gc.collect()
    assert deep_f.__code__ is orig_f()
    if orig_g is not None:
        assert deep_g.__code__ is orig_g()
    assert PATCHER.is_idle()
    assert not _WATCH.watchers
    assert not splice.get_nopdb().started
    assert not splice.get_nopdb()._holders


def test_an_exit_deep_in_a_recursion_removes_the_probes(low_limit):
    orig = weakref.ref(deep_f.__code__)
    exited_deep = 0
    for depth in range(60, 150):
        cap = splice.capture_calls(deep_f)
        cap.__enter__()
        try:
            _at_depth(depth, lambda: cap.__exit__(None, None, None))
            exited_deep += 1
        except RecursionError:
            # the exit ran out of room before it started: the block is
            # still open; an exit with room closes it
            cap.__exit__(None, None, None)
        deep_f(1)
        assert len(cap) == 0, f"the capture recorded after its block (exit at depth {depth})"
        assert cap.active is False and deep_f.__code__ is orig(), f"left patched (exit at depth {depth})"
    assert exited_deep > 0
    _assert_clean(orig)


def test_a_disable_that_ran_out_of_room_is_finished_by_the_next_one(low_limit):
    """``disable()`` is plain Python (no retries): one that runs out of
    stack leaves the probes in with the object disabled; the next
    ``disable()`` (here the block's exit) must remove them rather than
    return at once because the object says it is disabled."""
    orig = weakref.ref(deep_f.__code__)
    failed = 0
    for depth in range(60, 150):
        with splice.capture_calls(deep_f) as cap:
            try:
                _at_depth(depth, cap.disable)
            except RecursionError:
                failed += 1
        assert cap.active is False and deep_f.__code__ is orig(), f"left patched (disable at depth {depth})"
        deep_f(1)
        assert len(cap) == 0
    assert failed > 0, "no depth made disable() run out of room: the test did not reach its case"
    _assert_clean(orig)


def test_an_enter_deep_in_a_recursion_leaves_nothing_behind(low_limit):
    orig_f, orig_g = weakref.ref(deep_f.__code__), weakref.ref(deep_g.__code__)
    failed = []
    for depth in range(60, 150):
        cap = splice.capture_calls(deep_f)
        try:
            _at_depth(depth, cap.__enter__)
        except RecursionError:
            failed.append(cap)
            continue
        cap.__exit__(None, None, None)
    assert failed, "no depth made the enter run out of room: the test did not reach its case"
    assert not any(c.enabled for c in failed)
    # nor kept by their NoPdb (with their records, for good): a disable cut
    # short after its sync left them registered, and a later one returned early
    kept = [c for c in failed if any(o is c for o in splice.get_nopdb()._items.values())]
    assert not kept, f"{len(kept)} failed captures still registered"
    assert not splice.get_nopdb()._holders
    # an unrelated block afterwards installs and removes only its own probe
    with splice.breakpoint(deep_g) as bp:
        xs = bp.eval("x")
        deep_g(1)
    assert xs == [1]
    deep_f(42)
    assert [len(c) for c in failed if len(c)] == []
    _assert_clean(orig_f, orig_g)


def test_resolving_a_function_deep_in_a_recursion_raises_recursion_error(low_limit):
    """Not a TargetError saying the object's attribute lookups failed: a
    plain function was passed."""
    seen = set()
    for depth in range(60, 150):
        try:
            made = _at_depth(depth, lambda: splice.capture_calls(deep_f))
        except TargetError as e:
            pytest.fail(f"TargetError at depth {depth}: {e}")
        except RecursionError:
            seen.add(depth)
        else:
            made.disable()  # (made outside a block: enabled on the default NoPdb)
    assert seen
    assert not splice.get_nopdb()._items, "a failed creation left its object registered"
