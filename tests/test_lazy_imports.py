"""splice under CPython 3.15's ``-X lazy_imports=all`` (PEP 810), which makes
every import statement lazy, splice's own included."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "set_lazy_imports"), reason="no lazy imports before CPython 3.15 (PEP 810)"
)

CHILD = textwrap.dedent(
    """\
    import sys
    import splice

    def f(x):
        return x

    for _ in range(2):  # the second `splice.breakpoint` was the submodule
        with splice.breakpoint(f, line="return x") as bp:
            got = bp.eval("x")
            f(1)
        assert got == [1], got
        assert callable(splice.breakpoint) and not isinstance(splice.breakpoint, type(sys)), splice.breakpoint
    # loaded with the package, not at first use
    assert "splice.fork_safety" in sys.modules and "splice._interpreter" in sys.modules
    print("ok")
    """
)


def test_breakpoint_stays_the_function_and_the_fork_handlers_load_with_the_package():
    proc = subprocess.run(
        [sys.executable, "-X", "lazy_imports=all", "-c", CHILD], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
