"""`python -m splice run` and `show` (docs/cli.md), run in subprocesses with
this interpreter on the scripts in tests/cli_fixtures/."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
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


def test_output_paths_are_relative_to_the_launch_directory(tmp_path):
    # the script changes directory before the report is written (at exit)
    (tmp_path / "elsewhere").mkdir()
    s = tmp_path / "chdir.py"
    s.write_text("import os\ndef work(a):\n    return a * 2\nwork(3)\nos.chdir('elsewhere')\n")
    r = splice("run", "-q", "--json", "o.json", "--pickle", "o.pkl", "--capture", "chdir.py:work", "chdir.py",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.json").is_file() and (tmp_path / "o.pkl").is_file()
    assert not list((tmp_path / "elsewhere").iterdir())
    assert json.loads((tmp_path / "o.json").read_text())["probes"][0]["hits"] == 1


def _package(tmp_path: Path) -> None:
    pkg = tmp_path / "mpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def helper(x):\n    return x + 1\n")
    (pkg / "__main__.py").write_text(
        "import mpkg\ndef mainfn(y):\n    return mpkg.helper(y) * 2\nprint('mpkg main', mainfn(1))\n")


def test_module_mode_package_and_its_main(tmp_path):
    # -m PKG runs PKG/__main__.py: PKG:f is the package (__init__.py), PKG.__main__:f or __main__:f the main
    _package(tmp_path)
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "mpkg:helper", "--capture", "mpkg.__main__:mainfn", "--capture", "__main__:mainfn",
               "--json", str(out), "-m", "mpkg", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mpkg main 4" in r.stdout and "ERROR" not in r.stderr
    doc = json.loads(out.read_text())
    check_schema(doc)
    helper, main1, main2 = doc["probes"]
    assert helper["status"] == "installed" and helper["installed"][0]["module"] == "mpkg" and helper["hits"] == 1
    for p in (main1, main2):
        assert p["status"] == "installed" and p["installed"][0]["module"] == "__main__" and p["hits"] == 1
        assert p["installed"][0]["file"] == str(tmp_path / "mpkg" / "__main__.py")
    # a function of __main__.py named through the package: one error, and how to name it
    r = splice("run", "--capture", "mpkg:mainfn", "--json", str(out), "-m", "mpkg", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("no function 'mainfn'") == 2  # said once at import, once in the summary
    assert "name it mpkg.__main__:mainfn" in r.stderr
    p = json.loads(out.read_text())["probes"][0]
    assert p["status"] == "error" and p["hits"] == 0


def test_main_target_names_the_script(tmp_path):
    r = splice("run", "--capture", "__main__:combine", "script.py")
    assert r.returncode == 0, r.stderr
    assert "in __main__: combine" in r.stderr and "calls: 1" in r.stderr


def test_failed_import_of_a_target_says_why(tmp_path):
    (tmp_path / "bpkg").mkdir()
    (tmp_path / "bpkg" / "__init__.py").write_text("")
    (tmp_path / "bpkg" / "broken.py").write_text("def f():\n    return 1\nraise ImportError('broken on purpose')\n")
    (tmp_path / "use.py").write_text("try:\n    import bpkg.broken\nexcept ImportError as e:\n    print('caught', e)\n")
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "bpkg.broken:f", "--capture", "bpkg/broken.py:f", "--json", str(out), "use.py",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "caught broken on purpose" in r.stdout
    by_name, by_path = json.loads(out.read_text())["probes"]
    assert by_name["status"] == by_path["status"] == "not_found"
    assert by_name["message"] == ("the import of module bpkg.broken failed (ImportError: broken on purpose), "
                                  "so its functions never existed")
    assert by_path["message"] == by_name["message"]
    assert "never imported" not in r.stderr


def test_run_directory_and_zip_application(tmp_path):
    app = tmp_path / "appdir"
    app.mkdir()
    (app / "__main__.py").write_text(
        "import sys\ndef go(x):\n    return x + 1\n"
        "print('app', __name__, go(len(sys.argv)), sys.argv, sys.path[0], __file__, __package__)\n")
    zipped = tmp_path / "app.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.write(app / "__main__.py", "__main__.py")
    for target in ("appdir", "app.zip"):
        expected = plain(target, "a", cwd=tmp_path)
        assert expected.returncode == 0, expected.stderr
        out = tmp_path / "o.json"
        r = splice("run", "--capture", "__main__:go", "--break", "__main__", "--line", "return x + 1",
                   "--eval", "x", "--json", str(out), target, "a", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == expected.stdout  # what `python appdir a` prints
        cap, brk = json.loads(out.read_text())["probes"]
        assert cap["hits"] == 1 and cap["calls"][0]["args"]["x"]["repr"] == "2"
        assert brk["hits"] == 1 and brk["evals"][0]["values"][0]["repr"] == "2"
    # the directory's __main__.py is a file: it can be named by path too
    r = splice("run", "--capture", "appdir/__main__.py:go", "appdir", cwd=tmp_path)
    assert r.returncode == 0 and "calls: 1" in r.stderr, r.stderr
    (tmp_path / "empty").mkdir()
    r = splice("run", "empty", cwd=tmp_path)
    assert r.returncode == plain("empty", cwd=tmp_path).returncode == 1
    assert "can't find '__main__' module" in r.stderr


def test_exit_status_of_sys_exit_true(tmp_path):
    (tmp_path / "ex.py").write_text("import sys\nsys.exit(True)\n")
    out = tmp_path / "o.json"
    r = splice("run", "--json", str(out), "ex.py", cwd=tmp_path)
    assert r.returncode == plain("ex.py", cwd=tmp_path).returncode == 1
    doc = json.loads(out.read_text())
    check_schema(doc)
    assert doc["run"]["exit_status"] == 1 and doc["run"]["exit_status"] is not True
    assert doc["processes"][0]["exit_status"] == 1 and type(doc["processes"][0]["exit_status"]) is int
    assert "(exit status 1)" in r.stderr


def test_summary_says_where_the_calls_not_shown_are():
    r = splice("run", "--show", "0", "--capture", "mathlib:softmax", "script.py")
    assert r.returncode == 0, r.stderr
    assert "(2 more calls not shown: --show 2 shows them all, --json FILE writes every call)" in r.stderr
    assert "in --json)" not in r.stderr


def test_break_on_module_level_code_of_the_script():
    for line in ("1", "import mathlib", "if __name__ == \"__main__\":"):
        r = splice("run", "--break", "script.py", "--line", line, "script.py")
        assert r.returncode == 2, r.stderr
        assert "is module-level code of the script" in r.stderr
        assert "has already run" not in r.stderr
        assert "(functions there: combine, main)" in r.stderr
        assert "argv=" not in r.stdout


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")
def test_out_dir_that_cannot_be_used(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    for bad, why in (("/proc/nope", "No such file or directory"), (str(afile), "not a directory")):
        r = splice("run", "--out-dir", bad, "--capture", "mathlib:softmax", "script.py")
        assert r.returncode == 2, r.stderr
        assert f"python -m splice run: cannot use --out-dir {bad}: " in r.stderr and why in r.stderr
        assert "Traceback" not in r.stderr and "argv=" not in r.stdout
    r = splice("run", "--no-follow-children", "--out-dir", str(tmp_path / "od"), "script.py")
    assert r.returncode == 2 and "--no-follow-children writes none" in r.stderr
    assert not (tmp_path / "od").exists()


# -- merge -------------------------------------------------------------------------


def _bad_records(record: dict) -> dict[str, dict]:
    """Copies of a good record file's data, each broken in one way."""
    def broken(change) -> dict:
        d = json.loads(json.dumps(record))
        change(d)
        return d

    return {
        "process null": broken(lambda d: d.update(process=None)),
        "no probes": broken(lambda d: d["process"].pop("probes")),
        "pid text": broken(lambda d: d["process"].update(pid="12")),
        "calls text": broken(lambda d: d["process"]["probes"][0].update(calls="oops")),
        "value null": broken(lambda d: d["process"]["probes"][0]["calls"][0].update(return_value=None)),
        "run list": broken(lambda d: d.update(run=[])),
    }


def test_merge_skips_a_record_of_the_wrong_structure(tmp_path):
    good = tmp_path / "good"
    r = splice("run", "-q", "--out-dir", str(good), "--capture", "mathlib:softmax", "script.py")
    assert r.returncode == 0, r.stderr
    (record_file,) = good.glob("*.splice-proc.json")
    record = json.loads(record_file.read_text())
    for i, (what, data) in enumerate(_bad_records(record).items()):
        bad = tmp_path / f"bad{i}"
        bad.mkdir()
        (bad / "pid1-vm.splice-proc.json").write_text(json.dumps(data))
        r = splice("merge", str(bad))
        assert r.returncode == 1, (what, r.stderr)
        assert "Traceback" not in r.stderr, what
        assert f"skipped {bad / 'pid1-vm.splice-proc.json'}: not a valid splice process file (" in r.stderr, what
        r = splice("merge", str(good), str(bad))  # the good record is still merged
        assert r.returncode == 0 and "skipped" in r.stderr and "calls: 2" in r.stderr, (what, r.stderr)


# -- doctor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (("/nonexistent/path",), "no such directory: /nonexistent/path"),
        (("script.py",), "script.py is not a directory"),
        (("--limit", "0", "."), "--limit must be at least 1"),
        (("--limit=-5", "."), "--limit must be at least 1"),
    ],
)
def test_doctor_refuses_arguments_that_check_nothing(args, message):
    r = splice("doctor", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"python -m splice doctor: error: {message}" in r.stderr
    assert "code objects" not in r.stdout


def test_doctor_on_a_directory_with_no_python_file_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x = 1\n")
    r = splice("doctor", str(tmp_path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"python -m splice doctor: error: no .py file under {tmp_path}: nothing to check" in r.stderr
    assert "code objects" not in r.stdout
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    r = splice("doctor", str(tmp_path))
    assert r.returncode == 0 and "doctor: 2 code objects, 0 mismatches, 0 errors" in r.stdout, (r.stdout, r.stderr)


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
