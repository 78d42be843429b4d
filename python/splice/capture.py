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
locals (splice's helper names, which start with ``_splice_``, left out; a
variable of the function's own with that prefix is kept).

Differences from NoPdb (by design):

- A call that raises is captured with :attr:`CallInfo.exception` set (new):
  ``locals`` are those when the exception left the function and
  ``return_value`` is ``None`` (NoPdb records such calls too, through the
  ``'return'`` trace event, but cannot tell them from a ``return None``).
- A generator or coroutine gives one record per call (from its first
  resumption to its end), with ``return_value`` the value it returned; NoPdb
  gives one record per resumption, with the yielded value. A generator never
  finished before the capture ends is not recorded. While one is suspended
  its frame holds what the record needs (a hidden local ``_splice_call``,
  visible in ``frame.f_locals``), so a suspended call inside a garbage
  cycle (an abandoned asyncio task) is collected as without splice, and
  its closing recorded.
  One closed early (``close()``, garbage collection) is recorded with
  ``exception`` a ``GeneratorExit`` without a traceback (the thrown one's
  is the closed frame, which would keep every local alive), on every
  version (3.12+ CPython closes a generator suspended at a ``yield``
  outside any ``try`` block without throwing into it; the capture's handler
  is such a ``try``, and the rewriter says so).
- Calls that run while splice formats a record (its repr, its stack, its
  notebook display) are not recorded, nor calls that run while splice
  enters, exits or changes code on that thread (a finalizer the garbage
  collector runs then).
- Calls on every thread are captured (NoPdb: only the thread that started it).
- Bounding what is kept (new): ``max_calls=`` (``capture_calls`` keeps the
  first N calls, then stops recording), ``keep_locals=`` (names of the locals
  to keep) and ``transform=`` (applied to every kept argument when the call
  starts, and to every kept local and the return value when it ends, e.g.
  ``lambda v: v.detach().cpu() if torch.is_tensor(v) else v``; if it raises,
  the value is kept as is and the error recorded).
- Name, module and file scopes (and no scope at all) catch every matching
  function called in the block, each instrumented at its first call
  (:mod:`splice.first_calls`; on 3.11 every Python call is somewhat slower
  while such a capture is active). With ``SPLICE_EAGER_SCOPES=1`` they
  cover the functions alive when the capture is created, and closures they
  create later (no scope at all instruments every live function: seconds
  in a large program).
- ``args`` and ``stack`` are computed when first read (same values).
"""

from __future__ import annotations

import ast
import collections
import copy
import functools
import importlib
import linecache
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import CodeType, FrameType, FunctionType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Optional, ParamSpec, TextIO, TypeVar

from splice import _native, first_calls, owners
from splice._native import CallRecord, CaptureProbe
from splice._native import addr as _addr  # id() without its audit event
from splice._native import function_code as _function_code  # f.__code__, unaudited
from splice.errors import release_frames
from splice.lifecycle import Managed, sync
from splice.patcher import PATCHER, UNRECORDED, NativeProbe, Probe
from splice.resolve import Scope, Site, Target, check_exists, resolve, wants
from splice.template import HOOK_PREFIX, ScopeInfo, arg_names, build_template, instance_test

if TYPE_CHECKING:  # pragma: no cover
    from splice.nopdb import NoPdb

__all__ = ["CallCapture", "CallInfo", "CallListCapture"]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _unrecorded(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """``method`` with recording paused on the calling thread while it runs
    (``patcher.UNRECORDED``): splice's formatting of a record, whose
    values' reprs may run Python code. A capture with no scope recorded those
    calls, and printing its own list inside the block appended a record per
    value shown, whose repr showed the value again, until memory ran out."""

    @functools.wraps(method)
    def unrecorded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with UNRECORDED:
            return method(*args, **kwargs)

    return unrecorded


class CallInfo(CallRecord):
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
            function, if any (new in splice); for a generator or coroutine
            closed before its end, a ``GeneratorExit`` without a traceback.

    ``CallInfo(name=None, file=None, args=None, locals=None, globals=None,
    return_value=None, exception=None, stack=None)`` is the one constructor
    (native: ``splice._native.CallRecord`` holds the fields): ``CallInfo()``
    is an empty record, as NoPdb's, and the capture hooks make every record
    with the same call, running no Python code. A record they made holds
    the arguments and the stack as recorded (argument values; the stack as
    (code, instruction offset) pairs), which become an ``OrderedDict`` and a
    :class:`traceback.StackSummary` the first time they are read.
    """

    @property
    def args(self) -> Optional[Mapping[str, Any]]:
        """The arguments at entry (an ``OrderedDict``, as in NoPdb)."""
        a = self._args
        if a is None:
            recorded = self._recorded_args()
            if recorded is not None:
                names, values = recorded
                a = self._args = collections.OrderedDict(zip(names, values, strict=True))
        return a

    @args.setter
    def args(self, value: Optional[Mapping[str, Any]]) -> None:
        self._args = value

    @property
    @_unrecorded  # (linecache and traceback are Python code)
    def stack(self) -> Optional[traceback.StackSummary]:
        """The call stack, outermost frame first (as :func:`traceback.extract_stack`)."""
        st = self._stack
        if st is None:
            recorded = self._recorded_stack()
            if recorded is not None:
                st = self._stack = _build_stack(*recorded)
        return st

    @stack.setter
    def stack(self, value: Optional[traceback.StackSummary]) -> None:
        self._stack = value

    def __reduce__(self) -> tuple[Any, ...]:
        """Copy and pickle as a plain record with ``args`` and ``stack`` built
        (a capture object gives a ``CallInfo`` of its last call).

        ``globals`` that are an imported module's namespace travel as a
        reference to that module, as a function pickles by reference: a
        module's dict holds modules and functions that pickle cannot copy,
        and records are pickled to move them between processes (one file
        per DDP rank). A copy in this process gets the very same dict; an
        unpickled one the namespace of the module of that name there, or
        ``None`` if it cannot be imported."""
        fields = (self.name, self.file, self.args, self.locals, _globals_ref(self.globals),
                  self.return_value, self.exception, self.stack)
        state = self.__dict__ if type(self) is CallInfo and self.__dict__ else None
        return (_rebuild_call_info, fields, state)

    @_unrecorded
    def __repr__(self) -> str:
        return "{}(name={!r}, args={}({}), return_value={!r})".format(
            type(self).__name__,
            self.name,
            type(self.args).__name__,
            ", ".join(f"{k}={v!r}" for k, v in (self.args or {}).items()),
            self.return_value,
        )

    @_unrecorded  # (the first display also imports splice._display)
    def _repr_html_(self) -> str:
        """Jupyter's rich display: arguments, other locals and the result as
        tables of names, types and summarized values (tensor and array shapes
        and dtypes, reprs cut short); the plain ``repr`` stays NoPdb's."""
        from splice._display import call_html

        return call_html(self)

    @_unrecorded
    def print_stack(self, file: Optional[TextIO] = None) -> None:
        """Print the call stack."""
        if self.stack is not None:
            for line in self.stack.format():
                print(line, end="", file=file)


class _ModuleGlobals:
    """A module's namespace in a pickled :class:`CallInfo`: the module's name."""

    __slots__ = ("module",)

    def __init__(self, module: str) -> None:
        self.module = module

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ModuleGlobals, (self.module,))

    def resolve(self) -> Optional[dict[str, Any]]:
        """The namespace of the module of that name (imported if needed), or
        ``None``."""
        mod = sys.modules.get(self.module)
        if mod is None:
            try:
                mod = importlib.import_module(self.module)
            except Exception:
                return None
        return getattr(mod, "__dict__", None)


def _globals_ref(g: Any) -> Any:
    """``g``, or a :class:`_ModuleGlobals` if it is an imported module's namespace."""
    if isinstance(g, dict):
        name = g.get("__name__")
        mod = sys.modules.get(name) if isinstance(name, str) else None
        if mod is not None and getattr(mod, "__dict__", None) is g:
            return _ModuleGlobals(name)  # type: ignore[arg-type]
    return g


def _rebuild_call_info(*fields: Any) -> CallInfo:
    """The inverse of :meth:`CallInfo.__reduce__`."""
    f = list(fields)
    if isinstance(f[4], _ModuleGlobals):
        f[4] = f[4].resolve()
    return CallInfo(*f)


def _line_at(code: CodeType, offset: int) -> Optional[int]:
    """The line of the instruction at byte ``offset`` of ``code``."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


def _build_stack(
    outer: list[tuple[CodeType, int]], file: str, name: str, line: int
) -> traceback.StackSummary:
    """The :class:`traceback.StackSummary` of a recorded stack (outer (code,
    instruction offset) pairs innermost first, then the captured function's
    file, name and first line), with source lines."""
    items: list[tuple[str, Optional[int], str]] = [
        (c.co_filename, _line_at(c, lasti), c.co_name) for c, lasti in reversed(outer)
    ]
    items.append((file, line, name))
    summaries = []
    seen = set()
    for fn, lineno, co_name in items:
        if fn not in seen:
            seen.add(fn)
            linecache.checkcache(fn)
        summaries.append(traceback.FrameSummary(fn, lineno, co_name, lookup_line=True))
    return traceback.StackSummary.from_list(summaries)


class DetachedCaptureHooks:
    """What a function's capture hooks unpickle as: hooks that record
    nothing. cloudpickle pickles a closure or a ``__main__`` function by
    value, constants included; the copy in another process has no capture
    to record into (``_native.CaptureHooks.__reduce__``)."""

    __slots__ = ()

    def enter(self, _unused: object = None) -> None:
        """Entry: nothing to record."""

    def open(self, _unused: object = None) -> None:
        """Entry of a generator or coroutine: nothing to keep."""

    def exit(self, value: object, call: object = None) -> None:
        """Return: nothing to record."""

    def error(self, exc: object, call: object = None) -> None:
        """Exception: nothing to record."""


#: Code objects whose calls can be suspended (generators, coroutines, async
#: generators): their probes keep an open call's entry in the frame, so that
#: a suspended call inside a garbage cycle is collected with it.
_RESUMABLE = 0x20 | 0x80 | 0x200  # inspect.CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


def capture_probe(hooks: _native.CaptureHooks, code: CodeType) -> CaptureProbe:
    """The native probe that calls ``hooks`` on ``code``: a generator's,
    coroutine's or async generator's keeps each open call in its frame
    (``hooks.open``, ``keep_entry``; see ``_native.OpenCall``), any other
    code's in the capture (``hooks.enter``)."""
    if code.co_flags & _RESUMABLE:
        return CaptureProbe(hooks.open, hooks.exit, hooks.error, keep_entry=True)
    return CaptureProbe(hooks.enter, hooks.exit, hooks.error)


class _CaptureProbe(Probe):
    """Entry/exit/error hooks on one code object for one capture.

    It holds no reference to the capture (which holds it): a capture that
    is a cycle with its probes holds every record it made until the next
    full collection, where a capture that is not is freed, records and
    all, when the user drops it."""

    def __init__(self, capture: _BaseCapture, target: Target) -> None:
        super().__init__(target.site)
        self.target = target
        code = target.code
        hooks = _native.CaptureHooks(capture._recorder, code, arg_names(code))
        self.hooks = hooks
        self._enter, self._exit, self._error = hooks.enter, hooks.exit, hooks.error
        self._filter_spec: Optional[tuple[NativeProbe, tuple[str, ...]]] = None
        self._filter_extra: Optional[tuple[str, ...]] = None

    def spec(self, extra_locals: tuple[str, ...]) -> tuple[list[NativeProbe], tuple[str, ...]]:
        if self.target.instance is None:
            return [capture_probe(self.hooks, self.target.code)], ()
        # A bound method: `enter` runs only behind the instance filter.
        capture = CaptureProbe(None, self._exit, self._error)
        if self._filter_spec is None or self._filter_extra != extra_locals:
            self._filter_extra = extra_locals
            self._filter_spec = _instance_entry_probe(
                self.target, self._enter, extra_locals, f"capture of {self.site.qualname}"
            )
        entry, new_locals = self._filter_spec
        return [capture, entry], new_locals


def _instance_entry_probe(
    target: Target, enter: Callable[..., Any], extra_locals: tuple[str, ...], label: str
) -> tuple[NativeProbe, tuple[str, ...]]:
    """An entry probe ``if <first argument> is <instance>: enter()``."""
    info = ScopeInfo.from_code(target.code)
    test, hooks = instance_test(info, f"{HOOK_PREFIX}self", target.instance)
    hooks[f"{HOOK_PREFIX}enter"] = enter
    body: list[ast.stmt] = [
        ast.If(
            test=test,
            body=[ast.Expr(ast.Call(ast.Name(f"{HOOK_PREFIX}enter", ast.Load()), [], []))],
            orelse=[],
        )
    ]
    tpl = build_template(target.code, body, hooks, label=label, extra_locals=extra_locals)
    return tpl.probe(None), tpl.new_locals


class _BaseCapture(Managed):
    """What both captures share: the native recorder, one capture probe per
    target code object, and the record of hook failures."""

    #: Where the recorder puts records: "list" (append) or "last" (this object).
    _SINK: ClassVar[Literal["list", "last"]]

    def __init__(
        self,
        nopdb: NoPdb,
        scope: Scope,
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
        max_calls: Optional[int] = None,
        eager: bool = False,
    ) -> None:
        if max_calls is not None and (
            not isinstance(max_calls, int) or isinstance(max_calls, bool) or max_calls < 0
        ):
            raise ValueError(f"max_calls must be a non-negative int or None, not {max_calls!r}")
        if max_calls is not None and max_calls > sys.maxsize:
            max_calls = sys.maxsize  # more calls than any process makes: no bound
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, not {type(transform).__name__}")
        self._scope = scope
        self._transform = transform
        self._keep = None if keep_locals is None else _local_names(keep_locals)
        self._max_calls = max_calls
        self._warned = False
        # The recorder holds this capture only weakly: instrumented code
        # objects (which the cycle collector never sees) hold the hooks, and
        # records hold code objects through their stacks.
        self._recorder = _native.Recorder(
            self, self._SINK, CallInfo,
            transform=transform, keep=self._keep, max_calls=max_calls,
        )
        #: Exceptions raised inside capture hooks or ``transform`` (never
        #: propagated into the captured function).
        self.hook_errors: list[BaseException] = []
        #: A scope by name, module or file is lazy where sys.monitoring
        #: exists (splice.first_calls): its functions are instrumented at
        #: their first call in the block, so `_targets` grows as they come.
        #: (`eager=True`: every match now, for the CLI, which lists targets.)
        self._lazy = not eager and scope._fn is None and first_calls.available()
        self._running = False
        self._by_code: dict[int, _CaptureProbe] = {}
        self._failed: set[int] = set()
        if self._lazy:
            check_exists(scope)
            self._targets: list[Target] = []
        else:
            self._targets = resolve(scope)
        self._probes = [_CaptureProbe(self, t) for t in self._targets]
        Managed.__init__(self, nopdb)

    # lifecycle
    def _wanted(self) -> list[Probe]:
        return [] if self._is_full() else list(self._probes)

    def _is_full(self) -> bool:
        """Whether ``max_calls`` calls are kept: then the probes are removed
        (later calls run the original code and cost nothing). Read from the
        recorder's count, not marked by :meth:`_on_full`: the recorder calls
        that once, and a KeyboardInterrupt as it started lost the mark (every
        later start of the NoPdb instrumented every match again for
        nothing). ``max_calls=0`` is full from the start: nothing is
        installed."""
        return self._max_calls is not None and self._recorder.count >= self._max_calls

    def _on_sync(self, active: bool) -> None:
        if not self._lazy:
            self._set_live(active)

    def _set_live(self, live: bool) -> None:
        """Start or stop recording (stopping forgets the calls still
        running). On stopping, the hook failures the recorder could not
        report when they happened join :attr:`hook_errors`: a hook that
        fails at the recursion limit (a ``RecursionError`` in ``transform``)
        leaves no room to call :meth:`_hook_failed` either."""
        # (the recorder holds the transform only while recording: see
        # Recorder.transform)
        self._recorder.set_live(live, self._transform if live else None)
        if live:
            return
        for e in self._recorder.take_unreported():
            if any(e is h for h in self.hook_errors):
                continue  # its report failed after adding it (the warning raised)
            try:
                # the warning, if it is the first, at the user's with
                # statement or call (one frame below: _hook_failed warns)
                self._hook_failed(e, stacklevel=owners._user_stacklevel() + 1)
            except Exception:  # warnings turned into errors: stopping must not fail; e is in hook_errors
                pass

    def _on_full(self) -> None:
        """Called by the recorder after the last call ``max_calls`` keeps:
        remove the probes now rather than run hooks that record nothing.
        Not from inside a commit on this thread (a hook in a function that
        splice itself called while committing): then they stay until the
        block ends."""
        if PATCHER.held_here():
            return
        with PATCHER.lock:
            sync([self])  # (now _is_full(): the probes go)

    def _on_running(self, running: bool) -> None:
        running = running and not self._is_full()
        if not self._lazy or running == self._running:
            return
        if running:
            self._running = True
            self._set_live(True)
            try:
                first_calls.watch(self)
            except BaseException:  # not watching (it may have been added before the failure), so not running
                self._set_live(False)
                first_calls.unwatch(self)
                self._running = False
                raise
        else:
            # not running only once both are done: interrupted before, a
            # sync run again (a block's exit) does them again
            self._set_live(False)
            first_calls.unwatch(self)
            self._running = False

    @property
    def active(self) -> bool:
        """Whether the capture is installed right now (a lazy scope: watching
        for first calls, whether or not any function was instrumented yet)."""
        return self._running if self._lazy else bool(self._active)

    # lazy scopes (splice.first_calls) ---------------------------------------
    def wants(self, code: CodeType, running: CodeType) -> bool:
        """Whether a call of (original) ``code``, running ``running`` (the
        original or code splice made from it for other probes), must be
        recorded here and ``code`` instrumented: not when ``running`` is the
        installed code and already has this capture's probe."""
        if _addr(code) in self._failed or not wants(self._scope, code):
            return False
        # Only code splice made can hold this capture's probe, and the call
        # is recorded by it only if ``running`` is code made with it: while
        # the commit that adds it runs on another thread, the installed code
        # is still the original or another probe's (a breakpoint's), and a
        # call that starts on it must be recorded here. (The original code
        # must never be disabled.)
        probe = self._by_code.get(_addr(code))
        return not (
            running is not code
            and probe is not None
            and PATCHER.carries(running, probe)
            and self.active
        )

    def first_call(self, code: CodeType, frame: FrameType) -> Any:
        """Instrument (original) ``code``, moving the function ``frame`` runs
        (and any other found running it), and start recording this call; the hooks
        that record it, or ``None``. Never raises: a failure goes to
        :attr:`hook_errors` and the code object is not tried again."""
        try:
            with PATCHER.lock:
                if not self._running:
                    return None
                fn = _native.frame_function(frame)
                fns = [fn] if fn is not None else owners.search_many([code, frame.f_code])
                probe = self._instrument_first(code, fns)
            probe.hooks.enter_frame(frame)
            return probe.hooks
        except Exception as e:
            self._hook_failed(e)
            return None

    def first_call_function(self, code: CodeType, fn: FunctionType) -> bool:
        """(3.11, splice.first_calls) Instrument (original) ``code`` and move
        ``fn`` onto it; whether ``fn`` now runs code with this capture's
        probe (then the caller calls it again, and the probe records the
        call). Never raises, as :meth:`first_call`."""
        try:
            with PATCHER.lock:
                if not self._running:
                    return False
                self._instrument_first(code, [fn])
                return PATCHER.current(code) is _function_code(fn) and _function_code(fn) is not code
        except Exception as e:
            self._hook_failed(e)
            return False

    def _instrument_first(self, code: CodeType, fns: list[FunctionType]) -> _CaptureProbe:
        """This capture's probe on (original) ``code`` (added and committed
        at its first call, with ``fns`` among its owners; later: ``fns``
        adopted). Holds the patcher's lock. A failed commit is remembered:
        ``code`` is not tried again (one cut short by a ``KeyboardInterrupt``
        is tried again at the next call)."""
        probe = self._by_code.get(_addr(code))
        if probe is None:
            target = Target(Site(code, fns))
            probe = _CaptureProbe(self, target)
            self._targets.append(target)
            self._probes.append(probe)
            self._by_code[_addr(code)] = probe
            try:
                sync([self])
            except BaseException as e:
                if any(p is probe for p in self._active):
                    # Committed, then interrupted (as sync's `with` exited, or
                    # the interruption it re-raises after a commit): the probe
                    # is in, and must stay known. Forgotten, the next call of
                    # the instrumented code was taken for a first call again,
                    # and a generator's call was recorded twice.
                    target.site.functions.clear()
                    raise
                self._targets.remove(target)
                self._probes.remove(probe)
                del self._by_code[_addr(code)]
                if isinstance(e, Exception):
                    # a failure; a KeyboardInterrupt that landed in the
                    # commit is none, and marking it left that function
                    # unrecorded for the rest of the block
                    self._failed.add(_addr(code))
                raise
            # The registry holds the owners weakly from now on; the site must
            # not keep them alive until the block ends (found: CPython's
            # test_functools.test_lru_cache_weakrefable under a capture).
            target.site.functions.clear()
        else:
            PATCHER.adopt(code, fns)
        return probe

    # hooks
    def _hook_failed(self, e: BaseException, stacklevel: int = 2) -> None:
        """Add ``e`` to :attr:`hook_errors`; warn for the first. Called by
        the native hooks (``stacklevel`` 2 is then the captured function)
        and, for failures that could not be reported then, when the capture
        stops (:meth:`_set_live`)."""
        release_frames(e)  # kept in hook_errors: splice's frames must not keep the code
        self.hook_errors.append(e)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"splice: a capture hook failed ({type(e).__name__}: {e}); the call "
                f"was not affected. See .hook_errors",
                RuntimeWarning,
                stacklevel=stacklevel,
            )

    @property
    def targets(self) -> list[CodeType]:
        """The (original) code objects this capture instruments."""
        return [t.code for t in self._targets]


def _local_names(keep_locals: Iterable[str]) -> frozenset[str]:
    """``keep_locals`` as a set of names; a str (which would be kept letter
    by letter) or anything but names is refused."""
    if isinstance(keep_locals, (str, bytes)):
        name = keep_locals if isinstance(keep_locals, str) else keep_locals.decode("utf-8", "replace")
        raise TypeError(
            f"keep_locals must be a collection of local names (str), such as [{name!r}], "
            f"not a single {type(keep_locals).__name__}"
        )
    try:
        names = frozenset(keep_locals)
    except TypeError:
        raise TypeError(
            f"keep_locals must be a collection of local names (str), not {type(keep_locals).__name__}"
        ) from None
    bad = sorted(repr(n) for n in names if not isinstance(n, str))
    if bad:
        raise TypeError(f"keep_locals must hold names of locals (str); got {', '.join(bad)}")
    return names


class CallCapture(_BaseCapture, CallInfo):
    """The most recent call to return (a :class:`CallInfo`), which also works
    as a context manager that stops capturing at the end of the block.

    Created by :func:`splice.capture_call`.
    """

    _SINK = "last"  # the native recorder refills our CallInfo fields per record

    def __new__(cls, *args: Any, **kwargs: Any) -> CallCapture:
        """An empty record (the arguments are ``__init__``'s, not the record's)."""
        return super().__new__(cls)  # an empty record; __init__ takes the arguments

    def __init__(
        self,
        nopdb: NoPdb,
        scope: Scope,
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
        eager: bool = False,
    ) -> None:
        _BaseCapture.__init__(
            self, nopdb, scope, transform=transform, keep_locals=keep_locals, eager=eager
        )

    __repr__ = CallInfo.__repr__

    def __copy__(self) -> CallInfo:
        """A :class:`CallInfo` holding the most recent call's fields (the
        capture itself cannot be copied: the copy would share its probes)."""
        return CallInfo(
            name=self.name,
            file=self.file,
            args=self.args,
            locals=self.locals,
            globals=self.globals,
            return_value=self.return_value,
            exception=self.exception,
            stack=self.stack,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> CallInfo:
        return copy.deepcopy(self.__copy__(), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the :class:`CallInfo` of its call, as it is copied."""
        return self.__copy__().__reduce__()


class CallListCapture(_BaseCapture, list[CallInfo]):
    """A list of :class:`CallInfo`, one per call, in the order the calls
    returned; also a context manager that stops capturing at the end of the
    block. Created by :func:`splice.capture_calls`.
    """

    _SINK = "list"  # the native recorder appends a CallInfo to this list

    def __init__(
        self,
        nopdb: NoPdb,
        scope: Scope,
        *,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
        max_calls: Optional[int] = None,
        eager: bool = False,
    ) -> None:
        list.__init__(self)
        _BaseCapture.__init__(
            self, nopdb, scope, transform=transform, keep_locals=keep_locals,
            max_calls=max_calls, eager=eager,
        )

    __repr__ = list.__repr__
    __eq__ = list.__eq__

    def __copy__(self) -> list[CallInfo]:
        """A plain list of the records so far (the capture itself cannot be
        copied: the copy would share its probes)."""
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[CallInfo]:
        return copy.deepcopy(list(self), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as a plain list of the records so far, as it is copied
        (returned from a multiprocessing worker, for example)."""
        return (list, (list(self),))

    __hash__ = None

    @_unrecorded
    def _repr_html_(self) -> str:
        """Jupyter's rich display: one row per call, arguments and result
        summarized; the plain ``repr`` stays a list's, as in NoPdb."""
        from splice._display import calls_html

        return calls_html(self, type(self).__name__)
