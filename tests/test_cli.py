"""`python -m splice run` and `show` (docs/cli.md), run in subprocesses with
this interpreter on the scripts in tests/cli_fixtures/."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_schema import check_schema

FIXTURES = Path(__file__).resolve().parent / "cli_fixtures"
SCRIPT = FIXTURES / "script.py"
MATHLIB = FIXTURES / "mathlib.py"


def splice(*args: str, cwd: Path = FIXTURES, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "splice", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
    )


def plain(*args: str, cwd: Path = FIXTURES) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


# -- JSON schema (docs/cli.md): tests/cli_schema.py ---------------------------------


# -- run ------------------------------------------------------------------------

PROBES = [
    "--capture", "mathlib:Model.forward",
    "--break", "script.py:combine", "--line", "total += peak", "--eval", "peak", "--eval", "o.shape",
    "--break", "mathlib.py", "--line", "out = attn * self.scale",
    "--eval", "attn.max()", "--exec", "attn = attn * 3", "--eval", "attn.max()",
]


def test_run_capture_and_break(tmp_path):
    out = tmp_path / "out.json"
    r = splice("run", *PROBES, "--json", str(out), "script.py", "a", "b")
    assert r.returncode == 0, r.stderr
    # the exec tripled attn before `out = attn * 2` (softmax peaks 0.665 and 0.5)
    assert "argv=['script.py', 'a', 'b'] name=__main__ result=6.9914" in r.stdout
    assert f"file={SCRIPT} path0={FIXTURES}" in r.stdout
    err = r.stderr
    assert "=== splice run summary (exit status 0) ===" in err
    assert "[1] capture mathlib:Model.forward" in err and "calls: 2" in err
    assert "local  attn = mathlib.FakeArray shape=(3,) dtype=float64" in err
    assert "in __main__: combine (line 12)" in err
    assert "exec: attn = attn * 3" in err
    doc = json.loads(out.read_text())
    check_schema(doc)
    cap, brk, mod = doc["probes"]
    assert cap["status"] == brk["status"] == mod["status"] == "installed"
    assert cap["hits"] == 2 and len(cap["calls"]) == 2
    call = cap["calls"][0]
    assert call["function"] == "forward" and call["exception"] is None
    assert call["args"]["scores"]["repr"] == "[1.0, 2.0, 3.0]"
    assert call["locals"]["attn"]["shape"] == [3] and call["locals"]["attn"]["dtype"] == "float64"
    assert call["return_value"]["type"] == "mathlib.FakeArray"
    assert brk["hits"] == 2
    assert brk["installed"][0]["module"] == "__main__"
    assert brk["installed"][0]["functions"][0]["function"] == "combine"
    peaks, shapes = brk["evals"]
    assert [v["type"] for v in peaks["values"]] == ["float", "float"]
    assert [v["repr"] for v in shapes["values"]] == ["(3,)", "(2,)"]
    before, after = mod["evals"]
    assert mod["installed"][0]["functions"][0]["function"] == "Model.forward"
    for b, a in zip(before["values"], after["values"]):
        assert float(a["repr"]) == pytest.approx(3 * float(b["repr"]))
    assert doc["run"]["argv"] == ["script.py", "a", "b"] and doc["run"]["exit_status"] == 0


def test_run_from_another_directory(tmp_path):
    # sys.path[0] is the script's directory, so its own `import mathlib` works
    r = splice("run", "--capture", "mathlib:softmax", str(SCRIPT), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"path0={FIXTURES}" in r.stdout
    assert "calls: 2" in r.stderr  # softmax, once per Model.forward call
    assert plain(str(SCRIPT), cwd=tmp_path).stdout.splitlines()[0] in r.stdout


def test_run_max_calls_keeps_first_counts_all(tmp_path):
    out = tmp_path / "o.json"
    r = splice("run", "-q", "--max-calls", "1", "--capture", "mathlib:softmax", "--json", str(out), "script.py")
    assert r.returncode == 0 and "splice run summary" not in r.stderr
    p = json.loads(out.read_text())["probes"][0]
    assert p["hits"] == 2 and len(p["calls"]) == 1


@pytest.mark.parametrize(
    "args, status",
    [((), 0), (("exit", "3"), 3), (("exit", "0"), 0), (("raise",), 1), (("strexit",), 1)],
)
def test_exit_status_passes_through(tmp_path, args, status):
    assert plain("script.py", *args).returncode == status
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "mathlib:softmax", "--json", str(out), "script.py", *args)
    assert r.returncode == status, r.stderr
    doc = json.loads(out.read_text())
    check_schema(doc)
    assert doc["run"]["exit_status"] == status
    assert f"(exit status {status}" in r.stderr
    if args == ("raise",):
        # Python's traceback of the script, without splice's frames
        assert "Traceback (most recent call last):" in r.stderr
        assert re.search(r'script.py", line \d+, in main', r.stderr)
        assert "ValueError: boom from the script" in r.stderr
        assert "splice" not in r.stderr.split("Traceback")[1].split("ValueError")[0]
        assert doc["run"]["exception"] == {"type": "ValueError", "message": "boom from the script"}
        # the summary comes after the traceback
        assert r.stderr.index("ValueError: boom") < r.stderr.index("splice run summary")
    elif args == ("strexit",):
        assert "a message" in r.stderr
        assert doc["run"]["exception"] is None
    else:
        assert "Traceback" not in r.stderr


def test_target_that_never_appears(tmp_path):
    out = tmp_path / "o.json"
    r = splice(
        "run", "--capture", "nosuch.module:f", "--break", "mathlib:Model.backward", "--line", "1",
        "--capture", "loud.py:scale", "--json", str(out), "script.py", "exit", "3",
    )
    assert r.returncode == 3
    assert "NOT FOUND: module nosuch.module was never imported" in r.stderr
    assert "no module from" in r.stderr and "loud.py was imported" in r.stderr
    assert "no function 'Model.backward'" in r.stderr and "functions there:" in r.stderr
    doc = json.loads(out.read_text())
    check_schema(doc)
    a, b, c = doc["probes"]
    assert (a["status"], b["status"], c["status"]) == ("not_found", "error", "not_found")
    assert a["hits"] == 0 and a["calls"] == [] and a["installed"] == []
    assert "never imported" in a["message"]


def test_pickle_roundtrip(tmp_path, monkeypatch):
    pk = tmp_path / "o.pkl"
    r = splice(
        "run", "--capture", "mathlib:Model.forward",
        "--break", "script.py:combine", "--line", "total += peak", "--eval", "peak",
        "--eval", "(i for i in ())",  # a generator: cannot be pickled
        "--pickle", str(pk), "script.py",
    )
    assert r.returncode == 0, r.stderr
    assert "could not be pickled" in r.stderr
    monkeypatch.syspath_prepend(str(FIXTURES))
    doc = pickle.loads(pk.read_bytes())
    assert doc["schema"] == 2
    cap, brk = doc["probes"]
    import mathlib  # the classes of the captured values

    call = cap["calls"][0]
    assert isinstance(call["locals"]["attn"], mathlib.FakeArray)
    assert call["args"]["scores"] == [1.0, 2.0, 3.0]
    assert isinstance(call["return_value"], mathlib.FakeArray) and call["exception"] is None
    peaks, gens = brk["evals"]
    assert peaks["expr"] == "peak" and all(isinstance(v, float) for v in peaks["values"])
    assert len(peaks["values"]) == 2
    assert all(isinstance(v, str) and v.startswith("<unpicklable generator:") for v in gens["values"])
    assert doc["replaced"] == ["probes[1].evals[1].values[0]", "probes[1].evals[1].values[1]"]


def test_module_mode(tmp_path):
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "mathlib:Model.forward", "--capture", "clirun:go", "--json", str(out),
               "-m", "clirun", "x", "y")
    assert r.returncode == 0, r.stderr
    assert "clirun name=__main__ argv=['x', 'y'] peak=" in r.stdout
    doc = json.loads(out.read_text())
    check_schema(doc)
    fwd, go = doc["probes"]
    assert fwd["hits"] == 1 and go["hits"] == 1  # clirun:go is in the -m module itself
    assert go["installed"][0]["module"] == "__main__"
    assert doc["run"]["module"] == "clirun" and doc["run"]["argv"][1:] == ["x", "y"]
    assert doc["run"]["argv"][0] == str(FIXTURES / "clirun.py")


@pytest.mark.parametrize(
    "args, message",
    [
        (("--capture", "bad:1x", "script.py"), "'1x' is not a function name"),
        (("--capture", "mathlib:", "script.py"), "nothing after ':'"),
        (("--capture", "nofile.py:f", "script.py"), "no such file"),
        (("--capture", "mathlib.py", "script.py"), "--capture mathlib.py: name a function"),
        (("--break", "mathlib.py", "script.py"), "needs --line"),
        (("--line", "3", "script.py"), "must follow a --break"),
        (("--capture", "script.py:nothere", "script.py"), "no function 'nothere'"),
        (("--break", "script.py:combine", "--line", "999", "script.py"), "LocateError"),
        (("--capture", "mathlib:softmax"), "no script given"),
        (("--capture", "mathlib:softmax", "missing.py"), "can't open file"),
    ],
)
def test_bad_arguments_exit_2(args, message):
    r = splice("run", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "argv=" not in r.stdout  # the script did not run


def test_script_use_of_splice_is_independent(tmp_path):
    # the script's own splice.capture_call works alongside command-line probes
    s = tmp_path / "own.py"
    s.write_text(
        "import splice\n"
        "def f(x):\n    y = x + 1\n    return y\n"
        "with splice.capture_call(f) as c:\n    f(1)\n"
        "print('own', c.return_value, c.locals['y'])\n"
        "f(5)\n"
    )
    r = splice("run", "--capture", f"{s}:f", str(s), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "own 2 2" in r.stdout
    assert "calls: 2" in r.stderr


# -- show ------------------------------------------------------------------------


def test_show_breakpoint_diff():
    r = splice("show", "mathlib.py:Model.forward", "--line", "out = attn * self.scale", "--exec", "attn = attn * 3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# splice show mathlib.py:Model.forward")
    assert any(l.startswith("--- ") and l.endswith("Model.forward (original)") for l in lines)
    assert any(l.startswith("+++ ") for l in lines)
    assert any(l.startswith("@@ ") for l in lines)
    added = [l for l in lines if l.startswith("+") and not l.startswith("+++")]
    # the spliced statement: load attn, load 3, multiply, store attn
    ops = [l.split()[2] for l in added if len(l.split()) > 2 and l.split()[1].isdigit()]
    i = ops.index("BINARY_OP")
    load, three, binop, store = ops[i - 2: i + 2]
    assert load in ("LOAD_FAST", "LOAD_FAST_CHECK")  # checked on 3.12+
    assert three in ("LOAD_CONST", "LOAD_SMALL_INT")  # LOAD_SMALL_INT on 3.14+
    assert (binop, store) == ("BINARY_OP", "STORE_FAST")
    # the constant 3: LOAD_CONST 3 (3), or 3.14+'s LOAD_SMALL_INT 3
    assert any("(3)" in l or l.split()[2:4] == ["LOAD_SMALL_INT", "3"] for l in added)
    # the source line beside its block, as a context row
    assert " " + f"{44:>5}| out = attn * self.scale" in lines
    # no original instruction was removed
    assert not [l for l in lines if l.startswith("-") and not l.startswith("---")]


def test_show_capture_and_runs_nothing():
    r = splice("show", "loud.py:scale", "--capture")
    assert r.returncode == 0, r.stderr
    assert "LOUD MODULE RAN" not in r.stdout + r.stderr
    assert "call capture" in r.stdout
    assert any(l.startswith("+") and "enter" in l for l in r.stdout.splitlines())


def test_show_module_target_and_count_hits():
    r = splice("show", "mathlib:Model.forward", "--line", "44", "--eval", "attn.max()", "--cond", "len(scores) > 2")
    assert r.returncode == 0, r.stderr
    assert "breakpoint: if 'len(scores) > 2': eval 'attn.max()'" in r.stdout
    r = splice("show", "loud.py", "--line", "total = sum(ys)")
    assert r.returncode == 0 and "count hits" in r.stdout and "LOUD" not in r.stdout


def test_show_errors():
    r = splice("show", "mathlib.py:nothere", "--line", "3", "--exec", "x = 1")
    assert r.returncode == 1 and "no function 'nothere'" in r.stderr
    r = splice("show", "mathlib.py:softmax", "--capture", "--line", "3")
    assert r.returncode == 2 and "--capture takes no" in r.stderr
    r = splice("show", "::", "--capture")
    assert r.returncode == 2


def test_help_lists_commands():
    r = splice("--help")
    assert r.returncode == 0 and "run" in r.stdout and "show" in r.stdout and "doctor" in r.stdout
