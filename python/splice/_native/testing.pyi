"""Type stub of ``splice._native.testing``: what only tests and tools
(doctor, torture, snapshots) use (crates/splice-py/src/testing.rs)."""

from collections.abc import Iterable
from types import CodeType
from typing import Self, final

from splice._native import CaptureProbe, LineProbe, Recorder

__all__ = [
    "MANY_VARS",
    "Counter",
    "code_version",
    "disassemble_instrumented",
    "disassemble_padded",
    "func_version",
    "func_version_support",
    "locals_layout",
    "opcode_table",
    "pad_code",
    "pending_calls",
    "deferred_slots",
    "roundtrip_mismatch",
    "stack_effect",
    "verify_code",
]

def roundtrip_mismatch(code: CodeType) -> str | None:
    """Decode and re-assemble ``code``: ``None`` when byte-identical, else
    the first difference."""

def pad_code(code: CodeType) -> CodeType:
    """A verified copy of ``code`` with a NOP before every line start."""

def disassemble_padded(code: CodeType) -> str:
    """The disassembly of what :func:`pad_code` builds."""

def disassemble_instrumented(code: CodeType, probes: Iterable[LineProbe | CaptureProbe]) -> str:
    """The disassembly of what ``instrument(code, probes)`` builds."""

#: Past this many variables a capture reads a frame's variables through one
#: copy of its locals mapping (3.12+; None on 3.11, which reads frame slots).
MANY_VARS: int | None

def locals_layout(code: CodeType) -> list[tuple[int, str, bool]] | None:
    """``(slot, name, is a cell or free variable)`` of each variable a
    capture reads the fast way from frames running ``code`` (splice's
    helper names left out), or ``None``: it reads CPython's locals mapping."""

def verify_code(code: CodeType) -> None:
    """Run the verifier on ``code``; raises ``RewriteError`` naming the first problem."""

def opcode_table(minor: int) -> list[tuple[int, str, int, str]]:
    """``(opcode, name, inline cache entries, operand kind)`` for CPython 3.``minor``."""

def stack_effect(op: int, arg: int, jump: bool | None = None) -> int | None:
    """``dis.stack_effect`` as splice's table computes it."""

def deferred_slots(recorder: Recorder) -> int:
    """How many slots ``recorder`` keeps for the records it made while
    recording (a record dropped in the block gives its slot to the next)."""

def pending_calls(recorder: Recorder) -> int:
    """Calls the recorder's capture saw enter and not return yet."""

def func_version_support() -> tuple[str, str]:
    """How function versions are handled here: ``("setter" | "field" |
    "lazy" | "off", why)`` (crates/splice-py/src/func_version.rs)."""

def func_version(f: object) -> int | None:
    """A Python function's ``func_version`` field (``None`` for anything else)."""

def code_version(code: object) -> int | None:
    """A code object's ``co_version``, or ``None`` where splice does not read it."""

@final
class Counter:
    """A native counting hook (``hit()``); with ``only_when_tracing=True``
    it counts only while a ``sys.settrace`` function is installed."""

    def __new__(cls, only_when_tracing: bool = False) -> Self: ...
    def hit(self, _arg: object = None) -> None: ...
    @property
    def count(self) -> int: ...
