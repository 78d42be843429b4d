"""Type stub of ``splice._native`` (crates/splice-py): what the runtime
package uses. Tests and tools use :mod:`splice._native.testing`."""

from collections.abc import Callable, Iterable, Mapping
from traceback import StackSummary
from types import CodeType, FrameType, FunctionType
from typing import Any, Literal, Optional, Self, Union, final, overload

from typing_extensions import disjoint_base

from splice._native import testing as testing
from splice.capture import DetachedCaptureHooks

__all__ = [
    "CO_OPTIMIZED",
    "CO_VARARGS",
    "CO_VARKEYWORDS",
    "CaptureHooks",
    "CallRecord",
    "CaptureProbe",
    "FUTURE_FLAGS",
    "FuncVersion",
    "HOOK_PREFIX",
    "LineProbe",
    "LocateFailure",
    "LocateIndex",
    "OpenCall",
    "PycIndex",
    "Recorder",
    "SourceMismatchFailure",
    "addr",
    "block_excerpt",
    "disassemble",
    "event_lines",
    "EvalSink",
    "excerpt",
    "frame_function",
    "locals_to_fast",
    "is_utf8",
    "functions_in_heap",
    "function_code",
    "functions_owning",
    "frames_running_here",
    "nested_codes",
    "Retrying",
    "Unrecorded",
    "pause_recording",
    "recorded_stack_generation",
    "recorded_stack_refs",
    "recording_pause_depth",
    "referrers_but_tuples",
    "resume_recording",
    "instrument",
    "code_lines",
    "rebinds_local",
    "scope_names",
    "stack_module_codes",
    "stands_alone",
    "save_version",
    "start_hook_install",
    "start_hook_installed",
    "start_hook_restart",
    "start_hook_uninstall",
    "sync_version",
    "top_level_lines",
    "testing",
]

# -- constants both sides share (crates/splice-py/src/consts.rs) -------------

#: Prefix of every name splice adds to a function (hooks, helper locals).
HOOK_PREFIX: str
#: ``co_flags`` bits: a function body, ``*args``, ``**kwargs``.
CO_OPTIMIZED: int
CO_VARARGS: int
CO_VARKEYWORDS: int
#: Every ``from __future__`` compiler flag of the running interpreter.
FUTURE_FLAGS: int

# -- probes and instrument (probes.rs, instrument.rs) ------------------------

@final
class LineProbe:
    """Run the body of ``snippet`` wherever a 'line' event for one of
    ``lines`` would fire, or at function entry when ``lines`` is ``None``."""

    def __new__(
        cls,
        lines: list[int] | tuple[int, ...] | None,
        snippet: CodeType,
        hooks: dict[str, object] | None = None,
    ) -> Self: ...
    @property
    def lines(self) -> list[int] | None: ...
    @property
    def snippet(self) -> CodeType: ...
    @property
    def hooks(self) -> dict[str, object]: ...

@final
class CaptureProbe:
    """Call ``enter()`` at entry (unless ``None``), ``exit(value)`` before
    every return and ``error(exc)`` when an exception leaves the function.
    With ``keep_entry``, what ``enter()`` returns is kept in a hidden local
    of the frame (``_splice_call``) and passed on: ``exit(value, entry)``,
    ``error(exc, entry)``; ``entry`` is ``None`` if ``enter`` raised."""

    def __new__(
        cls,
        enter: Callable[..., object] | None,
        exit: Callable[..., object],
        error: Callable[..., object],
        keep_entry: bool = False,
    ) -> Self: ...
    @property
    def enter(self) -> Callable[..., object] | None: ...
    @property
    def exit(self) -> Callable[..., object]: ...
    @property
    def error(self) -> Callable[..., object]: ...
    @property
    def keep_entry(self) -> bool: ...

def instrument(code: CodeType, probes: Iterable[LineProbe | CaptureProbe]) -> CodeType:
    """A copy of ``code`` with ``probes`` spliced in, verified; nothing is patched."""

def disassemble(code: CodeType) -> str:
    """Stable disassembly (labels, operand values, stack depths, handlers)."""

def event_lines(code: CodeType) -> list[int]:
    """Sorted lines of ``code`` where a 'line' event can fire, so a probe
    can go (the rewriter's own rule)."""

def rebinds_local(code: CodeType, index: int) -> bool:
    """Whether an instruction of ``code`` stores into, deletes or clears the
    local in slot ``index`` (as a plain local or a cell)."""

def scope_names(code: CodeType) -> tuple[list[str], list[str], list[str]]:
    """(names ``code`` declares ``global`` -- it stores or deletes them as
    globals -- in first-use order, plain locals it ever deletes, sorted,
    plain locals an inlined comprehension clears with
    ``LOAD_FAST_AND_CLEAR`` (3.12+), sorted)."""

def addr(obj: object) -> int:
    """``id(obj)``, without the ``builtins.id`` audit event (a process with a
    Python audit hook pays a Python call per ``id()``)."""

def function_code(f: Any) -> CodeType:
    """``f.__code__``, without the ``object.__getattr__`` audit event."""

def stack_module_codes(tops: list[FrameType], filename: str) -> list[CodeType]:
    """The distinct ``<module>`` code objects of ``filename`` running in the
    frames ``tops`` or below them, without an audit event per frame."""

def code_lines(code: CodeType) -> list[int]:
    """The sorted distinct true line numbers of ``code.co_lines()``."""

def block_excerpt(source: Union[str, bytes], line: int) -> Optional[tuple[int, int, str, int]]:
    """Lines ``(start, end)`` (end exclusive) of the ``def``/``class`` whose
    first line or first decorator is ``line``, guessed from indentation,
    their :func:`excerpt` without the empty lines before it, and the line
    that text starts on (``LocateIndex(text, first_line)`` indexes it at the
    file's line numbers); None when ``line`` starts none. ``source`` may be
    the UTF-8 bytes of the text (no conversion of a large ``str``)."""

def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8 (strict, as ``bytes.decode``),
    checked without making a ``str`` of it."""

def top_level_lines(source: str, line: int) -> Optional[tuple[int, int]]:
    """Lines ``(start, end)`` of the top-level statement holding ``line``,
    guessed from indentation; None when ``line`` is not in ``source``."""

def stands_alone(text: str, expression: bool) -> bool:
    """Whether a snippet's text parses by itself, as one expression or as
    statements (the text path pastes it into a template's text)."""

def excerpt(source: str, start: int, end: int) -> Optional[str]:
    """Lines ``[start, end)`` of ``source`` at their own line numbers, the
    lines before them empty; an indented first line gets ``if 1:`` on the
    line before it. None when the lines are not there."""

def functions_in_heap() -> list[FunctionType]:
    """Every live function the collector tracks (``gc.get_objects()``,
    filtered without the list outliving the scan)."""

def functions_owning(codes: list[CodeType]) -> list[FunctionType]:
    """Every live function the collector tracks whose ``__code__`` is one of ``codes``."""

def referrers_but_tuples(obj: object) -> list[Any]:
    """What ``gc.get_referrers(obj)`` lists, less the exact tuples (dropped
    before any Python code runs: one may be a tuple another thread is still
    building)."""

def frames_running_here(code: CodeType) -> int:
    """How many frames of the calling thread's stack run ``code``."""

def recorded_stack_refs(code: CodeType) -> int:
    """References to ``code`` that capture records' recorded stacks hold now."""

def recorded_stack_generation() -> int:
    """Bumped whenever a recorded stack node is made or dropped."""

def nested_codes(roots: list[CodeType]) -> list[tuple[CodeType, CodeType]]:
    """``(parent, child)`` for every code object nested in ``roots`` through
    ``co_consts`` (any depth; each child walked once, every occurrence
    listed)."""

def locals_to_fast(frame: FrameType) -> None:
    """Write ``frame.f_locals`` back into the frame's variables (3.11, 3.12:
    ``PyFrame_LocalsToFast``, as after a trace function's call); nothing on
    3.13+, where ``f_locals`` writes through."""

def frame_function(frame: FrameType) -> Optional[FunctionType]:
    """The function ``frame`` runs (read from the interpreter frame on
    3.12+, layout checked), or ``None`` where that is not known."""

# -- 3.11's first-call hook for lazy name scopes (start_hook.rs) ------------

def start_hook_install(callback: Callable[[CodeType, FunctionType], int]) -> bool:
    """Install splice's frame evaluator (3.11; ``False`` and nothing done
    elsewhere). ``callback(code, function)`` is asked about a code object's
    new frames until it answers ``0`` (not wanted; asked again after
    :func:`start_hook_restart`); ``1`` runs the frame, ``2`` calls the
    function again (it now runs instrumented code) instead of the frame."""

def start_hook_uninstall() -> None:
    """The evaluator installed before splice's back, if splice's is still
    the interpreter's; the hook only forwards from now on."""

def start_hook_restart() -> None:
    """Every code object is asked about again."""

def start_hook_installed() -> bool:
    """Whether splice's frame evaluator is the interpreter's now."""

# -- function versions across __code__ swaps (func_version.rs) --------------

@final
class FuncVersion:
    """A function's version state from before splice first assigned its
    ``__code__``, while it was the one its code object gave it."""

    @property
    def version(self) -> int: ...
    @property
    def code(self) -> CodeType: ...

def save_version(f: object) -> FuncVersion | None:
    """Snapshot ``f`` before its ``__code__`` is first assigned; ``None``
    when nothing will ever be written for it (3.11, a layout check that
    failed, or ``f``'s version is not its code's own)."""

def sync_version(f: object, saved: FuncVersion) -> bool:
    """Right after ``f.__code__`` was assigned: give ``f`` the version of its
    new code object (the saved one for the original) if every guard holds.
    Returns whether a version was written."""

# -- call capture (record.rs, capture_hooks.rs) -----------------------------

@disjoint_base
class CallRecord:
    """The fields and the one constructor of ``splice.CallInfo`` (its
    subclass); the capture hooks make every record with it."""

    name: str | None
    file: str | None
    #: ``None`` until built from the recorded arguments or set
    _args: Mapping[str, Any] | None
    locals: dict[str, Any] | None
    globals: dict[str, Any] | None
    return_value: Any
    exception: BaseException | None
    #: ``None`` until built from the recorded stack or set
    _stack: StackSummary | None
    def __new__(
        cls,
        name: str | None = None,
        file: str | None = None,
        args: Mapping[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        globals: dict[str, Any] | None = None,
        return_value: Any = None,
        exception: BaseException | None = None,
        stack: StackSummary | None = None,
    ) -> Self: ...
    def _recorded_args(self) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
        """Names and values of the recorded arguments, until ``_args`` is set."""
    def _recorded_stack(self) -> tuple[list[tuple[CodeType, int]], str, str, int] | None:
        """The recorded stack (outer (code, offset) pairs innermost first,
        then the call's file, name and first line), until ``_stack`` is set."""

@final
class Recorder:
    """The shared state of one capture: whether it records, the calls that
    entered and have not returned, and where finished records go."""

    def __new__(
        cls,
        owner: object,
        sink: Literal["list", "last", "discard"],
        info_type: type,
        transform: Callable[[Any], Any] | None = None,
        keep: object | None = None,
        max_calls: int | None = None,
    ) -> Self: ...
    def set_live(self, live: bool, transform: Callable[[Any], Any] | None = None) -> None:
        """Start recording with ``transform``, or stop (which drops it)."""
    def take_unreported(self) -> list[BaseException]:
        """Hook failures whose report to the owner's ``_hook_failed``
        failed in turn (a RecursionError at the recursion limit), handed
        over once."""
    @property
    def recording(self) -> bool: ...
    @property
    def count(self) -> int: ...
    @property
    def failures(self) -> int: ...

@final
class Retrying:
    """``__exit__ = Retrying(_exit, tries)``: a method (bound as a function
    is) whose call runs ``_exit`` again, up to ``tries`` times, while an
    exception interrupts it, then raises the first exception. Native, so
    that a signal handler's ``KeyboardInterrupt`` cannot land before the
    retrying starts. After a ``RecursionError`` the retries run with the
    recursion limit raised by 200 for their moment, and it is raised only
    if no try finished."""

    def __new__(cls, func: Callable[..., Any], tries: int) -> Self: ...
    @overload
    def __get__(self, instance: None, owner: Optional[type] = None, /) -> Retrying: ...
    @overload
    def __get__(self, instance: object, owner: Optional[type] = None, /) -> Callable[..., Any]: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

@final
class EvalSink:
    """Where an inline ``eval`` puts its values: :meth:`appender` is the
    ``METH_O`` builtin method the spliced code holds as a constant, which
    appends each value to the list while the sink is attached and drops it
    while detached (the breakpoint is not installed). Seen by the
    collector; a pickled copy is detached."""

    def __new__(cls, results: Optional[list[Any]], /) -> Self: ...
    def appender(self) -> Callable[[Any], None]: ...
    def append(self, value: Any, /) -> None: ...
    def detach(self) -> None: ...
    def attach(self, results: list[Any], /) -> None: ...
    @property
    def attached(self) -> bool: ...

class Unrecorded:
    """``with Unrecorded():`` pauses recording for the block
    (:func:`pause_recording`, :func:`resume_recording`), with no Python frame
    between the block's end and the resume. Subclassed by
    :mod:`splice.enter_guard` on CPython 3.14."""

    def __init__(self) -> None: ...
    def __enter__(self) -> None: ...
    def __exit__(self, *exc: object) -> None: ...

def pause_recording() -> None:
    """Calls that start on this thread are not recorded by any capture until
    the matching :func:`resume_recording` (nested pairs count): splice's own
    formatting of records, whose values' reprs may run Python code."""

def resume_recording() -> None:
    """Ends one :func:`pause_recording`."""

def recording_pause_depth() -> int:
    """How many :func:`pause_recording` calls on this thread have not ended."""

@final
class CaptureHooks:
    """The ``enter``/``exit``/``error`` hooks of one capture on one code object."""

    def __new__(cls, recorder: Recorder, code: CodeType, argnames: tuple[str, ...]) -> Self: ...
    def enter(self, _unused: object = None) -> None: ...
    def open(self, _unused: object = None) -> OpenCall | None:
        """``enter`` for code that keeps the open call in its frame
        (``CaptureProbe(keep_entry=True)``): its entry, to pass to ``exit``
        or ``error``."""
    def exit(self, value: object, call: OpenCall | None = None) -> None: ...
    def error(self, exc: BaseException, call: OpenCall | None = None) -> None: ...
    def enter_frame(self, frame: FrameType) -> None: ...
    def exit_frame(self, frame: FrameType, value: object) -> None: ...
    def error_frame(self, frame: FrameType, exc: BaseException) -> None: ...
    def __reduce__(self) -> tuple[type[DetachedCaptureHooks], tuple[()]]: ...

# -- locate (locate.rs) ------------------------------------------------------

@final
class OpenCall:
    """The entry of an open generator or coroutine call, kept by its frame
    (made by ``CaptureHooks.open`` only)."""

class LocateFailure(ValueError): ...
class SourceMismatchFailure(LocateFailure): ...

@final
class PycIndex:
    """The code objects of one marshalled module, ``data[start:]`` (a
    ``.pyc`` after its 16-byte header), read without unmarshalling it
    (crates/splice-pyc); ValueError for data the reader does not know."""

    def __new__(cls, data: bytes, start: int = 0) -> Self: ...
    @property
    def code_count(self) -> int:
        """How many code objects the module holds, itself included."""
    def holds(self, dump: bytes) -> bool:
        """Whether the module holds a code object equal to ``dump`` (a code
        object as ``marshal.dumps`` writes it); ValueError when ``dump`` is
        not a code object."""


@final
class LocateIndex:
    """The parsed and indexed text of one module or notebook cell."""

    def __new__(cls, source: str, first_line: int = 1) -> Self:
        """Parse and index ``source``, a text that starts on line
        ``first_line`` of its file (an excerpt from :func:`block_excerpt`):
        line numbers asked and answered are the file's."""
    @property
    def line_count(self) -> int: ...
    def locate(
        self, firstlineno: int | None, name: str | None, spec: int | str | None, minor: int
    ) -> list[tuple[int, int, str]]: ...
    def statement_lines(
        self, firstlineno: int | None, name: str | None, minor: int
    ) -> list[tuple[int, int, str]]: ...
    def check_code_lines(self, firstlineno: int, name: str, lines: list[int], minor: int) -> None: ...
    def own_text(self, firstlineno: int, name: str, minor: int) -> str | None: ...
