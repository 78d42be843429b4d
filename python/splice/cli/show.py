"""``python -m splice show``: what splice would inject, as a unified diff.

The target's file is compiled (not run) and its function code objects are
made resolvable with stand-in function objects (see
:mod:`splice.cli.codetree`); for a ``MODULE:Class.method`` target whose name
is not defined in the module's own file (a re-export), the module is
imported instead. The probe is planned by the ordinary
:class:`~splice.Breakpoint` / :class:`~splice.CallListCapture` classes on a
:class:`~splice.NoPdb` that is never started, so nothing is swapped; the
native probe specs they produce (``Managed._wanted()``, then
:func:`splice.patcher.specs_for`) are given to the same ``instrument`` the
patcher uses, and both code objects are disassembled by
``splice._native.disassemble``.
"""

from __future__ import annotations

import difflib
import dis
import importlib
import importlib.util
import linecache
import pathlib
import re
import sys
from collections.abc import Sequence
from types import CodeType
from typing import Optional, TextIO

from splice import _native
from splice.breakpoint import Breakpoint
from splice.capture import CallListCapture
from splice.cli import codetree
from splice.cli.args import ProbeSpec, ShowOptions, parse_show_args
from splice.cli.targets import available, module_file, scope_for
from splice.errors import SpliceError
from splice.lifecycle import Managed
from splice.nopdb import NoPdb
from splice.patcher import Probe, instrument, specs_for
from splice.resolve import Scope, ScopeError

__all__ = ["main", "plan", "render_diff"]

_LABEL = re.compile(r"\bL\d+\b")
_HANDLER = re.compile(r"\s*\[exc -> [^\]]*\]$")


def _key(row: str) -> str:
    # Matching ignores label numbers (inserting a label renumbers the later
    # ones) and handler annotations (a capture gives every instruction a new
    # outermost handler; the instruction itself is unchanged).
    return _LABEL.sub("L#", _HANDLER.sub("", row))


def _source_file(probe: ProbeSpec) -> tuple[Optional[pathlib.Path], Optional[str]]:
    """(file to compile, module name) without importing the target module
    itself (``find_spec`` imports only its parent packages)."""
    t = probe.target
    if t.file is not None:
        return t.file, None
    assert t.module is not None
    spec = importlib.util.find_spec(t.module)
    if spec is None:
        raise SpliceError(f"no module named {t.module!r}")
    if spec.has_location and spec.origin and spec.origin.endswith(".py"):
        return pathlib.Path(spec.origin).resolve(), t.module
    return None, t.module


def _make(probe: ProbeSpec, nopdb: NoPdb, scope: Scope, count_hits: bool) -> tuple[Managed, str]:
    """The planned (never installed) probe object and a one-line description."""
    if probe.kind == "capture":
        return CallListCapture(nopdb, scope, eager=True), "call capture (enter/exit/error hooks)"
    bp = Breakpoint(nopdb, scope, line=probe.line, cond=probe.cond)
    if count_hits or not probe.actions:
        bp.count_hits()
    for kind, text in probe.actions:
        if kind == "eval":
            bp.eval(text)
        else:
            bp.exec(text)
    what = "; ".join(f"{k} {t!r}" for k, t in probe.actions) or "count hits (no --eval/--exec given)"
    if probe.cond is not None:
        what = f"if {probe.cond!r}: " + what
    return bp, f"breakpoint: {what}"


def plan(probe: ProbeSpec, count_hits: bool = False) -> tuple[list[tuple[CodeType, CodeType]], str]:
    """``[(original code, instrumented code)]`` for each code object the probe
    goes into, and a description; nothing is swapped or run."""
    nopdb = NoPdb()  # never started: the probe objects are planned, not installed
    file, modname = _source_file(probe)
    item = None
    keep = None
    if file is not None:
        code = codetree.compile_file(str(file))
        keep = codetree.stand_ins(code, {"__name__": modname or "__splice_show__", "__builtins__": __builtins__})
        try:
            item, what = _make(probe, nopdb, scope_for(probe.target, file, None), count_hits)
        except ScopeError:
            if probe.target.qualname is None:
                raise
            if modname is None:
                raise ScopeError(f"no function {probe.target.qualname!r} in {file}{available(file)}") from None
    if item is None:  # a re-exported name, or a module without a .py file
        module = importlib.import_module(modname)  # type: ignore[arg-type]
        mfile = module_file(module)
        if mfile is None:
            raise SpliceError(f"module {modname} has no source file")
        item, what = _make(probe, nopdb, scope_for(probe.target, mfile, module), count_hits)
    by_code: dict[int, tuple[CodeType, list[Probe]]] = {}
    for p in item._wanted():
        by_code.setdefault(id(p.site.code), (p.site.code, []))[1].append(p)
    out = []
    seen: list[CodeType] = []
    for code, probes in by_code.values():
        # the stand-in compiled from the file and an imported copy of the
        # same function are equal code objects: show the rewrite once
        if any(code == s for s in seen):
            continue
        seen.append(code)
        # as the patcher does: later probes see earlier new locals
        out.append((code, instrument(code, specs_for(probes))))
    item.disable()
    del keep
    return out, what


def _no_columns(code: CodeType) -> Optional[list[bool]]:
    """Per instruction (as the native disassembler lists them: no caches,
    EXTENDED_ARG folded), whether it has no column information. Injected
    instructions carry their line only; CPython gives nearly every original
    instruction columns, which tells an injected ``LOAD_FAST attn`` from the
    original one next to it."""
    flags = [
        ins.positions is None or ins.positions.col_offset is None
        for ins in dis.get_instructions(code)
        if ins.opname != "EXTENDED_ARG"
    ]
    return flags


def _rows(code: CodeType) -> list[tuple[str, str]]:
    """(text, matching key) per row of the native disassembly, with each
    source line as a header row (the line column moved out of the
    instruction rows, so an instruction does not show as changed just
    because injected code now starts its line)."""
    lines = linecache.getlines(code.co_filename)
    text = [r for r in _native.disassemble(code).splitlines() if r.strip()]
    n_instr = sum(1 for r in text if not (r.endswith(":") and r.startswith("L")))
    flags = _no_columns(code)
    if flags is not None and len(flags) != n_instr:
        flags = None  # listings disagree: match on the text alone
    out: list[tuple[str, str]] = []
    i = 0
    for raw in text:
        if raw.endswith(":") and raw.startswith("L"):
            out.append((raw, "L#:"))
            continue
        line, rest = raw[1:6].strip(), raw[6:]
        if line:
            if line == "-":
                row = "   -- (no line)"
            else:
                n = int(line)
                src = lines[n - 1].strip() if 0 < n <= len(lines) else ""
                row = f"{n:>5}| {src}"
            out.append((row, row))
        row = "      " + rest
        key = _key(row) + (" #nocol" if flags is not None and flags[i] else "")
        out.append((row, key))
        i += 1
    return out


def render_diff(original: CodeType, patched: CodeType, context: Optional[int] = None) -> list[str]:
    """Unified diff of the two disassemblies ('+': injected, '-': replaced).
    Rows are matched with label numbers and handler annotations ignored but
    injected-or-not (no column information) taken into account; unchanged
    rows are shown as in the rewritten code (so a handler the rewrite added
    to an original instruction shows on its context row)."""
    ra, rb = _rows(original), _rows(patched)
    a, b = [t for t, _ in ra], [t for t, _ in rb]
    ka, kb = [k for _, k in ra], [k for _, k in rb]
    name = getattr(original, "co_qualname", original.co_name)
    out = [f"--- {original.co_filename}:{name} (original)", f"+++ {original.co_filename}:{name} (with probe)"]
    n = max(len(a), len(b)) if context is None else context
    sm = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    for group in sm.get_grouped_opcodes(n):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(" " + r for r in b[b1:b2])
                continue
            if tag in ("replace", "delete"):
                out.extend("-" + r for r in a[a1:a2])
            if tag in ("replace", "insert"):
                out.extend("+" + r for r in b[b1:b2])
    return out


def main(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Entry point of ``python -m splice show``."""
    opts: ShowOptions = parse_show_args(argv)
    try:
        pairs, what = plan(opts.probe, opts.count_hits)
    except (SpliceError, SyntaxError, ImportError, OSError, TypeError, ValueError) as e:
        print(f"python -m splice show: {opts.probe.target.text}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    where = f" --line {opts.probe.line!r}" if opts.probe.line is not None else ""
    out.write(f"# splice show {opts.probe.target.text}{where}: {what}\n")
    out.write("# '+' rows are injected by splice, '-' rows replaced; columns: stack depth, opcode, operand\n")
    out.write("# ('NNN| text' rows are source lines; unchanged rows, labels and [exc -> handler]\n")
    out.write("#  annotations are shown as in the rewritten code)\n")
    for original, patched in pairs:
        out.write("\n".join(render_diff(original, patched, opts.context)) + "\n")
    return 0
