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


_FIRST_USE_FORK = r"""
import os, sys, threading, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # (3.12+: fork of a threaded process)
import splice

def f(x):
    return x + 1

sys.setswitchinterval(0.5)  # whoever gets the GIL keeps it: widens the window
go = threading.Event()

def worker():
    go.set()
    with splice.capture_calls(f):  # the process's first capture
        f(1)

t = threading.Thread(target=worker)
t.start()
go.wait()
end = time.perf_counter() + 0.002
while time.perf_counter() < end:  # hold the GIL a moment, then fork
    pass
pid = os.fork()
if pid == 0:
    with splice.capture_calls(f) as calls:
        f(2)
    os._exit(0 if [c.return_value for c in calls] == [3] else 1)
t.join()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.02)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung")
"""


def test_a_fork_during_another_threads_first_capture_leaves_the_child_usable():
    """pyo3's once-cells (its ``intern!`` too) let go of the GIL while
    their value is made; a fork in that moment left the child a cell
    marked as being made by a thread it does not have, and its first
    capture waited for it for good (before the fix, 20 runs hung at
    least once in most tries). splice's native values are made without that window now
    (``crates/splice-py/src/lazy.rs``). Each run is a fresh process: the
    window exists only while the values are made the first time."""
    import subprocess
    import sys

    results = []
    for _ in range(20):
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_USE_FORK], capture_output=True, text=True, timeout=120
        )
        results.append(out.stdout.strip() or out.stderr.strip()[-300:])
    assert results == ["child 0"] * 20, results


def test_the_native_module_makes_no_value_through_a_pyo3_once_cell():
    """The structural half of the test above: a ``PyOnceLock`` (or pyo3's
    ``intern!``, which uses one) anywhere in splice's native module brings
    the fork window back; ``lazy::ForkSafeOnce`` and ``lazy::interned!``
    are the fork-safe forms."""
    src = os.path.join(os.path.dirname(__file__), "..", "crates", "splice-py", "src")
    found = []
    for name in sorted(os.listdir(src)):
        if not name.endswith(".rs") or name == "lazy.rs":
            continue
        with open(os.path.join(src, name), encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                code = line.split("//")[0]
                if "PyOnceLock" in code or "GILOnceCell" in code or "intern!(" in code:
                    found.append(f"{name}:{n}: {line.strip()}")
    assert found == [], "\n".join(found)
