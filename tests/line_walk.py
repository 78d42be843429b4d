"""Every statement line of every function of the stdlib: a breakpoint with an
``exec`` there either installs or raises ``LocateError`` (issue 12, part 1).

For each ``.py`` file of the running interpreter's standard library, the file
is compiled (nothing is imported or run), and for every function's code
object and every statement line it owns (as ``splice.locate`` reports them),
the breakpoint path runs exactly as for a user: the line check of
``splice.placement`` (``with_events``: a line where no 'line' event can fire
is a ``LocateError`` with the reason), the action-to-snippet builder, the
scope-mirroring template, and ``_native.instrument`` (decode, splice,
assemble, verify). Only the swap into a live function is left out.

The snippet alternates by line: ``pass``, and ``del v`` for one of the
function's plain locals ``v`` (chosen by line number), so that every shape
of load after a deleted local (pairs, borrowed loads, handlers) goes through
the rewrite that makes those loads checked and the verifier's check that no
unchecked load can read an unbound local.

Prints ``line-walk: F files, C code objects, L lines: I installed, R refused
(LocateError), 0 other errors`` and the refusals by reason; exit status 1 on
any other error (each is printed). Run directly
(``python tests/line_walk.py [--every N] [paths...]``) or via
``tests/test_line_walk.py``.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import sys
import sysconfig
import time
import warnings
from pathlib import Path
from types import CodeType, SimpleNamespace
from typing import Any

from splice import _native
from splice import locate as _locate
from splice import placement
from splice.actions import Exec, HookState, build_snippet
from splice.errors import LocateError
from splice.template import build_template

CO_OPTIMIZED = _native.CO_OPTIMIZED

#: LocateError message phrase -> reason shown in the summary
REASONS = [
    ("declaration", "a global/nonlocal declaration"),
    ("is unreachable", "unreachable after return/raise/continue/break"),
    ("which the compiler removes", "removed by the compiler (dead branch, constant expression)"),
    ("python -O", "an assert under -O"),
    ("`pass`", "a pass with no instruction"),
    ("not on its first line", "code only on later lines of the statement (`if (` ...)"),
    ("has no instruction where a line event fires", "no line event (other)"),
]


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "dist-packages", "__pycache__"))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
    return out


def _functions(code: CodeType):
    for const in code.co_consts:
        if isinstance(const, CodeType):
            if const.co_flags & CO_OPTIMIZED:
                yield const
            yield from _functions(const)


def _reason(message: str) -> str:
    for phrase, name in REASONS:
        if phrase in message:
            return name
    return "other LocateError: " + message.split(": ", 1)[-1][:60]


def walk_file(path: str) -> dict[str, Any]:
    """Outcome counts for one file."""
    warnings.simplefilter("ignore")  # SyntaxWarnings of test data files
    out: dict[str, Any] = {"codes": 0, "lines": 0, "installed": 0, "refused": collections.Counter(), "errors": []}
    try:
        text = Path(path).read_text(encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        out["skipped"] = 1
        return out
    source = _locate.Source(path, text)
    for code in _functions(module):
        try:
            lines = [loc.line for loc in _locate.statement_lines(code, source=source) if loc.owned_by(code)]
        except LocateError:
            continue  # not a def (a lambda or comprehension): no statement lines
        out["codes"] += 1
        target = SimpleNamespace(code=code, instance=None)
        plain = [v for v in code.co_varnames if v.isidentifier() and v not in code.co_cellvars]
        for line in lines:
            snippet = f"del {plain[line % len(plain)]}" if plain and line % 2 else "pass"
            out["lines"] += 1
            try:
                kept = placement.with_events(code, [line], line)
                body, hooks = build_snippet([Exec(snippet, None)], None, target, kept, "_splice_w_", HookState())
                tpl = build_template(code, body, hooks, label=f"walk {path}:{line}")
                _native.instrument(code, [tpl.probe(kept)])
                out["installed"] += 1
            except LocateError as e:
                reason = _reason(str(e))
                out["refused"][reason] += 1
                out.setdefault("examples", {}).setdefault(reason, str(e))
            except Exception as e:  # noqa: BLE001 - every other error is the finding
                out["errors"].append(f"{path}:{line} ({code.co_qualname}, {snippet!r}): {type(e).__name__}: {e}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--every", type=int, default=1, help="walk every N-th stdlib file (1: all)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    files = [str(p) for p in (args.paths or stdlib_files()[:: args.every])]
    start = time.monotonic()
    total: dict[str, Any] = {"codes": 0, "lines": 0, "installed": 0, "skipped": 0}
    refused: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    errors: list[str] = []
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        for r in pool.map(walk_file, files, chunksize=4):
            for k in ("codes", "lines", "installed"):
                total[k] += r[k]
            total["skipped"] += r.get("skipped", 0)
            refused.update(r["refused"])
            for k, v in r.get("examples", {}).items():
                examples.setdefault(k, v)
            errors.extend(r["errors"])
    for e in errors[:50]:
        print("  error:", e)
    sampled = "" if args.paths or args.every == 1 else f" (every {args.every}th stdlib file)"
    print(
        f"line-walk: {len(files)} files{sampled}, {total['codes']} code objects, {total['lines']} lines: "
        f"{total['installed']} installed, {sum(refused.values())} refused (LocateError), "
        f"{len(errors)} other errors"
    )
    for reason, n in refused.most_common():
        print(f"line-walk:   refused {n}: {reason}")
        print(f"               e.g. {examples[reason][:300]}")
    print(
        f"line-walk: Python {sys.version.split()[0]}, {total['skipped']} files Python itself cannot "
        f"compile skipped; {time.monotonic() - start:.0f}s on {args.jobs} processes"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
