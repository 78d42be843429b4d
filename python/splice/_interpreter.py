"""Which interpreters splice runs on, checked before the native module loads.

splice rewrites CPython bytecode with opcode tables generated from, and
tested against, each supported CPython release; it never guesses the opcodes
of a version it does not know. So ``import splice`` on any other interpreter
(a newer CPython, a free-threaded build, PyPy) raises
:class:`~splice.errors.UnsupportedVersionError` naming the supported
versions, instead of failing later with a native error or, worse, guessing.
The same list is the Rust crate's ``PyVersion::ALL``; a test checks both.

It also refuses a subinterpreter. One with its own GIL cannot load the
native module at all; a legacy one (sharing the GIL, as mod_wsgi makes)
would get the main interpreter's native module back, with its types and
splice's registry of changed functions, and CPython's per-interpreter type
caches then mix up the types of the two (a ``with`` on a capture found the
``__enter__`` of another native type).
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from typing import Any, Optional

from splice.errors import UnsupportedVersionError

#: The CPython versions splice knows, oldest first.
SUPPORTED: tuple[tuple[int, int], ...] = ((3, 11), (3, 12), (3, 13), (3, 14), (3, 15))


def supported_text() -> str:
    """The supported versions as text: "3.11, 3.12, 3.13, 3.14 and 3.15"."""
    names = [f"{a}.{b}" for a, b in SUPPORTED]
    return ", ".join(names[:-1]) + " and " + names[-1]


def unsupported_reason(
    implementation: str,
    version: tuple[int, int, int],
    free_threaded: bool,
) -> Optional[str]:
    """Why splice cannot run on this interpreter, or None if it can.

    ``implementation`` is ``sys.implementation.name``, ``version`` the first
    three fields of ``sys.version_info``, ``free_threaded`` whether the build
    has no GIL (``Py_GIL_DISABLED``).
    """
    shown = ".".join(str(v) for v in version)
    wanted = f"splice supports CPython {supported_text()} (the default build, with the GIL)"
    if implementation != "cpython":
        return (
            f"{wanted}; this is {implementation} (Python {shown}), which does not run CPython "
            f"bytecode. Run splice under one of those CPython versions; nothing was changed."
        )
    if version[:2] not in SUPPORTED:
        return (
            f"{wanted}; this is CPython {shown}. splice rewrites bytecode with opcode tables "
            f"made for each supported version and never guesses them for another one. Run "
            f"splice under one of those versions; nothing was changed."
        )
    if free_threaded:
        return (
            f"{wanted}; this is a free-threaded build of CPython {shown}, whose code objects "
            f"and frames splice does not support yet. Use the default build of one of those "
            f"versions; nothing was changed."
        )
    return None


def subinterpreter_id() -> Optional[int]:
    """The running interpreter's id when it is not the main interpreter,
    else None (also when CPython's private interpreters module is missing:
    then no subinterpreter can have been made through it either)."""
    interpreters: Any = None
    for name in ("_interpreters", "_xxsubinterpreters"):  # 3.13+; 3.11, 3.12
        try:
            interpreters = importlib.import_module(name)
            break
        except ImportError:
            pass
    if interpreters is None:
        return None
    current, main = interpreters.get_current(), interpreters.get_main()
    if isinstance(current, tuple):  # 3.13+: (id, how it was made)
        current, main = current[0], main[0]
    return None if int(current) == int(main) else int(current)


def subinterpreter_reason(interpreter_id: Optional[int]) -> Optional[str]:
    """Why splice cannot run in subinterpreter ``interpreter_id`` (None: the
    main interpreter, where it can)."""
    if interpreter_id is None:
        return None
    return (
        f"splice runs only in the main interpreter; this is subinterpreter {interpreter_id}. Its "
        f"native part is one per process (the functions it changed, the types of its probes), "
        f"which a subinterpreter would share with the main interpreter. Import and use splice in "
        f"the main interpreter; nothing was changed."
    )


def check() -> None:
    """Raise :class:`UnsupportedVersionError` unless splice supports the
    running interpreter (called by ``import splice``)."""
    reason = unsupported_reason(
        sys.implementation.name,
        (sys.version_info[0], sys.version_info[1], sys.version_info[2]),
        bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    ) or subinterpreter_reason(subinterpreter_id())
    if reason is not None:
        raise UnsupportedVersionError(reason)


check()
