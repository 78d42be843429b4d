"""`python -m splice COMMAND` (or the `splice` console script): the splice command-line tool."""

from __future__ import annotations

import sys
from typing import NoReturn

COMMANDS = {
    "run": "run a script (or -m module) as __main__ with probes from the command line",
    "attach": "set probes in a running CPython 3.14+ process (by PID), collect, and remove them",
    "merge": "merge the per-process record files of runs (e.g. a multi-node torchrun job) into one report",
    "show": "print a function's bytecode before/after splice's rewrite as a diff (runs nothing)",
    "doctor": "decode and re-assemble every stdlib/site-packages code object; report mismatches",
    "torture": "pad (or probe) every function of stdlib modules and run CPython's tests for them",
}


def version_text() -> str:
    """What ``--version`` prints: splice's version, the interpreter it runs on
    and where the package was imported from."""
    import os
    import platform

    import splice

    where = os.path.dirname(splice.__file__ or "?")
    return f"splice {splice.__version__} (CPython {platform.python_version()}, {where})"


def _doctor_problem(argv: list[str]) -> str | None:
    """What is wrong with ``doctor``'s arguments that its own parser lets
    through, or ``None``. A path that is not a directory, or a ``--limit``
    below 1, would make ``doctor`` check nothing and still report success.
    (Malformed options are left to doctor's parser, which reports them.)"""
    import argparse
    import os

    class _Mirror(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise argparse.ArgumentError(None, message)

    p = _Mirror(add_help=False, exit_on_error=False)  # doctor's options, as text
    p.add_argument("paths", nargs="*")
    p.add_argument("--limit")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    try:
        ns, _ = p.parse_known_args(argv)
    except argparse.ArgumentError:
        return None
    if ns.help:
        return None
    for path in ns.paths:
        if not os.path.exists(path):
            return f"no such directory: {path}"
        if not os.path.isdir(path):
            return f"{path} is not a directory: doctor checks the .py files under the directories given"
    try:
        limit = int(ns.limit) if ns.limit is not None else None
    except ValueError:
        return None
    if limit is not None and limit < 1:
        return f"--limit must be at least 1 (the number of code objects to check), not {limit}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand (the entry point of ``python -m splice`` and
    of the ``splice`` console script)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m splice COMMAND [ARGS]  (or: splice COMMAND [ARGS])\n"
              "       python -m splice --version\n\ncommands:")
        for name, text in COMMANDS.items():
            print(f"  {name:<9} {text}")
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(version_text())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        from splice.cli import runner

        return runner.main(rest)
    if cmd == "attach":
        from splice.cli import attach

        return attach.main(rest)
    if cmd == "merge":
        from splice.cli import merge

        return merge.main(rest)
    if cmd == "show":
        from splice.cli import show

        return show.main(rest)
    if cmd == "doctor":
        problem = _doctor_problem(rest)
        if problem is not None:  # a command-line error: status 2, as argparse gives
            print(f"python -m splice doctor: error: {problem}", file=sys.stderr)
            return 2
        from splice.tools import doctor

        return doctor.main(rest)
    if cmd == "torture":
        from splice.tools import torture

        return torture.main(rest)
    print(f"python -m splice: unknown command {cmd!r}; try one of: {', '.join(COMMANDS)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
