"""``Breakpoint.debug``: an interactive debugger (pdb) opened at the breakpoint.

This is the only place splice installs a trace function: the debugger's own,
while it is open. On continue (with no breakpoint of the debugger's own left)
or quit, the trace function that was there before (usually none) and every
frame's ``f_trace``, ``f_trace_lines`` and ``f_trace_opcodes`` are
restored; a debugger still tracing this thread when its breakpoint is
removed (one continued with a breakpoint of its own) is ended then
(:func:`finish`).

One debugger per thread at a time: a hit while one traces the thread (the
user stepped onto the line, or continued to one of the debugger's own
breakpoints) stops that one, once per run of the line; a hit from code run
at its prompt (``p f(5)``) runs through. The debugger never stops in
splice's own frames (``skip``).
"""

from __future__ import annotations

import bdb
import inspect
import sys
import threading
import weakref
from types import FrameType
from typing import Any, Optional

from splice import _native

__all__ = ["enter_debugger"]

_MINOR = sys.version_info[1]

#: per thread, ``at``: (id of the frame, line) of the last stop of a
#: debugger opened here, until the next line event or breakpoint hit;
#: ``prompt``: whether such a debugger's prompt is open
_LAST_STOP = threading.local()


def _running_session() -> Any:
    """The debugger :func:`enter_debugger` opened that traces this thread
    now and has not finished, or None."""
    owner: Any = getattr(sys.gettrace(), "__self__", None)
    if getattr(owner, "_splice_session", False) and not owner._splice_done:
        return owner
    return None


#: modules a debugger opened here never stops in: splice's own frames (the
#: hook that opens it, a lazy scope's first-call watch) run inside the
#: user's, and stepping (``s``) stopped in them
_SKIP = ("splice", "splice.*")


def enter_debugger(
    frame: FrameType,
    cls: type[bdb.Bdb],
    kwargs: dict[str, Any],
    sessions: Optional[weakref.WeakSet[Any]] = None,
    guarded: bool = False,
) -> None:
    """Start ``cls(**kwargs)`` on ``frame``, stopped at the breakpoint line; on
    continue or quit, the previous trace function (usually none) is restored.

    When a debugger this function opened is already tracing this thread
    (the user stepped onto the breakpoint line, or continued with a
    breakpoint of the debugger's own left), that debugger stops here
    instead, unless it has just stopped on this very line: a second one
    nested in it showed each such line twice and, saving the first as "the
    previous trace function", left it installed for good.

    ``sessions``: where the debugger is registered, for :func:`finish`.
    ``guarded``: the hook runs under a test (``cond``, an instance filter),
    so a stop on its line is not always followed by the hook: then no stop
    is remembered to skip it (a later hit at the same frame and line was
    skipped), at the cost of a second stop there when stepping onto it."""
    if getattr(_LAST_STOP, "prompt", False):
        return
    last, _LAST_STOP.at = getattr(_LAST_STOP, "at", None), None
    if last == (id(frame), frame.f_lineno):
        # The debugger has just stopped on this line (its line event comes
        # before the line's code, this hook included), and the user went on
        # from there: stepping, or continuing. Stopping again showed the
        # line twice for one run of it.
        return
    running = _running_session()
    if running is not None:
        running.splice_stop(frame)
        return
    if _MINOR < 13:
        # a fresh snapshot of the locals for the write-back below: one a
        # callback's view made earlier, which a debugger that never reads
        # them leaves as it was, undid every assignment since (or unbound a
        # variable assigned since)
        frame.f_locals  # noqa: B018
    orig_trace = sys.gettrace()
    # each frame's f_trace, f_trace_lines and f_trace_opcodes: the debugger
    # sets all three on every frame of the stack, and pdb's `q` leaves
    # them set; on 3.13+ f_trace_opcodes left True kept each caller's code
    # object instruction-traced for the rest of the process (a loop there
    # ran 2x slower after the block)
    saved: list[tuple[FrameType, Any, bool, bool]] = []
    f: Optional[FrameType] = frame
    while f is not None:
        saved.append((f, f.f_trace, f.f_trace_lines, f.f_trace_opcodes))
        f = f.f_back

    def restore() -> None:
        for fr, tr, lines, opcodes in saved:
            try:
                fr.f_trace = tr
                fr.f_trace_lines = lines
                fr.f_trace_opcodes = opcodes
            except Exception:  # pragma: no cover
                pass
        saved.clear()  # (the frames of the hit, with their locals, go now)
        sys.settrace(orig_trace)

    if _MINOR >= 14 and "backend" not in kwargs and _takes_backend(cls):
        # (pdb.set_default_backend("monitoring") would otherwise apply:
        # see actions.Debug, which refuses that backend when given)
        kwargs = {**kwargs, "backend": "settrace"}
    dbg = _restoring(cls, restore)(**kwargs)
    dbg.skip = set(dbg.skip or ()) | set(_SKIP)
    dbg._splice_thread = threading.get_ident()
    dbg._splice_hit = None if guarded else (frame.f_code, frame.f_lineno)
    if sessions is not None:
        sessions.add(dbg)
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
        dbg._splice_at_hit = True
        dbg.trace_dispatch(frame, "line", None)
        stopped = True
    finally:
        dbg._splice_at_hit = False
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
            dbg._splice_done = True
        if dbg._splice_done:
            _drop_frames(dbg)


def _drop_frames(dbg: Any) -> None:
    """Let a finished debugger go of the frames it still names: pdb keeps
    its last instance alive (its SIGINT handler, 3.14's
    ``Pdb._last_pdb_instance``), and 3.13's keeps the frame it was started
    on (``enterframe``) and a proxy of its locals, with every caller's
    locals behind them. (Not from ``restore()``, which ``c`` calls in the
    middle of the prompt's loop.)"""
    held = vars(dbg)  # (3.14's curframe_locals is a deprecated property: left alone)
    for name in ("enterframe", "curframe_locals", "curframe", "botframe", "stopframe", "returnframe"):
        if held.get(name) is not None:
            held[name] = None
    for name in ("stack", "frame_trace_lines_opcodes", "frame_returning"):
        value = held.get(name)
        if isinstance(value, (list, dict)):
            held[name] = type(value)()


def finish(sessions: weakref.WeakSet[Any]) -> None:
    """End the debuggers of ``sessions`` still tracing this thread (the
    breakpoint that opened them is removed): continued with a breakpoint
    of the debugger's own left, one kept tracing after the block, and
    stopped in later code. Those of other threads end when they continue
    (a thread's trace function is its own to set)."""
    me = threading.get_ident()
    for dbg in list(sessions):
        if not dbg._splice_done and dbg._splice_thread == me:
            dbg.splice_end()


def _takes_backend(cls: type[bdb.Bdb]) -> bool:
    """Whether ``cls(...)`` takes a ``backend`` keyword (pdb 3.14+)."""
    try:
        return "backend" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _restoring(cls: type[bdb.Bdb], restore: Any) -> Any:
    """A subclass of ``cls`` that calls ``restore()`` when the user continues
    with tracing off, or quits."""

    class _Nice(cls):  # type: ignore[misc, valid-type]
        _splice_done = False
        _splice_armed = False
        #: (instrumented code, line) of the hit that opened the debugger
        _splice_hit: Optional[tuple[Any, int]] = None
        #: stopping for a hit itself (from its hook, not a line event)
        _splice_at_hit = False
        #: (id of the frame, line) of its last stop at a line event
        _splice_line_stop: Optional[tuple[int, int]] = None

        def set_continue(self) -> None:
            super().set_continue()
            # Done unless a breakpoint of the debugger's own is left (then
            # it traces on: set at the first stop, which runs with tracing
            # off, it was dropped when this asked sys.gettrace() instead)
            if not self.breaks:
                self._splice_done = True
                restore()

        def trace_dispatch(self, frame: FrameType, event: str, arg: Any) -> Any:
            if self._splice_armed:
                return None
            if event == "line":
                _LAST_STOP.at = None  # (set again if it stops here)
                self._splice_line_stop = None
            try:
                out = super().trace_dispatch(frame, event, arg)
                if not self._splice_done:
                    return out
                # done (continued with tracing off): None leaves the frame's
                # f_trace as restore() put it, where the debugger's return
                # value would be stored over it (and keep getting the
                # frame's line events, after the block too)
                _drop_frames(self)
                return None
            except bdb.BdbQuit:
                self.splice_end()
                return None
            except BaseException:
                # (a KeyboardInterrupt at the prompt, an error of the
                # debugger's own): it is done, and the exception goes on
                # into the user's code untraced
                self.splice_end()
                raise

        def splice_end(self) -> None:
            """Finish: restore the trace functions, drop the frames."""
            self._splice_done = True
            restore()
            _drop_frames(self)

        def interaction(self, frame: Optional[FrameType], *args: Any, **kwargs: Any) -> Any:
            if not self._splice_at_hit and frame is not None:
                # a stop at a line event (cleared by the next: see splice_stop)
                self._splice_line_stop = (id(frame), frame.f_lineno)
                if (frame.f_code, frame.f_lineno) == self._splice_hit:
                    # on the breakpoint's line (in its instrumented code),
                    # whose hook runs next; only there: a record left by a
                    # stop elsewhere matched a later frame at the same address
                    _LAST_STOP.at = self._splice_line_stop
            prompt = getattr(_LAST_STOP, "prompt", False)
            try:
                # a probed function called at the prompt (`p f(5)`) runs
                # through, as its other code does there
                _LAST_STOP.prompt = True
                return super().interaction(frame, *args, **kwargs)
            finally:
                _LAST_STOP.prompt = prompt

        def splice_stop(self, frame: FrameType) -> None:
            """The breakpoint's hook ran while this debugger traces the
            thread: stop at the hit now, unless it has just stopped on
            this line (stepping onto it: the line event comes first; while
            it traces, every line event clears that record)."""
            if self._splice_line_stop == (id(frame), frame.f_lineno):
                return
            try:
                self._splice_at_hit = True
                self.user_line(frame)
            finally:
                self._splice_at_hit = False
                _native.locals_to_fast(frame)  # (see enter_debugger)
                if self._splice_done:
                    _drop_frames(self)

    _Nice._splice_session = True
    _Nice.__name__ = getattr(cls, "__name__", "Debugger")
    _Nice.__qualname__ = getattr(cls, "__qualname__", _Nice.__name__)
    return _Nice
