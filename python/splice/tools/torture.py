"""`python -m splice torture`: rewrite every function of stdlib modules and
run CPython's own test suites for them.

Mode ``pad`` replaces the ``__code__`` of every function and method defined in
each module (nested functions too, through their parents' ``co_consts``) with
a re-assembled copy that has a NOP before every instruction that starts a
line. That moves every offset, jump, exception-table range and location
entry, so any assembler bug shows up as a failing test or a crash.

Each module's tests run twice in child processes, once untouched (the
baseline) and once rewritten, so a crash is counted instead of killing the
run, and a test that fails both ways is reported separately instead of being
blamed on (or hidden by) the rewrite.

``--thirdparty [PKG ...]`` does the same to pure-Python third-party packages
and their own pytest suites, each in a throwaway venv (``thirdparty.py``,
packages pinned in ``thirdparty.toml``). ``--mode all`` runs pad, probe and
capture against one untouched run; ``lazy`` runs the tests inside
``splice.capture_call()`` with no scope (every function instrumented at its
first call).
"""

from __future__ import annotations

import argparse
import dis
import gc
import importlib.abc
import importlib.machinery
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import types
import unittest
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from splice._native import CaptureHooks, LineProbe, Recorder, instrument, testing
from splice.actions import HitCell
from splice.errors import LocateError
from splice.patcher import replace_code

#: module -> CPython test module that exercises it.
MODULES: dict[str, str] = {
    name: f"test.test_{name}"
    for name in (
        "json textwrap difflib heapq bisect fractions statistics shlex string dataclasses "
        "enum argparse configparser ipaddress pathlib tomllib csv calendar pprint inspect "
        "re collections functools contextlib"
    ).split()
}

#: Modules left out of the default run for time (asyncio alone takes about 7
#: minutes in lazy mode on 3.15): ``--modules slow`` runs all of them, or
#: name any. A wider net for changes to the hooks, the lifecycle or the
#: lazy scopes (this table found a leak of closed generators' frames, a
#: fork deadlock and a capture keeping abandoned asyncio tasks alive).
#: test_threading is not here: its ``interrupt_main`` recursion test runs
#: forever on some machines without splice too.
SLOW_MODULES: dict[str, str] = {
    name: f"test.test_{test or name}"
    for name, _, test in (
        entry.partition("=")
        for entry in (
            "asyncio email _pydecimal=decimal datetime typing traceback tokenize copy pickle logging "
            "queue weakref tempfile shutil zipfile tarfile gettext base64 operator random uuid "
            "graphlib optparse ast urllib=urlparse html=htmlparser unittest"
        ).split()
    )
}

MODES = ("none", "pad", "probe", "capture", "lazy")

#: Seconds one child may run before it is killed and counted as a crash.
CHILD_TIMEOUT = 900

#: Seconds a child may take to exit once it has written its results. A
#: child that hangs at interpreter shutdown (a non-daemon thread that never
#: ends) is killed after this and counted as a crash that says so, instead
#: of holding the run for the whole CHILD_TIMEOUT.
EXIT_GRACE = 120


@dataclass
class ChildRun:
    """What :func:`run_watched` saw of one child process."""

    returncode: Optional[int]
    stdout: str
    stderr: str
    #: why it was killed ("" if it exited by itself)
    killed: str = ""


def write_results(path: str, payload: dict[str, Any]) -> None:
    """Write a child's results so that the parent sees all of them or none:
    the parent watches ``path`` to know the results are in."""
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, path)


def run_watched(
    cmd: list[str], results: str, timeout: float, grace: float = EXIT_GRACE, **popen: Any
) -> ChildRun:
    """Run ``cmd`` with its output captured; kill it after ``timeout``
    seconds, or ``grace`` seconds after it wrote ``results`` (a non-empty
    file: :func:`write_results`) without exiting."""
    start = time.monotonic()
    written: Optional[float] = None
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen) as proc:
        while True:
            try:
                out, err = proc.communicate(timeout=2)
                return ChildRun(proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if written is None and os.path.exists(results) and os.path.getsize(results) > 0:
                written = now
            if now - start > timeout:
                why = f"timed out after {timeout:.0f}s"
            elif written is not None and now - written > grace:
                why = f"wrote its results, then did not exit within {grace:.0f}s (hung at shutdown)"
            else:
                continue
            proc.kill()
            out, err = proc.communicate()
            return ChildRun(proc.returncode, out, err, killed=why)

_HIDDEN_LOCAL = (
    "a captured generator's frame holds splice's hidden local _splice_call while the call runs "
    "(documented in splice.capture); on 3.11 the lazy capture instruments a generator at its first "
    "call, on 3.12+ that call runs the original code"
)

#: Failures that are documented differences, not defects: the test (its
#: ``Class.method``) -> (the text its failure must show, why). A failure of
#: such a test without that text counts as any other; one with it is listed
#: as a documented difference and not counted.
DOCUMENTED_DIFFERENCES: dict[str, tuple[str, str]] = {
    "TestGetGeneratorState.test_getgeneratorlocals": ("'_splice_call'", _HIDDEN_LOCAL),
    "TestGetGeneratorState.test_getgeneratorlocals_empty": ("'_splice_call'", _HIDDEN_LOCAL),
    "TestGetCoroutineState.test_getcoroutinelocals": ("'_splice_call'", _HIDDEN_LOCAL),
}


def _documented(test: Any, traceback_text: str) -> str:
    """Why a failure of ``test`` is a documented difference
    (:data:`DOCUMENTED_DIFFERENCES`), or "" when it is not one."""
    key = f"{type(test).__name__}.{getattr(test, '_testMethodName', '')}"
    shows, why = DOCUMENTED_DIFFERENCES.get(key, ("", ""))
    return why if shows and shows in traceback_text else ""


# --------------------------------------------------------------------------
# Child side: rewrite, then run the tests.


def _rewrite_pad(code: types.CodeType) -> types.CodeType:
    return testing.pad_code(code)


# Counting probes: one per line that has code, each with its own counter.
# The snippets reference no variables, so one template fits every function.
# Plain mode counts with an inline `_splice_hits.n += 1` (no call at all, so
# not even CPython's recursion-limit tests can tell); parity mode counts with
# a native counter that only counts while a trace function is installed, so
# code run under CPython's support.no_tracing compares like for like.
def _template(src: str) -> types.CodeType:
    return next(c for c in compile(src, "<splice>", "exec").co_consts if isinstance(c, types.CodeType))


COUNT_INLINE = _template("def _t():\n    _splice_hits.n += 1\n")
COUNT_CALL = _template("def _t():\n    _splice_hit()\n")
PARITY = {"on": False}


class InlineHits:
    """A counter object the probe increments in place (the same slot
    counter as ``count_hits``: hashable, and no recursion level on 3.11)."""

    __slots__ = ("cell",)

    def __init__(self) -> None:
        self.cell = HitCell()

    @property
    def count(self) -> int:
        """Hits counted so far."""
        return self.cell.n


#: A hit counter: inline (a slot counter) or native (``testing.Counter.hit``).
HitCounter = Union[testing.Counter, InlineHits]

# Keyed by id(): code objects compare by value, and CPython's tests import
# fresh copies of modules whose code objects are equal but distinct.
#: (id(original code), line) -> hit counter
PROBE_COUNTERS: dict[tuple[int, int], HitCounter] = {}
#: id(instrumented code) -> (instrumented, original); keeps both alive
ORIGINAL_OF: dict[int, tuple[types.CodeType, types.CodeType]] = {}


def probe_lines(code: types.CodeType) -> list[int]:
    """The lines of ``code`` where a counting probe goes: every line with
    code after the first ``RESUME``."""
    first_resume = next(
        (i.offset for i in dis.get_instructions(code) if i.opname == "RESUME"), 0
    )
    # end, not start: the first instruction after RESUME may share the def
    # line's line-table entry with RESUME (a class body's first store, an
    # f-string the optimizer built from `%`), and settrace reports it
    return sorted(
        {line for _, end, line in code.co_lines() if line is not None and end > first_resume + 2}
    )


def counting_probe(line: int, counter: HitCounter) -> LineProbe:
    """A probe that counts the hits of ``line`` in ``counter``."""
    if isinstance(counter, InlineHits):
        return LineProbe([line], COUNT_INLINE, {"_splice_hits": counter.cell})
    return LineProbe([line], COUNT_CALL, {"_splice_hit": counter.hit})


def instrument_counting(
    code: types.CodeType, make_counter: Callable[[], HitCounter]
) -> tuple[types.CodeType, dict[int, HitCounter]]:
    """``code`` with a counting probe on every line of :func:`probe_lines`,
    and the counter of each line. A line where no 'line' event can fire is
    refused by the rewriter (:class:`~splice.LocateError`) and skipped."""
    counters = {line: make_counter() for line in probe_lines(code)}
    probes = {line: counting_probe(line, c) for line, c in counters.items()}
    try:
        return instrument(code, list(probes.values())), counters
    except LocateError:
        pass
    kept: dict[int, LineProbe] = {}
    for line, p in probes.items():
        try:
            instrument(code, [p])
        except LocateError:
            continue
        kept[line] = p
    new = instrument(code, list(kept.values())) if kept else code
    return new, {line: counters[line] for line in kept}


def _rewrite_probe(code: types.CodeType) -> types.CodeType:
    if not probe_lines(code):
        return code
    make: Callable[[], HitCounter] = (
        (lambda: testing.Counter(only_when_tracing=True)) if PARITY["on"] else InlineHits
    )
    new, counters = instrument_counting(code, make)
    for line, counter in counters.items():
        PROBE_COUNTERS[(id(code), line)] = counter
    ORIGINAL_OF[id(new)] = (new, code)
    return new


# The real native capture hooks (python/splice/capture.py), recording every
# call (arguments, stack, a locals snapshot on exit and error) into a recorder
# that counts the records and drops them; they add no Python frame.
_CAPTURE_RECORDER: list[Recorder] = []


def _rewrite_capture(code: types.CodeType) -> types.CodeType:
    from splice.capture import CallInfo, capture_probe
    from splice.template import ScopeInfo

    if not _CAPTURE_RECORDER:
        rec = Recorder(None, "discard", CallInfo)
        rec.set_live(True)
        _CAPTURE_RECORDER.append(rec)
    hooks = CaptureHooks(_CAPTURE_RECORDER[0], code, ScopeInfo.from_code(code).arg_names)
    return instrument(code, [capture_probe(hooks, code)])


REWRITERS: dict[str, Callable[[types.CodeType], types.CodeType] | None] = {
    "none": None,
    "pad": _rewrite_pad,
    "probe": _rewrite_probe,
    "capture": _rewrite_capture,
    "lazy": None,  # no rewrite up front: see _lazy_capture
}


def _unexpected_hook_errors(errors: list[BaseException]) -> list[BaseException]:
    """The hook errors of a lazy-mode run that count as failures: all but
    RecursionError. Tests that recurse to the limit on purpose (json's
    deeply nested objects) run the hooks with the stack nearly full; on
    3.14+, which checks the C stack itself, a hook's call of ``transform``
    there can raise RecursionError, which the capture records and the call
    never sees (most often in a debug build, whose native frames are larger)."""
    return [e for e in errors if not isinstance(e, RecursionError)]


def _lazy_capture() -> Any:
    """Mode ``lazy``: the tests run inside ``splice.capture_call()`` with no
    scope, which instruments every pure-Python function at its first call in
    the block (splice.first_calls: a sys.monitoring event on 3.12+, splice's
    frame evaluator on 3.11, which calls the function again on the
    instrumented code instead of running the frame it was asked about). Every
    function the tests run (the module's, the tests', unittest's) goes
    through that path once. ``capture_call`` keeps only the last call's
    record, with its values dropped (``transform``): a record keeps the
    exception of a call that raised, and with it the frames of its
    traceback, which CPython's tests check are freed."""
    import splice

    return splice.capture_call(transform=lambda v: None, keep_locals=())


class LineEventCounter:
    """Counts sys.settrace 'line' events per (original code, line) for the
    instrumented code objects only: the oracle the probe counts must equal."""

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int], int] = {}

    def global_trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        """The ``sys.settrace`` function: trace instrumented code objects only."""
        if event == "call" and id(frame.f_code) in ORIGINAL_OF:
            return self.local_trace
        return None

    def local_trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        """The frame's trace function: count its 'line' events."""
        if event == "line":
            key = (id(ORIGINAL_OF[id(frame.f_code)][1]), frame.f_lineno)
            self.counts[key] = self.counts.get(key, 0) + 1
        return self.local_trace


def parity(counter: LineEventCounter) -> dict[str, Any]:
    """Compare probe hit counts with settrace line events, per (code, line)."""
    lines = differing = 0
    examples: list[str] = []
    code_of = {id(orig): orig for _, orig in ORIGINAL_OF.values()}
    keys = set(PROBE_COUNTERS) | set(counter.counts)
    for key in keys:
        code, line = code_of[key[0]], key[1]
        probe = PROBE_COUNTERS[key].count if key in PROBE_COUNTERS else 0
        traced = counter.counts.get(key, 0)
        if probe == 0 and traced == 0:
            continue
        lines += 1
        if probe != traced:
            differing += 1
            if len(examples) < 15:
                examples.append(f"{code.co_qualname} ({code.co_filename}:{line}): probe {probe}, settrace {traced}")
    return {"lines": lines, "differing": differing, "examples": examples}


class CodeRewriter:
    """Rewrites code objects bottom-up (nested code objects first, then the
    parent with the new constants), remembering each result so that every
    function sharing a code object gets the same replacement."""

    def __init__(self, rewrite: Callable[[types.CodeType], types.CodeType]):
        self.rewrite = rewrite
        self.done: dict[int, tuple[types.CodeType, types.CodeType]] = {}
        # Results, so that a function already rewritten (e.g. of an earlier
        # copy of a module imported again) is not rewritten twice.
        self.results: dict[int, types.CodeType] = {}
        self.count = 0

    def __call__(self, code: types.CodeType) -> types.CodeType:
        """The rewritten copy of ``code`` (the same object for the same code)."""
        if self.results.get(id(code)) is code:
            return code
        hit = self.done.get(id(code))
        if hit is not None and hit[0] is code:
            return hit[1]
        consts = tuple(self(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
        unchanged = all(a is b for a, b in zip(consts, code.co_consts, strict=True))
        base = code if unchanged else code.replace(co_consts=consts)
        new = self.rewrite(base)
        self.done[id(code)] = (code, new)
        self.results[id(new)] = new
        self.count += 1
        return new


def in_packages(modname: str, names: set[str] | frozenset[str]) -> bool:
    """Whether module ``modname`` is one of ``names`` or inside one of them."""
    return modname in names or any(modname.startswith(n + ".") for n in names)


def _module_files(names: set[str], exclude: frozenset[str] = frozenset()) -> set[str]:
    files = set()
    for modname, mod in list(sys.modules.items()):
        if in_packages(modname, names) and not in_packages(modname, exclude):
            f = getattr(mod, "__file__", None)
            if f and f.endswith(".py"):
                files.add(os.path.realpath(f))
    return files


def rewrite_functions(files: set[str], rewriter: CodeRewriter) -> int:
    """Replace ``__code__`` of every live function defined in `files`."""
    n = 0
    real: dict[str, str] = {}
    for obj in gc.get_objects():
        # the exact type: a Mock(spec=function) passes isinstance, and its
        # __code__ is a Mock (unittest's mock tests made some)
        if type(obj) is not types.FunctionType:
            continue
        fname = obj.__code__.co_filename
        path = real.get(fname)
        if path is None:
            path = real[fname] = os.path.realpath(fname)
        if path in files:
            new = rewriter(obj.__code__)
            if new is not obj.__code__:
                replace_code(obj, new)  # keeps its calls specializable (3.13+)
                n += 1
    return n


class _RewritingLoader(importlib.abc.Loader):
    """Wraps a module's loader: after the module runs, rewrite its functions."""

    def __init__(self, inner: importlib.abc.Loader, hook: Callable[[types.ModuleType], None]):
        self.inner = inner
        self.hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.inner.exec_module(module)
        self.hook(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _RewritingFinder(importlib.abc.MetaPathFinder):
    """Rewrites target modules however they are (re)imported, including the
    fresh copies that CPython's tests make with ``import_fresh_module``."""

    def __init__(
        self, targets: set[str], hook: Callable[[types.ModuleType], None], exclude: frozenset[str] = frozenset()
    ):
        self.targets = targets
        self.hook = hook
        self.exclude = exclude

    def find_spec(
        self, fullname: str, path: Any, target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if not in_packages(fullname, self.targets) or in_packages(fullname, self.exclude):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _RewritingLoader(spec.loader, self.hook)
        return spec


def install_rewriting_hook(
    rewrite: Callable[[types.CodeType], types.CodeType],
    targets: set[str],
    stats: dict[str, int],
    exclude: frozenset[str] = frozenset(),
) -> CodeRewriter:
    """Rewrite every module of ``targets`` (not of ``exclude``) with
    ``rewrite`` as it is imported, counting rewritten functions in
    ``stats["functions"]``; returns the rewriter."""
    rewriter = CodeRewriter(rewrite)

    def hook(mod: types.ModuleType) -> None:
        f = getattr(mod, "__file__", None)
        if f:
            stats["functions"] += rewrite_functions({os.path.realpath(f)}, rewriter)

    sys.meta_path.insert(0, _RewritingFinder(targets, hook, exclude))
    return rewriter


def child(module: str, mode: str, out_path: str, with_parity: bool = False) -> None:
    """Rewrite `module` per `mode`, run its CPython tests, write a JSON result."""
    rewrite = REWRITERS[mode]
    PARITY["on"] = with_parity
    targets = {module}
    stats = {"functions": 0, "code_objects": 0}
    if rewrite is not None:
        rewriter = install_rewriting_hook(rewrite, targets, stats)
        __import__(module)
        stats["functions"] += rewrite_functions(_module_files(targets), rewriter)
    suite = unittest.defaultTestLoader.loadTestsFromName({**MODULES, **SLOW_MODULES}[module])
    stream = io.StringIO()
    counter = LineEventCounter() if with_parity else None
    if counter is not None:
        import threading

        threading.settrace(counter.global_trace)
        sys.settrace(counter.global_trace)
    lazy = _lazy_capture() if mode == "lazy" else None
    lazy_errors: list[str] = []
    try:
        if lazy is not None:
            with lazy:
                result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
            stats["functions"] = len(lazy.targets)
            from splice.patcher import PATCHER

            bad = _unexpected_hook_errors(lazy.hook_errors)
            if bad:
                lazy_errors.append(f"lazy capture: {len(bad)} hook errors, first {bad[0]!r}")
            if not PATCHER.is_idle():
                lazy_errors.append("lazy capture: something is still patched after the block")
            if lazy.name is None:
                lazy_errors.append("lazy capture: no call was recorded")
            del lazy
        else:
            result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)
    finally:
        if counter is not None:
            sys.settrace(None)
            threading.settrace(None)  # type: ignore[arg-type,unused-ignore]  # typeshed: a function
    if rewrite is not None:
        stats["code_objects"] = rewriter.count
    documented: dict[str, str] = {}
    if mode != "none":
        documented = {str(t): why for t, tb in result.failures if (why := _documented(t, tb))}
    payload = {
        "module": module,
        "mode": mode,
        "tests": result.testsRun,
        "failures": sorted(str(t) for t, _ in result.failures if str(t) not in documented),
        "documented": sorted(f"{name}: {why}" for name, why in documented.items()),
        "errors": sorted([str(t) for t, _ in result.errors] + lazy_errors),
        "skipped": len(result.skipped),
        "details": stream.getvalue()[-4000:] if (result.failures or result.errors) else "",
        **stats,
    }
    if counter is not None:
        payload["parity"] = parity(counter)
    write_results(out_path, payload)


# --------------------------------------------------------------------------
# Parent side: run children, compare with the baseline, report.


@dataclass
class Outcome:
    """One child run's result, as the parent reports it."""

    module: str
    mode: str
    tests: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    crashed: str | None = None
    functions: int = 0
    details: str = ""
    parity: dict[str, Any] | None = None
    #: failure or error name -> its traceback text (third-party runs), so
    #: that only the new ones are printed
    reprs: dict[str, str] = field(default_factory=dict)
    #: wall-clock seconds the child ran
    seconds: float = 0.0
    #: "Exception ignored ..." messages the child printed (errors that
    #: sys.unraisablehook got: in a finaliser, a callback, a hook), and the
    #: first of them
    unraisable: int = 0
    first_unraisable: str = ""
    #: failures that are documented differences (DOCUMENTED_DIFFERENCES)
    documented: list[str] = field(default_factory=list)


@dataclass
class Totals:
    """What one mode's table adds up to, beyond the untouched run."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    crashes: int = 0
    parity_lines: int = 0
    parity_diff: int = 0
    parity_examples: list[str] = field(default_factory=list)


def print_table(names: list[str], mode: str, results: dict[tuple[str, str], Outcome], label: str = "module") -> Totals:
    """One line per module (or package) for ``mode`` against the untouched
    run: tests, failures and errors the untouched run does not have,
    crashes, functions rewritten; then the new failures with their output."""
    width = max([14, *(len(n) + 2 for n in names)])
    print(f"{label:<{width}}{'tests':>7}{'fail':>6}{'err':>5}{'crash':>7}{'funcs':>7}   baseline fail/err")
    t = Totals()
    for m in names:
        base, run = results[(m, "none")], results[(m, mode)]
        if run.crashed:
            t.crashes += 1
            print(f"{m:<{width}}{'-':>7}{'-':>6}{'-':>5}{'yes':>7}{'-':>7}   crashed: {run.crashed.splitlines()[0]}")
            print("    " + run.crashed.replace("\n", "\n    "))
            continue
        fails = [t for t in run.failures if t not in base.failures and t not in base.errors]
        errs = [t for t in run.errors if t not in base.errors and t not in base.failures]
        if run.unraisable > base.unraisable:
            # an error nothing could raise (a capture hook at the recursion
            # limit wrote one under the user's function): the tests pass,
            # but a user sees "Exception ignored in ..." the untouched run
            # does not print
            errs.append(
                f"{run.unraisable - base.unraisable} more 'Exception ignored' message(s) than the "
                f"untouched run ({run.unraisable} against {base.unraisable}); the first:\n"
                + run.first_unraisable
            )
        t.tests += run.tests
        t.failures += len(fails)
        t.errors += len(errs)
        base_note = "crashed" if base.crashed else f"{len(base.failures)}/{len(base.errors)}"
        print(f"{m:<{width}}{run.tests:>7}{len(fails):>6}{len(errs):>5}{'no':>7}{run.functions:>7}   {base_note}")
        for name in fails + errs:
            print("    NEW: " + name.replace("\n", "\n      "))
        for name_and_why in run.documented:
            print(f"    documented difference, not counted: {name_and_why}")
        if run.parity:
            t.parity_lines += run.parity["lines"]
            t.parity_diff += run.parity["differing"]
            t.parity_examples += run.parity["examples"][:5]
        pre = sorted(set(run.failures + run.errors) - set(fails) - set(errs))
        for name in pre:
            print(f"    fails without rewriting too: {name}")
        if run.reprs:
            for name in fails + errs:
                text = run.reprs.get(name, "")[-3000:]
                print(f"    --- {name}\n    " + text.replace("\n", "\n    "))
        elif fails or errs:
            print("    " + run.details.replace("\n", "\n    "))
    return t


#: how CPython's default sys.unraisablehook starts its message
_UNRAISABLE = "Exception ignored"


def run_child(module: str, mode: str, with_parity: bool = False) -> Outcome:
    """Run :func:`child` in a fresh interpreter; a crash or timeout is an
    :class:`Outcome` too."""
    fd, path = tempfile.mkstemp(suffix=".json", prefix=f"splice-torture-{module}-")
    os.close(fd)
    cmd = [sys.executable, "-m", "splice.tools.torture", "--child", module, "--mode", mode, "--out", path]
    if with_parity:
        cmd.append("--parity")
    # Each child runs in a directory of its own: CPython's tests create
    # files and directories named after the pid or fixed names (argparse's
    # 'packageæ') in the current directory, and the untouched and the
    # rewritten run of one module go in parallel.
    with tempfile.TemporaryDirectory(prefix=f"splice-torture-{module}-{mode}-") as cwd:
        proc = run_watched(cmd, path, CHILD_TIMEOUT, cwd=cwd)
    try:
        if proc.killed:
            return Outcome(module, mode, crashed=f"{proc.killed}\n{(proc.stderr or '')[-1500:]}")
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        tail = (proc.stderr or "")[-1500:]
        return Outcome(module, mode, crashed=f"exit status {proc.returncode}\n{tail}")
    finally:
        for leftover in (path, path + ".part"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    stderr = proc.stderr or ""
    first = stderr.find(_UNRAISABLE)
    second = stderr.find(_UNRAISABLE, first + 1) if first >= 0 else -1
    end = min(first + 1500, second if second > 0 else len(stderr))
    return Outcome(
        module,
        mode,
        unraisable=stderr.count(_UNRAISABLE),
        first_unraisable="" if first < 0 else stderr[first:end].rstrip(),
        documented=data.get("documented", []),
        tests=data["tests"],
        failures=data["failures"],
        errors=data["errors"],
        skipped=data["skipped"],
        functions=data.get("functions", 0),
        details=data.get("details", ""),
        parity=data.get("parity"),
    )


#: The rewriting modes `--mode all` runs, each against one untouched run.
REWRITING_MODES = ("pad", "probe", "capture", "lazy")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m splice torture`."""
    p = argparse.ArgumentParser(prog="python -m splice torture", description=__doc__.splitlines()[0])
    p.add_argument(
        "--mode",
        choices=(*MODES, "all"),
        default="pad",
        help="rewrite to apply (none: just run the tests; lazy: run them inside capture_call() with no "
        "scope; all: pad, probe, capture and lazy against one untouched run)",
    )
    p.add_argument(
        "--modules",
        nargs="*",
        default=list(MODULES),
        help="modules to torture (default: the fast table; 'slow': the slow table, see SLOW_MODULES; "
        "any name from either)",
    )
    p.add_argument(
        "--thirdparty",
        nargs="*",
        metavar="PKG",
        help="torture third-party packages and their own pytest suites instead of the stdlib "
        "(names from splice/tools/thirdparty.toml; none given: all of them)",
    )
    p.add_argument(
        "--venvs",
        default=".torture-venvs",
        help="with --thirdparty: where the throwaway venvs go (DIR/3.X/PKG) and the sdists (DIR/sdists)",
    )
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument(
        "--parity",
        action="store_true",
        help="with --mode probe: also count sys.settrace line events in the same run and compare",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.mode, args.out, args.parity)
        return 0
    if args.mode == "none":
        p.error("--mode none is the baseline every mode is compared with; pick a rewriting mode")
    modes = list(REWRITING_MODES) if args.mode == "all" else [args.mode]
    if args.thirdparty is not None:
        if args.parity:
            p.error("--parity is for the stdlib modules")
        from splice.tools import thirdparty

        return thirdparty.run(args.thirdparty, modes, jobs=args.jobs, venvs=args.venvs)
    args.modules = [n for m in args.modules for n in (SLOW_MODULES if m == "slow" else [m])]
    unknown = [m for m in args.modules if m not in MODULES and m not in SLOW_MODULES]
    if unknown:
        p.error(f"unknown modules {unknown}; choose from {', '.join([*MODULES, *SLOW_MODULES])} or 'slow'")

    start = time.monotonic()
    jobs = [(m, mode) for m in args.modules for mode in ("none", *modes)]
    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = pool.map(lambda j: run_child(j[0], j[1], with_parity=args.parity and j[1] == "probe"), jobs)
        results = dict(zip(jobs, outcomes, strict=True))

    totals: dict[str, Totals] = {}
    for mode in modes:
        print(f"python {sys.version.split()[0]}, mode {mode}")
        totals[mode] = print_table(args.modules, mode, results)
    print(f"({time.monotonic() - start:.0f}s; failures and errors are those the untouched run does not have)")
    if args.parity:
        for t in totals.values():
            for e in t.parity_examples:
                print(f"    parity differs: {e}")
        print(
            f"parity: {sum(t.parity_lines for t in totals.values())} lines, "
            f"{sum(t.parity_diff for t in totals.values())} differing"
        )
    for mode, t in totals.items():
        print(
            f"torture{'' if len(modes) == 1 else ' ' + mode}: {len(args.modules)} modules, {t.tests} tests, "
            f"{t.failures} failures, {t.errors} errors, {t.crashes} crashes"
        )
    return 0 if all(t.failures == t.errors == t.crashes == 0 for t in totals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
