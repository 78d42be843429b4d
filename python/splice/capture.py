"""Call capture: ``capture_call``, ``capture_calls``, :class:`CallInfo`.

Each captured function gets a capture probe: the injected code calls
``enter()`` at function entry, ``exit(value)`` before every return and
``error(exc)`` when an exception leaves the function. The hooks are native
(``splice._native.CaptureHooks``, one per instrumented code object, sharing
one ``splice._native.Recorder`` per capture): builtin methods called through
vectorcall, which push no Python frame and (on 3.11) count no recursion
level, so a captured function recurses exactly as deep as before. They read
the target frame with ``PyEval_GetFrame`` and never raise (a failure is
recorded in ``hook_errors`` and reported once as a warning). For a bound
method or a callable instance, ``enter`` is instead called from an injected
entry snippet ``if <first argument> is <instance>: enter()``, and ``exit``/
``error`` ignore calls whose entry was not recorded.

What a call costs: at entry, the argument values (a tuple; the
``OrderedDict`` is built when :attr:`CallInfo.args` is first read) and the
stack as ``(code, instruction offset)`` pairs (the
:class:`traceback.StackSummary`, with line numbers and source lines, is built
when :attr:`CallInfo.stack` is first read); at exit, one snapshot of the
locals (splice's helper names, which start with ``_splice_``, left out).

Differences from NoPdb (by design):

- A call that raises is captured with :attr:`CallInfo.exception` set (new):
  ``locals`` are those when the exception left the function and
  ``return_value`` is ``None`` (NoPdb records such calls too, through the
  ``'return'`` trace event, but cannot tell them from a ``return None``).
- A generator or coroutine gives one record per call (from its first
  resumption to its end), with ``return_value`` the value it returned; NoPdb
  gives one record per resumption, with the yielded value. A generator never
  finished before the capture ends is not recorded. One closed early
  (``close()``, garbage collection) is recorded with ``exception`` a
  ``GeneratorExit`` on 3.11 and 3.12; on 3.13, CPython closes a generator
  suspended at a ``yield`` outside any ``try`` block without running its code,
  and such a call is not recorded.
- Calls on every thread are captured (NoPdb: only the thread that started it).
- Bounding what is kept (new): ``max_calls=`` (``capture_calls`` keeps the
  first N calls, then stops recording), ``keep_locals=`` (names of the locals
  to keep) and ``transform=`` (applied to every kept argument, local and
  return value, e.g. ``lambda v: v.detach().cpu() if torch.is_tensor(v) else
  v``; if it raises, the value is kept as is and the error recorded).
- Name, module and file scopes cover the functions alive when the capture is
  created, and closures they create later; no scope at all instruments every
  live function (seconds in a large program).
- ``args`` and ``stack`` are computed when first read (same values).
"""

from __future__ import annotations

import collections
import linecache
import traceback
import warnings
from types import CodeType
from typing import Any, Callable, Iterable, List, Optional, TYPE_CHECKING

from splice import _native
from splice.patcher import Managed, Probe
from splice.resolve import Scope, Target, resolve
from splice.template import HOOK_PREFIX, ScopeInfo, build_template

if TYPE_CHECKING:  # pragma: no cover
    from splice.nopdb import NoPdb

__all__ = ["CallCapture", "CallInfo", "CallListCapture"]

class CallInfo:
    """Information about a function call.

    Attributes:
        name (str): The name of the function's code object.
        file (str): The path to the file where the function was defined.
        stack (traceback.StackSummary): The call stack (built when first read).
        args (collections.OrderedDict): The function's arguments at entry,
            including ``*args`` and ``**kwargs``.
        locals (dict): Local variables on return (or when an exception left).
        globals (dict): Global variables of the function.
        return_value: The return value (``None`` if the call raised).
        exception (BaseException or None): The exception that left the
            function, if any (new in splice).
    """

    def __init__(self) -> None:
        self.name: Optional[str] = None
        self.file: Optional[str] = None
        self.args: Optional[dict] = None
        self.locals: Optional[dict] = None
        self.globals: Optional[dict] = None
        self.return_value: Optional[Any] = None
        self.exception: Optional[BaseException] = None
        self.stack: Optional[traceback.StackSummary] = None

    # ``args`` and ``stack`` are recorded cheaply (a tuple of values; (code,
    # instruction offset) pairs) and turned into an OrderedDict / StackSummary
    # the first time they are read.

    @property
    def args(self) -> Optional[dict]:
        """The arguments at entry (an ``OrderedDict``, as in NoPdb)."""
        d = self.__dict__
        a = d.get("_args")
        if a is None and d.get("_args_raw") is not None:
            names, values = d.pop("_args_raw")
            a = d["_args"] = collections.OrderedDict(
                [(n, v) for n, v in zip(names, values) if v is not _UNBOUND]
            )
        return a

    @args.setter
    def args(self, value: Optional[dict]) -> None:
        self.__dict__["_args"] = value
        self.__dict__.pop("_args_raw", None)

    @property
    def stack(self) -> Optional[traceback.StackSummary]:
        """The call stack, outermost frame first (as :func:`traceback.extract_stack`)."""
        d = self.__dict__
        st = d.get("_stack")
        if st is None and d.get("_frames") is not None:
            st = d["_stack"] = _build_stack(d.pop("_frames"))
        return st

    @stack.setter
    def stack(self, value: Optional[traceback.StackSummary]) -> None:
        self.__dict__["_stack"] = value
        self.__dict__.pop("_frames", None)

    def __repr__(self) -> str:
        return "{}(name={!r}, args={}({}), return_value={!r})".format(
            type(self).__name__,
            self.name,
            type(self.args).__name__,
            ", ".join("{}={!r}".format(k, v) for k, v in (self.args or {}).items()),
            self.return_value,
        )

    def print_stack(self, file=None) -> None:
        """Print the call stack."""
        if self.stack is not None:
            for line in self.stack.format():
                print(line, end="", file=file)


_UNBOUND = object()


def _line_at(code: CodeType, offset: int) -> Optional[int]:
    """The line of the instruction at byte ``offset`` of ``code``."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


def _build_stack(frames) -> traceback.StackSummary:
    """``frames``: a native ``RecordedStack`` (or its ``unpack()``: outer
    (code, instruction offset) pairs innermost first, the code, its first line)."""
    outer, code, line = frames if isinstance(frames, tuple) else frames.unpack()
    items = [(c, _line_at(c, lasti)) for c, lasti in reversed(outer)]
    items.append((code, line))
    summaries = []
    seen = set()
    for c, l in items:
        fn = c.co_filename
        if fn not in seen:
            seen.add(fn)
            linecache.checkcache(fn)
        summaries.append(traceback.FrameSummary(fn, l, c.co_name, lookup_line=True))
    return traceback.StackSummary.from_list(summaries)


class _CaptureProbe(Probe):
    """Entry/exit/error hooks on one code object for one capture."""

    def __init__(self, capture: "_BaseCapture", target: Target) -> None:
        super().__init__(target.site)
        self.capture = capture
        self.target = target
        code = target.code
        info = ScopeInfo.from_code(code)
        hooks = _native.CaptureHooks(capture._native, code, info.arg_names)
        self._enter, self._exit, self._error = hooks.enter, hooks.exit, hooks.error
        self._filter_spec: Optional[tuple[dict, tuple[str, ...]]] = None
        self._filter_extra: Optional[tuple[str, ...]] = None

    def spec(self, extra_locals: tuple[str, ...]) -> tuple[list[dict], tuple[str, ...]]:
        inst = self.target.instance
        d = {
            "at": "capture",
            "enter": None if inst is not None else self._enter,
            "exit": self._exit,
            "error": self._error,
        }
        if inst is None:
            return [d], ()
        if self._filter_spec is None or self._filter_extra != extra_locals:
            self._filter_extra = extra_locals
            self._filter_spec = _instance_entry_probe(
                self.target, self._enter, extra_locals, f"capture of {self.site.qualname}"
            )
        entry, new_locals = self._filter_spec
        return [d, entry], new_locals


def _instance_test(info: ScopeInfo, hook: str):
    """AST test "the first argument is the hooked instance"."""
    import ast

    positional = info.posonly + info.args
    if positional:
        return ast.Compare(
            left=ast.Name(positional[0], ast.Load()),
            ops=[ast.Is()],
            comparators=[ast.Name(hook, ast.Load())],
        )
    if info.varargs:
        va = ast.Name(info.varargs, ast.Load())
        return ast.BoolOp(
            op=ast.And(),
            values=[
                va,
                ast.Compare(
                    left=ast.Subscript(ast.Name(info.varargs, ast.Load()), ast.Constant(0), ast.Load()),
                    ops=[ast.Is()],
                    comparators=[ast.Name(hook, ast.Load())],
                ),
            ],
        )
    from splice.resolve import TargetError

    raise TargetError(
        f"{info.qualname} takes no positional argument, so calls on one instance "
        f"cannot be told apart; pass the function (not a bound method)"
    )


def _instance_entry_probe(
    target: Target, enter: Callable[[], None], extra_locals: tuple[str, ...], label: str
) -> tuple[dict, tuple[str, ...]]:
    import ast

    info = ScopeInfo.from_code(target.code)
    hooks = {f"{HOOK_PREFIX}self": target.instance, f"{HOOK_PREFIX}enter": enter}
    body = [
        ast.If(
            test=_instance_test(info, f"{HOOK_PREFIX}self"),
            body=[ast.Expr(ast.Call(ast.Name(f"{HOOK_PREFIX}enter", ast.Load()), [], []))],
            orelse=[],
        )
    ]
    tpl = build_template(target.code, body, hooks, label=label, extra_locals=extra_locals)
    return {"at": "entry", "snippet": tpl.snippet, "hooks": tpl.hooks}, tpl.new_locals


class _BaseCapture(Managed):
    def __init__(
        self,
        nopdb: "NoPdb",
        scope: Scope,
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
        max_calls: Optional[int] = None,
    ) -> None:
        if max_calls is not None and (not isinstance(max_calls, int) or max_calls < 0):
            raise ValueError(f"max_calls must be a non-negative int or None, not {max_calls!r}")
        if transform is not None and not callable(transform):
            raise TypeError("transform must be callable")
        self._scope = scope
        self._transform = transform
        self._keep = None if keep_locals is None else frozenset(keep_locals)
        self._max_calls = max_calls
        self._live = False
        self._warned = False
        # The recorder holds this capture only weakly: instrumented code
        # objects (which the cycle collector never sees) hold the hooks, and
        # records hold code objects through their stacks.
        self._native = _native.Recorder(
            self, self._SINK, CallInfo, _UNBOUND,
            transform=transform, keep=self._keep, max_calls=max_calls,
        )
        #: Exceptions raised inside capture hooks or ``transform`` (never
        #: propagated into the captured function).
        self.hook_errors: list[BaseException] = []
        self._targets = resolve(scope)
        self._probes = [_CaptureProbe(self, t) for t in self._targets]
        Managed.__init__(self, nopdb)

    # lifecycle
    def _wanted(self) -> list[Probe]:
        return list(self._probes)

    def _on_sync(self, active: bool) -> None:
        self._live = active
        self._native.set_live(active)  # stopping forgets the calls still running

    @property
    def _recording(self) -> bool:
        return self._native.recording

    @property
    def _count(self) -> int:
        return self._native.count

    # hooks
    def _hook_failed(self, e: BaseException) -> None:
        self.hook_errors.append(e)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"splice: a capture hook failed ({type(e).__name__}: {e}); the call "
                f"was not affected. See .hook_errors",
                RuntimeWarning,
                stacklevel=2,  # called from a native hook: 2 is the captured function
            )

    @property
    def targets(self) -> list[CodeType]:
        """The (original) code objects this capture instruments."""
        return [t.code for t in self._targets]


class CallCapture(_BaseCapture, CallInfo):
    """The most recent call to return (a :class:`CallInfo`), which also works
    as a context manager that stops capturing at the end of the block.

    Created by :func:`splice.capture_call`.
    """

    _SINK = "last"  # the native recorder copies each record into our __dict__

    def __init__(
        self,
        nopdb: "NoPdb",
        scope: Scope,
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
    ) -> None:
        CallInfo.__init__(self)
        _BaseCapture.__init__(self, nopdb, scope, transform=transform, keep_locals=keep_locals)

    __repr__ = CallInfo.__repr__


class CallListCapture(_BaseCapture, List[CallInfo]):
    """A list of :class:`CallInfo`, one per call, in the order the calls
    returned; also a context manager that stops capturing at the end of the
    block. Created by :func:`splice.capture_calls`.
    """

    _SINK = "list"  # the native recorder appends a CallInfo to this list

    def __init__(
        self,
        nopdb: "NoPdb",
        scope: Scope,
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
        max_calls: Optional[int] = None,
    ) -> None:
        list.__init__(self)
        _BaseCapture.__init__(
            self, nopdb, scope, transform=transform, keep_locals=keep_locals, max_calls=max_calls
        )

    __repr__ = list.__repr__
    __eq__ = list.__eq__
    __hash__ = None  # type: ignore[assignment]
