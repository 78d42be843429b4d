"""Statement lines where no probe can run, and why, in words.

Whether a 'line' event can fire on a line is decided by the rewriter's own
rule over the code object (``_native.event_lines``), so placement refuses
exactly the lines the rewriter would refuse. This module only explains a
refusal: it reads the interpreter's own ``ast`` of the source to say what
the statement is (a ``global``/``nonlocal`` declaration, code after a
``return``/``raise``/``continue``/``break``, the body of ``if False:`` or
``while 0:``, a constant expression statement, an ``assert`` under
``python -O``), and names the nearest lines of the function where a probe
can go.
"""

from __future__ import annotations

import ast
import functools
import sys
import weakref
from types import CodeType
from typing import Optional, Union

from splice import _native

__all__ = ["event_lines", "reason", "refusal"]

_TERMINAL = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_KEYWORD = {ast.Return: "return", ast.Raise: "raise", ast.Continue: "continue", ast.Break: "break"}


#: code object -> its event lines (weak: never keeps a code object alive)
_EVENT_LINES: weakref.WeakKeyDictionary[CodeType, frozenset[int]] = weakref.WeakKeyDictionary()


def event_lines(code: CodeType) -> frozenset[int]:
    """The lines of ``code`` where a probe would run."""
    try:
        return _EVENT_LINES[code]
    except KeyError:
        lines = _EVENT_LINES[code] = frozenset(_native.event_lines(code))
        return lines


@functools.lru_cache(maxsize=16)
def _tree(text: str) -> Optional[ast.Module]:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    """The statement lists directly inside ``node``."""
    out = []
    for field in ("body", "orelse", "finalbody"):
        value = getattr(node, field, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            out.append(value)
    for h in getattr(node, "handlers", []) or []:
        out.append(h.body)
    for c in getattr(node, "cases", []) or []:
        out.append(c.body)
    return out


def _path_to(tree: ast.Module, line: int) -> Optional[list[tuple[ast.AST, list[ast.stmt], int]]]:
    """(parent, body list, index) from the module down to the statement
    that starts on ``line``."""
    path: list[tuple[ast.AST, list[ast.stmt], int]] = []
    node: ast.AST = tree
    while True:
        for body in _bodies(node):
            for i, stmt in enumerate(body):
                end = getattr(stmt, "end_lineno", stmt.lineno) or stmt.lineno
                if stmt.lineno == line:
                    path.append((node, body, i))
                    return path
                start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
                if start <= line <= end:
                    path.append((node, body, i))
                    node = stmt
                    break
            else:
                continue
            break
        else:
            return None


def _leaves(body: list[ast.stmt]) -> bool:
    """Whether every path through ``body`` leaves it by a jump or a raise
    (so the statements after it get no code): a ``return``/``raise``/
    ``continue``/``break``, an ``if`` whose branches both leave, a ``try``
    whose ``finally`` leaves or whose body (or ``else``) and every handler
    leave, or a ``while True:`` with no ``break`` of its own."""
    return any(_stmt_leaves(s) for s in body)


def _stmt_leaves(stmt: ast.stmt) -> bool:
    if isinstance(stmt, _TERMINAL):
        return True
    if isinstance(stmt, ast.If):
        return bool(stmt.orelse) and _leaves(stmt.body) and _leaves(stmt.orelse)
    if isinstance(stmt, (ast.Try, ast.TryStar)):
        if _leaves(stmt.finalbody):
            return True
        return (_leaves(stmt.body) or _leaves(stmt.orelse)) and all(
            _leaves(h.body) for h in stmt.handlers
        )
    if isinstance(stmt, ast.While) and _truthy_constant(stmt.test):
        return not _breaks(stmt.body)
    return False


def _breaks(body: list[ast.stmt]) -> bool:
    """Whether a ``break`` in ``body`` leaves the loop it belongs to."""
    for s in body:
        if isinstance(s, ast.Break):
            return True
        if isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            if _breaks(s.orelse):
                return True
            continue
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if any(_breaks(b) for b in _bodies(s)):
            return True
    return False


def _falsy_constant(test: ast.expr) -> bool:
    if isinstance(test, ast.Constant):
        return not test.value
    if isinstance(test, ast.Name) and test.id == "__debug__":
        return sys.flags.optimize > 0
    return False


def _truthy_constant(test: ast.expr) -> bool:
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.Name) and test.id == "__debug__":
        return sys.flags.optimize == 0
    return False


def reason(text: str, line: int, code: Optional[CodeType] = None) -> str:
    """What the statement on ``line`` of the source ``text`` is, as the
    middle of a sentence ("is a `global` declaration, which runs no code");
    with ``code``, also where the statement's own instructions are when
    they are not on its first line."""
    tree = _tree(text)
    path = _path_to(tree, line) if tree is not None else None
    if not path:
        return "has no instruction where a line event fires"
    _, body, i = path[-1]
    stmt = body[i]
    # dead code: after a jump in the same block, or in a branch that is
    # constant false, at any level of nesting
    for parent, pbody, pi in reversed(path):
        for earlier in pbody[:pi]:
            if isinstance(earlier, _TERMINAL):
                kw = _KEYWORD[type(earlier)]
                return (
                    f"is unreachable: it comes after the `{kw}` on line {earlier.lineno}, so the "
                    f"compiler emits no code for it"
                )
            if _stmt_leaves(earlier):
                head = type(earlier).__name__.lower().replace("trystar", "try")
                return (
                    f"is unreachable: every path through the `{head}` on line {earlier.lineno} "
                    f"leaves by a return, raise, continue or break, so the compiler emits no "
                    f"code for it"
                )
        try_types = (ast.Try, getattr(ast, "TryStar", ast.Try))
        if isinstance(parent, try_types) and pbody is parent.orelse:
            jump = next((st for st in parent.body if isinstance(st, _TERMINAL)), None)
            if jump is not None:
                kw = _KEYWORD[type(jump)]
                return (
                    f"is unreachable: it is in the `else` of a `try` whose body always leaves "
                    f"by the `{kw}` on line {jump.lineno}, so the compiler emits no code for it"
                )
        if isinstance(parent, (ast.If, ast.While)):
            in_body = pbody is parent.body
            dead = _falsy_constant(parent.test) if in_body else (
                isinstance(parent, ast.If) and _truthy_constant(parent.test)
            )
            if dead:
                head = "if" if isinstance(parent, ast.If) else "while"
                cond = ast.unparse(parent.test)
                where = "the body" if in_body else "the `else` branch"
                return (
                    f"is in {where} of `{head} {cond}:` on line {parent.lineno}, which the "
                    f"compiler removes"
                )
    if isinstance(stmt, (ast.Global, ast.Nonlocal)):
        kw = "global" if isinstance(stmt, ast.Global) else "nonlocal"
        return f"is a `{kw}` declaration, which runs no code"
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return "is a constant expression statement, which the compiler removes"
    if isinstance(stmt, ast.Assert) and sys.flags.optimize:
        return "is an `assert`, which `python -O` removes"
    if isinstance(stmt, ast.Pass):
        return "is a `pass` the compiler left no instruction for"
    if code is not None:
        end = getattr(stmt, "end_lineno", None) or stmt.lineno
        own = sorted({ln for *_, ln in code.co_lines() if ln is not None and line < ln <= end})
        if own:
            return (
                f"starts a statement whose code is on line {own[0]}, not on its first line "
                f"(a line event for line {line} never fires)"
            )
    return "has no instruction where a line event fires"


def refusal(
    code: CodeType, text: str, filename: str, lines: list[int], candidates: list[int], spec: Union[int, str]
) -> str:
    """The message for a line spec whose statement ``lines`` of ``code``
    have none where a probe can go; ``candidates`` are all of the
    function's statement lines (for the nearest alternatives)."""
    events = event_lines(code)
    name = getattr(code, "co_qualname", code.co_name)
    line = lines[0]
    what = f"line {line}" if isinstance(spec, int) else f"line {line} ({spec.strip()!r})"
    usable = sorted(ln for ln in candidates if ln in events)
    before = [ln for ln in usable if ln < line]
    after = [ln for ln in usable if ln > line]
    near = ([before[-1]] if before else []) + ([after[0]] if after else [])
    if len(near) == 2:
        hint = f"the nearest lines where a probe can go are {near[0]} and {near[1]}"
    elif near:
        hint = f"the nearest line where a probe can go is {near[0]}"
    else:
        hint = "no statement of it can hold a probe; use line=None to stop when it is entered"
    return f"{filename}: {what} of {name} {reason(text, line, code)}, so a probe there would never run; {hint}"
