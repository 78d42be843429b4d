"""`import splice` on an interpreter splice does not know raises one clear
error naming the supported versions, before the native module loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from splice import _interpreter
from splice._native import testing
from splice.errors import UnsupportedVersionError


def test_the_running_interpreter_is_supported():
    assert sys.version_info[:2] in _interpreter.SUPPORTED
    assert _interpreter.unsupported_reason("cpython", sys.version_info[:3], False) is None


@pytest.mark.parametrize(
    "implementation,version,free_threaded,says",
    [
        ("cpython", (3, 16, 0), False, "this is CPython 3.16.0"),
        ("cpython", (3, 10, 14), False, "this is CPython 3.10.14"),
        ("cpython", (3, 14, 2), True, "free-threaded build of CPython 3.14.2"),
        ("pypy", (3, 11, 9), False, "this is pypy (Python 3.11.9)"),
    ],
)
def test_unknown_interpreters_get_one_clear_reason(implementation, version, free_threaded, says):
    reason = _interpreter.unsupported_reason(implementation, version, free_threaded)
    assert reason is not None and says in reason
    assert "splice supports CPython 3.11, 3.12, 3.13, 3.14 and 3.15" in reason
    assert "nothing was changed" in reason


def test_import_on_an_unknown_version_raises_before_anything_loads():
    code = (
        "import sys\n"
        "sys.version_info = (3, 16, 0, 'final', 0)\n"
        "try:\n"
        "    import splice\n"
        "except Exception as e:\n"
        "    print(type(e).__module__ + '.' + type(e).__qualname__ + ': ' + str(e))\n"
        "    print('native loaded:', 'splice._native' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, second = out.splitlines()
    assert first.startswith("splice.errors.UnsupportedVersionError: splice supports CPython 3.11, ")
    assert "this is CPython 3.16.0" in first
    assert second == "native loaded: False"


def test_the_rust_tables_cover_exactly_the_supported_versions():
    # the Rust crate's PyVersion::ALL: a table for each supported minor, and a
    # clear error naming the same versions for any other
    for _, minor in _interpreter.SUPPORTED:
        assert testing.opcode_table(minor)
    for minor in (10, 16):
        with pytest.raises(UnsupportedVersionError, match=_interpreter.supported_text()):
            testing.opcode_table(minor)
