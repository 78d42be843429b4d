"""Command-line parsing for ``python -m splice run`` and ``show``.

``--break`` starts a probe group; the ``--line``, ``--cond``, ``--eval`` and
``--exec`` that follow it belong to it (``--eval``/``--exec`` run in the
order given). ``run``'s options end at the script (or ``-m MODULE``):
everything after it is the script's own arguments, as with ``python -m pdb``.
Errors exit with status 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Optional, Union

from splice.cli.targets import TargetSpec, TargetSpecError, parse_line, parse_target

__all__ = ["ProbeSpec", "RunOptions", "ShowOptions", "parse_run_args", "parse_show_args"]


@dataclass
class ProbeSpec:
    """One ``--capture`` or ``--break`` group."""

    kind: str  # "capture" | "break"
    target: TargetSpec
    index: int = 0  # 1-based, in command-line order
    line: Union[int, str, None] = None
    cond: Optional[str] = None
    actions: list[tuple[str, str]] = field(default_factory=list)  # ("eval" | "exec", text)

    @property
    def evals(self) -> list[str]:
        """The ``--eval`` expressions, in order."""
        return [t for k, t in self.actions if k == "eval"]

    def describe(self) -> str:
        """The group as it would be typed (for the summary)."""
        out = f"--{self.kind} {self.target.text}"
        if self.line is not None:
            out += f" --line {self.line!r}" if isinstance(self.line, str) else f" --line {self.line}"
        if self.cond is not None:
            out += f" --cond {self.cond!r}"
        for k, t in self.actions:
            out += f" --{k} {t!r}"
        return out


@dataclass
class RunOptions:
    """Parsed ``run`` arguments."""

    probes: list[ProbeSpec]
    script: Optional[str]  # path, or None with -m
    module: Optional[str]
    args: list[str]
    json: Optional[str] = None
    pickle: Optional[str] = None
    max_calls: int = 100
    width: int = 120
    show: int = 3
    quiet: bool = False
    out_dir: Optional[str] = None  # per-process record files (None: a temporary directory)
    follow_children: bool = True


@dataclass
class ShowOptions:
    """Parsed ``show`` arguments."""

    probe: ProbeSpec
    count_hits: bool = False
    context: Optional[int] = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # prefix like the other subcommands
        self.print_usage(sys.stderr)
        self.exit(2, f"python -m splice {self.prog.split()[-1]}: error: {message}\n")


def _target(text: str) -> TargetSpec:
    try:
        return parse_target(text)
    except TargetSpecError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _line(text: str) -> Union[int, str]:
    try:
        return parse_line(text)
    except TargetSpecError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _Group(argparse.Action):
    """Append to / start a probe group in ``namespace.probes``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        value: Any,
        option_string: Optional[str] = None,
    ) -> None:
        probes = namespace.probes
        if probes is None:
            probes = namespace.probes = []
        opt = option_string or self.dest
        if opt in ("--capture", "--break"):
            probes.append(ProbeSpec(opt[2:], value, index=len(probes) + 1))
            return
        if not probes or probes[-1].kind != "break":
            raise argparse.ArgumentError(self, "must follow a --break TARGET (it belongs to that breakpoint)")
        cur = probes[-1]
        if opt == "--line":
            if cur.line is not None:
                raise argparse.ArgumentError(self, f"given twice for {cur.target.text}; use one --break per line")
            cur.line = value
        elif opt == "--cond":
            if cur.cond is not None:
                raise argparse.ArgumentError(self, f"given twice for {cur.target.text}; combine them with 'and'")
            cur.cond = value
        else:
            cur.actions.append((opt[2:], value))


def _add_probe_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("probes (repeatable; --line/--cond/--eval/--exec belong to the --break before them)")
    g.add_argument("--capture", metavar="TARGET", type=_target, action=_Group, dest="probes",
                   help="record every call of the function: arguments, locals, return value or exception")
    g.add_argument("--break", metavar="TARGET", type=_target, action=_Group, dest="probes",
                   help="a breakpoint; TARGET is FILE.py:FUNC, MODULE:Class.method, or FILE.py/MODULE with --line")
    g.add_argument("--line", metavar="SPEC", type=_line, action=_Group, dest="probes",
                   help="line number or the source text of the line")
    g.add_argument("--cond", metavar="EXPR", action=_Group, dest="probes",
                   help="run the breakpoint's actions only when EXPR is true")
    g.add_argument("--eval", metavar="EXPR", action=_Group, dest="probes",
                   help="evaluate EXPR at the line; every value is kept and reported")
    g.add_argument("--exec", metavar="CODE", action=_Group, dest="probes",
                   help="run statements at the line (they may assign the function's locals)")


def _check(parser: argparse.ArgumentParser, probes: Sequence[ProbeSpec]) -> None:
    for p in probes:
        if p.kind == "capture" and p.target.qualname is None:
            parser.error(
                f"--capture {p.target.text}: name a function (FILE.py:FUNCTION or MODULE:FUNCTION)"
            )
        if p.kind == "break" and p.target.qualname is None and p.line is None:
            parser.error(f"--break {p.target.text}: a file or module target needs --line")


# options of `run` that take a value (to find where the script starts)
_RUN_VALUED = {"--capture", "--break", "--line", "--cond", "--eval", "--exec", "--json", "--pickle",
               "--max-calls", "--width", "--show", "--out-dir"}


def _run_parser() -> _Parser:
    p = _Parser(
        prog="python -m splice run",
        usage="python -m splice run [options] (script.py | -m module | DIR | app.zip) [args...]",
        description="Run a script as __main__ with splice probes set from the command line; "
        "print a summary of what they recorded at exit.",
        allow_abbrev=False,
    )
    _add_probe_options(p)
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", help="write what was recorded as JSON (schema: docs/cli.md)")
    o.add_argument("--pickle", metavar="FILE", help="write the raw captured values with pickle")
    o.add_argument("--max-calls", metavar="N", type=int, default=100,
                   help="keep at most N calls per --capture (all are counted; default 100)")
    o.add_argument("--width", metavar="N", type=int, default=120, help="cut value reprs to N characters (default 120)")
    o.add_argument("--show", metavar="N", type=int, default=3,
                   help="values/calls per probe shown in the summary (default 3; JSON has all)")
    o.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    c = p.add_argument_group("child processes (docs/cli.md)")
    c.add_argument("--out-dir", metavar="DIR",
                   help="write each process's records to DIR/KEY.splice-proc.json and keep them "
                   "(default: a temporary directory, removed after the report); "
                   "'python -m splice merge DIR...' merges the directories of several machines")
    c.add_argument("--no-follow-children", dest="follow_children", action="store_false",
                   help="set probes in this process only (by default every child Python process of the "
                   "same interpreter, forked or started, gets them and reports)")
    p.set_defaults(probes=None)
    return p


def parse_run_args(argv: Sequence[str]) -> RunOptions:
    """Parse ``run``'s arguments (exits with status 2 on an error)."""
    argv = list(argv)
    parser = _run_parser()
    script = module = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-m":
            if i + 1 >= len(argv):
                parser.error("-m needs a module name")
            module, rest = argv[i + 1], argv[i + 2:]
            break
        if a == "--":
            if i + 1 >= len(argv):
                parser.error("no script after --")
            script, rest = argv[i + 1], argv[i + 2:]
            break
        if a.startswith("-") and a != "-":
            i += 2 if (a in _RUN_VALUED and "=" not in a) else 1
            continue
        script, rest = a, argv[i + 1:]
        break
    ns = parser.parse_args(argv[:i])
    if script is None and module is None:
        parser.error("no script given: python -m splice run [options] script.py [args...] (or -m module)")
    probes = ns.probes or []
    _check(parser, probes)
    for name in ("max_calls", "width", "show"):
        if getattr(ns, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    if ns.out_dir is not None and not ns.follow_children:
        # the directory holds the record files of the processes a run follows;
        # this process's own records are reported at exit (and by --json)
        parser.error("--out-dir holds the record files of the processes run follows (for 'python -m splice "
                     "merge'); --no-follow-children writes none: use --json FILE for this process's records, "
                     "or drop --no-follow-children")
    return RunOptions(
        probes=probes, script=script, module=module, args=rest, json=ns.json, pickle=ns.pickle,
        max_calls=ns.max_calls, width=max(ns.width, 20), show=ns.show, quiet=ns.quiet,
        out_dir=ns.out_dir, follow_children=ns.follow_children,
    )


def parse_show_args(argv: Sequence[str]) -> ShowOptions:
    """Parse ``show``'s arguments (exits with status 2 on an error)."""
    p = _Parser(
        prog="python -m splice show",
        usage="python -m splice show TARGET (--line SPEC [--cond EXPR] [--eval EXPR]... [--exec CODE]... | --capture)",
        description="Print the target's bytecode before and after splice's rewrite as a unified diff "
        "('+' lines are injected). Nothing is run.",
        allow_abbrev=False,
    )
    p.add_argument("target", metavar="TARGET", type=_target,
                   help="FILE.py:FUNC, MODULE:Class.method, or FILE.py/MODULE with --line")
    p.add_argument("--capture", action="store_true", help="show the call-capture hooks instead of a breakpoint")
    p.add_argument("--line", metavar="SPEC", type=_line, help="line number or the source text of the line")
    p.add_argument("--cond", metavar="EXPR")
    p.add_argument("--eval", metavar="EXPR", action="append", dest="actions", type=lambda t: ("eval", t))
    p.add_argument("--exec", metavar="CODE", action="append", dest="actions", type=lambda t: ("exec", t))
    p.add_argument("--count-hits", action="store_true",
                   help="include the hit counter `run` adds to breakpoints that have no --eval")
    p.add_argument("-U", "--context", metavar="N", type=int, default=None,
                   help="lines of context around changes (default: the whole function)")
    ns = p.parse_args(list(argv))
    actions = ns.actions or []
    if ns.capture:
        if ns.line is not None or ns.cond is not None or actions:
            p.error("--capture takes no --line/--cond/--eval/--exec")
        probe = ProbeSpec("capture", ns.target, index=1)
    else:
        probe = ProbeSpec("break", ns.target, index=1, line=ns.line, cond=ns.cond, actions=actions)
    _check(p, [probe])
    return ShowOptions(probe=probe, count_hits=ns.count_hits, context=ns.context)
