#!/usr/bin/env python3
"""Differential check of the two ways a breakpoint's snippet is compiled
(splice.template: as text, or from its AST): the instrumented code objects
must be identical.

    .venv-3.13/bin/python scripts/template_paths_diff.py     # 3-9 min

For every function of twenty stdlib modules, on a quarter of its lines,
ten snippets (exec, a multi-line exec with a comprehension and a comment,
eval, a tuple eval, cond, callback, count_hits, a lambda, a private name)
are set as breakpoints twice, in two child processes: once as splice does
it and once with the text path turned off. Each instrumented code object is
reduced to a digest of its bytecode, constants (hooks by type), names,
variables, cells, free variables, exception table, line table, stack size
and flags; a refused line records its error. Prints the number of cases,
how many were instrumented and how many differ; exits 1 if any differs.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
import tempfile
import types
from typing import Any

MODULES = [
    "json.decoder", "argparse", "inspect", "dataclasses", "ast", "typing", "email.message",
    "asyncio.tasks", "collections", "functools", "re._parser", "pathlib", "tokenize", "difflib",
    "textwrap", "statistics", "fractions", "csv", "shlex", "heapq",
]
SNIPPETS = [
    ("exec", "{v} = {v}"),
    ("exec", "_t = 1\nif _t:\n    _u = [i for i in range(2)]\nelse:\n    _u = None  # comment"),
    ("exec", "print({v!r} if False else '', end='')"),
    ("eval", "{v}"),
    ("eval", "len(locals()), {v}"),
    ("cond", "{v} is not None"),
    ("callback", ""),
    ("count", "pass"),
    ("exec", "x = lambda: 0"),
    ("exec", "__y = 1"),
]


def _literal(c: Any) -> str:
    if isinstance(c, (int, float, complex, str, bytes, bool, type(None), type(...))):
        return repr(c)
    if isinstance(c, tuple):
        return "(" + ",".join(_literal(x) for x in c) + ")"
    if isinstance(c, types.CodeType):
        return "code:" + hashlib.sha1(c.co_code).hexdigest()
    return f"<{type(c).__name__}>"


def _digest(co: types.CodeType) -> str:
    parts = (co.co_code, [_literal(c) for c in co.co_consts], co.co_names, co.co_varnames,
             co.co_cellvars, co.co_freevars, co.co_exceptiontable, co.co_linetable,
             co.co_stacksize, co.co_flags)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _functions(module: types.ModuleType) -> list[types.FunctionType]:
    stack: list[Any] = list(vars(module).values())
    seen: set[int] = set()
    out = []
    while stack:
        v = stack.pop()
        if isinstance(v, type):
            if id(v) not in seen:
                seen.add(id(v))
                stack.extend(vars(v).values())
        elif isinstance(v, types.FunctionType) and v.__module__ == module.__name__:
            out.append(v)
    return out


def child(mode: str, out_path: str) -> None:
    import splice

    if mode == "ast":
        importlib.import_module("splice.breakpoint").build_snippet_lines = lambda *a, **k: None
    out: dict[str, str] = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for fn in _functions(module):
            code = fn.__code__
            if not code.co_varnames or not code.co_varnames[-1].isidentifier():
                continue
            v = code.co_varnames[-1]
            lines = sorted({ln for _, _, ln in code.co_lines() if ln and ln > code.co_firstlineno})
            for line in lines[:: max(1, len(lines) // 4)]:
                for i, (kind, text) in enumerate(SNIPPETS):
                    key = f"{name}:{code.co_qualname}:{line}:{i}"
                    snippet = text.format(v=v)
                    try:
                        with splice.breakpoint(fn, line=line, cond=snippet if kind == "cond" else None) as bp:
                            if kind == "eval":
                                bp.eval(snippet)
                            elif kind == "callback":
                                bp.callback(lambda view: None)
                            else:
                                bp.exec("pass" if kind == "cond" else snippet)
                                if kind == "count":
                                    bp.count_hits()
                            out[key] = _digest(fn.__code__)
                        if fn.__code__ is not code:
                            out[key] = "ERR code not restored"
                    except Exception as e:  # a refused line is part of the outcome
                        out[key] = f"ERR {type(e).__name__}: {e}"
    with open(out_path, "w") as f:
        json.dump(out, f)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for mode in ("text", "ast"):
            path = f"{tmp}/{mode}.json"
            subprocess.run([sys.executable, __file__, "--child", mode, path], check=True)
            with open(path) as f:
                results[mode] = json.load(f)
    text, ast_ = results["text"], results["ast"]
    differ = sorted(k for k in text.keys() | ast_.keys() if text.get(k) != ast_.get(k))
    done = sum(1 for v in text.values() if not v.startswith("ERR"))
    print(f"template paths, Python {sys.version.split()[0]}: {len(text)} cases, "
          f"{done} instrumented, {len(differ)} differ")
    for k in differ[:10]:
        print(f"  {k}: text {text.get(k, '-')[:100]} | ast {ast_.get(k, '-')[:100]}")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
