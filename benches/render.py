#!/usr/bin/env python3
"""Regenerate docs/performance.md from every benches/results-3.X.json present.

    python benches/render.py                      # every benches/results-3.*.json
    python benches/render.py --results FILE ...   # only these result files
    python benches/render.py --output docs/performance.md

``benches/run.py`` writes one result file per CPython minor version (``make
bench PY=3.X`` writes ``benches/results-3.X.json``). The page starts with a
summary: which versions were run (version, date, machine), which of the
versions splice supports (``requires-python`` in pyproject.toml) were not,
and one goals table with a column per version; then each version's details
(its goals with time and instruction ratios, and every scenario's results).
Ratios are only ever taken within one run, never across versions. Every
number in the page comes from the JSON files; the prose is static. Run by
``make bench`` after the measurements.

If ``benches/enter-exit-3.*.json`` are present (``make bench-enter-exit
PY=3.X``, ``benches/enter_exit.py``), the page ends with a section on
entering and leaving probes across heap sizes: a goals table, the
flat-with-heap-size table and the enter+exit rows beside NoPdb's, per
version, and which supported versions have no such file
(``--enter-exit FILE ...`` renders only those).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
from typing import Any, Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _fmt_time(ns: Optional[float]) -> str:
    """Same formatting as run.py's table."""
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


NA = "n/a"


class Data:
    """One run (one results-3.X.json)."""

    def __init__(self, results: dict, path: str) -> None:
        self.r = results
        self.path = path
        self.meta = results["meta"]
        self.sc = {s["key"]: s for s in results["scenarios"]}
        self.version = self.meta["python"]  # e.g. "3.14.10"
        self.minor = ".".join(self.version.split(".")[:2])  # "3.14"

    def variant(self, key: str, name: str) -> Optional[dict]:
        s = self.sc.get(key)
        if not s or s["status"] != "ok":
            return None
        v = next((v for v in s["variants"] if v["name"] == name), None)
        return v if v and v["status"] == "ok" else None

    def ratio(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return f"{v['ratio']:.2f}x" if v and "ratio" in v else NA

    def per(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return _fmt_time(v["per_unit_ns"]) if v and "per_unit_ns" in v else NA

    def instr(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return f"{v['instructions_ratio']:.3f}x" if v and "instructions_ratio" in v else NA

    def instr_delta(self, key: str, name: str) -> str:
        """Instructions per unit of the variant minus the reference's, signed."""
        v = self.variant(key, name)
        s = self.sc.get(key)
        ref = self.variant(key, s["reference"]) if s and s.get("reference") else None
        if not v or not ref or "instructions_per_unit" not in v or "instructions_per_unit" not in ref:
            return NA
        return f"{v['instructions_per_unit'] - ref['instructions_per_unit']:+.1f}"

    def over(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return _fmt_time(v["overhead_per_unit_ns"]) if v and "overhead_per_unit_ns" in v else NA

    def over_us(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return f"{v['overhead_per_unit_ns'] / 1000:.2f} us" if v and "overhead_per_unit_ns" in v else NA

    def note(self, key: str, idx: int = 0) -> str:
        s = self.sc.get(key)
        return s["notes"][idx] if s and len(s["notes"]) > idx else ""

    def heap(self, key: str) -> str:
        s = self.sc.get(key)
        return f"{s['heap_objects']:,}" if s and s.get("heap_objects") else NA

    def has_instr(self) -> bool:
        return any("instructions_per_unit" in v for s in self.r["scenarios"] for v in s["variants"])


def _cell(s: Any) -> str:
    return str(s).replace("|", "\\|")


# ---------------------------------------------------------------------------
# Which versions: supported (pyproject.toml) and run (the result files)


def supported_minors() -> list[str]:
    """The CPython versions pyproject.toml admits (``requires-python``), as
    "3.X" strings; 3.11-3.15 if it cannot be read."""
    lo, hi = 11, 16
    try:
        with open(os.path.join(ROOT, "pyproject.toml")) as f:
            text = f.read()
        m = re.search(r'^requires-python\s*=\s*"([^"]*)"', text, re.M)
        if m:
            spec = m.group(1)
            a = re.search(r">=\s*3\.(\d+)", spec)
            b = re.search(r"<\s*3\.(\d+)", spec)
            lo = int(a.group(1)) if a else lo
            hi = int(b.group(1)) if b else hi
    except OSError:
        pass
    return [f"3.{m}" for m in range(lo, hi)]


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(x) for x in minor.split("."))


def load_runs(paths: list[str]) -> list[Data]:
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(Data(json.load(f), p))
    runs.sort(key=lambda d: _minor_key(d.minor))
    minors = [d.minor for d in runs]
    dup = sorted({m for m in minors if minors.count(m) > 1})
    if dup:
        raise SystemExit(f"render.py: more than one result file for CPython {', '.join(dup)}")
    return runs


def _machine(d: Data) -> str:
    mach = d.meta["machine"]
    return f"{mach['cores']} cores ({mach.get('usable_cores', mach['cores'])} usable), {mach['cpu']}"


def _source(d: Data) -> str:
    src = d.meta.get("source") or {}
    if not src.get("commit"):
        return NA
    text = f"commit {src['commit'][:10]}"
    if src.get("uncommitted"):
        text += f" + uncommitted changes in {len(src['uncommitted'])} file(s)"
    return text


def _kept_origin(d: Data, key: str) -> Optional[dict]:
    """The earlier run a scenario's results were kept from (run.py --keep)."""
    return next((o for o in d.meta.get("kept") or [] if key in o["scenarios"]), None)


def _models(d: Data) -> str:
    kept = _kept_origin(d, "vit") or _kept_origin(d, "minilm")
    if kept and (kept.get("models") or {}).get("ready"):
        v = kept["models"].get("versions", {})
        return (f"torch {v.get('torch')}, timm {v.get('timm')}, transformers {v.get('transformers')}, "
                f"sentence-transformers {v.get('sentence_transformers')} (model rows kept from the run of "
                f"{kept['date'][:10]})")
    models = d.meta.get("models", {})
    if models.get("ready"):
        v = models.get("versions", {})
        return (f"torch {v.get('torch')}, timm {v.get('timm')}, transformers {v.get('transformers')}, "
                f"sentence-transformers {v.get('sentence_transformers')}")
    status = models.get("status", "not run")
    return "not run" if status.startswith("not run: set BENCH_MODELS=1") else status


def _counts(d: Data) -> str:
    if not d.meta.get("callgrind"):
        return "not taken (no valgrind, or `--no-callgrind`)"
    env = d.meta.get("callgrind_env") or {}
    text = "valgrind callgrind"
    if env.get("PYTHONMALLOC"):
        text += f", PYTHONMALLOC={env['PYTHONMALLOC']}"
    return text


def _caveats(d: Data) -> list[str]:
    m = d.meta
    out = []
    if m.get("scale", 1.0) != 1.0:
        out.append(f"**scaled run** (every n x {m['scale']}): a smoke test, not a measurement")
    if m.get("only"):
        out.append(f"**partial run**: only scenarios starting with {', '.join(m['only'])}")
    if (m.get("native") or {}).get("installed_copy") is False:
        out.append("**splice imported from the source tree** (possibly a debug build): not a release measurement")
    for o in m.get("kept") or []:
        commit = ((o.get("source") or {}).get("commit") or "?")[:10]
        out.append(f"**kept from an earlier run** (`run.py --keep`): {', '.join(o['scenarios'])} from the run of "
                   f"{o['date'].replace('T', ' ').replace('+00:00', '')} (CPython {o['python']}, commit {commit})")
    return out


def runs_table(runs: list[Data], supported: list[str]) -> list[str]:
    by_minor = {d.minor: d for d in runs}
    out = ["| CPython | run (UTC) | machine | splice built from | models | instruction counts | whole run |",
           "|---|---|---|---|---|---|---:|"]
    for minor in sorted(set(supported) | set(by_minor), key=_minor_key):
        d = by_minor.get(minor)
        if d is None:
            out.append(f"| {minor} | **not run** (no `benches/results-{minor}.json`) | | | | | |")
            continue
        m = d.meta
        date = m["date"].replace("T", " ").replace("+00:00", "")
        cav = _caveats(d)
        version = d.version + ("" if minor in supported else " (not a supported version)")
        out.append(f"| {version} | {date}" + (" (" + "; ".join(cav) + ")" if cav else "")
                   + f" | {_cell(_machine(d))} | {_cell(_source(d))} | {_cell(_models(d))} | {_cell(_counts(d))} | "
                   f"{m['duration_s']:.0f} s |")
    return out


def versions_sentence(runs: list[Data], supported: list[str]) -> str:
    ran = [d.minor for d in runs]
    missing = [v for v in supported if v not in ran]
    text = f"**Run:** {_join(ran) if ran else 'none'}. "
    if missing:
        text += (f"**Not run:** {_join(missing)}: splice supports {'it' if len(missing) == 1 else 'them'} "
                 f"(pyproject.toml admits {supported[0]}-{supported[-1]}), but this page has no measurements "
                 f"for {'it' if len(missing) == 1 else 'them'} (`make bench PY={missing[0]}` would add "
                 f"{missing[0]}).")
    else:
        text += f"Every version splice supports ({supported[0]}-{supported[-1]}) was run."
    return text


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------
# Goals


def _goal_verdict(g: dict) -> tuple[str, str]:
    """(measured, verdict) for the detailed table."""
    if g["met"] is None:
        return "-", "not run" + (f" ({g['detail']})" if g.get("detail") else "")
    if g["measured"] is None:
        return "-", f"**failed**: {g.get('detail')}"
    meas = f"{g['measured']:.3f}x" if "max_ratio" in g else f"{g['measured']:.2f} us"
    verdict = "met" if g["met"] else "**missed**"
    if "max_ratio" in g:
        lim = g["max_ratio"]
        val = g["instructions_ratio"] if g.get("basis") == "instructions" else g["measured"]
        if not g["met"]:
            verdict += f" (by {100 * (val / lim - 1):.1f}%)"
        verdict += " by instruction count" if g.get("basis") == "instructions" else " by time"
        if g.get("basis") == "instructions" and g.get("time_met") is not None:
            verdict += "; time " + ("within" if g["time_met"] else "above") + " it"
            if g.get("range") and g["range"][0] <= lim < g["range"][1]:
                verdict += " (rounds straddle it)"
    elif not g["met"]:
        verdict += f" (by {g['measured'] - g['max_overhead_us']:.2f} us per call)"
    return meas, verdict


def _goal_cell(g: Optional[dict]) -> str:
    """A short verdict for the summary table."""
    if g is None:
        return "-"
    if g["met"] is None:
        return "not run"
    if g["measured"] is None:
        return "**failed**"
    word = "met" if g["met"] else "**missed**"
    if "max_ratio" in g:
        if g.get("basis") == "instructions":
            return f"{word}: {g['instructions_ratio']:.3f}x instr."
        return f"{word}: {g['measured']:.3f}x time"
    return f"{word}: {g['measured']:.2f} us"


def goals_matrix(runs: list[Data]) -> list[str]:
    order: list[str] = []
    cells: dict[str, dict[str, dict]] = {}
    for d in runs:
        for s in d.r["scenarios"]:
            for g in s["goals"]:
                if g["text"] not in cells:
                    order.append(g["text"])
                    cells[g["text"]] = {}
                cells[g["text"]][d.minor] = g
    out = ["| goal | " + " | ".join(d.version for d in runs) + " |",
           "|---|" + "---|" * len(runs)]
    for text in order:
        out.append(f"| {_cell(text)} | " + " | ".join(_cell(_goal_cell(cells[text].get(d.minor))) for d in runs) + " |")
    return out


def goals_table(d: Data) -> list[str]:
    out = ["| goal | time | round-to-round range | instructions | verdict |",
           "|---|---:|---:|---:|---|"]
    for s in d.r["scenarios"]:
        for g in s["goals"]:
            rng = f"{g['range'][0]:.2f}-{g['range'][1]:.2f}x" if g.get("range") else "-"
            ins = f"{g['instructions_ratio']:.3f}x" if g.get("instructions_ratio") else "-"
            meas, verdict = _goal_verdict(g)
            out.append(f"| {_cell(g['text'])} | {meas} | {rng} | {ins} | {_cell(verdict)} |")
    return out


# ---------------------------------------------------------------------------
# Per-version results


def results_table(d: Data, keys: list[str]) -> list[str]:
    instr = any("instructions_per_unit" in v for k in keys for v in d.sc[k]["variants"])
    head = "| scenario | variant | n | median / run | per unit | ratio to ref | overhead / unit |"
    rule = "|---|---|---:|---:|---:|---:|---:|"
    if instr:
        head += " instructions / unit | instr. ratio |"
        rule += "---:|---:|"
    out = [head + " status |", rule + "---|"]
    empty = 7 if instr else 5
    for key in keys:
        s = d.sc[key]
        if s["status"] != "ok":
            out.append(f"| {key} |" + " |" * (empty + 1) + f" {_cell(s['status'])} |")
            continue
        for v in s["variants"]:
            is_ref = v["name"] == s["reference"]
            name = f"{v['name']} (reference)" if is_ref else v["name"]
            if v["status"] != "ok" or "median_ns" not in v:
                n = f"{v['n']:,}" if v["n"] else ""
                out.append(f"| {key} | {_cell(name)} | {n} |" + " |" * (empty - 1) + f" {_cell(v['status'])} |")
                continue
            ratio = f"{v['ratio']:.3f}x" if "ratio" in v else "-"
            if "ratio_iqr" in v and not is_ref:
                ratio += f" ({v['ratio_iqr'][0]:.2f}-{v['ratio_iqr'][1]:.2f})"
            over = _fmt_time(v["overhead_per_unit_ns"]) if "overhead_per_unit_ns" in v and not is_ref else "-"
            row = (f"| {key} | {_cell(name)} | {v['n']:,} | {_fmt_time(v['median_ns'])} | "
                   f"{_fmt_time(v['per_unit_ns'])} / {s['unit']} | {ratio} | {over} |")
            if instr:
                row += (f" {v['instructions_per_unit']:,.0f} |" if "instructions_per_unit" in v else " - |")
                row += (f" {v['instructions_ratio']:.3f}x |" if "instructions_ratio" in v else " - |")
            out.append(row + " ok |")
    return out


GROUPS = [("Breakpoints in a hot loop", "hot"), ("Calls after and during a probe", "calls"),
          ("Call capture", "capture"), ("Patching cost", "patch"), ("Models", "models")]


def version_section(d: Data) -> list[str]:
    m = d.meta
    lines = [
        "", f"## CPython {d.version}", "",
        f"- **Run:** {m['date']}, CPython {m['python']} ({m['python_implementation']}), "
        f"splice {m.get('splice') or NA} (built from {_source(d)}), NoPdb {m.get('nopdb') or NA}; "
        f"results in `benches/{os.path.basename(d.path)}`",
        f"- **Machine:** {_machine(d)}, {m['machine']['platform']}",
        f"- **Method:** median of {m['rounds']} interleaved rounds (order rotated every round), clock: "
        + ("CPU time of the benchmarking thread" if m.get("clock", "thread") == "thread" else "wall time")
        + f"; a run of a slow variant is capped at about {m['budget_s']} s by running fewer iterations; "
        f"whole run {m['duration_s']} s",
        f"- **Instruction counts:** {_counts(d)}",
    ]
    nat = m.get("native", {})
    if nat.get("installed_copy") is True:
        lines.append("- **Build:** splice installed from a release wheel into the bench virtualenv")
    for cav in _caveats(d):
        lines.append(f"- {cav[0].upper() + cav[1:]}")
    lines.append(f"- **Models:** {_models(d)}")
    lines += ["", f"### Goals on {d.minor}", ""] + goals_table(d)
    for title, group in GROUPS:
        keys = [s["key"] for s in d.r["scenarios"] if s.get("group") == group]
        if not keys:
            continue
        lines += ["", f"### {title} ({d.minor})", ""] + results_table(d, keys)
    return lines


# ---------------------------------------------------------------------------
# The scenarios, and why the numbers are what they are (all versions)


def measures_section(runs: list[Data]) -> list[str]:
    lines = ["", "## What each scenario measures", ""]
    seen: list[str] = []
    newest = {}
    for d in runs:
        for s in d.r["scenarios"]:
            if s["key"] not in newest:
                seen.append(s["key"])
            newest[s["key"]] = s
    for key in seen:
        s = newest[key]
        lines.append(f"- **{key}** ({s['title']}). {s['measures']}")
        for d in runs:
            sd = d.sc.get(key)
            for note in (sd or {}).get("notes", []):
                lines.append(f"  - {d.minor}: {note}")
    return lines


def across(runs: list[Data], f: Callable[[Data], str], label: bool = False) -> str:
    """One value per run, "0.999x / 1.008x"; with ``label``, followed by the
    versions: "0.999x / 1.008x (3.11 / 3.14)"."""
    vals = " / ".join(f(d) for d in runs)
    return vals + (" (" + " / ".join(d.minor for d in runs) + ")" if label else "")


# What differs between the spliced instructions and the typed-in ones on the
# hot path, per version, as read in `python -m splice show` against `dis` of
# the hand-edited function. {exec}, {cond} and {eval} are the measured
# differences in instructions per iteration.
HOT_DIFF = {
    "3.11": (
        "the spliced exec and cond run the typed-in instructions ({exec} and {cond} instructions per iteration). "
        "For eval ({eval}): " + "{eval_why}"),
    "3.14": (
        "the snippet is compiled in a template where CPython's compiler cannot prove `x` bound, so it reads `x` "
        "with `LOAD_FAST_CHECK`, where the typed-in code has `LOAD_FAST_BORROW` (3.14 borrows the reference when "
        "the frame keeps the value alive until it is consumed). `LOAD_FAST_CHECK` tests for an unbound local and "
        "takes a new reference, which the instruction that consumes it then releases; everything else on the "
        "hot path is the typed-in instructions. exec: {exec} instructions per iteration (one such load); cond: "
        "{cond} (one such load, less the `NOP` the typed-in `if x < 0: pass` runs for `pass`); eval: {eval} "
        "({eval_why}). Putting `LOAD_FAST_CHECK` in place of that one "
        "`LOAD_FAST_BORROW` in the hand-edited function accounts for all of the exec difference."),
    "3.15": (
        "the same instructions differ as on 3.14 (`LOAD_FAST_CHECK` where the typed-in code has "
        "`LOAD_FAST_BORROW`), and cost a little more per iteration: exec {exec}, cond {cond}, eval {eval} "
        "instructions per iteration (eval: {eval_why})."),
}
#: Why eval is not the typed-in `values.append(x)`, on every version.
EVAL_WHY = (
    "the spliced eval calls the results list's bound `append` loaded as a constant (a call of a builtin method), "
    "where the typed-in code calls `values.append` through the `list.append` "
    "specialization; a list constant would make the rewritten code object unhashable, and bdb (3.14+), "
    "cloudpickle and others hash code objects (3.11 names the call PRECALL_NO_KW_BUILTIN_O, later versions CALL_BUILTIN_O)")
HOT_DIFF_OTHER = ("exec {exec}, cond {cond} and eval {eval} instructions per iteration (eval: {eval_why}); "
                  "`python -m splice show` "
                  "against `dis` of the hand-edited function shows which instructions differ.")


def hot_diff_text(runs: list[Data]) -> str:
    items = []
    for d in runs:
        if not d.has_instr():
            continue
        text = HOT_DIFF.get(d.minor, HOT_DIFF_OTHER).format(
            exec=d.instr_delta("hot-exec", "splice"), cond=d.instr_delta("hot-cond", "splice"),
            eval=d.instr_delta("hot-eval", "splice"), eval_why=EVAL_WHY)
        items.append(f"- On {d.minor}: {text}")
    if not items:
        return "No instruction counts were taken, so the differences are not broken down here."
    return "What is left, by instruction count:\n\n" + "\n".join(items)


WHY = """\
## Why splice is where it is

The instruction counts quoted here come from the instruction columns of the
tables above (exact counts per iteration, independent of the machine's load);
where a run was made without valgrind they read n/a. {values_are}

**Breakpoints in a hot loop.** By instruction count, splice's
`exec('x = x * 3')` runs at {hot_exec_instr} of the hand-edited source, a
never-true `cond` at {hot_cond_instr} of `if x < 0: pass` typed in, and
`eval('x')` at {hot_eval_instr} of `values.append(x)` typed in. By time:
{hot_exec_splice}, {hot_cond_splice} and {hot_eval_splice}; NoPdb, in the
same runs, {hot_exec_nopdb}, {hot_cond_nopdb} and {hot_eval_nopdb}. splice
compiles the snippet with CPython's own compiler, in a template that mirrors
the target's scope, and splices those instructions into the function at the
line, so the loop executes what the hand-edited source executes. The handler
that adds a note naming the snippet to an exception it raises is cold code
placed after the function's last instruction (where CPython puts its own
cold blocks), so the hot path is the typed statement with no jump over it;
`eval` is spliced as `<results.append>(<expr>)` with the results list's
bound `append` as a constant (not the list, which would make the code object
unhashable). {hot_diff}

NoPdb's trace function runs in Python for every line of the traced function
({hot_exec_nopdb_over} per iteration with `exec`): it reads the line's text,
and for `exec` copies the frame's locals into a dict, runs `exec` on the
source string (compiled again at every hit) and writes the locals back.

**Untouched code.** With a breakpoint on another function, the hot loop runs
at {untouched_instr} of plain with splice by instruction count
({untouched_splice} by time), and at {untouched_nopdb} with NoPdb. splice
only replaces the `__code__` of the functions it targets and never installs
a trace or profile function; the harness checks, while the breakpoint is
active, that the loop's code object is the original one and that
`sys.gettrace()` is `None`. The interpreter therefore executes exactly the
same bytecode; a difference in the instruction count lies in the memory
allocator (the loop allocates and frees ints, and the allocator's state
differs after splice has planned and patched), and a difference in time
beyond that is the noise floor of the run. That allocator effect is why the
counts are taken with `PYTHONMALLOC=malloc`: under pymalloc, the same loop
counted 655, 665 or 673 instructions per iteration on 3.14 depending only on
the heap layout the process started with (the size of its environment was
enough to change it), because whether the block freed each iteration returns
to a full pool decides how much pymalloc does. NoPdb's `sys.settrace` makes
CPython call its trace function on every call in the thread and keeps the
interpreter on its slower tracing path.

{calls_text}

**Call capture.** `capture_calls(h)` costs {cap0_splice} per call with
splice at stack depth 0 and {cap50_splice} at depth 50 (NoPdb:
{cap0_nopdb} and {cap50_nopdb}); calls to another function while the
capture is active run at {capother_instr} of plain with splice by
instruction count ({capother_splice} by time; NoPdb {capother_nopdb}).
splice splices an entry probe and exit probes (before every return, and on
the way out of an exception) into `h` alone, so no other function pays
anything. Each captured call records the arguments, the stack as one
`(code, instruction offset)` pair per frame (kept once for consecutive calls
from the same stack, so depth costs little; the `StackSummary` is only built
when `.stack` is read), one snapshot of the locals and a `CallInfo`: objects
the garbage collector tracks, so its collections, which get dearer as
records pile up, are part of the cost (measured with a micro-benchmark:
about half of it). The entry and exit hooks are native (Rust) builtins
called through vectorcall: they read the arguments and locals straight from
the frame, walk the stack into a Rust vector, and build the `CallInfo` with
`object.__new__`; not recording, they cost about 10 ns. NoPdb's trace
function runs for every call and return of every function while the capture
is active, and for each captured call builds a full `StackSummary` with
source lines through `linecache`, which grows with depth as well.

**Patching cost.** Entering and leaving `breakpoint(...)` with one `exec` on
a function the size of timm's `Attention.forward` takes {patch_bp_splice}
with splice ({patch_bp_heap} objects tracked by the garbage collector in
the process), against {patch_bp_nopdb} for NoPdb, which only swaps the
trace function and pays on every line instead. splice pays once, at entry:
resolve the target and the function objects that own its code (a search of
the heap, so this part grows with the number of live objects), compile the
snippet in its template, rewrite and verify the code object (decode,
splice, assemble, check stack depths, jumps and exception table) and swap
`__code__`; scheduling the `exec` inside the block re-plans and re-patches,
and leaving restores the original. A name-scoped `capture_calls('forward')`
takes {patch_name_splice} per enter and exit (NoPdb: {patch_name_nopdb}):
splice finds every live function whose code has that name and patches each
one (see the patch-name notes above for how many live functions each run
had).

**Models.** {models_text}
"""

MODELS_RAN = """\
The ViT-B/16 forward pass runs at {vit_cap_splice} of plain with splice's
`capture_call` on one block's attention and {vit_exec_splice} with a
breakpoint and `exec` in every block's attention (NoPdb: {vit_cap_nopdb}
and {vit_exec_nopdb}); MiniLM's `encode` at {lm_cap_splice} and
{lm_exec_splice} (NoPdb: {lm_cap_nopdb} and {lm_exec_nopdb}). The forward
pass is dominated by matrix multiplications in native code; what splice adds
is one probe per call of the targeted Python function, while NoPdb's trace
function is called on every Python call in the model (every
`nn.Module.__call__`, `forward` and helper) and on every line of the traced
function."""


def _models_ran(d: Data) -> bool:
    return any((d.sc.get(k) or {}).get("status") == "ok" for k in ("vit", "minilm"))


def models_text(runs: list[Data]) -> str:
    ran = [d for d in runs if _models_ran(d)]
    label = len(ran) != len(runs)
    if not ran:
        why = next(((d.sc.get("vit") or d.sc.get("minilm") or {}).get("status") for d in runs), None) or "not run"
        return f"The model scenarios were not part of these runs ({why})."
    text = MODELS_RAN.format(
        vit_cap_splice=across(ran, lambda d: d.ratio("vit", "splice capture_call"), label),
        vit_exec_splice=across(ran, lambda d: d.ratio("vit", "splice bp+exec"), label),
        vit_cap_nopdb=across(ran, lambda d: d.ratio("vit", "nopdb capture_call"), label),
        vit_exec_nopdb=across(ran, lambda d: d.ratio("vit", "nopdb bp+exec"), label),
        lm_cap_splice=across(ran, lambda d: d.ratio("minilm", "splice capture_call"), label),
        lm_exec_splice=across(ran, lambda d: d.ratio("minilm", "splice bp+exec"), label),
        lm_cap_nopdb=across(ran, lambda d: d.ratio("minilm", "nopdb capture_call"), label),
        lm_exec_nopdb=across(ran, lambda d: d.ratio("minilm", "nopdb bp+exec"), label))
    skipped = [d.minor for d in runs if not _models_ran(d)]
    if skipped:
        text += f" (The model scenarios were not run on {_join(skipped)}.)"
    return text


CALLS_KEY = "calls-after-probe"
CALLS_VARIANTS = [("never probed", "never probed"),
                  ("after probe removed", "after a probe was removed"),
                  ("probe set elsewhere in it", "probe set elsewhere in it"),
                  ("hand-edited (statement typed on that line)", "hand-edited"),
                  ("__code__ reassigned, version not restored", "`__code__` reassigned, version not restored")]

CALLS_TEXT = """\
**Calls after and during a probe.** CPython specializes a call to a Python
function (`CALL_PY_EXACT_ARGS` and its kin, and `__getitem__` or
`__getattribute__` written in Python) on the function's version,
`func_version`, and assigning `__code__` clears it. From 3.13 on, CPython
never gives such a function a version again, so before issue 17 every
function splice had probed was called through the generic path for the rest
of the process: the last column, a function whose `__code__` was assigned its
own code object and nothing else. splice saves the version before its first
swap and, after every swap, gives the function the version of the code
object it now has (the saved one when that is the original), only when
guards prove the function is in the state that version stands for
(docs/architecture.md, *Function versions*). 3.11 and 3.12 hand out versions
again by themselves, which is why the last column costs nothing there.
Instructions per call of `target(a, b)` from a loop (the never-probed count,
then each variant's ratio to it):

{table}

With a probe set on a line the calls do not reach, the calls are
specialized as for the hand-edited function, and run the same instructions
(the probe is on the branch they skip). In runs before the template's text
path (December 2026), the probe's cold exception handler (which adds the
note naming the snippet) kept the exception in a local of its own,
`_splice_b0_exc`, so the frame of every call had one more slot to
initialise and clear, about 2% more instructions (checked on 3.13: giving
the never-probed function one unused local with `code.replace` cost as
much). The handler now binds no local (`except: <note hook>(...); raise`);
the tables above are from runs after that change."""


def calls_text(runs: list[Data]) -> str:
    rows = ["| CPython | " + " | ".join(label for _, label in CALLS_VARIANTS) + " |",
            "|---|" + "---:|" * len(CALLS_VARIANTS)]
    any_row = False
    for d in runs:
        ref = d.variant(CALLS_KEY, CALLS_VARIANTS[0][0])
        if ref is None:
            continue
        any_row = True
        if "instructions_per_unit" in ref:
            cells = [f"{ref['instructions_per_unit']:,.0f}"]
            cells += [d.instr(CALLS_KEY, name) for name, _ in CALLS_VARIANTS[1:]]
        else:  # no instruction counts in this run: time
            cells = [d.per(CALLS_KEY, CALLS_VARIANTS[0][0]) + " (time)"]
            cells += [d.ratio(CALLS_KEY, name) + " (time)" for name, _ in CALLS_VARIANTS[1:]]
        rows.append(f"| {d.version} | " + " | ".join(_cell(c) for c in cells) + " |")
    if not any_row:
        return "**Calls after and during a probe.** The `calls-after-probe` scenario was not part of these runs."
    return CALLS_TEXT.format(table="\n".join(rows))


def why_section(runs: list[Data]) -> str:
    def a(f: Callable[[Data], str]) -> str:
        return across(runs, f)

    if len(runs) == 1:
        values_are = f"Every value is from the {runs[0].minor} run."
    else:
        letters = " / ".join("abcdefghij"[i] for i in range(len(runs)))
        values_are = (f"Values written `{letters}` are those of " + " / ".join(d.minor for d in runs)
                      + ", in that order; each comes from its own version's run.")
    return WHY.format(
        values_are=values_are,
        hot_exec_splice=a(lambda d: d.ratio("hot-exec", "splice")),
        hot_cond_splice=a(lambda d: d.ratio("hot-cond", "splice")),
        hot_eval_splice=a(lambda d: d.ratio("hot-eval", "splice")),
        hot_exec_nopdb=a(lambda d: d.ratio("hot-exec", "nopdb")),
        hot_cond_nopdb=a(lambda d: d.ratio("hot-cond", "nopdb")),
        hot_eval_nopdb=a(lambda d: d.ratio("hot-eval", "nopdb")),
        hot_exec_nopdb_over=a(lambda d: d.over("hot-exec", "nopdb")),
        hot_exec_instr=a(lambda d: d.instr("hot-exec", "splice")),
        hot_cond_instr=a(lambda d: d.instr("hot-cond", "splice")),
        hot_eval_instr=a(lambda d: d.instr("hot-eval", "splice")),
        hot_diff=hot_diff_text(runs),
        untouched_instr=a(lambda d: d.instr("untouched", "splice")),
        untouched_splice=a(lambda d: d.ratio("untouched", "splice")),
        untouched_nopdb=a(lambda d: d.ratio("untouched", "nopdb")),
        calls_text=calls_text(runs),
        capother_instr=a(lambda d: d.instr("capture-other", "splice")),
        capother_splice=a(lambda d: d.ratio("capture-other", "splice")),
        capother_nopdb=a(lambda d: d.ratio("capture-other", "nopdb")),
        cap0_splice=a(lambda d: d.over_us("capture-depth0", "splice")),
        cap50_splice=a(lambda d: d.over_us("capture-depth50", "splice")),
        cap0_nopdb=a(lambda d: d.over_us("capture-depth0", "nopdb")),
        cap50_nopdb=a(lambda d: d.over_us("capture-depth50", "nopdb")),
        patch_bp_splice=a(lambda d: d.per("patch-bp", "splice")),
        patch_bp_nopdb=a(lambda d: d.per("patch-bp", "nopdb")),
        patch_bp_heap=a(lambda d: d.heap("patch-bp")),
        patch_name_splice=a(lambda d: d.per("patch-name", "splice")),
        patch_name_nopdb=a(lambda d: d.per("patch-name", "nopdb")),
        models_text=models_text(runs)).rstrip()


# ---------------------------------------------------------------------------
# Enter+exit across heap sizes (benches/enter_exit.py, issue 13)

EE_LEVELS = ["empty", "torch", "torch+timm+transformers"]
EE_ROWS = [("bp", "`breakpoint(Attention.forward, line=...)` + `exec`, stand-in forward"),
           ("bp-timm", "`breakpoint(...)` + `exec` on timm's own `Attention.forward`"),
           ("bp-generate", "`breakpoint(...)` + `exec` on transformers' `GenerationMixin._sample` "
                           "(a 3,500-line class)"),
           ("capture", "`capture_calls(f)`, one function"),
           ("capture-main", "`capture_calls(f)`, f defined in the running script (`__main__`)"),
           ("capture-nested", "`capture_calls(f)`, f a nested function"),
           ("name", "`capture_calls(\"forward\")`, name scope"),
           ("name-call", "`capture_calls(\"forward\")`, name scope, one `forward()` called inside")]


def _ms(ns: Optional[float]) -> str:
    if ns is None:
        return "-"
    ms = ns / 1e6
    if ms < 0.1:
        return f"{ms * 1000:.1f} us"
    if ms < 10:
        return f"{ms:.3f} ms"
    return f"{ms:.1f} ms"


def _ee_stat(st: Optional[dict]) -> str:
    if not st:
        return "-"
    return f"{_ms(st['median_ns'])} ({_ms(st['min_ns'])}-{_ms(st['max_ns'])}, n={st['n']})"


class EEData:
    """One enter-exit-3.X.json."""

    def __init__(self, r: dict, path: str) -> None:
        self.r = r
        self.path = path
        self.meta = r["meta"]
        self.version = self.meta["python"]
        self.minor = ".".join(self.version.split(".")[:2])
        self.levels = {lv["key"]: lv for lv in r["levels"]}

    def row(self, level: str, key: str, tool: str) -> Optional[dict]:
        lv = self.levels.get(level)
        if not lv or lv["status"] != "ok":
            return None
        return next((x for x in lv["rows"] if x["key"] == key and x["tool"] == tool), None)

    def med(self, level: str, key: str, tool: str, phase: str) -> Optional[float]:
        x = self.row(level, key, tool)
        return x[phase]["median_ns"] if x and x["status"] == "ok" and x.get(phase) else None


def load_enter_exit(paths: list[str]) -> list[EEData]:
    out = []
    for p in paths:
        with open(p) as f:
            out.append(EEData(json.load(f), p))
    out.sort(key=lambda d: _minor_key(d.minor))
    return out


def _ee_goal_cell(g: dict) -> str:
    if g["met"] is None:
        return "not judged (" + ("one level ran" if g["kind"] == "flat" else (g.get("detail") or "not run")) + ")"
    word = "met" if g["met"] else "**missed**"
    if g["met"] and g.get("levels_not_run"):
        word = "met on the levels run"
    if g["kind"] == "flat":
        txt = f"{word}: {g['ratio']:.2f}x (CPU {g['ratio_cpu']:.2f}x; NoPdb {g['nopdb_ratio']:.2f}x)"
    else:
        txt = f"{word}: worst {_ms(g['worst_ns'])}"
    if g.get("levels_not_run"):
        txt += f" (levels run: {len(EE_LEVELS) - len(g['levels_not_run'])} of {len(EE_LEVELS)})"
    return txt


def _ee_flat_table(d: EEData) -> list[str]:
    cols = [("bp", "splice", "first"), ("bp", "splice", "cold"), ("bp", "splice", "repeat"),
            ("capture", "splice", "first"), ("capture", "splice", "cold"),
            ("capture", "splice", "repeat"), ("capture-main", "splice", "repeat"),
            ("capture-nested", "splice", "cold"), ("capture-nested", "splice", "repeat"),
            ("bp", "nopdb", "cold"), ("bp", "nopdb", "repeat"), ("capture", "nopdb", "cold"),
            ("capture", "nopdb", "repeat")]
    out = ["| level | objects | functions | named `forward` | splice bp first | splice bp cold | splice bp repeat | "
           "splice capture first | splice capture cold | splice capture repeat | splice capture, `__main__` f | "
           "splice capture, nested f, cold | splice capture, nested f | NoPdb bp cold | NoPdb bp | "
           "NoPdb capture cold | NoPdb capture |",
           "|---|" + "---:|" * (3 + len(cols))]
    for key in EE_LEVELS:
        lv = d.levels.get(key)
        if not lv or lv["status"] != "ok":
            out.append(f"| {key} | {_cell((lv or {}).get('status', 'not run'))} |" + " |" * (2 + len(cols)))
            continue
        out.append(f"| {key} | {lv['objects']:,} | {lv['functions']:,} | {lv['forward_functions']:,} | "
                   + " | ".join(_ms(d.med(key, *c)) for c in cols) + " |")
    ratios = []
    for c in cols:
        vals = [v for v in (d.med(k, *c) for k in EE_LEVELS) if v is not None]
        ratios.append(f"{max(vals) / min(vals):.2f}x" if len(vals) >= 2 else "-")
    out.append("| **largest / smallest level** | | | | " + " | ".join(ratios) + " |")
    return out


def _ee_rows_table(d: EEData) -> list[str]:
    out = ["| row | level | phase | splice | NoPdb | splice / NoPdb |", "|---|---|---|---:|---:|---:|"]
    for rk, title in EE_ROWS:
        for key in EE_LEVELS:
            lv = d.levels.get(key)
            if not lv or lv["status"] != "ok":
                continue
            rs, rn = d.row(key, rk, "splice"), d.row(key, rk, "nopdb")
            if rs and rs["status"].startswith("not run"):
                continue
            for ph in ("first", "repeat", "cold"):
                if not (rs and rs.get(ph)) and not (rn and rn.get(ph)) and ph == "cold":
                    continue  # rows without a cold sample (and results from before it existed)
                cs = _ee_stat(rs.get(ph)) if rs and rs["status"] == "ok" else _cell((rs or {}).get("status", "-"))
                cn = _ee_stat(rn.get(ph)) if rn and rn["status"] == "ok" else _cell((rn or {}).get("status", "-"))
                a, b = d.med(key, rk, "splice", ph), d.med(key, rk, "nopdb", ph)
                ratio = f"{a / b:.0f}x" if a and b else "-"
                kind = rs.get("first_kind", "") if rs and ph == "first" else ""
                phase = ph + (" (one per process)" if "process" in kind else "")
                out.append(f"| {title} | {key} | {phase} | {cs} | {cn} | {ratio} |")
    return out


def enter_exit_section(ee: list[EEData], supported: list[str]) -> list[str]:
    lines = ["", "## Enter and exit across heap sizes (issue 13)", "",
             "Generated from `benches/enter-exit-3.*.json` (`make bench-enter-exit PY=3.X`, which runs "
             "`benches/enter_exit.py`). Wall time of one enter+exit of a probe, with nothing called inside the "
             "`with` (except in one row, below), each heap level in its own child process: `empty` (nothing imported besides splice and "
             "NoPdb), `torch` (`import torch`), `torch+timm+transformers` (those imported, a timm "
             "`vit_tiny_patch16_224` with random weights, a 2-layer transformers `BertModel` and a 1-layer "
             "`GPT2LMHeadModel` built). Rows: a "
             "breakpoint with one `exec` on the stand-in `Attention.forward` (benches/run.py's copy of timm's, "
             "over scalars, defined at every level so the levels compare), on timm's own (where timm is "
             "imported) and on transformers' `GenerationMixin._sample`, the loop of `generate()` (a method of a "
             "3,500-line class in a 4,600-line file; checked by a greedy `generate()` of the GPT-2); "
             "`capture_calls(f)` on a one-function target (a module-level function, as after an import;"
             " also a function defined in the running script, `__main__`, and a nested function); "
             '`capture_calls("forward")` by name, and the same with one call of the stand-in `forward()` inside '
             "the block (the only row that calls anything: a capture by name instruments a function at "
             "its first call, so that row pays it every round; on 3.11 through splice's frame evaluator, "
             "3.12+ through sys.monitoring; docs/architecture.md, Lazy scopes). *first* is the first enter+exit "
             "of a new probe on a function "
             "never probed in the process (a freshly compiled copy each round; for timm's forward, `_sample`, the `__main__` "
             "function and the name scope there is one such target per process, so one sample per child process), "
             "*repeat* the same probe entered again and again on the same function (per enter+exit of a batch), "
             "*cold* the first enter+exit on another fresh copy right after a full collection and a "
             "256 MiB memory copy that evicts the CPU caches (rows bp, capture and nested capture). A full "
             "collection walks the whole heap, so after it alone the `empty` level's caches stay warm and the "
             "torch levels' go cold: *first* compares a warm small process with a cold big one, *cold* puts "
             "every level in the same cache state, so that what differs is only what the process holds. "
             "Cells are the median with min-max over the samples (rounds x child processes), rows interleaved with "
             "a full garbage collection before each. Every timed batch is "
             "followed by a checked cycle: the probe fires when the target is called inside the block, and after "
             "it `f.__code__ is` the original (for the name scope, for every live function named `forward`). The "
             "machine is shared and was loaded (load averages below); NoPdb's own spread across levels is the "
             "noise floor to read splice's against.",
             ""]
    ran = [d.minor for d in ee]
    missing = [v for v in supported if v not in ran]
    text = f"**Run:** {_join(ran) if ran else 'none'}."
    if missing:
        text += f" **Not run:** {_join(missing)} (no `benches/enter-exit-{missing[0]}.json`)."
    partial = []
    for d in ee:
        skipped = [f"{k} ({d.levels[k]['status']})" for k in EE_LEVELS
                   if k in d.levels and d.levels[k]["status"] != "ok"]
        if skipped:
            partial.append(f"on {d.minor}: {', '.join(skipped)}")
    if partial:
        text += " **Heap levels not run:** " + "; ".join(partial) + "."
    lines += [text]
    if not ee:
        return lines
    # goals matrix
    order: list[str] = []
    cells: dict[str, dict[str, dict]] = {}
    for d in ee:
        for g in d.r["goals"]:
            if g["goal"] not in cells:
                order.append(g["goal"])
                cells[g["goal"]] = {}
            cells[g["goal"]][d.minor] = g
    lines += ["", "### Goals (issue 13)", "",
              "Flat means the largest level's median over the smallest's is at most "
              f"{ee[-1].meta['goals']['flat_ratio']:g}x (our reading of \"independent of how many objects the "
              "process holds\"); the CPU-time ratio and NoPdb's ratio are given beside it. The *cold* phase is "
              "the one that reads that goal: the same cache state at every level (see above); the *first* "
              "phase's ratio also counts the caches a collection of a big heap leaves cold. A goal \"at every "
              "level\" is judged on the levels that ran (the cell says how many).", "",
              "| goal | " + " | ".join(d.version for d in ee) + " |", "|---|" + "---|" * len(ee)]
    for t in order:
        lines.append(f"| {_cell(t)} | " + " | ".join(_cell(_ee_goal_cell(cells[t][d.minor]))
                                                   if d.minor in cells[t] else "-" for d in ee) + " |")
    lines += ["", "### Flat with heap size", "",
              "Medians per enter+exit; bp = the breakpoint with `exec` on the stand-in forward, capture = "
              "`capture_calls(f)` on a module-level function of a module-like namespace (only the function "
              "refers to its code object, as after an import); the `__main__` and nested columns are the same "
              "capture on a function defined in the running script and on a nested function (in both another "
              "live code object holds the function's code among its constants), repeat phase. NoPdb columns "
              "are the repeat phase (its first enter costs the same)."]
    for d in ee:
        lines += ["", f"**CPython {d.version}**", ""] + _ee_flat_table(d)
    for d in ee:
        m = d.meta
        src = m.get("source") or {}
        commit = (src.get("commit") or "?")[:10]
        if src.get("uncommitted"):
            commit += f" + uncommitted changes in {len(src['uncommitted'])} file(s)"
        loads = "; ".join(f"{k}: " + ", ".join(f"{a[0]:.1f}->{b[0]:.1f}" for a, b in lv["loadavg"] if a and b)
                          for k, lv in d.levels.items() if lv["status"] == "ok")
        native = m.get("native") or {}
        lines += ["", f"### Enter+exit on CPython {d.version}", "",
                  f"- **Run:** {m['date'].replace('T', ' ').replace('+00:00', '')} UTC, splice built from commit "
                  f"{commit}" + (" (extension imported from the source tree, `"
                                 + os.path.basename(native.get("file", "?")) + "`, built "
                                 + str(native.get("mtime", "?")).replace("T", " ").replace("+00:00", "") + ")"
                                 if native.get("installed_copy") is False else "")
                  + f", NoPdb {m.get('nopdb')}; results in `benches/{os.path.basename(d.path)}`",
                  f"- **Method:** {m['procs']} child process(es) per level, {m['rounds']} rounds each, repeat "
                  f"batches of {m['repeat']} (name scope: {m['name_repeat']}); clock: {m['clock']}; whole run "
                  f"{m['duration_s']:.0f} s",
                  f"- **Machine:** {_cell(_machine_ee(m))}; 1-minute load average per child (start->end): "
                  f"{loads}"]
        if m.get("source_end"):
            end = m["source_end"]
            lines.append(f"- **The tree changed during the run:** at its end HEAD was commit "
                         f"{(end.get('commit') or '?')[:10]}, uncommitted changes in "
                         f"{len(end.get('uncommitted') or [])} file(s)")
        shas = {sha for lv in d.levels.values() for sha in lv.get("native_sha256", [])}
        if len(shas) > 1:
            lines.append(f"- **The child processes imported {len(shas)} different builds of `splice._native`** "
                         "(it was rebuilt during the run)")
        for k in EE_LEVELS:
            lv = d.levels.get(k)
            if lv and lv["status"] == "ok" and lv.get("versions"):
                lines.append(f"- **{k}:** " + ", ".join(f"{a} {b}" for a, b in lv["versions"].items())
                             + (f"; timm's forward: `{lv['timm_attention']}`" if lv.get("timm_attention") else "")
                             + (f"; generate's loop: `{lv['generate_method']}`" if lv.get("generate_method") else ""))
            elif lv and lv["status"] != "ok":
                lines.append(f"- **{k}:** {lv['status']}")
        pf = []
        for k in EE_LEVELS:
            lv = d.levels.get(k)
            if lv and lv["status"] == "ok":
                pf.append(f"{k}: splice {_ms((lv['process_first']['splice']['wall'] or {}).get('median_ns'))}, "
                          f"NoPdb {_ms((lv['process_first']['nopdb']['wall'] or {}).get('median_ns'))}")
        lines.append("- **First enter+exit of the process** (the breakpoint on the stand-in, before any warm-up; "
                     "includes lazy set-up; median over the child processes): " + "; ".join(pf))
        lines += [""] + _ee_rows_table(d)
    return lines


def _machine_ee(m: dict) -> str:
    mach = m["machine"]
    return f"{mach['cores']} cores ({mach.get('usable_cores', mach['cores'])} usable), {mach['cpu']}"


# ---------------------------------------------------------------------------
# The page


def method_section(runs: list[Data]) -> list[str]:
    gc_on = all(d.meta.get("gc_during_runs", True) for d in runs)
    return [
        "", "## How it is measured", "",
        "- Each scenario has a reference: the hand-edited source (the function's text with the statement "
        "typed in, compiled under the same file name with every line at the same number, so the only "
        "difference is the statement) or the plain code. Ratios are taken within one process, on one "
        "interpreter; numbers from different versions are never divided by each other.",
        "- Variants run interleaved in an order rotated every round; medians are reported, and a ratio is the "
        "median of the per-round ratios (variant and reference measured within moments of each other: on a "
        "shared machine whole rounds run faster or slower together). The clock is the CPU time of the "
        "benchmarking thread. The garbage collector's young generations are collected before every timed run "
        "(a full collection before every scenario); the collector "
        + ("stays enabled during the run (captures allocate objects it tracks, and the collections they "
           "cause are part of what a capture costs)." if gc_on
           else "was disabled during the runs of at least one version (`--no-gc`, as `timeit` does).")
        + " Entering and leaving a breakpoint or capture is outside the timer except in the patching scenarios.",
        "- Every run's result is checked: the exec variants must produce the hand-edited source's result, "
        "eval variants the same values, captures the right number of calls with the right arguments, return "
        "value and stack depth, and splice variants must leave the original code object in place after exit. "
        "A wrong result is reported as `wrong`, not timed.",
        "- When valgrind is installed (or with `--callgrind`; `--no-callgrind` turns it off), the reference and "
        "splice variants of the scenarios whose goal is a ratio are also run under valgrind's callgrind, each "
        "in a child process that calls the variant through ctypes and has callgrind count only inside that "
        "call (libffi's `ffi_call`; the interpreters of some builds, such as the Debian-built 3.14 and 3.15 "
        "used here, are stripped, so no CPython function can be named). The count per iteration is the "
        "difference between a small and a large run divided by the difference in size, so set-up cancels. "
        "The children run with `PYTHONMALLOC=malloc` (see *Untouched code* above: pymalloc's cost per "
        "allocation depends on the heap layout; glibc's malloc costs more per allocation, which moves every "
        "ratio slightly toward 1, but the same on every layout). Instruction counts do not depend on the "
        "machine's load, so they settle differences of a few percent that timing on a shared machine "
        "cannot; a ratio goal is judged by them where they were taken.",
    ]


def render(runs: list[Data], supported: list[str], enter_exit: Optional[list[EEData]] = None) -> str:
    lines = [
        "# Performance",
        "",
        "<!-- Generated by benches/render.py from benches/results-3.*.json (make bench PY=3.X) and "
        "benches/enter-exit-3.*.json (make bench-enter-exit PY=3.X). Do not edit by hand. -->",
        "",
        "splice's claim: a probe costs what the same code typed into the source costs, and nothing anywhere "
        "else. Each version's numbers were measured in one run of `make bench PY=3.X` on that interpreter, "
        "side by side with NoPdb and with the hand-edited source.",
        "",
        "## Summary",
        "",
        versions_sentence(runs, supported),
        "",
    ] + runs_table(runs, supported)
    if runs:
        lines += ["", "### Goals", "",
                  "Where an instruction count was taken (valgrind, see *How it is measured*), a ratio goal is "
                  "judged by it: it is exact, while timing differences of a few percent are not resolvable on a "
                  "shared machine. Each version's section below gives the time ratio and its round-to-round "
                  "range next to it. The goals are those of issue 6, held on every version (issue 11 for 3.14 "
                  "and 3.15), and issue 17's for calls to a function after a probe on it was removed.",
                  ""] + goals_matrix(runs)
        lines += ["", "Ratios in the tables below are per iteration (or per call) against the scenario's reference "
                  "variant, in that version's run (the median of the per-round ratios, with their interquartile "
                  "range in parentheses: how much the ratio moved from round to round). Overhead is the variant's "
                  "time per unit minus the reference's. `n` is what each variant ran (NoPdb runs fewer iterations "
                  "where one run would exceed the cap)."]
        for d in runs:
            lines += version_section(d)
        lines += measures_section(runs)
        lines += ["", why_section(runs)]
        lines += method_section(runs)
    if enter_exit is not None:
        lines += enter_exit_section(enter_exit, supported)
    lines += ["",
              "## Reproducing", "",
              "```",
              "make bench                  # CPython 3.11: builds splice (release) into .venv-bench-3.11, installs "
              "NoPdb; writes benches/results-3.11.json",
              "make bench PY=3.14          # another interpreter (found by scripts/find-python); writes "
              "benches/results-3.14.json",
              "BENCH_MODELS=1 make bench   # also the timm and MiniLM scenarios (installs torch etc., a few GB)",
              "make bench-enter-exit PY=3.13  # enter+exit across heap sizes (.venv-3.13/bin/python); writes "
              "benches/enter-exit-3.13.json",
              "make bench-render           # only regenerate this page from the result files present",
              "```",
              "",
              "A run replaces only its own version's `benches/results-3.X.json` (which holds every round's "
              "time); `python benches/render.py` regenerates this page from all of them.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", nargs="+", metavar="FILE",
                    help="result files to render (default: every benches/results-3.*.json)")
    ap.add_argument("--enter-exit", nargs="*", metavar="FILE",
                    help="enter+exit result files to render (default: every benches/enter-exit-3.*.json)")
    ap.add_argument("--output", default=os.path.join(ROOT, "docs", "performance.md"))
    args = ap.parse_args(argv)
    paths = args.results or sorted(glob.glob(os.path.join(HERE, "results-3.*.json")))
    ee_paths = args.enter_exit if args.enter_exit is not None else sorted(
        glob.glob(os.path.join(HERE, "enter-exit-3.*.json")))
    if not paths and not ee_paths:
        print("render.py: no benches/results-3.*.json (run `make bench` first)", file=sys.stderr)
        return 1
    runs = load_runs(paths)
    text = render(runs, supported_minors(), load_enter_exit(ee_paths))
    paths = paths + ee_paths
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(args.output)} from {', '.join(os.path.relpath(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
