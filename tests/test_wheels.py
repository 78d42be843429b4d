"""The installable package: `--version` on `python -m splice` and on the
`splice` console script, and a wheel installed into a fresh virtualenv by a
user who has no Rust toolchain and no source tree.

``test_wheel_install`` installs a wheel with ``pip --no-index --no-deps``
into a new virtualenv of the wheel's own interpreter, then runs a check
script from a scratch directory with ``PATH`` reduced to the venv's ``bin``
and ``/usr/bin:/bin`` (no ``~/.cargo/bin``) and no ``PYTHONPATH``: it
checks that no ``cargo``/``rustc``/``maturin`` is reachable and that splice
and its native module are imported from the venv's site-packages (no
``sys.path`` entry inside the source tree), sets a breakpoint (by line text,
with ``eval`` and ``exec``) and a capture on a function of a file it writes,
and runs ``python -m splice --version`` and the venv's ``splice --version``.

Which wheels:

- ``make wheels`` (scripts/wheels) sets ``SPLICE_WHEEL_DIR=dist`` and runs
  this test once, on 3.11, over every release wheel it built (one per
  CPython found, each installed with its own interpreter);
- ``make test`` (no ``SPLICE_WHEEL_DIR``) samples the default version only:
  on 3.11 the test builds a wheel of the current tree with maturin (debug
  profile, reusing the build ``scripts/venv`` just made) into a temporary
  directory and installs that; on the other versions it is skipped and
  pytest's summary says so.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

import splice

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MINOR = 11
WHEEL_DIR = os.environ.get("SPLICE_WHEEL_DIR")
TOOLCHAIN = ("cargo", "rustc", "rustup", "maturin")


def _pyproject_version() -> str:
    m = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert m, "no version in pyproject.toml"
    return m.group(1)


# -- --version in the development venv (every version) ---------------------


def test_version_flag_python_m() -> None:
    out = subprocess.run([sys.executable, "-m", "splice", "--version"], capture_output=True, text=True, check=True)
    ver = ".".join(map(str, sys.version_info[:3]))
    assert out.stdout.startswith(f"splice {splice.__version__} (CPython {ver}"), out.stdout
    assert splice.__version__ == _pyproject_version()


def test_console_script_in_dev_venv() -> None:
    script = Path(sys.executable).parent / "splice"
    assert script.exists(), f"no console script {script} (pyproject [project.scripts])"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith(f"splice {splice.__version__} "), out.stdout
    # the console script is the same dispatcher as python -m splice
    usage = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("run", "show", "doctor"):
        assert f"  {cmd} " in usage


# -- the wheel install test ---------------------------------------------------

CHECK = textwrap.dedent(
    '''
    import os, shutil, subprocess, sys, sysconfig
    from pathlib import Path

    repo, venv = Path(sys.argv[1]), Path(sys.argv[2])
    found = {t: shutil.which(t) for t in ("cargo", "rustc", "rustup", "maturin")}
    assert not any(found.values()), f"a Rust toolchain is on PATH: {found}"
    assert not any(Path(p or ".").resolve().is_relative_to(repo) for p in sys.path), sys.path
    import splice, splice._native
    site = Path(sysconfig.get_paths()["platlib"]).resolve()
    for mod in (splice, splice._native):
        f = Path(mod.__file__).resolve()
        assert f.is_relative_to(site) and f.is_relative_to(venv), f"{mod.__name__} from {f}, not {site}"
    assert (site / "splice" / "py.typed").exists() and (site / "splice" / "_native.pyi").exists()
    print("splice imported from", Path(splice.__file__).parent)
    print("native module", Path(splice._native.__file__).name)

    Path("target_mod.py").write_text(
        "def scale(x, k):\\n"
        "    y = x * k\\n"
        "    return y + 1\\n")
    sys.path.insert(0, os.getcwd())
    import target_mod
    code = target_mod.scale.__code__
    with splice.breakpoint(target_mod.scale, line="return y + 1") as bp:
        values = bp.eval("y")
        bp.exec("y = -y")
        r = target_mod.scale(3, 2)
    assert values == [6] and r == -5, (values, r)
    assert target_mod.scale.__code__ is code and target_mod.scale(3, 2) == 7
    print("breakpoint: eval", values, "exec -> scale(3, 2) ==", r, "; restored")
    with splice.capture_call(target_mod.scale) as call:
        target_mod.scale(4, 5)
    assert dict(call.args) == {"x": 4, "k": 5} and call.locals["y"] == 20 and call.return_value == 21
    print("capture_call:", call)
    page = call._repr_html_()
    assert "<code>scale()</code>" in page and "return value" in page
    print("capture_call HTML repr:", len(page), "characters")
    for cmd in ([sys.executable, "-m", "splice", "--version"], [str(venv / "bin" / "splice"), "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        assert out.startswith("splice " + splice.__version__), out
        print("$", " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)), "->", out)
    '''
)


def _wheels() -> list[Path]:
    if WHEEL_DIR:
        found = sorted(Path(WHEEL_DIR).glob("splice-*.whl"))
        minors = os.environ.get("SPLICE_WHEEL_MINORS")
        if minors:  # every version scripts/wheels built must have its wheel
            for m in minors.split():
                assert any(f"-cp3{m}-cp3{m}-" in w.name for w in found), f"no wheel for CPython 3.{m} in {WHEEL_DIR}"
        return found
    return []


def _find_python(minor: int) -> str:
    out = subprocess.run([str(REPO / "scripts" / "find-python"), str(minor)], capture_output=True, text=True)
    assert out.returncode == 0, f"CPython 3.{minor} not found for its wheel"
    return out.stdout.strip()


def _clean_env(venv: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "TERM")}
    keep["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    return keep


def _install_and_check(wheel: Path, python: str, tmp: Path) -> str:
    venv = tmp / "venv"
    work = tmp / "work"
    work.mkdir()
    subprocess.run([python, "-m", "venv", str(venv)], check=True, cwd=work, env=_clean_env(venv))
    vpy = venv / "bin" / "python"
    env = _clean_env(venv)
    pip = subprocess.run(
        [str(vpy), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
        capture_output=True, text=True, cwd=work, env=env,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    (work / "check.py").write_text(CHECK)
    run = subprocess.run([str(vpy), "check.py", str(REPO), str(venv.resolve())],
                         capture_output=True, text=True, cwd=work, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _dev_wheel(tmp: Path) -> Path:
    maturin = Path(sys.executable).parent / "maturin"
    out = tmp / "dist"
    env = dict(os.environ, CARGO_TARGET_DIR=os.environ.get("CARGO_TARGET_DIR", str(REPO / "target" / "shared")))
    r = subprocess.run([str(maturin), "build", "-q", "-i", sys.executable, "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = out.glob("splice-*.whl")
    return wheel


def test_wheel_install(tmp_path: Path) -> None:
    if WHEEL_DIR:
        wheels = _wheels()
        assert wheels, f"no wheels in {WHEEL_DIR}"
    elif sys.version_info[:2] == (3, DEFAULT_MINOR):
        wheels = [_dev_wheel(tmp_path)]
    else:
        pytest.skip(f"make test samples the wheel install on 3.{DEFAULT_MINOR}; make wheels tests every version")
    for wheel in wheels:
        m = re.search(r"-cp3(\d+)-cp3\d+-", wheel.name)
        assert m, wheel.name
        tmp = tmp_path / wheel.stem
        tmp.mkdir()
        out = _install_and_check(wheel, _find_python(int(m.group(1))), tmp)
        print(f"--- {wheel.name}\n{out}", end="")


def test_sdist_contents() -> None:
    if not WHEEL_DIR:
        pytest.skip("the sdist is built by make wheels")
    (sdist,) = Path(WHEEL_DIR).glob("splice-*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for need in ("pyproject.toml", "python/splice/__init__.py", "python/splice/py.typed",
                 "python/splice/_native.pyi", "crates/splice-py/Cargo.toml", "crates/splice-rewrite/Cargo.toml"):
        assert need in names, f"{need} missing from {sdist.name}"
