"""Differential test: splice-locate vs CPython's ``ast`` over the whole stdlib.

The work is in ``tests/locate_vs_ast.py`` (run in a subprocess, on all cores);
this test shows its summary lines in the pytest output, e.g.
``locate-vs-ast: 1731 files, 460004 statements, 0 mismatches``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "locate_vs_ast.py"
FIXTURE = HERE.parent / "crates" / "splice-locate" / "tests" / "fixtures" / "fixture.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=HERE.parent,
    )


# Every second file of the stdlib on the newest version (its grammar is the
# richest: PEP 701 f-strings, type parameters, t-strings) and every third on
# the older ones, each version starting at a different file (3.11 at the
# third, 3.12 at the first, 3.13 at the second, 3.14 at the third, 3.15 at
# the second), which keeps `make test` on 2 cores in budget.
# SPLICE_LOCATE_EVERY=1 checks every file (`make locate-vs-ast`, below).
NEWEST = (3, 15)
EVERY = int(os.environ.get("SPLICE_LOCATE_EVERY", "2" if sys.version_info[:2] >= NEWEST else "3"))
START = sys.version_info[1] % EVERY


def test_locate_vs_ast_stdlib(capsys):
    done = run("--every", str(EVERY), "--start", str(START))
    summary = [l for l in done.stdout.splitlines() if l.startswith(("locate-vs-ast:", "  mismatch:"))]
    with capsys.disabled():
        print()
        for line in summary:
            print(line)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert any(" statements, 0 mismatches" in l for l in summary), done.stdout


# Each fixture needs the Python that introduced its newest syntax; the
# others cannot compile it, so they cannot be the oracle for it.
FIXTURES = [
    ("fixture.py", (3, 12), 73),  # PEP 701 f-strings
    ("fixture_314.py", (3, 14), 18),  # PEP 750 t-strings, PEP 758 except lists
    ("fixture_315.py", (3, 15), 11),  # unary + in patterns, PEP 810 lazy imports
]


@pytest.mark.parametrize("name,needs,statements", FIXTURES)
def test_locate_vs_ast_fixture(name, needs, statements):
    if sys.version_info < needs:
        pytest.skip(f"{name} needs Python {needs[0]}.{needs[1]}+ to compile")
    done = run(str(FIXTURE.with_name(name)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"locate-vs-ast: 1 files, {statements} statements, 0 mismatches" in done.stdout, done.stdout
