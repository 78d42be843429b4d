"""The torture harness's child runner (splice.tools.torture.run_watched): a
child that hangs after writing its results is killed after the grace
period and reported as hung at shutdown, not left to run out the whole
timeout; one that never writes them is killed at the timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from splice.tools.torture import run_watched

WRITE_THEN = """
import sys, time
from splice.tools.torture import write_results
write_results(sys.argv[1], {"tests": 3})
print("written", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _child(tmp_path: Path, sleep_after: float) -> tuple[list[str], str]:
    results = tmp_path / "results.json"
    results.write_text("")  # the parent's mkstemp leaves an empty file
    return [sys.executable, "-c", WRITE_THEN, str(results), str(sleep_after)], str(results)


def test_a_child_that_exits_after_writing_is_not_killed(tmp_path: Path) -> None:
    cmd, results = _child(tmp_path, 0)
    run = run_watched(cmd, results, timeout=60, grace=30)
    assert run.killed == ""
    assert run.returncode == 0
    assert run.stdout.strip() == "written"
    assert Path(results).read_text() == '{"tests": 3}'
    assert not Path(results + ".part").exists()


def test_a_child_that_hangs_after_writing_is_killed_after_the_grace(tmp_path: Path) -> None:
    cmd, results = _child(tmp_path, 600)
    start = time.monotonic()
    run = run_watched(cmd, results, timeout=300, grace=1)
    took = time.monotonic() - start
    assert "hung at shutdown" in run.killed
    assert run.returncode != 0
    assert took < 60, f"killed after {took:.0f}s, not about a second after the results"
    assert Path(results).read_text() == '{"tests": 3}'


def test_a_child_that_never_writes_is_killed_at_the_timeout(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text("")
    run = run_watched([sys.executable, "-c", "import time; time.sleep(600)"], str(results), timeout=1, grace=1)
    assert run.killed == "timed out after 1s"
    assert run.returncode != 0
