"""A daemon thread inside splice when the interpreter exits. CPython 3.11-3.13
end such a thread with ``pthread_exit()`` when it asks for the GIL back, a
forced unwind of its stack; through splice's native hooks and ``__exit__``
that unwind aborted the process (SIGABRT, exit status 134, no message). The
thread is parked for good instead, as 3.14 does (crates/splice-py/src/
thread_exit.rs), and the process exits normally. 3.14+ never unwinds such
threads; the tests run there too."""

from __future__ import annotations

import subprocess
import sys
import textwrap

TRANSFORM = textwrap.dedent(
    """
    import threading, time, splice

    def f(x):
        return x + 1

    def to_cpu(v):          # as a transform that copies a tensor would
        time.sleep(0.0001)  # let go of the GIL
        return v

    def sampler():
        with splice.capture_calls(f, transform=to_cpu):
            while True:
                f(1)

    threading.Thread(target=sampler, daemon=True).start()
    time.sleep(0.2)
    print("main exits", flush=True)
    """
)

CHURN = textwrap.dedent(
    """
    import threading, time, splice

    def f(x):
        return x + 1

    def toggler():  # enters and leaves blocks: waits for splice's lock in __exit__
        while True:
            with splice.capture_calls(f):
                f(1)

    for _ in range(2):
        threading.Thread(target=toggler, daemon=True).start()
    time.sleep(0.2)
    print("main exits", flush=True)
    """
)


def _exit_statuses(script: str, runs: int) -> list[int]:
    out = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert proc.stdout.strip() == "main exits", proc.stdout + proc.stderr
        out.append(proc.returncode)
    return out


def test_a_daemon_thread_in_a_captures_transform_at_exit_does_not_abort_the_process():
    """Before the fix: 134 every time on 3.11-3.13."""
    assert _exit_statuses(TRANSFORM, 3) == [0, 0, 0]


def test_daemon_threads_entering_and_leaving_blocks_at_exit_do_not_abort_the_process():
    """Before the fix: 134 in about one run in three on 3.11 and 3.13."""
    assert _exit_statuses(CHURN, 8) == [0] * 8
