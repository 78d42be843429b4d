#!/usr/bin/env python3
"""Regenerate docs/performance.md from benches/results.json.

    python benches/render.py [--results benches/results.json] [--output docs/performance.md]

Every number in the page comes from the JSON that ``benches/run.py`` wrote;
the prose is static. Run by ``make bench`` after the measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Optional

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
    def __init__(self, results: dict) -> None:
        self.r = results
        self.sc = {s["key"]: s for s in results["scenarios"]}

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

    def over(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return _fmt_time(v["overhead_per_unit_ns"]) if v and "overhead_per_unit_ns" in v else NA

    def over_us(self, key: str, name: str) -> str:
        v = self.variant(key, name)
        return f"{v['overhead_per_unit_ns'] / 1000:.2f} us" if v and "overhead_per_unit_ns" in v else NA

    def note(self, key: str, idx: int = 0) -> str:
        s = self.sc.get(key)
        return s["notes"][idx] if s and len(s["notes"]) > idx else ""


def _cell(s: Any) -> str:
    return str(s).replace("|", "\\|")


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


def goals_table(d: Data) -> list[str]:
    out = ["| goal (issue 6) | time | round-to-round range | instructions | verdict |",
           "|---|---:|---:|---:|---|"]
    for s in d.r["scenarios"]:
        for g in s["goals"]:
            rng = f"{g['range'][0]:.2f}-{g['range'][1]:.2f}x" if g.get("range") else "-"
            ins = f"{g['instructions_ratio']:.3f}x" if g.get("instructions_ratio") else "-"
            if g["met"] is None:
                meas, verdict = "-", "not run" + (f" ({g['detail']})" if g.get("detail") else "")
            elif g["measured"] is None:
                meas, verdict = "-", f"**failed**: {g.get('detail')}"
            else:
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
            out.append(f"| {_cell(g['text'])} | {meas} | {rng} | {ins} | {_cell(verdict)} |")
    return out


WHY = """\
## Why splice is where it is

The instruction counts quoted here come from the `--callgrind` columns of the
tables above (exact counts per iteration, independent of the machine's load);
where a run was made without valgrind they read n/a.

**Breakpoints in a hot loop.** splice's `exec('x = x * 3')` runs at
{hot_exec_splice} of the hand-edited source ({hot_exec_instr} in
instructions), a never-true `cond` at {hot_cond_splice} of `if x < 0: pass`
typed in ({hot_cond_instr}), and `eval('x')` at {hot_eval_splice} of
`values.append(x)` typed in ({hot_eval_instr}); NoPdb, in the same run, at
{hot_exec_nopdb}, {hot_cond_nopdb} and {hot_eval_nopdb}. splice compiles the
snippet with CPython's own compiler, in a template that mirrors the target's
scope, and splices those instructions into the function at the line, so the
loop executes what the hand-edited source executes. The handler that adds a
note naming the snippet to an exception it raises is cold code placed after
the function's last instruction (where CPython puts its own cold blocks), so
the hot path is the typed statement with no jump over it; `eval` is spliced
as `<results>.append(<expr>)` with the results list as a constant, the same
`LOAD_METHOD`/call pair CPython specialises for the typed-in
`values.append(x)`. The one difference left is there: the typed-in version
loads `values` with `LOAD_FAST`, which 3.11 fuses with the `STORE_FAST x`
before it into one superinstruction, where the spliced one loads the list as
a constant (the 1.3% more instructions per iteration). NoPdb's trace function runs in Python for every line of
the traced function ({hot_exec_nopdb_over} per iteration with `exec`): it
reads the line's text, and for `exec` copies the frame's locals into a dict,
runs `exec` on the source string (compiled again at every hit) and writes the
locals back with `PyFrame_LocalsToFast`.

**Untouched code.** With a breakpoint on another function, the hot loop runs
at {untouched_splice} of plain with splice ({untouched_instr} in
instructions) and {untouched_nopdb} with NoPdb. splice only replaces the
`__code__` of the functions it targets and never installs a trace or profile
function; the harness checks, while the breakpoint is active, that the loop's
code object is the original one and that `sys.gettrace()` is `None`. The
interpreter therefore executes exactly the same bytecode; a difference in the
instruction count, if any, lies in the memory allocator (the loop allocates and
frees an int per operation, and the allocator's state differs after splice has
planned and patched), and a difference in time beyond that is the noise floor
of the run. NoPdb's `sys.settrace` makes CPython call its trace function on
every call in the thread and keeps the interpreter on its slower tracing path.

**Call capture.** `capture_calls(h)` costs {cap0_splice} per call with splice
at stack depth 0 and {cap50_splice} at depth 50 (NoPdb: {cap0_nopdb} and
{cap50_nopdb}); calls to another function while the capture is active run at
{capother_splice} of plain with splice ({capother_instr} in instructions;
NoPdb {capother_nopdb}). splice splices an entry probe and exit probes (before
every return, and on the way out of an exception) into `h` alone, so no other
function pays anything. Each captured call records the arguments, the stack as
one `(code, instruction offset)` pair per frame (kept once for consecutive
calls from the same stack, so depth costs little; the `StackSummary` is only
built when `.stack` is read), one snapshot of the
locals and a `CallInfo`: objects the garbage collector tracks, so its
collections, which get dearer as records pile up, are part of the cost
(measured with a micro-benchmark: about half of it). The entry and exit hooks
are native (Rust) builtins called through vectorcall: they read the
arguments and locals straight from the frame, walk the stack into a Rust
vector, and build the `CallInfo` with `object.__new__`; not recording, they
cost about 10 ns. NoPdb's trace
function runs for every call and return of every function while the capture
is active, and for each captured call builds a full `StackSummary` with source
lines through `linecache`, which grows with depth as well.

**Patching cost.** Entering and leaving `breakpoint(...)` with one `exec` on
a function the size of timm's `Attention.forward` takes {patch_bp_splice} with
splice ({patch_bp_heap} objects tracked by the garbage collector in the
process), against {patch_bp_nopdb} for NoPdb, which only swaps the trace
function and pays on every line instead. splice pays once, at entry: resolve
the target and the function objects that own its code (a search of the heap,
so this part grows with the number of live objects), compile the snippet in
its template, rewrite and verify the code object (decode, splice, assemble,
check stack depths, jumps and exception table) and swap `__code__`;
scheduling the `exec` inside the block re-plans and re-patches, and leaving
restores the original. A name-scoped `capture_calls('forward')` takes
{patch_name_splice} per enter and exit (NoPdb: {patch_name_nopdb}): splice
finds every live function whose code has that name and patches each one.
{patch_name_note}

**Models.** {models_text}
"""

MODELS_RAN = """\
The ViT-B/16 forward pass runs at {vit_cap_splice} of plain with splice's
`capture_call` on one block's attention and {vit_exec_splice} with a
breakpoint and `exec` in every block's attention (NoPdb: {vit_cap_nopdb} and
{vit_exec_nopdb}); MiniLM's `encode` at {lm_cap_splice} and {lm_exec_splice}
(NoPdb: {lm_cap_nopdb} and {lm_exec_nopdb}). The forward pass is dominated by
matrix multiplications in native code; what splice adds is one probe per call
of the targeted Python function, while NoPdb's trace function is called on
every Python call in the model (every `nn.Module.__call__`, `forward` and
helper) and on every line of the traced function."""


def models_text(d: Data) -> str:
    vit, lm = d.sc.get("vit"), d.sc.get("minilm")
    if (not vit or vit["status"] != "ok") and (not lm or lm["status"] != "ok"):
        why = (vit or lm or {}).get("status", "not run")
        return f"The model scenarios were not part of this run ({why})."
    return MODELS_RAN.format(
        vit_cap_splice=d.ratio("vit", "splice capture_call"), vit_exec_splice=d.ratio("vit", "splice bp+exec"),
        vit_cap_nopdb=d.ratio("vit", "nopdb capture_call"), vit_exec_nopdb=d.ratio("vit", "nopdb bp+exec"),
        lm_cap_splice=d.ratio("minilm", "splice capture_call"), lm_exec_splice=d.ratio("minilm", "splice bp+exec"),
        lm_cap_nopdb=d.ratio("minilm", "nopdb capture_call"), lm_exec_nopdb=d.ratio("minilm", "nopdb bp+exec"))


def per_op(d: Data, key: str, name: str) -> str:
    v = d.variant(key, name)
    return _fmt_time(v["per_unit_ns"]) if v else NA


def render(results: dict) -> str:
    d = Data(results)
    m = results["meta"]
    mach = m["machine"]
    lines = [
        "# Performance",
        "",
        "<!-- Generated by benches/render.py from benches/results.json (make bench). Do not edit by hand. -->",
        "",
        "splice's claim: a probe costs what the same code typed into the source costs, and nothing anywhere "
        "else. Every number below was measured in one run of `make bench`, side by side with NoPdb and with the "
        "hand-edited source.",
        "",
        f"- **Run:** {m['date']}, CPython {m['python']} ({m['python_implementation']}), "
        f"splice {m.get('splice') or NA}, NoPdb {m.get('nopdb') or NA}",
        f"- **Machine:** {mach['cores']} cores ({mach.get('usable_cores', mach['cores'])} usable), {mach['cpu']}, "
        f"{mach['platform']}",
        f"- **Method:** median of {m['rounds']} interleaved rounds (order rotated every round), clock: "
        + ("CPU time of the benchmarking thread" if m.get("clock", "thread") == "thread" else "wall time")
        + f"; a run of a slow variant is capped at about {m['budget_s']} s by running fewer iterations; "
        f"whole run {m['duration_s']} s",
    ]
    nat = m.get("native", {})
    if nat.get("installed_copy") is True:
        lines.append("- **Build:** splice installed from a release wheel into the bench virtualenv")
    elif nat.get("installed_copy") is False:
        lines.append("- **Build:** splice imported from the source tree (possibly a debug build): "
                     "**not a release measurement**")
    if m.get("scale", 1.0) != 1.0:
        lines.append(f"- **Scaled run** (every n x {m['scale']}): a smoke test, not a measurement")
    if m.get("only"):
        lines.append(f"- **Partial run:** only scenarios starting with {', '.join(m['only'])}")
    models = m.get("models", {})
    lines.append(f"- **Models:** " + (f"torch {models['versions'].get('torch')}, timm {models['versions'].get('timm')}, "
                                      f"transformers {models['versions'].get('transformers')}, sentence-transformers "
                                      f"{models['versions'].get('sentence_transformers')}"
                                      if models.get("ready") else models.get("status", "not run")))
    lines += ["", "## Goals", "",
              "Where an instruction count was taken (valgrind, see below), a ratio goal is judged by it: it is "
              "exact, while timing differences of a few percent are not resolvable on a shared machine (the "
              "round-to-round range shows how far the time ratio moved). The time ratio is given either way.",
              ""] + goals_table(d)

    groups = [("Breakpoints in a hot loop", "hot"), ("Call capture", "capture"),
              ("Patching cost", "patch"), ("Models", "models")]
    lines += ["", "## Results", "",
              "Ratios are per iteration (or per call) against the scenario's reference variant, in this run "
              "(the median of the per-round ratios, with their interquartile range in parentheses: how much the "
              "ratio moved from round to round). "
              "Overhead is the variant's time per unit minus the reference's. `n` is what each variant ran "
              "(NoPdb runs fewer iterations where one run would exceed the cap)."]
    for title, group in groups:
        keys = [s["key"] for s in results["scenarios"] if s.get("group") == group]
        if not keys:
            continue
        lines += ["", f"### {title}", ""] + results_table(d, keys)

    lines += ["", "## What each scenario measures", ""]
    for s in results["scenarios"]:
        lines += [f"- **{s['key']}** ({s['title']}). {s['measures']}"]
        for note in s.get("notes", []):
            lines += [f"  {note}"]
    name_note = d.note("patch-name")
    lines += ["", WHY.format(
        hot_exec_splice=d.ratio("hot-exec", "splice"), hot_cond_splice=d.ratio("hot-cond", "splice"),
        hot_eval_splice=d.ratio("hot-eval", "splice"), hot_exec_nopdb=d.ratio("hot-exec", "nopdb"),
        hot_cond_nopdb=d.ratio("hot-cond", "nopdb"), hot_eval_nopdb=d.ratio("hot-eval", "nopdb"),
        hot_exec_nopdb_over=d.over("hot-exec", "nopdb"),
        hot_exec_instr=d.instr("hot-exec", "splice"), hot_cond_instr=d.instr("hot-cond", "splice"),
        hot_eval_instr=d.instr("hot-eval", "splice"), untouched_instr=d.instr("untouched", "splice"),
        capother_instr=d.instr("capture-other", "splice"),
        patch_bp_heap=(f"{d.sc['patch-bp']['heap_objects']:,}" if d.sc.get("patch-bp", {}).get("heap_objects")
                       else NA),
        untouched_splice=d.ratio("untouched", "splice"), untouched_nopdb=d.ratio("untouched", "nopdb"),
        cap0_splice=d.over_us("capture-depth0", "splice"), cap50_splice=d.over_us("capture-depth50", "splice"),
        cap0_nopdb=d.over_us("capture-depth0", "nopdb"), cap50_nopdb=d.over_us("capture-depth50", "nopdb"),
        capother_splice=d.ratio("capture-other", "splice"), capother_nopdb=d.ratio("capture-other", "nopdb"),
        patch_bp_splice=per_op(d, "patch-bp", "splice"), patch_bp_nopdb=per_op(d, "patch-bp", "nopdb"),
        patch_name_splice=per_op(d, "patch-name", "splice"), patch_name_nopdb=per_op(d, "patch-name", "nopdb"),
        patch_name_note=(f"({name_note})" if name_note else ""),
        models_text=models_text(d)).rstrip()]

    lines += ["", "## How it is measured", "",
              "- Each scenario has a reference: the hand-edited source (the function's text with the statement "
              "typed in, compiled under the same file name with every line at the same number, so the only "
              "difference is the statement) or the plain code. Ratios are taken within one process.",
              "- Variants run interleaved in an order rotated every round; medians are reported, and a ratio is the "
              "median of the per-round ratios (variant and reference measured within moments of each other: on a "
              "shared machine whole rounds run faster or slower together). The clock is the CPU time of the "
              "benchmarking thread. The garbage "
              "collector's young generations are collected before every timed run (a full collection before "
              "every scenario); the collector "
              + ("stays enabled during the run (captures allocate objects it tracks, and the collections they "
                 "cause are part of what a capture costs)." if m.get("gc_during_runs", True)
                 else "was disabled during the runs (`--no-gc`, as `timeit` does).")
              + " Entering and "
              "leaving a breakpoint or capture is outside the timer except in the patching scenarios.",
              "- Every run's result is checked: the exec variants must produce the hand-edited source's result, "
              "eval variants the same values, captures the right number of calls with the right arguments, return "
              "value and stack depth, and splice variants must leave the original code object in place after exit. "
              "A wrong result is reported as `wrong`, not timed.",
              "- When valgrind is installed (or with `--callgrind`; `--no-callgrind` turns it off), the reference and "
              "splice variants of the "
              "scenarios whose goal is a ratio are also run under valgrind's callgrind, which counts only inside "
              "the measured call; the count per iteration is the difference between a small and a large run "
              "divided by the difference in size, so set-up cancels. Instruction counts do not depend on the "
              "machine's load, so they settle differences of a few percent that timing on a shared machine "
              "cannot.",
              "",
              "## Reproducing", "",
              "```",
              "make bench                  # CPython 3.11: builds splice (release) into .venv-bench-3.11, installs NoPdb",
              "make bench PY=3.12          # another interpreter (found by scripts/find-python)",
              "BENCH_MODELS=1 make bench   # also the timm and MiniLM scenarios (installs torch etc., a few GB)",
              "```",
              "",
              "`benches/results.json` holds every round's time; `python benches/render.py` regenerates this page "
              "from it.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--output", default=os.path.join(ROOT, "docs", "performance.md"))
    args = ap.parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    text = render(results)
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
