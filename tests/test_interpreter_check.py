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


_SUBINTERPRETER_SCRIPT = r"""
import sys
try:
    import _interpreters as interpreters
except ImportError:
    import _xxsubinterpreters as interpreters
import splice

def uses(x):
    return x + 1

code = (
    "import sys\nsys.path[:0] = %r\n"
    "try:\n    import splice\nexcept Exception as e:\n"
    "    print('sub:', type(e).__name__, e, flush=True)\n"
    "else:\n    print('sub: imported', flush=True)\n"
) % (sys.path,)
orig = uses.__code__
with splice.capture_calls("uses") as calls:
    if sys.version_info >= (3, 13):
        iid = interpreters.create("legacy")
        interpreters.exec(iid, code)
    else:
        iid = interpreters.create(isolated=False)
        interpreters.run_string(iid, code)
    interpreters.destroy(iid)
    uses(1)
print("main:", [c.return_value for c in calls], uses.__code__ is orig, flush=True)
"""


def test_a_subinterpreter_is_refused_and_the_main_interpreters_probes_go_on():
    """A legacy subinterpreter (sharing the GIL, as mod_wsgi makes) got the
    main interpreter's native module back, and CPython's per-interpreter
    type caches then mixed up its types: ``with splice.capture_calls(f)``
    there raised a TypeError about ``Unrecorded.__enter__`` while the main
    interpreter had a capture open. ``import splice`` there now raises one
    clear error, and the main interpreter's capture is unaffected."""
    out = subprocess.run(
        [sys.executable, "-c", _SUBINTERPRETER_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("sub: UnsupportedVersionError splice runs only in the main interpreter"), out.stdout
    assert lines[1] == "main: [2] True", out.stdout
