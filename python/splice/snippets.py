"""Snippet text -> AST: parsing, the checks every snippet must pass, and
``variables=`` renaming.

A snippet is what a user gives a breakpoint as text (``cond``, ``eval``,
``exec``). Here it becomes AST statements, with errors that name the snippet
(:func:`snippet_label`): a syntax error, ``return``/``yield``/``await``
(which would act on the target function, not the snippet), and
``variables=`` names the snippet binds or reads where a constant cannot
reach. :mod:`splice.template` then compiles the statements in the target's
scope.
"""

from __future__ import annotations

import ast
import keyword
import sys
import textwrap
from collections.abc import Mapping, Sequence
from types import CodeType
from typing import Any, Union

from splice.errors import SnippetError, SnippetSyntaxError

__all__ = [
    "check_snippet",
    "is_identifier",
    "parse_expression",
    "parse_statements",
    "rename_variables",
    "snippet_label",
    "syntax_error",
]

_MINOR = sys.version_info[1]


def is_identifier(name: str) -> bool:
    """Whether ``name`` can be a Python variable name (not a keyword)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def snippet_label(kind: str, text: Union[str, bytes, CodeType, None], limit: int = 60) -> str:
    """A short human-readable name of a snippet: ``exec('x += 1')``."""
    if isinstance(text, CodeType):
        shown = f"<code object {text.co_name}>"
        return f"{kind}({shown})" if kind != "cond" else f"cond={shown}"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    s = " ".join((text or "").strip().split())
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return f"{kind}({s!r})" if kind != "cond" else f"cond={s!r}"


def _source_text(text: Union[str, bytes], label: str) -> str:
    """``text`` as a str (bytes must be UTF-8); errors name the snippet."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SnippetError(f"{label}: the bytes are not UTF-8 text ({e})") from None
    if not isinstance(text, str):
        raise TypeError(f"{label}: expected str, bytes or a code object, not {type(text).__name__}")
    return text


def syntax_error(label: str, e: SyntaxError) -> SnippetSyntaxError:
    """A :class:`SnippetSyntaxError` (a :class:`SnippetError` and a
    :class:`SyntaxError`) for a syntax error in the snippet ``label``, with
    the position in the snippet's text."""
    where = f" (snippet line {e.lineno})" if e.lineno else ""
    return SnippetSyntaxError(
        f"{label}: {e.msg}{where}",
        e.lineno,
        e.offset,
        e.text,
        getattr(e, "end_lineno", None),
        getattr(e, "end_offset", None),
    )


def parse_expression(text: Union[str, bytes], label: str) -> ast.expr:
    """Parse an expression snippet (``eval``, ``cond``); errors name the snippet."""
    src = _source_text(text, label).strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise syntax_error(label, e) from None
    return tree.body


def parse_statements(text: Union[str, bytes], label: str) -> list[ast.stmt]:
    """Parse a statement snippet (``exec``), dedented; errors name the snippet."""
    src = textwrap.dedent(_source_text(text, label))
    try:
        tree = ast.parse(src, mode="exec")
    except SyntaxError as e:
        raise syntax_error(label, e) from None
    if not tree.body:
        return [ast.Pass(lineno=1, col_offset=0, end_lineno=1, end_col_offset=0)]
    return tree.body


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


_NESTED_TYPES = frozenset(_NESTED_SCOPES)


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """The direct children of ``node``, as :func:`ast.iter_child_nodes`
    gives them, in a list built without its generators (every first probe
    of a function walks its snippet more than once)."""
    out: list[ast.AST] = []
    for field in node._fields:
        v = getattr(node, field, None)
        if type(v) is list:
            out.extend(c for c in v if isinstance(c, ast.AST))
        elif isinstance(v, ast.AST):
            out.append(v)
    return out


def _walk_own(node: ast.AST) -> list[ast.AST]:
    """Nodes of ``node`` that run in the same frame (not inside nested
    functions, lambdas or classes; comprehensions are entered: their ``await``
    would await in the target)."""
    out: list[ast.AST] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        for child in child_nodes(n):
            if type(child) not in _NESTED_TYPES:
                stack.append(child)
            # decorators, defaults and bases do run in this frame
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.extend(child.decorator_list)
                stack.extend(child.args.defaults)
                stack.extend(d for d in child.args.kw_defaults if d is not None)
            elif isinstance(child, ast.Lambda):
                stack.extend(child.args.defaults)
                stack.extend(d for d in child.args.kw_defaults if d is not None)
            elif isinstance(child, ast.ClassDef):
                stack.extend(child.decorator_list)
                stack.extend(child.bases)
                stack.extend(k.value for k in child.keywords)
    return out


#: what a snippet cannot contain, by node type ({t}: the target's name)
_REFUSED = {
    ast.Return: "`return` (it would return from {t})",
    ast.Yield: "`yield` (it would turn the snippet into a generator step of {t})",
    ast.YieldFrom: "`yield` (it would turn the snippet into a generator step of {t})",
    ast.Await: "`await` (it would suspend {t})",
    ast.AsyncFor: "`async for` (it awaits, which would suspend {t})",
    ast.AsyncWith: "`async with` (it awaits, which would suspend {t})",
}


def check_snippet(stmts: Sequence[ast.stmt], label: str, target: str) -> None:
    """Reject constructs that cannot run as if typed at a line of ``target``:
    ``return``, ``yield``, ``yield from``, ``await`` (also ``async for``,
    ``async with`` and async comprehensions)."""
    for n in _walk_own(ast.Module(body=list(stmts), type_ignores=[])):
        what = _REFUSED.get(type(n))
        if what is None and type(n) is ast.comprehension and n.is_async:
            what = "an async comprehension (it awaits, which would suspend {t})"
        if what:
            raise SnippetError(
                f"{label}: a snippet cannot contain " + what.format(t=target)
                + "; splice runs snippets inline in the function's own frame"
            )


def rename_variables(
    stmts: Sequence[ast.stmt],
    variables: Mapping[str, Any],
    prefix: str,
    label: str,
) -> dict[str, Any]:
    """Replace each load of a ``variables=`` name in ``stmts`` (in place) by a
    hook name ``<prefix><name>``; return ``{hook name: value}``.

    A snippet that binds such a name (assignment, ``del``, ``global``, a loop or
    comprehension target, a lambda argument) is rejected, and so is a use inside
    a nested scope (a lambda, a generator expression, a nested def, and on 3.11
    any comprehension), where the value could not be a constant of the frame's
    code.
    """
    if not variables:
        return {}
    for name in variables:
        if not isinstance(name, str) or not is_identifier(name):
            raise SnippetError(f"{label}: variables= keys must be identifiers, not {name!r}")
    names = set(variables)
    nested = _NESTED_SCOPES + ((ast.GeneratorExp,) if _MINOR >= 12 else _COMPREHENSIONS)

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            d = depth + 1 if isinstance(child, nested) else depth
            if isinstance(child, ast.Name) and child.id in names:
                if not isinstance(child.ctx, ast.Load):
                    raise SnippetError(
                        f"{label}: the snippet assigns or deletes {child.id!r}, which is "
                        f"given in variables=; variables are read-only inputs"
                    )
                if d > 0:
                    raise SnippetError(
                        f"{label}: variables= name {child.id!r} is used inside a lambda, "
                        f"nested function or comprehension of the snippet, which cannot "
                        f"read it; use it outside (e.g. bind it to a local first)"
                    )
                child.id = prefix + child.id
            elif isinstance(child, (ast.Global, ast.Nonlocal)) and names & set(child.names):
                raise SnippetError(
                    f"{label}: the snippet declares {sorted(names & set(child.names))[0]!r} "
                    f"global/nonlocal, but it is given in variables="
                )
            elif isinstance(child, ast.arg) and child.arg in names:
                raise SnippetError(
                    f"{label}: the snippet rebinds {child.arg!r} (an argument of a lambda or "
                    f"nested function), which is given in variables="
                )
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
                child.name in names
            ):
                raise SnippetError(
                    f"{label}: the snippet defines {child.name!r}, which is given in variables="
                )
            elif isinstance(child, ast.alias) and (child.asname or child.name).split(".")[0] in names:
                raise SnippetError(
                    f"{label}: the snippet imports {(child.asname or child.name)!r}, which is "
                    f"given in variables="
                )
            visit(child, d)

    for stmt in stmts:
        visit(ast.Module(body=[stmt], type_ignores=[]), 0)
    return {prefix + k: v for k, v in variables.items()}
