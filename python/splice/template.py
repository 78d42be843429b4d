"""Compile a probe's snippet in a template that mirrors the target's scope.

The native rewriter (``splice._native.instrument``) splices the *body* of a
template function into the target code object and remaps local, cell and free
variable references by name. For that to be exact, every name in the snippet
must compile to the same kind of access it would get if the text had been
typed into the target function by hand. The template built here guarantees it:

- the target's arguments are the template's arguments (same names, same kinds:
  positional-only, ``*args``, keyword-only, ``**kwargs``), so ``super()``
  compiles as it does in the target;
- the target's other plain locals are assigned only in dead code
  (``if False:``), so they are plain locals of the template that the compiler
  cannot assume are bound (on 3.12+ every load is ``LOAD_FAST_CHECK``);
- the target's cell variables are cells of the template (a dead nested lambda
  reads them);
- the target's free variables are free in the template: an enclosing function
  binds them and the template declares them ``nonlocal`` (so assignments write
  the cell); ``__class__`` comes from an enclosing class, as in the target;
- names the target declares ``global`` (it has ``STORE_GLOBAL``/
  ``DELETE_GLOBAL`` for them) are declared ``global`` in the template;
- if the target's ``co_qualname`` has a class component (``Attention.forward``,
  ``A.f.<locals>.g``), the template is wrapped in ``class <ThatClass>:`` so that
  private names (``self.__x``) are mangled identically;
- the ``from __future__`` flags of the target are passed to ``compile``.

The dead declarations are given the ``def`` line's number so that CPython emits
no instruction (not even a ``NOP``) for them: the template body is exactly the
snippet. After compiling, the template's cells and free variables are checked
against the target's: a snippet whose lambda or comprehension would have to
close over a plain local of the target (or over a name the snippet creates)
cannot be spliced, and is rejected with a :class:`SnippetError` naming the
variable.

Hooks (Python objects the snippet calls or reads: eval sinks, callbacks,
``variables=`` values, instance filters, constants) are referenced by global
names that start with ``_splice_``; the native side turns each load of such a
name into a constant load of the object, so no hook is ever a real global.
"""

from __future__ import annotations

import __future__ as _future
import ast
import dis
import keyword
import sys
import textwrap
import weakref
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from splice.errors import SpliceError

__all__ = [
    "HOOK_PREFIX",
    "ScopeInfo",
    "SnippetError",
    "Template",
    "build_template",
    "check_snippet",
    "describe",
    "parse_expression",
    "parse_statements",
    "rename_variables",
    "snippet_label",
]

#: Every name splice introduces (hooks, helper locals) starts with this prefix;
#: captured locals never show such names.
HOOK_PREFIX = "_splice_"

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_OPTIMIZED = 0x01

_FUTURE_FLAGS = 0
for _name in _future.all_feature_names:
    _FUTURE_FLAGS |= getattr(_future, _name).compiler_flag

_MINOR = sys.version_info[1]

_BODY_PLACEHOLDER = "_splice_body_placeholder"


class SnippetError(SpliceError, ValueError):
    """A snippet (``cond``, ``eval``, ``exec``) cannot be spliced into the target.

    The message names the snippet and the construct (``return``, ``yield``,
    ``await``, a ``break`` outside a loop, a lambda closing over a local, a
    ``variables=`` name that clashes with a local, a syntax error ...).
    """


# ---------------------------------------------------------------------------
# The target's scope


def _is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _private_class(qualname: str) -> Optional[str]:
    """The class whose name private names of a function with this qualified
    name are mangled with: the innermost class component of ``qualname``
    (``A.f.<locals>.g`` -> ``A``, ``f.<locals>.A.m`` -> ``A``), or None."""
    parts = qualname.split(".")
    found = None
    for i, part in enumerate(parts[:-1]):
        if part == "<locals>" or parts[i + 1] == "<locals>":
            continue
        found = part
    return found


_OP_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]
_OP_STORE_GLOBAL = dis.opmap["STORE_GLOBAL"]
_OP_DELETE_GLOBAL = dis.opmap["DELETE_GLOBAL"]
_OP_DELETE_FAST = dis.opmap["DELETE_FAST"]


def _scan(code: CodeType) -> tuple[tuple[str, ...], frozenset[str]]:
    """(names the code declares ``global`` -- it stores or deletes them as
    globals --, plain locals it ever unbinds -- ``del x``, the end of
    ``except E as x``), from one pass over ``co_code``."""
    globals_: list[str] = []
    deleted: set[str] = set()
    co = code.co_code
    ext = 0
    for i in range(0, len(co), 2):
        op = co[i]
        arg = co[i + 1] | ext
        if op == _OP_EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op == _OP_STORE_GLOBAL or op == _OP_DELETE_GLOBAL:
            name = code.co_names[arg]
            if name not in globals_:
                globals_.append(name)
        elif op == _OP_DELETE_FAST:
            deleted.add(code.co_varnames[arg])
    return tuple(globals_), frozenset(deleted)


@dataclass(frozen=True)
class ScopeInfo:
    """The names of a target code object, sorted by the kind of access."""

    name: str
    qualname: str
    filename: str
    firstlineno: int
    posonly: tuple[str, ...]
    args: tuple[str, ...]
    varargs: Optional[str]
    kwonly: tuple[str, ...]
    varkw: Optional[str]
    varnames: tuple[str, ...]
    cells: tuple[str, ...]
    frees: tuple[str, ...]
    declared_globals: tuple[str, ...]
    deleted: frozenset[str]
    class_name: Optional[str]
    future_flags: int
    optimized: bool

    @classmethod
    def from_code(cls, code: CodeType) -> "ScopeInfo":
        """Read the scope of ``code``."""
        return _scope_cache(code)

    @property
    def arg_names(self) -> tuple[str, ...]:
        """All argument names, in ``co_varnames`` order."""
        out = self.posonly + self.args + self.kwonly
        if self.varargs:
            out += (self.varargs,)
        if self.varkw:
            out += (self.varkw,)
        return out

    @property
    def plain_locals(self) -> tuple[str, ...]:
        """Locals that are not cells (arguments included)."""
        cells = set(self.cells)
        return tuple(n for n in self.varnames if n not in cells)

    @property
    def all_locals(self) -> frozenset[str]:
        """Every local, cell and free variable name."""
        return frozenset(self.varnames) | frozenset(self.cells) | frozenset(self.frees)


_SCOPES: "weakref.WeakKeyDictionary[CodeType, ScopeInfo]" = weakref.WeakKeyDictionary()


def _scope_cache(code: CodeType) -> ScopeInfo:
    try:
        return _SCOPES[code]
    except KeyError:
        pass
    n = code.co_argcount
    p = code.co_posonlyargcount
    k = code.co_kwonlyargcount
    v = code.co_varnames
    declared, deleted = _scan(code)
    i = n + k
    varargs = varkw = None
    if code.co_flags & _CO_VARARGS:
        varargs = v[i]
        i += 1
    if code.co_flags & _CO_VARKEYWORDS:
        varkw = v[i]
    info = ScopeInfo(
        name=code.co_name,
        qualname=getattr(code, "co_qualname", code.co_name),
        filename=code.co_filename,
        firstlineno=code.co_firstlineno,
        posonly=tuple(v[:p]),
        args=tuple(v[p:n]),
        varargs=varargs,
        kwonly=tuple(v[n : n + k]),
        varkw=varkw,
        varnames=tuple(v),
        cells=tuple(code.co_cellvars),
        frees=tuple(code.co_freevars),
        declared_globals=declared,
        deleted=deleted,
        class_name=_private_class(getattr(code, "co_qualname", code.co_name)),
        future_flags=code.co_flags & _FUTURE_FLAGS,
        optimized=bool(code.co_flags & _CO_OPTIMIZED),
    )
    _SCOPES[code] = info
    return info


# ---------------------------------------------------------------------------
# Snippet text -> AST


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
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SnippetError(f"{label}: the bytes are not UTF-8 text ({e})") from None
    if not isinstance(text, str):
        raise TypeError(f"{label}: expected str, bytes or a code object, not {type(text).__name__}")
    return text


def _syntax_error(label: str, e: SyntaxError) -> SnippetError:
    where = f" (snippet line {e.lineno})" if e.lineno else ""
    return SnippetError(f"{label}: {e.msg}{where}")


def parse_expression(text: Union[str, bytes], label: str) -> ast.expr:
    """Parse an expression snippet (``eval``, ``cond``); errors name the snippet."""
    src = _source_text(text, label).strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise _syntax_error(label, e) from None
    return tree.body


def parse_statements(text: Union[str, bytes], label: str) -> list[ast.stmt]:
    """Parse a statement snippet (``exec``), dedented; errors name the snippet."""
    src = textwrap.dedent(_source_text(text, label))
    try:
        tree = ast.parse(src, mode="exec")
    except SyntaxError as e:
        raise _syntax_error(label, e) from None
    if not tree.body:
        return [ast.Pass(lineno=1, col_offset=0, end_lineno=1, end_col_offset=0)]
    return tree.body


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _walk_own(node: ast.AST):
    """Nodes of ``node`` that run in the same frame (not inside nested
    functions, lambdas or classes; comprehensions are entered: their ``await``
    would await in the target)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if isinstance(child, _NESTED_SCOPES):
                # decorators, defaults and bases do run in this frame
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    stack.extend(child.decorator_list)
                    stack.extend(child.args.defaults)
                    stack.extend(d for d in child.args.kw_defaults if d is not None)
                elif isinstance(child, ast.Lambda):
                    stack.extend(child.args.defaults)
                    stack.extend(d for d in child.args.kw_defaults if d is not None)
                else:
                    stack.extend(child.decorator_list)
                    stack.extend(child.bases)
                    stack.extend(k.value for k in child.keywords)
                continue
            stack.append(child)


def check_snippet(stmts: Sequence[ast.AST], label: str, target: str) -> None:
    """Reject constructs that cannot run as if typed at a line of ``target``:
    ``return``, ``yield``, ``yield from``, ``await`` (also ``async for``,
    ``async with`` and async comprehensions)."""
    for n in _walk_own(ast.Module(body=list(stmts), type_ignores=[])):
        what = None
        if isinstance(n, ast.Return):
            what = "`return` (it would return from {t})"
        elif isinstance(n, (ast.Yield, ast.YieldFrom)):
            what = "`yield` (it would turn the snippet into a generator step of {t})"
        elif isinstance(n, ast.Await):
            what = "`await` (it would suspend {t})"
        elif isinstance(n, ast.AsyncFor):
            what = "`async for` (it awaits, which would suspend {t})"
        elif isinstance(n, ast.AsyncWith):
            what = "`async with` (it awaits, which would suspend {t})"
        elif isinstance(n, ast.comprehension) and n.is_async:
            what = "an async comprehension (it awaits, which would suspend {t})"
        if what:
            raise SnippetError(
                f"{label}: a snippet cannot contain " + what.format(t=target)
                + "; splice runs snippets inline in the function's own frame"
            )


def rename_variables(
    stmts: Sequence[ast.AST],
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
        if not isinstance(name, str) or not _is_identifier(name):
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


# ---------------------------------------------------------------------------
# The template


@dataclass
class Template:
    """A compiled template: the template function's code object and its text."""

    target: ScopeInfo
    snippet: CodeType
    source: str
    hooks: dict[str, Any]
    new_locals: tuple[str, ...]
    label: str = ""
    body: list[ast.stmt] = field(default_factory=list, repr=False)


# snippet code object -> weak reference to its Template, for debugging and
# `describe`. Weak both ways: a Template holds its snippet (the key) and its
# hooks (the breakpoint or capture), so a strong value would keep every
# breakpoint and capture alive forever.
_TEMPLATES: "weakref.WeakKeyDictionary[CodeType, weakref.ref[Template]]" = weakref.WeakKeyDictionary()


def describe(snippet: CodeType) -> Optional[Template]:
    """The :class:`Template` a snippet code object was compiled from (while it
    is alive), e.g. to print ``describe(code).source``."""
    ref = _TEMPLATES.get(snippet)
    return ref() if ref is not None else None


def _param_list(scope: ScopeInfo, rename: Mapping[str, str]) -> str:
    def n(x: str) -> str:
        return rename.get(x, x)

    parts: list[str] = [n(a) for a in scope.posonly]
    if scope.posonly:
        parts.append("/")
    parts.extend(n(a) for a in scope.args)
    if scope.varargs:
        parts.append("*" + n(scope.varargs))
    elif scope.kwonly:
        parts.append("*")
    parts.extend(n(a) for a in scope.kwonly)
    if scope.varkw:
        parts.append("**" + n(scope.varkw))
    return ", ".join(parts)


def _skeleton(scope: ScopeInfo, extra_locals: Sequence[str]) -> tuple[str, str, int]:
    """Source text of the template with a placeholder body; returns (text,
    expected co_qualname of the template function, line of its ``def``)."""
    # Arguments keep their names (super() uses the first); an argument the
    # target unbinds somewhere (`del x`) must not be an argument of the
    # template, or CPython 3.12+ would load it without checking it is bound.
    rename: dict[str, str] = {}
    for i, a in enumerate(scope.arg_names):
        if not _is_identifier(a) or a in scope.deleted:
            rename[a] = f"{HOOK_PREFIX}arg{i}"
    args = set(scope.arg_names)
    cells = set(scope.cells)
    frees = [f for f in scope.frees if f != "__class__"]
    plain = [
        v for v in scope.varnames
        if v not in cells and (v not in args or v in rename) and _is_identifier(v)
    ]
    for x in extra_locals:
        if x not in plain and x not in cells and x not in args and _is_identifier(x):
            plain.append(x)
    cell_locals = [c for c in scope.cells if _is_identifier(c) and (c not in args or c in rename)]
    lambda_refs = [c for c in scope.cells if _is_identifier(c)]
    if "__class__" in scope.frees:
        lambda_refs.append("__class__")

    cls = scope.class_name
    if cls is not None and not _is_identifier(cls):
        cls = None
    if cls is None and "__class__" in scope.frees:
        cls = "_"  # a class named only with underscores mangles nothing

    fname = scope.name if _is_identifier(scope.name) else f"{HOOK_PREFIX}fn"
    outer = f"{HOOK_PREFIX}outer" if frees else None
    if outer and fname not in frees:
        fname = f"{HOOK_PREFIX}fn"  # else the outer function's local would shadow a global

    lines: list[str] = []
    indent = ""
    if cls:
        lines.append(f"class {cls}:")
        indent += "    "
    if outer:
        lines.append(f"{indent}def {outer}({', '.join(frees)}):")
        indent += "    "
    def_line = len(lines) + 1
    lines.append(f"{indent}def {fname}({_param_list(scope, rename)}):")
    indent += "    "
    if frees:
        lines.append(f"{indent}nonlocal {', '.join(frees)}")
    if scope.declared_globals:
        lines.append(f"{indent}global {', '.join(scope.declared_globals)}")
    dead: list[str] = []
    if plain:
        dead.append(" = ".join(plain) + " = None")
    if cell_locals:
        dead.append(" = ".join(cell_locals) + " = None")
    if lambda_refs:
        dead.append(f"(lambda: ({', '.join(lambda_refs)},))")
    if dead:
        lines.append(f"{indent}if False:")
        lines.extend(f"{indent}    {d}" for d in dead)
    lines.append(f"{indent}{_BODY_PLACEHOLDER}")
    if outer:
        lines.append(f"{indent[:-4]}return {fname}")
    qual = ".".join(
        p for p in (cls, f"{outer}.<locals>" if outer else None, fname) if p
    )
    return "\n".join(lines) + "\n", qual, def_line


def skeleton_source(code: CodeType, extra_locals: Sequence[str] = ()) -> str:
    """The template text for ``code`` with a placeholder where the snippet goes
    (for tests and for ``python -m splice show``)."""
    return _skeleton(ScopeInfo.from_code(code), extra_locals)[0]


def _find_code(code: CodeType, qualname: str) -> Optional[CodeType]:
    stack = [code]
    while stack:
        c = stack.pop()
        if getattr(c, "co_qualname", None) == qualname:
            return c
        stack.extend(k for k in c.co_consts if isinstance(k, CodeType))
    return None


def _set_lines(node: ast.AST, line: int) -> None:
    for n in ast.walk(node):
        if "lineno" in n._attributes:
            n.lineno = line
            n.end_lineno = line


def _fill_locations(nodes: Iterable[ast.AST]) -> None:
    for node in nodes:
        for n in ast.walk(node):
            if "lineno" in n._attributes:
                if getattr(n, "lineno", None) is None:
                    n.lineno = 1
                if getattr(n, "col_offset", None) is None:
                    n.col_offset = 0
                if getattr(n, "end_lineno", None) is None:
                    n.end_lineno = n.lineno
                if getattr(n, "end_col_offset", None) is None:
                    n.end_col_offset = n.col_offset


def build_template(
    code: CodeType,
    body: Sequence[ast.stmt],
    hooks: Mapping[str, Any],
    *,
    label: str = "snippet",
    extra_locals: Sequence[str] = (),
    filename: str = "<splice snippet>",
) -> Template:
    """Compile ``body`` (AST statements) in a template mirroring ``code``.

    ``hooks`` maps the ``_splice_...`` global names the body uses to the objects
    they stand for. ``extra_locals`` are plain locals that earlier probes on the
    same code object add (so a later snippet sees them as locals). Raises
    :class:`SnippetError` for anything that cannot be spliced.
    """
    scope = ScopeInfo.from_code(code)
    if not scope.optimized:
        raise SnippetError(
            f"{label}: {scope.qualname} is not a function body (a module or class body "
            f"runs once); splice can only instrument functions"
        )
    for h in hooks:
        if not h.startswith(HOOK_PREFIX) or h.startswith("__"):
            raise ValueError(f"hook name {h!r} must start with {HOOK_PREFIX!r}")
    check_snippet(body, label, scope.qualname)
    text, qual, def_line = _skeleton(scope, extra_locals)
    module = ast.parse(text)
    # find the template function and its placeholder
    fn = None
    for n in ast.walk(module):
        if isinstance(n, ast.FunctionDef) and n.lineno == def_line:
            fn = n
            break
    assert fn is not None
    stmts = list(body)
    _fill_locations(stmts)
    new_body: list[ast.stmt] = []
    for s in fn.body:
        if isinstance(s, ast.If):
            _set_lines(s, def_line)  # dead declarations: no instruction at all
            new_body.append(s)
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Name) and s.value.id == _BODY_PLACEHOLDER:
            new_body.extend(stmts)
        else:
            new_body.append(s)
    fn.body = new_body
    try:
        compiled = compile(
            module, filename, "exec", flags=scope.future_flags, dont_inherit=True
        )
    except SyntaxError as e:
        raise _syntax_error(label, e) from None
    except ValueError as e:  # e.g. a malformed AST from a caller
        raise SnippetError(f"{label}: {e}") from None
    tcode = _find_code(compiled, qual)
    if tcode is None:  # pragma: no cover - would be a bug in _skeleton
        raise SnippetError(f"{label}: internal error: template function {qual} not found")

    # the template must not need cells or free variables the target lacks
    target_plain = set(scope.plain_locals)
    for c in tcode.co_cellvars:
        if c not in scope.cells:
            if c in target_plain:
                why = f"{c!r} is a plain local of {scope.qualname}"
            else:
                why = f"{c!r} would have to become a cell of {scope.qualname}"
            raise SnippetError(
                f"{label}: a lambda, nested function or comprehension in the snippet closes "
                f"over {c!r}, but {why}; splice cannot add a closure cell to a running "
                f"function. Pass the value in as an argument (e.g. `lambda {c}={c}: ...`)"
            )
    for f in tcode.co_freevars:
        if f not in scope.frees:
            if f == "__class__":
                raise SnippetError(
                    f"{label}: the snippet uses super() or __class__, but {scope.qualname} has "
                    f"no __class__ cell (it does not use super() itself); use the two-argument "
                    f"form super(Class, self)"
                )
            raise SnippetError(
                f"{label}: the snippet refers to {f!r} from an enclosing function, but "
                f"{scope.qualname} does not close over it"
            )
    known = set(scope.varnames) | set(scope.cells)
    new_locals = tuple(n for n in tcode.co_varnames if n not in known)
    tpl = Template(
        target=scope,
        snippet=tcode,
        source=ast.unparse(module),
        hooks=dict(hooks),
        new_locals=new_locals,
        label=label,
        body=stmts,
    )
    _TEMPLATES[tcode] = weakref.ref(tpl)
    return tpl
