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
- the target's cell variables are cells of the template (a dead nested
  function declares them ``nonlocal``);
- the target's free variables are free in the template: an enclosing function
  binds them and the template declares them ``nonlocal`` (so assignments write
  the cell); ``__class__`` comes from an enclosing class, as in the target;
- names the target declares ``global`` (it has ``STORE_GLOBAL``/
  ``DELETE_GLOBAL`` for them) are declared ``global`` in the template;
- if the target's ``co_qualname`` has a class component (``Attention.forward``,
  ``A.f.<locals>.g``), the template is wrapped in ``class <ThatClass>:`` so that
  private names (``self.__x``) are mangled identically;
- of the target's variables (other than its arguments) only those the snippet
  names, in any of its scopes, are declared, and the class only when the
  snippet has a private name or names ``super``/``__class__``: a name the
  snippet does not contain cannot be read or bound by it, and each
  declaration costs compile time on every first probe
  (:func:`splice.snippets.survey` lists the names);
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

import ast
import dataclasses
import dis
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any, Optional, Union

from splice import _native
from splice import locate as _locate
from splice._native import HOOK_PREFIX, LineProbe
from splice.codecache import PerCode
from splice.errors import SnippetError, TargetError
from splice.snippets import constant_ref, is_identifier, survey, syntax_error

__all__ = [
    "HOOK_PREFIX",
    "ScopeInfo",
    "SnippetError",  # re-exported: it lived here before splice.errors had it
    "Template",
    "TextSnippet",
    "build_template",
    "instance_test",
    "skeleton_source",
]

_BODY_PLACEHOLDER = f"{HOOK_PREFIX}body_placeholder"


# ---------------------------------------------------------------------------
# The target's scope


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
    #: variables of inlined comprehensions (3.12+) that are not the
    #: function's own variables (co_varnames lists them: :func:`_hidden`)
    hidden: frozenset[str]
    class_name: Optional[str]
    future_flags: int
    optimized: bool

    @classmethod
    def from_code(cls, code: CodeType) -> ScopeInfo:
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


def arg_names(code: CodeType) -> tuple[str, ...]:
    """``ScopeInfo.arg_names`` of ``code`` without building its ScopeInfo (a
    capture needs only these): CPython lists the arguments first in
    ``co_varnames``, in that order (positional, keyword-only, ``*args``,
    ``**kwargs``)."""
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & _native.CO_VARARGS) + bool(code.co_flags & _native.CO_VARKEYWORDS)
    return code.co_varnames[:count]


#: ScopeInfo per code object, by identity (splice.codecache says why not by equality)
_SCOPES: PerCode[ScopeInfo] = PerCode()


def _scope_cache(code: CodeType) -> ScopeInfo:
    hit = _SCOPES.get(code)
    if hit is not None:
        return hit
    n = code.co_argcount
    p = code.co_posonlyargcount
    k = code.co_kwonlyargcount
    v = code.co_varnames
    # names declared `global` (stored or deleted as globals), plain locals
    # ever unbound (`del x`, the end of `except E as x`): one native pass
    declared, deleted, cleared = _native.scope_names(code)
    i = n + k
    varargs = varkw = None
    if code.co_flags & _native.CO_VARARGS:
        varargs = v[i]
        i += 1
    if code.co_flags & _native.CO_VARKEYWORDS:
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
        declared_globals=tuple(declared),
        deleted=frozenset(deleted),
        hidden=_hidden(code, cleared) if cleared else frozenset(),
        class_name=_private_class(getattr(code, "co_qualname", code.co_name)),
        future_flags=code.co_flags & _native.FUTURE_FLAGS,
        optimized=bool(code.co_flags & _native.CO_OPTIMIZED),
    )
    return _SCOPES.set(code, info)


#: instructions that use a plain local's slot (``argval`` its name, or a
#: pair of names)
_LOCAL_OPS = frozenset({
    "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW", "LOAD_FAST_AND_CLEAR", "STORE_FAST",
    "DELETE_FAST", "LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW",
    "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST",
})


def _hidden(code: CodeType, cleared: Sequence[str]) -> frozenset[str]:
    """The variables among ``cleared`` that only inlined comprehensions use
    (3.12+, PEP 709): ``co_varnames`` lists them, but the function has no such
    variable of its own, and the same name typed into its source means the
    global. Told by position: every instruction that uses the slot lies in
    the span of a comprehension that clears it (``LOAD_FAST_AND_CLEAR``
    carries the comprehension's location). Arguments and cells never are."""
    own = set(arg_names(code)) | set(code.co_cellvars)
    names = [n for n in cleared if n not in own]
    if not names:
        return frozenset()
    ins = list(dis.get_instructions(code))
    spans: dict[str, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    for i in ins:
        p = i.positions
        if i.opname == "LOAD_FAST_AND_CLEAR" and i.argval in names and p is not None and p.lineno is not None:
            spans.setdefault(i.argval, []).append(
                ((p.lineno, p.col_offset or 0), (p.end_lineno or p.lineno, p.end_col_offset or 0))
            )

    def inside(i: Any, name: str) -> bool:
        p = i.positions
        if p is None or p.lineno is None:
            return False
        start, end = (p.lineno, p.col_offset or 0), (p.end_lineno or p.lineno, p.end_col_offset or 0)
        return any(a <= start and end <= b for a, b in spans.get(name, ()))

    hidden = set()
    for name in names:
        uses = [
            i for i in ins
            if i.opname in _LOCAL_OPS and (i.argval == name or (isinstance(i.argval, tuple) and name in i.argval))
        ]
        if all(inside(i, name) for i in uses):
            hidden.add(name)
    return frozenset(hidden)


def instance_test(info: ScopeInfo, hook: str, instance: Any) -> tuple[ast.expr, dict[str, Any]]:
    """AST of the test "the first argument is ``instance``" (the instance
    filter of a bound-method or callable-instance target) and its hook,
    ``{hook: the object}`` (the instance, or a :class:`~splice.snippets.Held`
    of it when it does not hash by identity, see
    :func:`~splice.snippets.constant_ref`). Raises :class:`TargetError` for a
    function without positional arguments."""
    ref, held = constant_ref(hook, instance)
    hooks = {hook: held}
    positional = info.posonly + info.args
    if positional:
        return ast.Compare(left=ast.Name(positional[0], ast.Load()), ops=[ast.Is()], comparators=[ref]), hooks
    if info.varargs:
        first = ast.Subscript(ast.Name(info.varargs, ast.Load()), ast.Constant(0), ast.Load())
        return ast.BoolOp(
            op=ast.And(),
            values=[
                ast.Name(info.varargs, ast.Load()),
                ast.Compare(left=first, ops=[ast.Is()], comparators=[ref]),
            ],
        ), hooks
    raise TargetError(
        f"{info.qualname} takes no positional argument, so calls on one instance "
        f"cannot be told apart; pass the function (not a bound method)"
    )


# ---------------------------------------------------------------------------
# The template


@dataclass
class Template:
    """A compiled template: the template function's code object (whose body
    is the snippet), what it was compiled from (its AST, or its text when
    the snippet came as :class:`TextSnippet` lines), the hook objects its
    ``_splice_...`` globals stand for, and the plain locals it adds."""

    snippet: CodeType
    module: Union[ast.Module, str]
    hooks: dict[str, Any]
    new_locals: tuple[str, ...]

    @property
    def source(self) -> str:
        """The template's text (``Breakpoint.template_source``, ``splice
        show``): made on demand from an AST, as unparsing costs more than
        compiling."""
        return self.module if isinstance(self.module, str) else ast.unparse(self.module)

    def probe(self, lines: Optional[list[int]]) -> LineProbe:
        """The native probe spec that splices this snippet in at ``lines``
        (``None``: at function entry)."""
        return LineProbe(lines, self.snippet, self.hooks)


@dataclass(frozen=True)
class _Shape:
    """What the template looks like, decided once and rendered either as
    text (:func:`skeleton_source`, ``python -m splice show``) or directly as
    an AST to compile (:meth:`tree`; building the nodes costs a fraction of
    parsing the text, which every first probe of a function paid).

    ``class <cls>:`` / ``def <outer>(<frees>):`` / ``def <fname>(<params>):``
    holding ``nonlocal <frees>``, ``global <declared>``, the dead
    declarations under ``if False:`` and the snippet.
    """

    cls: Optional[str]
    outer: Optional[str]
    frees: tuple[str, ...]
    fname: str
    posonly: tuple[str, ...]
    args: tuple[str, ...]
    varargs: Optional[str]
    kwonly: tuple[str, ...]
    varkw: Optional[str]
    declared_globals: tuple[str, ...]
    #: dead declarations: plain locals, cell locals (each ``a = b = None``),
    #: the cells a nested function declares ``nonlocal``, and whether a
    #: lambda reads ``__class__``
    plain: tuple[str, ...]
    cell_locals: tuple[str, ...]
    cell_refs: tuple[str, ...]
    reads_class: bool

    @property
    def qualname(self) -> str:
        """The template function's expected ``co_qualname``."""
        outer = f"{self.outer}.<locals>" if self.outer else None
        return ".".join(p for p in (self.cls, outer, self.fname) if p)

    @property
    def def_line(self) -> int:
        """The line of the template function's ``def``."""
        return 1 + bool(self.cls) + bool(self.outer)

    def _params(self) -> str:
        parts: list[str] = list(self.posonly)
        if self.posonly:
            parts.append("/")
        parts.extend(self.args)
        if self.varargs:
            parts.append("*" + self.varargs)
        elif self.kwonly:
            parts.append("*")
        parts.extend(self.kwonly)
        if self.varkw:
            parts.append("**" + self.varkw)
        return ", ".join(parts)

    def _dead_text(self) -> list[str]:
        dead: list[str] = []
        if self.plain:
            dead.append(" = ".join(self.plain) + " = None")
        if self.cell_locals:
            dead.append(" = ".join(self.cell_locals) + " = None")
        if self.cell_refs:
            dead.append(f"def {self.cell_refs[0]}(): nonlocal {', '.join(self.cell_refs)}")
        if self.reads_class:
            dead.append("(lambda: __class__)")
        return dead

    def text(self, body: Optional[Sequence[str]] = None) -> str:
        """The template's source with ``body`` (lines at their relative
        indentation) where the snippet goes, or a placeholder."""
        lines: list[str] = []
        indent = ""
        if self.cls:
            lines.append(f"class {self.cls}:")
            indent += "    "
        if self.outer:
            lines.append(f"{indent}def {self.outer}({', '.join(self.frees)}):")
            indent += "    "
        lines.append(f"{indent}def {self.fname}({self._params()}):")
        indent += "    "
        if self.frees:
            lines.append(f"{indent}nonlocal {', '.join(self.frees)}")
        if self.declared_globals:
            lines.append(f"{indent}global {', '.join(self.declared_globals)}")
        dead = self._dead_text()
        if dead:
            lines.append(f"{indent}if False:")
            lines.extend(f"{indent}    {d}" for d in dead)
        if body is None:
            lines.append(f"{indent}{_BODY_PLACEHOLDER}")
        else:
            lines.extend(f"{indent}{b}" if b else b for b in body)
        if self.outer:
            lines.append(f"{indent[:-4]}return {self.fname}")
        return "\n".join(lines) + "\n"

    def tree(self, stmts: list[ast.stmt]) -> ast.Module:
        """The template as an AST with ``stmts`` as the function's body after
        its declarations: what parsing :meth:`text` and replacing the
        placeholder gives, except that the dead declarations all sit on the
        ``def`` line (so CPython emits no instruction, not even a ``NOP``,
        for them) and columns are 0 (the rewriter gives the snippet's
        instructions the probed line's location)."""
        def_line = line = self.def_line
        top: list[ast.stmt] = []
        holder = top
        if self.cls:
            cls = _at(ast.ClassDef(name=self.cls, bases=[], keywords=[], body=[], decorator_list=[],
                                   **_TYPE_PARAMS), 1)
            holder.append(cls)
            holder = cls.body
        outer = None
        if self.outer:
            outer = _function(self.outer, _arguments(def_line - 1, args=self.frees), def_line - 1)
            holder.append(outer)
            holder = outer.body
        fn = _function(
            self.fname,
            _arguments(def_line, self.posonly, self.args, self.varargs, self.kwonly, self.varkw),
            def_line,
        )
        holder.append(fn)
        body = fn.body
        if self.frees:
            line += 1
            body.append(_at(ast.Nonlocal(names=list(self.frees)), line))
        if self.declared_globals:
            line += 1
            body.append(_at(ast.Global(names=list(self.declared_globals)), line))
        dead: list[ast.stmt] = []
        for names in (self.plain, self.cell_locals):
            if names:
                dead.append(_at(ast.Assign(
                    targets=[_at(ast.Name(id=n, ctx=ast.Store()), def_line) for n in names],
                    value=_at(ast.Constant(value=None), def_line),
                ), def_line))
        if self.cell_refs:
            inner = _function(self.cell_refs[0], _arguments(def_line), def_line)
            inner.body.append(_at(ast.Nonlocal(names=list(self.cell_refs)), def_line))
            dead.append(inner)
        if self.reads_class:
            lam = ast.Lambda(args=_arguments(def_line), body=_at(ast.Name(id="__class__", ctx=ast.Load()), def_line))
            dead.append(_at(ast.Expr(value=_at(lam, def_line)), def_line))
        if dead:
            line += 1 + len(dead)
            body.append(_at(ast.If(test=_at(ast.Constant(value=False), def_line), body=dead, orelse=[]), def_line))
        body.extend(stmts)
        line += 2  # the placeholder's line, then the outer function's return
        if outer is not None:
            outer.body.append(_at(ast.Return(value=_at(ast.Name(id=self.fname, ctx=ast.Load()), line)), line))
        return ast.Module(body=top, type_ignores=[])


#: ``type_params`` of classes and functions (3.12+), which compile needs set
_TYPE_PARAMS: dict[str, Any] = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}

_L = Any  # an AST node with location attributes (typeshed declares them on the subclasses only)


def _at(node: _L, line: int) -> _L:
    """``node`` placed on ``line``, column 0."""
    node.lineno = node.end_lineno = line
    node.col_offset = node.end_col_offset = 0
    return node


def _arguments(
    line: int,
    posonly: Sequence[str] = (),
    args: Sequence[str] = (),
    varargs: Optional[str] = None,
    kwonly: Sequence[str] = (),
    varkw: Optional[str] = None,
) -> ast.arguments:
    def arg(name: str) -> ast.arg:
        out: ast.arg = _at(ast.arg(arg=name), line)
        return out

    return ast.arguments(
        posonlyargs=[arg(a) for a in posonly],
        args=[arg(a) for a in args],
        vararg=arg(varargs) if varargs else None,
        kwonlyargs=[arg(a) for a in kwonly],
        kw_defaults=[None] * len(kwonly),
        kwarg=arg(varkw) if varkw else None,
        defaults=[],
    )


def _function(name: str, args: ast.arguments, line: int) -> ast.FunctionDef:
    fn: ast.FunctionDef = _at(ast.FunctionDef(name=name, args=args, body=[], decorator_list=[], returns=None,
                                              **_TYPE_PARAMS), line)
    return fn


def _shape(scope: ScopeInfo, extra_locals: Sequence[str], mentioned: Optional[frozenset[str]] = None) -> _Shape:
    """The template for ``scope``, with ``extra_locals`` (plain locals earlier
    probes added) among its locals.

    ``mentioned``: every identifier of the snippet (:func:`splice.snippets.survey`),
    or None for the whole scope (:func:`skeleton_source`). A variable the
    snippet never names can be neither read nor bound by it, so the template
    leaves it out (the rewriter maps variables by name): fewer declarations
    to compile, and no enclosing function when the snippet names no free
    variable. The class, which only mangles private names and provides
    ``__class__``, is left out unless the snippet has a private name or
    names ``super`` or ``__class__``."""

    # The target's private names are stored mangled (`__q` of a method of
    # `K` is `_K__q`), the snippet's as written.
    stripped = (scope.class_name or "").lstrip("_")
    private = f"_{stripped}__" if stripped else None

    def named(name: str) -> bool:
        if mentioned is None or name in mentioned:
            return True
        return private is not None and name.startswith(private) and "__" + name[len(private):] in mentioned

    # Arguments keep their names (super() uses the first); an argument the
    # target unbinds somewhere (`del x`) must not be an argument of the
    # template, or CPython 3.12+ would load it without checking it is bound.
    rename: dict[str, str] = {}
    for i, a in enumerate(scope.arg_names):
        if not is_identifier(a) or a in scope.deleted:
            rename[a] = f"{HOOK_PREFIX}arg{i}"
    frees = tuple(f for f in scope.frees if f != "__class__" and named(f))
    uses_super = named("super") or named("__class__")
    reads_class = "__class__" in scope.frees and uses_super
    mangles = mentioned is None or any(n.startswith("__") and not n.endswith("__") for n in mentioned)

    # the class only mangles private names and gives super() its __class__
    cls = scope.class_name if uses_super or mangles else None
    if cls is not None and not is_identifier(cls):
        cls = None
    if cls is None and reads_class:
        cls = "_"  # a class named only with underscores mangles nothing

    fname = scope.name if is_identifier(scope.name) else f"{HOOK_PREFIX}fn"
    outer = f"{HOOK_PREFIX}outer" if frees else None
    if outer and fname not in frees:
        fname = f"{HOOK_PREFIX}fn"  # else the outer function's local would shadow a global

    # The dead declarations make the target's plain locals plain locals of
    # the template (assigned, never known to be bound), its cells cells (a
    # nested function declares them `nonlocal`) and `__class__` free (a
    # lambda reads it), without running anything.
    args = set(scope.arg_names)
    cells = set(scope.cells)
    plain = [
        v for v in scope.varnames
        if v not in cells and (v not in args or v in rename) and is_identifier(v) and named(v)
        and v not in scope.hidden
    ]
    for x in extra_locals:
        if x not in plain and x not in cells and x not in args and is_identifier(x) and named(x):
            plain.append(x)
    # A `nonlocal` declaration makes each a cell without loading it: a load
    # of a local named `super` in a method would make the compiler add a
    # `__class__` free variable the target does not have. The nested
    # function is named after one of the cells, so it binds no name the
    # target lacks.
    cell_refs = tuple(c for c in scope.cells if is_identifier(c) and named(c))

    def n(x: Optional[str]) -> Optional[str]:
        return None if x is None else rename.get(x, x)

    return _Shape(
        cls=cls,
        outer=outer,
        frees=frees,
        fname=fname,
        posonly=tuple(rename.get(a, a) for a in scope.posonly),
        args=tuple(rename.get(a, a) for a in scope.args),
        varargs=n(scope.varargs),
        kwonly=tuple(rename.get(a, a) for a in scope.kwonly),
        varkw=n(scope.varkw),
        declared_globals=tuple(g for g in scope.declared_globals if named(g)),
        plain=tuple(plain),
        cell_locals=tuple(c for c in cell_refs if c not in args or c in rename),
        cell_refs=cell_refs,
        reads_class=reads_class,
    )


def skeleton_source(code: CodeType, extra_locals: Sequence[str] = ()) -> str:
    """The template text for ``code`` with a placeholder where the snippet goes
    (for tests and for ``python -m splice show``)."""
    return _shape(ScopeInfo.from_code(code), extra_locals).text()


def _find_code(code: CodeType, qualname: str) -> Optional[CodeType]:
    stack = [code]
    while stack:
        c = stack.pop()
        if getattr(c, "co_qualname", None) == qualname:
            return c
        stack.extend(k for k in c.co_consts if isinstance(k, CodeType))
    return None


@dataclass(frozen=True)
class TextSnippet:
    """A snippet given as source lines (at their relative indentation), with
    the same snippet as AST statements and hooks for when the text cannot be
    compiled as it is (:func:`build_template` says when).

    Compiling text spares a first probe building the snippet's AST in Python
    and CPython converting it back (a third of the template's cost); the
    AST path stays the one that knows every rule and gives every error
    message, so anything unusual in the text is handed to it.
    """

    lines: tuple[str, ...]
    #: the same snippet as (AST statements, hooks); the hook names are the same
    as_ast: Callable[[], tuple[list[ast.stmt], dict[str, Any]]]


#: text that the text path leaves to the AST path: indentation splice cannot
#: add safely (tabs, form feeds, carriage returns; the inside of a string
#: that spans lines; a backslash continuation)
_UNSAFE_TEXT = ("\t", "\f", "\r", "\\\n", "'" * 3, '"' * 3)
#: words whose statements :func:`splice.snippets.survey` refuses with
#: messages the text path would not give
_REFUSED_WORDS = frozenset({"return", "yield", "await", "async"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _text_names(text: str) -> Optional[frozenset[str]]:
    """Every identifier-like word of ``text`` (a superset of the snippet's
    identifiers: words in strings and comments too, which only makes the
    template declare more), or None when the text path cannot take it."""
    if not text.isascii() or any(u in text for u in _UNSAFE_TEXT):
        return None  # (non-ASCII: identifiers are NFKC-normalised; a word list is not)
    names = frozenset(_WORD.findall(text))
    return None if names & _REFUSED_WORDS else names


def build_template(
    code: CodeType,
    body: Union[Sequence[ast.stmt], TextSnippet],
    hooks: Mapping[str, Any],
    *,
    label: str = "snippet",
    extra_locals: Sequence[str] = (),
    filename: str = "<splice snippet>",
    cache_key: Any = None,
    enclosing: Sequence[CodeType] = (),
    type_params: Mapping[str, str] = {},
) -> Template:
    """Compile ``body`` (AST statements, or a :class:`TextSnippet`) in a
    template mirroring ``code``.

    ``hooks`` maps the ``_splice_...`` global names the body uses to the objects
    they stand for. A :class:`TextSnippet` is compiled as text (its
    identifier-like words stand for the names it mentions) unless its text
    has something the AST path must handle (non-ASCII, tabs, form feeds,
    carriage returns, triple quotes, backslash continuations, ``return``,
    ``yield``, ``await``, ``async``) or does not compile; then its AST form
    is compiled instead, which raises the error that names the problem.
    ``extra_locals`` are plain locals that earlier probes on the same code
    object add (so a later snippet sees them as locals). Raises
    :class:`SnippetError` for anything that cannot be spliced.

    ``cache_key``: a value that determines ``body`` for ``code`` (the caller
    vouches for it); the compiled code is then cached per code object and
    reused with this call's hook objects.

    ``enclosing``: the code objects of the functions ``code`` is nested in
    (innermost first); a snippet that reads one of their locals which
    ``code`` itself does not use is a :class:`SnippetError`
    (:func:`_check_enclosing_reads`); ``type_params``: likewise for the PEP
    695 type parameters in scope (name -> what declares it).
    """
    if cache_key is None:
        tpl = _build_template(code, body, hooks, label=label, extra_locals=extra_locals, filename=filename)
        _check_enclosing_reads(code, tpl.snippet, enclosing, label, type_params)
        return tpl
    key = (cache_key, tuple(sorted(hooks)), tuple(extra_locals), filename)
    per_code = _templates.get(code)
    hit = per_code.get(key) if per_code is not None else None
    if hit is not None:
        snippet, module, new_locals = hit
        return Template(snippet=snippet, module=module, hooks=dict(hooks), new_locals=new_locals)
    tpl = _build_template(code, body, hooks, label=label, extra_locals=extra_locals, filename=filename)
    _check_enclosing_reads(code, tpl.snippet, enclosing, label, type_params)
    if per_code is None:
        per_code = _templates.set(code, {})
    if len(per_code) >= _TEMPLATES_PER_CODE:
        # (None: a finalizer or signal handler that builds a template can run
        # between the two, on this thread, and trim the same entry)
        per_code.pop(next(iter(per_code), None), None)
    per_code[key] = (tpl.snippet, tpl.module, tpl.new_locals)
    return tpl


#: Compiled templates per target code object (weakly, by identity: two equal
#: code objects of classes with different names mangle private names
#: differently) and per snippet: the
#: caller's key for the body, the hook names, the new locals of earlier
#: probes and the file name, which is everything the compiled code depends
#: on. A breakpoint entered again makes the same snippet (its hook names come
#: from a small number reused once a breakpoint object is freed:
#: splice.breakpoint._Slots). Holds no hook object; at most 8 per code object.
_templates: PerCode[dict[Any, tuple[CodeType, Union[ast.Module, str], tuple[str, ...]]]] = PerCode()
_TEMPLATES_PER_CODE = 8


def _build_template(
    code: CodeType,
    body: Union[Sequence[ast.stmt], TextSnippet],
    hooks: Mapping[str, Any],
    *,
    label: str,
    extra_locals: Sequence[str],
    filename: str,
) -> Template:
    """:func:`build_template` without the cache."""
    scope = ScopeInfo.from_code(code)
    if not scope.optimized:
        raise SnippetError(
            f"{label}: {scope.qualname} is not a function body (a module or class body "
            f"runs once); splice can only instrument functions"
        )
    for h in hooks:
        if not h.startswith(HOOK_PREFIX) or h.startswith("__"):
            raise ValueError(f"hook name {h!r} must start with {HOOK_PREFIX!r}")
    tpl = _compiled_template(scope, body, hooks, extra_locals, filename, label)
    # A new local may be a name the target's source declares `global`
    # without a store the bytecode shows (a function that only reads it, or
    # never uses it): then the snippet's assignment is the global's, as
    # typed into the source.
    if tpl.new_locals:
        declared = sorted(set(tpl.new_locals) & _declared_globals(code))
        if declared:
            scope = dataclasses.replace(scope, declared_globals=scope.declared_globals + tuple(declared))
            tpl = _compiled_template(scope, body, hooks, extra_locals, filename, label)
    return tpl


def _declared_globals(code: CodeType) -> frozenset[str]:
    """:func:`splice.locate.declared_globals`, once per code object (it
    parses the function's text)."""
    hit = _declared.get(code)
    if hit is None:
        hit = _declared.set(code, _locate.declared_globals(code))
    return hit


#: The names each target code object's source declares ``global``.
_declared: PerCode[frozenset[str]] = PerCode()


def _compiled_template(
    scope: ScopeInfo,
    body: Union[Sequence[ast.stmt], TextSnippet],
    hooks: Mapping[str, Any],
    extra_locals: Sequence[str],
    filename: str,
    label: str,
) -> Template:
    """The template of ``body`` in ``scope``, compiled from its text when it
    can be, else from its AST."""
    if isinstance(body, TextSnippet):
        found = _compile_text(scope, body.lines, extra_locals, filename)
        if found is not None:
            return _template(found[0], found[1], scope, hooks, label)
        stmts, hooks = body.as_ast()
    else:
        stmts = list(body)
    shape = _shape(scope, extra_locals, survey(stmts, label, scope.qualname))
    module = shape.tree(stmts)
    try:
        compiled = compile(module, filename, "exec", flags=scope.future_flags, dont_inherit=True)
    except SyntaxError as e:
        raise syntax_error(label, e) from None
    except ValueError as e:  # e.g. a malformed AST from a caller
        raise SnippetError(f"{label}: {e}") from None
    tcode = _find_code(compiled, shape.qualname)
    if tcode is None:  # pragma: no cover - would be a bug in _Shape
        raise SnippetError(f"{label}: internal error: template function {shape.qualname} not found")
    return _template(tcode, module, scope, hooks, label)


def _compile_text(
    scope: ScopeInfo, lines: Sequence[str], extra_locals: Sequence[str], filename: str
) -> Optional[tuple[CodeType, str]]:
    """The template function compiled from ``lines`` as text, and the
    template's text; None when the AST path must take the snippet (see
    :func:`build_template`). Its line numbers differ from the AST path's
    and a dead ``if False:`` on its own line may leave a ``NOP``: neither
    reaches the target, as the rewriter gives every spliced instruction the
    probed line's location and drops the snippet's ``NOP`` instructions."""
    names = _text_names("\n".join(lines))
    if names is None or not lines:
        return None
    shape = _shape(scope, extra_locals, names)
    text = shape.text(lines)
    try:
        compiled = compile(text, filename, "exec", flags=scope.future_flags, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None  # the AST path raises the error, located in the snippet
    tcode = _find_code(compiled, shape.qualname)
    return None if tcode is None else (tcode, text)


def _template(
    tcode: CodeType, source: Union[ast.Module, str], scope: ScopeInfo, hooks: Mapping[str, Any], label: str
) -> Template:
    """The :class:`Template` of a compiled template function, once its
    closures are checked against the target's."""
    _check_closures(tcode, scope, label)
    known = set(scope.varnames) | set(scope.cells)
    return Template(
        snippet=tcode,
        module=source,
        hooks=dict(hooks),
        new_locals=tuple(n for n in tcode.co_varnames if n not in known),
    )


#: opcodes that read or write a name as a global (module or builtin)
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL"})


def _global_names(tcode: CodeType) -> set[str]:
    """Names ``tcode`` and the functions and comprehensions in it use as
    globals."""
    names: set[str] = set()
    todo = [tcode]
    while todo:
        c = todo.pop()
        names.update(i.argval for i in dis.get_instructions(c) if i.opname in _GLOBAL_OPS)
        todo.extend(k for k in c.co_consts if isinstance(k, CodeType))
    return names


def _check_enclosing_reads(
    code: CodeType,
    tcode: CodeType,
    enclosing: Sequence[CodeType],
    label: str,
    type_params: Mapping[str, str] = {},
) -> None:
    """Raise :class:`SnippetError` if the compiled snippet ``tcode`` uses as a
    global a name that is a local of a function ``code`` is nested in.
    Typed into the source, the snippet would read that local through a
    closure cell; ``code`` has no cell for a name it does not use itself,
    and splice cannot add one, so the snippet would read a global of that
    name instead or raise ``NameError`` in the user's call."""
    # (class bodies are not scopes a nested function sees)
    scopes = [c for c in enclosing if c.co_flags & _native.CO_OPTIMIZED]
    if not scopes and not type_params:
        return
    names = {n for n in _global_names(tcode) if not n.startswith(HOOK_PREFIX)}
    qual = getattr(code, "co_qualname", code.co_name)
    params = sorted(names & set(type_params))
    if params:
        name = params[0]
        raise SnippetError(
            f"{label}: the snippet reads {name!r}, a type parameter of {type_params[name]} "
            f"that {qual} does not use itself. Typed into the source it would be read "
            f"through a closure cell, which {qual} does not have and splice cannot add to a "
            f"running function. Read it in a function that uses it, or pass it in: "
            f"{type_params[name]}'s __type_params__ holds it"
        )
    for outer in scopes:
        # (an inlined comprehension's variable is listed among the locals
        # but scoped to the comprehension: ScopeInfo.hidden)
        own = (set(outer.co_varnames) - ScopeInfo.from_code(outer).hidden) | set(outer.co_cellvars)
        hits = sorted(names & own)
        if hits:
            hits = [n for n in hits if n not in _locate.declared_globals(code)]
        if not hits:
            continue
        outer_qual = getattr(outer, "co_qualname", outer.co_name)
        raise SnippetError(
            f"{label}: the snippet reads {hits[0]!r}, a local of the enclosing function "
            f"{outer_qual} that {qual} does not use itself. Typed into the source it would "
            f"be read through a closure cell, which {qual} does not have and splice cannot "
            f"add to a running function. Read it with a probe on {outer_qual} (a breakpoint "
            f"or a capture there)"
        )


def _check_closures(tcode: CodeType, scope: ScopeInfo, label: str) -> None:
    """Raise :class:`SnippetError` if the compiled template needs a cell or
    free variable the target does not have (splice cannot add one to a
    running function)."""
    target_plain = set(scope.plain_locals)
    for c in tcode.co_cellvars:
        if c not in scope.cells:
            if c == "__class__":
                raise SnippetError(
                    f"{label}: the snippet assigns or deletes `__class__`, the implicit closure "
                    f"cell that super() reads in a method; splice cannot change it in a running "
                    f"function. Read it, or bind the value to another name"
                )
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
            if f == "__class__" and "super" in scope.all_locals:
                raise SnippetError(
                    f"{label}: the snippet reads `super`, a local of {scope.qualname}; in a "
                    f"method the compiler gives any function that reads the name `super` a "
                    f"__class__ cell, which {scope.qualname} does not have. Read the values "
                    f"you need from that local in another way (for example an attribute of "
                    f"an object that holds it)"
                )
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
