"""Find the live functions that own a code object (``f.__code__ is code``).

A probe must patch every function running a code object, and the general
answer is a heap search (:func:`gc.get_referrers`), which takes tens of
milliseconds in a process with torch imported and grows with the heap. Most
of the time the search can be skipped, because it is possible to *prove* that
the functions already in hand are all the owners there are:

- Every owner holds a strong reference to its code object, so if the code
  object's reference count is explained by references whose holders are
  known, no other owner can exist. The known holders are the functions in
  hand, splice's own objects (:class:`~splice.resolve.Scope`,
  :class:`~splice.resolve.Site`, the patcher's nodes: registered here and
  counted by reading their attributes, so a count can only be too small,
  never too large) and, for a nested code object, the ``co_consts`` of its
  parent code object.
- Also explained: calls of it on the calling thread's stack (one reference
  per frame), the stacks capture records keep (their callers' code
  objects, counted natively per stack node), and the constants of module
  code still alive: running, or kept by a lazy import not yet resolved
  (3.15+).
- Anything else that holds the code object (a frame of it on another thread
  or in a suspended generator, a cache, a user's variable, an object in a
  heap frozen with :func:`gc.freeze`) makes the count larger than
  explained, and then the heap is searched. A wrong count can only cause a
  search that was not needed, never a missed owner. A search that leaves
  references no function explains, twice on one code object, issues
  :class:`~splice.errors.HeapSearchWarning` naming what holds it.

The census is :func:`unexplained_refs`; :func:`owners` applies it and falls
back to :func:`search`. For a function nested one level in a named
function (``A.f.<locals>.g``) the parent code object is found by following
its qualified name from its module's globals (:func:`parent_chain`), and the
parent's constants explain one more reference; deeper nesting still uses the
index of :mod:`splice.resolve`, a walk of the whole heap.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import types
import warnings
import weakref
from collections.abc import Callable, Mapping
from types import AsyncGeneratorType, CellType, CodeType, CoroutineType, FrameType, FunctionType, GeneratorType
from typing import Any, Optional

from splice import _native
from splice import enter_guard as _enter_guard
from splice._native import addr as _addr  # id() without its audit event
from splice._native import function_code as _function_code  # f.__code__, unaudited
from splice.errors import HeapSearchWarning

__all__ = [
    "SOLE_OWNER_REFS",
    "find",
    "held_refs",
    "holder",
    "module_functions",
    "node_refs",
    "owners",
    "parent_chain",
    "registered_refs",
    "search",
    "search_many",
    "unexplained_refs",
    "view_frame_refs",
]

#: splice objects that hold a code object in an attribute (see
#: :func:`_splice_refs`), by the id of that code object: registered when they
#: are made, as weak references (plain ones: a ``WeakSet`` costs a dozen
#: Python-level calls per breakpoint). Keyed so that a census reads only the
#: holders of its own code (a name scope leaves thousands of sites that live
#: until a collection); per code object, by the id of the holder.
_HOLDERS: dict[int, dict[int, weakref.ref[Any]]] = {}
_registered = 0
#: per code object, the number of holders at which its dict is pruned next
_PRUNE_AT: dict[int, int] = {}
#: Guards ``_HOLDERS`` and its dicts: probes are made on many threads.
_HOLDERS_LOCK = _enter_guard.rlock()

#: References the patcher's registry holds to an original code object; the
#: patcher installs the real function (it imports this module, not the
#: other way round).
def _no_node_refs(code: CodeType) -> int:
    return 0


node_refs: Callable[[CodeType], int] = _no_node_refs


def holder(obj: Any, code: CodeType) -> None:
    """Register ``obj``, a :class:`~splice.resolve.Scope` (holding ``code``
    as ``_fn_code``), :class:`~splice.resolve.Site` or
    :class:`~splice.actions.FrameView` (as ``code``), so that its reference
    is counted by the census."""
    global _registered
    code_key, obj_key = _addr(code), _addr(obj)
    with _HOLDERS_LOCK:
        refs = _HOLDERS.setdefault(code_key, {})
        if len(refs) >= _PRUNE_AT.get(code_key, 8):
            # Every `with` block on a function makes a Scope that dies with
            # its capture, and a census reads them all (kept until the global
            # pruning below, they grew to a thousand dead entries in a loop
            # of captures, a tenth of a millisecond per enter). Holders that
            # stay (views kept from a callback) move the next pruning out,
            # so that registering stays O(1) amortized.
            _prune(code_key, refs)
        ref = refs.get(obj_key)
        if ref is None or ref() is not obj:
            refs[obj_key] = weakref.ref(obj)
        _registered += 1
        if _registered % 1024 == 0:  # the holders of other code objects
            _forget_all_dead()


def _forget_all_dead() -> None:
    """Drop dead holders of every code object, and emptied entries. (A
    function: no loop directly in a `with` block, see lifecycle._plan_sync.)"""
    for k, v in _HOLDERS.copy().items():
        _forget_dead(v)
        if not v:
            _HOLDERS.pop(k, None)
            _PRUNE_AT.pop(k, None)


def _prune(code_key: int, refs: dict[int, weakref.ref[Any]]) -> None:
    """Forget the dead holders of one code object; the next pruning comes
    when the live ones have doubled (O(1) amortized per registration)."""
    _forget_dead(refs)
    _PRUNE_AT[code_key] = max(8, 2 * len(refs))


def _forget_dead(refs: dict[int, weakref.ref[Any]]) -> None:
    """Drop the entries whose holder is gone."""
    # (over a copy, popped: a finalizer or signal handler that registers a
    # holder can run in the middle of this, on this thread)
    for key in [k for k, r in refs.copy().items() if r() is None]:
        refs.pop(key, None)


def _splice_refs(code: CodeType) -> int:
    """References to ``code`` from splice's own live objects: the registered
    holders and the patcher's registry."""
    return registered_refs(code) + node_refs(code)


def registered_refs(code: CodeType) -> int:
    """References to ``code`` from the registered holders (see :func:`holder`),
    each read from the attribute that holds it (so a holder whose attribute
    changed, or a code object that reuses a dead one's id, is not counted)."""
    n = 0
    key = _addr(code)
    with _HOLDERS_LOCK:
        refs = _HOLDERS.get(key)
        # (a copy: a finalizer or signal handler that registers a holder
        # can run during the loop, on this thread)
        held = [r() for r in refs.copy().values()] if refs else []
        if refs and len(refs) > 8 and 2 * sum(1 for h in held if h is None) > len(refs):
            # most holders are gone (views a user dropped): the next census
            # should not read them again
            _prune(key, refs)
    for s in held:
        if s is not None and (getattr(s, "_fn_code", None) is code or getattr(s, "code", None) is code):
            n += 1
    return n


#: inspect.CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR: code whose frames
#: a generator object also references (and, on 3.11, its ``gi_code``)
_RESUMABLE = 0x20 | 0x80 | 0x200


def view_frame_refs(original: CodeType, code: CodeType) -> int:
    """References to ``code`` from the frames of live views registered for
    ``original`` (:class:`~splice.actions.FrameView`: a breakpoint callback's
    view keeps the frame it was given, which runs the instrumented code):
    one per distinct frame whose ``f_code`` is ``code``, whether it has
    returned or still runs (a frame object shares its call's reference; a
    finished one keeps it), except frames running on this thread, which
    ``_native.frames_running_here`` counts. Not for generators and
    coroutines, whose objects hold more references to it (it counts 0 for
    them: a search)."""
    if code.co_flags & _RESUMABLE:
        return 0
    key = _addr(original)
    with _HOLDERS_LOCK:
        refs = _HOLDERS.get(key)
        held = [r() for r in refs.copy().values()] if refs else []  # (copy: see registered_refs)
    frames: set[int] = set()
    for h in held:
        frame = getattr(h, "frame", None)
        if type(frame) is FrameType and frame.f_code is code:
            frames.add(_addr(frame))
    if frames:
        # those running on this thread are counted as running here
        # (_native.frames_running_here) by the callers that count those
        here: set[int] = set()
        tops: list[Any] = [sys._current_frames().get(threading.get_ident())]
        _add_frame_ids([t for t in tops if t is not None], here)
        tops.clear()
        frames -= here
    return len(frames)


def _module_code_refs(fn: FunctionType, code: CodeType) -> int:
    """References to ``code`` from the constants of module code objects
    still alive, and of the class bodies nested in them: those running on
    some thread (a script's ``__main__``, a module being imported; the
    module code holds its functions' code objects until it finishes), and
    on 3.15+ those a lazy import not yet resolved holds (PEP 810: the
    ``lazy_import`` object keeps the code that made it, for its errors)."""
    tops: list[Any] = list(sys._current_frames().values())
    try:
        running = _native.stack_module_codes(tops, code.co_filename)
    finally:
        # this thread's top frame is this one: holding it would make a
        # cycle that keeps `code` referenced until the next collection
        tops.clear()
    for held in _lazy_import_module_codes(fn, code.co_filename):
        if not any(c is held for c in running):
            running.append(held)
    # Not the constants of function bodies: a closure's reference from its
    # parent's constants is the caller's to count (`explained`), and
    # counting it here too would explain one reference twice.
    optimized = _native.CO_OPTIMIZED
    return sum(
        1 for parent, child in _native.nested_codes(running) if child is code and not parent.co_flags & optimized
    )


#: The type of a lazy import not yet resolved (3.15+, PEP 810), else None.
_LAZY_IMPORT: Optional[type] = getattr(types, "LazyImportType", None)


def _lazy_import_module_codes(fn: FunctionType, filename: str) -> list[CodeType]:
    """The code objects of module ``filename`` that unresolved lazy imports
    in ``fn``'s globals hold (empty before 3.15). Read through the
    collector's view of each (its referents), which does not resolve it;
    loading one from the globals by name would import the module."""
    if _LAZY_IMPORT is None:
        return []
    found: list[CodeType] = []
    for value in list(fn.__globals__.values()):
        if type(value) is not _LAZY_IMPORT:
            continue
        for held in gc.get_referents(value):
            if (
                type(held) is CodeType
                and held.co_name == "<module>"
                and held.co_filename == filename
                and not any(c is held for c in found)
            ):
                found.append(held)
    return found


def search(code: CodeType) -> list[FunctionType]:
    """Every live function whose ``__code__`` is ``code``, by a heap search
    (objects in a frozen heap are not seen: see :func:`gc.freeze`)."""
    return search_many([code])


def search_many(codes: list[CodeType]) -> list[FunctionType]:
    """Every live function whose ``__code__`` is one of ``codes``: one pass
    over the tracked objects, natively (:func:`gc.get_referrers` would visit
    every object's references, about three times slower). The list of all
    objects never exists while other threads run: holding a reference to a
    tuple another thread is still building breaks it (SystemError)."""
    funcs: list[FunctionType] = _native.functions_owning(codes)
    return funcs


def _attr_refs(holder: Any, attr: str) -> int:
    """The reference count of ``getattr(holder, attr)`` seen from a frame of
    this shape (one local holds it, and getrefcount's argument): a census
    takes the holder, never the object, so the callers' frames hold no
    reference that the calibration did not see."""
    obj = getattr(holder, attr)
    return sys.getrefcount(obj)


def _calibrate() -> int:
    """``_attr_refs`` of a function's code object that nothing else
    references (the module code that made it is gone once ``exec`` returns)."""
    ns: dict[str, Any] = {}
    exec(compile("def f():\n    pass\n", "<splice calibration>", "exec"), ns)
    return _attr_refs(ns["f"], "__code__")


#: ``_attr_refs`` of an object held by one attribute only.
SOLE_OWNER_REFS = _calibrate()


def held_refs(holder: Any, attr: str) -> int:
    """References to ``getattr(holder, attr)`` from anywhere, that attribute
    included (1 when it is the only one). Call it while no local of the
    caller holds the object: each would count."""
    return _attr_refs(holder, attr) - SOLE_OWNER_REFS + 1


def unexplained_refs(fn: FunctionType, explained: int = 0) -> int:
    """How many references to ``fn.__code__`` are held by something other
    than ``fn``, splice's own objects and the ``explained`` ones the caller
    counted (a parent's constants): 0 proves ``fn`` is the code object's only
    owner. Call it while no local of the caller holds the code object (each
    would count as unexplained, which only costs a search)."""
    generation = _native.recorded_stack_generation()
    n = held_refs(fn, "__code__") - 1 - _splice_refs(_function_code(fn)) - explained
    if n > 0:  # functions of a script (or module) whose code is still
        # running, or held by a lazy import (3.15+)
        n -= _module_code_refs(fn, _function_code(fn))
    if n > 0:  # calls of it on this thread's stack (the parent of a nested
        # function probed from inside it): one reference per frame
        n -= _native.frames_running_here(_function_code(fn))
    if n > 0:  # callers' code objects in the stacks capture records keep
        held = _native.recorded_stack_refs(_function_code(fn))
        if held and _native.recorded_stack_generation() == generation:
            n -= held  # (only if no stack node came or went since the count)
    return n


def owners(fn: FunctionType) -> list[FunctionType]:
    """Every live function whose ``__code__`` is ``fn.__code__``: ``[fn]``
    when the census proves there is no other, else :func:`find`."""
    if unexplained_refs(fn) == 0:
        return [fn]
    return find(fn)


def _member_function(obj: Any) -> Any:
    """The function behind a module or class attribute (classmethod,
    staticmethod, property getter), else ``obj``."""
    # type() only: isinstance() would read a foreign object's __class__,
    # which can run code (lazy modules, deprecated aliases that warn)
    t = type(obj)
    if issubclass(t, (classmethod, staticmethod)):
        return obj.__func__
    if issubclass(t, property):
        return obj.fget
    return obj


def module_functions() -> list[FunctionType]:
    """Functions reachable by name from imported modules: module attributes,
    and the attributes of classes (and their nested classes) defined there.

    The heap searches (:func:`gc.get_referrers`, :func:`gc.get_objects`) do
    not see objects frozen with :func:`gc.freeze` (a server that imports
    everything, freezes and forks); those functions are found this way."""
    out: list[FunctionType] = []
    seen: set[int] = set()
    classes: list[type] = []
    for mod in list(sys.modules.values()):
        try:
            d = object.__getattribute__(mod, "__dict__")
        except AttributeError:
            continue
        if type(d) is not dict:
            continue
        for v in list(d.values()):
            if issubclass(type(v), type):
                classes.append(v)
            else:
                v = _member_function(v)
                if type(v) is FunctionType and _addr(v) not in seen:
                    seen.add(_addr(v))
                    out.append(v)
    done: set[int] = set()
    while classes:
        cls = classes.pop()
        if _addr(cls) in done:
            continue
        done.add(_addr(cls))
        try:
            members = list(vars(cls).values())
        except TypeError:
            continue
        for v in members:
            if issubclass(type(v), type):
                classes.append(v)
                continue
            v = _member_function(v)
            if type(v) is FunctionType and _addr(v) not in seen:
                seen.add(_addr(v))
                out.append(v)
    return out


#: A function every process has from its start (``site`` imports ``os``),
#: before any ``gc.freeze()`` of the user's: frozen with everything else if
#: the heap was frozen, and then invisible to the heap scans.
_WITNESS: Any = os.path.join


#: (gc.get_freeze_count(), whether the heap was frozen) of the last answer
_frozen_at: tuple[int, bool] = (0, False)


def heap_frozen() -> bool:
    """Whether functions may be hidden from the heap scans in the collector's
    permanent generation (:func:`gc.freeze`). ``gc.get_freeze_count()``
    alone does not say: CPython 3.12 starts with a few hundred tuples there.
    ``gc.freeze()`` freezes every tracked object, so after one the witness
    (``os.path.join``, created at startup) is frozen too and a scan does not
    find it. The answer is kept per freeze count (it changes only when the
    count does), so the scan runs once per ``gc.freeze()``."""
    global _frozen_at
    n = gc.get_freeze_count()
    if n != _frozen_at[0]:
        if type(_WITNESS) is not FunctionType:  # replaced: cannot tell
            frozen = True
        else:
            frozen = not any(f is _WITNESS for f in search_many([_function_code(_WITNESS)]))
        _frozen_at = (n, frozen)
    return _frozen_at[1]


def find(fn: FunctionType, unexplained: Optional[int] = None) -> list[FunctionType]:
    """Every live function whose ``__code__`` is ``fn.__code__``, by a heap
    search (for when the census could not prove ``fn`` the only one); with a
    frozen heap, also the functions reachable from modules. ``unexplained``
    is the census's count that made the search necessary: references it
    leaves unexplained after the search are reported (:func:`_note_held`)."""
    code = _function_code(fn)
    started = time.perf_counter()
    found = search(code)
    if fn not in found:
        found.append(fn)
    if heap_frozen():
        ids = {_addr(f) for f in found}
        for f in module_functions():
            if _function_code(f) is code and _addr(f) not in ids:
                ids.add(_addr(f))
                found.append(f)
    if unexplained is not None and unexplained > len(found) - 1:
        # each other owner found explains one reference; the rest is held
        # by something that is not a function, and will be again next time
        _note_held(code, found, unexplained - (len(found) - 1), time.perf_counter() - started)
    return found


#: Heap searches that left references to a code object unexplained, by the
#: id of the code object: (weak reference to it, how many searches). The
#: warning goes out once per code object, at the second such search (the
#: first may be a passing reference: a call in progress, a traceback).
_HELD: dict[int, tuple[weakref.ref[CodeType], int]] = {}
WARN_AT_SEARCH = 2

#: More unexplained references than this: a code object built into the
#: interpreter (3.11 and 3.12 deep-freeze the stdlib modules they freeze,
#: with a fixed count of 999,999,999, or immortal), which nothing the user
#: holds explains and the warning's advice cannot help: no warning.
_BUILT_IN_REFS = 1 << 28


def _note_held(code: CodeType, found: list[FunctionType], held: int, seconds: float) -> None:
    """Count a search that ``held`` references no function explains made
    necessary, and issue :class:`~splice.errors.HeapSearchWarning` at the
    second one for this code object, naming what holds it."""
    key = _addr(code)
    entry = _HELD.get(key)
    n = entry[1] + 1 if entry is not None and entry[0]() is code else 1
    if len(_HELD) >= 64:
        for k in [k for k, (r, _n) in _HELD.copy().items() if r() is None]:
            _HELD.pop(k, None)  # (copy, pop: see _forget_dead)
    _HELD[key] = (weakref.ref(code), n)
    if n != WARN_AT_SEARCH or held >= _BUILT_IN_REFS:
        return
    holders = _describe_holders(code, found)
    if len(holders) < held:
        # torch.compile keeps references to the code objects it traced in
        # its own C++ structures (found by testing: a function torch.compile
        # inlined stays held after torch._dynamo.reset())
        traced = ", or torch.compile, which keeps the code it traced" if "torch._dynamo" in sys.modules else ""
        holders.append(
            f"{held - len(holders)} not shown by the collector (a local variable of a "
            f"running function, a call of it in progress, or a tuple{traced})"
        )
    name = getattr(code, "co_qualname", code.co_name)
    warnings.warn(
        f"splice: every probe entered on {name} ({code.co_filename}:{code.co_firstlineno}) "
        f"searches the heap for the functions running its code ({seconds * 1e3:.1f} ms this "
        f"time), because {held} reference{'s' if held != 1 else ''} to its code object "
        f"come{'' if held != 1 else 's'} from objects splice cannot account for: "
        f"{'; '.join(holders)}. A function could hide among them, so splice cannot skip the "
        f"search. If your code keeps {code.co_name}.__code__ (or a frame or generator of it), "
        f"drop that reference or hold it with weakref.ref() to make entering a probe cheap "
        f"again; silence this with warnings.simplefilter('ignore', splice.HeapSearchWarning).",
        HeapSearchWarning,
        stacklevel=_user_stacklevel(),
    )


def _describe_holders(code: CodeType, found: list[FunctionType]) -> list[str]:
    """What holds ``code`` apart from the functions ``found`` and splice's
    own objects, in words (one heap scan: only for the warning). Tuples are
    left out (the constants of an enclosing code object, which the census
    counts, or a tuple another thread may still be building)."""
    known = {_addr(f) for f in found}
    with _HOLDERS_LOCK:  # the census counts these
        known.update(_HOLDERS.get(_addr(code), {}))
    running: set[int] = set()
    tops: list[Any] = list(sys._current_frames().values())
    try:
        _add_frame_ids(tops, running)  # (a call: no loop directly in a `try`, see lifecycle._plan_sync)
    finally:
        # this thread's top frame is this one: holding it would make a
        # cycle that keeps `code` referenced until the next collection
        tops.clear()
    out: list[str] = []
    for r in _native.referrers_but_tuples(code):  # (a tuple may be half built)
        t = type(r)
        if _addr(r) in known or (t.__module__, t.__qualname__) == ("splice.patcher", "_Node"):
            continue
        if _is_splice(t.__module__):
            # e.g. a FrameView kept from a breakpoint callback (.code)
            out.append(f"a splice.{t.__qualname__} object kept from an earlier probe")
            continue
        if t is FrameType:
            what = getattr(r.f_code, "co_qualname", r.f_code.co_name)
            if _addr(r) not in running:
                out.append(f"a finished frame of {what}, kept by a traceback (an exception still referenced)")
            elif not _is_splice(r.f_globals.get("__name__")):  # (splice's own: this enter)
                out.append(f"a running frame of {what} (a call of it, or a local variable)")
        elif t in (GeneratorType, CoroutineType, AsyncGeneratorType):
            kind = t.__name__.replace("_", " ")
            if getattr(r, "gi_code", getattr(r, "cr_code", getattr(r, "ag_code", None))) is code:
                out.append(f"a suspended {kind} of it")
            else:
                out.append(f"the suspended {kind} {r.__qualname__} (a local variable of it)")
        elif t is dict:
            out.append(_describe_dict(r))
        elif t is CellType:
            out.append("a closure cell")
        elif t is FunctionType:
            out.append(f"the function {r.__qualname__}")
        elif t.__module__ == "builtins":
            out.append(f"a {t.__qualname__}")  # a list, a set...
        else:
            out.append(f"a {t.__module__}.{t.__qualname__} object")
    return out


def _add_frame_ids(tops: list[Any], ids: set[int]) -> None:
    """The ids of every frame on the stacks whose top frames are ``tops``."""
    for top in tops:
        f: Optional[FrameType] = top
        while f is not None:
            ids.add(_addr(f))
            f = f.f_back


def _describe_dict(d: dict[Any, Any]) -> str:
    for name, mod in list(sys.modules.items()):
        try:
            if object.__getattribute__(mod, "__dict__") is d:
                return f"the globals of module {name} (a global variable)"
        except AttributeError:
            continue
    return "a dict (an object's attributes, a cache or a mapping)"


def _is_splice(module_name: object) -> bool:
    """Whether ``module_name`` is splice's package or one of its modules."""
    return module_name == "splice" or (type(module_name) is str and module_name.startswith("splice."))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside splice, seen from
    the function that calls :func:`warnings.warn`."""
    f: Optional[FrameType] = sys._getframe(2)  # the caller of the function calling this one
    level = 2
    while f is not None and _is_splice(f.f_globals.get("__name__")):
        f = f.f_back
        level += 1
    return level


def _path_to(root: CodeType, target: CodeType) -> Optional[list[CodeType]]:
    """The code objects from ``root`` down to ``target``'s direct parent
    (``root`` first), following ``co_consts``; ``None`` if ``target`` is not
    nested in ``root``."""
    stack: list[tuple[CodeType, list[CodeType]]] = [(root, [root])]
    while stack:
        c, path = stack.pop()
        for k in c.co_consts:
            if type(k) is CodeType:
                if k is target:
                    return path
                stack.append((k, [*path, k]))
    return None


def parent_chain(fn: FunctionType, code: CodeType) -> Optional[tuple[FunctionType, list[CodeType]]]:
    """For the nested function ``fn`` whose original code is ``code``: the
    function its qualified name leads to from its module's globals (the
    outermost named scope: ``A.f`` for ``A.f.<locals>.g``; class members
    unwrapped from classmethod/staticmethod/property and ``functools.wraps``
    chains) and the code objects from that function's code down to
    ``code``'s direct parent, found without a heap search. ``None`` when the
    name does not lead there (a class made at run time, a function replaced
    since): the caller then indexes the heap."""
    qual = getattr(code, "co_qualname", None)
    if not qual or ".<locals>." not in qual:
        return None
    head = qual.split(".<locals>.")[0]
    obj: Any = fn.__globals__
    for i, part in enumerate(head.split(".")):
        try:
            d = obj if i == 0 else object.__getattribute__(obj, "__dict__")
        except AttributeError:
            return None
        if not isinstance(d, Mapping):
            return None
        obj = d.get(part)
        if obj is None:
            return None
    anchor = _member_function(obj)
    for _ in range(100):  # functools.wraps chains
        if type(anchor) is FunctionType and getattr(_function_code(anchor), "co_qualname", None) == head:
            break
        try:
            anchor = object.__getattribute__(anchor, "__wrapped__")
        except AttributeError:
            return None
    else:
        return None
    path = _path_to(_function_code(anchor), code)
    if path is None:
        return None
    return anchor, path
