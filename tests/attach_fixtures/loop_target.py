"""A long-running target for `python -m splice attach` tests and the attach bench.

Every iteration calls ``compute(i)``; every ``--every`` iterations it prints
one line: the iteration, the last value, whether ``compute.__code__`` and
``looplib.scale.__code__`` are the original objects, the number of threads,
whether splice is imported, and the process CPU time (for the bench's rate).
``--late-import SECONDS`` imports ``lateimport`` after that long (a module that
is not imported when attach starts). It stops after ``--max-seconds`` or when
its stdin closes (so a test that dies never leaves it behind).
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import looplib  # noqa: E402


def compute(i):
    y = i % 7
    z = y * 2
    total = z + looplib.scale([1, 2, 3], 2)
    return total


def work(n):
    acc = 0
    for k in range(n):
        acc += k * k
    return acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--sleep", type=float, default=0.005)
    ap.add_argument("--work", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--late-import", type=float, default=None)
    ap.add_argument("--main-sleep", type=float, default=0, help="sleep this long in the main thread first")
    a = ap.parse_args()
    orig = (compute.__code__, looplib.scale.__code__)
    done = threading.Event()

    def watch_stdin():
        try:
            sys.stdin.read()
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"pid={os.getpid()} ready", flush=True)
    if a.main_sleep:
        time.sleep(a.main_sleep)
        print(f"woke splice_imported={'splice' in sys.modules} threads={threading.active_count()}", flush=True)
    start = time.monotonic()
    i = 0
    late = None
    while not done.is_set() and time.monotonic() - start < a.max_seconds:
        v = compute(i)
        if a.work:
            work(a.work)
        if a.late_import is not None and late is None and time.monotonic() - start > a.late_import:
            import lateimport

            late = lateimport
            print("late import done", flush=True)
        if late is not None:
            late.bump(i)
        if i % a.every == 0:
            is_orig = compute.__code__ is orig[0] and looplib.scale.__code__ is orig[1]
            print(f"i={i} v={v} orig={is_orig} threads={threading.active_count()} "
                  f"splice={'splice' in sys.modules} cpu={time.process_time():.6f} "
                  f"wall={time.monotonic():.6f}", flush=True)
        if a.sleep:
            time.sleep(a.sleep)
        i += 1


if __name__ == "__main__":
    main()
