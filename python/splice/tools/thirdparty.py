"""`python -m splice torture --thirdparty`: rewrite every function of pure-Python
third-party packages and run their own pytest suites.

The packages, their pinned versions and test selections are in
``thirdparty.toml`` beside this file. For each package and CPython version:

- the sdist is downloaded once (``pip download``) into ``VENVS/sdists`` and
  checked against its pinned sha256;
- a throwaway venv ``VENVS/3.X/PKG`` is made with this interpreter's base
  Python and the sdist is installed into it with ``pip install`` (built into a
  wheel from the sdist), with the pinned test tools; it is kept (and reused)
  while the package's pins and the interpreter are unchanged;
- splice goes in as a symlink to the ``splice`` package that runs this
  command: the tortured build is the one under test (the extension that
  ``scripts/venv`` built for this version), and no second Rust build per
  package and version is needed (``pip install`` from the repo would compile
  the crates again, minutes each on two cores);
- the sdist is unpacked (its tests and pytest configuration) and, per run,
  copied into a directory of its own, without the package's own source
  directory: the tests import the installed copy only (the child runs with
  ``PYTHONSAFEPATH``, and checks where every target module came from).

Each run is a child process in that venv, as for the stdlib (the same
``CodeRewriter`` and rewrites): an import hook at the front of
``sys.meta_path`` rewrites every function of the package's modules as each
module finishes executing, before the tests' ``from pkg import x`` can see it,
so module-level functions, methods, nested functions (through their parents'
``co_consts``) and decorated functions are all rewritten code. The untouched
run and each mode's run are compared test by test.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import tomllib
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from splice.tools.torture import (
    REWRITERS,
    Outcome,
    Totals,
    _lazy_capture,
    _module_files,
    _unexpected_hook_errors,
    in_packages,
    install_rewriting_hook,
    print_table,
    rewrite_functions,
    run_watched,
    write_results,
)

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "thirdparty.toml")

#: Seconds one child (one package's suite in one mode) may run: a hang is
#: a crash. pyparsing's suite takes ~430 s untouched on a busy 2-core
#: machine and capture records every call of its packrat parser (900 s was
#: not enough there).
CHILD_TIMEOUT = 2400

#: Seconds one pip command may take.
PIP_TIMEOUT = 900

#: pytest options every run gets: no cache written into the shared tree, a
#: module that fails to import is an error of its own instead of stopping the
#: session, short tracebacks, no pytest-randomly-style reordering.
PYTEST_ARGS = ["-p", "no:cacheprovider", "--continue-on-collection-errors", "--tb=short", "-q"]


@dataclass
class Package:
    """One entry of ``thirdparty.toml``."""

    name: str
    version: str
    sha256: str
    modules: list[str]
    tests: list[str]
    deps: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    code: str = ""

    @property
    def requirement(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"

    def selection(self) -> list[str]:
        """The test arguments that leave part of the suite out."""
        return [a for a in self.tests if a.startswith(("--ignore", "--deselect", "-k", "-m"))]


def load_config(path: str = CONFIG) -> tuple[list[str], dict[str, Package]]:
    """The common test dependencies and the packages, in file order."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    common = list(data.get("common", {}).get("deps", []))
    pkgs = {name: Package(name=name, **entry) for name, entry in data["packages"].items()}
    return common, pkgs


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dep_name(req: str) -> str:
    return _canonical(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0])


# --------------------------------------------------------------------------
# Child side: install the rewriting hook, run pytest, write a JSON result.


class _Results:
    """A pytest plugin that records every test's outcome by name.

    A test's name is its node id; a failing subtest (``subtests`` fixture,
    unittest ``subTest``) adds its own name, the node id with the subtest's
    message and parameters. Errors are failures outside the test's call
    (setup, teardown) and modules that fail to import."""

    def __init__(self) -> None:
        self.items: set[str] = set()
        self.skipped: set[str] = set()
        self.failures: dict[str, str] = {}
        self.errors: dict[str, str] = {}

    def pytest_collectreport(self, report: Any) -> None:
        """A module that fails to import (or collect) is an error."""
        if report.failed:
            self.errors[f"{report.nodeid or '<collection>'} (collection)"] = str(report.longrepr)

    def pytest_runtest_logreport(self, report: Any) -> None:
        """Record one phase of one test (or one subtest)."""
        name = report.nodeid
        self.items.add(name)
        context = getattr(report, "context", None)
        if context is not None:  # a SubtestReport
            msg = getattr(context, "msg", None)
            kwargs = getattr(context, "kwargs", None) or {}
            desc = " ".join([*([repr(msg)] if msg is not None else []), *(f"{k}={v!r}" for k, v in kwargs.items())])
            name = f"{name} [{desc}]"
        if report.when == "call":
            if report.failed:
                self.failures[name] = str(report.longrepr)
            elif report.skipped and not hasattr(report, "wasxfail"):
                self.skipped.add(name)
        elif report.failed:
            self.errors[f"{name} ({report.when})"] = str(report.longrepr)
        elif report.skipped and report.when == "setup":
            self.skipped.add(name)


def deterministic_hypothesis(config: Any) -> None:
    """Make hypothesis deterministic and deadline-free, over any profile the
    suite loads (attrs' conftest sets a 400 ms deadline): the untouched and
    the rewritten run then try the same examples, and a rewrite's slowdown is
    not a failure. A ``pytest_configure`` hook that runs last."""
    hypothesis: Any = sys.modules.get("hypothesis")
    if hypothesis is None:
        return
    settings = hypothesis.settings

    settings.register_profile(
        "splice-torture", settings(settings.default, deadline=None, derandomize=True, database=None)
    )
    settings.load_profile("splice-torture")


def child(pkg_name: str, mode: str, out_path: str) -> None:
    """Rewrite ``pkg_name``'s modules per ``mode`` as they are imported, run
    its pytest suite in the current directory, write a JSON result."""
    _, pkgs = load_config()
    pkg = pkgs[pkg_name]
    targets = set(pkg.modules)
    exclude = frozenset(pkg.exclude)
    rewrite = REWRITERS[mode]
    stats = {"functions": 0, "code_objects": 0}
    rewriter = None
    if rewrite is not None:
        rewriter = install_rewriting_hook(rewrite, targets, stats, exclude)
        # whatever was imported before the hook (nothing, normally)
        stats["functions"] += rewrite_functions(_module_files(targets, exclude), rewriter)

    import pytest

    results = _Results()
    last = types.SimpleNamespace(pytest_configure=pytest.hookimpl(trylast=True)(deterministic_hypothesis))
    lazy = _lazy_capture() if mode == "lazy" else None
    if lazy is not None:
        with lazy:
            rc = pytest.main([*PYTEST_ARGS, *pkg.tests], plugins=[results, last])
        stats["functions"] = len(lazy.targets)
        bad = _unexpected_hook_errors(lazy.hook_errors)
        if bad:
            results.errors[f"lazy capture: {len(bad)} hook errors"] = repr(bad[0])
        del lazy
    else:
        rc = pytest.main([*PYTEST_ARGS, *pkg.tests], plugins=[results, last])
    if rewriter is not None:
        stats["code_objects"] = rewriter.count

    # The tests must have run against the installed copy (the venv's
    # site-packages), never a source tree that happened to be on sys.path.
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    outside = sorted(
        f"{name} from {mod.__file__}"
        for name, mod in list(sys.modules.items())
        if in_packages(name, targets)
        and not in_packages(name, exclude)
        and getattr(mod, "__file__", None)
        and not os.path.realpath(mod.__file__ or "").startswith(site + os.sep)
    )
    imported = sum(1 for name in list(sys.modules) if in_packages(name, targets) and not in_packages(name, exclude))
    payload = {
        "package": pkg_name,
        "mode": mode,
        "exit_status": int(rc),
        "tests": len(results.items),
        "failures": sorted(results.failures),
        "errors": sorted(results.errors),
        "skipped": len(results.skipped),
        "reprs": {**results.failures, **results.errors},
        "imported_modules": imported,
        "outside": outside,
        **stats,
    }
    write_results(out_path, payload)


# --------------------------------------------------------------------------
# Parent side: sdists, venvs, children, report.


def _run(cmd: list[str], what: str, **kw: Any) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit status {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_sdist(pkg: Package, sdists: str) -> str:
    """The path of ``pkg``'s sdist under ``sdists``, downloaded once and
    checked against the pinned sha256."""
    os.makedirs(sdists, exist_ok=True)
    stem = f"{_canonical(pkg.name).replace('-', '_')}-{pkg.version}"

    def find() -> str | None:
        for path in glob.glob(os.path.join(sdists, "*.tar.gz")):
            base = os.path.basename(path)[: -len(".tar.gz")]
            if _canonical(base) == _canonical(stem):
                return path
        return None

    path = find()
    if path is None:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                sdists,
                pkg.requirement,
            ],
            f"pip download {pkg.requirement}",
        )
        path = find()
        if path is None:
            raise RuntimeError(f"pip download {pkg.requirement} gave no sdist in {sdists}")
    digest = _sha256(path)
    if digest != pkg.sha256:
        raise RuntimeError(f"{path}: sha256 {digest}, thirdparty.toml pins {pkg.sha256}")
    return path


def _venv_python(venv: str) -> str:
    return os.path.join(venv, "bin", "python")


def prepare(pkg: Package, common: list[str], venvs: str) -> tuple[str, str]:
    """The venv's python and the unpacked test tree for ``pkg`` on this
    interpreter, made when missing or when the pins changed."""
    sdist = fetch_sdist(pkg, os.path.join(venvs, "sdists"))
    root = os.path.abspath(os.path.join(venvs, f"{sys.version_info[0]}.{sys.version_info[1]}", pkg.name))
    venv, src = os.path.join(root, "venv"), os.path.join(root, "src")
    deps = [d for d in [*common, *pkg.deps] if _dep_name(d) != _canonical(pkg.name)]
    stamp_text = json.dumps(
        {"python": sys.version, "base": sys.base_prefix, "sdist": pkg.sha256, "deps": deps, "modules": pkg.modules}
    )
    stamp = os.path.join(root, "ready")
    try:
        with open(stamp) as f:
            ready = f.read() == stamp_text
    except OSError:
        ready = False
    if not ready:
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        # venv from inside a venv makes one of the base interpreter
        _run([sys.executable, "-m", "venv", venv], f"python -m venv {venv}")
        _run(
            [_venv_python(venv), "-m", "pip", "install", "-q", "--disable-pip-version-check", sdist, *deps],
            f"pip install {os.path.basename(sdist)} {' '.join(deps)}",
        )
        with tarfile.open(sdist) as tar:
            tar.extractall(src, filter="data")
        with open(stamp, "w") as f:
            f.write(stamp_text)
    # splice: a link to the package running this command (see the docstring)
    site = subprocess.run(
        [_venv_python(venv), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    link = os.path.join(site, "splice")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.islink(link) and os.readlink(link) != here:
        os.unlink(link)
    if not os.path.lexists(link):
        os.symlink(here, link)
    (top,) = os.listdir(src)
    return _venv_python(venv), os.path.join(src, top)


def _copy_tree(tree: str, pkg: Package, dest: str) -> None:
    """Copy the unpacked sdist to ``dest`` without the package's own top-level
    source (a flat layout's ``pkg/``), unless tests live inside it."""
    shutil.copytree(tree, dest, symlinks=True)
    for mod in pkg.modules:
        if any(t == mod or t.startswith(mod + "/") for t in pkg.tests):
            continue
        for path in (os.path.join(dest, mod), os.path.join(dest, mod + ".py")):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.unlink(path)


def run_child(pkg: Package, mode: str, python: str, tree: str) -> Outcome:
    """Run :func:`child` in the package's venv, in a copy of its test tree; a
    crash, a timeout or pytest giving up is an :class:`Outcome` too."""
    fd, out = tempfile.mkstemp(suffix=".json", prefix=f"splice-torture-{pkg.name}-")
    os.close(fd)
    cmd = [python, "-m", "splice.tools.thirdparty", "--child", pkg.name, "--mode", mode, "--out", out]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONSAFEPATH"] = "1"  # the working directory is not on sys.path
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix=f"splice-torture-{pkg.name}-{mode}-") as tmp:
            cwd = os.path.join(tmp, "src")
            _copy_tree(tree, pkg, cwd)
            proc = run_watched(cmd, out, CHILD_TIMEOUT, cwd=cwd, env=env)
        if proc.killed:
            tail = (proc.stdout[-1500:] + "\n" + proc.stderr[-1500:]).strip()
            return Outcome(pkg.name, mode, crashed=f"{proc.killed}\n{tail}", seconds=time.monotonic() - start)
        try:
            with open(out) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError):
            tail = (proc.stdout[-1500:] + "\n" + proc.stderr[-1500:]).strip()
            return Outcome(pkg.name, mode, crashed=f"exit status {proc.returncode}\n{tail}")
    finally:
        for leftover in (out, out + ".part"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    # pytest's own exit statuses: 0 passed, 1 some failed; anything else
    # (interrupted, internal error, usage error, no tests) is not a result
    if data["exit_status"] not in (0, 1):
        return Outcome(pkg.name, mode, crashed=f"pytest exit status {data['exit_status']}\n{proc.stdout[-1500:]}")
    if data["outside"]:
        return Outcome(pkg.name, mode, crashed="imported outside the venv: " + "; ".join(data["outside"][:5]))
    return Outcome(
        pkg.name,
        mode,
        tests=data["tests"],
        failures=data["failures"],
        errors=data["errors"],
        skipped=data["skipped"],
        functions=data.get("functions", 0),
        reprs=data.get("reprs", {}),
        seconds=time.monotonic() - start,
    )


def run(names: list[str], modes: list[str], jobs: int, venvs: str) -> int:
    """Entry point of ``python -m splice torture --thirdparty [PKG ...]``."""
    common, pkgs = load_config()
    unknown = [n for n in names if n not in pkgs]
    if unknown:
        print(f"unknown packages {unknown}; choose from {', '.join(pkgs)}", file=sys.stderr)
        return 2
    chosen = [pkgs[n] for n in (names or list(pkgs))]
    start = time.monotonic()
    print(f"python {sys.version.split()[0]}: third-party torture, venvs under {os.path.abspath(venvs)}")
    prepared: dict[str, tuple[str, str]] = {}
    setup_failed: dict[str, str] = {}
    for pkg in chosen:
        try:
            prepared[pkg.name] = prepare(pkg, common, venvs)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            setup_failed[pkg.name] = str(e)
        selection = " ".join(pkg.selection())
        print(
            f"  {pkg.requirement:<24} modules {', '.join(pkg.modules)}; tests: {' '.join(pkg.tests)}"
            + (f" (subset: {selection})" if selection else " (the whole suite)")
        )
    print(f"  set-up {time.monotonic() - start:.0f}s")

    def one(job: tuple[Package, str]) -> Outcome:
        pkg, mode = job
        if pkg.name in setup_failed:
            return Outcome(pkg.name, mode, crashed="set-up failed: " + setup_failed[pkg.name])
        python, tree = prepared[pkg.name]
        return run_child(pkg, mode, python, tree)

    work = [(pkg, mode) for pkg in chosen for mode in ("none", *modes)]
    with ThreadPoolExecutor(jobs) as pool:
        outcomes = list(pool.map(one, work))
    results = {(pkg.name, mode): o for (pkg, mode), o in zip(work, outcomes, strict=True)}
    names_run = [p.name for p in chosen]
    totals: dict[str, Totals] = {}
    for mode in modes:
        print(f"python {sys.version.split()[0]}, mode {mode}")
        totals[mode] = print_table(names_run, mode, results, label="package")
    print(
        "seconds per run: "
        + "; ".join(
            f"{n} " + " ".join(f"{m} {results[(n, m)].seconds:.0f}" for m in ("none", *modes)) for n in names_run
        )
    )
    print(f"({time.monotonic() - start:.0f}s; failures and errors are those the untouched run does not have)")
    for mode, t in totals.items():
        print(
            f"torture-thirdparty {mode}: {len(chosen)} packages, {t.tests} tests, "
            f"{t.failures} failures, {t.errors} errors, {t.crashes} crashes"
        )
    return 0 if all(t.failures == t.errors == t.crashes == 0 for t in totals.values()) else 1


def main(argv: list[str] | None = None) -> int:
    """The child entry point (the parent is ``python -m splice torture --thirdparty``)."""
    p = argparse.ArgumentParser(prog="python -m splice.tools.thirdparty")
    p.add_argument("--child", required=True)
    p.add_argument("--mode", required=True, choices=list(REWRITERS))
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    child(args.child, args.mode, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
