"""CPython's JIT (tier 2: 3.15's, and 3.14's where built in) records traces
through functions and keeps running them after a function's ``__code__``
changes: a probe entered while a loop is hot did not fire, and on 3.15 a
trace recorded through a probed ``__init__`` ran again after the block with
the instrumented code's constants freed (a segfault). Each case runs in a
child with ``PYTHON_JIT=1``; where this interpreter has no JIT the tests
are skipped and say so."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

JIT_AVAILABLE = bool(getattr(getattr(sys, "_jit", None), "is_available", lambda: False)())
needs_jit = pytest.mark.skipif(not JIT_AVAILABLE, reason="this interpreter is built without the JIT (sys._jit)")

MODULE = """
class C:
    def __init__(self, v):
        self.v = v

def driver(n):
    t = 0
    for i in range(n):
        t += C(i).v
    return t
"""

CHILD = """
import gc, sys
import splice
assert sys._jit.is_enabled()
import jitmod as m

expected = m.driver(3000)
for rnd in range(12):
    for _ in range(3):
        assert m.driver(3000) == expected  # hot before the block
    with splice.capture_calls(m.C.__init__) as calls:
        for _ in range(3):
            m.driver(3000)
    inside = len(calls)
    assert inside == 9000, (rnd, "recorded inside the block", inside)
    assert m.driver(3000) == expected and m.driver(3000) == expected
    assert len(calls) == inside, (rnd, "recorded after the block", len(calls) - inside)
    with splice.breakpoint(m.C.__init__, line="self.v = v") as bp:
        bp.exec("v = v * 2")
        assert m.driver(3000) == 2 * expected, (rnd, "the breakpoint did not fire while hot")
    assert m.driver(3000) == expected, (rnd, "the breakpoint still fired after the block")
    del calls, bp
    gc.collect()
    junk = [[i] * 3 for i in range(10000)]  # (reuses the freed code's memory)
print("ok")
"""


@needs_jit
def test_probes_on_a_hot_init_fire_inside_the_block_and_never_after(tmp_path: Path) -> None:
    (tmp_path / "jitmod.py").write_text(MODULE)
    env = {**os.environ, "PYTHON_JIT": "1", "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert proc.stdout.strip() == "ok"
