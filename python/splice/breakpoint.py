"""Breakpoints: actions spliced into the target's bytecode at a line.

A :class:`Breakpoint` holds a list of actions (``eval``, ``exec``,
``callback``, ``debug``) that run, in the order they were scheduled, whenever
the line runs (every place where a ``sys.settrace`` ``'line'`` event for it
would fire) and ``cond`` is true. The actions of one breakpoint form one
snippet per code object:

.. code-block:: python

    if <first argument> is <instance>:          # bound-method targets only
        try:
            if <cond>:
                <values0>.append(<expression>)  # eval: values0 is the results list
                attn = attn * 3                 # exec: the statements, inline
                <callback hook>()               # callback / debug: Python hooks
        except BaseException as _splice_exc:    # add a note naming the snippet
            _splice_exc.add_note("...")
            raise

compiled in a template that mirrors the target's scope (see
:mod:`splice.template`) and handed to ``splice._native.instrument``. So
``cond``, ``eval`` and ``exec`` given as text run inline at the speed of the
same statement typed into the source, and ``exec`` assigns the function's own
locals directly.

Lifecycle: leaving the ``with`` block (or :meth:`Breakpoint.disable`) restores
the original code object, so no *new* call runs an action. A frame that was
already running the instrumented code (a suspended generator, a long loop in
another thread) finishes that call with the inline actions (``cond``,
``eval``, ``exec`` as text) still in its code; Python-level actions
(``callback``, ``debug``, code-object snippets) check a flag and stop at once.
Stopping inline actions too would cost a check per hit, which the hot-loop
budget (within 5% of the hand-typed statement) does not allow.

Code objects (instead of text) for ``cond``/``eval``/``exec`` take a slow path:
a hook that runs ``eval``/``exec`` against a snapshot of the frame's locals
(NoPdb's semantics). On 3.11 and 3.12 such an ``exec`` cannot write locals, so
a code object that assigns names is rejected there; on 3.13 it writes them
through ``frame.f_locals``.
"""

from __future__ import annotations

import ast
import bdb
import copy
import itertools
import pdb
import sys
from types import CodeType, FrameType
from typing import Any, Callable, Dict, Optional, Type, Union, TYPE_CHECKING

from splice import locate as _locate
from splice.errors import LocateError
from splice.patcher import PATCHER, Managed, Probe, sync
from splice.resolve import Scope, Target, resolve
from splice.template import (
    HOOK_PREFIX,
    ScopeInfo,
    SnippetError,
    Template,
    build_template,
    parse_expression,
    parse_statements,
    rename_variables,
    snippet_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from splice.nopdb import NoPdb

__all__ = ["Breakpoint", "FrameView"]

#: Wrap each breakpoint's snippet in ``try/except`` that adds a note naming the
#: snippet to an exception it raises (zero cost unless something is raised).
ADD_EXCEPTION_NOTES = True

_getframe = sys._getframe
_MINOR = sys.version_info[1]
_bp_ids = itertools.count()


class FrameView:
    """What a :meth:`Breakpoint.callback` function receives: a view of the frame
    where the breakpoint was hit.

    Attributes:
        frame (types.FrameType): The frame itself.
        locals (dict): A snapshot of its local variables (splice's helper names
            left out). Changing the dict does not change the frame; use
            :meth:`Breakpoint.exec` to assign locals.
        globals (dict): The function's globals.
        line (int): The line being executed.
        function (str): The qualified name of the function (``co_qualname``).
        code (types.CodeType): The function's original (uninstrumented) code object.
        file (str): The file the function was defined in.
    """

    __slots__ = ("frame", "locals", "globals", "line", "function", "code", "file")

    def __init__(self, frame: FrameType) -> None:
        self.frame = frame
        self.locals = {
            k: v for k, v in frame.f_locals.items()
            if not (type(k) is str and k.startswith(HOOK_PREFIX))
        }
        self.globals = frame.f_globals
        self.line = frame.f_lineno
        self.code = PATCHER.original(frame.f_code)
        self.function = getattr(self.code, "co_qualname", self.code.co_name)
        self.file = self.code.co_filename

    def __repr__(self) -> str:
        return f"FrameView({self.function} at {self.file}:{self.line})"


# ---------------------------------------------------------------------------
# Actions


class _Action:
    """One scheduled action; ``stmts(scope, prefix)`` builds its statements for
    one target scope, with hook names that start with ``prefix``."""

    kind = ""
    python_hook = False  # calls a Python function per hit (can count hits)

    def __init__(self, label: str) -> None:
        self.label = label

    def stmts(
        self,
        scope: ScopeInfo,
        prefix: str,
        count: Optional[Callable[[], None]],
        bp: "Breakpoint",
    ) -> tuple[list[ast.stmt], dict]:
        raise NotImplementedError


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _frame_hook(
    fn: Callable[[FrameType], Any], count: Optional[Callable[[], None]], bp: "Breakpoint"
) -> Callable[[], Any]:
    """The hook object injected code calls (with no arguments, from inside the
    target frame): it passes that frame to ``fn`` and counts the hit. After the
    breakpoint is removed it does nothing (frames still running the
    instrumented code may call it)."""
    if count is None:

        def hook() -> Any:
            if bp._live:
                return fn(_getframe(1))
            return None

    else:

        def hook() -> Any:
            if bp._live:
                count()
                return fn(_getframe(1))
            return None

    return hook


def _locals_for(frame: FrameType, variables: Optional[dict]) -> dict:
    loc = {k: v for k, v in frame.f_locals.items() if not (type(k) is str and k.startswith(HOOK_PREFIX))}
    if variables:
        loc.update(variables)
    return loc


def _stored_names(code: CodeType) -> list[str]:
    import dis

    out = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("STORE_NAME", "DELETE_NAME", "STORE_FAST", "DELETE_FAST") and ins.argval not in out:
            out.append(ins.argval)
    return out


class _Eval(_Action):
    kind = "eval"

    def __init__(self, expression: Union[str, bytes, CodeType], variables: Optional[dict], results: list) -> None:
        super().__init__(snippet_label("eval", expression))
        self.variables = dict(variables or {})
        self.results = results
        self.code = expression if isinstance(expression, CodeType) else None
        self.python_hook = self.code is not None
        self.tree = None if self.code is not None else parse_expression(expression, self.label)

    def stmts(self, scope, prefix, count, bp):
        # `<results>.append(<expr>)` with the list as a constant: the same
        # LOAD_METHOD/CALL pair as `values.append(x)` typed into the source,
        # which CPython specialises for list.append (a bound `append` method
        # object would be a generic builtin call).
        sink = f"{prefix}values"
        hooks: dict[str, Any] = {sink: self.results}
        if self.code is not None:
            code, variables, results = self.code, self.variables, self.results

            def value(frame: FrameType) -> None:
                results.append(eval(code, dict(frame.f_globals), _locals_for(frame, variables)))

            return [ast.Expr(_call(f"{prefix}value"))], {f"{prefix}value": _frame_hook(value, count, bp)}
        holder = [ast.Expr(copy.deepcopy(self.tree))]
        hooks.update(rename_variables(holder, self.variables, f"{prefix}v_", self.label))
        append = ast.Attribute(ast.Name(sink, ast.Load()), "append", ast.Load())
        return [ast.Expr(ast.Call(func=append, args=[holder[0].value], keywords=[]))], hooks


class _Exec(_Action):
    kind = "exec"

    def __init__(self, code: Union[str, bytes, CodeType], variables: Optional[dict]) -> None:
        super().__init__(snippet_label("exec", code))
        self.variables = dict(variables or {})
        self.code = code if isinstance(code, CodeType) else None
        self.python_hook = self.code is not None
        if self.code is not None:
            if _MINOR < 13:
                stored = [n for n in _stored_names(self.code) if n not in self.variables]
                if stored:
                    raise SnippetError(
                        f"{self.label}: a code object that assigns or deletes names "
                        f"({', '.join(stored)}) cannot write a function's locals on Python "
                        f"3.{_MINOR}; pass the source text (str) instead, which splice "
                        f"compiles inline"
                    )
            elif self.variables:
                raise SnippetError(
                    f"{self.label}: variables= is not supported with a code object; pass "
                    f"the source text (str) instead"
                )
            self.tree = None
        else:
            self.tree = parse_statements(code, self.label)

    def stmts(self, scope, prefix, count, bp):
        clash = sorted(set(self.variables) & scope.all_locals)
        if clash:
            raise SnippetError(
                f"{self.label}: variables= name(s) {', '.join(map(repr, clash))} clash with "
                f"local variables of {scope.qualname}; rename them (exec's external "
                f"variables may not shadow locals, as in NoPdb)"
            )
        if self.code is not None:
            code, variables = self.code, self.variables

            def run(frame: FrameType) -> None:
                if _MINOR >= 13:
                    exec(code, frame.f_globals, frame.f_locals)
                else:
                    exec(code, frame.f_globals, _locals_for(frame, variables))

            return [ast.Expr(_call(f"{prefix}exec"))], {f"{prefix}exec": _frame_hook(run, count, bp)}
        body = copy.deepcopy(self.tree)
        hooks = rename_variables(body, self.variables, f"{prefix}v_", self.label)
        return body, hooks


class _Callback(_Action):
    kind = "callback"
    python_hook = True

    def __init__(self, fn: Callable[[FrameView], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"callback needs a callable, not {type(fn).__name__}")
        super().__init__(f"callback({getattr(fn, '__qualname__', fn)!s})")
        self.fn = fn

    def stmts(self, scope, prefix, count, bp):
        fn = self.fn

        def call(frame: FrameType) -> None:
            fn(FrameView(frame))

        return [ast.Expr(_call(f"{prefix}cb"))], {f"{prefix}cb": _frame_hook(call, count, bp)}


class _Debug(_Action):
    kind = "debug"
    python_hook = True

    def __init__(self, debugger_cls: Type[bdb.Bdb], kwargs: dict) -> None:
        super().__init__(f"debug({getattr(debugger_cls, '__name__', debugger_cls)})")
        self.debugger_cls = debugger_cls
        self.kwargs = kwargs

    def stmts(self, scope, prefix, count, bp):
        cls, kwargs = self.debugger_cls, self.kwargs

        def start(frame: FrameType) -> None:
            _enter_debugger(frame, cls, kwargs)

        return [ast.Expr(_call(f"{prefix}dbg"))], {f"{prefix}dbg": _frame_hook(start, count, bp)}


class _Count(_Action):
    kind = "count"

    def __init__(self, counter: "itertools.count") -> None:
        super().__init__("count_hits()")
        self.counter = counter

    def stmts(self, scope, prefix, count, bp):
        return [ast.Expr(_call(f"{prefix}n"))], {f"{prefix}n": self.counter.__next__}


def _enter_debugger(frame: FrameType, cls: Type[bdb.Bdb], kwargs: dict) -> None:
    """Start ``cls(**kwargs)`` on ``frame``, stopped at the breakpoint line; on
    continue or quit, the previous trace function (usually none) is restored."""
    orig_trace = sys.gettrace()
    saved = []
    f: Optional[FrameType] = frame
    while f is not None:
        saved.append((f, f.f_trace))
        f = f.f_back

    def restore() -> None:
        for fr, tr in saved:
            try:
                fr.f_trace = tr
            except Exception:  # pragma: no cover
                pass
        sys.settrace(orig_trace)

    class _Nice(cls):  # type: ignore[misc, valid-type]
        _splice_done = False

        def set_continue(self) -> None:
            super().set_continue()
            if sys.gettrace() is None:
                self._splice_done = True
                restore()

        def trace_dispatch(self, frame, event, arg):
            try:
                return super().trace_dispatch(frame, event, arg)
            except bdb.BdbQuit:
                self._splice_done = True
                restore()
                return None

    _Nice.__name__ = getattr(cls, "__name__", "Debugger")
    _Nice.__qualname__ = getattr(cls, "__qualname__", _Nice.__name__)
    dbg = _Nice(**kwargs)
    dbg.set_trace(frame)
    # Stop at the breakpoint line now (as NoPdb does from its trace function);
    # tracing is off meanwhile so the debugger does not step into itself.
    trace = sys.gettrace()
    sys.settrace(None)
    try:
        dbg.trace_dispatch(frame, "line", None)
    finally:
        if not dbg._splice_done and not getattr(dbg, "quitting", False):
            sys.settrace(trace)
        elif sys.gettrace() is not orig_trace:
            restore()


# ---------------------------------------------------------------------------
# Where a breakpoint goes


def _lines_in(code: CodeType, line: Union[int, str]) -> list[int]:
    """The statement lines of ``code`` itself that ``line`` names (the one
    place that calls :mod:`splice.locate` for a function scope)."""
    try:
        _locate.get_source(code)
    except LocateError:
        # No source text (e.g. a function typed at the plain REPL): a line
        # number is still usable when the code has instructions on it, as in
        # NoPdb; a line text is not.
        if isinstance(line, int):
            own = {l for *_, l in code.co_lines() if l is not None}
            if line in own and line != code.co_firstlineno:
                return [line]
        raise
    # Without source=: locate checks the text against the running code and,
    # on a mismatch, re-reads the file once (it may have been edited and
    # reverted since linecache cached it).
    found = _locate.locate(code, line)
    return sorted({l.line for l in found if l.owned_by(code)})


def _plan(scope: Scope, line: Union[int, str, None]) -> list[tuple[Target, Any]]:
    """(target, ``at``) for each code object the breakpoint goes into."""
    if line is not None and (isinstance(line, bool) or not isinstance(line, (int, str))):
        raise TypeError(f"line must be an int, a str or None, not {type(line).__name__}")
    targets = resolve(scope)
    if line is None:
        return [(t, "entry") for t in targets]
    if scope._fn is not None:
        t = targets[0]
        return [(t, _lines_in(t.code, line))]
    if scope._fn_name is not None:
        out, errors = [], []
        for t in targets:
            try:
                out.append((t, _lines_in(t.code, line)))
            except LocateError as e:
                errors.append(e)
        if out:
            return out
        if len(errors) == 1:
            raise errors[0]
        raise LocateError(
            f"line {line!r} is in none of the {len(targets)} functions named "
            f"{scope._fn_name!r}:\n" + "\n".join(f"  - {e}" for e in errors)
        )
    # module= / file= without a function: locate in each file
    by_file: dict[str, list[Target]] = {}
    for t in targets:
        by_file.setdefault(t.code.co_filename, []).append(t)
    out, errors = [], []
    for fname, ts in by_file.items():
        try:
            source = _locate.get_source(ts[0].code)
            found = _locate.locate_in_source(source, line)
        except LocateError as e:
            if isinstance(line, str):
                continue  # text not in this file: NoPdb matches files independently
            errors.append(e)
            continue
        for t in ts:
            lines = sorted({l.line for l in found if l.owned_by(t.code)})
            if lines:
                _locate.check_source(t.code, source)
                out.append((t, lines))
        if not any(l.owned_by(t.code) for l in found for t in ts):
            errors.append(
                LocateError(
                    f"{fname}: line {line!r} is not inside a live function (it is module-level "
                    f"code or a class body, which has already run, or its function no longer "
                    f"exists); splice can only break inside functions"
                )
            )
    if out:
        return out
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise LocateError("; ".join(str(e) for e in errors[:5]))
    files = sorted(by_file)
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    raise LocateError(
        f"no statement whose text is {line!r} in the {len(targets)} live function(s) of "
        f"{scope} (files: {shown})"
    )


# ---------------------------------------------------------------------------


class _BreakpointProbe(Probe):
    def __init__(self, bp: "Breakpoint", target: Target, at: Any) -> None:
        super().__init__(target.site)
        self.bp = bp
        self.target = target
        self.at = at
        self._cache: Optional[tuple[Any, Template]] = None

    def template(self, extra_locals: tuple[str, ...] = ()) -> Template:
        key = (self.bp._version, extra_locals)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        body, hooks = self.bp._snippet(self.target, self.at)
        tpl = build_template(
            self.target.code,
            body,
            hooks,
            label=f"breakpoint at {self.site.qualname}",
            extra_locals=extra_locals,
        )
        self._cache = (key, tpl)
        return tpl

    def spec(self, extra_locals: tuple[str, ...]) -> tuple[list[dict], tuple[str, ...]]:
        tpl = self.template(extra_locals)
        return [{"at": self.at, "snippet": tpl.snippet, "hooks": tpl.hooks}], tpl.new_locals


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
        nopdb: "NoPdb",
        scope: Scope,
        line: Optional[Union[int, str]] = None,
        cond: Optional[Union[str, bytes, CodeType]] = None,
    ) -> None:
        if line is None and scope.function is None:
            raise TypeError("A line must be given if no function is specified")
        if all(x is None for x in [scope.module, scope.file, scope.function]):
            raise TypeError("A module, file or function must be specified")
        self.scope = scope
        self.line = line
        self.cond = cond
        self._id = next(_bp_ids)
        self._actions: list[_Action] = []
        self._version = 0
        self._hit_count = 0
        self._counter: Optional[itertools.count] = None
        self._live = False
        self._cond_tree: Optional[ast.expr] = None
        self._cond_code: Optional[CodeType] = None
        if cond is not None:
            if isinstance(cond, CodeType):
                self._cond_code = cond
            else:
                self._cond_tree = parse_expression(cond, snippet_label("cond", cond))
        self._sites = _plan(scope, line)
        self._probes = [_BreakpointProbe(self, t, at) for t, at in self._sites]
        for p in self._probes:  # surface cond errors now
            self._check(p)
        Managed.__init__(self, nopdb)

    # -- public API ---------------------------------------------------------

    def eval(
        self,
        expression: Union[str, bytes, CodeType],
        variables: Optional[Dict[str, Any]] = None,
    ) -> list:
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
        results: list = []
        self._schedule(_Eval(expression, variables, results))
        return results

    def exec(
        self,
        code: Union[str, bytes, CodeType],
        variables: Optional[Dict[str, Any]] = None,
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
        self._schedule(_Exec(code, variables))

    def debug(self, debugger_cls: Type[bdb.Bdb] = pdb.Pdb, **kwargs) -> None:
        """Schedule an interactive debugger to be entered at the breakpoint.

        Args:
            debugger_cls (~typing.Type[bdb.Bdb], optional): The debuger class. Defaults
                to :class:`pdb.Pdb`.
            **kwargs: Keyword arguments to pass to the debugger.
        """
        self._schedule(_Debug(debugger_cls, kwargs))

    def callback(self, fn: Callable[[FrameView], Any]) -> None:
        """Schedule ``fn(view)`` to be called at the breakpoint (new in splice).

        ``view`` is a :class:`FrameView` (``locals``, ``globals``, ``line``,
        ``function``, ``frame``). An exception ``fn`` raises propagates into
        the function, as an exception from ``exec`` would.
        """
        self._schedule(_Callback(fn))

    def count_hits(self) -> None:
        """Count hits (see :attr:`hits`) of a breakpoint whose only actions are
        ``exec`` (costs one C-level call per hit)."""
        if self._counter is None:
            self._counter = itertools.count()
            self._schedule(_Count(self._counter))

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
            return int(repr(self._counter)[6:-1])
        if any(a.python_hook for a in self._actions):
            return self._hit_count
        for a in self._actions:
            if isinstance(a, _Eval):
                return len(a.results)
        return None

    @property
    def targets(self) -> list[tuple[CodeType, Any]]:
        """(original code object, lines or ``"entry"``) for each place the
        breakpoint goes."""
        return [(t.code, at) for t, at in self._sites]

    def template_source(self) -> list[str]:
        """The template source text of each probe (for debugging)."""
        return [p.template().source for p in self._probes]

    def __repr__(self) -> str:
        where = ", ".join(
            f"{getattr(t.code, 'co_qualname', t.code.co_name)}:{at}" for t, at in self._sites[:3]
        )
        if len(self._sites) > 3:
            where += ", ..."
        return f"<splice.Breakpoint {where} actions={[a.label for a in self._actions]}>"

    # -- internals ----------------------------------------------------------

    def _wanted(self) -> list[Probe]:
        return list(self._probes) if self._actions else []

    def _on_sync(self, active: bool) -> None:
        self._live = active

    def _schedule(self, action: _Action) -> None:
        with PATCHER.lock:
            self._actions.append(action)
            self._version += 1
            try:
                for p in self._probes:
                    self._check(p)
                sync([self], changed=[self])
            except BaseException:
                self._actions.remove(action)
                self._version += 1
                raise

    def _check(self, probe: _BreakpointProbe) -> None:
        probe.template(())

    def _count(self) -> None:
        self._hit_count += 1

    def _snippet(self, target: Target, at: Any) -> tuple[list[ast.stmt], dict]:
        scope = ScopeInfo.from_code(target.code)
        base = f"{HOOK_PREFIX}b{self._id}_"
        hooks: dict[str, Any] = {}
        body: list[ast.stmt] = []
        counted = False
        for i, action in enumerate(self._actions):
            count = None
            if action.python_hook and not counted:
                count, counted = self._count, True
            stmts, h = action.stmts(scope, f"{base}a{i}_", count, self)
            body.extend(stmts)
            hooks.update(h)
        if not body:
            body = [ast.Pass()]
        if self._cond_tree is not None:
            body = [ast.If(test=copy.deepcopy(self._cond_tree), body=body, orelse=[])]
        elif self._cond_code is not None:
            code = self._cond_code

            def cond(frame: FrameType) -> Any:
                return eval(code, frame.f_globals, _locals_for(frame, None))

            hooks[f"{base}cond"] = _frame_hook(cond, None, self)
            body = [ast.If(test=_call(f"{base}cond"), body=body, orelse=[])]
        if ADD_EXCEPTION_NOTES:
            where = "entry" if at == "entry" else "line " + ", ".join(map(str, at))
            labels = "; ".join(a.label for a in self._actions) or "no actions"
            cond_label = f" if {snippet_label('cond', self.cond)}" if self.cond is not None else ""
            note = f"splice: raised in breakpoint code at {scope.qualname} {where}{cond_label}: {labels}"
            exc = f"{base}exc"
            hooks[f"{base}BaseException"] = BaseException
            body = [
                ast.Try(
                    body=body,
                    handlers=[
                        ast.ExceptHandler(
                            type=ast.Name(f"{base}BaseException", ast.Load()),
                            name=exc,
                            body=[
                                ast.Expr(
                                    ast.Call(
                                        func=ast.Attribute(ast.Name(exc, ast.Load()), "add_note", ast.Load()),
                                        args=[ast.Constant(note)],
                                        keywords=[],
                                    )
                                ),
                                ast.Raise(),
                            ],
                        )
                    ],
                    orelse=[],
                    finalbody=[],
                )
            ]
        if target.instance is not None:
            from splice.capture import _instance_test

            hooks[f"{base}self"] = target.instance
            body = [ast.If(test=_instance_test(scope, f"{base}self"), body=body, orelse=[])]
        return body, hooks
