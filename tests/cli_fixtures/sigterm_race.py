"""A forked child whose main thread blocks in a multiprocessing lock's
sem_wait while a SIGTERM is already pending for the process: the window in
which Pool.terminate() can signal a pool worker. The signal is sent to
another thread of the child, so it cannot interrupt the main thread's wait
(the C handler runs on that other thread); only splice's SIGTERM watch gets
the handler to run.

python sigterm_race.py [METHOD]   prints {"child": pid, "exitcode": N};
                                 exitcode is null when the child is still
                                 blocked after 20 s. METHOD: the start
                                 method (fork by default).
"""

import json
import multiprocessing as mp
import signal
import sys
import threading
import time


def work(x):
    return x + 1


def child(lock):
    work(1)

    def signal_myself():
        time.sleep(0.3)  # the main thread is in sem_wait by now
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=signal_myself).start()
    lock.acquire()  # held by the parent: blocks until a signal's handler ends the process


def main():
    ctx = mp.get_context(sys.argv[1] if len(sys.argv) > 1 else "fork")
    lock = ctx.Lock()
    lock.acquire()
    p = ctx.Process(target=child, args=(lock,))
    p.start()
    p.join(20)
    code = p.exitcode
    if code is None:
        p.kill()
        p.join()
    print(json.dumps({"child": p.pid, "exitcode": code}), flush=True)


if __name__ == "__main__":
    main()
