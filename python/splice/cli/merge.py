"""``python -m splice merge DIR...``: one report from the per-process record
files of runs made with ``--out-dir`` (docs/cli.md, "Several machines").

A multi-node torchrun job runs ``python -m splice run --out-dir SHARED ...``
on every node; each node's ``run`` only sees its own children, and all of
them write into ``SHARED`` (or into per-node directories copied together
later). ``merge`` reads every ``*.splice-proc.json`` and
``*.splice-start.json`` under the directories given (files may be named
directly too), and prints the same summary as ``run`` and writes the same
JSON (schema 2): every process that started, whether it reported, and the
probes added up over all of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, Optional

from splice.cli.procs import load_processes, sort_processes
from splice.cli.report import MergeError, combine, summary, write_json

__all__ = ["main"]

_EMPTY_RUN: dict[str, Any] = {"argv": None, "script": None, "module": None, "exit_status": None, "exception": None}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"python -m splice merge: error: {message}\n")


def _parser() -> _Parser:
    p = _Parser(
        prog="python -m splice merge",
        usage="python -m splice merge [--json FILE] [--show N] [-q] DIR...",
        description="Merge the per-process record files that 'python -m splice run --out-dir DIR' wrote "
        "(e.g. on every node of a multi-node job) into one summary and JSON document.",
        allow_abbrev=False,
    )
    p.add_argument("dirs", metavar="DIR", nargs="+", help="a directory given to --out-dir (or one record file)")
    p.add_argument("--json", metavar="FILE", help="write the merged document as JSON (schema: docs/cli.md)")
    p.add_argument("--show", metavar="N", type=int, default=3,
                   help="values/calls per probe and process shown in the summary (default 3)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    return p


def _expand(paths: Sequence[str]) -> tuple[list[str], Optional[str]]:
    """The directories to read (a record file stands for its directory), or
    an error message."""
    dirs = []
    for p in paths:
        if os.path.isdir(p):
            dirs.append(p)
        elif os.path.isfile(p):
            dirs.append(os.path.dirname(os.path.abspath(p)))
        else:
            return [], f"no such directory: {p}"
    return list(dict.fromkeys(dirs)), None


def main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m splice merge``: 0 when at least one
    process reported, 1 when none did (or the records do not fit together),
    2 for a malformed command line."""
    parser = _parser()
    ns = parser.parse_args(list(argv))
    if ns.show < 0:
        parser.error("--show must not be negative")
    dirs, problem = _expand(ns.dirs)
    if problem:
        parser.error(problem)
    processes, problems = load_processes(dirs)
    for msg in problems:
        print(f"python -m splice merge: skipped {msg}", file=sys.stderr)
    if not any(p["reported"] for p in processes):
        where = ", ".join(ns.dirs)
        print(f"python -m splice merge: no process records (*.splice-proc.json) in {where}"
              + (f"; {len(processes)} process(es) started but none reported" if processes else ""),
              file=sys.stderr)
        return 1
    processes = sort_processes(processes)
    mains = [p for p in processes if p["reported"] and p.get("role") == "main" and p.get("_run")]
    run = dict(mains[0]["_run"]) if mains else dict(_EMPTY_RUN)
    try:
        doc = combine(run, processes)
    except MergeError as e:
        print(f"python -m splice merge: {e}", file=sys.stderr)
        return 1
    if not ns.quiet:
        summary(doc, sys.stderr, ns.show)
        runs = sorted({str(p.get("run_id")) for p in processes})
        if len(runs) > 1:
            print(f"(merged {len(runs)} runs: {', '.join(runs)}; 'run' above is the first one's)", file=sys.stderr)
    if ns.json:
        write_json(doc, ns.json)
    return 0
