"""A target that forks a short-lived child while attached, for the attach
tests: once ``compute`` runs patched code (a probe was installed), it forks
once; the child prints what ``compute`` returns and whether its code is the
original, three times, then exits normally (running the atexit handlers it
inherited). The parent goes on as ``loop_target`` does, until its stdin
closes."""

import os
import sys
import threading
import time
import warnings


def compute(i):
    y = i % 7
    z = y * 2
    total = z + 1
    return total


def main():
    warnings.simplefilter("ignore", DeprecationWarning)  # (fork of a threaded process)
    orig = compute.__code__
    done = threading.Event()

    def watch_stdin():
        try:
            sys.stdin.read()
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"pid={os.getpid()} ready", flush=True)
    forked = False
    i = 0
    start = time.monotonic()
    while not done.is_set() and time.monotonic() - start < 120:
        v = compute(i)
        if not forked and compute.__code__ is not orig:
            forked = True
            if os.fork() == 0:
                for k in range(3):
                    print(f"child={os.getpid()} v={compute(k)} orig={compute.__code__ is orig}", flush=True)
                    time.sleep(0.1)
                sys.exit(0)
        if i % 10 == 0:
            print(f"i={i} v={v} orig={compute.__code__ is orig}", flush=True)
        time.sleep(0.005)
        i += 1


if __name__ == "__main__":
    main()
