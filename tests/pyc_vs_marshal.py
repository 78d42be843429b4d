"""Differential test: splice-pyc's ``PycIndex`` against CPython's ``marshal``.

``PycIndex`` reads a module's marshalled code without unmarshalling it and
says whether it holds a code object equal to another one (locate.py's
check that the source on disk is the text running code came from). The
oracle is ``marshal.loads`` and code object ``==``. For every ``.py`` file
of the running interpreter's standard library (or the paths given), with
the module compiled fresh and, where the file has one, its real ``.pyc``:

1. the index counts the code objects ``marshal.loads`` builds;
2. every one of them, dumped on its own by ``marshal.dumps`` (as locate.py
   dumps the running code), is held;
3. never held when ``==`` says no code object of that first line and names
   is equal: each code object with a constant added, with its first line
   moved, with another function's body under its name; and a changed file
   name is still held (``==`` ignores ``co_filename``, and the import system
   rewrites it).

Prints ``pyc-vs-marshal: F files, C code objects, M mismatches``; exit
status 1 on any mismatch. Run directly (``python tests/pyc_vs_marshal.py
[paths...]``) or via ``tests/test_pyc.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import marshal
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from types import CodeType

from splice import _native


def walk(code: CodeType) -> Iterator[CodeType]:
    seen: set[int] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        yield c
        stack.extend(k for k in c.co_consts if isinstance(k, CodeType))


def key(c: CodeType) -> tuple[int, str, str]:
    return (c.co_firstlineno, c.co_name, c.co_qualname)


#: how many variants were held / refused, so that the summary shows both happened
COUNTS = {"held": 0, "refused": 0}


def check_body(label: str, body: bytes, problems: list[str]) -> int:
    """Checks 1-3 on one marshalled module; returns its code object count."""
    module = marshal.loads(body)
    codes = list(walk(module))
    index = _native.PycIndex(body)
    if index.code_count != len(codes):
        problems.append(f"{label}: index counts {index.code_count} code objects, marshal {len(codes)}")
    by_key: dict[tuple[int, str, str], list[CodeType]] = {}
    for c in codes:
        by_key.setdefault(key(c), []).append(c)

    def expect(variant: str, c: CodeType, d: CodeType) -> None:
        want = any(d == x for x in by_key.get(key(d), ()))
        got = index.holds(marshal.dumps(d))
        COUNTS["held" if got else "refused"] += 1
        if got and not want:
            problems.append(f"{label}: {c.co_qualname} line {c.co_firstlineno}: {variant} held, but == finds none")
        if want and not got and variant in ("itself", "file name changed", "stack size changed"):
            problems.append(f"{label}: {c.co_qualname} line {c.co_firstlineno}: {variant} not held")

    for i, c in enumerate(codes):
        expect("itself", c, c)
        expect("file name changed", c, c.replace(co_filename=c.co_filename + ".moved"))
        expect("stack size changed", c, c.replace(co_stacksize=c.co_stacksize + 1))
        expect("a constant added", c, c.replace(co_consts=c.co_consts + (12345.5,)))
        expect("first line moved", c, c.replace(co_firstlineno=c.co_firstlineno + 1))
        other = codes[(i + 1) % len(codes)]
        if other is not c:
            expect("another body under its name", c,
                   other.replace(co_name=c.co_name, co_qualname=c.co_qualname, co_firstlineno=c.co_firstlineno))
    return len(codes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--every", type=int, default=1, help="check every n-th file")
    args = ap.parse_args(argv)
    roots = [Path(p) for p in args.paths] or [Path(sysconfig.get_paths()["stdlib"])]
    files = sorted(p for r in roots for p in ([r] if r.is_file() else r.rglob("*.py"))
                   if "site-packages" not in p.parts or args.paths)[:: args.every]
    problems: list[str] = []
    n_files = n_codes = real = 0
    for path in files:
        try:
            source = path.read_bytes()
            fresh = compile(source, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OSError):
            continue  # test data that does not compile here
        n_files += 1
        n_codes += check_body(f"{path} (compiled)", marshal.dumps(fresh), problems)
        pyc = Path(importlib.util.cache_from_source(str(path)))
        if pyc.is_file():
            data = pyc.read_bytes()
            if data[:4] == importlib.util.MAGIC_NUMBER and len(data) > 16:
                real += 1
                check_body(f"{pyc}", data[16:], problems)
    for p in problems[:40]:
        print("  mismatch:", p)
    print(f"pyc-vs-marshal: {n_files} files ({real} with a .pyc), {n_codes} code objects, "
          f"{COUNTS['held']} held, {COUNTS['refused']} refused, {len(problems)} mismatches")
    return 1 if problems or not COUNTS["held"] or not COUNTS["refused"] else 0


if __name__ == "__main__":
    sys.exit(main())
