"""Probes in every process of a ``run`` (docs/cli.md, "Child processes").

The parent (``python -m splice run``) writes ``run.json`` into the run's
output directory, and puts ``SPLICE_RUN_DIR`` and
``splice/_bootstrap`` (a ``sitecustomize`` that chains the real one) into
the environment its children inherit. Every process then has one
:class:`ProcessRecorder`:

- **started by exec** (``subprocess``, multiprocessing spawn/forkserver,
  torchrun workers): ``site`` imports the bootstrap ``sitecustomize``,
  which calls :func:`bootstrap` before any user code: the probes are set by
  the same import hook as in the parent (no trace function). If the child's
  own ``__main__`` (``python script.py`` / ``python -m module``) is a target,
  the process re-executes itself, same pid and interpreter flags, as
  ``python -m splice.cli.child script.py ...``, which splices the probes
  into the script's code before it runs, as ``run`` does. A
  multiprocessing spawn child runs the parent's script as ``__mp_main__``
  through ``runpy``: the probes are set right after that
  (``multiprocessing.spawn._fixup_main_from_path``/``_name`` wrapped).
- **forked** (``os.fork``, multiprocessing fork, forkserver children,
  DataLoader workers): the patched code and the recorder come with the
  memory; ``os.register_at_fork(after_in_child=...)`` gives the child its
  own identity and forgets (for reporting) what the parent had recorded.

A child writes a start marker at once and its records when it leaves:
at exit (``atexit``), in ``os._exit`` (wrapped: multiprocessing children
and DataLoader workers leave through it, after ``Process._bootstrap``), and
on SIGTERM (``Pool.terminate()`` and ``Process.terminate()`` send it;
handled only where SIGTERM had its default action: the records are written,
then the signal is raised again with the default action, so the exit status
is unchanged). SIGKILL or a crash loses that process's records; its marker
tells the parent it existed.

A Python signal handler runs only when the main thread executes bytecode or
a blocking call returns with EINTR. A SIGTERM that arrives just before the
main thread blocks in a call that does not look for pending signals first
(the ``sem_wait`` of a multiprocessing lock: a Pool worker going back for
work when ``Pool.terminate()`` signals it) would leave the process blocked
for ever, and its parent joining it. So the child also watches for SIGTERM
on a thread (:func:`_watch_sigterm`): CPython's C handler writes the signal
number to the wakeup fd at once, and the watcher sends SIGTERM to the main
thread again until the handler has run.
"""

from __future__ import annotations

import atexit
import builtins
import importlib.util
import os
import pathlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any, NoReturn, Optional

import splice
from splice.cli.args import ProbeSpec, RunOptions
from splice.cli.hook import ProbeFinder
from splice.cli.procs import (
    ENV_DIR,
    ENV_REEXEC,
    FORMAT,
    RECORD_SUFFIX,
    START_SUFFIX,
    RunConfig,
    identity,
    write_json_atomic,
)
from splice.cli.report import process_entry, process_probes
from splice.cli.session import Session
from splice.cli.targets import module_file

__all__ = ["ProcessRecorder", "bootstrap", "main", "make_session", "rank_from_env"]

_CURRENT: Optional[ProcessRecorder] = None
_FORK_HOOKED = False
_PROBED_MAINS: set[int] = set()  # ids of __mp_main__ modules already probed (inherited by fork)


def rank_from_env() -> Optional[int]:
    """``int(os.environ["RANK"])``, or ``None``."""
    try:
        v = os.environ.get("RANK")
        return int(v) if v else None
    except ValueError:
        return None


def _set_rank_builtin() -> None:
    # ``splice_rank`` for --cond/--exec: a snippet's free name is looked up in
    # the target's module globals, then in builtins; a builtin reaches every
    # target without adding a name to any module (a module's own
    # ``splice_rank`` would win).
    setattr(builtins, "splice_rank", rank_from_env())  # noqa: B010  (mypy: no such attribute)


class ProcessRecorder:
    """The records of one process of a run and when they are written.

    ``role`` is ``"main"`` (the ``splice run`` process: leaving calls
    ``main_finish``, which merges and reports) or ``"child"`` (leaving writes
    ``KEY.splice-proc.json``). ``config`` is ``None`` when children are not
    followed (then nothing is written and forks are ignored)."""

    def __init__(self, session: Session, config: Optional[RunConfig], role: str, how: str,
                 main_finish: Optional[Callable[[str, Optional[int]], None]] = None, silent: bool = False) -> None:
        self.session = session
        self.config = config
        self.role = role
        self.how = how
        self.main_finish = main_finish
        self.silent = silent  # multiprocessing's forkserver: no records, but its forks have
        self.ident = identity(role, how, claim_rank=config is not None and how != "fork")
        self.run_info: Optional[dict[str, Any]] = None  # a re-executed child's own script run
        self._left: Optional[int] = None  # pid that already wrote its records
        self._writing = False  # a SIGTERM now waits until the records are written
        self._term_pending = False

    # -- set-up ---------------------------------------------------------------

    def start(self) -> None:
        """Make this the process's recorder: ``atexit``, and when following
        children the fork hook, ``os._exit`` wrapper, SIGTERM handler (a
        child) and start marker (a child)."""
        global _CURRENT, _FORK_HOOKED
        _CURRENT = self
        _set_rank_builtin()
        atexit.register(_at_exit)
        if self.config is None:
            return
        if not _FORK_HOOKED:
            os.register_at_fork(after_in_child=_after_fork)
            _FORK_HOOKED = True
        _wrap_os_exit()
        if self.role == "child":
            self._install_sigterm()
            self._mark_started()

    def _install_sigterm(self) -> None:
        try:
            handler = signal.getsignal(signal.SIGTERM)
            if handler == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
                handler = _on_sigterm
            if handler is _on_sigterm and not self.silent:
                _watch_sigterm()
        except (ValueError, OSError):  # not the main thread
            pass

    def _path(self, suffix: str) -> str:
        assert self.config is not None
        return os.path.join(self.config.dir, self.ident["key"] + suffix)

    def _mark_started(self) -> None:
        if self.silent or self.config is None:
            return
        try:
            write_json_atomic(self._path(START_SUFFIX), {
                "schema": FORMAT, "kind": "splice-process-start", "run_id": self.config.run_id,
                "process": self.ident,
            })
        except OSError:
            pass

    def forked(self) -> None:
        """In a child right after ``fork``: its own identity, marker and handler;
        what the parent recorded before the fork is not this child's."""
        self._left = None
        self._writing = self._term_pending = False
        self.role, self.how, self.silent, self.run_info = "child", "fork", False, None
        self.main_finish = None
        self.ident = identity("child", "fork", claim_rank=False)
        self.session.rebase()
        _set_rank_builtin()
        self._install_sigterm()
        _rearm_after_multiprocessing_fork()
        self._mark_started()

    # -- leaving ----------------------------------------------------------------

    def leave(self, how: str, status: Optional[int]) -> None:
        """The process is leaving (``how``: ``exit``, ``os._exit``, ``SIGTERM``):
        report once. In a fork that is not followed, do nothing."""
        pid = os.getpid()
        if self._left == pid or pid != self.ident["pid"]:
            return
        self._left = pid
        if self.role == "main":
            if self.main_finish is not None:
                self.main_finish(how, status)
            return
        if self.silent or self.config is None:
            return
        self._writing = True
        try:
            self.write(how, status)
        except Exception as e:  # never change how the child exits
            try:
                print(f"splice run (pid {pid}): could not write its records: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
            except Exception:
                pass
        finally:
            self._writing = False
        if self._term_pending and how != "os._exit":  # (os._exit exits right after this)
            _die_by_sigterm()

    def write(self, how: str, status: Optional[int]) -> None:
        """Write this (child) process's records to ``KEY.splice-proc.json``."""
        assert self.config is not None
        run = self.run_info
        if status is None and run is not None:
            status = run.get("exit_status")
        main_name = (run or {}).get("module") or ""
        probes = process_probes(self.session, main_name, self.config.width)
        entry = process_entry(self.ident, probes, exit_status=status, flushed=how, run_id=self.config.run_id)
        import platform

        write_json_atomic(self._path(RECORD_SUFFIX), {
            "schema": FORMAT, "kind": "splice-process-record", "run_id": self.config.run_id,
            "splice_version": splice.__version__, "python": platform.python_version(), "run": run,
            "process": entry,
        })


def _at_exit() -> None:
    if _CURRENT is not None:
        _CURRENT.leave("exit", None)


def _after_fork() -> None:
    rec = _CURRENT
    if rec is not None and rec.config is not None:
        try:
            rec.forked()
        except Exception:
            pass


def _die_by_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    """Write the records, then die by SIGTERM as without the handler. A
    SIGTERM that arrives while the records are being written (the process
    was already leaving, e.g. a Pool worker in ``os._exit`` when
    ``Pool.terminate()`` signals it) waits for the write to finish."""
    rec = _CURRENT
    if rec is not None:
        if rec._writing:
            rec._term_pending = True
            return
        rec.leave("SIGTERM", -signal.SIGTERM)
    _die_by_sigterm()


#: This process's SIGTERM watch: (read fd, write fd, pid). A forked child
#: inherits its parent's (the same pipe): it makes its own.
_WATCH: Optional[tuple[int, int, int]] = None

#: How long the watcher keeps sending SIGTERM to the main thread (every
#: ``_POKE_EVERY`` seconds) before it gives up.
_POKE_EVERY = 0.1
_POKE_FOR = 10.0


def _watch_sigterm() -> None:
    """Arm this process's SIGTERM watch (see the module docstring): the
    wakeup fd of :mod:`signal` on a pipe, and a daemon thread that reads it.
    Called on the main thread. Left alone when the process already has a
    wakeup fd that is not ours (an event loop's): then a SIGTERM is handled
    as before, by the handler alone."""
    global _WATCH
    old = _WATCH
    if old is not None and old[2] == os.getpid():
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    prev = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    if prev != -1 and (old is None or prev != old[1]):
        signal.set_wakeup_fd(prev)
        os.close(r)
        os.close(w)
        return
    if old is not None:  # the parent's pipe, inherited by fork
        for fd in old[:2]:
            try:
                os.close(fd)
            except OSError:
                pass
    _WATCH = (r, w, os.getpid())
    main = threading.get_ident()
    threading.Thread(target=_sigterm_watcher, args=(r, main), name="splice-sigterm-watch", daemon=True).start()


class _Rearm:
    """What multiprocessing's after-fork registry holds (weakly) for
    :func:`_rearm_watch`."""


_REARM = _Rearm()


def _rearm_after_multiprocessing_fork() -> None:
    """In a child just forked, when multiprocessing is loaded: arm the
    SIGTERM watch again once multiprocessing has set the child up.

    A forkserver child's ``_serve_one`` clears the wakeup fd (armed by the
    at-fork hook, or left alone because the server had set its own) before
    it runs the process: without this, forkserver children (the default
    start method on Linux from 3.14) had no working watch, and a Pool
    worker that ``Pool.terminate()`` signalled just before it blocked
    could hang the pool (CI, 3.14; ``tests/cli_fixtures/sigterm_race.py
    forkserver`` hung every time).
    ``Process._bootstrap`` runs the after-fork callbacks after that."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    try:
        mp_util.register_after_fork(_REARM, _rearm_watch)
    except Exception:  # a multiprocessing without it: the watch stays as it is
        pass


def _rearm_watch(_obj: object) -> None:
    """While this process's SIGTERM handler is ours: put the watch's wakeup
    fd back if multiprocessing cleared it (the watch was armed at the fork),
    or arm the watch if it was not (the server's wakeup fd was set then);
    see :func:`_rearm_after_multiprocessing_fork`. A wakeup fd someone else
    set since stays."""
    rec = _CURRENT
    if rec is None or rec.silent or rec.config is None:
        return
    watch = _WATCH
    try:
        if signal.getsignal(signal.SIGTERM) is not _on_sigterm:
            return
        if watch is not None and watch[2] == os.getpid():
            current = signal.set_wakeup_fd(watch[1], warn_on_full_buffer=False)
            if current not in (-1, watch[1]):
                signal.set_wakeup_fd(current)
            return
        _watch_sigterm()
    except (ValueError, OSError):  # not the main thread
        pass


def _sigterm_watcher(fd: int, main: int) -> None:
    """Wait for SIGTERM's byte on the wakeup fd; then, while our handler is
    still the one installed, send SIGTERM to the main thread every
    ``_POKE_EVERY`` s: a main thread blocked in a call that ignored the
    first one returns with EINTR and runs the handler, which ends the
    process. (Other signals' bytes are ignored.)"""
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGTERM in data:
            break
    deadline = time.monotonic() + _POKE_FOR
    while time.monotonic() < deadline:
        time.sleep(_POKE_EVERY)
        if signal.getsignal(signal.SIGTERM) is not _on_sigterm:
            return  # someone else's handler now, or ours is ending the process
        try:
            signal.pthread_kill(main, signal.SIGTERM)
        except (OSError, ValueError):
            return


def _wrap_os_exit() -> None:
    """``os._exit`` writes this process's records first (multiprocessing's
    forked children leave through it; ``atexit`` does not run there)."""
    if getattr(os._exit, "_splice_wrapped", False):
        return
    real = os._exit

    def _exit(status: int) -> NoReturn:
        rec = _CURRENT
        if rec is not None:
            try:
                rec.leave("os._exit", status)
            except BaseException:
                pass
        real(status)

    _exit._splice_wrapped = True  # type: ignore[attr-defined]
    _exit.__doc__ = real.__doc__
    setattr(os, "_exit", _exit)  # noqa: B010  (mypy: cannot assign to a function)


# -- children started by exec ---------------------------------------------------


def make_session(cfg: RunConfig) -> tuple[Session, ProbeFinder]:
    """The probes of the run in this process, and the import hook (installed)
    that sets them as their modules are imported."""
    return session_with_hook(cfg.probes, cfg.max_calls)


def session_with_hook(probes: list[ProbeSpec], max_calls: int) -> tuple[Session, ProbeFinder]:
    """A :class:`Session` for ``probes`` and the import hook (installed) that
    sets them as their modules are imported (the run process and every child)."""
    session = Session(probes, max_calls=max_calls)
    finder = ProbeFinder(
        wants_name=session.wants,
        wants_origin=lambda name, origin: bool(session.matching(name, pathlib.Path(origin) if origin else None)),
        after=session.on_module,
        failed=session.on_import_failed,
    )
    finder.install()
    return session, finder


def _mp_helper() -> Optional[str]:
    """``"forkserver"`` or ``"resource_tracker"`` when this process is one of
    multiprocessing's helper servers (they live as long as the parent, so
    they never report; the forkserver's forks do)."""
    orig = list(getattr(sys, "orig_argv", []))
    if "-c" in orig[:-1]:
        code = orig[orig.index("-c") + 1]
        for kind in ("forkserver", "resource_tracker"):
            if f"multiprocessing.{kind}" in code:
                return kind
    return None


def _file_is_target(cfg: RunConfig, path: pathlib.Path) -> bool:
    return any(p.target.file is not None and p.target.file == path for p in cfg.probes)


def _module_is_target(cfg: RunConfig, name: str) -> bool:
    names = {name, f"{name}.__main__"}
    if any(p.target.module in names for p in cfg.probes):
        return True
    if not any(p.target.file is not None for p in cfg.probes):
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.has_location or not spec.origin:
        return False
    origin = spec.origin
    if spec.submodule_search_locations is not None:  # a package: python -m runs its __main__
        origin = os.path.join(os.path.dirname(origin), "__main__.py")
    return _file_is_target(cfg, pathlib.Path(origin).resolve())


def _reexec_command(cfg: RunConfig) -> Optional[list[str]]:
    """The command that runs this process's ``__main__`` under
    ``python -m splice.cli.child`` (same interpreter flags), if it is a
    target; ``None`` otherwise (``-c``, stdin, or no probe on it)."""
    argv = list(sys.argv)
    orig = list(getattr(sys, "orig_argv", []))
    if not argv or not orig or argv[0] in ("-c", ""):
        return None
    if argv[0] == "-m":
        k = len(orig) - len(argv) - 1
        if k < 1 or orig[k] != "-m" or orig[k + 2:] != argv[1:]:
            return None
        mod = orig[k + 1]
        if not _module_is_target(cfg, mod):
            return None
        return [sys.executable, *orig[1:k], "-m", "splice.cli.child", "-m", mod, *argv[1:]]
    k = len(orig) - len(argv)
    if k < 1 or orig[k:] != argv or not os.path.isfile(argv[0]):
        return None
    if not _file_is_target(cfg, pathlib.Path(argv[0]).resolve()):
        return None
    return [sys.executable, *orig[1:k], "-m", "splice.cli.child", *argv]


def _probe_mp_main(session: Session, mod_name: Optional[str]) -> None:
    """Set the probes on the parent's script that multiprocessing just ran
    as ``__mp_main__`` in this spawn/forkserver process."""
    main = sys.modules.get("__mp_main__")
    if not isinstance(main, ModuleType) or id(main) in _PROBED_MAINS:
        return
    _PROBED_MAINS.add(id(main))
    file = module_file(main)
    names: list[Optional[str]] = ["__mp_main__"]
    if mod_name:
        names += [mod_name, mod_name.rsplit(".__main__", 1)[0]]
    states = []
    for n in names:
        for s in session.matching(n, file):
            if s not in states:
                states.append(s)
    for s in states:
        if file is None:
            session._fail(s, "__mp_main__ has no source file")
            continue
        try:
            session.install(s, file, main, "__mp_main__")
        except Exception as e:
            session._fail(s, f"in __mp_main__: {type(e).__name__}: {e}")


def _wrap_spawn_main(session: Session) -> None:
    import multiprocessing.spawn as sp

    for name in ("_fixup_main_from_path", "_fixup_main_from_name"):
        real = getattr(sp, name, None)
        if real is None or getattr(real, "_splice_wrapped", False):
            continue

        def wrapper(arg: str, _real: Callable[[str], None] = real, _by_name: bool = name.endswith("name")) -> None:
            _real(arg)
            _probe_mp_main(session, arg if _by_name else None)

        wrapper._splice_wrapped = True  # type: ignore[attr-defined]
        setattr(sp, name, wrapper)


def bootstrap() -> None:
    """Called by the bootstrap ``sitecustomize`` in every child Python
    process of a run (``SPLICE_RUN_DIR`` set): set the probes before user
    code runs, or re-execute under ``python -m splice.cli.child`` when
    ``__main__`` itself is a target."""
    d = os.environ.get(ENV_DIR)
    if not d:
        return
    try:
        cfg = RunConfig.load(d)
    except (OSError, ValueError, KeyError):
        return  # the run is over (its temporary directory is gone)
    if cfg.python != f"{sys.version_info[0]}.{sys.version_info[1]}":
        return
    helper = _mp_helper()
    if helper == "resource_tracker":
        return
    if helper is None:
        cmd = _reexec_command(cfg)
        if cmd is not None:
            os.environ[ENV_REEXEC] = str(os.getpid())
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                os.execv(sys.executable, cmd)
            except OSError as e:
                os.environ.pop(ENV_REEXEC, None)
                print(f"splice run: could not re-execute {sys.argv[0]} with its probes ({e}); "
                      f"its own functions are not probed", file=sys.stderr, flush=True)
    from splice.cli.runner import _probe_imported

    session, _finder = make_session(cfg)
    rec = ProcessRecorder(session, cfg, "child", "exec", silent=helper == "forkserver")
    rec.start()
    _probe_imported(session)
    if helper == "forkserver" or "--multiprocessing-fork" in sys.argv:
        _wrap_spawn_main(session)


def main(argv: list[str]) -> int:
    """``python -m splice.cli.child (script.py | -m module) [args...]``: a
    child whose ``__main__`` is a target, re-executed by :func:`bootstrap`;
    runs it as ``python -m splice run`` would, reporting as a child."""
    from splice.cli import runner

    os.environ.pop(ENV_REEXEC, None)
    cfg = RunConfig.load(os.environ[ENV_DIR])
    if argv[:1] == ["-m"]:
        opts = RunOptions(cfg.probes, None, argv[1], argv[2:], max_calls=cfg.max_calls, width=cfg.width)
    else:
        opts = RunOptions(cfg.probes, argv[0], None, argv[1:], max_calls=cfg.max_calls, width=cfg.width)
    session, _finder = make_session(cfg)
    rec = ProcessRecorder(session, cfg, "child", "exec")
    # the command line as the child was started (before it re-executed itself)
    orig = list(rec.ident["argv"])
    for i in range(len(orig) - 1):
        if orig[i:i + 2] == ["-m", "splice.cli.child"]:
            rec.ident["argv"] = orig[:i] + orig[i + 2:]
            break
    run_info: dict[str, Any] = {"argv": None, "script": opts.script, "module": opts.module, "exit_status": None,
                                "exception": None}
    rec.run_info = run_info
    rec.start()
    main_ = runner._module(opts) if opts.module is not None else runner._script(opts)
    if isinstance(main_, int):
        run_info["exit_status"] = main_
        return main_
    runner._probe_imported(session)
    problem = runner._prepare_main(session, main_)
    if problem is not None:
        print(f"splice run (pid {os.getpid()}): {problem}; running it without its own probes",
              file=sys.stderr, flush=True)
    run_info["argv"] = list(main_.argv)
    return runner._exec_main(main_, run_info)


if __name__ == "__main__":
    # run the imported module's main (this __main__ copy would have globals of its own)
    from splice.cli.child import main as _main

    sys.exit(_main(sys.argv[1:]))
