"""Multiprocessing fixture for the CLI's child-process tests.

python mp_jobs.py METHOD pool   a Pool(2) mapping work over 0..5 (left by
                                Pool.terminate(): SIGTERM) and two Processes
                                calling work(10), work(11) (os._exit / exit)
python mp_jobs.py METHOD kill   three Processes calling work(20..22); the
                                second kills itself with SIGKILL afterwards
Prints one JSON line: {"main": pid, "calls": [[pid, x], ...], "killed": pid}.
"""

import json
import multiprocessing as mp
import os
import signal
import sys


def work(x):
    y = x * x
    return os.getpid(), x, y


def run_one(x, q, kill):
    q.put(work(x)[:2])
    if kill:
        q.close()
        q.join_thread()  # the result reaches the parent before the kill
        os.kill(os.getpid(), signal.SIGKILL)


def main():
    method, mode = sys.argv[1], sys.argv[2]
    ctx = mp.get_context(method)
    q = ctx.Queue()
    calls, killed = [], None
    if mode == "pool":
        with ctx.Pool(2) as pool:
            calls += [list(r[:2]) for r in pool.map(work, range(6), chunksize=1)]
        xs, kills = [10, 11], [False, False]
    else:
        xs, kills = [20, 21, 22], [False, True, False]
    procs = [ctx.Process(target=run_one, args=(x, q, k)) for x, k in zip(xs, kills, strict=True)]
    for p in procs:
        p.start()
    calls += [list(q.get(timeout=60)) for _ in procs]
    for p, k in zip(procs, kills, strict=True):
        p.join(60)
        if k:
            killed = p.pid
            assert p.exitcode == -signal.SIGKILL, p.exitcode
        else:
            assert p.exitcode == 0, p.exitcode
    print(json.dumps({"main": os.getpid(), "calls": calls, "killed": killed}), flush=True)


if __name__ == "__main__":
    main()
