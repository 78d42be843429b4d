"""A daemon thread inside splice when the interpreter exits. CPython 3.11-3.13
end such a thread with ``pthread_exit()`` when it asks for the GIL back, a
forced unwind of its stack; through splice's native hooks and ``__exit__``
that unwind aborted the process (SIGABRT, exit status 134, no message). The
thread is parked for good instead, as 3.14 does (crates/splice-py/src/
thread_exit.rs), and the process exits normally. 3.14+ never unwinds such
threads; the tests run there too. The cases past the first two were found
by a second adversarial run, after the first fix: the 3.11 frame
evaluator's calls, and finalizers of the user's values that a hook lets
go of."""

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


REPLACED_VALUE = textwrap.dedent(
    """
    import threading, time, splice

    class R:
        def __del__(self):
            time.sleep(0)  # lets go of the GIL

    def f():
        return R()

    def sampler():
        with splice.capture_call(f):  # each call's record replaces the last: R() is freed in the hook
            while True:
                f()

    threading.Thread(target=sampler, daemon=True).start()
    time.sleep(0.2)
    print("main exits", flush=True)
    """
)

FORGOTTEN_ENTRY = textwrap.dedent(
    """
    import threading, time, splice

    class R:
        def __del__(self):
            time.sleep(0)

    def gen(x):
        yield x

    def toggler():  # leaving the block forgets the suspended call's entry: R() is freed then
        while True:
            with splice.capture_calls(gen, transform=lambda v: R()):
                g = gen(1)
                next(g)
            del g

    threading.Thread(target=toggler, daemon=True).start()
    time.sleep(0.3)
    print("main exits", flush=True)
    """
)

FIRST_CALLS = textwrap.dedent(
    """
    import threading, time, splice

    SRC = "def g(x):\\n    return x + {n}\\n"

    def churn(k):  # new functions named g: each first call goes through the scope's first-call hook
        n = 0
        while True:
            n += 1
            ns = {}
            exec(SRC.format(n=n * 10 + k), ns)
            ns["g"](1)

    exec(SRC.format(n=0), globals())
    c = splice.capture_calls("g")
    c.__enter__()
    for k in range(3):
        threading.Thread(target=churn, args=(k,), daemon=True).start()
    time.sleep(0.3)
    print("main exits", flush=True)
    """
)

LONG_FIRST_CALL = textwrap.dedent(
    """
    import threading, time, splice

    def g(x):
        while True:
            time.sleep(0.0005)

    with splice.capture_calls("g"):  # (3.11: g's first call is run again by the frame evaluator)
        threading.Thread(target=g, args=(1,), daemon=True).start()
        time.sleep(0.1)
    print("main exits", flush=True)
    """
)


def test_a_value_a_hook_replaces_whose_finalizer_waits_does_not_abort_the_exit():
    """Before the fix: 134 every time on 3.11-3.13."""
    assert _exit_statuses(REPLACED_VALUE, 3) == [0, 0, 0]


def test_an_entry_forgotten_at_a_blocks_exit_whose_finalizer_waits_does_not_abort_the_exit():
    """Before the fix: 134 every time on 3.11-3.13."""
    assert _exit_statuses(FORGOTTEN_ENTRY, 3) == [0, 0, 0]


def test_first_calls_of_a_scope_by_name_at_exit_do_not_abort_the_process():
    """3.11's frame evaluator calls the scope's first-call callback, which
    waits for splice's lock. Before the fix: 134 every time on 3.11."""
    assert _exit_statuses(FIRST_CALLS, 3) == [0, 0, 0]


def test_a_first_call_still_running_at_exit_does_not_crash_the_process():
    """3.11: the frame evaluator runs a first call again from native code;
    a daemon thread still in it at exit was unwound through that frame,
    whose clean-up freed Python objects without the GIL, during the final
    collection: a segfault (139) in 7 runs of 8 before the fix."""
    assert _exit_statuses(LONG_FIRST_CALL, 4) == [0, 0, 0, 0]
