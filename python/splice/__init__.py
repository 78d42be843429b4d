"""splice: a programmatic debugger for CPython that splices probes into bytecode.

The public API is a superset of NoPdb's, so ``import splice as nopdb`` keeps
existing code working: :func:`capture_call`, :func:`capture_calls`,
:func:`breakpoint`, :class:`NoPdb`, :func:`get_nopdb`, :class:`Breakpoint`,
:class:`CallInfo`, :class:`CallCapture`, :class:`CallListCapture`,
:class:`Scope`, :class:`Handle`, ``TraceFunc``.
"""

# First: refuses to load on an interpreter splice does not know (raises
# UnsupportedVersionError before the native module is imported).
from splice import (
    _interpreter,  # noqa: F401
    fork_safety,  # noqa: F401  (registers the fork handlers)
)
from splice.breakpoint import Breakpoint, FrameView
from splice.capture import CallCapture, CallInfo, CallListCapture
from splice.errors import (
    HeapSearchWarning,
    LocateError,
    RewriteError,
    ScopeError,
    SnippetError,
    SnippetSyntaxError,
    SourceMismatchError,
    SpliceError,
    TargetError,
    UnsupportedVersionError,
)
from splice.nopdb import (
    Handle,
    NoPdb,
    TraceFunc,
    breakpoint,
    capture_call,
    capture_calls,
    get_nopdb,
)
from splice.resolve import Scope

__all__ = [
    # NoPdb's public names
    "NoPdb",
    "breakpoint",
    "capture_call",
    "capture_calls",
    "get_nopdb",
    "Breakpoint",
    "CallCapture",
    "CallListCapture",
    "CallInfo",
    "Handle",
    "TraceFunc",
    "Scope",
    # new in splice
    "FrameView",
    "HeapSearchWarning",
    "LocateError",
    "RewriteError",
    "ScopeError",
    "SnippetError",
    "SnippetSyntaxError",
    "SourceMismatchError",
    "SpliceError",
    "TargetError",
    "UnsupportedVersionError",
]
__version__ = "0.1.0"
