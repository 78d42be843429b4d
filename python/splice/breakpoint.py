"""Breakpoints: actions spliced into the target's bytecode at a line.

A :class:`Breakpoint` holds a list of actions (``eval``, ``exec``,
``callback``, ``debug``) that run, in the order they were scheduled, whenever
the line runs (every place where a ``sys.settrace`` ``'line'`` event for it
would fire) and ``cond`` is true. Where it goes is :mod:`splice.placement`;
what its actions become is :mod:`splice.actions` (one snippet per code
object, compiled by :mod:`splice.template` and handed to
``splice._native.instrument``); ``debug`` is :mod:`splice.debugger`.

Lifecycle: leaving the ``with`` block (or :meth:`Breakpoint.disable`) restores
the original code object, so no *new* call runs an action. A frame that was
already running the instrumented code (a suspended generator, a long loop in
another thread) finishes that call with the inline actions (``cond``,
``exec`` as text) still in its code; Python-level actions (``callback``,
``debug``, code-object snippets) check a flag and stop at once, and an
``eval`` list gets no more values (its sink lets go of the list: see
:class:`splice.actions.HookState`).
Stopping inline actions too would cost a check per hit, which the hot-loop
budget (within 5% of the hand-typed statement) does not allow.
"""

from __future__ import annotations

import bdb
import dis
import heapq
import inspect
import itertools
import pdb
import sys
import weakref
from collections.abc import Callable
from types import CodeType
from typing import TYPE_CHECKING, Any, Optional, Union

from splice import actions as _actions
from splice.actions import (
    Action,
    Callback,
    Condition,
    CountHits,
    Debug,
    Eval,
    Exec,
    FrameView,
    HookState,
    Parked,
    SnippetSource,
    build_snippet,
    build_snippet_lines,
)
from splice.debugger import finish
from splice.errors import SnippetError, release_frames
from splice.lifecycle import Managed, sync
from splice.patcher import PATCHER, NativeProbe, Probe, instrument, specs_for
from splice.placement import plan
from splice.resolve import Scope, Target
from splice.template import HOOK_PREFIX, Template, TextSnippet, build_template

if TYPE_CHECKING:  # pragma: no cover
    from splice.nopdb import NoPdb

__all__ = ["Breakpoint", "FrameView"]

class _Slots:
    """Small numbers for the hook names of enabled breakpoints
    (``_splice_b<n>_``): unique among the enabled ones (and those being
    created), and given back when a breakpoint is disabled, so that entering
    the same breakpoint again (a new object each time) makes the same
    snippet, which :func:`splice.template.build_template` has compiled."""

    # No lock: each step is one call into C (heappop, heappush, next), which
    # the GIL makes atomic, so a signal handler that creates a breakpoint
    # while this thread is inside take() or give() neither waits for itself
    # (a plain lock deadlocked there) nor gets the number this call gets.

    def __init__(self) -> None:
        self._free: list[int] = []
        self._next = itertools.count()

    def take(self) -> int:
        try:
            return heapq.heappop(self._free)
        except IndexError:
            return next(self._next)

    def give(self, n: int) -> None:
        # A number given twice would later go to two live breakpoints, whose
        # hooks would then call each other's actions: refuse a repeat (the
        # callers clear their slot first, so this is the second guard).
        if n not in self._free:
            heapq.heappush(self._free, n)


_bp_ids = _Slots()


def _action_key(a: Any) -> tuple[Any, ...]:
    """An action's part of the template key: its class, full text or code
    object, the names of its ``variables=`` and its label (the note)."""
    return (
        type(a).__name__,
        getattr(a, "text", None),
        getattr(a, "code", None),
        tuple(sorted(getattr(a, "variables", None) or ())),
        a.python_hook,
        a.label,
    )


#: CPython 3.13.0-3.13.2 crash reading a frame's locals inside an inlined
#: comprehension whose variable has the name of one of the function's cell or
#: free variables (gh-128396, fixed in 3.13.3): the slot holds the
#: comprehension's plain value and is read as a cell.
_LOCALS_CRASH = (3, 13) <= sys.version_info < (3, 13, 3)


def _crashing_lines(code: CodeType) -> frozenset[int]:
    """The lines of ``code`` spanned by an inlined comprehension whose
    variable is named like one of its cell or free variables (from the
    location of the comprehension's ``LOAD_FAST_AND_CLEAR``, which is the
    comprehension's)."""
    cells = set(code.co_cellvars) | set(code.co_freevars)
    if not cells:
        return frozenset()
    out: set[int] = set()
    for ins in dis.get_instructions(code):
        if ins.opname == "LOAD_FAST_AND_CLEAR" and ins.argval in cells:
            pos = ins.positions
            if pos is not None and pos.lineno is not None:
                out.update(range(pos.lineno, (pos.end_lineno or pos.lineno) + 1))
    return frozenset(out)


def _refuse_frame_locals(bp: Breakpoint, code: CodeType, lines: list[int], where: str) -> None:
    """A :class:`SnippetError` for any action at a line where reading the
    frame's locals crashes this interpreter (:data:`_LOCALS_CRASH`). Any:
    a callback's view, ``debug()`` and ``locals()`` read them, and so can
    any Python code a snippet runs, through a call, a property, an
    operator's ``__dunder__`` or ``len()`` of an object, as soon as it
    reads ``sys._getframe(1).f_locals`` (a debug helper). A check of the
    snippet's words let such code through (a segfault)."""
    bad = sorted(set(lines) & _crashing_lines(code))
    labels = [a.label for a in bp._actions] + ([bp._cond.label] if bp._cond is not None else [])
    if not bad or not labels:
        return
    raise SnippetError(
        f"breakpoint at {where} line {bad[0]}: CPython {sys.version.split()[0]} crashes "
        f"when a frame's locals are read inside the comprehension on this line, whose "
        f"variable has the name of a closure variable of the function (CPython "
        f"gh-128396, fixed in 3.13.3), and any Python code {labels[0]} runs there "
        f"can read them. Put the probe on another line, or use CPython 3.13.3 or later"
    )


class _BreakpointProbe(Probe):
    """The probe of one breakpoint on one code object: its snippet,
    compiled in that code object's scope (cached per actions version).

    It holds its breakpoint weakly (the breakpoint holds it): a breakpoint
    in a reference cycle with its probes would keep everything it recorded
    until the next full collection after the user dropped it. While its
    probes can be installed, the breakpoint is enabled and its NoPdb
    instance holds it."""

    def __init__(self, bp: Breakpoint, target: Target, lines: Optional[list[int]]) -> None:
        super().__init__(target.site)
        self._bp = weakref.ref(bp)
        self.target = target
        self.lines = lines
        self._cache: Optional[tuple[Any, Template]] = None

    @property
    def bp(self) -> Breakpoint:
        """The breakpoint (alive whenever its probes are asked for)."""
        bp = self._bp()
        if bp is None:  # pragma: no cover - a freed breakpoint is not enabled
            raise RuntimeError(f"the breakpoint at {self.site.qualname} was freed")
        return bp

    def template(self, extra_locals: tuple[str, ...] = ()) -> Template:
        """The compiled snippet (raises :class:`~splice.SnippetError`)."""
        bp = self.bp
        key = (bp._version, extra_locals)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        target, lines = self.target, self.lines
        if _LOCALS_CRASH and lines:
            _refuse_frame_locals(bp, target.code, lines, self.site.qualname)
        body: Any
        text = bp._snippet_lines(target, lines)
        if text is not None:  # compiled as text if it can be (spares building an AST)
            body, hooks = TextSnippet(tuple(text[0]), lambda: bp._snippet(target, lines)), text[1]
        else:
            body, hooks = bp._snippet(target, lines)
        tpl = build_template(
            self.target.code,
            body,
            hooks,
            label=f"breakpoint at {self.site.qualname}",
            extra_locals=extra_locals,
            cache_key=bp._snippet_key(self.target, self.lines),
            enclosing=self._enclosing(),
            type_params=self._type_params(),
        )
        self._cache = (key, tpl)
        return tpl

    def _enclosing(self) -> list[CodeType]:
        """The code objects around the target's, innermost first (a nested
        function's site knows its parents)."""
        out = []
        site = self.site.parent
        while site is not None:
            out.append(site.code)
            site = site.parent
        return out

    def _type_params(self) -> dict[str, str]:
        """The PEP 695 type parameters in the target's scope (name -> the
        function or class that declares them): the function's own, and
        those of the classes its qualified name goes through (3.12+)."""
        fn = self.site.functions[0] if self.site.functions else None
        if fn is None or not hasattr(fn, "__type_params__"):  # (none before 3.12)
            return {}
        out = {getattr(t, "__name__", ""): fn.__qualname__ for t in getattr(fn, "__type_params__", ())}
        parts = fn.__qualname__.split(".")[:-1]
        if "<locals>" not in parts:
            obj: Any = fn.__globals__
            try:  # (a class attribute lookup may run the user's code)
                for k, part in enumerate(parts):
                    obj = obj.get(part) if isinstance(obj, dict) else inspect.getattr_static(obj, part, None)
                    if not isinstance(obj, type):
                        break
                    for t in getattr(obj, "__type_params__", ()):
                        out.setdefault(getattr(t, "__name__", ""), ".".join(parts[: k + 1]))
            except Exception:
                pass
        out.pop("", None)
        return out

    def spec(self, extra_locals: tuple[str, ...]) -> tuple[list[NativeProbe], tuple[str, ...]]:
        tpl = self.template(extra_locals)
        return [tpl.probe(self.lines)], tpl.new_locals


class Breakpoint(Managed):
    """A breakpoint that executes scheduled actions when hit.

    Breakpoints are typically created with :func:`splice.breakpoint`. The
    breakpoint object works as a context manager that removes the breakpoint
    on exit. Actions may be scheduled before or inside the ``with`` block
    (scheduling re-instruments the function at once); they run in the order
    they were scheduled, each time the line runs and ``cond`` is true.

    Unlike NoPdb, where a breakpoint that can never fire (a blank or comment
    line, text that matches no statement, a name that matches no function) is
    silently inert, splice raises :class:`~splice.LocateError` or
    :class:`~splice.ScopeError` when the breakpoint is created.
    """

    def __init__(
        self,
        nopdb: NoPdb,
        scope: Scope,
        line: Optional[Union[int, str]] = None,
        cond: Optional[SnippetSource] = None,
    ) -> None:
        if line is None and scope.function is None:
            raise TypeError("A line must be given if no function is specified")
        if all(x is None for x in [scope.module, scope.file, scope.function]):
            raise TypeError("A module, file or function must be specified")
        self.scope = scope
        self.line = line
        self.cond = cond
        #: the slot of the hook names; held from creation while enabled
        self._id: Optional[int] = _bp_ids.take()
        try:
            self._setup(cond, nopdb)  # (a call: no loop directly in a `try`, see lifecycle._plan_sync)
        except BaseException:
            self._give_slot()  # (kept if it ended up enabled: on its NoPdb)
            raise

    def enable(self) -> None:
        with PATCHER.lock:
            if self._enabled:
                return
            fresh = self._id is None
            if fresh:
                self._id = _bp_ids.take()
                self._version += 1  # new hook names: rebuild the snippets
            try:
                Managed.enable(self)
            except BaseException:
                if fresh:
                    self._give_slot()  # (kept if the enable went through)
                raise

    def disable(self) -> None:
        with PATCHER.lock:
            was = self._enabled
            try:
                Managed.disable(self)
            finally:
                if was:
                    self._give_slot()  # (kept if the disable did not go through)

    enable.__doc__ = Managed.enable.__doc__
    disable.__doc__ = Managed.disable.__doc__

    def _setup(self, cond: Optional[SnippetSource], nopdb: NoPdb) -> None:
        self._actions: list[Action] = []
        self._version = 0
        self._state = HookState()
        #: what the hooks call, while the breakpoint is not installed
        self._parked: Parked = []
        self._counter: Optional[CountHits] = None
        self._cond = Condition(cond) if cond is not None else None
        self._sites = plan(self.scope, self.line)
        self._probes = [_BreakpointProbe(self, t, lines) for t, lines in self._sites]
        # Surface errors of the condition and of an instance filter now (an
        # empty breakpoint cannot fail otherwise: it is compiled when an
        # action is added).
        if self._cond is not None or any(t.instance is not None for t, _ in self._sites):
            for p in self._probes:
                p.template(())
        Managed.__init__(self, nopdb)

    def _give_slot(self) -> None:
        # Never while the breakpoint is enabled or installed: its hooks have
        # these names (an interrupt as enable()'s `with` exits comes after
        # the probes went in; a removal that failed every try leaves them
        # in), and the next breakpoint would get them too. Attributes read
        # with getattr: creation may fail before they exist.
        if getattr(self, "_enabled", False) or getattr(self, "_active", None):
            return
        self._drop_slot()

    def _drop_slot(self) -> None:
        # Cleared before it is given: a KeyboardInterrupt from a signal
        # handler can land when the push inside give() returns, and a slot
        # still held then was given again later (by disable() or __del__),
        # and two live breakpoints got the same hook names. Interrupted
        # before the push, the number is lost instead: harmless.
        slot, self._id = self._id, None
        if slot is not None:
            _bp_ids.give(slot)

    def __del__(self) -> None:
        # Freed while enabled (a NoPdb stopped or dropped with it, a
        # breakpoint never entered): no probe of it can be installed (its
        # NoPdb holds it while they can), so its hook names are free again.
        # Kept, they grew without bound, and every new breakpoint missed the
        # template cache (and, on 3.12+, interned new hook names for good).
        try:
            self._drop_slot()
        except Exception:  # (half built, or at interpreter shutdown)
            pass

    # -- public API ---------------------------------------------------------

    def eval(
        self,
        expression: SnippetSource,
        variables: Optional[dict[str, Any]] = None,
    ) -> list[Any]:
        """Schedule an expression to be evaluated at the breakpoint.

        The expression is compiled in the function's own scope and runs inline
        (a code object instead of text is evaluated by a slower hook).

        Args:
            expression (str, bytes or ~types.CodeType): A Python expression to be
                evaluated in the breakpoint's scope.
            variables (~typing.Dict[str, ~typing.Any], optional): External variables
                for the expression (they may shadow locals).

        Returns:
            list:
                An empty list that will later be filled with values of the expression.
        """
        results: list[Any] = []
        self._schedule(Eval(expression, variables, results))
        return results

    def exec(
        self,
        code: SnippetSource,
        variables: Optional[dict[str, Any]] = None,
    ) -> None:
        """Schedule some code to be executed at the breakpoint.

        The code is compiled in the function's own scope and runs inline, so
        assignments (``attn = attn * 3``, ``z += 1``, new names) change the
        function's locals directly. ``return``, ``yield``, ``await`` and a
        lambda closing over a plain local are rejected with
        :class:`~splice.SnippetError`.

        Args:
            code (str, bytes or ~types.CodeType): Python source code to be executed in
                the breakpoint's scope (dedented first).
            variables (~typing.Dict[str, ~typing.Any], optional): External variables
                for the code. These may not conflict with local variables and will
                *not* be preserved in the local scope.
        """
        self._schedule(Exec(code, variables))

    def debug(self, debugger_cls: type[bdb.Bdb] = pdb.Pdb, **kwargs: Any) -> None:
        """Schedule an interactive debugger to be entered at the breakpoint.

        Args:
            debugger_cls (~typing.Type[bdb.Bdb], optional): The debuger class. Defaults
                to :class:`pdb.Pdb`.
            **kwargs: Keyword arguments to pass to the debugger.
        """
        self._schedule(Debug(debugger_cls, kwargs))

    def callback(self, fn: Callable[[FrameView], Any]) -> None:
        """Schedule ``fn(view)`` to be called at the breakpoint (new in splice).

        ``view`` is a :class:`FrameView` (``locals``, ``globals``, ``line``,
        ``function``, ``frame``). An exception ``fn`` raises propagates into
        the function, as an exception from ``exec`` would.
        """
        self._schedule(Callback(fn))

    def count_hits(self) -> None:
        """Count hits (see :attr:`hits`) of a breakpoint whose only actions are
        ``exec`` (costs an inline ``n.n += 1`` per hit, no call)."""
        if self._counter is None:
            self._counter = CountHits()
            self._schedule(self._counter)

    @property
    def hits(self) -> Optional[int]:
        """How many times the actions ran (the line ran and ``cond`` was true).

        Counting costs nothing extra when the breakpoint already calls Python
        (``callback``, ``debug``, code-object snippets) or has an ``eval``
        (then it is the length of the first ``eval`` list, so clearing that
        list resets it). A breakpoint whose only actions are inline ``exec``
        is not counted (``None``) unless :meth:`count_hits` was called.
        """
        if self._counter is not None:
            return self._counter.count
        if any(a.python_hook for a in self._actions):
            return self._state.hits
        for a in self._actions:
            if isinstance(a, Eval):
                return len(a.results)
        return None

    @property
    def targets(self) -> list[tuple[CodeType, Union[list[int], str]]]:
        """(original code object, lines or ``"entry"``) for each place the
        breakpoint goes."""
        return [(t.code, "entry" if lines is None else lines) for t, lines in self._sites]

    def template_source(self) -> list[str]:
        """The template source text of each probe (for debugging)."""
        return [p.template().source for p in self._probes]

    def __repr__(self) -> str:
        where = ", ".join(
            f"{getattr(code, 'co_qualname', code.co_name)}:{at}" for code, at in self.targets[:3]
        )
        if len(self._sites) > 3:
            where += ", ..."
        return f"<splice.Breakpoint {where} actions={[a.label for a in self._actions]}>"

    # -- internals ----------------------------------------------------------

    def _wanted(self) -> list[Probe]:
        return list(self._probes) if self._actions else []

    def _on_sync(self, active: bool) -> None:
        self._state.live = active
        # the hooks' functions, out of the code's reach while not installed
        # (see HookState)
        if active:
            if self._parked:
                HookState.unpark(self._parked)
                self._parked = []
            for a in self._actions:
                if isinstance(a, Eval) and not a.sink.attached:
                    a.sink.attach(a.results)
        else:
            self._state.park(into=self._parked)
            for a in self._actions:
                if isinstance(a, Eval):
                    a.sink.detach()
                elif isinstance(a, Debug):
                    finish(a.sessions)

    def _schedule(self, action: Action) -> None:
        """Add ``action`` and re-instrument at once; on any error the
        breakpoint is as it was."""
        with PATCHER.lock:
            self._actions.append(action)
            self._version += 1
            try:
                for p in self._probes:
                    p.template(())
                sync([self], changed=[self])
                if not self._active:
                    self._try_rewrite()
            except BaseException as e:
                self._actions.remove(action)
                self._version += 1
                release_frames(e)
                raise

    def _try_rewrite(self) -> None:
        """Rewrite each target with this breakpoint's probe alone and throw
        the result away: for a breakpoint not installed now (made outside a
        ``with``, or disabled), whose rewrite would otherwise run first when
        its NoPdb starts. A refusal only the rewriter sees (a comprehension
        variable that hides a closure variable, on 3.12+) then came from
        the next ``with`` on that NoPdb, whatever it was for, and from
        every one after it."""
        for p in self._probes:
            instrument(p.site.code, specs_for([p]))

    def _snippet_key(self, target: Target, lines: Optional[list[int]]) -> Any:
        """What :meth:`_snippet` depends on besides the hook objects: the
        template cache's key (splice.template.build_template)."""
        return (
            self._id,
            tuple(_action_key(a) for a in self._actions),
            None if self._cond is None else (self._cond.text, self._cond.code, self._cond.label),
            None if lines is None else tuple(lines),
            target.instance is not None,
            _actions.ADD_EXCEPTION_NOTES,  # (read now: tests turn it off)
        )

    def _snippet(self, target: Target, lines: Optional[list[int]]) -> tuple[list[Any], dict[str, Any]]:
        """The breakpoint's statements and hooks for one target."""
        return build_snippet(self._actions, self._cond, target, lines, self._prefix(), self._state)

    def _snippet_lines(self, target: Target, lines: Optional[list[int]]) -> Optional[tuple[list[str], dict[str, Any]]]:
        """:meth:`_snippet` as source lines, or None (see build_snippet_lines)."""
        return build_snippet_lines(self._actions, self._cond, target, lines, self._prefix(), self._state)

    def _prefix(self) -> str:
        """The hook names' prefix, ``_splice_b<slot>_``."""
        if self._id is None:  # disabled: snippets are only built to be checked
            self._id = _bp_ids.take()
        return f"{HOOK_PREFIX}b{self._id}_"
