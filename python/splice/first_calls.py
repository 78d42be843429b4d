"""Lazy name scopes: a capture by name, module or file instruments a function
when it is first called, not when the ``with`` block starts.

Entering ``capture_calls("forward")`` eagerly means finding every function
of the process (a heap scan) and instrumenting every match: 0.5-0.8 s in a
process with torch, timm and transformers imported (1,500 matches). Lazily:

- On enter, splice's ``sys.monitoring`` tool turns on the global ``PY_START``
  event (and calls :func:`sys.monitoring.restart_events`, because locations a
  tool disabled stay disabled across ``set_events``). Nothing is scanned or
  instrumented.
- The first time each code object starts, :func:`_on_start` decides: a code
  object no watching capture wants (or one splice made) gets
  ``sys.monitoring.DISABLE``, so it runs untouched from then on, with no
  event. For a wanted code object (an original code object that the scope
  matches) the capture adds a probe for it and commits, which moves the
  function running it (:func:`splice._native.frame_function`; a heap search
  where the frame layout is not the known one) onto the instrumented code.
  Its later calls run the instrumented code: no event, no callback.
- The call that started in the original code is recorded through the
  monitoring events of that frame: ``enter_frame`` now, ``exit_frame`` at its
  ``PY_RETURN`` (a local event of the original code object) and
  ``error_frame`` at its ``PY_UNWIND`` (a global event, on only while such a
  call is pending).
- Other functions that share the code object (closures of one ``def``, a
  ``types.FunctionType(code, ...)``) start the original code too and are
  moved at their first call (:meth:`splice.patcher.Patcher.adopt`), so
  functions defined later, closures made before the block, and functions a
  heap scan cannot see (``gc.freeze()``) are all caught.
- On exit the events go off; the probes go as any probe does (every
  ``__code__`` back to its original).

On 3.11, which has no ``sys.monitoring``, splice installs its own frame
evaluator instead (PEP 523, ``splice._native.start_hook_*``, see
crates/splice-py/src/start_hook.rs): it sees every new frame before it runs
and asks :func:`_on_frame` once per code object (a mark in the code object's
``co_extra`` slot replaces ``DISABLE``). A wanted code object is
instrumented as above, and the frame that started it is not evaluated: the
function, now on the instrumented code, is called again with the arguments
CPython bound into the frame (none of the body has run), so that first call
is recorded by the probe like any other. While the evaluator is installed,
CPython 3.11 does not inline Python-to-Python calls: every call in the
process costs a little more until the block ends (``make bench``, row
``name-other``).

Calls splice itself makes while it commits (the thread holds the patcher's
lock) are neither recorded nor used to instrument.

Side effect: other ``sys.monitoring`` tools see events they disabled again
(``restart_events`` is global); coverage tools record them again.
"""

from __future__ import annotations

import os
import sys
from types import CodeType, FrameType
from typing import Any, Optional, Protocol

from splice import _native
from splice import dynamo as _dynamo
from splice import enter_guard as _enter_guard
from splice._native import addr as _addr  # id() without its audit event
from splice.patcher import PATCHER

__all__ = ["FirstCallWatcher", "available", "unwatch", "watch"]

_M: Any = getattr(sys, "monitoring", None)

#: The tool ids splice tries, in order (2-4: no standard role taken by pdb
#: (0), coverage (1) or profilers (2 is "profiler"; 3 and 4 are free)).
_TOOL_IDS = (4, 3, 2)
_TOOL_NAME = "splice"


class FirstCallWatcher(Protocol):
    """What a lazy capture gives the watch (splice.capture)."""

    def wants(self, code: CodeType, running: CodeType) -> bool:
        """Whether a call of ``code`` (an original code object) running
        ``running`` must be recorded and ``code`` instrumented."""

    def first_call(self, code: CodeType, frame: FrameType) -> Any:
        """Instrument ``code`` (moving the function ``frame`` runs) and return
        the hooks that record this call (``enter_frame`` already called), or
        ``None`` when it was not recorded."""

    def first_call_function(self, code: CodeType, fn: Any) -> bool:
        """(3.11) Instrument ``code`` and move ``fn`` onto it; whether ``fn``
        now runs code with this watcher's probe."""


#: 3.11: splice's frame evaluator stands in for sys.monitoring
_EVAL_HOOK = _M is None and sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython"


def available() -> bool:
    """Whether name scopes are lazy here (CPython 3.11+, unless ``SPLICE_EAGER_SCOPES=1``)."""
    return (_M is not None or _EVAL_HOOK) and os.environ.get("SPLICE_EAGER_SCOPES", "") not in (
        "1",
        "true",
        "yes",
    )


class _Watch:
    """The process-wide monitoring state: the watching captures, the tool id,
    and the calls recorded through events that have not ended."""

    def __init__(self) -> None:
        # reentrant: splice.fork_safety takes it before a fork on the forking thread
        self.lock = _enter_guard.rlock()
        self.watchers: tuple[FirstCallWatcher, ...] = ()
        self.tool: Optional[int] = None
        #: id(frame) -> (watcher, hooks) recording the call that frame runs
        self.frames: dict[int, list[tuple[FirstCallWatcher, Any]]] = {}
        #: original code objects with local PY_RETURN events on
        self.returning: dict[int, CodeType] = {}

    # -- tool ----------------------------------------------------------------

    def _claim(self) -> int:
        # Interrupt-safe: a KeyboardInterrupt can land as any call here or in
        # _release returns (after use_tool_id, before self.tool is set; or
        # halfway through a release). An id already named splice's is then
        # splice's own, left held (found here and used again, never leaked:
        # three such ids and every capture by name failed for good), and the
        # callbacks are registered on every claim (a release cut short may
        # have unregistered some).
        t = self.tool
        if t is not None and _M.get_tool(t) != _TOOL_NAME:
            # freed by someone else since (a fixture resetting sys.monitoring),
            # maybe taken by another tool: not ours to use or to free
            self.tool = t = None
        if t is None:
            t = self._ours_or_free()
        E = _M.events
        _M.register_callback(t, E.PY_START, _on_start)
        _M.register_callback(t, E.PY_RETURN, _on_return)
        _M.register_callback(t, E.PY_UNWIND, _on_unwind)
        self.tool = t
        return t

    @staticmethod
    def _ours_or_free() -> int:
        """An id that splice holds already (see _claim), else a free one,
        which it then takes."""
        held = _Watch._held_id()
        if held is not None:
            return held
        for t in _TOOL_IDS:
            if _M.get_tool(t) is None:
                _M.use_tool_id(t, _TOOL_NAME)
                return t
        from splice.errors import SpliceError

        used = {t: _M.get_tool(t) for t in _TOOL_IDS}
        raise SpliceError(
            f"sys.monitoring tool ids {_TOOL_IDS} are all taken ({used}); splice needs one "
            "for a capture by name, module or file (set SPLICE_EAGER_SCOPES=1 to "
            "instrument every match on entering instead)"
        )

    @staticmethod
    def _held_id() -> Optional[int]:
        """The id named splice's, if one is (one a claim cut short took
        without noting it counts)."""
        return next((t for t in _TOOL_IDS if _M.get_tool(t) == _TOOL_NAME), None)

    def _release(self) -> None:
        """Give the tool id back (no watcher left): another tool, or cProfile
        (whose id 2 splice takes when 3 and 4 are taken), may need it.
        Forgotten last: cut short, the id is still splice's and the next
        claim or release finishes the job."""
        t = self.tool
        if t is None or _M.get_tool(t) != _TOOL_NAME:
            t = self._held_id()
            if t is None:
                self.tool = None
                return
        _M.set_events(t, 0)
        E = _M.events
        for event in (E.PY_START, E.PY_RETURN, E.PY_UNWIND):
            _M.register_callback(t, event, None)
        _M.free_tool_id(t)
        self.tool = None

    def _events(self) -> None:
        """The global events the state needs now."""
        assert self.tool is not None
        E = _M.events
        ev = E.PY_START if self.watchers else 0
        if ev and self.frames:
            ev |= E.PY_UNWIND
        _M.set_events(self.tool, ev)

    # -- watchers --------------------------------------------------------------

    def watch(self, w: FirstCallWatcher) -> None:
        with self.lock:
            self._watch(w)  # (a call: no loop directly in a `with` block, see lifecycle._plan_sync)

    def _watch(self, w: FirstCallWatcher) -> None:
        if any(x is w for x in self.watchers):  # (a capture list compares as a list)
            return
        if _EVAL_HOOK:
            self.watchers = (*self.watchers, w)
            # code objects decided for the earlier watchers are asked again
            _native.start_hook_restart()
            _native.start_hook_install(_on_frame)
            return
        tool = self._claim()
        self.watchers = (*self.watchers, w)
        # code objects disabled for the earlier watchers may be wanted now
        _M.restart_events()
        self._events()
        del tool

    def unwatch(self, w: FirstCallWatcher) -> None:
        with self.lock:
            self._unwatch(w)  # (a call: no loop directly in a `with` block, see lifecycle._plan_sync)

    def _unwatch(self, w: FirstCallWatcher) -> None:
        # Every step runs again when this is called again: an interruption
        # after the watcher was taken out must not leave its frames, the
        # 3.11 evaluator, the tool id or the local events behind (a retried
        # block exit calls this again, and found the watcher gone).
        was_watching = any(x is w for x in self.watchers)
        if was_watching:
            self.watchers = tuple(x for x in self.watchers if x is not w)
        self._forget_frames_of(w)
        if self.watchers:
            if was_watching and self.tool is not None:
                self._events()
            return
        if _EVAL_HOOK:
            if _native.start_hook_installed():
                _native.start_hook_uninstall()
            return
        self.frames.clear()
        if self.tool is not None and _M.get_tool(self.tool) == _TOOL_NAME:
            for code in self.returning.copy().values():
                _M.set_local_events(self.tool, code, 0)
        self.returning.clear()
        self._release()

    def _forget_frames_of(self, w: FirstCallWatcher) -> None:
        # (over a copy, .get and .pop: a finalizer or signal handler that
        # enters or leaves a lazy scope can run in the middle, on this thread)
        if not self.frames:
            return
        for key in [k for k, hs in self.frames.copy().items() if any(x is w for x, _ in hs)]:
            hs = [(x, h) for x, h in self.frames.get(key, ()) if x is not w]
            if hs:
                self.frames[key] = hs
            else:
                self.frames.pop(key, None)

    # -- first calls -------------------------------------------------------------

    def started(
        self, frame: FrameType, code: CodeType, hooks: list[tuple[FirstCallWatcher, Any]]
    ) -> None:
        """Calls of ``frame`` are recorded by ``hooks``: its end comes as events."""
        with self.lock:
            if not self.watchers or self.tool is None:
                return
            had = bool(self.frames)
            # Set, not added to: an entry already there is a finished call's
            # whose end an interruption kept from being seen, and its frame's
            # id is this frame's now.
            self.frames[_addr(frame)] = list(hooks)
            if _addr(code) not in self.returning:
                self.returning[_addr(code)] = code
                _M.set_local_events(self.tool, code, _M.events.PY_RETURN)
            if not had:
                self._events()

    def ended(self, frame: FrameType) -> Optional[list[tuple[FirstCallWatcher, Any]]]:
        hooks = self.frames.pop(_addr(frame), None)
        if hooks is not None and not self.frames:
            with self.lock:
                if not self.frames and self.tool is not None:
                    self._events()
        return hooks


_WATCH = _Watch()


def watch(w: FirstCallWatcher) -> None:
    """Start catching the first calls ``w`` wants."""
    _WATCH.watch(w)


def unwatch(w: FirstCallWatcher) -> None:
    """Stop; calls of ``w`` still running in original code are not recorded."""
    _WATCH.unwatch(w)


def _on_start(code: CodeType, offset: int) -> Any:
    # a callback's exception would be raised in the user's function: none
    # may leave (a failure to instrument is the capture's, see first_call)
    try:
        return _start(code)
    except Exception:  # pragma: no cover - a bug here must not break the program
        return None


def _wanting(code: CodeType) -> tuple[CodeType, list[FirstCallWatcher]]:
    """The original of ``code`` and the watchers that want a call of it.
    Code splice made for other probes (a breakpoint, an eager capture) is
    wanted as its original: the function moves to code with both probes."""
    watchers = _WATCH.watchers
    if not watchers:
        return code, []
    original = PATCHER.original(code)
    if original is code and _dynamo.generated(code):
        return code, []  # torch.compile's own code, not the user's function
    return original, [w for w in watchers if w.wants(original, code)]


def _start(code: CodeType) -> Any:
    original, wanted = _wanting(code)
    if not wanted:
        return _M.DISABLE
    if PATCHER.held_here():
        return None  # splice's own call (inside a commit); a later call is caught
    frame = sys._getframe(2)
    hooks = []
    for w in wanted:
        h = w.first_call(original, frame)  # never raises: failures go to the capture
        if h is not None:
            hooks.append((w, h))
    if hooks:
        _WATCH.started(frame, code, hooks)
    return None  # other functions sharing the code still start it


def _on_frame(code: CodeType, fn: Any) -> int:
    """3.11's evaluator asks about a new frame of ``code`` run by ``fn``:
    ``0`` no watcher wants it (not asked again until a new watcher comes),
    ``1`` run it as it is, ``2`` ``fn`` now runs instrumented code: the
    evaluator calls it again instead of running this frame (and checks
    itself that ``fn.__code__`` is no longer ``code``)."""
    try:
        original, wanted = _wanting(code)
        if not wanted:
            return 0
        if PATCHER.held_here():
            return 1  # splice's own call (inside a commit); a later call is caught
        moved = False
        for w in wanted:
            moved = w.first_call_function(original, fn) or moved  # never raises
        return 2 if moved else 1
    except Exception:  # pragma: no cover - a bug here must not break the program
        return 1


def _on_return(code: CodeType, offset: int, value: Any) -> Any:
    try:
        if _WATCH.frames:
            _ended(sys._getframe(1), value, None)
    except Exception:  # pragma: no cover - as in _on_start
        pass
    return None


def _on_unwind(code: CodeType, offset: int, exc: BaseException) -> Any:
    try:
        if _addr(code) in _WATCH.returning:
            _ended(sys._getframe(1), None, exc)
    except Exception:  # pragma: no cover - as in _on_start
        pass
    return None


def _ended(frame: FrameType, value: Any, exc: Optional[BaseException]) -> None:
    """The call ``frame`` runs ends: record it in every capture that recorded
    its entry (the hooks never raise)."""
    hooks = _WATCH.ended(frame)
    for _, h in hooks or ():
        if exc is None:
            h.exit_frame(frame, value)
        else:
            h.error_frame(frame, exc)
