"""Keep splice's locks usable in a child made by ``os.fork()``.

A forked child has one thread, the one that forked, and a copy of every
lock as it was: one that another thread held at that moment (the patcher's
during a commit, which a lazy scope makes on whichever thread first calls a
function; the holder census's; the first-call watch's) stays held forever
in the child, and the child's next probe, or the next first call a lazy
scope looks at, waits for it without end. DataLoader workers and
``multiprocessing``'s default start method on Linux fork like this. (Found
by CPython's ``test_threading.test_is_alive_after_fork`` under a capture
with no scope: its forked child never exited.)

So, as :mod:`logging` and :mod:`concurrent.futures` do for theirs, the
forking thread takes all three locks before the fork (waiting for a commit
in progress elsewhere to finish, so the child never sees half of one) and
releases them after it, in the parent and in the child, where it is the
owner. They are taken in the order the code nests them: the patcher's
lock is taken first whenever another is taken inside it, and the other
two are never held together. All three are reentrant, so a fork made on a
thread that holds one already (a finaliser run by an allocation inside a
critical section) does not wait on itself.
"""

from __future__ import annotations

import os

from splice import first_calls, owners
from splice.patcher import PATCHER

_LOCKS = (PATCHER.lock, owners._HOLDERS_LOCK, first_calls._WATCH.lock)


def _before_fork() -> None:
    for lock in _LOCKS:
        lock.acquire()


def _after_fork() -> None:
    for lock in reversed(_LOCKS):
        lock.release()


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
