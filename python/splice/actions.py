"""Breakpoint actions and the snippet they become.

A :class:`~splice.Breakpoint` holds a list of actions (``eval``, ``exec``,
``callback``, ``debug``, hit counting). :func:`build_snippet` turns them, for
one target code object, into AST statements and the hook objects they use:

.. code-block:: python

    if <first argument> is <instance>:          # bound-method targets only
        try:
            if <cond>:
                <append0>(<expression>)  # eval: append0 puts it on the results list
                attn = attn * 3                 # exec: the statements, inline
                <hits>.n += 1                   # count_hits: inline, no call
                <callback hook>()               # callback / debug: Python hooks
        except:                                 # add a note naming the snippet
            <AddNote>("...")                    # to the exception raised
            raise

:mod:`splice.template` compiles that in the target's scope. ``cond``,
``eval`` and ``exec`` given as text run inline at the speed of the same
statement typed into the source.

Code objects (instead of text) for ``cond``/``eval``/``exec`` take a slow
path: a hook that runs ``eval``/``exec`` against a snapshot of the frame's
locals (NoPdb's semantics). On 3.11 and 3.12 such an ``exec`` cannot write
locals, so a code object that assigns names is rejected there; on 3.13 it
writes them through ``frame.f_locals``.

Python-level hooks (``callback``, ``debug``, code-object snippets) check
:attr:`HookState.live` and do nothing once the breakpoint is removed (frames
still running the instrumented code may call them).
"""

from __future__ import annotations

import ast
import bdb
import dis
import inspect
import sys
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import CodeType, FrameType
from typing import Any, Optional, Union

from splice import _native, owners
from splice.debugger import enter_debugger
from splice.errors import SnippetError, TargetError
from splice.patcher import PATCHER
from splice.resolve import Target
from splice.snippets import (
    expression_lines,
    parse_expression,
    parse_statements,
    rename_variables,
    snippet_label,
    statement_lines,
)
from splice.template import HOOK_PREFIX, ScopeInfo, instance_test

__all__ = [
    "Action",
    "Callback",
    "Condition",
    "CountHits",
    "Debug",
    "Eval",
    "Exec",
    "FrameView",
    "HookState",
    "build_snippet",
    "build_snippet_lines",
]

#: Wrap each breakpoint's snippet in ``try/except`` that adds a note naming the
#: snippet to an exception it raises (zero cost unless something is raised).
ADD_EXCEPTION_NOTES = True

#: A snippet given by the user: source text, UTF-8 bytes, or a code object.
SnippetSource = Union[str, bytes, CodeType]
#: An action's statements for one target and the hooks they use.
Stmts = tuple[list[ast.stmt], dict[str, Any]]
#: The same as source lines (relative indentation) and hooks
#: (:class:`splice.template.TextSnippet`); None where only the AST will do.
Lines = Optional[tuple[list[str], dict[str, Any]]]

_getframe = sys._getframe
_MINOR = sys.version_info[1]


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

    __slots__ = ("frame", "locals", "globals", "line", "function", "code", "file", "__weakref__")

    def __init__(self, frame: FrameType) -> None:
        self.frame = frame
        self.locals = frame_locals(frame)
        self.globals = frame.f_globals
        self.line = frame.f_lineno
        self.code = PATCHER.original(frame.f_code)
        self.function: str = getattr(self.code, "co_qualname", self.code.co_name)
        self.file = self.code.co_filename
        # counted by the owner census: views a user keeps from callbacks
        # must not make every later enter on this function search the heap
        owners.holder(self, self.code)

    def __repr__(self) -> str:
        return f"FrameView({self.function} at {self.file}:{self.line})"


def frame_locals(frame: FrameType, variables: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """A snapshot of ``frame``'s locals without splice's helper names, with
    ``variables`` added."""
    loc = {
        k: v for k, v in frame.f_locals.items()
        if not (type(k) is str and k.startswith(HOOK_PREFIX))
    }
    if variables:
        loc.update(variables)
    return loc


class HookBox:
    """The function one hook calls (:attr:`fn`), or None while the
    breakpoint is not installed (see :class:`HookState`). Only the hook
    holds it: a box lives as long as the code that can call its hook."""

    __slots__ = ("fn", "__weakref__")

    def __init__(self, fn: Optional[Callable[[FrameType], Any]]) -> None:
        self.fn = fn


#: what :meth:`HookState.park` took: each box (weakly) and its function
Parked = list[tuple["weakref.ref[HookBox]", Callable[[FrameType], Any]]]


class HookState:
    """What a breakpoint's Python-level hooks share: whether the breakpoint
    is installed (:attr:`live`), how often they ran (:attr:`hits`), and the
    boxes through which they reach the functions they call (:meth:`box`).

    Instrumented code objects hold the hooks in their constants, and the
    cycle collector does not see code objects: a frame the user kept from
    a hit (a FrameView in a list the callback appends to) holds that code,
    whose hook held the callback, which holds the list. Nothing in that
    cycle was ever freed. So a hook reaches its function through a box that
    is emptied while the breakpoint is not installed (:meth:`park`; the
    breakpoint, which the code does not reach, keeps the contents). An
    inline ``eval`` appends through its :class:`Eval`'s sink, which lets go
    of its list then too (a caught exception evaluated at a hit refers to
    the hit's frame through its traceback); the state holds no list (a
    hook's closure holds the state: through it, the list closed the same
    cycle).

    The state holds the boxes weakly: every ``with`` on the same breakpoint
    builds its hooks again, and a box kept for each made every later enter
    and exit slower (12 ms per block after 20,000 blocks). A box lives while
    code that can call its hook does (a generator suspended in the old
    instrumented code keeps it, and its hook runs again when the breakpoint
    is installed again)."""

    __slots__ = ("live", "hits", "boxes", "guarded")

    def __init__(self) -> None:
        self.live = False
        self.hits = 0
        self.boxes: list[weakref.ref[HookBox]] = []
        #: whether the snippet being built runs its actions under a test
        #: (``cond``, an instance filter): set for each build
        self.guarded = False

    def box(self, fn: Callable[[FrameType], Any]) -> HookBox:
        """A box holding ``fn`` (emptied by :meth:`park`)."""
        b = HookBox(fn)
        self.boxes.append(weakref.ref(b))
        return b

    def park(self, into: Parked) -> None:
        """Empty every box, adding what each held to ``into`` (for
        :meth:`unpark`) before it is emptied: a KeyboardInterrupt between
        two boxes then loses nothing (a list returned at the end was lost
        with the boxes already emptied, and their callbacks never ran
        again). Forgets the boxes that are gone."""
        alive = [(r, b) for r in self.boxes if (b := r()) is not None]
        self.boxes = [r for r, _ in alive]
        for r, b in alive:
            fn = b.fn
            if fn is not None:
                into.append((r, fn))
                b.fn = None

    @staticmethod
    def unpark(parked: Parked) -> None:
        """Put back what :meth:`park` took (into the boxes still alive)."""
        for r, fn in parked:
            b = r()
            if b is not None:
                b.fn = fn

    def __reduce__(self) -> tuple[Any, ...]:
        # A probed function copied by value (cloudpickle pickles closures and
        # `__main__` functions with their constants, hooks included) gets a
        # state that is never live: its callbacks and debugger never run,
        # inside the block or after it, in this process or another, as a
        # copied capture records nothing. (Inline snippets are code and run
        # in the copy.)
        return (HookState, ())


def frame_hook(fn: Callable[[FrameType], Any], state: HookState, counts: bool) -> Callable[[], Any]:
    """The hook object injected code calls (with no arguments, from inside the
    target frame): it passes that frame to ``fn`` (and counts the hit if
    ``counts``). While the breakpoint is not installed it does nothing."""
    box = state.box(fn)
    if not counts:

        def hook() -> Any:
            if state.live:
                call = box.fn
                if call is not None:
                    return call(_getframe(1))
            return None

    else:

        def hook() -> Any:
            if state.live:
                call = box.fn
                if call is not None:
                    state.hits += 1
                    return call(_getframe(1))
            return None

    return hook


def _call(name: str, *args: ast.expr) -> ast.Call:
    """AST of ``name(*args)``."""
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _stored_names(code: CodeType) -> list[str]:
    """Names a code object assigns or deletes (as a function or at top level)."""
    out = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("STORE_NAME", "DELETE_NAME", "STORE_FAST", "DELETE_FAST") and ins.argval not in out:
            out.append(ins.argval)
    return out


class Action:
    """One scheduled action. :meth:`stmts` builds its statements for one target
    scope, with hook names that start with ``prefix``."""

    kind = ""
    #: Calls a Python function per hit (so the hits can be counted there).
    python_hook = False

    def __init__(self, label: str) -> None:
        self.label = label

    def stmts(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Stmts:
        """(statements, hooks) for a target with ``scope``; a Python-level
        hook counts hits in ``state`` when ``counts``. By default a call of
        :meth:`hook`."""
        name, hook = self.hook(prefix, state, counts)
        return [ast.Expr(_call(name))], {name: hook}

    def lines(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Lines:
        """What :meth:`stmts` gives, as source lines, or None when only the
        AST form says it exactly. By default a call of :meth:`hook`."""
        name, hook = self.hook(prefix, state, counts)
        return [f"{name}()"], {name: hook}

    def hook(self, prefix: str, state: HookState, counts: bool) -> tuple[str, Callable[[], Any]]:
        """The name and object of the Python hook the action calls, for an
        action that is one call of a hook."""
        raise NotImplementedError


def _variables(variables: Optional[Mapping[str, Any]], label: str) -> dict[str, Any]:
    """A copy of an action's ``variables`` (a mapping of names to values)."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise TypeError(f"{label}: variables must be a dict of names to values, not {type(variables).__name__}")
    return dict(variables)


class Eval(Action):
    """``eval``: append the expression's value to :attr:`results` at every hit."""

    kind = "eval"

    def __init__(self, expression: SnippetSource, variables: Optional[dict[str, Any]], results: list[Any]) -> None:
        super().__init__(snippet_label("eval", expression))
        self.variables = _variables(variables, self.label)
        self.results = results
        #: what the spliced code appends through (one per action, whatever
        #: the number of templates built: attached while the breakpoint is
        #: installed, by the breakpoint, which the code does not reach)
        self.sink = _native.EvalSink(None)
        self._append = self.sink.appender()
        self.code = expression if isinstance(expression, CodeType) else None
        self.python_hook = self.code is not None
        # (text is parsed when a template needs it: the breakpoint compiles
        # its templates when the action is scheduled, which raises any error)
        self.text = None if isinstance(expression, CodeType) else expression

    def hook(self, prefix: str, state: HookState, counts: bool) -> tuple[str, Callable[[], Any]]:
        code, variables, results = self.code, self.variables, self.results
        assert code is not None

        def value(frame: FrameType) -> None:
            results.append(eval(code, dict(frame.f_globals), frame_locals(frame, variables)))

        return f"{prefix}value", frame_hook(value, state, counts)

    def lines(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Lines:
        if self.code is not None:
            return super().lines(scope, prefix, state, counts)
        assert self.text is not None
        expr = None if self.variables else expression_lines(self.text, self.label)
        if expr is None:
            return None
        sink = f"{prefix}append"
        return [f"{sink}((", *expr, "))"], {sink: self._sink_for(state)}

    def stmts(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Stmts:
        if self.code is not None:
            return super().stmts(scope, prefix, state, counts)
        # `<sink.append>(<expr>)` with the bound method as a constant.
        # Not the list itself (`<results>.append(...)`, which CPython would
        # specialise as list.append, ~30 instructions cheaper per hit): a
        # list in co_consts makes the code object unhashable, and code
        # objects are hashed by bdb (3.14+ pdb), cloudpickle and others.
        # Not the list's own append either: see HookState.
        sink = f"{prefix}append"
        hooks: dict[str, Any] = {sink: self._sink_for(state)}
        # A fresh tree per build (the template passes edit it): parsing the
        # text again is several times cheaper than copy.deepcopy.
        assert self.text is not None
        holder = ast.Expr(parse_expression(self.text, self.label))
        hooks.update(rename_variables([holder], self.variables, f"{prefix}v_", self.label))
        return [ast.Expr(ast.Call(func=ast.Name(sink, ast.Load()), args=[holder.value], keywords=[]))], hooks

    def _sink_for(self, state: HookState) -> Callable[[Any], None]:
        """The sink's ``append``, attached now when the breakpoint is
        installed (an eval scheduled on it: its hits start at the commit)."""
        if state.live and not self.sink.attached:
            self.sink.attach(self.results)
        return self._append


class Exec(Action):
    """``exec``: run the statements at every hit, inline in the function's frame."""

    kind = "exec"

    def __init__(self, code: SnippetSource, variables: Optional[dict[str, Any]]) -> None:
        super().__init__(snippet_label("exec", code))
        self.variables = _variables(variables, self.label)
        self.code = code if isinstance(code, CodeType) else None
        self.python_hook = self.code is not None
        #: the parsed text, once a template needs it (the breakpoint compiles
        #: its templates when the action is scheduled, which raises any error)
        self.tree: Optional[list[ast.stmt]] = None
        self.text = None if isinstance(code, CodeType) else code
        if isinstance(code, CodeType):
            self._check_code_object(code)

    def hook(self, prefix: str, state: HookState, counts: bool) -> tuple[str, Callable[[], Any]]:
        code, variables = self.code, self.variables
        assert code is not None

        def run(frame: FrameType) -> None:
            if _MINOR >= 13:
                exec(code, frame.f_globals, frame.f_locals)
            else:
                exec(code, frame.f_globals, frame_locals(frame, variables))

        return f"{prefix}exec", frame_hook(run, state, counts)

    def lines(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Lines:
        if self.variables:
            return None  # renaming and its checks work on the AST
        if self.code is not None:
            return super().lines(scope, prefix, state, counts)
        assert self.text is not None
        body = statement_lines(self.text, self.label)
        return None if body is None else (body, {})

    def _check_code_object(self, code: CodeType) -> None:
        """Reject a code object the slow path cannot run as asked."""
        if _MINOR < 13:
            stored = [n for n in _stored_names(code) if n not in self.variables]
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

    def stmts(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Stmts:
        clash = sorted(set(self.variables) & scope.all_locals)
        if clash:
            raise SnippetError(
                f"{self.label}: variables= name(s) {', '.join(map(repr, clash))} clash with "
                f"local variables of {scope.qualname}; rename them (exec's external "
                f"variables may not shadow locals, as in NoPdb)"
            )
        if self.code is not None:
            return super().stmts(scope, prefix, state, counts)
        if self.text is None:
            return [], {}
        if not self.variables:
            # Nothing downstream changes a parsed statement (compile reads
            # the tree; locations are only added where missing, and parsed
            # nodes have them all), so one parse serves every target and
            # every rebuild.
            if self.tree is None:
                self.tree = parse_statements(self.text, self.label)
            return list(self.tree), {}
        body = parse_statements(self.text, self.label)  # fresh: renaming changes it in place
        hooks = rename_variables(body, self.variables, f"{prefix}v_", self.label)
        return body, hooks


class Callback(Action):
    """``callback``: call ``fn(FrameView(frame))`` at every hit."""

    kind = "callback"
    python_hook = True

    def __init__(self, fn: Callable[[FrameView], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"callback needs a callable, not {type(fn).__name__}")
        super().__init__(f"callback({getattr(fn, '__qualname__', fn)!s})")
        self.fn = fn

    def hook(self, prefix: str, state: HookState, counts: bool) -> tuple[str, Callable[[], Any]]:
        fn = self.fn

        def call(frame: FrameType) -> None:
            fn(FrameView(frame))

        return f"{prefix}cb", frame_hook(call, state, counts)


class Debug(Action):
    """``debug``: open an interactive debugger (:mod:`splice.debugger`) at every hit."""

    kind = "debug"
    python_hook = True

    def __init__(self, debugger_cls: type[bdb.Bdb], kwargs: dict[str, Any]) -> None:
        super().__init__(f"debug({getattr(debugger_cls, '__name__', debugger_cls)})")
        if not (isinstance(debugger_cls, type) and issubclass(debugger_cls, bdb.Bdb)):
            raise TypeError(
                f"{self.label}: the debugger must be a class derived from bdb.Bdb, such as "
                f"pdb.Pdb (the default), not {debugger_cls!r}"
            )
        if kwargs.get("backend") == "monitoring":
            raise TypeError(
                f"{self.label}: pdb's 'monitoring' backend is not supported here: splice "
                f"stops the debugger at the breakpoint from inside the function, which that "
                f"backend sees as a call to step into. Leave backend out, or pass 'settrace'"
            )
        try:
            signature = inspect.signature(debugger_cls)
        except (TypeError, ValueError):  # no signature to check against
            signature = None
        if signature is not None:
            try:
                signature.bind(**kwargs)
            except TypeError as e:
                raise TypeError(
                    f"{self.label}: the keyword arguments do not fit "
                    f"{debugger_cls.__qualname__}{signature}: {e}"
                ) from None
        self.debugger_cls = debugger_cls
        self.kwargs = kwargs
        #: the debuggers this action opened (ended when the breakpoint is removed)
        self.sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    def hook(self, prefix: str, state: HookState, counts: bool) -> tuple[str, Callable[[], Any]]:
        cls, kwargs, sessions, guarded = self.debugger_cls, self.kwargs, self.sessions, state.guarded

        def start(frame: FrameType) -> None:
            enter_debugger(frame, cls, kwargs, sessions, guarded)

        return f"{prefix}dbg", frame_hook(start, state, counts)


class HitCell:
    """The count of :class:`CountHits`, in a slot. Not a one-element list: a
    list in ``co_consts`` makes the code object unhashable (bdb on 3.14+,
    cloudpickle and others hash code objects), and on 3.11 subscripting a
    list subclass costs a recursion level; a slot attribute costs neither."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class CountHits(Action):
    """``count_hits``: ``<cell>.n += 1`` inline at every hit (no call)."""

    kind = "count"

    def __init__(self) -> None:
        super().__init__("count_hits()")
        #: The counter the injected code increments.
        self.cell = HitCell()

    @property
    def count(self) -> int:
        """Hits counted so far."""
        return self.cell.n

    def stmts(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Stmts:
        name = f"{prefix}n"
        target = ast.Attribute(ast.Name(name, ast.Load()), "n", ast.Store())
        return [ast.AugAssign(target=target, op=ast.Add(), value=ast.Constant(1))], {name: self.cell}

    def lines(self, scope: ScopeInfo, prefix: str, state: HookState, counts: bool) -> Lines:
        name = f"{prefix}n"
        return [f"{name}.n += 1"], {name: self.cell}


class Condition:
    """A breakpoint's ``cond``: inline when given as text, a hook that
    evaluates the code object against a snapshot of the locals otherwise."""

    def __init__(self, cond: SnippetSource) -> None:
        self.label = snippet_label("cond", cond)
        self.code = cond if isinstance(cond, CodeType) else None
        # (parsed when a template needs it; the breakpoint compiles its
        # templates at once when it has a condition, which raises any error)
        self.text = None if isinstance(cond, CodeType) else cond

    def wrap(self, body: list[ast.stmt], prefix: str, state: HookState) -> Stmts:
        """``if <cond>: <body>`` and the hook it needs, if any."""
        if self.text is not None:  # a fresh tree, as in Eval
            return [ast.If(test=parse_expression(self.text, self.label), body=body, orelse=[])], {}
        hook, fn = self._hook(prefix, state)
        return [ast.If(test=_call(hook), body=body, orelse=[])], {hook: fn}

    def wrap_lines(self, body: list[str], prefix: str, state: HookState) -> Lines:
        """What :meth:`wrap` gives, as source lines (None: only as AST)."""
        inner = [f"    {b}" if b else b for b in body]
        if self.text is not None:
            test = expression_lines(self.text, self.label)
            return None if test is None else (["if (", *test, "):", *inner], {})
        hook, fn = self._hook(prefix, state)
        return [f"if {hook}():", *inner], {hook: fn}

    def _hook(self, prefix: str, state: HookState) -> tuple[str, Callable[[], Any]]:
        code = self.code
        assert code is not None

        def cond(frame: FrameType) -> Any:
            return eval(code, frame.f_globals, frame_locals(frame))

        return f"{prefix}cond", frame_hook(cond, state, False)


class AddNote:
    """The hook of the exception note: ``<hook>(text)`` in an ``except:``
    block adds ``text`` to the exception being handled (the call's value is
    None). The handler only runs when the snippet raised. Binding the exception to
    a name in the handler instead (``except BaseException as e``) would add
    a local to the target and a cleanup handler to the snippet, which a
    first probe pays for in compiling and rewriting."""

    __slots__ = ()

    def __new__(cls, note: str) -> None:  # type: ignore[misc]
        exc = sys.exception()
        # once: an exception that leaves the same snippet in several frames
        # (a snippet calling its own probed function) got one copy per frame
        if exc is None:
            return
        notes = getattr(exc, "__notes__", None)
        if not (type(notes) is list and note in notes):
            exc.add_note(note)


def _noted(body: list[ast.stmt], prefix: str, note: str) -> Stmts:
    """``try: <body> except: <AddNote>(note); raise``."""
    hook = f"{prefix}note"
    handler = ast.ExceptHandler(
        type=None,
        name=None,
        body=[ast.Expr(_call(hook, ast.Constant(note))), ast.Raise()],
    )
    tried = ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])
    return [tried], {hook: AddNote}


def _noted_lines(body: list[str], prefix: str, note: str) -> tuple[list[str], dict[str, Any]]:
    """:func:`_noted` as source lines."""
    hook = f"{prefix}note"
    return [
        "try:",
        *(f"    {b}" if b else b for b in body),
        "except:",
        f"    {hook}({note!r})",
        "    raise",
    ], {hook: AddNote}


def _note(scope: ScopeInfo, actions: Sequence[Action], cond: Optional[Condition], lines: Optional[list[int]]) -> str:
    """The note :func:`_noted` adds: where the breakpoint is and what it runs."""
    where = "entry" if lines is None else "line " + ", ".join(map(str, lines))
    labels = "; ".join(a.label for a in actions) or "no actions"
    cond_label = f" if {cond.label}" if cond is not None else ""
    return f"splice: raised in breakpoint code at {scope.qualname} {where}{cond_label}: {labels}"


def _each_action(actions: Sequence[Action], prefix: str) -> list[tuple[Action, str, bool]]:
    """Each action with its hook-name prefix and whether its Python-level
    hook counts the hits (the first such hook does): shared by the AST and
    text builders, whose hook names must be the same."""
    out = []
    counted = False
    for i, action in enumerate(actions):
        counts = action.python_hook and not counted
        counted = counted or counts
        out.append((action, f"{prefix}a{i}_", counts))
    return out


def build_snippet(
    actions: Sequence[Action],
    cond: Optional[Condition],
    target: Target,
    lines: Optional[list[int]],
    prefix: str,
    state: HookState,
) -> Stmts:
    """The statements and hooks of one breakpoint at ``lines`` (``None``:
    entry) of ``target`` (see the module docstring). Hook names start with
    ``prefix``; the first Python-level hook counts the hits in ``state``."""
    scope = ScopeInfo.from_code(target.code)
    hooks: dict[str, Any] = {}
    body: list[ast.stmt] = []
    state.guarded = cond is not None or target.instance is not None
    for action, action_prefix, counts in _each_action(actions, prefix):
        stmts, h = action.stmts(scope, action_prefix, state, counts)
        body.extend(stmts)
        hooks.update(h)
    if not body:
        body = [ast.Pass()]
    if cond is not None:
        body, h = cond.wrap(body, prefix, state)
        hooks.update(h)
    if ADD_EXCEPTION_NOTES:
        body, h = _noted(body, prefix, _note(scope, actions, cond, lines))
        hooks.update(h)
    if target.instance is not None:
        if lines is not None:
            _refuse_rebound_instance(target.code, scope)
        test, h = instance_test(scope, f"{prefix}self", target.instance)
        hooks.update(h)
        body = [ast.If(test=test, body=body, orelse=[])]
    return body, hooks


def _refuse_rebound_instance(code: CodeType, scope: ScopeInfo) -> None:
    """Raise :class:`TargetError` when ``code`` assigns or deletes the first
    argument that a bound method's breakpoint tests at its line: there it
    may no longer be the instance (the probe would fire for another
    instance's call, or raise UnboundLocalError after ``del self``)."""
    positional = scope.posonly + scope.args
    if positional:
        name = positional[0]
    elif scope.varargs:
        name = scope.varargs
    else:
        return  # instance_test says why there is no test
    if not _native.rebinds_local(code, scope.varnames.index(name)):
        return
    raise TargetError(
        f"{scope.qualname} assigns or deletes its argument {name!r}, which a breakpoint on a "
        f"bound method (or a callable instance) compares with the instance at the line: "
        f"there it may be another object. Set the breakpoint on the function "
        f"({scope.qualname}, every instance's calls) and tell the instance apart in the "
        f"snippet, or use capture_calls, which tests the instance when the call starts"
    )


def build_snippet_lines(
    actions: Sequence[Action],
    cond: Optional[Condition],
    target: Target,
    lines: Optional[list[int]],
    prefix: str,
    state: HookState,
) -> Lines:
    """What :func:`build_snippet` gives, as source lines with the same hook
    names, or None when some part can only be built as AST (``variables=``,
    an instance filter, text :func:`splice.snippets.statement_lines` or
    :func:`~splice.snippets.expression_lines` leave to the parser)."""
    if target.instance is not None:
        return None
    scope = ScopeInfo.from_code(target.code)
    hooks: dict[str, Any] = {}
    body: list[str] = []
    state.guarded = cond is not None or target.instance is not None
    for action, action_prefix, counts in _each_action(actions, prefix):
        part = action.lines(scope, action_prefix, state, counts)
        if part is None:
            return None
        body.extend(part[0])
        hooks.update(part[1])
    if not body:
        body = ["pass"]
    if cond is not None:
        wrapped = cond.wrap_lines(body, prefix, state)
        if wrapped is None:
            return None
        body = wrapped[0]
        hooks.update(wrapped[1])
    if ADD_EXCEPTION_NOTES:
        body, h = _noted_lines(body, prefix, _note(scope, actions, cond, lines))
        hooks.update(h)
    return body, hooks
