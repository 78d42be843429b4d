"""splice: a programmatic debugger for CPython that splices probes into bytecode."""

from splice.errors import LocateError, RewriteError, SourceMismatchError, SpliceError

__all__ = ["LocateError", "RewriteError", "SourceMismatchError", "SpliceError"]
__version__ = "0.1.0"
