"""Resolve a NoPdb-style target into the code objects splice instruments.

A *scope* is what the user passes to ``capture_call``/``capture_calls``/
``breakpoint``: a ``function`` (a function, a bound method, a callable
instance, a ``classmethod``/``staticmethod``/``property``, or a name string),
optionally narrowed by ``module=`` and ``file=``, with ``unwrap=`` following
``functools.wraps`` chains. :func:`resolve` turns it into :class:`Target`
objects, each one code object (a :class:`Site`) plus an optional instance
filter (for bound methods and callable instances).

A :class:`Site` also says which live function objects own the code object
(their ``__code__`` is it) and, for a code object nested in another one (a
closure, a lambda, a comprehension, a method of a class defined in a
function), the parent :class:`Site` whose ``co_consts`` holds it. The patcher
replaces the parent's constant too, so that closures created after a probe is
enabled run the instrumented code as well.

Matching follows NoPdb (``nopdb.scope.Scope.match_frame``): all given
conditions must hold; a name matches ``co_name``; ``module=`` matches
``co_filename == module.__file__``; ``file=`` is a glob for
:meth:`pathlib.PurePath.match` when it is a ``str``, an exact resolved path
when it is ``os.PathLike``, and an exact string when the code's file name looks
like ``<...>`` (notebook cells, ``exec``). Unlike NoPdb, which silently never
fires, a scope that matches no function raises :class:`ScopeError`, and a
builtin or C function raises :class:`TargetError` at once.

Eager name, module and file scopes (breakpoints; captures with
``SPLICE_EAGER_SCOPES=1`` or from the CLI) are resolved against the
functions alive when the probe is created (found through
:func:`gc.get_objects`), plus every code object nested in them. Other
captures are lazy (:mod:`splice.first_calls`): :func:`check_exists`
only checks that the scope matches something, and :func:`wants` decides,
code object by code object, as they first run.
"""

from __future__ import annotations

import functools
import gc
import inspect
import pathlib
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from types import CodeType, FrameType, FunctionType, MethodType, ModuleType
from typing import Any, Optional, Union

from splice import _native, owners
from splice._native import addr as _addr  # id() without its audit event
from splice._native import function_code as _function_code  # f.__code__, unaudited
from splice.errors import ScopeError, SpliceError, TargetError
from splice.locate import frozen_name

__all__ = [
    "Scope",
    "ScopeError",  # re-exported from splice.errors
    "Site",
    "Target",
    "TargetError",  # re-exported from splice.errors
    "code_of",
    "resolve",
    "owners_of",
]

_SPLICE_ROOT = str(pathlib.Path(__file__).resolve().parent)

#: What ``function=`` may be: a Python callable or a function's name.
FunctionArg = Union[Callable[..., Any], str]
#: What ``file=`` may be: a glob pattern (str) or a path.
FileArg = Union[str, "PathLike[str]"]


def _identity(code: CodeType) -> CodeType:
    return code


#: Used by the patcher to map a patched code object back to the original
#: (set by splice.patcher at import; identity by default).
original_code: Callable[[CodeType], CodeType] = _identity


def _nothing_patched() -> bool:
    return False


#: Whether any code object is patched now (set by splice.patcher): while
#: none is, ``original_code`` is the identity and the index skips it.
patched_codes: Callable[[], bool] = _nothing_patched

#: Whether any code object splice made may still be seen (set by
#: splice.patcher): also true while a commit on another thread is assigning,
#: or a frame still runs code from an undone commit.
made_codes: Callable[[], bool] = _nothing_patched


_BUILTIN_TYPES = (
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
)


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: ``an int``, ``a partial``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _not_python(obj: Any, what: Optional[str] = None) -> TargetError:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    if isinstance(obj, _BUILTIN_TYPES):
        kind = "a builtin (implemented in C)"
    elif isinstance(obj, type):
        kind = "a class; pass one of its methods (e.g. its __init__ or __call__)"
    elif hasattr(obj, "__code__"):
        kind = f"{_a(type(obj).__name__)}, not a pure-Python function (it has no CPython bytecode)"
    else:
        kind = f"{_a(type(obj).__name__)} object, not a pure-Python function"
        try:
            inner = getattr(obj, "func", None)
        except Exception:  # (only a hint)
            inner = None
        if type(inner) is FunctionType:
            # functools.cached_property, singledispatchmethod, partialmethod
            kind += "; pass its .func, the Python function it calls"
    return TargetError(
        f"splice can only instrument pure-Python functions; {name} is {kind}"
        + (f" ({what})" if what else "")
    )


def _unwrap(fn: Any, unwrap: bool) -> Any:
    # (inspect.unwrap returns a function without __wrapped__ as it is; asking
    # first keeps inspect's code and its audited id() off every enter)
    if unwrap and hasattr(fn, "__wrapped__"):
        try:
            fn = inspect.unwrap(fn)
        except ValueError as e:  # a cycle in __wrapped__
            raise TargetError(f"cannot unwrap {fn!r}: {e}") from None
    return fn


def code_of(fn: Any, unwrap: bool = True) -> tuple[FunctionType, Any]:
    """:func:`_code_of`; an exception the object's own attribute lookups
    raise (a ``__getattr__`` that raises something other than
    AttributeError) becomes a :class:`TargetError` that says so."""
    try:
        return _code_of(fn, unwrap)
    except (SpliceError, RecursionError, MemoryError):
        raise  # (the last two: splice itself ran out, not the object's lookups)
    except Exception as e:
        raise TargetError(
            f"splice cannot tell which function a {type(fn).__qualname__} object runs: looking up "
            f"its attributes (__call__, __wrapped__, __func__) raised {type(e).__name__}: {e}. "
            f"Pass the function itself"
        ) from e


def _code_of(fn: Any, unwrap: bool = True) -> tuple[FunctionType, Any]:
    """The pure-Python function behind the callable ``fn`` and the instance
    calls must be made on to count (``None`` for any instance).

    Handles functions, bound methods (that instance only), ``classmethod``/
    ``staticmethod`` objects, ``property`` (its getter), callable instances
    (their class's ``__call__``, that instance only) and, with ``unwrap``,
    ``functools.wraps`` chains and wrappers written in C that name what they
    wrap in ``__wrapped__`` (``functools.lru_cache``). Raises :class:`TargetError` for anything else.
    A function is known by its exact type: a ``Mock(spec=f)``, which passes
    ``isinstance(m, FunctionType)``, is the callable instance it really is.
    """
    instance = None
    orig = fn
    if isinstance(fn, (classmethod, staticmethod)):
        fn = fn.__func__
    elif isinstance(fn, property):
        if fn.fget is None:
            raise TargetError(f"the property {orig!r} has no getter to instrument")
        fn = fn.fget
    if isinstance(fn, MethodType):
        instance = fn.__self__
        fn = fn.__func__
        if isinstance(instance, type) and _classmethod_of(instance, fn):
            # `Base.make`, `Base.__init_subclass__`: the way to name a
            # classmethod, not a choice of calls (restricted to `cls is
            # Base`, calls through a subclass never fired, and
            # __init_subclass__, called only with subclasses, never did)
            instance = None
        if isinstance(fn, (classmethod, staticmethod)):
            fn = fn.__func__
        fn = _unwrap(fn, unwrap)
    elif type(fn) is FunctionType:  # exact: a Mock(spec=function) passes isinstance
        _refuse_partialmethod(fn)
        fn = _unwrap(fn, unwrap)
    elif isinstance(fn, _BUILTIN_TYPES) or isinstance(fn, type) or not callable(fn):
        raise _not_python(fn)
    else:
        call = getattr(type(fn), "__call__", None)  # noqa: B004 (the function, not a callable test)
        inner = _unwrap(call, unwrap) if call is not None else None
        wrapped = getattr(fn, "__wrapped__", None)
        if unwrap and wrapped is not None and wrapped is not fn:
            # a wrapper that says what it wraps, as a decorated function
            # does: written in C (functools.lru_cache, functools.cache: its
            # calls reach the function it wraps, on a cache miss for a
            # cache), a class-based decorator that calls
            # functools.update_wrapper, 3.14's bound singledispatchmethod
            return _code_of(_unwrap(fn, unwrap), unwrap)
        _refuse_unbound_call(fn)
        if type(inner) is not FunctionType:
            raise _not_python(
                fn,
                "its class's __call__ is not a Python function"
                + ("; for a functools.partial, pass its .func" if isinstance(fn, functools.partial) else "")
                + (f"; it wraps {wrapped!r}: pass that, or unwrap=True" if wrapped is not None else ""),
            )
        instance = fn
        fn = inner
    if type(fn) is not FunctionType:
        hint = None
        if fn is not orig:
            hint = f"reached from {orig!r}"
            if unwrap and type(getattr(orig, "__func__", orig)) is FunctionType:
                hint += " through __wrapped__; pass unwrap=False to probe that function itself"
        raise _not_python(fn, hint)
    return fn, instance


def _classmethod_of(cls: type, fn: Any) -> bool:
    """Whether ``fn`` is the function of a ``classmethod`` in ``cls``'s MRO
    (rather than a method of its metaclass bound to it)."""
    mro = getattr(cls, "__mro__", ())
    name = getattr(fn, "__name__", None)
    for k in mro:
        found = k.__dict__.get(name) if isinstance(name, str) else None
        if isinstance(found, classmethod) and found.__func__ is fn:
            return True
    # (stored under another name: `make2 = make` in the class body)
    return any(isinstance(v, classmethod) and v.__func__ is fn for k in mro for v in list(k.__dict__.values()))


def _refuse_partialmethod(fn: FunctionType) -> None:
    """A :class:`TargetError` for ``C.pm`` where ``pm`` is a
    ``functools.partialmethod``: that is functools' own forwarding function
    (a probe on it lands in functools, and calls on instances never run
    it: they go through a ``partial`` of the bound method)."""
    if _function_code(fn).co_name != "_method":  # (no attribute lookups on every target)
        return
    pm = getattr(fn, "__partialmethod__", None) or getattr(fn, "_partialmethod", None)  # 3.14+, 3.11-3.13
    if isinstance(pm, functools.partialmethod) and type(pm.func) is FunctionType:
        raise TargetError(
            f"this is the function functools makes for a partialmethod of {pm.func.__qualname__} "
            f"(reached through the class); calls on instances do not run it. Pass "
            f"{pm.func.__qualname__} (the partialmethod's .func) to probe the calls it makes"
        )


def _refuse_unbound_call(obj: Any) -> None:
    """A :class:`TargetError` for a callable instance whose class's
    ``__call__`` is a ``staticmethod`` or ``classmethod``: its calls do not
    receive the instance, so a probe cannot be limited to it (it would never
    fire), and a classmethod's ``__call__`` is no plain function."""
    cls = type(obj)
    for klass in cls.__mro__:
        raw = vars(klass).get("__call__")
        if raw is None:
            continue
        if isinstance(raw, (staticmethod, classmethod)):
            kind = type(raw).__name__
            how = f"{cls.__qualname__}.__call__" + (".__func__" if kind == "classmethod" else "")
            raise TargetError(
                f"{_a(cls.__qualname__)} instance is called through its class's __call__, a "
                f"{kind}, which is not given the instance: a probe cannot be limited to this "
                f"one. Pass {how} to probe every call"
            )
        return


def owners_of(code: CodeType) -> list[FunctionType]:
    """Live functions whose ``__code__`` is ``code`` (a heap search:
    :func:`splice.owners.search`)."""
    return owners.search(code)


@dataclass(eq=False)
class Site:
    """A code object to instrument, the live functions that own it, and the
    site of the code object whose ``co_consts`` holds it (if that must be
    patched too, so closures created later run the instrumented code)."""

    code: CodeType
    functions: list[FunctionType] = field(default_factory=list)
    parent: Optional[Site] = None

    def __post_init__(self) -> None:
        owners.holder(self, self.code)  # its reference to `code` is explained

    @property
    def qualname(self) -> str:
        """``co_qualname`` of the code object."""
        return getattr(self.code, "co_qualname", self.code.co_name)

    def __repr__(self) -> str:
        return (
            f"Site({self.qualname} at {self.code.co_filename}:{self.code.co_firstlineno}, "
            f"{len(self.functions)} function(s)"
            + (f", parent {self.parent.qualname}" if self.parent else "")
            + ")"
        )


@dataclass(eq=False)
class Target:
    """One code object a probe goes into, and the instance filter (calls count
    only when the first argument is ``instance``; ``None``: every call)."""

    site: Site
    instance: Any = None

    @property
    def code(self) -> CodeType:
        """The (original, unpatched) code object."""
        return self.site.code


class _Index:
    """All live functions and every code object nested in their code, with
    parent links. Built from one pass over :func:`gc.get_objects` (and, when
    part of the heap is frozen, the functions reachable from modules)."""

    def __init__(self) -> None:
        # Building the index allocates tens of thousands of small objects
        # that live until it is dropped; each collection they would trigger
        # walks the whole heap (most of the time it took). None of them can
        # form a cycle worth collecting before the index is done.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build()
        finally:
            if was_enabled:
                gc.enable()

    def _build(self) -> None:
        self._first: dict[int, FunctionType] = {}
        self._more: dict[int, list[FunctionType]] = {}
        self.codes: dict[int, CodeType] = {}
        self.parent: dict[int, CodeType] = {}
        roots: list[CodeType] = []
        # natively: a list of every object must not outlive the scan (see
        # splice.owners.search_many)
        functions: list[FunctionType] = _native.functions_in_heap()
        if owners.heap_frozen():  # gc.get_objects() does not see a frozen heap
            seen = {_addr(f) for f in functions}
            functions += [f for f in owners.module_functions() if _addr(f) not in seen]
        # The hot loop of a name scope's enter: tens of thousands of
        # functions in an ML process. It allocates no container per function
        # (a list each made the collector run full collections over the
        # whole heap, most of the time spent), and maps to the original code
        # only while something is patched.
        first: dict[int, FunctionType] = {}
        more = self._more
        patched = made_codes()
        for o in functions:
            c = original_code(_function_code(o)) if patched else _function_code(o)
            k = _addr(c)
            if k not in first:
                first[k] = o
                roots.append(c)
            elif k in more:
                more[k].append(o)
            else:
                more[k] = [o]
        self._first = first
        codes = self.codes
        parent = self.parent
        for root in roots:
            codes[_addr(root)] = root
        # every code object nested in them (native: a walk of the co_consts
        # of every function in the process costs hundreds of ms in Python)
        for c, child in _native.nested_codes(roots):
            parent.setdefault(_addr(child), c)
            codes.setdefault(_addr(child), child)

    def site(self, code: CodeType, _memo: Optional[dict[int, Site]] = None) -> Site:
        memo = {} if _memo is None else _memo
        s = memo.get(_addr(code))
        if s is not None:
            return s
        parent_code = self.parent.get(_addr(code))
        parent = None
        if parent_code is not None:
            parent = self.site(parent_code, memo)
        s = Site(code, self.owners_of(code), parent)
        memo[_addr(code)] = s
        return s

    def owners_of(self, code: CodeType) -> list[FunctionType]:
        """The live functions whose (original) code is ``code``."""
        f = self._first.get(_addr(code))
        return [] if f is None else [f, *self._more.get(_addr(code), ())]

    def all_codes(self) -> Iterator[CodeType]:
        return iter(self.codes.values())


def _one_level_parent(fn: FunctionType) -> tuple[int, Optional[tuple[FunctionType, list[CodeType]]]]:
    """For a closure one level inside a named function (``A.f.<locals>.g``)
    that runs its original code while nothing is patched: how many
    references to its code object the parent's constants hold, and the
    parent chain (:func:`splice.owners.parent_chain`); else ``(0, None)``.
    Returns no reference to ``fn``'s code object (the census that follows
    counts them)."""
    code = _function_code(fn)
    if "<locals>" not in getattr(code, "co_qualname", code.co_name) or patched_codes():
        return 0, None
    if original_code(code) is not code:
        return 0, None
    chain = owners.parent_chain(fn, code)
    if chain is None or len(chain[1]) != 1:
        return 0, None
    n = 0
    for k in chain[1][0].co_consts:
        n += k is code
    return n, chain


def _site_for_function(fn: FunctionType) -> Site:
    """The site of ``fn``'s code: its owners and, for a nested code object, the
    chain of parents (found with a full index; only nested functions pay)."""
    # The census (splice.owners) proves most of the time that no other
    # function owns this code, so the heap search (tens of milliseconds in a
    # process with torch imported) is skipped. A running frame, a cache or an
    # immortal code object makes the count larger: then we search. (Counted
    # before `code` is bound here: that local would be a reference too. The
    # parent's constants are counted first, so that the census stops before
    # its stack walks when they explain what is left.)
    in_parent, chain = _one_level_parent(fn)
    extra = owners.unexplained_refs(fn, in_parent)
    sole_owner = extra == 0
    code = original_code(_function_code(fn))
    qual = getattr(code, "co_qualname", code.co_name)
    if chain is not None:
        # A closure one level inside a named function: the parent is found
        # by name, and its constants hold explained references.
        anchor = chain[0]
        del chain  # no local may hold the anchor's code during its census
        found = [fn] if sole_owner else owners.find(fn, extra)
        return Site(code, found, _site_for_function(anchor))
    if "<locals>" not in qual:
        if _function_code(fn) is not code:
            found = []
        elif sole_owner:
            found = [fn]
        else:
            found = owners.find(fn, extra)
        if fn not in found:
            found.append(fn)
        return Site(code, found)
    index = _Index()
    site = index.site(code)
    if fn not in site.functions:
        site.functions.append(fn)
    return site


# ---------------------------------------------------------------------------


def _describe_fn(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


class Scope:
    """Where a probe applies (NoPdb's ``Scope``): a function (callable or name),
    a module, a file, with ``unwrap`` following ``__wrapped__`` chains.

    Args:
        function: A Python callable or the name of a Python function. A bound
            method or a callable instance restricts matching to that instance.
        module: Only functions defined in this module (``co_filename ==
            module.__file__``; for a stdlib module the interpreter froze into
            itself, such as ``os`` or ``posixpath``, ``"<frozen os>"``).
        file: Only functions defined in this file: a ``str`` is a glob pattern
            for :meth:`pathlib.PurePath.match`; an ``os.PathLike`` is resolved
            and compared exactly; names like ``<ipython-input-3>`` are compared
            exactly.
        unwrap: Follow ``__wrapped__`` (``functools.wraps``) when ``function``
            is a callable.
    """

    def __init__(
        self,
        function: Optional[FunctionArg] = None,
        module: Optional[ModuleType] = None,
        file: Optional[FileArg] = None,
        unwrap: bool = True,
    ) -> None:
        self.function = function
        self.module = module
        self.unwrap = unwrap
        self._fn_name: Optional[str] = None
        self._fn: Optional[FunctionType] = None
        self._fn_code: Optional[CodeType] = None
        self._fn_self: Any = None
        if isinstance(function, str):
            self._fn_name = function
        elif function is not None:
            self._fn, self._fn_self = code_of(function, unwrap=unwrap)
            self._fn_code = original_code(_function_code(self._fn))
            owners.holder(self, self._fn_code)  # its reference is explained
        if module is not None and not isinstance(module, ModuleType):
            raise TypeError(f"module= must be a module object, not {type(module).__name__}")
        #: the co_filename of the module's functions
        self._module_files = _module_filenames(module) if module is not None else frozenset()
        self.file: Optional[Union[str, pathlib.Path]]
        if isinstance(file, PathLike):
            self.file = pathlib.Path(file).resolve()
        elif file is None or isinstance(file, str):
            if isinstance(file, str):
                try:
                    pathlib.PurePath("x.py").match(file)
                except ValueError as e:
                    raise ScopeError(
                        f"file={file!r} is not a usable pattern ({e}): pass a file name ('attention.py'), "
                        f"a glob pattern ('*/models/attention.py') or a path (pathlib.Path(...))"
                    ) from None
            self.file = file
        else:
            raise TypeError(f"file= must be a str or a path, not {type(file).__name__}")
        self._resolved: dict[str, bool] = {}

    @property
    def is_empty(self) -> bool:
        """Whether no function, module or file narrows it (every function)."""
        return self.function is None and self.module is None and self.file is None

    @property
    def instance(self) -> Any:
        """The instance a bound method or callable instance restricts it to,
        or None."""
        return self._fn_self

    def __repr__(self) -> str:
        parts = []
        if self.function is not None:
            parts.append(f"function={_describe_fn(self.function)!s}")
        if self.module is not None:
            parts.append(f"module={self.module.__name__}")
        if self.file is not None:
            parts.append(f"file={str(self.file)!r}")
        return f"Scope({', '.join(parts)})"

    # -- matching ---------------------------------------------------------

    def _file_matches(self, filename: str) -> bool:
        if self.file is None:
            return True
        if filename.endswith(">"):
            return filename == str(self.file)
        hit = self._resolved.get(filename)
        if hit is None:
            try:
                p = pathlib.Path(filename).resolve()
            except (OSError, RuntimeError, ValueError):
                p = pathlib.Path(filename)
            if isinstance(self.file, pathlib.Path):
                hit = p == self.file
            else:
                hit = p.match(self.file)
            self._resolved[filename] = hit
        return hit

    def match_code(self, code: CodeType) -> bool:
        """Does ``code`` fall in this scope (ignoring the instance filter)?"""
        if self._fn_code is not None and code is not self._fn_code:
            return False
        if self._fn_name is not None and code.co_name != self._fn_name:
            return False
        if self.module is not None and code.co_filename not in self._module_files:
            return False
        return self._file_matches(code.co_filename)

    def match_frame(self, frame: FrameType) -> bool:
        """NoPdb's frame test: is ``frame`` running code in this scope?"""
        if not self.match_code(original_code(frame.f_code)):
            return False
        if self._fn_self is not None:
            code = frame.f_code
            if code.co_argcount == 0:
                return False
            first = code.co_varnames[0]
            return frame.f_locals.get(first) is self._fn_self
        return True


def _is_own(code: CodeType) -> bool:
    return code.co_filename.startswith(_SPLICE_ROOT)


def _names_splice(scope: Scope) -> bool:
    """Whether ``scope``'s module or file is one of splice's own."""
    module = getattr(scope.module, "__name__", None)
    if type(module) is str and (module == "splice" or module.startswith("splice.")):
        return True
    if scope.file is None:
        return False
    own = pathlib.Path(_SPLICE_ROOT)
    files = [own / "__init__.py", *own.glob("*.py"), *own.glob("*/*.py")]
    return any(scope._file_matches(str(f)) for f in files)


def resolve(scope: Scope) -> list[Target]:
    """The code objects ``scope`` covers, as :class:`Target` objects (original
    code objects, even while patched). Raises :class:`ScopeError` if none.

    Only function bodies are returned (module and class bodies run once), and
    never splice's own code.
    """
    if scope._fn is not None:
        # No local may hold the code object while _site_for_function counts
        # its references (splice.owners): one would force a heap search.
        assert scope._fn_code is not None
        if not scope.match_code(scope._fn_code):
            where = []
            if scope.module is not None:
                where.append(f"module {scope.module.__name__} ({scope.module.__file__})")
            if scope.file is not None:
                where.append(f"file {str(scope.file)!r}")
            raise ScopeError(
                f"{_describe_fn(scope.function)} is defined in {scope._fn_code.co_filename}, not in "
                + " / ".join(where)
            )
        return [Target(_site_for_function(scope._fn), scope._fn_self)]

    index = _Index()
    memo: dict[int, Site] = {}
    out: list[Target] = []
    for code in index.all_codes():
        if not code.co_flags & _native.CO_OPTIMIZED or _is_own(code):
            continue
        if scope.match_code(code):
            out.append(Target(index.site(code, memo)))
    if not out:
        raise ScopeError(_nothing_message(scope))
    out.sort(key=lambda t: (t.code.co_filename, t.code.co_firstlineno, t.code.co_name))
    return out


def wants(scope: Scope, code: CodeType) -> bool:
    """Whether a lazy scope instruments ``code`` (an original code object):
    a function body in the scope, not splice's own."""
    return bool(code.co_flags & _native.CO_OPTIMIZED) and scope.match_code(code) and not _is_own(code)


#: (name, id(module), file) -> a function a scope was found to match last
#: time; at most :data:`_FOUND_MAX` (a scope per plugin module loaded in a
#: loop added one for good, long after the module was gone)
_found: dict[tuple[Optional[str], int, str], weakref.ref[FunctionType]] = {}
_FOUND_MAX = 256


def _remember(key: tuple[Optional[str], int, str], fn: FunctionType) -> None:
    if len(_found) >= _FOUND_MAX:
        _found.clear()
    _found[key] = weakref.ref(fn)


def check_exists(scope: Scope) -> None:
    """Raise :class:`ScopeError` unless some live function is in ``scope``
    (a lazy scope's check on creation, so that a misspelt name is an error,
    as with an eager one). Stops at the first match: the functions of
    modules and of their classes, and the code nested in them (closures),
    are looked at first (what a scope by name usually means); only when
    none matches is the whole heap indexed (:func:`resolve`, which raises).
    The function found is remembered (weakly): the next check of the same
    scope starts there."""
    if scope._fn is not None:
        return
    key = (scope._fn_name, _addr(scope.module), str(scope.file))
    hit = _found.get(key)
    if hit is not None:
        fn = hit()
        if fn is not None and _matches_within(scope, fn):
            return
    seen: set[int] = set()
    # the most recently imported modules first: a scope usually names the
    # model or the code under study, imported after its libraries
    for mod in reversed(list(sys.modules.values())):
        try:
            d = getattr(mod, "__dict__", None)
        except Exception:  # not a module: a lazy proxy of some library
            continue
        if type(d) is not dict:
            continue
        values = list(d.values())
        for v in values:  # grows by the classes' attributes, each class once
            t = type(v)  # never isinstance: it may run a module's __getattr__ / __class__
            if t is staticmethod or t is classmethod:
                v = v.__func__
                t = type(v)
            if t is FunctionType:
                if _matches_within(scope, v):
                    _remember(key, v)
                    return
            elif issubclass(t, type) and _addr(v) not in seen:
                seen.add(_addr(v))
                try:
                    values.extend(v.__dict__.values())
                except Exception:  # a metaclass with its own __dict__
                    pass
    # no module or class holds a match: the whole index decides (and
    # raises); a function it finds is remembered like one found above
    for target in resolve(scope):
        site: Optional[Site] = target.site
        while site is not None:
            if site.functions:
                _remember(key, site.functions[0])
                return
            site = site.parent


def _matches_within(scope: Scope, fn: FunctionType) -> bool:
    """Whether ``fn``'s (original) code, or a code object nested in it, is
    in ``scope``."""
    codes = [original_code(_function_code(fn))]
    while codes:
        c = codes.pop()
        if wants(scope, c):
            return True
        codes.extend(k for k in c.co_consts if type(k) is CodeType)
    return False


def _module_filenames(module: ModuleType) -> frozenset[str]:
    """The ``co_filename`` of the functions of ``module``: its ``__file__``,
    and for a module imported frozen (``os``, ``posixpath``, ``codecs``...:
    CPython compiles them into the interpreter) ``"<frozen NAME>"``, which its
    functions carry although ``__file__`` names the source file."""
    names = set()
    path = getattr(module, "__file__", None)
    if isinstance(path, str):
        names.add(path)
    frozen = frozen_name(module)
    if frozen is not None:
        names.add(f"<frozen {frozen}>")
    return frozenset(names)


def _frozen_modules_matching(file: Union[str, pathlib.Path]) -> list[str]:
    """Imported frozen modules whose ``__file__`` the ``file=`` pattern names."""
    out = set()
    for m in list(sys.modules.values()):
        name, path = frozen_name(m), getattr(m, "__file__", None)
        if name is None or not isinstance(path, str):
            continue
        try:
            if isinstance(file, pathlib.Path):
                hit = pathlib.Path(path).resolve() == file
            else:
                hit = pathlib.PurePath(path).match(file)
        except (ValueError, OSError):
            continue
        if hit:
            out.add(name)  # (os.path is posixpath)
    return sorted(out)


def _nothing_message(scope: Scope) -> str:
    parts = []
    if scope._fn_name is not None:
        parts.append(f"named {scope._fn_name!r}")
    hint = ""
    if scope.module is not None:
        path = getattr(scope.module, "__file__", None)
        parts.append(f"in module {scope.module.__name__}" + (f" ({path})" if path else ""))
        if not scope._module_files:
            hint = (
                f"; module {scope.module.__name__} has no source file "
                "(a built-in or namespace module has no Python functions)"
            )
    if scope.file is not None:
        parts.append(f"in a file matching {str(scope.file)!r}")
        frozen = _frozen_modules_matching(scope.file)
        if frozen:
            hint += (
                f"; {', '.join(frozen)} {'is' if len(frozen) == 1 else 'are'} imported frozen (compiled into "
                f"the interpreter), and {'its' if len(frozen) == 1 else 'their'} functions' files are named "
                f"'<frozen NAME>': pass "
                f"module={frozen[0]} or the function itself"
            )
    what = " ".join(parts) or "at all"
    if _names_splice(scope):
        hint += "; splice never probes its own code"
    if scope._fn_name is not None and "." in scope._fn_name:
        hint += "; a name is matched against a function's own name (co_name), e.g. 'forward', not 'Attention.forward'"
    return (
        f"no live pure-Python function {what}; splice looks for functions that exist when "
        f"the probe is created (define or import them first){hint}"
    )
