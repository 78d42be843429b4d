"""Probes for code that has not run yet: the script itself, and ``show``.

The functions of the script being run do not exist until its module code
defines them, and ``show`` should not run anything. Both compile the file and
make every function code object in it *live* with a stand-in function object
(never called) so splice's ordinary resolve/plan/instrument pipeline can
target it. For ``run``, the instrumented code objects are then put back into
the module code's constants (and those of class bodies), so the functions
the script defines are created with the probes already in them: no trace
function, no import-time race, and calls made at module level are seen.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from types import CodeType, FunctionType
from typing import Any

from splice._native import CO_OPTIMIZED

__all__ = ["all_codes", "compile_file", "function_codes", "stand_ins", "rebuild"]


def compile_file(path: str) -> CodeType:
    """Compile ``path`` as Python does for ``python path`` (source bytes, so
    the encoding declaration is honoured; no flags inherited from splice)."""
    with open(path, "rb") as f:
        source = f.read()
    return compile(source, path, "exec", dont_inherit=True)


def _walk(code: CodeType) -> Iterator[CodeType]:
    stack = [code]
    while stack:
        c = stack.pop()
        yield c
        stack.extend(k for k in reversed(c.co_consts) if type(k) is CodeType)


def all_codes(module_code: CodeType) -> list[CodeType]:
    """``module_code`` and every code object nested in it (functions, class
    bodies, comprehensions)."""
    return list(_walk(module_code))


def function_codes(module_code: CodeType) -> list[CodeType]:
    """Every function code object nested in ``module_code`` (class and module
    bodies excluded: splice only instruments functions)."""
    return [c for c in _walk(module_code) if c is not module_code and c.co_flags & CO_OPTIMIZED]


def stand_ins(module_code: CodeType, globals_: dict[str, Any]) -> list[FunctionType]:
    """One function object per function code object, so
    :func:`splice.resolve.resolve` finds them; they are never called. Keep the
    list alive for as long as the probes are planned."""
    out = []
    for c in function_codes(module_code):
        closure = tuple(types.CellType() for _ in c.co_freevars) or None
        out.append(FunctionType(c, globals_, c.co_name, None, closure))
    return out


def rebuild(module_code: CodeType, current: Callable[[CodeType], CodeType]) -> CodeType:
    """``module_code`` with each nested code object ``c`` replaced by
    ``current(c)`` (the instrumented copy, or ``c`` itself), parents rebuilt
    with ``code.replace(co_consts=...)`` as needed."""

    def visit(code: CodeType) -> CodeType:
        base = current(code)
        consts = base.co_consts
        new = tuple(visit(k) if type(k) is CodeType else k for k in consts)
        if any(a is not b for a, b in zip(new, consts, strict=True)):
            base = base.replace(co_consts=new)
        return base

    return visit(module_code)
