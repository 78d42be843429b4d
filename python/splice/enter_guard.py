"""Context managers that an interrupt cannot leave entered on CPython 3.14.

CPython 3.14 compiles ``with X:`` into ``LOAD_SPECIAL __enter__; CALL 0``,
and when ``__enter__`` is native, ``CALL`` runs pending signal handlers
after it returns, one instruction before the block's exception handler
starts. A handler's ``KeyboardInterrupt`` there skips ``__exit__``: a lock
taken by ``with lock:`` stays taken, and ``with UNRECORDED:`` leaves
recording paused on the thread for good (CPython gh-148874; 3.11-3.13's
``BEFORE_WITH`` runs no handler, and 3.15 has the fix).

A Python ``__enter__`` closes that gap: 3.14 runs a Python function's call
inline, with no check for signals after it returns, and inside the
function the native step sits in a ``try`` whose handler undoes it. The
``__exit__`` stays native, so that no Python frame starts (and checks for
signals) before the release. On the other versions the native objects are
used as they are: this costs a Python call per block.
"""

from __future__ import annotations

import _thread
import sys
import threading

from splice import _native

#: The running CPython has the gap after a native ``__enter__``.
GUARDED = sys.version_info[:2] == (3, 14)


class _GuardedRLock(_thread.RLock):  # type: ignore[misc]  # (typeshed marks it final)
    """A reentrant lock whose ``with`` an interrupt cannot leave held."""

    __slots__ = ()

    def __enter__(self, blocking: bool = True, timeout: float = -1) -> bool:
        # (the native __enter__ is acquire: the same arguments)
        count = self._recursion_count  # type: ignore[attr-defined]  # (not in typeshed)
        # a signal raised where this call returns has changed nothing yet
        held = count()
        try:
            # a signal raised where this call returns has taken the lock
            took = self.acquire(blocking, timeout)
        except BaseException:
            if count() > held:
                self.release()
            raise
        return took


class _GuardedUnrecorded(_native.Unrecorded):
    """``UNRECORDED`` (see :mod:`splice.patcher`) whose ``with`` an interrupt
    cannot leave paused."""

    __slots__ = ()

    def __enter__(self) -> None:
        depth = _native.recording_pause_depth()
        try:
            _native.pause_recording()
        except BaseException:
            if _native.recording_pause_depth() > depth:
                _native.resume_recording()
            raise


def rlock() -> _thread.RLock:
    """A new reentrant lock for ``with`` blocks in splice's library code."""
    return _GuardedRLock() if GUARDED else threading.RLock()


def unrecorded() -> _native.Unrecorded:
    """A new ``with`` object that pauses recording for its block."""
    return _GuardedUnrecorded() if GUARDED else _native.Unrecorded()
