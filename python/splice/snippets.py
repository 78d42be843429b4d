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
import functools
import keyword
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from types import CodeType
from typing import Any, Optional, Union

from splice import _native
from splice.errors import SnippetError, SnippetSyntaxError

__all__ = [
    "expression_lines",
    "is_identifier",
    "parse_expression",
    "parse_statements",
    "rename_variables",
    "snippet_label",
    "statement_lines",
    "survey",
    "syntax_error",
]

_MINOR = sys.version_info[1]


def is_identifier(name: str) -> bool:
    """Whether ``name`` can be a Python variable name (not a keyword)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def snippet_label(kind: str, text: object, limit: int = 60) -> str:
    """A short human-readable name of a snippet: ``exec('x += 1')``. The
    first thing each action does with its snippet, so a snippet of a wrong
    type is refused here (TypeError)."""
    if isinstance(text, CodeType):
        shown = f"<code object {text.co_name}>"
        return f"{kind}({shown})" if kind != "cond" else f"cond={shown}"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    elif not isinstance(text, str):
        what = f"{kind}()" if kind != "cond" else "cond="
        raise TypeError(f"{what} takes Python source as a str or bytes, or a code object; not {type(text).__name__}")
    s = " ".join(text.strip().split())
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
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SnippetError(
                f"{label}: the text holds {text[e.start]!r}, a lone surrogate, which is no "
                f"character of Python source; inside a string literal, write it as the escape "
                f"\\u{ord(text[e.start]):04x}"
            ) from None
    return text


def syntax_error(label: str, e: SyntaxError) -> SnippetSyntaxError:
    """A :class:`SnippetSyntaxError` (a :class:`SnippetError` and a
    :class:`SyntaxError`) for a syntax error in the snippet ``label``, with
    the position in the snippet's text."""
    where = f" (snippet line {e.lineno})" if e.lineno else ""
    msg = e.msg
    if msg.startswith(("lazy import not allowed", "lazy from ... import not allowed")):
        # 3.15 (PEP 810): the compiler names the template's try block, which
        # the user never wrote; what it refuses is a lazy import in a function
        form = "lazy from ... import" if msg.startswith("lazy from") else "lazy import"
        msg = f"{form} is allowed only at a module's top level, and a snippet runs in the function"
    elif msg in ("'break' outside loop", "'continue' not properly in loop"):
        # also on a line inside the target's loop: the snippet is compiled
        # on its own, so a loop of the function is not one of its own
        word = msg.split("'")[1]
        msg = (
            f"'{word}' outside a loop of the snippet: a snippet cannot {word} a loop of the "
            f"function it runs in, only a loop it contains itself"
        )
    return SnippetSyntaxError(
        f"{label}: {msg}{where}",
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


def statement_lines(text: Union[str, bytes], label: str) -> Optional[list[str]]:
    """A statement snippet's lines, dedented, for compiling as text
    (:class:`splice.template.TextSnippet`): what :func:`parse_statements`
    parses, unparsed; None when it has no statement line (the AST path makes
    it a ``pass``)."""
    dedented = textwrap.dedent(_source_text(text, label))
    if not _stands_alone(dedented, False):
        return None
    lines = dedented.split("\n")
    while lines and not lines[-1]:
        lines.pop()
    return lines or None


@functools.lru_cache(maxsize=256)
def _stands_alone(text: str, expression: bool) -> bool:
    """Whether ``text`` parses by itself (an expression, or statements).
    The text path pastes a snippet into the template's own text, where text
    that does not (an unclosed bracket, a ``)`` that closes the template's,
    a lone comment) could join the template's lines: ``eval("1), (2")``
    passed two values, ``eval("0)); a = 1; ((0")`` ran a statement. Such
    text goes to the AST path, whose parse names the error."""
    return _native.stands_alone(text, expression)


#: a word that makes text inside parentheses mean more than the same text
#: parsed alone as an expression (a bare generator expression)
_FOR = re.compile(r"\bfor\b")


def expression_lines(text: Union[str, bytes], label: str) -> Optional[list[str]]:
    """An expression snippet as one line for compiling as text inside
    parentheses, or None when that could accept what :func:`parse_expression`
    refuses (a bare generator expression, ``:=``, a starred item of a bare
    tuple, a line break, nothing) and the AST path must decide."""
    src = _source_text(text, label).strip()
    if not src or "\n" in src or "\r" in src or ":=" in src or _FOR.search(src):
        return None
    if "*" in src and "," in src:
        return None
    return [src] if _stands_alone(src, True) else None


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


_NESTED_TYPES = frozenset(_NESTED_SCOPES)


#: what a snippet cannot contain, by node type ({t}: the target's name)
_REFUSED = {
    ast.Return: "`return` (it would return from {t})",
    ast.Yield: "`yield` (it would turn the snippet into a generator step of {t})",
    ast.YieldFrom: "`yield` (it would turn the snippet into a generator step of {t})",
    ast.Await: "`await` (it would suspend {t})",
    ast.AsyncFor: "`async for` (it awaits, which would suspend {t})",
    ast.AsyncWith: "`async with` (it awaits, which would suspend {t})",
}


def _refuse(node: ast.AST, label: str, target: str) -> None:
    """Raise :class:`SnippetError` if ``node``, running in the target's own
    frame, is a construct a snippet cannot contain."""
    what = _REFUSED.get(type(node))
    if what is None and type(node) is ast.comprehension and node.is_async:
        what = "an async comprehension (it awaits, which would suspend {t})"
    if what:
        raise SnippetError(
            f"{label}: a snippet cannot contain " + what.format(t=target)
            + "; splice runs snippets inline in the function's own frame"
        )


def _own_parts(node: ast.AST) -> list[ast.AST]:
    """The parts of a nested function, lambda or class that run in the
    enclosing frame: decorators, argument defaults, bases and keywords."""
    out: list[ast.AST] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        if not isinstance(node, ast.Lambda):
            out.extend(node.decorator_list)
        out.extend(node.args.defaults)
        out.extend(d for d in node.args.kw_defaults if d is not None)
    elif isinstance(node, ast.ClassDef):
        out.extend(node.decorator_list)
        out.extend(node.bases)
        out.extend(k.value for k in node.keywords)
    return out


def survey(stmts: Sequence[ast.stmt], label: str, target: str) -> frozenset[str]:
    """Everything the template needs to know about a snippet, in one walk
    over its nodes (every first probe of a function pays it):

    - ``return``, ``yield``, ``yield from`` and ``await`` (also ``async
      for``, ``async with``, async comprehensions) running in the target's
      own frame are refused with a :class:`SnippetError`: they would act
      on the target function, not the snippet;
    - every node without a location gets one (line 1, column 0, as
      :func:`ast.fix_missing_locations` would), in place, leaving the others;
    - the result: every identifier the snippet contains, in any scope (names,
      attributes, arguments, imports, ``global`` declarations, pattern
      captures: each string field of a node but a constant's). A variable of
      the target that is not among them cannot be read or bound by the
      snippet, so the template need not declare it; a private name among
      them (``__x``) needs the template's class for mangling.
    """
    names: set[str] = set()
    stack: list[tuple[Any, bool]] = [(s, True) for s in stmts]
    while stack:
        node, own = stack.pop()
        t = type(node)
        if own and (t in _REFUSED or t is ast.comprehension):
            _refuse(node, label, target)
        if "lineno" in node._attributes:
            if getattr(node, "lineno", None) is None:
                node.lineno = 1
            if getattr(node, "col_offset", None) is None:
                node.col_offset = 0
            if getattr(node, "end_lineno", None) is None:
                node.end_lineno = node.lineno
            if getattr(node, "end_col_offset", None) is None:
                node.end_col_offset = node.col_offset
        nested = t in _NESTED_TYPES
        if own and nested:
            # its decorators and defaults run in this frame: checked as own
            # (they are walked again below as parts of the nested scope)
            stack.extend((p, True) for p in _own_parts(node))
        child_own = own and not nested
        if own and t is ast.GeneratorExp:
            # a generator (an async one with `async for`) that runs in its
            # own frame: only its first iterable is evaluated in this one
            stack.append((node.generators[0].iter, True))
            child_own = False
        constant = t is ast.Constant
        for field in node._fields:
            v = getattr(node, field, None)
            if type(v) is str:
                if not constant:
                    names.add(v)
            elif type(v) is list:
                for c in v:
                    if type(c) is str:
                        names.add(c)
                    elif isinstance(c, ast.AST):
                        stack.append((c, child_own))
            elif isinstance(v, ast.AST):
                stack.append((v, child_own))
    return frozenset(names)


class Held:
    """A value a probe reads as ``<hook>.value`` rather than as a constant of
    the rewritten code: hashing a code object hashes its constants, and a
    constant that cannot be hashed (a list, a dict, an instance of a
    dataclass with ``eq=True``) makes the whole code object unhashable,
    which breaks the tools that hash code objects (3.14+ bdb and so pdb,
    which key a ``WeakKeyDictionary`` by ``frame.f_code``; cloudpickle). A
    ``Held`` hashes by identity."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<splice held {type(self.value).__name__}>"


#: Types whose hash cannot fail and runs no Python code: their values are
#: constants of the rewritten code as they are (one load, no attribute).
_PLAIN_CONSTANTS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_IDENTITY_HASHES = (object.__hash__, type.__hash__)


def constant_ref(hook: str, value: Any) -> tuple[ast.expr, Any]:
    """How a probe reads ``value``: an expression of the template (which
    loads the ``hook`` global, made a constant by the rewriter) and the
    object to give the hook. Values hashed by identity (most objects: a
    function, a module, an ``nn.Module``) or plain scalars are the constant
    itself; any other is read through a :class:`Held`, so that the
    rewritten code object stays hashable and hashing it runs no user
    code."""
    kind = type(value)
    if kind in _PLAIN_CONSTANTS or getattr(kind, "__hash__", None) in _IDENTITY_HASHES:
        return ast.Name(hook, ast.Load()), value
    return ast.Attribute(ast.Name(hook, ast.Load()), "value", ast.Load()), Held(value)


class _HeldLoads(ast.NodeTransformer):
    """Replaces each load of the named hooks by ``<hook>.value``."""

    def __init__(self, held: set[str]) -> None:
        self.held = held

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.held and isinstance(node.ctx, ast.Load):
            return ast.copy_location(ast.Attribute(ast.Name(node.id, ast.Load()), "value", ast.Load()), node)
        return node


def rename_variables(
    stmts: Sequence[ast.stmt],
    variables: Mapping[str, Any],
    prefix: str,
    label: str,
) -> dict[str, Any]:
    """Replace each load of a ``variables=`` name in ``stmts`` (in place) by a
    hook name ``<prefix><name>`` (``<prefix><name>.value`` for a value read
    through a :class:`Held`, see :func:`constant_ref`); return
    ``{hook name: value}``.

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
    hooks: dict[str, Any] = {}
    for k, v in variables.items():
        _, hooks[prefix + k] = constant_ref(prefix + k, v)
    held = {name for name, v in hooks.items() if type(v) is Held}
    if held:
        loads = _HeldLoads(held)
        for stmt in stmts:
            loads.visit(stmt)
    return hooks
