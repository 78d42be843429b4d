"""A child made by ``os.fork()`` while another thread holds one of splice's
locks can still use splice (splice.fork_safety)."""

from __future__ import annotations

import os
import threading
import time
import warnings

import pytest

import splice
from splice import first_calls, owners
from splice.patcher import PATCHER

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")


def target(x):
    return x + 1


def _child_exit_status(pid: int, timeout: float) -> int | None:
    """The child's exit status, or None if it is still running after
    ``timeout`` seconds (then it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


@pytest.mark.parametrize(
    "lock", [PATCHER.lock, owners._HOLDERS_LOCK, first_calls._WATCH.lock], ids=["patcher", "holders", "watch"]
)
def test_a_fork_while_another_thread_holds_a_splice_lock_leaves_the_child_usable(lock):
    """Another thread holds the lock (as a commit on it would) when this one
    forks: the fork waits for it, and the child can enter and leave a
    capture and a lazy scope (before, it waited for a lock nobody would ever
    release: the child never exited)."""
    holding, go = threading.Event(), threading.Event()

    def hold():
        with lock:
            holding.set()
            go.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(5)
    threading.Timer(0.3, go.set).start()  # let go while the fork waits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() of a multi-threaded process
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with splice.capture_calls(target) as calls:
                target(1)
            with splice.capture_calls("target") as named:  # a lazy scope: the first-call watch
                target(2)
            code = 0 if [c.args["x"] for c in calls] == [1] and [c.args["x"] for c in named] == [2] else 2
        finally:
            os._exit(code)
    t.join()
    assert _child_exit_status(pid, timeout=20) == 0
