"""Differential test: splice-locate against CPython's own ``ast`` (the oracle).

For every ``.py`` file of the running interpreter's standard library (not
site-packages):

1. Statements. For the module and for every ``def``/``class`` in it, the
   statement start lines that ``LocateIndex.statement_lines`` reports, each with
   its owning code object ``(co_firstlineno, co_name)``, must equal those
   computed from ``ast``:

   - a statement's line is its ``ast`` ``lineno`` (for a decorated def/class,
     the ``def``/``class`` line, not a decorator's);
   - its owner is the innermost enclosing ``def``/``class`` (or the module),
     named by ``co_firstlineno`` (the first decorator's line, if any) and the
     name; lambdas and comprehensions hold no statements;
   - docstrings (a leading string-constant expression statement of a module,
     def or class body) are not statements.

2. Line numbers. Every line of the file, located in the whole file, succeeds
   exactly on the oracle's statement lines and names the oracle's owners; every
   statement line of every def/class, located in that scope, returns it.

3. Line texts. The first line of each statement, given as text in its owner's
   scope, finds that statement.

4. Code objects. Every code object ``compile()`` makes from the file (module,
   functions, classes, lambdas, comprehensions, genexprs) is found by its
   ``co_firstlineno``/``co_name``, and every line its ``co_lines()`` reports is
   one where the source has code of it (``check_code_lines``: the stale-source
   check must not fire on fresh source).

Prints ``locate-vs-ast: F files, S statements, M mismatches`` and the count of
files the interpreter itself cannot parse (skipped). Exit status 1 on any
mismatch. Run directly (``python tests/locate_vs_ast.py [--every N [--start I]]
[paths...]``: every N-th file from the I-th) or via ``tests/test_locate_vs_ast.py``.
"""

from __future__ import annotations

import ast
import concurrent.futures
import gc
import os
import sys
import sysconfig
import time
import tokenize
import warnings
from pathlib import Path
from types import CodeType

from splice import _native
from splice.locate import Source, _block_index, _part_index

MINOR = sys.version_info[1]
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
SCOPES = (ast.Module, *DEFS)
# Code objects that are not a def, class, lambda, comprehension or genexpr
# (PEP 695 annotation scopes and `type` alias values): no line spec names them.
EXPRESSION_CODE_NAMES = {"<lambda>", "<genexpr>", "<listcomp>", "<setcomp>", "<dictcomp>"}


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "dist-packages", "__pycache__"))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
    return out


def is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def owner_key(node: ast.AST) -> tuple[int, str]:
    if isinstance(node, ast.Module):
        return (1, "<module>")
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    return (first, node.name)


STMT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def oracle(tree: ast.Module) -> dict[tuple[int, str], list[tuple[int, int, str]]]:
    """For the module and every def/class (by owner key): the sorted
    (line, owner_firstlineno, owner_name) of every statement inside it."""
    scopes: dict[tuple[int, str], list[tuple[int, int, str]]] = {owner_key(tree): []}

    def visit(node: ast.AST, owner: tuple[int, str], chain: list[list]) -> None:
        skip = None
        if isinstance(node, SCOPES) and node.body and is_docstring(node.body[0]):
            skip = node.body[0]
        for field in STMT_FIELDS:
            children = getattr(node, field, None)
            if not isinstance(children, list):
                continue
            for child in children:
                if isinstance(child, ast.stmt):
                    if child is skip:
                        continue
                    entry = (child.lineno, *owner)
                    for bucket in chain:
                        bucket.append(entry)
                    if isinstance(child, DEFS):
                        key = owner_key(child)
                        bucket = scopes.setdefault(key, [])
                        visit(child, key, chain + [bucket])
                    else:
                        visit(child, owner, chain)
                else:  # ExceptHandler, match_case
                    visit(child, owner, chain)

    visit(tree, owner_key(tree), [scopes[owner_key(tree)]])
    return {k: sorted(set(v)) for k, v in scopes.items()}


def code_objects(code: CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from code_objects(const)


class Differ:
    def __init__(self, verbose: bool = False) -> None:
        self.files = 0
        self.statements = 0
        self.skipped: list[str] = []
        self.mismatches = 0
        self.codes_checked = 0
        self.own_checked = self.own_fallbacks = self.part_checked = self.part_fallbacks = 0
        self.block_checked = self.block_fallbacks = 0
        self.details: list[str] = []
        self.verbose = verbose

    def mismatch(self, path: Path, what: str) -> None:
        self.mismatches += 1
        if len(self.details) < 40:
            self.details.append(f"{path}: {what}")

    def run_file(self, path: Path) -> None:
        try:
            with tokenize.open(path) as f:
                source = f.read()
            tree = ast.parse(source, str(path))
        except (SyntaxError, ValueError, UnicodeDecodeError, LookupError):
            self.skipped.append(str(path))
            return
        self.files += 1
        try:
            ix = _native.LocateIndex(source)
        except _native.LocateFailure as e:
            self.mismatch(path, f"splice-locate cannot parse a file Python parses: {e}")
            return

        # 1. statements per scope
        expected = oracle(tree)
        whole = expected[(1, "<module>")]
        self.statements += len(whole)
        per_owner: dict[tuple[int, str], list[int]] = {}
        for line, fl, name in whole:
            per_owner.setdefault((fl, name), []).append(line)
        for (fl, name), want in expected.items():
            try:
                got = sorted(set(ix.statement_lines(fl, name, MINOR)))
            except _native.LocateFailure as e:
                self.mismatch(path, f"scope {name!r} line {fl}: {e}")
                continue
            if got != want:
                diff = sorted(set(got) ^ set(want))[:6]
                self.mismatch(path, f"scope {name!r} line {fl}: statement lines differ: {diff}")
        got_file = sorted(set(ix.statement_lines(None, None, MINOR)))
        if got_file != whole:
            self.mismatch(path, f"file statement lines differ: {sorted(set(got_file) ^ set(whole))[:6]}")

        # 2. line numbers, whole file
        owners_at: dict[int, set[tuple[int, str]]] = {}
        for line, fl, name in whole:
            owners_at.setdefault(line, set()).add((fl, name))
        for line in range(1, ix.line_count + 1):
            try:
                got_owners = {(fl, name) for _, fl, name in ix.locate(None, None, line, MINOR)}
            except _native.LocateFailure as e:
                if line in owners_at:
                    self.mismatch(path, f"line {line} is a statement line but: {e}")
                continue
            if got_owners != owners_at.get(line, set()):
                self.mismatch(path, f"line {line}: owners {got_owners} != {owners_at.get(line)}")
        # ... and in each def/class scope
        lines = source.split("\n")  # tokenize.open() gives universal newlines
        for (fl, name), own in per_owner.items():
            if name == "<module>":
                continue
            for line in own:
                try:
                    got = ix.locate(fl, name, line, MINOR)
                except _native.LocateFailure as e:
                    self.mismatch(path, f"{name!r} line {line}: {e}")
                    continue
                if got != [(line, fl, name)]:
                    self.mismatch(path, f"{name!r} line {line}: got {got}")
                # 3. line texts
                text = lines[line - 1].strip() if line <= len(lines) else ""
                try:
                    got = ix.locate(fl, name, text, MINOR)
                except _native.LocateFailure as e:
                    self.mismatch(path, f"{name!r} text {text!r}: {e}")
                    continue
                stray = [g for g in got if (g[1], g[2]) != (fl, name) or g[0] not in own]
                if (line, fl, name) not in got or stray:
                    self.mismatch(path, f"{name!r} text {text!r} (line {line}): got {got}")

        # 4. code objects vs co_lines()
        try:
            module_code = compile(tree, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return  # e.g. `return` outside a function: ast parses it, compile does not
        def_keys = set(expected)
        for code in code_objects(module_code):
            key = (code.co_firstlineno, code.co_name)
            if key not in def_keys and code.co_name not in EXPRESSION_CODE_NAMES and code.co_name != "<module>":
                continue  # annotation scope or type alias value
            co_lines = sorted({l for *_, l in code.co_lines() if l is not None})
            try:
                ix.check_code_lines(code.co_firstlineno, code.co_name, co_lines, MINOR)
                self.codes_checked += 1
            except _native.LocateFailure as e:
                self.mismatch(path, f"code {code.co_name!r} line {code.co_firstlineno}: {e}")
                continue
            if code.co_name != "<module>":
                self.check_parts(path, source, ix, code, set(co_lines))

    def check_parts(self, path: Path, source: str, ix: object, code: CodeType, want: set[int]) -> None:
        """5. The smaller texts splice.locate answers from before the whole
        file: the code object's own text (``LocateIndex.own_text``) compiles
        to the same lines, and the indexes of its own ``def`` and of its
        top-level statement give the same statement lines and accept the
        running code."""
        fl, name = code.co_firstlineno, code.co_name
        qualname = getattr(code, "co_qualname", name)
        own = ix.own_text(fl, name, MINOR)
        if own is not None:
            try:
                again = compile(own, str(path), "exec", code.co_flags & _native.FUTURE_FLAGS, dont_inherit=True)
            except (SyntaxError, ValueError):
                self.own_fallbacks += 1  # e.g. a nonlocal of a dropped line: splice compiles more
            else:
                found = [c for c in code_objects(again)
                         if (c.co_firstlineno, c.co_name, getattr(c, "co_qualname", c.co_name)) == (fl, name, qualname)]
                lines = [{ln for *_, ln in c.co_lines() if ln is not None} for c in found]
                if want in lines:
                    self.own_checked += 1
                elif found:
                    self.mismatch(path, f"own text of {qualname!r} line {fl} compiles to other lines: "
                                        f"{sorted(lines[0] ^ want)[:6]}")
                else:
                    self.own_fallbacks += 1
        for part_of, kind in ((_block_index, "block"), (_part_index, "part")):
            part = part_of(Source(str(path), source), code)
            if part is None:
                continue
            try:
                got = part.statement_lines(fl, name, MINOR)
                part.check_code_lines(fl, name, sorted(want), MINOR)
            except _native.LocateFailure:
                setattr(self, f"{kind}_fallbacks", getattr(self, f"{kind}_fallbacks") + 1)  # a larger text then
                continue
            if got != ix.statement_lines(fl, name, MINOR):
                what = "own def" if kind == "block" else "top-level statement"
                self.mismatch(path, f"{what} index of {qualname!r} line {fl}: other statement lines")
            else:
                setattr(self, f"{kind}_checked", getattr(self, f"{kind}_checked") + 1)

    def report(self) -> str:
        return (
            f"locate-vs-ast: {self.files} files, {self.statements} statements, "
            f"{self.mismatches} mismatches"
        )


def _run_chunk(paths: list[str]) -> Differ:
    warnings.simplefilter("ignore")  # SyntaxWarnings from test files
    gc.disable()  # ast trees have no cycles; collecting slows parsing down
    d = Differ()
    for path in paths:
        d.run_file(Path(path))
    gc.enable()
    return d


def main(argv: list[str]) -> int:
    every, first = 1, 0
    if argv[:1] == ["--every"]:  # a deterministic sample: every N-th file by path
        every, argv = int(argv[1]), argv[2:]
    if argv[:1] == ["--start"]:  # ... starting at this index
        first, argv = int(argv[1]), argv[2:]
    paths = [Path(a) for a in argv] if argv else stdlib_files()
    paths = sorted(paths)[first::every]
    start = time.perf_counter()
    # Biggest files first, spread over the machine's cores.
    paths.sort(key=lambda p: -p.stat().st_size)
    workers = max(1, min(os.cpu_count() or 1, 8))
    chunks = [[str(p) for p in paths[i::workers * 8]] for i in range(workers * 8)]
    total = Differ()
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
        for d in pool.map(_run_chunk, chunks):
            total.files += d.files
            total.statements += d.statements
            total.skipped += d.skipped
            total.mismatches += d.mismatches
            total.codes_checked += d.codes_checked
            total.own_checked += d.own_checked
            total.own_fallbacks += d.own_fallbacks
            total.part_checked += d.part_checked
            total.part_fallbacks += d.part_fallbacks
            total.block_checked += d.block_checked
            total.block_fallbacks += d.block_fallbacks
            total.details += d.details
    for line in total.details[:40]:
        print("  mismatch:", line)
    print(total.report() + (f" (sample: 1 file in {every}, from file {first})" if every > 1 else ""))
    print(
        f"locate-vs-ast: skipped {len(total.skipped)} files that Python "
        f"{sys.version_info[0]}.{MINOR} itself cannot parse; "
        f"checked {total.codes_checked} code objects' co_lines(); "
        f"{time.perf_counter() - start:.1f}s on {workers} processes"
    )
    print(
        f"locate-vs-ast: own texts compiled to the same lines for {total.own_checked} code objects "
        f"({total.own_fallbacks} did not compile alone); own def indexes agreed for "
        f"{total.block_checked} ({total.block_fallbacks} could not answer), top-level statement indexes for "
        f"{total.part_checked} ({total.part_fallbacks} could not answer)"
    )
    return 1 if total.mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
