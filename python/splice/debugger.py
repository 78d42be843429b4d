"""``Breakpoint.debug``: an interactive debugger (pdb) opened at the breakpoint.

This is the only place splice installs a trace function: the debugger's own,
while it is open. On continue (with no breakpoint of the debugger's own left)
or quit, the trace function that was there before (usually none) and every
frame's ``f_trace`` are restored.
"""

from __future__ import annotations

import bdb
import sys
from types import FrameType
from typing import Any, Optional

from splice import _native

__all__ = ["enter_debugger"]


def enter_debugger(frame: FrameType, cls: type[bdb.Bdb], kwargs: dict[str, Any]) -> None:
    """Start ``cls(**kwargs)`` on ``frame``, stopped at the breakpoint line; on
    continue or quit, the previous trace function (usually none) is restored."""
    orig_trace = sys.gettrace()
    saved: list[tuple[FrameType, Any]] = []
    f: Optional[FrameType] = frame
    while f is not None:
        saved.append((f, f.f_trace))
        f = f.f_back

    def restore() -> None:
        for fr, tr in saved:
            try:
                fr.f_trace = tr
            except Exception:  # pragma: no cover
                pass
        sys.settrace(orig_trace)

    dbg = _restoring(cls, restore)(**kwargs)
    # From set_trace (tracing on, stepping) until the stop below, Python code
    # that is not the user's can run: a weakref callback or finalizer of
    # something the GC frees there, a signal handler. Armed, the debugger
    # ignores it, instead of stopping in it ("--Call--" in _weakrefset).
    dbg._splice_armed = True
    try:
        dbg.set_trace(frame)
        trace = sys.gettrace()
        sys.settrace(None)
    finally:
        dbg._splice_armed = False
    # Stop at the breakpoint line now (as NoPdb does from its trace function);
    # tracing is off meanwhile so the debugger does not step into itself.
    stopped = False
    try:
        dbg.trace_dispatch(frame, "line", None)
        stopped = True
    finally:
        # what CPython's trace trampoline does after a trace function
        # returns: an assignment at the prompt reaches the frame (3.11, 3.12)
        _native.locals_to_fast(frame)
        if stopped and not dbg._splice_done and not getattr(dbg, "quitting", False):
            sys.settrace(trace)
        elif not stopped or sys.gettrace() is not orig_trace:
            # The debugger raised (its prompt could not read: ipykernel's
            # StdinNotImplementedError without a stdin): it is done, and the
            # exception goes on into the user's code untraced; with tracing
            # back on, the debugger stopped again on that exception's event.
            restore()


def _restoring(cls: type[bdb.Bdb], restore: Any) -> Any:
    """A subclass of ``cls`` that calls ``restore()`` when the user continues
    with tracing off, or quits."""

    class _Nice(cls):  # type: ignore[misc, valid-type]
        _splice_done = False
        _splice_armed = False

        def set_continue(self) -> None:
            super().set_continue()
            if sys.gettrace() is None:
                self._splice_done = True
                restore()

        def trace_dispatch(self, frame: FrameType, event: str, arg: Any) -> Any:
            if self._splice_armed:
                return None
            try:
                return super().trace_dispatch(frame, event, arg)
            except bdb.BdbQuit:
                self._splice_done = True
                restore()
                return None

    _Nice.__name__ = getattr(cls, "__name__", "Debugger")
    _Nice.__qualname__ = getattr(cls, "__qualname__", _Nice.__name__)
    return _Nice
