#!/usr/bin/env python3
"""The iteration rate of a live process before, while and after ``python -m splice attach`` (issue 15).

The target is ``tests/attach_fixtures/loop_target.py`` in a tight loop
(``--sleep 0 --work W``: every iteration calls ``compute(i)``, which calls
``looplib.scale``, then ``work(W)``, a pure-Python loop nobody probes). It
prints its iteration counter with its process CPU time and wall time every
``--every`` iterations. Each round measures three windows of ``--window``
seconds:

- ``before``: nothing attached;
- ``attached``: ``splice attach`` with ``--capture looplib:scale`` and a
  ``--break`` with ``--eval z`` in ``compute`` (both run every iteration;
  the agent thread polls every 0.1 s);
- ``after``: detached again.

The rate is iterations per second of the target's CPU time (time the shared
machine gives to other processes is not counted; the agent thread's own CPU
time is), and also per wall second. Rows are the median over ``--rounds``
rounds; the ratio column is the median of the per-round ratios to
``before`` (rounds run slower or faster together on a shared machine, which
pairing cancels). Results go to ``benches/attach-results-3.X.json``.

    python benches/attach_rate.py                  # with the interpreter that has splice (3.14+)
    python benches/attach_rate.py --rounds 5 --window 4
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOOP = os.path.join(ROOT, "tests", "attach_fixtures", "loop_target.py")
LINE = re.compile(r"^i=(\d+) .* cpu=([\d.]+) wall=([\d.]+)$")


class Target:
    """The loop process and its (iteration, cpu, wall) samples."""

    def __init__(self, work: int, every: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, LOOP, "--sleep", "0", "--work", str(work), "--every", str(every),
             "--max-seconds", "3600"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(LOOP))
        self.samples: list[tuple[int, float, float]] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        while not self.samples:
            if self.proc.poll() is not None:
                raise SystemExit("the target loop exited")
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = LINE.match(line.strip())
            if m:
                self.samples.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))

    def window(self, t0: float, t1: float) -> tuple[float, float]:
        """(iterations per CPU second, per wall second) between wall times t0 and t1."""
        s = [x for x in self.samples if t0 <= x[2] <= t1]
        if len(s) < 2:
            return float("nan"), float("nan")
        (i0, c0, w0), (i1, c1, w1) = s[0], s[-1]
        return (i1 - i0) / max(c1 - c0, 1e-9), (i1 - i0) / max(w1 - w0, 1e-9)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def one_round(t: Target, window: float) -> dict[str, tuple[float, float]]:
    """One before / attached / after measurement."""
    out: dict[str, tuple[float, float]] = {}
    a = time.monotonic()
    time.sleep(window)
    out["before"] = t.window(a, time.monotonic())
    cmd = [sys.executable, "-m", "splice", "attach", str(t.proc.pid), "--capture", "looplib:scale",
           "--break", f"{LOOP}:compute", "--line", "total = z + looplib.scale([1, 2, 3], 2)", "--eval", "z",
           "--duration", str(window + 1.0), "--max-calls", "10", "--stream", "0", "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    # the window starts once the probes are in: the target's code objects change then
    time.sleep(0.7)
    a = time.monotonic()
    time.sleep(window)
    out["attached"] = t.window(a, time.monotonic())
    _, err = p.communicate(timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"attach failed: {err}")
    time.sleep(0.3)
    a = time.monotonic()
    time.sleep(window)
    out["after"] = t.window(a, time.monotonic())
    return out


def main(argv: Optional[list[str]] = None) -> int:
    """Measure and print the rows; write benches/attach-results-3.X.json."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=3.0, help="seconds per window (default 3)")
    ap.add_argument("--work", type=int, default=300, help="work(W) per iteration (default 300)")
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--out", default=None, help="results file (default benches/attach-results-3.X.json)")
    a = ap.parse_args(argv)
    if sys.version_info < (3, 14) or not hasattr(sys, "remote_exec"):
        print(f"attach_rate: skipped: attach needs CPython 3.14+ (this is {platform.python_version()})")
        return 0
    t = Target(a.work, a.every)
    rounds = []
    try:
        time.sleep(1.0)  # warm up
        for r in range(a.rounds):
            res = one_round(t, a.window)
            rounds.append(res)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[0]:,.0f}/cpu-s" for k, v in res.items()), flush=True)
    finally:
        t.close()
    rows = []
    for phase in ("before", "attached", "after"):
        cpu = statistics.median(x[phase][0] for x in rounds)
        wall = statistics.median(x[phase][1] for x in rounds)
        ratio = statistics.median(x[phase][0] / x["before"][0] for x in rounds)
        rows.append({"phase": phase, "iter_per_cpu_s": round(cpu, 1), "iter_per_wall_s": round(wall, 1),
                     "ratio_to_before": round(ratio, 4)})
    print(f"\nattach iteration rate, CPython {platform.python_version()}, {a.rounds} rounds of "
          f"{a.window:g} s windows, loop_target.py --work {a.work}")
    print(f"{'phase':<10} {'iter/cpu-s':>12} {'iter/wall-s':>12} {'vs before':>10}")
    for row in rows:
        print(f"{row['phase']:<10} {row['iter_per_cpu_s']:>12,.0f} {row['iter_per_wall_s']:>12,.0f} "
              f"{row['ratio_to_before']:>10.3f}")
    out = a.out or os.path.join(HERE, f"attach-results-{sys.version_info.major}.{sys.version_info.minor}.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"python": platform.python_version(), "date": datetime.date.today().isoformat(),
                   "machine": platform.machine(), "cpus": os.cpu_count(), "rounds": a.rounds,
                   "window_s": a.window, "work": a.work, "rows": rows,
                   "per_round": rounds}, f, indent=2)
        f.write("\n")
    print(f"written: {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
