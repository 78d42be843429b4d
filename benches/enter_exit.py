#!/usr/bin/env python3
"""Enter+exit of a probe across heap sizes, splice beside NoPdb (issue 13).

    make bench-enter-exit PY=3.13            # .venv-3.13/bin/python
    python benches/enter_exit.py             # with an interpreter that has splice and nopdb
    python benches/enter_exit.py --rounds 5 --procs 1 --levels empty,torch

Each heap level runs in its own child process (a fresh interpreter, the same
one that runs this script), so that the objects one level imports never
reach another:

- ``empty``: nothing imported besides splice, NoPdb and the stdlib modules
  this script and benches/run.py use;
- ``torch``: ``import torch``;
- ``torch+timm+transformers``: torch, timm and transformers imported, one timm
  ``vit_tiny_patch16_224`` built with random weights and one transformers
  ``BertModel`` built from a small ``BertConfig`` and one one-layer
  ``GPT2LMHeadModel`` (for ``bp-generate``), random weights (no hub access).

A level whose packages cannot be imported is reported as ``not run: torch not
installed`` (never skipped silently). The levels' children run interleaved
(``--procs`` times each: empty, torch, ML, empty, torch, ML, ...) so that the
machine's load drifts over all of them alike.

Rows, each with splice and with NoPdb (which has every one of these APIs):

- ``bp``: ``with breakpoint(Attention.forward, line="attn = attn.softmax(dim=-1)") as bp:
  bp.exec("attn = attn * 3")`` on benches/run.py's stand-in, a copy of timm's
  ``Attention.forward`` over scalars (same lines, same bytecode shape), defined
  in the child at every level (so the levels are comparable);
- ``bp-timm``: the same on timm's own ``timm.layers.attention.Attention.forward``
  (only at the level that imports timm);
- ``bp-generate``: ``breakpoint(GenerationMixin._sample, line="next_tokens =
  torch.argmax(next_token_scores, dim=-1)")`` + ``bp.exec("next_token_scores[...,
  7] = 1e9")``: a method of transformers' 3,500-line ``GenerationMixin``
  class in a 4,600-line file (only at the level that imports transformers;
  checked by a greedy ``generate()`` of the small GPT-2 giving token 7);
- ``capture``: ``with capture_calls(f): pass`` on a one-function target, a
  module-level function of a freshly compiled module-like namespace (what a
  function of an imported module looks like once the import is done: only the
  function refers to its code object);
- ``capture-main``: the same on a function defined by a ``def`` in the running
  script (``__main__``, whose ``<module>`` code object, still running, holds the
  function's code object among its constants): one such target per process,
  so its ``repeat`` batch follows one untimed cycle (the other rows' follow
  their ``first`` and checked cycles);
- ``capture-nested``: the same on a nested function (``make()`` returning an
  inner ``def``; the enclosing function's code object holds the inner one),
  freshly compiled every round;
- ``name``: ``with capture_calls("forward"): pass``, a name scope (the table
  says how many live functions are named ``forward``).
- ``name-call``: the same with one call of the stand-in ``forward`` inside:
  a name scope instruments a function at its first call, so this row pays
  that (one commit) every round.

Each row has two phases, and the rows ``bp``, ``capture`` and ``capture-nested`` a
third:

- ``first``: the first enter+exit of a new probe on a function never probed in
  the process. For ``bp`` and ``capture`` every round compiles a fresh copy of
  the target (a new code object, never probed), so every round gives a sample;
  for ``bp-timm``, ``bp-generate`` and ``name`` there is only one never-probed target per
  process, so they give one sample per child process (measured right after the
  warm-up, before any round, each after a full collection like every round's
  row);
- ``repeat``: the steady state, the same probe entered and left ``--repeat``
  times in a row on the same function (per enter+exit: the batch's time over
  its size), one sample per round;
- ``cold``: a ``first`` on another fresh copy right after a full collection
  and a copy of ``FLUSH_MB`` (256 MiB) that evicts the CPU caches, one sample
  per round. A full collection walks the whole heap: after it alone, the
  ``empty`` level's caches stay warm and the torch levels' go cold, so
  ``first`` compares a warm small process with a cold big one. ``cold`` puts
  every level in the same cache state; the flatness goal reads it.

The warm-up (one cycle of ``bp`` and ``capture`` on throwaway copies) comes
after the very first splice and NoPdb enter+exit of the process, which is
reported on its own (``process first``: it includes splice's lazy set-up).

The clock is wall time (``time.perf_counter_ns``; the CPU time of the thread is
recorded beside it). The rows run interleaved, in an order rotated every
round, with a full garbage collection before each row (every row starts
from the same collected heap, and its first enter+exit runs with the cold
caches a full collection leaves) and the young generations collected before
every timed batch; the
collector stays enabled while timing. Results are the median over the samples with min and
max. The machine is shared: the load average is recorded at the start and the
end of every child. Every timed batch is followed by a checked cycle (not
timed): inside the block the target is called once and the probe must fire
(the exec's effect, or one captured call with the right return value), and
after the block ``f.__code__ is original`` for the target (for the name scope:
for every live function named ``forward``), and calling it gives the plain
result again. The checks hold the original code objects through weak
references, as splice's ``HeapSearchWarning`` advises: until December 2026
they held them in local variables, so every checked cycle's enters searched
the heap (about 40 ms with torch imported), and the caches that left cold
slowed the timed batch after it (``capture-nested``'s repeat batch of 3:
0.15-0.19 ms with torch against 0.10 ms empty). A wrong result is reported as ``wrong: ...`` and that row's
samples are dropped; a raising row is ``error: ...`` and the rest goes on.

Results go to ``benches/enter-exit-3.X.json`` (one per CPython minor);
``benches/render.py`` adds them to docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import types
import weakref
from collections.abc import Callable
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LEVELS = ["empty", "torch", "torch+timm+transformers"]
LEVEL_IMPORTS = {"empty": [], "torch": ["torch"], "torch+timm+transformers": ["torch", "timm", "transformers"]}
ROWS = ["bp", "bp-timm", "bp-generate", "capture", "capture-main", "capture-nested", "name", "name-call"]
ROW_TITLES = {
    "bp": "breakpoint(Attention.forward, line=...) + exec, stand-in forward",
    "bp-timm": "breakpoint(timm Attention.forward, line=...) + exec",
    "bp-generate": "breakpoint(transformers GenerationMixin._sample, line=...) + exec",
    "capture": "capture_calls(f), one function",
    "capture-main": "capture_calls(f), f defined in the running script",
    "capture-nested": "capture_calls(f), f a nested function",
    "name": "capture_calls(\"forward\"), name scope",
    "name-call": "capture_calls(\"forward\"), name scope, one forward() called inside",
}
TOOLS = ["splice", "nopdb"]
#: first: after a full collection; repeat: steady state; cold: after a collection and a cache flush
PHASES = ("first", "repeat", "cold")
#: rows that take a "cold" sample every round (a fresh target each time)
COLD_ROWS = ("bp", "capture", "capture-nested")
#: the cache flush before a "cold" sample: a copy of this many MiB
FLUSH_MB = 256
ATTN_LINE = "attn = attn.softmax(dim=-1)"
ATTN_EXEC = "attn = attn * 3"
GEN_LINE = "next_tokens = torch.argmax(next_token_scores, dim=-1)"
GEN_EXEC = "next_token_scores[..., 7] = 1e9"
GEN_TOKEN = 7

# goals (issue 13)
GOAL_FUNCTION_MS = 1.0
GOAL_NAME_MS = 50.0
GOAL_FLAT_RATIO = 1.5  # our reading of "independent of how many objects the process holds"

TARGET_SRC = """\
def target(a, b):
    return a + b


def make():
    def nested(a, b):
        return a + b
    return nested
"""


def main_target(a, b):
    """The ``capture-main`` target: defined by a def statement in this script,
    which runs as ``__main__`` in the child (its module code is still running)."""
    return a + b


def _short(e: BaseException) -> str:
    msg = " ".join(f"{type(e).__name__}: {e}".split())
    return msg if len(msg) <= 300 else msg[:297] + "..."


class Wrong(Exception):
    pass


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise Wrong(what)


def _loadavg() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _fmt_ms(ns: Optional[float]) -> str:
    if ns is None:
        return "-"
    ms = ns / 1e6
    if ms < 0.1:
        return f"{ms * 1000:.1f} us"
    if ms < 10:
        return f"{ms:.3f} ms"
    return f"{ms:.1f} ms"


# ---------------------------------------------------------------------------
# The child: one heap level, one process


def _timed(fn: Callable[[], None], k: int) -> tuple[int, int]:
    """Wall and thread-CPU ns for k calls of fn (the young generations are
    collected first; the collector stays enabled)."""
    gc.collect(1)
    w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    for _ in range(k):
        fn()
    return time.perf_counter_ns() - w0, time.thread_time_ns() - c0


class Row:
    def __init__(self, key: str, tool: str) -> None:
        self.key = key
        self.tool = tool
        self.status = "ok"
        self.first: list[int] = []
        self.first_cpu: list[int] = []
        self.repeat: list[float] = []
        self.repeat_cpu: list[float] = []
        #: first enter+exit after a full collection and a cache flush (every level alike)
        self.cold: list[int] = []
        self.cold_cpu: list[int] = []
        self.first_kind = "new function each round"

    def fail(self, e: BaseException) -> None:
        if self.status != "ok":
            return
        if isinstance(e, Wrong):
            self.status = f"wrong: {_short(e)}"
            self.first, self.first_cpu, self.repeat, self.repeat_cpu = [], [], [], []
            self.cold, self.cold_cpu = [], []
        else:
            self.status = f"error: {_short(e)}"
            if os.environ.get("BENCH_TRACEBACKS"):
                traceback.print_exc()

    def to_json(self) -> dict:
        return {"key": self.key, "tool": self.tool, "status": self.status, "first_kind": self.first_kind,
                "first_ns": self.first, "first_cpu_ns": self.first_cpu,
                "repeat_ns": self.repeat, "repeat_cpu_ns": self.repeat_cpu,
                "cold_ns": self.cold, "cold_cpu_ns": self.cold_cpu}


def child(level: str, rounds: int, repeat: int, name_repeat: int) -> dict:
    t_start = time.monotonic()
    out: dict[str, Any] = {"level": level, "status": "ok", "loadavg_start": _loadavg(), "pid": os.getpid()}
    # the level's packages first, so that "not installed" is told apart from any other failure
    import importlib
    import importlib.util
    for mod in LEVEL_IMPORTS[level]:
        if importlib.util.find_spec(mod) is None:
            out["status"] = f"not run: {mod} not installed"
            return out
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings
    warnings.filterwarnings("ignore")
    versions: dict[str, str] = {}
    models: dict[str, Any] = {}
    t0 = time.monotonic()
    for mod in LEVEL_IMPORTS[level]:
        m = importlib.import_module(mod)
        versions[mod] = getattr(m, "__version__", "?")
    if level == "torch+timm+transformers":
        import timm
        import transformers
        models["vit"] = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
        cfg = transformers.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                                      intermediate_size=128)
        models["bert"] = transformers.BertModel(cfg).eval()
        gcfg = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50, n_positions=32,
                                       bos_token_id=0, eos_token_id=0)
        models["gpt2"] = transformers.GPT2LMHeadModel(gcfg).eval()
    out["import_s"] = round(time.monotonic() - t0, 2)
    out["versions"] = versions

    import nopdb

    import splice
    sys.path.insert(0, HERE)
    import run as bench_run  # benches/run.py: the stand-in Attention source and SourceFile
    assert bench_run.ATTN_LINE == ATTN_LINE and bench_run.ATTN_EXEC == ATTN_EXEC
    libs = {"splice": splice, "nopdb": nopdb}
    out["splice_version"] = getattr(splice, "__version__", None)
    out["native"] = bench_run.native_info()

    flush_buf = bytearray(FLUSH_MB << 20)

    def flush_caches() -> None:
        """Evict the CPU caches the same way at every level: a copy of
        FLUSH_MB reads and writes twice that much memory, more than this
        machine's last-level cache holds."""
        bytes(flush_buf)

    tmp = tempfile.mkdtemp(prefix="splice-enter-exit-")
    attn_src = bench_run.SourceFile(tmp, "attn", bench_run.ATTN_SRC)
    target_src = bench_run.SourceFile(tmp, "target", TARGET_SRC)
    hand = attn_src.load(slot=f"{ATTN_EXEC}; ")
    want_value = hand["Attention"]().forward(hand["T"](0.5)).v
    base = attn_src.load()  # the stand-in every name-scope check calls
    plain_value = base["Attention"]().forward(base["T"](0.5)).v
    assert want_value != plain_value

    gc.collect()
    objs = gc.get_objects()
    out["objects"] = len(objs)
    funcs = [o for o in objs if type(o) is types.FunctionType]
    out["functions"] = len(funcs)
    out["forward_functions"] = sum(1 for f in funcs if f.__name__ == "forward")
    del objs, funcs

    # -- the cycles -----------------------------------------------------------
    def bp_cycle(lib, fn):
        def go():
            with lib.breakpoint(fn, line=ATTN_LINE) as bp:
                bp.exec(ATTN_EXEC)
        return go

    def probed_and_after(lib, fn, line, stmt, call, what):
        """``call()`` inside a breakpoint on ``fn`` that execs ``stmt``, and
        after the block, which must have restored ``fn.__code__``."""
        orig = weakref.ref(fn.__code__)  # weakly, see "checked cycle" above
        with lib.breakpoint(fn, line=line) as bp:
            bp.exec(stmt)
            inside = call()
        after = call()
        expect(fn.__code__ is orig(), f"{what}.__code__ is not the original after the block")
        return inside, after

    def bp_check(lib, ns):
        inside, after = probed_and_after(lib, ns["Attention"].forward, ATTN_LINE, ATTN_EXEC,
                                         lambda: ns["Attention"]().forward(ns["T"](0.5)).v, "Attention.forward")
        expect(inside == want_value,
               f"forward() inside the block gave {inside}, want {want_value} (probe did not fire)")
        expect(after == plain_value, f"forward() after the block gave {after}, want {plain_value}")

    def capture_cycle(lib, fn):
        def go():
            with lib.capture_calls(fn):
                pass
        return go

    def capture_check(lib, ns):
        fn = ns["target"]
        orig = weakref.ref(fn.__code__)
        with lib.capture_calls(fn) as calls:
            r = fn(2, 3)
        fn(4, 5)
        expect(fn.__code__ is orig(), "target.__code__ is not the original after the block")
        expect(r == 5, f"target(2, 3) gave {r} inside the block")
        expect(len(calls) == 1, f"captured {len(calls)} calls, want 1 (probe did not fire, or fired after exit)")
        expect(calls[0].return_value == 5, f"captured return value {calls[0].return_value!r}, want 5")

    def forwards() -> list[tuple[Any, Any]]:
        return [(f, weakref.ref(f.__code__)) for f in gc.get_objects()
                if type(f) is types.FunctionType and f.__name__ == "forward"]

    def name_cycle(lib):
        def go():
            with lib.capture_calls("forward"):
                pass
        return go

    def name_call_cycle(lib):
        att, x = base["Attention"](), base["T"](0.5)

        def go():
            with lib.capture_calls("forward"):
                att.forward(x)  # a lazy scope instruments it here, every round
        return go

    def name_check(lib):
        before = forwards()
        with lib.capture_calls("forward") as calls:
            base["Attention"]().forward(base["T"](0.5))
        n = sum(1 for c in calls if c.name == "forward")
        del calls
        changed = sum(1 for f, code in before if f.__code__ is not code())
        expect(n == 1, f"captured {n} calls of forward, want 1 (probe did not fire)")
        expect(changed == 0, f"{changed} of {len(before)} functions named forward not restored after the block")

    vit_attn = None
    if "vit" in models:
        import torch
        vit_attn = models["vit"].blocks[0].attn
        tattn_cls = type(vit_attn)
        out["timm_attention"] = f"{tattn_cls.__module__}.{tattn_cls.__qualname__}.forward"
        x_in = torch.randn(1, 5, vit_attn.qkv.in_features, generator=torch.Generator().manual_seed(0))

        def vit_call():
            saved = vit_attn.fused_attn
            vit_attn.fused_attn = False  # the eager path, where the softmax line runs
            try:
                with torch.no_grad():
                    return vit_attn(x_in)
            finally:
                vit_attn.fused_attn = saved
        vit_plain = vit_call()

        def bp_timm_check(lib):
            inside, after = probed_and_after(lib, tattn_cls.forward, ATTN_LINE, ATTN_EXEC, vit_call,
                                             "timm Attention.forward")
            expect(not torch.equal(inside, vit_plain),
                   "timm attention output unchanged inside the block (probe did not fire)")
            expect(torch.equal(after, vit_plain), "timm attention output after the block differs from plain")

    sample_fn = None
    if "gpt2" in models:
        import torch
        from transformers.generation.utils import GenerationMixin
        sample_fn = GenerationMixin._sample
        out["generate_method"] = f"{sample_fn.__module__}.{sample_fn.__qualname__}"
        gen_model, gen_ids = models["gpt2"], torch.tensor([[1, 2, 3]])

        def gen_call():
            with torch.no_grad():
                return gen_model.generate(input_ids=gen_ids, max_new_tokens=3, do_sample=False, pad_token_id=0)
        gen_plain = gen_call()

        def bp_gen_cycle(lib):
            def go():
                with lib.breakpoint(sample_fn, line=GEN_LINE) as bp:
                    bp.exec(GEN_EXEC)
            return go

        def bp_gen_check(lib):
            inside, after = probed_and_after(lib, sample_fn, GEN_LINE, GEN_EXEC, gen_call, "GenerationMixin._sample")
            expect(inside[0, 3:].tolist() == [GEN_TOKEN] * 3,
                   f"generate() inside the block gave {inside.tolist()} (probe did not fire)")
            expect(torch.equal(after, gen_plain), "generate() after the block differs from plain")

    rows = {(k, t): Row(k, t) for k in ROWS for t in TOOLS}
    if vit_attn is None:
        for t in TOOLS:
            rows[("bp-timm", t)].status = "not run: timm not imported at this level"
    if sample_fn is None:
        for t in TOOLS:
            rows[("bp-generate", t)].status = "not run: transformers not imported at this level"
    for t in TOOLS:
        for k in ("bp-timm", "bp-generate", "name", "capture-main"):
            rows[(k, t)].first_kind = "first in process (one per child)"

    # -- the first splice / NoPdb enter+exit of the process ---------------------
    process_first: dict[str, Any] = {}
    for t in TOOLS:
        ns = attn_src.load()
        try:
            w, c = _timed(bp_cycle(libs[t], ns["Attention"].forward), 1)
            bp_check(libs[t], ns)
            process_first[t] = {"wall_ns": w, "cpu_ns": c}
        except Exception as e:
            process_first[t] = {"status": _short(e)}
    out["process_first"] = process_first
    # warm-up on throwaway copies
    for t in TOOLS:
        for go in (bp_cycle(libs[t], attn_src.load()["Attention"].forward),
                   capture_cycle(libs[t], target_src.load()["target"])):
            try:
                go()
            except Exception:  # the rounds report it
                pass
    # first-in-process rows (one never-probed target per process)
    main_ns = sys.modules["__main__"].__dict__
    assert main_ns.get("main_target") is not None, "the child must run this script as __main__"
    def first_in_process(key: str, cycle: Callable[[Any], Callable[[], None]],
                         check: Callable[[Any], None]) -> None:
        """One timed enter+exit per tool on the row's only never-probed
        target, then its checked cycle."""
        for t in TOOLS:
            r = rows[(key, t)]
            try:
                # a full collection first, as before every round's row: the
                # first enter+exit runs with the caches a collection leaves
                gc.collect()
                w, c = _timed(cycle(libs[t]), 1)
                check(libs[t])
                r.first.append(w)
                r.first_cpu.append(c)
            except Exception as e:
                r.fail(e)

    first_in_process("capture-main", lambda lib: capture_cycle(lib, main_ns["main_target"]),
                     lambda lib: capture_check(lib, {"target": main_ns["main_target"]}))
    first_in_process("name", name_cycle, name_check)
    if vit_attn is not None:
        first_in_process("bp-timm", lambda lib: bp_cycle(lib, type(vit_attn).forward), bp_timm_check)
    if sample_fn is not None:
        first_in_process("bp-generate", bp_gen_cycle, bp_gen_check)

    # -- rounds -----------------------------------------------------------------
    def cold(r: Row, go: Callable[[], None]) -> None:
        """The first enter+exit of a never-probed function after a full
        collection and a cache flush: the same cache state at every level,
        so that the levels differ only in what the process holds (after a
        collection alone, the small levels' caches stay warm and the torch
        levels' go cold: a collection walks the whole heap)."""
        gc.collect()
        flush_caches()
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        go()
        r.cold.append(time.perf_counter_ns() - w0)
        r.cold_cpu.append(time.thread_time_ns() - c0)

    def do(r: Row) -> None:
        lib = libs[r.tool]
        if r.key == "bp":
            ns = attn_src.load()  # a new code object, never probed
            fn = ns["Attention"].forward
            w, c = _timed(bp_cycle(lib, fn), 1)
            bp_check(lib, ns)
            r.first.append(w)
            r.first_cpu.append(c)
            w, c = _timed(bp_cycle(lib, fn), repeat)
            bp_check(lib, ns)
            r.repeat.append(w / repeat)
            r.repeat_cpu.append(c / repeat)
            ns = attn_src.load()
            cold(r, bp_cycle(lib, ns["Attention"].forward))
            bp_check(lib, ns)
        elif r.key == "capture":
            ns = target_src.load()
            fn = ns["target"]
            w, c = _timed(capture_cycle(lib, fn), 1)
            capture_check(lib, ns)
            r.first.append(w)
            r.first_cpu.append(c)
            w, c = _timed(capture_cycle(lib, fn), repeat)
            capture_check(lib, ns)
            r.repeat.append(w / repeat)
            r.repeat_cpu.append(c / repeat)
            ns = target_src.load()
            cold(r, capture_cycle(lib, ns["target"]))
            capture_check(lib, ns)
        elif r.key == "capture-nested":
            ns = target_src.load()
            fn = ns["make"]()
            w, c = _timed(capture_cycle(lib, fn), 1)
            capture_check(lib, {"target": fn})
            r.first.append(w)
            r.first_cpu.append(c)
            w, c = _timed(capture_cycle(lib, fn), name_repeat)
            capture_check(lib, {"target": fn})
            r.repeat.append(w / name_repeat)
            r.repeat_cpu.append(c / name_repeat)
            fn = target_src.load()["make"]()
            cold(r, capture_cycle(lib, fn))
            capture_check(lib, {"target": fn})
        elif r.key == "capture-main":
            fn = main_ns["main_target"]
            # one cycle untimed: the other rows' repeat batches follow their
            # first and checked cycles, this one would follow the full collection
            capture_cycle(lib, fn)()
            w, c = _timed(capture_cycle(lib, fn), name_repeat)
            capture_check(lib, {"target": fn})
            r.repeat.append(w / name_repeat)
            r.repeat_cpu.append(c / name_repeat)
        elif r.key == "bp-timm":
            w, c = _timed(bp_cycle(lib, type(vit_attn).forward), repeat)
            bp_timm_check(lib)
            r.repeat.append(w / repeat)
            r.repeat_cpu.append(c / repeat)
        elif r.key == "bp-generate":
            w, c = _timed(bp_gen_cycle(lib), repeat)
            bp_gen_check(lib)
            r.repeat.append(w / repeat)
            r.repeat_cpu.append(c / repeat)
        elif r.key == "name":
            w, c = _timed(name_cycle(lib), name_repeat)
            name_check(lib)
            r.repeat.append(w / name_repeat)
            r.repeat_cpu.append(c / name_repeat)
        elif r.key == "name-call":
            w, c = _timed(name_call_cycle(lib), name_repeat)
            name_check(lib)
            r.repeat.append(w / name_repeat)
            r.repeat_cpu.append(c / name_repeat)

    order = [rows[(k, t)] for k in ROWS for t in TOOLS]
    for rnd in range(rounds):
        rot = order[rnd % len(order):] + order[:rnd % len(order)]
        for r in rot:
            if r.status != "ok":
                continue
            # A full collection before every row, so that every row starts from the same collected heap.
            # (It was added when a name scope left thousands of objects in cycles that slowed later
            # enters until a full collection; since December 2026 a name scope leaves none: 0
            # unreachable objects after capture_calls("forward") exits with torch imported.) A full
            # collection walks the whole heap, so the row's first enter+exit then runs with cold
            # caches, as after a training step: with torch imported that costs a breakpoint's first
            # enter+exit about twice what it costs warm, and it is what the "first" rows report.
            gc.collect()
            try:
                do(r)
            except Exception as e:
                r.fail(e)
            if sys.gettrace() is not None:
                sys.settrace(None)
                r.fail(RuntimeError("a trace function was left installed after the row"))
    out["rows"] = [r.to_json() for r in order]
    out["loadavg_end"] = _loadavg()
    out["duration_s"] = round(time.monotonic() - t_start, 1)
    return out


# ---------------------------------------------------------------------------
# The parent: runs the children, aggregates, prints, writes the JSON


def _stats(xs: list[float]) -> Optional[dict]:
    if not xs:
        return None
    return {"median_ns": statistics.median(xs), "min_ns": min(xs), "max_ns": max(xs), "n": len(xs)}


def aggregate(children: list[dict]) -> list[dict]:
    levels = []
    for level in LEVELS:
        mine = [c for c in children if c["level"] == level]
        ok = [c for c in mine if c.get("status") == "ok"]
        d: dict[str, Any] = {"key": level, "imports": LEVEL_IMPORTS[level], "children": len(mine)}
        if not ok:
            d["status"] = mine[0]["status"] if mine else "not run: no child"
            levels.append(d)
            continue
        d["status"] = "ok"
        for k in ("objects", "functions", "forward_functions"):
            d[k] = max(c[k] for c in ok)
            d[k + "_per_child"] = [c[k] for c in ok]
        d["versions"] = ok[0].get("versions", {})
        d["timm_attention"] = ok[0].get("timm_attention")
        d["generate_method"] = ok[0].get("generate_method")
        d["loadavg"] = [[c.get("loadavg_start"), c.get("loadavg_end")] for c in ok]
        d["import_s"] = [c.get("import_s") for c in ok]
        d["duration_s"] = [c.get("duration_s") for c in ok]
        d["native_sha256"] = sorted({(c.get("native") or {}).get("sha256", "?") for c in ok})
        pf = {}
        for t in TOOLS:
            xs = [c["process_first"][t]["wall_ns"] for c in ok if "wall_ns" in c["process_first"].get(t, {})]
            errs = [c["process_first"][t]["status"] for c in ok if "status" in c["process_first"].get(t, {})]
            pf[t] = {"wall": _stats(xs), "errors": errs}
        d["process_first"] = pf
        rows = []
        for k in ROWS:
            for t in TOOLS:
                rs = [next(r for r in c["rows"] if r["key"] == k and r["tool"] == t) for c in ok]
                bad = [r["status"] for r in rs if r["status"] != "ok"]
                row: dict[str, Any] = {"key": k, "tool": t, "first_kind": rs[0]["first_kind"],
                                       "status": bad[0] if bad else "ok"}
                if not bad:
                    for ph in PHASES:
                        row[ph] = _stats([x for r in rs for x in r.get(ph + "_ns", [])])
                        row[ph + "_cpu"] = _stats([x for r in rs for x in r.get(ph + "_cpu_ns", [])])
                        row[ph + "_samples_ns"] = [x for r in rs for x in r.get(ph + "_ns", [])]
                rows.append(row)
        d["rows"] = rows
        levels.append(d)
    return levels


def _row(level: dict, key: str, tool: str) -> Optional[dict]:
    if level.get("status") != "ok":
        return None
    r = next((r for r in level["rows"] if r["key"] == key and r["tool"] == tool), None)
    return r if r and r["status"] == "ok" else None


def _med(level: dict, key: str, tool: str, phase: str) -> Optional[float]:
    r = _row(level, key, tool)
    return r[phase]["median_ns"] if r and r.get(phase) else None


def goals(levels: list[dict]) -> list[dict]:
    out = []
    ran = [lv for lv in levels if lv["status"] == "ok"]
    for key in ("bp", "capture", "capture-main", "capture-nested"):
        for phase in ("first", "repeat", "cold") if key in COLD_ROWS else ("first", "repeat"):
            meds = {lv["key"]: _med(lv, key, "splice", phase) for lv in ran}
            missing = [lv["key"] for lv in levels if lv["key"] not in meds or meds[lv["key"]] is None]
            worst = max((v for v in meds.values() if v is not None), default=None)
            met = worst is not None and worst <= GOAL_FUNCTION_MS * 1e6 and not any(
                meds.get(lv["key"]) is None for lv in ran)
            out.append({"goal": f"{ROW_TITLES[key]}, {phase}: enter+exit at most {GOAL_FUNCTION_MS:g} ms "
                                f"at every level", "kind": "max", "row": key, "phase": phase,
                        "measured_ns": {k: v for k, v in meds.items()}, "worst_ns": worst,
                        "levels_not_run": missing, "met": met})
            vals = [v for v in meds.values() if v is not None]
            ratio = max(vals) / min(vals) if len(vals) >= 2 else None
            nvals = [v for v in (_med(lv, key, "nopdb", phase) for lv in ran) if v is not None]
            nratio = max(nvals) / min(nvals) if len(nvals) >= 2 else None
            cvals = [lv_r[phase + "_cpu"]["median_ns"] for lv_r in (_row(lv, key, "splice") for lv in ran)
                     if lv_r and lv_r.get(phase + "_cpu")]
            cratio = max(cvals) / min(cvals) if len(cvals) >= 2 else None
            out.append({"goal": f"{ROW_TITLES[key]}, {phase}: flat across heap levels (largest/smallest "
                                f"level median at most {GOAL_FLAT_RATIO:g}x)", "kind": "flat", "row": key,
                        "phase": phase, "ratio": ratio, "ratio_cpu": cratio, "nopdb_ratio": nratio,
                        "levels": len(vals), "levels_not_run": missing,
                        "met": None if ratio is None else ratio <= GOAL_FLAT_RATIO})
    # the rows that only run where the libraries are imported: the issue's
    # own example (timm's forward), generate's loop (a 220-line method of a
    # 4,600-line module) and the scope by name
    ml = next(lv for lv in levels if lv["key"] == "torch+timm+transformers")
    for key, limit_ms in (("bp-timm", GOAL_FUNCTION_MS), ("bp-generate", GOAL_FUNCTION_MS), ("name", GOAL_NAME_MS)):
        for phase in ("first", "repeat"):
            v = _med(ml, key, "splice", phase)
            out.append({"goal": f"{ROW_TITLES[key]}, {phase}: enter+exit at most {limit_ms:g} ms with "
                                f"torch+timm+transformers", "kind": "max", "row": key, "phase": phase,
                        "worst_ns": v, "met": None if v is None else v <= limit_ms * 1e6,
                        "levels_not_run": [] if ml["status"] == "ok" else ["torch+timm+transformers"],
                        "detail": ml["status"] if ml["status"] != "ok" else (_row(ml, key, "splice") or {}).get(
                            "status", next((r["status"] for r in ml.get("rows", []) if r["key"] == key
                                            and r["tool"] == "splice"), None))})
    return out


def goal_text(g: dict) -> str:
    if g["met"] is None:
        if g["kind"] == "flat":
            return f"not judged: {g['levels']} level(s) ran"
        return f"not judged: {g.get('detail') or 'not run'}"
    verdict = "met" if g["met"] else "MISSED"
    if g["met"] and g.get("levels_not_run"):
        verdict = "met on the levels run"
    if g["kind"] == "flat":
        txt = f"{verdict}: {g['ratio']:.2f}x over {g['levels']} levels (CPU time {g['ratio_cpu']:.2f}x"
        txt += f"; NoPdb {g['nopdb_ratio']:.2f}x)" if g.get("nopdb_ratio") else ")"
    else:
        txt = f"{verdict}: worst {_fmt_ms(g['worst_ns'])}"
        if g.get("measured_ns"):
            txt += " (" + ", ".join(f"{k} {_fmt_ms(v)}" for k, v in g["measured_ns"].items()) + ")"
    if g.get("levels_not_run"):
        txt += f"; not run at: {', '.join(g['levels_not_run'])}"
    return txt


def _cell(st: Optional[dict]) -> str:
    if not st:
        return "-"
    return f"{_fmt_ms(st['median_ns'])} [{_fmt_ms(st['min_ns'])}-{_fmt_ms(st['max_ns'])}] n={st['n']}"


def print_report(res: dict, out=sys.stdout) -> None:
    m = res["meta"]
    print(f"\nenter+exit across heap sizes: CPython {m['python']}, {m['date']}, {m['machine']['cores']} cores, "
          f"commit {(m['source'].get('commit') or '?')[:10]}"
          + (f" + uncommitted changes in {len(m['source'].get('uncommitted') or [])} file(s)"
             if m['source'].get('uncommitted') else ""), file=out)
    if m.get("source_end"):
        print(f"NOTE: the tree changed during the run: at the end commit {(m['source_end'].get('commit') or '?')[:10]}"
              f", uncommitted {m['source_end'].get('uncommitted')}", file=out)
    shas = {sha for lv in res["levels"] for sha in lv.get("native_sha256", [])}
    if len(shas) > 1:
        print(f"NOTE: the children imported {len(shas)} different builds of splice._native", file=out)
    print(f"load average at start {m['loadavg_start']}, at end {m['loadavg_end']}; clock: wall; "
          f"median [min-max] n=samples", file=out)
    print("\nheap levels (flat-with-heap-size):", file=out)
    hdr = ["level", "objects", "functions", "named forward", "splice bp first", "splice bp cold", "splice bp repeat",
           "splice capture first", "splice capture cold", "splice capture repeat", "splice capture-main repeat",
           "splice capture-nested repeat", "nopdb bp repeat", "nopdb capture repeat"]
    print("  " + " | ".join(hdr), file=out)
    for lv in res["levels"]:
        if lv["status"] != "ok":
            print(f"  {lv['key']} | {lv['status']}", file=out)
            continue
        cells = [lv["key"], f"{lv['objects']:,}", f"{lv['functions']:,}", f"{lv['forward_functions']:,}"]
        for key, tool, ph in (("bp", "splice", "first"), ("bp", "splice", "cold"), ("bp", "splice", "repeat"),
                              ("capture", "splice", "first"), ("capture", "splice", "cold"),
                              ("capture", "splice", "repeat"), ("capture-main", "splice", "repeat"),
                              ("capture-nested", "splice", "repeat"), ("bp", "nopdb", "repeat"),
                              ("capture", "nopdb", "repeat")):
            cells.append(_fmt_ms(_med(lv, key, tool, ph)))
        print("  " + " | ".join(cells), file=out)
    for lv in res["levels"]:
        print(f"\nlevel {lv['key']}: ", end="", file=out)
        if lv["status"] != "ok":
            print(lv["status"], file=out)
            continue
        print(f"{lv['objects']:,} objects, {lv['functions']:,} functions ({lv['forward_functions']:,} named "
              f"forward); imports {lv['import_s']} s; load avg (start, end) per child {lv['loadavg']}", file=out)
        if lv.get("timm_attention"):
            print(f"  bp-timm target: {lv['timm_attention']}", file=out)
        if lv.get("generate_method"):
            print(f"  bp-generate target: {lv['generate_method']}", file=out)
        pf = lv["process_first"]
        print("  process first (first enter+exit of the process, bp on the stand-in): "
              + ", ".join(f"{t} {_cell(pf[t]['wall'])}" + (f" errors {pf[t]['errors']}" if pf[t]["errors"] else "")
                          for t in TOOLS), file=out)
        print(f"  {'row':<68} {'phase':<7} {'splice':<40} {'nopdb':<40}", file=out)
        for key in ROWS:
            for ph in PHASES if key in COLD_ROWS else ("first", "repeat"):
                cells = []
                for t in TOOLS:
                    r = next(r for r in lv["rows"] if r["key"] == key and r["tool"] == t)
                    cells.append(_cell(r.get(ph)) if r["status"] == "ok" else r["status"][:60])
                print(f"  {ROW_TITLES[key]:<68} {ph:<7} {cells[0]:<40} {cells[1]:<40}", file=out)
    print("\ngoals (issue 13):", file=out)
    for g in res["goals"]:
        print(f"  {g['goal']}: {goal_text(g)}", file=out)


def run_child(py: str, level: str, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    cmd = [py, os.path.abspath(__file__), "--child", level, "--child-out", path, "--rounds", str(args.rounds),
           "--repeat", str(args.repeat), "--name-repeat", str(args.name_repeat)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    try:
        with open(path) as f:
            data = json.load(f)
    except Exception:
        tail = (p.stderr or p.stdout or "").strip().splitlines()[-3:]
        data = {"level": level, "status": f"error: child exited with {p.returncode}: {' / '.join(tail)[:300]}"}
    finally:
        os.unlink(path)
    print(f"  {level}: {data.get('status')} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=10, help="enter+exit per repeat batch (function targets)")
    ap.add_argument("--name-repeat", type=int, default=3,
                    help="enter+exit per repeat batch (name scope, capture-main, capture-nested)")
    ap.add_argument("--procs", type=int, default=2, help="child processes per level")
    ap.add_argument("--levels", default=",".join(LEVELS))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--output",
                    default=os.path.join(HERE, f"enter-exit-{sys.version_info[0]}.{sys.version_info[1]}.json"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--child", choices=LEVELS, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        try:
            data = child(args.child, args.rounds, args.repeat, args.name_repeat)
        except Exception as e:
            traceback.print_exc()
            data = {"level": args.child, "status": f"error: {_short(e)}"}
        with open(args.child_out, "w") as f:
            json.dump(data, f)
        return 0

    sys.path.insert(0, HERE)
    import run as bench_run
    levels = [lv for lv in args.levels.split(",") if lv]
    for lv in levels:
        if lv not in LEVELS:
            ap.error(f"unknown level {lv!r} (choose from {', '.join(LEVELS)})")
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    load0 = _loadavg()
    print(f"enter+exit benchmark on CPython {platform.python_version()} ({sys.executable}); levels "
          f"{', '.join(levels)}, {args.procs} child process(es) each, {args.rounds} rounds; load average {load0}",
          file=sys.stderr)
    t0 = time.monotonic()
    source_start = bench_run.source_info()  # other work may commit while this runs: both ends are recorded
    children = []
    for _ in range(args.procs):
        for lv in levels:
            c = run_child(sys.executable, lv, args)
            children.append(c)
            if c.get("status", "").startswith("not run"):
                levels = [x for x in levels if x != lv]  # the same answer every time
    aggregated = aggregate(children)
    for lv in aggregated:
        if lv["status"] == "not run: no child":
            lv["status"] = "not run: not selected (--levels)"
    sc = source_start
    source_end = bench_run.source_info()
    nopdb_version = splice_version = None
    try:
        from importlib.metadata import version
        nopdb_version = version("nopdb")
        splice_version = version("splice")
    except Exception:
        pass
    native = bench_run.native_info()
    try:
        native["mtime"] = datetime.datetime.fromtimestamp(os.path.getmtime(native["file"]),
                                                          datetime.UTC).isoformat(timespec="seconds")
    except Exception:
        pass
    res = {
        "meta": {
            "python": platform.python_version(), "executable": sys.executable, "date": date,
            "machine": bench_run.machine_info(), "source": sc, "native": native,
            "source_end": source_end if source_end != sc else None,
            "splice": splice_version, "nopdb": nopdb_version,
            "rounds": args.rounds, "repeat": args.repeat, "name_repeat": args.name_repeat, "procs": args.procs,
            "clock": "wall (time.perf_counter_ns); thread CPU time recorded beside it",
            "loadavg_start": load0, "loadavg_end": _loadavg(), "duration_s": round(time.monotonic() - t0, 1),
            "goals": {"function_ms": GOAL_FUNCTION_MS, "name_ms": GOAL_NAME_MS, "flat_ratio": GOAL_FLAT_RATIO},
        },
        "levels": aggregated,
        "children": children,
    }
    res["goals"] = goals(aggregated)
    print_report(res)
    if not args.no_write:
        with open(args.output, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        print(f"\nwrote {os.path.relpath(args.output)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
