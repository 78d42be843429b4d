"""State that a KeyboardInterrupt landing inside splice's bookkeeping must
not corrupt for later blocks. tests/test_interrupts.py checks that an
interrupted block leaves nothing patched; these check the state that only
shows later: tool ids, hook-name slots, parked callbacks, saved function
versions. Each interruption is injected where CPython runs a signal
handler: as a call returns (a wrapper that calls the real function, then
raises), or as a function starts. Found by a hunt with a SIGALRM handler
raising KeyboardInterrupt at random times, and reproduced there one by
one."""

from __future__ import annotations

import gc
import sys
import types
import weakref

import pytest

import splice
from splice import _native, actions, first_calls, lifecycle
from splice.first_calls import _WATCH
from splice.patcher import PATCHER

bp_module = sys.modules["splice.breakpoint"]  # (splice.breakpoint is the function)
needs_monitoring = pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")


def target(x):
    y = x * 2
    return y + 1


def _once(real, *, after: bool = True):
    """``real`` wrapped to raise KeyboardInterrupt on its first call: after
    it returns (``after``), or before it runs."""
    state = {"fired": False}

    def wrapper(*args, **kwargs):
        if state["fired"]:
            return real(*args, **kwargs)
        state["fired"] = True
        if not after:
            raise KeyboardInterrupt
        result = real(*args, **kwargs)
        raise KeyboardInterrupt
        return result  # (unreachable: the interrupt "lands" after the call)

    wrapper.state = state  # type: ignore[attr-defined]
    return wrapper


def _monitoring_with(**replaced):
    """A stand-in for first_calls' ``sys.monitoring`` with some functions
    replaced."""
    m = sys.monitoring
    ns = types.SimpleNamespace(**{n: getattr(m, n) for n in dir(m) if not n.startswith("__")})
    for name, fn in replaced.items():
        setattr(ns, name, fn)
    return ns


def _splice_tool_ids() -> list[int]:
    return [t for t in (2, 3, 4, 5) if sys.monitoring.get_tool(t) == "splice"]


def _captures_by_name_work() -> None:
    with splice.capture_calls("target") as calls:
        target(1)
        target(2)
    assert [c.args["x"] for c in calls] == [1, 2]


def _disable_leftovers(before: set) -> None:
    for key, obj in list(splice.get_nopdb()._items.items()):
        if key not in before:
            obj.disable()


@needs_monitoring
def test_a_tool_id_taken_by_a_claim_cut_short_is_used_again(monkeypatch):
    """An interrupt as ``use_tool_id`` returned left the id named "splice"
    but unknown to splice, which only looked for free ids: never freed,
    never used; after three, every capture by name raised SpliceError."""
    before = set(splice.get_nopdb()._items)
    for _ in range(4):
        monkeypatch.setattr(first_calls, "_M", _monitoring_with(use_tool_id=_once(sys.monitoring.use_tool_id)))
        with pytest.raises(KeyboardInterrupt):
            with splice.capture_calls("target"):
                target(1)
        _disable_leftovers(before)
        assert len(_splice_tool_ids()) <= 1
    monkeypatch.undo()
    _captures_by_name_work()
    assert _splice_tool_ids() == [] and _WATCH.tool is None
    assert PATCHER.is_idle()


@needs_monitoring
def test_a_release_cut_short_is_finished_by_the_next_one(monkeypatch):
    """An interrupt halfway through giving the tool id back (a callback
    unregistered, the id not yet freed) left the id held with its global
    event on; splice had already forgotten it."""
    calls_seen = []
    real = sys.monitoring.register_callback

    def register(tool, event, fn):
        calls_seen.append(fn)
        result = real(tool, event, fn)
        if fn is None and calls_seen.count(None) == 1:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(first_calls, "_M", _monitoring_with(register_callback=register))
    with pytest.raises(KeyboardInterrupt):
        first_calls._WATCH.watch(_Watcher())
        first_calls._WATCH.unwatch(_LAST[0])
    monkeypatch.undo()
    # the watcher is gone; the next block's exit gives the id back
    _captures_by_name_work()
    assert _splice_tool_ids() == [] and _WATCH.tool is None
    assert not _WATCH.watchers


_LAST: list = []


class _Watcher:
    """A first-call watcher that wants nothing."""

    def __init__(self) -> None:
        _LAST[:] = [self]

    def wants(self, original, code) -> bool:
        return False


def test_an_unwatch_cut_short_after_the_watcher_went_is_finished_when_retried(monkeypatch):
    """The block's exit is retried after an interrupt; the first try had
    already taken the watcher out, and the retry returned at once: on 3.11
    splice's frame evaluator stayed installed (every call in the process
    slower), on 3.12+ the tool id stayed held with its global event on."""
    monkeypatch.setattr(_WATCH, "_forget_frames_of", _once(_WATCH._forget_frames_of, after=False))
    with pytest.raises(KeyboardInterrupt):  # (the exit is finished, then the interrupt goes on)
        with splice.capture_calls("target") as calls:
            target(1)
    assert _WATCH._forget_frames_of.state["fired"]
    assert len(calls) == 1
    assert not _WATCH.watchers
    if sys.version_info < (3, 12):
        assert not _native.start_hook_installed()
    else:
        assert _splice_tool_ids() == [] and _WATCH.tool is None
        assert not _WATCH.returning
    monkeypatch.undo()
    _captures_by_name_work()


class _BoxInterruptedWhenEmptied(actions.HookBox):
    """A box whose emptying is interrupted once (as a signal would at the
    back edge of the loop that empties the boxes)."""

    __slots__ = ()
    fired = False

    @property  # type: ignore[override]
    def fn(self):
        return actions.HookBox.fn.__get__(self)

    @fn.setter
    def fn(self, value):
        actions.HookBox.fn.__set__(self, value)
        if value is None and not _BoxInterruptedWhenEmptied.fired:
            _BoxInterruptedWhenEmptied.fired = True
            raise KeyboardInterrupt


def test_parking_cut_short_loses_no_hook():
    """A NoPdb's stop parks what its breakpoints' hooks call; an interrupt
    between two boxes lost what the emptied ones held (the list of them was
    returned only at the end), and a breakpoint reused across stop and
    start never called its callback again."""

    def first(frame):
        return 1

    def second(frame):
        return 2

    state = actions.HookState()
    one = state.box(first)
    two = _BoxInterruptedWhenEmptied(second)
    state.boxes.append(weakref.ref(two))
    three = state.box(first)
    parked: actions.Parked = []
    with pytest.raises(KeyboardInterrupt):
        state.park(into=parked)
    state.park(into=parked)  # (the next stop parks the rest)
    assert one.fn is None and two.fn is None and three.fn is None
    actions.HookState.unpark(parked)
    assert (one.fn, two.fn, three.fn) == (first, second, first)


def test_a_breakpoint_reused_across_stops_still_calls_back_after_an_interrupted_stop(monkeypatch):
    hits = []
    nop = splice.NoPdb()
    bp = nop.breakpoint(target, line="return y + 1")
    bp.callback(lambda view: hits.append(view.locals["x"]))
    nop.start()
    target(1)
    real_park = actions.HookState.park

    def park_cut_short(self, into):
        # as an interrupt after the first box was parked and emptied
        first = [r for r in self.boxes if r() is not None and r().fn is not None][:1]
        rest = [r for r in self.boxes if r not in first]
        self.boxes = first
        real_park(self, into)
        self.boxes = first + rest
        raise KeyboardInterrupt

    monkeypatch.setattr(actions.HookState, "park", park_cut_short)
    with pytest.raises(KeyboardInterrupt):
        nop.stop()
    monkeypatch.undo()
    if nop.started:
        nop.stop()
    nop.start()
    target(2)
    nop.stop()
    assert hits == [1, 2]
    assert PATCHER.is_idle()


def test_an_enable_interrupted_after_it_went_through_keeps_its_slot(monkeypatch):
    """``Breakpoint.enable`` gave the hook-name slot back whenever the
    enable raised, also when the interrupt came as its ``with`` exited, after
    the probes were installed: the next breakpoint took the same slot while
    the first one's hooks still had those names."""
    nop = splice.NoPdb()
    nop.start()
    try:
        a = nop.breakpoint(target, line="y = x * 2")
        a.exec("x = x + 100")
        a.disable()
        monkeypatch.setattr(lifecycle.Managed, "enable", _once(lifecycle.Managed.enable))
        with pytest.raises(KeyboardInterrupt):
            a.enable()
        monkeypatch.undo()
        assert a.enabled and a.active
        assert a._id is not None
        b = nop.breakpoint(target, line="y = x * 2")
        b.exec("x = x * 10")
        assert b._id != a._id
        assert target(3) == (3 + 100) * 10 * 2 + 1
    finally:
        nop.stop()
    assert PATCHER.is_idle()


def test_a_creation_interrupted_after_enabling_keeps_the_slot(monkeypatch):
    """The same in ``Breakpoint.__init__``: interrupted after it was enabled
    on its NoPdb, it gave its slot back while it stayed there enabled."""
    nop = splice.NoPdb()
    monkeypatch.setattr(lifecycle.Managed, "__init__", _once(lifecycle.Managed.__init__))
    with pytest.raises(KeyboardInterrupt):
        nop.breakpoint(target, line="y = x * 2")
    monkeypatch.undo()
    (left,) = nop._items.values()
    assert left.enabled and left._id is not None
    other = nop.breakpoint(target, line="y = x * 2")
    assert other._id != left._id
    left.disable()
    other.disable()


@pytest.mark.skipif(
    splice._native.testing.func_version_support()[0] == "none", reason="no function versions saved here"
)
def test_an_assignment_undone_after_an_interrupt_forgets_the_saved_version(monkeypatch):
    """An interrupted assignment is undone; the function version saved for
    it stayed in the patcher's table (until the function died)."""

    def victim(x):
        return x + 1

    monkeypatch.setattr(PATCHER, "_set_code", _once(PATCHER._set_code))
    with pytest.raises(KeyboardInterrupt):
        with splice.capture_call(victim):
            pass
    monkeypatch.undo()
    assert PATCHER.is_idle()
    assert victim not in PATCHER._versions
    gc.collect()


def _gen(n):
    yield from range(n)
    return n


def test_a_first_call_interrupted_after_its_commit_keeps_its_probe_known(monkeypatch):
    """A lazy scope's first call commits the function's probe; an interrupt
    after the commit (as ``sync``'s ``with`` exits) made the capture forget
    the installed probe, and the next call of the instrumented code was
    taken for a first call again: a generator's call was recorded twice
    (3.12+; on 3.11 the function was missing from ``targets``)."""
    from splice import capture as capture_module

    with splice.capture_calls("_gen") as calls:
        monkeypatch.setattr(capture_module, "sync", _once(capture_module.sync))
        with pytest.raises(KeyboardInterrupt):
            list(_gen(1))
        assert capture_module.sync.state["fired"]
        monkeypatch.undo()
        assert _gen.__code__ in calls.targets or PATCHER.original(_gen.__code__) in calls.targets
        list(_gen(2))
    assert [c.return_value for c in calls if c.args["n"] == 2] == [2]
    assert PATCHER.is_idle()


def test_a_capture_whose_full_mark_was_interrupted_still_counts_as_full(monkeypatch):
    """The recorder tells the capture once that ``max_calls`` is reached
    (``_on_full``); an interrupt as that call started lost the mark, and
    every later start of its NoPdb instrumented every match again for
    nothing."""
    from splice import capture as capture_module

    monkeypatch.setattr(
        capture_module.CallListCapture, "_on_full", _once(capture_module.CallListCapture._on_full, after=False)
    )
    nop = splice.NoPdb()
    cap = nop.capture_calls(target, max_calls=1)
    nop.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            target(1)
    finally:
        nop.stop()
    monkeypatch.undo()
    assert len(cap) == 1
    nop.start()
    try:
        assert not cap.active
        assert target.__code__ is PATCHER.original(target.__code__)
        target(2)
    finally:
        nop.stop()
    assert len(cap) == 1


def test_dropping_dead_made_records_never_drops_a_newer_live_one(monkeypatch):
    """``any_made()`` drops records whose code object died; another thread's
    commit may record a new code object under the same id between the
    snapshot of the records and the drop, and that live record must stay
    (dropped, ``original()`` of splice's own code was itself)."""

    def victim(x):
        return x + 1

    dead_code = compile("pass", "<dead>", "exec")
    dead = weakref.ref(dead_code)
    del dead_code
    live = victim.__code__
    key = 12345
    entries = PATCHER._made

    class CommitAfterSnapshot(dict):
        def items(self):
            snapshot = list(super().items())
            # the other thread's commit, right after the snapshot
            dict.__setitem__(self, key, (weakref.ref(live), weakref.ref(live), frozenset()))
            return snapshot

    fake = CommitAfterSnapshot(entries)
    fake[key] = (dead, dead, frozenset())
    monkeypatch.setattr(PATCHER, "_made", fake)
    PATCHER.any_made()
    assert key in fake and fake[key][0]() is live


def test_max_calls_zero_installs_nothing():
    """``max_calls=0`` keeps no call: the capture is full from the start, so
    no probe is installed (a probe that recorded nothing ran on every call
    for the whole block)."""
    original = target.__code__
    with splice.capture_calls(target, max_calls=0) as calls:
        assert target.__code__ is original
        assert not calls.active
        target(1)
    with splice.capture_calls("target", max_calls=0) as calls:
        target(1)
        assert target.__code__ is original
    assert len(calls) == 0
    assert PATCHER.is_idle()
