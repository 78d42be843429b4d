"""splice under CPython 3.15's ``-X lazy_imports=all`` (PEP 810), which makes
every import statement lazy, splice's own included."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import weakref

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


def _lazy_target(x):
    y = x + 1
    return y


@pytest.mark.parametrize("snippet", ["lazy import os", "lazy from os import path", "lazy from os import *"])
def test_a_lazy_import_in_a_snippet_says_it_belongs_at_a_modules_top_level(snippet):
    """CPython names the template's ``try`` block, which the user never
    wrote ("not allowed inside try/except blocks"); the ``lazy from`` form
    was left with that message."""
    import splice

    form = "lazy from ... import" if snippet.startswith("lazy from") else "lazy import"
    orig = weakref.ref(_lazy_target.__code__)
    with splice.breakpoint(_lazy_target, line="return y") as bp:
        with pytest.raises(splice.SnippetSyntaxError) as err:
            bp.exec(snippet)
    message = str(err.value)
    del err
    assert f"{form} is allowed only at a module's top level" in message
    assert "try/except" not in message
    assert _lazy_target.__code__ is orig()
