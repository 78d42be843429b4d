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

Closures created while a parent is patched get the patched nested code; at
every later commit (and at restore) they are found with
:func:`gc.get_referrers` and moved along too.
"""

from __future__ import annotations

import gc
import threading
import warnings
import weakref
from types import CodeType, FunctionType
from typing import Any, Iterable, Optional, Sequence

from splice import resolve as _resolve
from splice import dynamo as _dynamo
from splice.errors import RewriteError, SpliceError
from splice.resolve import Site

__all__ = ["PATCHER", "Managed", "Patcher", "Probe", "instrument", "sync"]


def instrument(code: CodeType, probes: list[dict]) -> CodeType:
    """Build the instrumented copy of ``code`` (``splice._native.instrument``).

    Module-level so tests can replace it; raises :class:`RewriteError` when the
    native module of this build has no ``instrument``.
    """
    from splice import _native

    fn = getattr(_native, "instrument", None)
    if fn is None:
        raise RewriteError(
            "this build of splice._native has no instrument(); rebuild splice "
            "(scripts/venv) with the native instrumentation"
        )
    return fn(code, probes)


class Probe:
    """One probe on one code object (the base the breakpoint and capture probes
    extend). :meth:`spec` returns the probe dicts for ``_native.instrument``."""

    #: The site (original code object, owners, parent) the probe goes into.
    site: Site

    def __init__(self, site: Site) -> None:
        self.site = site

    def spec(self, extra_locals: tuple[str, ...]) -> tuple[list[dict], tuple[str, ...]]:
        """(probe dicts, names of new plain locals they add). ``extra_locals``
        are the new locals earlier probes on the same code object add."""
        raise NotImplementedError

    def deactivated(self) -> None:
        """Called after the probe has been removed from its code object."""


class _Node:
    """Patch state of one original code object."""

    __slots__ = ("original", "current", "owners", "parent", "children", "probes", "built", "__weakref__")

    def __init__(self, original: CodeType, parent: Optional["_Node"]) -> None:
        self.original = original
        self.current = original
        self.owners: dict[int, weakref.ref] = {}
        self.parent = parent
        self.children: list[_Node] = []
        self.probes: list[Probe] = []
        #: code objects built for earlier plans of this node, by (probe ids,
        #: children's code ids): leaving an inner `with` block puts back the
        #: very object that was there before it (`f.__code__ is before`).
        #: Entries go as soon as one of their probes is removed or changed,
        #: so nothing here outlives its probes.
        self.built: dict[tuple, CodeType] = {}

    def forget(self, probe: "Probe") -> None:
        """Drop the built code objects that contain ``probe``."""
        pid = id(probe)
        for key in [k for k in self.built if pid in k[0]]:
            del self.built[key]

    def add_owners(self, fns: Iterable[FunctionType]) -> None:
        for f in fns:
            if id(f) not in self.owners or self.owners[id(f)]() is not f:
                self.owners[id(f)] = weakref.ref(f)

    def live_owners(self) -> list[FunctionType]:
        out = []
        for k, r in list(self.owners.items()):
            f = r()
            if f is None:
                del self.owners[k]
            else:
                out.append(f)
        return out

    def depth(self) -> int:
        d, n = 0, self.parent
        while n is not None:
            d, n = d + 1, n.parent
        return d

    def __repr__(self) -> str:
        return f"<node {getattr(self.original, 'co_qualname', self.original.co_name)} probes={len(self.probes)}>"


class Patcher:
    """The process-wide registry of active probes (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._nodes: dict[int, _Node] = {}
        self._by_current: dict[int, _Node] = {}

    # -- queries ------------------------------------------------------------

    def original(self, code: CodeType) -> CodeType:
        """The original of a code object splice patched (else ``code`` itself)."""
        node = self._by_current.get(id(code))
        if node is not None and node.current is code:
            return node.original
        return code

    def probes_on(self, code: CodeType) -> list[Probe]:
        """The active probes on (original) ``code``, in order."""
        node = self._nodes.get(id(code))
        return list(node.probes) if node else []

    def current(self, code: CodeType) -> CodeType:
        """The code object currently installed for (original) ``code``."""
        node = self._nodes.get(id(code))
        return node.current if node else code

    def active_codes(self) -> list[CodeType]:
        """Original code objects that are currently replaced."""
        return [n.original for n in self._nodes.values() if n.current is not n.original]

    # -- the one way to change anything -------------------------------------

    def commit(
        self,
        add: Sequence[Probe] = (),
        remove: Sequence[Probe] = (),
        changed: Sequence[Probe] = (),
    ) -> None:
        """Add, remove and rebuild probes, atomically (see the module docstring).

        A probe in ``remove`` that is not active is ignored; a probe in ``add``
        that is already active is treated as changed.
        """
        with self.lock:
            self._commit(list(add), list(remove), list(changed))

    def _node_for(
        self, site: Site, new_nodes: dict[int, "_Node"], new_children: dict[int, list["_Node"]]
    ) -> "_Node":
        code = site.code
        node = self._nodes.get(id(code)) or new_nodes.get(id(code))
        if node is not None:
            node.add_owners(site.functions)
            return node
        parent = (
            self._node_for(site.parent, new_nodes, new_children)
            if site.parent is not None
            else None
        )
        node = _Node(code, parent)
        node.add_owners(site.functions)
        new_nodes[id(code)] = node
        if parent is not None:
            new_children.setdefault(id(parent), []).append(node)
        return node

    def _commit(self, add: list[Probe], remove: list[Probe], changed: list[Probe]) -> None:
        new_nodes: dict[int, _Node] = {}
        new_children: dict[int, list[_Node]] = {}
        plans: dict[int, list[Probe]] = {}  # id(node) -> tentative probe list
        touched: dict[int, _Node] = {}
        removed: list[Probe] = []

        def plan_of(node: _Node) -> list[Probe]:
            p = plans.get(id(node))
            if p is None:
                p = plans[id(node)] = list(node.probes)
                touched[id(node)] = node
            return p

        for probe in remove:
            node = self._nodes.get(id(probe.site.code))
            if node is None:
                continue
            p = plan_of(node)
            if probe in p:
                p.remove(probe)
                removed.append(probe)
                node.forget(probe)
        for probe in add:
            node = self._node_for(probe.site, new_nodes, new_children)
            p = plan_of(node)
            if probe not in p:
                p.append(probe)
            else:  # already active: treated as changed
                node.forget(probe)
        for probe in changed:
            node = self._nodes.get(id(probe.site.code)) or new_nodes.get(id(probe.site.code))
            if node is not None and probe in node.probes:
                node.forget(probe)  # its spec changed: rebuild
                plan_of(node)
        if not touched:
            return

        def children(node: _Node) -> list[_Node]:
            return node.children + new_children.get(id(node), [])

        # affected nodes and all their ancestors, children before parents
        affected: dict[int, _Node] = {}
        for node in touched.values():
            n: Optional[_Node] = node
            while n is not None:
                affected[id(n)] = n
                n = n.parent
        order = sorted(affected.values(), key=lambda n: -n.depth())

        # 1. compute every new code object (may raise: then nothing changes)
        new_code: dict[int, CodeType] = {}
        fresh: list[tuple[_Node, tuple, CodeType]] = []
        for node in order:
            probes = plans.get(id(node), node.probes)
            base = node.original
            repl = {}
            for child in children(node):
                cc = new_code.get(id(child), child.current)
                if cc is not child.original:
                    repl[id(child.original)] = cc
            if repl:
                base = base.replace(
                    co_consts=tuple(
                        repl.get(id(k), k) if type(k) is CodeType else k
                        for k in base.co_consts
                    )
                )
            if probes:
                key = (
                    tuple(id(p) for p in probes),
                    tuple(id(new_code.get(id(c), c.current)) for c in children(node)),
                )
                built = node.built.get(key)
                if built is None:
                    built = self._build(node, base, probes)
                    fresh.append((node, key, built))
                new_code[id(node)] = built
            else:
                new_code[id(node)] = base

        # 2. closures created from a patched parent carry code objects we
        #    installed; find them so they move along (and are restored)
        refresh = [n for n in order if n.parent is not None and new_code[id(n)] is not n.current]
        if refresh:
            wanted: dict[int, _Node] = {}
            for n in refresh:
                wanted[id(n.current)] = n
                wanted[id(n.original)] = n
            codes = list({id(c): c for n in refresh for c in (n.current, n.original)}.values())
            for r in gc.get_referrers(*codes):
                if type(r) is FunctionType:
                    n = wanted.get(id(r.__code__))
                    if n is not None:
                        n.add_owners((r,))

        # 3. assign (undone on any failure, KeyboardInterrupt included)
        done: list[tuple[FunctionType, CodeType]] = []
        foreign: list[str] = []
        try:
            for node in order:
                new = new_code[id(node)]
                if new is node.current:
                    continue
                for f in node.live_owners():
                    fc = f.__code__
                    if fc is new:
                        continue
                    if fc is node.current or fc is node.original:
                        f.__code__ = new
                        done.append((f, fc))
                    else:
                        foreign.append(getattr(f, "__qualname__", repr(f)))
                        node.owners.pop(id(f), None)
        except BaseException:
            for f, old in reversed(done):
                f.__code__ = old
            raise

        # 4. record the new state
        for node in new_nodes.values():
            self._nodes[id(node.original)] = node
        for pid, kids in new_children.items():
            affected[pid].children.extend(kids)
        for node in order:
            new = new_code[id(node)]
            if node.current is not node.original:
                self._by_current.pop(id(node.current), None)
            node.current = new
            if id(node) in plans:
                node.probes = plans[id(node)]
            if new is not node.original:
                self._by_current[id(new)] = node
        for node, key, code in fresh:
            node.built[key] = code
        for node in order:  # torch.compile must not trace hook constants
            for f in node.live_owners():
                if f.__code__ is node.current:
                    _dynamo.sync(f, None if node.current is node.original else node.current)
        for node in order:
            if not node.probes:
                node.built.clear()
        for node in order:  # children first, so emptied parents go too
            if node.current is node.original and not node.probes and not node.children:
                self._nodes.pop(id(node.original), None)
                if node.parent is not None and node in node.parent.children:
                    node.parent.children.remove(node)
        for probe in removed:
            try:
                probe.deactivated()
            except Exception as e:  # pragma: no cover - a bug in a probe class
                warnings.warn(f"splice: probe cleanup failed: {e!r}", RuntimeWarning)
        if foreign:
            warnings.warn(
                "splice: the __code__ of " + ", ".join(sorted(set(foreign)))
                + " was replaced by someone else while instrumented; splice leaves it alone",
                RuntimeWarning,
                stacklevel=4,
            )

    def _build(self, node: "_Node", base: CodeType, probes: list[Probe]) -> CodeType:
        specs: list[dict] = []
        extra: tuple[str, ...] = ()
        for probe in probes:
            dicts, new_locals = probe.spec(extra)
            specs.extend(dicts)
            extra += tuple(x for x in new_locals if x not in extra)
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


#: The process-wide patcher.
PATCHER = Patcher()
_resolve.original_code = PATCHER.original


# ---------------------------------------------------------------------------
# Lifecycle shared by breakpoints and captures


class Managed:
    """Base of :class:`~splice.Breakpoint`, :class:`~splice.CallCapture` and
    :class:`~splice.CallListCapture`: ``enable``/``disable`` and the
    context-manager protocol, with NoPdb's semantics.

    An object is *enabled* from creation until :meth:`disable`; its probes are
    installed while it is enabled **and** its :class:`~splice.NoPdb` instance is
    running (started and not paused by a later one). Leaving the ``with`` block
    disables it and stops the NoPdb instance if entering the block started it.
    """

    def __init__(self, nopdb: Any) -> None:
        self._nopdb = nopdb
        self._enabled = False
        self._active: list[Probe] = []
        self._was_started = False
        self.enable()

    # subclasses -------------------------------------------------------------
    def _wanted(self) -> list[Probe]:
        """The probes this object needs installed right now (while running)."""
        raise NotImplementedError

    def _on_sync(self, active: bool) -> None:
        """Called after every commit that involved this object."""

    # public -----------------------------------------------------------------
    def enable(self) -> None:
        """Enable again after :meth:`disable` (objects start enabled)."""
        with PATCHER.lock:
            if self._enabled:
                return
            self._enabled = True
            self._nopdb._register(self)
            try:
                sync([self])
            except BaseException:
                self._enabled = False
                self._nopdb._unregister(self)
                raise

    def disable(self) -> None:
        """Disable: remove the probes (the original code is back) until :meth:`enable`."""
        with PATCHER.lock:
            if not self._enabled:
                return
            self._enabled = False
            try:
                sync([self])
            finally:
                self._nopdb._unregister(self)

    @property
    def enabled(self) -> bool:
        """Whether the object is enabled (see :meth:`enable`, :meth:`disable`)."""
        return self._enabled

    @property
    def active(self) -> bool:
        """Whether its probes are installed right now."""
        return bool(self._active)

    def __enter__(self):
        self._was_started = self._nopdb.started
        self._nopdb._ensure_started()
        self.enable()
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        try:
            self.disable()
        finally:
            if self._nopdb.started and not self._was_started:
                self._nopdb.stop()


def sync(items: Sequence[Managed], changed: Sequence[Managed] = ()) -> None:
    """Bring the installed probes of ``items`` in line with their state, in one
    atomic commit; probes of objects in ``changed`` are rebuilt."""
    with PATCHER.lock:
        add: list[Probe] = []
        remove: list[Probe] = []
        rebuild: list[Probe] = []
        wants: list[list[Probe]] = []
        changed_ids = {id(c) for c in changed}
        for it in items:
            if it._enabled and it._nopdb._is_running():
                want = list(it._wanted())
            else:
                want = []
            wants.append(want)
            active_ids = {id(a) for a in it._active}
            want_ids = {id(w) for w in want}
            add.extend(p for p in want if id(p) not in active_ids)
            remove.extend(p for p in it._active if id(p) not in want_ids)
            if id(it) in changed_ids:
                rebuild.extend(p for p in want if id(p) in active_ids)
        PATCHER.commit(add, remove, rebuild)
        for it, want in zip(items, wants):
            it._active = want
            it._on_sync(bool(want))
