"""Every exception class splice raises on purpose.

Each derives from :class:`SpliceError` and from the builtin class that fits,
so existing ``except ValueError`` / ``except TypeError`` code keeps working.
Every message says what was wrong and what would work. The native module
raises four of them (``crates/splice-py/src/errors.rs`` maps each kind of
rewrite error to one): :class:`UnsupportedVersionError`,
:class:`SnippetError`, :class:`LocateError` and :class:`RewriteError`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Optional

__all__ = [
    "LocateError",
    "RewriteError",
    "HeapSearchWarning",
    "ScopeError",
    "SnippetError",
    "SourceMismatchError",
    "SpliceError",
    "TargetError",
    "UnsupportedVersionError",
    "release_frames",
]


class SpliceError(Exception):
    """Base class of every error splice raises on purpose."""


class LocateError(SpliceError, ValueError):
    """A line spec (number or source text) names no place a probe can go."""


class SourceMismatchError(LocateError):
    """The source text splice can read no longer matches the running code."""


class SnippetError(SpliceError, ValueError):
    """A snippet (``cond``, ``eval``, ``exec``) cannot be spliced into the target.

    The message names the snippet and the construct (``return``, ``yield``,
    ``await``, a ``break``/``continue`` outside a loop of the snippet (a snippet
    cannot leave the function's loop), a lambda closing over a local, a
    ``variables=`` name that clashes with a local, a syntax error ...).
    """


class SnippetSyntaxError(SnippetError, SyntaxError):
    """A snippet is not valid Python. Also a :class:`SyntaxError` (NoPdb
    compiles snippets with ``compile()``, so code written for it catches
    ``SyntaxError``), with ``lineno``, ``offset``, ``text`` and
    ``end_lineno``/``end_offset`` of the snippet's own text; ``str()`` is
    the message, which names the snippet."""

    def __init__(
        self,
        message: str,
        lineno: int | None,
        offset: int | None,
        text: str | None,
        end_lineno: int | None = None,
        end_offset: int | None = None,
    ) -> None:
        SyntaxError.__init__(
            self, message, ("<splice snippet>", lineno, offset, text, end_lineno, end_offset)
        )

    def __str__(self) -> str:
        return str(self.msg)


class TargetError(SpliceError, TypeError):
    """The object given as ``function`` cannot be instrumented (a builtin, a C
    extension function, a class, something that is not callable)."""


class ScopeError(SpliceError, LookupError):
    """The scope (function name, ``module=``, ``file=``) matches no live function."""


class RewriteError(SpliceError):
    """The bytecode could not be rewritten or failed verification; nothing was patched."""


class UnsupportedVersionError(SpliceError, RuntimeError):
    """The running CPython's bytecode is not one splice knows; nothing was patched."""


class HeapSearchWarning(RuntimeWarning):
    """Entering probes on one function keeps searching the heap for its
    owners (tens of milliseconds with torch imported, on every enter),
    because objects splice cannot account for hold that function's code
    object: a variable or attribute holding ``f.__code__``, a cache, a
    suspended generator of it. The message names what was found holding it.
    Issued once per code object; dropping those references (or holding the
    code object through :func:`weakref.ref`) makes enter cheap again."""



def release_frames(exc: BaseException) -> None:
    """Clear the local variables of splice's own finished frames in the
    traceback of ``exc`` and of the exceptions chained to it; called where
    an error leaves splice for the caller.

    Those frames hold the target's code object (resolving, locating and
    compiling all keep it in a local), and an exception the caller keeps
    keeps them: ``sys.last_exc`` after an error at the REPL, IPython's last
    traceback, a ``pytest.raises`` result, an ``except ... as e`` saved for
    later. Every later probe on that function would then search the heap
    for its owners (``HeapSearchWarning``, which named splice's own frames).
    The traceback still shows every frame and line; only splice's locals go.
    A frame still running (the one handling ``exc``) cannot be cleared and
    is skipped. (``frame.clear()`` would close a suspended generator on
    3.11 and 3.12; splice's modules define no generator functions, and a
    generator expression an error left is finished.)"""
    seen: set[int] = set()
    todo: list[Optional[BaseException]] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb: Optional[TracebackType] = e.__traceback__
        while tb is not None:
            try:
                frame = tb.tb_frame  # (an audited attribute: a hook may refuse it)
            except Exception:  # noqa: BLE001 - the error being raised matters, not this
                return
            # by module name: reading f_code would be one more audit event
            name = frame.f_globals.get("__name__")
            if type(name) is str and (name == "splice" or name.startswith("splice.")):
                try:
                    frame.clear()
                except RuntimeError:  # still running
                    pass
            tb = tb.tb_next
        todo += [e.__cause__, e.__context__]
        if isinstance(e, BaseExceptionGroup):
            todo += e.exceptions
