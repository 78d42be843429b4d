"""`python -m splice doctor`: prove the bytecode model on this interpreter.

Every code object reachable from the standard library and the installed
site-packages (compiled from source, nested code objects found through
``co_consts``) is decoded into splice's model and assembled again without
changes. The result must be byte-identical to what CPython produced:
``co_code``, ``co_exceptiontable``, ``co_linetable`` and ``co_stacksize``.
A difference means splice's tables or assembler disagree with CPython's and
must not be trusted to rewrite anything on this interpreter.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
import warnings
from collections.abc import Iterator
from types import CodeType

from splice._native import testing
from splice.errors import RewriteError


def source_roots() -> list[str]:
    """The stdlib and site-packages directories of the running interpreter."""
    paths = sysconfig.get_paths()
    roots = []
    for key in ("stdlib", "purelib", "platlib"):
        p = paths.get(key)
        if p and os.path.isdir(p) and p not in roots:
            roots.append(p)
    return roots


def python_files(roots: list[str]) -> Iterator[str]:
    """Every .py file under `roots`, in a stable order (site-packages of a
    stdlib root are walked as their own root, not twice)."""
    seen: set[str] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            if dirpath != root and os.path.abspath(dirpath) in (os.path.abspath(r) for r in roots):
                dirnames[:] = []
                continue
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    real = os.path.realpath(path)
                    if real not in seen:
                        seen.add(real)
                        yield path


def code_objects(code: CodeType) -> Iterator[CodeType]:
    """`code` and every code object nested in its constants."""
    stack = [code]
    while stack:
        c = stack.pop()
        yield c
        stack.extend(k for k in reversed(c.co_consts) if isinstance(k, CodeType))


def run(roots: list[str], limit: int | None, verbose: bool) -> int:
    """Check every code object under `roots`; print a summary, return the exit status."""
    n = mismatches = errors = files = unparsable = 0
    start = time.monotonic()
    for path in python_files(roots):
        try:
            with open(path, "rb") as f:
                source = f.read()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                top = compile(source, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
            unparsable += 1
            continue
        files += 1
        for code in code_objects(top):
            n += 1
            where = f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
            try:
                diff = testing.roundtrip_mismatch(code)
            except RewriteError as e:
                errors += 1
                print(f"error: {where}: {e}")
                continue
            if diff is not None:
                mismatches += 1
                print(f"mismatch: {where}: {diff}")
            if limit is not None and n >= limit:
                break
        if limit is not None and n >= limit:
            break
        if verbose and files % 500 == 0:
            print(f"  ... {files} files, {n} code objects", file=sys.stderr)
    elapsed = time.monotonic() - start
    if files == 0 and unparsable == 0:
        # a success here would say the code was checked
        where = ", ".join(roots)
        print(f"python -m splice doctor: error: no .py file under {where}: nothing to check", file=sys.stderr)
        return 2
    print(
        f"python {sys.version.split()[0]}: {files} files ({unparsable} not compilable by this "
        f"interpreter, skipped) in {elapsed:.1f}s"
    )
    print(f"doctor: {n} code objects, {mismatches} mismatches, {errors} errors")
    return 0 if mismatches == 0 and errors == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m splice doctor`."""
    p = argparse.ArgumentParser(prog="python -m splice doctor", description=(__doc__ or "").splitlines()[0])
    p.add_argument("paths", nargs="*", help="directories to walk instead of stdlib + site-packages")
    p.add_argument("--limit", type=int, default=None, help="stop after this many code objects")
    p.add_argument("-v", "--verbose", action="store_true", help="print progress to stderr")
    args = p.parse_args(argv)
    return run(args.paths or source_roots(), args.limit, args.verbose)
