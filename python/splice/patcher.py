"""Swap and restore code objects: one registry of active probes per code object.

Every change (probes added, removed or rebuilt) goes through
:meth:`Patcher.commit`, which re-plans each affected function from scratch:

    original code (+ patched nested code objects in its co_consts)
        + all active probes on it, in activation order
        -> splice._native.instrument -> new code object

and then assigns the new code objects to every owning function's ``__code__``
(and, through the parent's ``co_consts``, to closures created later).

Guarantees:

- *Atomic*: all new code objects are computed before anything is assigned; if
  building any of them fails (a snippet error, a rewrite error), nothing
  changes and the error propagates. If an assignment fails half-way (or a
  ``KeyboardInterrupt`` arrives), the assignments already made are undone.
- *Exact restore*: when the last probe on a code object goes (and none remain
  on the code objects nested in it), every owner's ``__code__`` is the
  original object again (``f.__code__ is original``), whatever the order in
  which probes were removed.
- *Thread-safe*: one re-entrant lock serialises all commits.
- Untouched code stays untouched: only owners of re-planned code objects are
  assigned; ``sys.settrace``/``sys.setprofile`` are never used.
- *Specialization survives*: assigning ``__code__`` clears the function's
  version, and on 3.13+ CPython never specializes calls to it again. Every
  assignment here is followed by :func:`_native.sync_version`, which gives the
  function the version of the code object it now has (its old version when
  that is the original) under guards that prove the state is the one the
  version stands for (docs/architecture.md, *Function versions*).

Closures created while a parent is patched get the patched nested code; at
every later commit (and at restore) they are found by a heap search
(:func:`splice.owners.search_many`) and moved along too.

The lifecycle of the objects that own probes (breakpoints, captures) is
:mod:`splice.lifecycle`.
"""

from __future__ import annotations

import sys
import sysconfig
import warnings
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import CodeType, FunctionType
from typing import Optional, Union

from splice import _native
from splice import dynamo as _dynamo
from splice import enter_guard as _enter_guard
from splice import owners as _owners
from splice import resolve as _resolve
from splice._native import CaptureProbe, LineProbe
from splice._native import addr as _addr  # id() without its audit event
from splice._native import function_code as _function_code  # f.__code__, unaudited
from splice.errors import RewriteError, SnippetError, SpliceError
from splice.resolve import Site

__all__ = ["PATCHER", "NativeProbe", "Patcher", "Probe", "instrument", "replace_code"]

#: What :func:`instrument` takes: the native probe specs.
NativeProbe = Union[LineProbe, CaptureProbe]


def instrument(code: CodeType, probes: Sequence[NativeProbe]) -> CodeType:
    """Build the instrumented copy of ``code`` (``splice._native.instrument``).

    Module-level so the lifecycle tests can replace it with a fake. A
    snippet the rewriter refuses (its messages name a line) is named with
    the function and file, which that message lacks."""
    try:
        return _native.instrument(code, probes)
    except SnippetError as e:
        if type(e) is not SnippetError:
            raise
        name = getattr(code, "co_qualname", code.co_name)
        raise SnippetError(f"{name} ({code.co_filename}): {e}") from None


def replace_code(f: FunctionType, new: CodeType) -> None:
    """``f.__code__ = new`` for good (torture's rewrites), keeping calls to
    ``f`` specializable: ``f`` gets ``new``'s version when the guards allow."""
    saved = _native.save_version(f)
    f.__code__ = new
    if saved is not None:
        _native.sync_version(f, saved)
    drop_jit_traces()


def _jit_on() -> bool:
    """Whether CPython's tier-2 optimizer (the JIT, 3.13+) may run traces
    here: ``sys._jit.is_enabled()`` on 3.14+; on 3.13, a build configured
    with the experimental JIT (``PYTHON_JIT`` decides at startup)."""
    jit = getattr(sys, "_jit", None)
    if jit is not None:
        return bool(jit.is_enabled())
    return sys.version_info[:2] == (3, 13) and "--enable-experimental-jit" in str(
        sysconfig.get_config_var("CONFIG_ARGS") or ""
    )


#: asked once (the JIT is on or off for the life of the process)
_JIT = _jit_on()


def drop_jit_traces() -> None:
    """After ``__code__`` assignments, with the JIT on: throw away every trace
    it recorded (``sys._clear_internal_caches()``). A trace that went into a
    function keeps running the code it recorded after the function's
    ``__code__`` changes: a probe entered while a loop is hot did not fire,
    and on 3.15 one recorded through the instrumented code (a class's
    ``__init__``, called by ``C(...)``) ran again after the block, once
    splice gave the function its original version back, with the
    instrumented code's constants freed: a crash. Costs tens of
    microseconds, and the JIT records its traces again."""
    if _JIT:
        sys._clear_internal_caches()  # type: ignore[attr-defined]


class Probe:
    """One probe on one code object (the base the breakpoint and capture probes
    extend). :meth:`spec` returns the native probe specs for ``instrument``."""

    #: The site (original code object, owners, parent) the probe goes into.
    site: Site

    def __init__(self, site: Site) -> None:
        self.site = site

    def spec(self, extra_locals: tuple[str, ...]) -> tuple[list[NativeProbe], tuple[str, ...]]:
        """(native probe specs, names of new plain locals they add).
        ``extra_locals`` are the new locals earlier probes on the same code
        object add."""
        raise NotImplementedError

    def deactivated(self) -> None:
        """Called after the probe has been removed from its code object."""


def specs_for(probes: Iterable[Probe]) -> list[NativeProbe]:
    """The native specs of ``probes`` on one code object, in order: each
    probe's snippet sees the new locals the earlier ones add."""
    specs: list[NativeProbe] = []
    extra: tuple[str, ...] = ()
    for probe in probes:
        native, new_locals = probe.spec(extra)
        specs.extend(native)
        extra += tuple(x for x in new_locals if x not in extra)
    return specs


class _Node:
    """Patch state of one original code object."""

    __slots__ = ("original", "current", "owners", "parent", "children", "probes", "built", "__weakref__")

    def __init__(self, original: CodeType, parent: Optional[_Node]) -> None:
        self.original = original
        self.current = original
        self.owners: dict[int, weakref.ref[FunctionType]] = {}
        self.parent = parent
        self.children: list[_Node] = []
        self.probes: list[Probe] = []
        #: code objects built for earlier plans of this node, by (probe ids,
        #: children's code ids): leaving an inner `with` block puts back the
        #: very object that was there before it (`f.__code__ is before`).
        #: Entries go as soon as one of their probes is removed or changed,
        #: so nothing here outlives its probes.
        self.built: dict[tuple[tuple[int, ...], tuple[int, ...]], CodeType] = {}

    def forget(self, probe: Probe) -> None:
        """Drop the built code objects that contain ``probe``."""
        pid = _addr(probe)
        for key in [k for k in self.built if pid in k[0]]:
            del self.built[key]

    def add_owners(self, fns: Iterable[FunctionType]) -> None:
        """Remember ``fns`` (weakly) as functions whose ``__code__`` is this node's."""
        for f in fns:
            ref = self.owners.get(_addr(f))
            if ref is None or ref() is not f:
                self.owners[_addr(f)] = weakref.ref(f)

    def live_owners(self) -> list[FunctionType]:
        """The owners still alive (dead ones are forgotten)."""
        out = []
        for k, r in list(self.owners.items()):
            f = r()
            if f is None:
                del self.owners[k]
            else:
                out.append(f)
        return out

    def depth(self) -> int:
        """How many parents the node has (0 for a top-level function)."""
        d, n = 0, self.parent
        while n is not None:
            d, n = d + 1, n.parent
        return d

    def __repr__(self) -> str:
        return f"<node {getattr(self.original, 'co_qualname', self.original.co_name)} probes={len(self.probes)}>"


BuildKey = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass
class _Commit:
    """The state of one commit, phase by phase (see :meth:`Patcher._commit`)."""

    #: nodes and parent -> children links created by this commit
    new_nodes: dict[int, _Node] = field(default_factory=dict)
    new_children: dict[int, list[_Node]] = field(default_factory=dict)
    #: id(node) -> the node's probe list after the commit
    plans: dict[int, list[Probe]] = field(default_factory=dict)
    #: nodes whose probe list changed
    touched: dict[int, _Node] = field(default_factory=dict)
    removed: list[Probe] = field(default_factory=list)
    #: touched nodes and their ancestors, children before parents
    order: list[_Node] = field(default_factory=list)
    #: id(node) -> the code object its owners get
    new_code: dict[int, CodeType] = field(default_factory=dict)
    #: code objects built now, to remember in their node's `built`
    fresh: list[tuple[_Node, BuildKey, CodeType]] = field(default_factory=list)
    #: names of functions whose __code__ someone else replaced
    foreign: list[str] = field(default_factory=list)
    #: how many of `removed` were told (phase 6), whether the foreign
    #: replacements were warned about, the first exception phase 6 raised
    told: int = 0
    warned: bool = False
    tell_error: Optional[BaseException] = None
    #: phase 3b finished: the functions run the new code, and the commit
    #: must be finished (recorded) whatever interrupts it
    assigned: bool = False

    def plan_of(self, node: _Node) -> list[Probe]:
        """The node's tentative probe list (its current one until changed)."""
        p = self.plans.get(_addr(node))
        if p is None:
            p = self.plans[_addr(node)] = list(node.probes)
            self.touched[_addr(node)] = node
        return p

    def children(self, node: _Node) -> list[_Node]:
        """The node's children, including those this commit creates."""
        return node.children + self.new_children.get(_addr(node), [])


#: How many times a step that must finish (a commit's records, a removal) is
#: run again after an exception interrupted it, before it is given up (each
#: try is cut short only by another interruption).
RETRIES = 5


class Patcher:
    """The process-wide registry of active probes (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = _enter_guard.rlock()
        #: a commit is running (on the thread holding the lock)
        self._committing = False
        #: the commit that assigns code or records it now; one that an
        #: exception cut short between its assignments and the end of its
        #: records (a signal handler's KeyboardInterrupt lands on any
        #: instruction of Python code) is finished by the next commit or
        #: registry read (:meth:`_finish_inflight`)
        self._inflight: Optional[_Commit] = None
        self._nodes: dict[int, _Node] = {}
        self._by_current: dict[int, _Node] = {}
        #: every code object splice made and that is still alive, by id: a
        #: weak reference to it and to its original. :meth:`original` needs
        #: it after the node moved on: another thread may have read
        #: ``f.__code__`` (a patched one) just before a commit restored it,
        #: and a generator or a frame may still run code from a commit
        #: that has been undone. Weak on both sides, so it explains no
        #: reference in the owner census and keeps nothing alive.
        #: The third item: the ids of the probes the code object carries
        #: (:meth:`carries`).
        self._made: dict[int, tuple[weakref.ref[CodeType], weakref.ref[CodeType], frozenset[int]]] = {}
        #: each owner's version state from before splice first assigned its
        #: ``__code__`` (see :meth:`_set_code`); gone when the function is
        #: back on its original code, or dies
        self._versions: weakref.WeakKeyDictionary[FunctionType, _native.FuncVersion] = (
            weakref.WeakKeyDictionary()
        )

    # -- queries ------------------------------------------------------------

    def original(self, code: CodeType) -> CodeType:
        """The original of a code object splice patched (else ``code`` itself)."""
        made = self._made.get(_addr(code))
        if made is not None and made[0]() is code:
            orig = made[1]()
            if orig is not None:
                return orig
        return code

    def held_here(self) -> bool:
        """Whether this thread holds the lock: it is inside a commit (or a
        lifecycle change), so Python code it runs now is splice's own."""
        return bool(self.lock._is_owned())  # type: ignore[attr-defined]

    def any_patched(self) -> bool:
        """Whether any code object is replaced now (recorded by a finished
        commit)."""
        return bool(self._by_current)

    def any_made(self) -> bool:
        """Whether any code object splice made may still be seen: replaced
        now, being assigned by a commit on another thread, or still run by a
        frame (else :meth:`original` is the identity)."""
        if self._by_current:
            return True
        if self._made:
            # An entry's weakref callback drops it when its code object dies,
            # unless a KeyboardInterrupt from a signal handler landed as the
            # callback started: then the entry stays, dead, and every later
            # name-scope search would map each function through original().
            # Under the lock: a commit on another thread may record a new
            # code object under a dead one's id meanwhile.
            with self.lock:
                self._drop_dead_made()
        return bool(self._made)

    def _drop_dead_made(self) -> None:
        made = self._made
        for key, entry in list(made.items()):
            if entry[0]() is None and made.get(key) is entry:
                made.pop(key, None)

    def carries(self, code: CodeType, probe: Probe) -> bool:
        """Whether ``code`` is a code object splice made with ``probe`` in it
        (installed, being installed by a commit on another thread, or left
        running in a frame)."""
        made = self._made.get(_addr(code))
        return made is not None and made[0]() is code and _addr(probe) in made[2]

    def _remember_made(self, new: CodeType, original: CodeType, probes: Iterable[int] = ()) -> None:
        """Record that ``new`` was made from ``original`` with the probes of
        those ids (see ``_made``)."""
        made, key = self._made, _addr(new)
        entry = made.get(key)
        if entry is not None and entry[0]() is new:
            return

        def forget(dead: weakref.ref[CodeType]) -> None:
            if made.get(key, (None,))[0] is dead:  # not a newer object with the same id
                made.pop(key, None)  # (any_made() may have dropped it meanwhile)

        made[key] = (weakref.ref(new, forget), weakref.ref(original), frozenset(probes))

    def current(self, code: CodeType) -> CodeType:
        """The code object currently installed for (original) ``code``."""
        node = self._nodes.get(_addr(code))
        return node.current if node else code

    def is_idle(self) -> bool:
        """Whether no probe is active and no code object is replaced: what
        every test checks after it has removed its probes (a leak check)."""
        return not self._nodes and not self._by_current

    # -- the one way to change anything -------------------------------------

    def commit(
        self,
        add: Sequence[Probe] = (),
        remove: Sequence[Probe] = (),
        changed: Sequence[Probe] = (),
    ) -> Optional[BaseException]:
        """Add, remove and rebuild probes, atomically (see the module docstring).

        A probe in ``remove`` that is not active is ignored; a probe in ``add``
        that is already active is treated as changed. An exception before any
        function changed is raised (nothing changed); one after (an
        interruption, a warning turned into an error) is returned once the
        commit is finished, for the caller to raise after its own records.
        """
        with self.lock, UNRECORDED:
            if self._committing:
                raise SpliceError(
                    "splice: a probe was entered or exited while splice was changing code on this "
                    "thread (from a signal handler, a gc callback or a finalizer the collector ran "
                    "meanwhile, or a callback splice runs): do that after the handler returns"
                )
            self._committing = True
            try:
                self._finish_inflight()
                return self._commit(list(add), list(remove), list(changed))
            finally:
                self._committing = False

    def _commit(self, add: list[Probe], remove: list[Probe], changed: list[Probe]) -> Optional[BaseException]:
        """The phases of a commit, in order; only phase 3 changes anything the
        program can see, and it undoes itself if it fails. Once it has
        changed functions, the commit is finished even if an exception
        interrupts it (a signal handler's KeyboardInterrupt): that exception
        is returned, for the caller to raise once its own records are
        true to the new state too."""
        c = _Commit()
        self._plan(c, add, remove, changed)  # 0. the new probe list of each node
        if not c.touched:
            return None
        self._affected(c)  # 1. which nodes are re-planned, children first
        self._build_all(c)  # 2. every new code object (may raise: nothing changed)
        self._adopt_closures(c)  # 3a. closures made from a patched parent
        self._inflight = c  # (from here, what an interruption cuts short is finished later)
        self._assign(c)  # 3b. assign __code__ (undone on any failure before its end)
        return self._finish(c)

    def _finish(self, c: _Commit) -> Optional[BaseException]:
        """Phases 4-6 of a commit whose assignments are done; each step runs
        again from its start if an exception interrupts it. What interrupted
        them, or what phase 6 raised, is returned."""
        interrupted: Optional[BaseException] = None
        for _ in range(RETRIES):  # (each step can run again from its start)
            try:
                self._record(c)  # 4. the registry's new state
                self._settle(c)  # 5. dynamo marks, cleanup
                self._tell(c)  # 6. probe callbacks, warnings (each once)
                break
            except BaseException as e:  # an interruption: finish first
                interrupted = interrupted or e
        self._inflight = None
        return interrupted or c.tell_error

    def _finish_inflight(self) -> None:
        """Finish the commit an exception cut short after its assignments
        (its records, marks and callbacks; each step can run again), or
        forget one that changed nothing (its assignments were undone, or
        had not started). Without this, functions kept code the registry
        did not know it had given them: patched for good, and treated as
        replaced by someone else. What interrupted it was raised then."""
        c = self._inflight
        if c is None:
            return
        if c.assigned:
            self._finish(c)  # (an exception there went to the user already)
        self._inflight = None

    def adopt(self, original: CodeType, fns: Iterable[FunctionType]) -> None:
        """Move functions found running ``original``, or code made from it
        earlier (a lazy scope's first call of a function sharing an
        instrumented code object), onto the code its node has now; they are
        restored with the node's other owners. Functions running anything
        else are left alone."""
        with self.lock, UNRECORDED:
            node = self._nodes.get(_addr(original))
            if node is None or node.current is original:
                return
            for f in fns:
                fc = _function_code(f)
                if fc is node.current or self.original(fc) is not original:
                    continue
                node.add_owners((f,))
                if fc is original or f not in self._versions:
                    self._save_version(f)
                self._set_code(f, node.current)
                drop_jit_traces()
                _dynamo.sync(f, node.current)

    # -- phases -------------------------------------------------------------

    def _node_for(self, site: Site, c: _Commit) -> _Node:
        """The node of ``site``'s code object, created (with its parents) if new."""
        code = site.code
        node = self._nodes.get(_addr(code)) or c.new_nodes.get(_addr(code))
        if node is not None:
            node.add_owners(site.functions)
            return node
        parent = self._node_for(site.parent, c) if site.parent is not None else None
        node = _Node(code, parent)
        node.add_owners(site.functions)
        c.new_nodes[_addr(code)] = node
        if parent is not None:
            c.new_children.setdefault(_addr(parent), []).append(node)
        return node

    def _plan(self, c: _Commit, add: list[Probe], remove: list[Probe], changed: list[Probe]) -> None:
        """Phase 0: each touched node's probe list after the commit."""
        for probe in remove:
            node = self._nodes.get(_addr(probe.site.code))
            if node is None:
                continue
            p = c.plan_of(node)
            if probe in p:
                p.remove(probe)
                c.removed.append(probe)
                node.forget(probe)
        for probe in add:
            node = self._node_for(probe.site, c)
            p = c.plan_of(node)
            if probe not in p:
                p.append(probe)
            else:  # already active: treated as changed
                node.forget(probe)
        for probe in changed:
            code_id = _addr(probe.site.code)
            node = self._nodes.get(code_id) or c.new_nodes.get(code_id)
            if node is not None and probe in node.probes:
                node.forget(probe)  # its spec changed: rebuild
                c.plan_of(node)

    def _affected(self, c: _Commit) -> None:
        """Phase 1: the touched nodes and all their ancestors (a parent's
        ``co_consts`` holds its children's code), children before parents."""
        affected: dict[int, _Node] = {}
        for node in c.touched.values():
            n: Optional[_Node] = node
            while n is not None:
                affected[_addr(n)] = n
                n = n.parent
        c.order = sorted(affected.values(), key=lambda n: -n.depth())

    def _build_all(self, c: _Commit) -> None:
        """Phase 2: the new code object of every affected node: its original
        with the children's new code in ``co_consts``, instrumented with its
        probes (or a code object built earlier for the same plan)."""
        for node in c.order:
            probes = c.plans.get(_addr(node), node.probes)
            base = node.original
            repl = {}
            for child in c.children(node):
                cc = c.new_code.get(_addr(child), child.current)
                if cc is not child.original:
                    repl[_addr(child.original)] = cc
            if repl:
                base = base.replace(
                    co_consts=tuple(
                        repl.get(_addr(k), k) if type(k) is CodeType else k
                        for k in base.co_consts
                    )
                )
            if base is not node.original:
                self._remember_made(base, node.original)
            if not probes:
                c.new_code[_addr(node)] = base
                continue
            key: BuildKey = (
                tuple(_addr(p) for p in probes),
                tuple(_addr(c.new_code.get(_addr(ch), ch.current)) for ch in c.children(node)),
            )
            built = node.built.get(key)
            if built is None:
                built = self._build(node, base, probes)
                c.fresh.append((node, key, built))
            # known before phase 3 assigns it: another thread may read
            # f.__code__ then, before phase 4 records the node's new state
            self._remember_made(built, node.original, key[0])
            c.new_code[_addr(node)] = built

    def _adopt_closures(self, c: _Commit) -> None:
        """Phase 3a: closures created from a patched parent, and functions
        made of a patched code object (``types.FunctionType(f.__code__, ...)``
        inside the block, a function unpickled by value), carry code objects
        we installed; find them so they move along (and are restored)."""
        refresh = [
            n
            for n in c.order
            if c.new_code[_addr(n)] is not n.current
            and (n.parent is not None or n.current is not n.original)
            and not _no_other_closures(c, n, self._versions)
        ]
        if not refresh:
            return
        wanted: dict[int, _Node] = {}
        for n in refresh:
            wanted[_addr(n.current)] = n
            wanted[_addr(n.original)] = n
        codes = list({_addr(k): k for n in refresh for k in (n.current, n.original)}.values())
        for r in _owners.search_many(codes):
            owner_of = wanted.get(_addr(_function_code(r)))
            if owner_of is not None:
                owner_of.add_owners((r,))

    def _assign(self, c: _Commit) -> None:
        """Phase 3b: assign every owner's ``__code__``; on any failure
        (``KeyboardInterrupt`` included) the assignments made are undone.
        A function whose code someone else replaced is left alone."""
        done: list[tuple[FunctionType, CodeType]] = []
        try:
            for node in c.order:
                new = c.new_code[_addr(node)]
                if new is node.current:
                    continue
                for f in node.live_owners():
                    fc = _function_code(f)
                    if fc is new:
                        continue
                    if fc is node.current or fc is node.original:
                        if fc is node.original or f not in self._versions:
                            self._save_version(f)
                        # listed first: an interruption inside _set_code,
                        # after the assignment, is undone too (undoing one
                        # that did not happen assigns what f has)
                        done.append((f, fc))
                        self._set_code(f, new)
                    else:
                        c.foreign.append(getattr(f, "__qualname__", repr(f)))
                        node.owners.pop(_addr(f), None)
                        self._versions.pop(f, None)
            if done and _JIT:  # (inline: no Python call between the last assignment and the return)
                sys._clear_internal_caches()  # type: ignore[attr-defined]
            c.assigned = True  # (last: an exception before it undoes the assignments)
        except BaseException:
            for f, old in reversed(done):
                self._set_code(f, old)
                if _addr(old) not in self._by_current:  # back on its original: nothing to restore later
                    self._versions.pop(f, None)
            if done and _JIT:
                sys._clear_internal_caches()  # type: ignore[attr-defined]
            raise

    def _save_version(self, f: FunctionType) -> None:
        """Remember ``f``'s version state while it is still the one its code
        object gave it (nothing is remembered when it is not, and nothing
        will be written for ``f``)."""
        saved = _native.save_version(f)
        if saved is None:
            self._versions.pop(f, None)
        else:
            self._versions[f] = saved

    def _set_code(self, f: FunctionType, code: CodeType) -> None:
        """``f.__code__ = code``, then the version of ``code`` for ``f`` (the
        saved one when ``code`` is the original) if the guards allow: on
        3.13+ a function whose ``__code__`` was assigned is otherwise never
        specialized again."""
        f.__code__ = code
        saved = self._versions.get(f)
        if saved is not None:
            _native.sync_version(f, saved)

    def _record(self, c: _Commit) -> None:
        """Phase 4: the registry's new state (nodes, current code, probes)."""
        for node in c.new_nodes.values():
            self._nodes[_addr(node.original)] = node
        affected = {_addr(n): n for n in c.order}
        for pid, kids in c.new_children.items():
            children = affected[pid].children
            children.extend(k for k in kids if not any(k is x for x in children))  # (run again if interrupted)
        for node in c.order:
            new = c.new_code[_addr(node)]
            if node.current is not node.original:
                self._by_current.pop(_addr(node.current), None)
            node.current = new
            if _addr(node) in c.plans:
                node.probes = c.plans[_addr(node)]
            if new is not node.original:
                self._by_current[_addr(new)] = node
        for node, key, code in c.fresh:
            node.built[key] = code

    def _settle(self, c: _Commit) -> None:
        """Phase 5: torch.compile marks, forget emptied nodes (children first,
        so emptied parents go too). Runs again whole if interrupted."""
        for node in c.order:  # torch.compile must not trace hook constants
            for f in node.live_owners():
                if _function_code(f) is node.current:
                    _dynamo.sync(f, None if node.current is node.original else node.current)
        for node in c.order:
            if not node.probes:
                node.built.clear()
            if node.current is node.original:  # back on the original: nothing left to restore
                for f in node.live_owners():
                    self._versions.pop(f, None)
        for node in c.order:
            if node.current is node.original and not node.probes and not node.children:
                self._nodes.pop(_addr(node.original), None)
                if node.parent is not None and node in node.parent.children:
                    node.parent.children.remove(node)

    def _tell(self, c: _Commit) -> None:
        """Phase 6: tell each removed probe once, warn once about foreign
        ``__code__`` replacements; the first exception they raise (a warning
        turned into an error) goes to ``c.tell_error``, after the rest has
        run. Run again after an interruption, it goes on where it stopped."""
        while c.told < len(c.removed):
            probe = c.removed[c.told]
            c.told += 1  # (first: a probe interrupted in its callback is not told twice)
            try:
                try:
                    probe.deactivated()
                except Exception as e:  # pragma: no cover - a bug in a probe class
                    warnings.warn(f"splice: probe cleanup failed: {e!r}", RuntimeWarning, stacklevel=2)
            except BaseException as e:
                c.tell_error = c.tell_error or e
        if c.foreign and not c.warned:
            c.warned = True
            try:
                warnings.warn(
                    "splice: the __code__ of " + ", ".join(sorted(set(c.foreign)))
                    + " was replaced by someone else while instrumented; splice leaves it alone",
                    RuntimeWarning,
                    stacklevel=_owners._user_stacklevel(),  # the user's line, not splice's
                )
            except BaseException as e:
                c.tell_error = c.tell_error or e

    def installed(self) -> set[int]:
        """The ids of every probe in the registry now (what the last finished
        commit installed; a commit an exception cut short after its
        assignments is finished first)."""
        with self.lock:
            if not self._committing:
                self._finish_inflight()
            return {_addr(p) for node in self._nodes.values() for p in node.probes}

    def _build(self, node: _Node, base: CodeType, probes: list[Probe]) -> CodeType:
        """``base`` instrumented with ``probes``; anything but a code object
        with the original's free variables is a :class:`RewriteError`."""
        specs = specs_for(probes)
        name = getattr(node.original, "co_qualname", node.original.co_name)
        try:
            out = instrument(base, specs)
        except SpliceError:
            raise
        except Exception as e:
            raise RewriteError(f"instrumenting {name} failed: {type(e).__name__}: {e}") from e
        if not isinstance(out, CodeType):
            raise RewriteError(f"instrument() returned {type(out).__name__}, not a code object")
        if out.co_freevars != node.original.co_freevars:
            raise RewriteError(
                f"instrument() changed the free variables of {name} "
                f"({node.original.co_freevars} -> {out.co_freevars})"
            )
        return out


#: While it is entered, no capture records a call this thread starts: the
#: Python functions splice itself calls while it resolves a target, enters,
#: exits or commits (a ``WeakKeyDictionary``'s ``__setitem__`` saving a
#: function's version) were recorded by a capture with no scope, a name scope
#: that matched them, or ``module=weakref``, and used up its ``max_calls``.
#: Its exit is native, so that a KeyboardInterrupt cannot land between the
#: block's end and the resume (``_native.Unrecorded``); on 3.14 its enter is
#: not (:mod:`splice.enter_guard`).
UNRECORDED = _enter_guard.unrecorded()


#: The process-wide patcher.
PATCHER = Patcher()
_resolve.original_code = PATCHER.original
_resolve.patched_codes = PATCHER.any_patched
_resolve.made_codes = PATCHER.any_made


def _no_other_closures(c: _Commit, n: _Node, versions: Mapping[FunctionType, _native.FuncVersion]) -> bool:
    """Whether every function running ``n.original`` or ``n.current`` (for a
    node without a parent, ``n.current``) is provably among ``n``'s known
    owners, so that phase 3a needs no heap search (in a process with torch imported the search takes tens of
    milliseconds, on enter and again on exit).

    The proof is a reference count, as in :mod:`splice.owners`: each
    reference counted as explained is a slot that is read here and found to
    hold the code object (a constants tuple of a code object of the parent's
    node, counted once per tuple since ``code.replace`` may share one; an
    attribute or cache entry of ``n``; this commit's new code; a known
    owner's ``__code__`` or saved version state; a registered Site or Scope;
    the frame of a kept FrameView; a node of a stack that capture records
    keep, see :mod:`splice.owners`).
    Any other reference (a closure nobody found, a running frame, a user's
    variable) leaves the count unexplained and the heap is searched, so a
    miscount can only cost a search, never hide an owner."""
    parent = n.parent
    tuples: dict[int, tuple[object, ...]] = {}
    if parent is not None:
        holders = [parent.original, parent.current, *parent.built.values()]
        pnew = c.new_code.get(_addr(parent))
        if pnew is not None:
            holders.append(pnew)
        tuples = {_addr(k.co_consts): k.co_consts for k in holders}
        del holders, pnew
        codes = {_addr(n.original): n.original, _addr(n.current): n.current}
    else:
        # a root's original code is accounted for when the probe resolves
        # its owners (splice.resolve); its patched code is handed out only by
        # the owners' ``__code__``, unless someone made a function of it
        codes = {_addr(n.current): n.current}
    owners = n.live_owners()
    for key in list(codes):
        code = codes.pop(key)
        generation = _native.recorded_stack_generation()
        recorded = _native.recorded_stack_refs(code)  # callers in capture records' stacks
        explained = recorded + sum(1 for t in tuples.values() for k in t if k is code)
        explained += (n.original is code) + (n.current is code)
        explained += sum(1 for b in n.built.values() if b is code)
        explained += sum(1 for v in c.new_code.values() if v is code)
        explained += sum(1 for _node, _key, b in c.fresh if b is code)
        explained += sum(1 for f in owners if _function_code(f) is code)
        explained += sum(1 for f in owners if getattr(versions.get(f), "code", None) is code)
        explained += _owners.registered_refs(code)
        if n.current is code:  # frames of it that views from callbacks keep
            explained += _owners.view_frame_refs(n.original, code)
        # calls of it in progress on this thread: a capture that reaches its
        # max_calls inside the call removes its probe there (the exit then
        # searched the heap: 70 ms per block with torch imported)
        explained += _native.frames_running_here(code)
        del code  # no local may hold it while it is counted
        held = _owners.held_refs(n, "original" if key == _addr(n.original) else "current")
        if _native.recorded_stack_generation() != generation:
            explained -= recorded  # a stack node came or went meanwhile: not sound
        if held != explained:
            return False
    return True


def _node_refs(code: CodeType) -> int:
    """References the registry holds to the original code object ``code``
    (a node's ``original`` and, while unpatched, its ``current``): explained
    references for the owner census (:mod:`splice.owners`)."""
    node = PATCHER._nodes.get(_addr(code))
    if node is None or node.original is not code:
        return 0
    return 1 + (node.current is code)


_owners.node_refs = _node_refs
