"""splice: a programmatic debugger for CPython that splices probes into bytecode.

The public API is a superset of NoPdb's, so ``import splice as nopdb`` keeps
existing code working: :func:`capture_call`, :func:`capture_calls`,
:func:`breakpoint`, :class:`NoPdb`, :func:`get_nopdb`, :class:`Breakpoint`,
:class:`CallInfo`, :class:`CallCapture`, :class:`CallListCapture`,
:class:`Scope`, :class:`Handle`, ``TraceFunc``.
"""

import importlib as _importlib

# Loaded by a call, not an import statement, so that they are loaded now even
# under 3.15's `-X lazy_imports=all` (PEP 810), which makes every import
# statement below lazy: first the check that refuses an interpreter splice
# does not know (UnsupportedVersionError before the native module is
# imported), then the fork handlers (registered when their module loads),
# then the submodule splice.breakpoint, whose loading binds the package's
# name `breakpoint` to it: loaded lazily, at first use, it replaced the
# function `breakpoint` bound below.
for _module in ("_interpreter", "fork_safety", "breakpoint"):
    _importlib.import_module(f"splice.{_module}")
del _module

from splice.breakpoint import Breakpoint, FrameView  # noqa: E402
from splice.capture import CallCapture, CallInfo, CallListCapture  # noqa: E402
from splice.errors import (  # noqa: E402
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
from splice.nopdb import (  # noqa: E402
    Handle,
    NoPdb,
    TraceFunc,
    breakpoint,
    capture_call,
    capture_calls,
    get_nopdb,
)
from splice.resolve import Scope  # noqa: E402

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
