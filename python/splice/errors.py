"""Exceptions raised by splice. Every message says what was wrong and what would work."""


class SpliceError(Exception):
    """Base class of every error splice raises on purpose."""


class LocateError(SpliceError, ValueError):
    """A line spec (number or source text) names no place a probe can go."""


class SourceMismatchError(LocateError):
    """The source text splice can read no longer matches the running code."""


class RewriteError(SpliceError):
    """The bytecode could not be rewritten or failed verification; nothing was patched."""
