"""``python -m splice attach PID`` against real processes (CPython 3.14+).

Each test starts a target (``tests/attach_fixtures/``) in a subprocess whose
stdin is a pipe (closing it stops the target, so a failing test never leaves
one behind) and whose stdout lines are collected by a thread; the attacher is
``python -m splice attach`` in another subprocess. The targets print, every
few iterations, whether the probed functions' ``__code__`` are the original
objects and how many threads they have, so the tests check from the target's
own point of view that it was restored and that no thread was left behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 14) or not hasattr(sys, "remote_exec"),
    reason="attach needs CPython 3.14+ (sys.remote_exec, PEP 768); this is "
    f"{sys.version_info.major}.{sys.version_info.minor}",
)

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
FIX = HERE / "attach_fixtures"
LOOP = FIX / "loop_target.py"
PY = sys.executable


def _venv_python(minor: int) -> str | None:
    p = ROOT / f".venv-3.{minor}" / "bin" / "python"
    return str(p) if p.exists() else None


class Target:
    """A target process and the lines it printed."""

    def __init__(self, args: list[str], python: str = PY, env: dict[str, str] | None = None,
                 py_flags: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [python, *py_flags, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=str(FIX), env=env,
        )
        self.lines: list[str] = []
        self.err: list[str] = []
        self._t = threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True)
        self._t.start()
        self._e = threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)
        self._e.start()
        self.wait_for(r"ready", 30)

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < end:
            for line in self.lines[start:]:
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"target never printed {pattern!r}; stdout tail: {self.lines[-5:]}, "
                             f"stderr: {self.err[-10:]}")

    def status(self, start: int = 0) -> list[dict[str, str]]:
        out = []
        for line in self.lines[start:]:
            if line.startswith(("i=", "request=")):
                out.append(dict(kv.split("=", 1) for kv in line.split()))
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def attach(*args: str, python: str = PY, timeout: float = 90, cwd: pathlib.Path = ROOT,
           prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, python, "-m", "splice", "attach", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(cwd))


BREAK_Z = ["--break", "tests/attach_fixtures/loop_target.py:compute",
           "--line", "total = z + looplib.scale([1, 2, 3], 2)"]


# -- a session end to end ------------------------------------------------------------------


def test_capture_and_eval_come_back_then_detached(tmp_path):
    out_json = tmp_path / "a.json"
    out_pickle = tmp_path / "a.pickle"
    with Target([str(LOOP), "--every", "20"]) as t:
        t.wait_for(r"^i=20 ", 20)
        r = attach(str(t.pid), "--capture", "looplib:scale", *BREAK_Z, "--eval", "z", "--eval", "y + 100",
                   "--hits", "30", "--json", str(out_json), "--pickle", str(out_pickle))
        assert r.returncode == 0, r.stderr + r.stdout
        o = r.stdout
        assert f"attached to process {t.pid}" in o
        assert "[1] capture looplib:scale: installed in looplib: scale" in o
        assert "installed in __main__: compute (line 25)" in o
        assert re.search(r"\[1\] capture looplib:scale call #1 scale\(values=list  \[1, 2, 3\], factor=int  2\) "
                         r"return int  6", o)
        assert re.search(r"eval z #1: int  \d+", o)
        assert re.search(r"=== splice attach summary \(process \d+, attached [\d.]+ s, stopped by --hits 30\) ===", o)
        assert "        local  out = list  [2, 4, 6]" in o  # run's summary format
        assert "every probe removed; __code__ is the original object again" in o
        assert "CHANGED" not in o  # no --exec
        n = len(t.lines)
        after = t.wait_for(r"^i=\d+ .*orig=True threads=2 ", 10, start=n)
        assert after
        doc = json.loads(out_json.read_text())
        from splice.cli.report import SCHEMA_VERSION

        assert doc["schema"] == SCHEMA_VERSION  # run's document, plus "attach"
        a = doc["attach"]
        assert a["pid"] == t.pid and a["all_original"] and a["detached_by"] == "remote call"
        assert a["agent_thread_alive"] is False
        names = {x["function"] for x in a["restored"]}
        assert {"compute", "scale"} <= names
        assert all(x["original"] for x in a["restored"])
        cap, bp = doc["probes"]
        assert cap["hits"] >= 1 and cap["calls"][0]["return_value"]["repr"] == "6"
        assert bp["hits"] >= 1 and [e["expr"] for e in bp["evals"]] == ["z", "y + 100"]
        z = [int(v["repr"]) for v in bp["evals"][0]["values"]]
        y100 = [int(v["repr"]) for v in bp["evals"][1]["values"]]
        assert z == [(v - 100) * 2 for v in y100]
        assert sum(p["hits"] for p in doc["probes"]) >= 30
        import pickle

        raw = pickle.loads(out_pickle.read_bytes())
        assert raw["probes"][1]["evals"][0]["values"][:3] == z[:3]
        # the target ran on all along
        assert t.proc.poll() is None


def test_exec_changes_the_target_only_while_attached():
    with Target([str(LOOP), "--every", "5"]) as t:
        t.wait_for(r"^i=10 ", 20)
        before = t.status()
        assert all(int(s["v"]) < 1000 for s in before)
        r = attach(str(t.pid), *BREAK_Z, "--exec", "z = z + 1000", "--duration", "1.5")
        assert r.returncode == 0, r.stderr + r.stdout
        assert "exec: z = z + 1000" in r.stdout
        assert f"NOTE: process {t.pid} was CHANGED while attached: --exec ran inside it" in r.stdout
        assert "It is restored now" in r.stdout
        n = len(t.lines)
        t.wait_for(r"^i=\d+ .*orig=True", 10, start=n)
        time.sleep(0.3)
        st = t.status()
        changed = [s for s in st if int(s["v"]) >= 1000]
        assert changed, "the --exec never changed what the target computed"
        assert all(s["orig"] == "False" for s in changed)
        last_changed = max(int(s["i"]) for s in changed)
        later = [s for s in st if int(s["i"]) > last_changed]
        assert later and all(int(s["v"]) < 1000 and s["orig"] == "True" for s in later)


def test_module_imported_later_is_probed_on_import():
    with Target([str(LOOP), "--every", "20", "--late-import", "1.5"]) as t:
        r = attach(str(t.pid), "--capture", "lateimport:bump", "--duration", "3.5")
        assert r.returncode == 0, r.stderr + r.stdout
        assert "[1] capture lateimport:bump: not imported yet in the target; installed when it is imported" \
            in r.stdout
        assert "installed in lateimport (just imported): bump" in r.stdout
        assert re.search(r"call #1 bump\(i=int  \d+\) return int  \d+", r.stdout)
        assert "__code__ is the original object again" in r.stdout


def test_ctrl_c_detaches():
    with Target([str(LOOP), "--every", "20"]) as t:
        p = subprocess.Popen([PY, "-m", "splice", "attach", str(t.pid), "--capture", "looplib:scale"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
        time.sleep(2.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err + out
        assert "stopped by Ctrl-C" in out and "__code__ is the original object again" in out


def test_a_child_the_target_forks_while_attached_runs_unprobed_and_leaves_the_session_alone():
    """The child inherited the probes with no agent thread to remove them
    (patched for good), and its exit ran the parent's atexit detach over
    the inherited socket: the attacher reported the parent detached after
    1 s, checked in the child. The child now removes them at the fork, and
    leaves quietly."""
    with Target([str(FIX / "fork_target.py")]) as t:
        r = attach(str(t.pid), "--break", "tests/attach_fixtures/fork_target.py:compute",
                   "--line", "total = z + 1", "--exec", "z = z + 1000", "--duration", "3")
        assert r.returncode == 0, r.stderr + r.stdout
        assert "stopped by --duration 3" in r.stdout, r.stdout
        assert f"checked in process {t.pid}" in r.stdout, r.stdout
        children = [line for line in t.lines if line.startswith("child=")]
        assert len(children) == 3, t.lines[-10:]
        assert all(" orig=True" in c and int(c.split(" v=")[1].split()[0]) < 1000 for c in children), children
        changed = [s for s in t.status() if int(s["v"]) >= 1000]
        assert changed, "the --exec never changed what the parent computed"


# -- guaranteed detach ---------------------------------------------------------------------


def _attacher(pid: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PY, "-m", "splice", "attach", str(pid), "--capture", "looplib:scale",
                             "--lease", "3", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(ROOT))


def _wait_patched(t: Target, timeout: float = 20) -> None:
    t.wait_for(r"^i=\d+ .*orig=False threads=3 splice=True", timeout)


def test_attacher_sigkill_target_detaches_by_itself_and_runs_on():
    with Target([str(LOOP), "--every", "10"]) as t:
        p = _attacher(t.pid, "--duration", "120")
        try:
            _wait_patched(t)
            n = len(t.lines)
            p.kill()
            killed = time.monotonic()
            t.wait_for(r"^i=\d+ .*orig=True threads=2 ", 3 + 2, start=n)  # within the lease (3 s)
            took = time.monotonic() - killed
            assert took < 3 + 1
            m = len(t.lines)
            t.wait_for(r"^i=\d+ .*orig=True threads=2 ", 5, start=m + 2)  # and it keeps running
            assert t.proc.poll() is None
        finally:
            p.kill()
            p.wait()


def test_attacher_stopped_lease_expires():
    """SIGSTOP keeps the connection open but stops the heartbeat: the lease runs out."""
    with Target([str(LOOP), "--every", "10"]) as t:
        p = _attacher(t.pid, "--duration", "120")
        try:
            _wait_patched(t)
            n = len(t.lines)
            p.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            t.wait_for(r"^i=\d+ .*orig=True threads=2 ", 3 + 4, start=n)
            took = time.monotonic() - stopped
            assert 2.0 < took < 3 + 2.5, took  # not before the lease could have expired, soon after it did
        finally:
            p.kill()
            p.wait()
        assert t.proc.poll() is None


# -- errors: each with its message, the target unchanged ---------------------------------------------


def _err(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("python -m splice attach: error: "), r.stderr
    return r.stderr


def test_error_no_such_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    e = _err(attach(str(p.pid), "--capture", "looplib:scale"))
    assert f"no process with PID {p.pid} (it does not exist, or has exited)" in e


def test_error_not_cpython():
    p = subprocess.Popen(["sleep", "30"])
    try:
        e = _err(attach(str(p.pid), "--capture", "looplib:scale"))
        assert f"process {p.pid} (sleep 30) is not a CPython process" in e
    finally:
        p.kill()
        p.wait()


def test_error_other_cpython_version():
    other = 15 if sys.version_info[:2] == (3, 14) else 14
    py = _venv_python(other)
    if py is None:
        pytest.skip(f".venv-3.{other} not found")
    with Target([str(LOOP)], python=py) as t:
        e = _err(attach(str(t.pid), "--capture", "looplib:scale"))
        assert f"runs CPython 3.{other}." in e
        assert f"but this is CPython 3.{sys.version_info.minor}." in e
        assert "sys.remote_exec only works between the same minor version" in e
        assert f"python3.{other} -m splice attach {t.pid}" in e
        time.sleep(0.3)
        assert t.status()[-1]["splice"] == "False"


def test_error_target_older_than_314():
    py = _venv_python(11) or _venv_python(12) or _venv_python(13)
    if py is None:
        pytest.skip("no CPython 3.11-3.13 venv")
    with Target([str(LOOP)], python=py) as t:
        e = _err(attach(str(t.pid), "--capture", "looplib:scale"))
        assert re.search(r"runs CPython 3\.1[123]", e)
        assert "attach needs CPython 3.14 or newer in the target" in e


def test_error_attacher_older_than_314():
    py = _venv_python(11) or _venv_python(12) or _venv_python(13)
    if py is None:
        pytest.skip("no CPython 3.11-3.13 venv")
    with Target([str(LOOP)]) as t:
        e = _err(attach(str(t.pid), "--capture", "looplib:scale", python=py))
        assert "attach needs CPython 3.14 or newer (sys.remote_exec, PEP 768); this is CPython 3.1" in e


@pytest.mark.parametrize("how", ["-X", "env"])
def test_error_remote_debugging_disabled(how):
    env = dict(os.environ)
    flags: tuple[str, ...] = ()
    if how == "env":
        env["PYTHON_DISABLE_REMOTE_DEBUG"] = "1"
    else:
        flags = ("-X", "disable-remote-debug")
    with Target([str(LOOP)], env=env, py_flags=flags) as t:
        e = _err(attach(str(t.pid), "--capture", "looplib:scale"))
        assert f"remote debugging is disabled in process {t.pid}" in e
        if how == "env":
            assert "its environment sets PYTHON_DISABLE_REMOTE_DEBUG" in e
        else:
            assert "it was started with -X disable-remote-debug" in e


def test_error_no_permission():
    if os.geteuid() != 0 or shutil.which("capsh") is None:
        pytest.skip("needs root and capsh to run an attacher without CAP_SYS_PTRACE")
    with Target([str(LOOP)]) as t:
        cmd = f"{PY} -m splice attach {t.pid} --capture looplib:scale"
        r = subprocess.run(["capsh", "--drop=cap_sys_ptrace", "--", "-c", cmd], capture_output=True, text=True,
                           cwd=str(ROOT), timeout=60)
        e = _err(r)
        assert f"no permission to attach to process {t.pid}" in e
        assert "Operation not permitted" in e
        assert "run attach as root (or with CAP_SYS_PTRACE" in e
        time.sleep(0.3)
        assert t.status()[-1]["splice"] == "False"


def _base_python() -> str:
    base = getattr(sys, "_base_executable", None)
    real = os.path.realpath(PY)
    for cand in (base, real):
        if cand and os.path.exists(cand) and subprocess.run([cand, "-c", "import splice"], capture_output=True,
                                                            cwd="/").returncode != 0:
            return cand
    pytest.skip("no interpreter of this version without splice installed")


def test_splice_not_importable_in_target():
    py = _base_python()
    with Target([str(LOOP), "--every", "10"], python=py) as t:
        e = _err(attach(str(t.pid), "--capture", "looplib:scale", "--no-attacher-splice"))
        assert f"splice is not importable in process {t.pid}" in e
        assert "ModuleNotFoundError: No module named 'splice'" in e
        assert "nothing was changed" in e
        assert "-m pip install splice" in e and "drop --no-attacher-splice" in e
        n = len(t.lines)
        time.sleep(0.5)
        assert all(s["splice"] == "False" and s["threads"] == "2" for s in t.status(n))
        # by default it is loaded from the attacher's install (same version)
        r = attach(str(t.pid), "--capture", "looplib:scale", "--hits", "3")
        assert r.returncode == 0, r.stderr + r.stdout
        assert "loaded from this interpreter's install: the target has no splice of its own" in r.stdout
        assert "__code__ is the original object again" in r.stdout


def test_error_main_thread_never_reaches_a_safe_point():
    with Target([str(LOOP), "--every", "10", "--main-sleep", "6"]) as t:
        t0 = time.monotonic()
        e = _err(attach(str(t.pid), "--capture", "looplib:scale", "--timeout", "1.5"))
        assert time.monotonic() - t0 < 5
        assert f"process {t.pid} (" in e and "did not run the attach request within 1.5 s" in e
        assert "its main thread has not reached a safe point (it is sleeping" in e
        assert "Nothing was changed (the pending request was replaced by an empty one)" in e
        # when the main thread wakes up, the neutralised request runs nothing
        t.wait_for(r"^woke splice_imported=False threads=2", 10)
        n = len(t.lines)
        time.sleep(0.5)
        assert all(s["splice"] == "False" and s["threads"] == "2" for s in t.status(n))
        assert not any("debugger script" in x for x in t.err), t.err


def test_command_line_errors():
    r = attach("--capture", "looplib:scale")
    assert r.returncode == 2 and "the following arguments are required: PID" in r.stderr
    r = attach("123")
    assert r.returncode == 2 and "no probes given" in r.stderr
    r = attach("123", "--line", "3")
    assert r.returncode == 2 and "must follow a --break TARGET" in r.stderr
    r = attach("123", "--capture", "m:f", "--duration", "1", "--hits", "2")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


# -- a torch model serving loop -------------------------------------------------------------


def test_torch_serving_loop_attention_weights(tmp_path):
    if importlib.util.find_spec("torch") is None:  # (not imported here: the target imports it)
        pytest.skip("torch is not installed for this interpreter")
    out_json = tmp_path / "t.json"
    with Target([str(FIX / "torch_serve.py"), "--every", "20"]) as t:
        t.wait_for(r"^request=20 ", 60)
        before = {s["checksum"] for s in t.status()}
        r = attach(str(t.pid), "--break", "torch_serve:Attention.forward", "--line",
                   "out = (attn @ v).transpose(1, 2).reshape(b, n, c)", "--cond", "self.index == 1",
                   "--eval", "attn", "--eval", "attn.sum(dim=-1).mean().item()", "--hits", "5",
                   "--json", str(out_json))
        assert r.returncode == 0, r.stderr + r.stdout
        print(r.stdout)
        assert "installed in __main__: Attention.forward (line 35)" in r.stdout
        assert re.search(r"eval attn #1: torch\.Tensor shape=\(1, 2, 6, 6\) dtype=torch\.float32", r.stdout)
        assert "__code__ is the original object again" in r.stdout
        doc = json.loads(out_json.read_text())
        vals = doc["probes"][0]["evals"]
        assert vals[0]["values"][0]["shape"] == [1, 2, 6, 6]
        assert all(abs(float(v["repr"]) - 1.0) < 1e-5 for v in vals[1]["values"])  # softmax rows sum to 1
        n = len(t.lines)
        t.wait_for(r"^request=\d+ .*orig=True threads=2", 20, start=n + 1)
        assert {s["checksum"] for s in t.status()} == before  # eval only: outputs unchanged
