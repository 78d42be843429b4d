"""The probes of one ``run``: where each was installed and what it recorded.

A :class:`Session` owns a private :class:`splice.NoPdb` that is running on
every thread and is not on any thread's NoPdb stack, so the script's own use
of splice (``splice.capture_call`` etc.) neither sees nor pauses the
command-line probes.
"""

from __future__ import annotations

import pathlib
import sys
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import Any, Optional

from splice.breakpoint import Breakpoint
from splice.capture import CallListCapture
from splice.cli.args import ProbeSpec
from splice.cli.targets import QualScope, TargetSpec, available, module_file, scope_for
from splice.lifecycle import Managed, sync
from splice.nopdb import NoPdb
from splice.patcher import PATCHER
from splice.resolve import Scope, ScopeError

__all__ = ["Install", "ProbeState", "Session"]


class _CliNoPdb(NoPdb):
    """Always running once started, on every thread (imports may happen in
    any thread), and never pushed on a thread's NoPdb stack."""

    def _is_running(self) -> bool:
        return self._started

    def start(self) -> None:
        with PATCHER.lock:
            self._started = True
            sync(list(self._items.values()))

    def stop(self) -> None:
        with PATCHER.lock:
            self._started = False
            sync(list(self._items.values()))


@dataclass
class Install:
    """One place a probe went: a module (or the script) and what it holds."""

    module: str
    file: str
    functions: list[dict[str, Any]]  # {"function", "file", "first_line", "lines"}
    capture: Optional[CallListCapture] = None
    counter: Optional[Breakpoint] = None  # entry hit counter of a capture
    breakpoint: Optional[Breakpoint] = None
    evals: list[list[Any]] = field(default_factory=list)  # one result list[Any] per --eval
    # What was recorded before this process was forked from its parent (the
    # parent's records, inherited with its memory); see Session.rebase.
    base_calls: int = 0
    base_hits: int = 0
    base_evals: list[int] = field(default_factory=list)

    def items(self) -> list[Managed]:
        """The probe objects this install made."""
        return [x for x in (self.capture, self.counter, self.breakpoint) if x is not None]

    def calls(self) -> list[Any]:
        """The calls this process recorded (a capture; ``[]`` otherwise)."""
        return list(self.capture)[self.base_calls:] if self.capture is not None else []

    def hits(self) -> Optional[int]:
        """Hits counted in this process (``None``: a breakpoint that does not count)."""
        h = self._raw_hits()
        return None if h is None else max(0, h - self.base_hits)

    def eval_values(self, i: int) -> list[Any]:
        """The values of the ``i``-th ``--eval`` recorded in this process."""
        base = self.base_evals[i] if i < len(self.base_evals) else 0
        return list(self.evals[i])[base:]

    def _raw_hits(self) -> Optional[int]:
        if self.counter is not None:
            return self.counter.hits or 0
        if self.breakpoint is not None:
            return self.breakpoint.hits
        return 0

    def rebase(self) -> None:
        """Forget (for reporting) what was recorded so far: called in a child
        right after ``fork``, which copied the parent's records."""
        self.base_calls = len(self.capture) if self.capture is not None else 0
        self.base_hits = self._raw_hits() or 0
        self.base_evals = [len(v) for v in self.evals]


@dataclass
class ProbeState:
    """A probe from the command line and its fate."""

    spec: ProbeSpec
    installs: list[Install] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # why the target module never existed, when its code raised as it was
    # imported: "the import of module M failed (ImportError: ...)"
    import_failed: Optional[str] = None


def _where(code: CodeType, at: Any) -> dict[str, Any]:
    return {
        "function": getattr(code, "co_qualname", code.co_name),
        "file": code.co_filename,
        "first_line": code.co_firstlineno,
        "lines": None if at is None or at == "entry" else list(at),
    }


class Session:
    """Creates the probes of a ``run`` where their targets appear."""

    def __init__(self, probes: list[ProbeSpec], max_calls: int = 100) -> None:
        self.states = [ProbeState(p) for p in probes]
        self.max_calls = max_calls
        self.nopdb = _CliNoPdb()
        self.nopdb.start()
        self._index_targets()
        #: modules :meth:`on_module` has seen (set or failed: not tried again at start)
        self.seen_modules: set[str] = set()

    def _index_targets(self) -> None:
        self._file_targets = {s.spec.target.file for s in self.states if s.spec.target.file is not None}
        self._module_targets = {s.spec.target.module for s in self.states if s.spec.target.module is not None}

    def retarget_main(self, file: pathlib.Path) -> None:
        """Make every ``__main__:FUNC`` target a target on ``file``, the
        file ``run`` runs as ``__main__``: the same as naming it by path
        (also in the child processes that run that file), and the only
        name for a zip application's ``__main__.py``."""
        for s in self.states:
            t = s.spec.target
            if t.module == "__main__":
                s.spec.target = TargetSpec(t.text, file=file, qualname=t.qualname)
        self._index_targets()

    # -- matching -------------------------------------------------------------

    def matching(self, name: Optional[str], file: Optional[pathlib.Path]) -> list[ProbeState]:
        """The probes whose target is module ``name`` or file ``file``."""
        out = []
        for s in self.states:
            t = s.spec.target
            by_module = t.module is not None and t.module == name
            if by_module or (t.file is not None and file is not None and t.file == file):
                out.append(s)
        return out

    def wants(self, name: str) -> bool:
        """Could module ``name`` be a target? (file targets: any module may be)"""
        return bool(self._file_targets) or name in self._module_targets

    # -- installing -------------------------------------------------------------

    def install(self, state: ProbeState, file: pathlib.Path, module: Optional[ModuleType], label: str) -> Install:
        """Create the probe of ``state`` on the functions of ``file``
        (``module`` is the imported module, ``None`` for the script); raises
        whatever splice raises (ScopeError, LocateError, SnippetError...),
        leaving nothing installed."""
        spec = state.spec
        scope = scope_for(spec.target, file, module)
        made: list[Managed] = []
        try:
            return self._install(state, scope, file, label, made)
        except ScopeError as e:
            if isinstance(scope, QualScope):  # say what exists instead of resolve's generic hint
                raise ScopeError(f"no function {spec.target.qualname!r} in {file}{available(file)}") from e
            raise

    def _install(self, state: ProbeState, scope: Scope, file: pathlib.Path, label: str, made: list[Any]) -> Install:
        spec = state.spec
        try:
            if spec.kind == "capture":
                cap = CallListCapture(self.nopdb, scope, max_calls=self.max_calls, eager=True)
                made.append(cap)
                # counts every call, also those past --max-calls
                counter = Breakpoint(self.nopdb, scope, line=None)
                made.append(counter)
                counter.count_hits()
                inst = Install(label, str(file), [_where(c, None) for c in cap.targets], capture=cap, counter=counter)
            else:
                bp = Breakpoint(self.nopdb, scope, line=spec.line, cond=spec.cond)
                made.append(bp)
                inst = Install(label, str(file), [_where(c, at) for c, at in bp.targets], breakpoint=bp)
                if not spec.evals:
                    bp.count_hits()  # hits of an exec-only breakpoint are not counted otherwise
                for kind, text in spec.actions:
                    if kind == "eval":
                        inst.evals.append(bp.eval(text))
                    else:
                        bp.exec(text)
        except BaseException:
            for m in made:
                try:
                    m.disable()
                except Exception:
                    pass
            raise
        state.installs.append(inst)
        return inst

    def on_module(self, module: ModuleType) -> None:
        """Install the probes whose target is ``module`` (just imported).
        Never raises: a failure is recorded and reported on stderr at once."""
        name = getattr(module, "__name__", None)
        file = module_file(module)
        if name:
            self.seen_modules.add(name)
        for state in self.matching(name, file):
            if file is None:
                self._fail(state, f"module {name} has no source file")
                continue
            try:
                self.install(state, file, module, name or str(file))
            except Exception as e:
                self._fail(state, f"in module {name}: {type(e).__name__}: {e}")

    def on_import_failed(self, module: ModuleType, exc: BaseException) -> None:
        """A target module's code raised while it was imported: note why,
        for the probes on it that are not set anywhere yet."""
        name = getattr(module, "__name__", None)
        try:
            why = " ".join(str(exc).split())
        except Exception:
            why = "<str() failed>"
        why = why if len(why) <= 300 else why[:297] + "..."
        exc_text = f"{type(exc).__qualname__}: {why}" if why else type(exc).__qualname__
        for state in self.matching(name, module_file(module)):
            if not state.installs:
                state.import_failed = f"the import of module {name} failed ({exc_text})"

    def _fail(self, state: ProbeState, msg: str) -> None:
        state.errors.append(msg)
        try:
            print(f"splice run: {state.spec.describe()}: {msg}", file=sys.stderr, flush=True)
        except Exception:
            pass

    def rebase(self) -> None:
        """Start counting afresh in this process (a forked child): hits,
        calls and values recorded before the fork belong to the parent."""
        for s in self.states:
            for inst in s.installs:
                inst.rebase()

    def stop(self) -> None:
        """Remove every probe (the original code objects are back)."""
        for s in self.states:
            for inst in s.installs:
                for m in inst.items():
                    try:
                        m.disable()
                    except Exception:
                        pass
        try:
            self.nopdb.stop()
        except Exception:
            pass
