"""``python -m splice run``: run a script or module as ``__main__`` with probes.

Set-up follows ``python script.py`` / ``python -m module`` (and ``runpy``):
``sys.argv`` is the script and its arguments, ``sys.path[0]`` the script's
directory (``-m``: the current directory, as ``python -m`` does), a fresh
``__main__`` module with ``__file__``, ``__loader__``, ``__spec__`` as Python
sets them. A directory or zip application runs its ``__main__.py`` as
``python DIR`` does (the entry is ``sys.path[0]``).

Probes on the script's own functions are spliced into its code before it runs
(:mod:`splice.cli.codetree`); probes on other modules are created by the
import hook (:mod:`splice.cli.hook`) right after the module is executed, or at
start for modules already imported. The summary, ``--json`` and ``--pickle``
are written from an :mod:`atexit` handler (or when the script calls
``os._exit``), so they also cover non-daemon threads (joined before
``atexit`` runs) and the script's own atexit handlers (which run before
ours). Child processes are followed (:mod:`splice.cli.child`): each writes
its records into the run's output directory, and the report merges them. The script's exit status and traceback are what
``python script.py`` gives: ``SystemExit`` and ``KeyboardInterrupt`` are
re-raised for Python to handle; any other uncaught exception is printed with
``sys.excepthook`` (splice's frames left out) and the status is 1.
"""

from __future__ import annotations

import builtins
import errno
import io
import linecache
import os
import pathlib
import platform
import runpy
import shutil
import sys
import tempfile
import traceback
import types
import uuid
import zipimport
from collections.abc import Callable, Sequence
from importlib.machinery import SourceFileLoader
from typing import Any, Optional

import splice
from splice._native import CO_OPTIMIZED
from splice.cli import codetree
from splice.cli.args import ProbeSpec, RunOptions, parse_run_args
from splice.cli.child import ProcessRecorder, session_with_hook
from splice.cli.hook import ProbeFinder, real_loader
from splice.cli.procs import (
    ENV_DIR,
    ENV_REEXEC,
    RECORD_SUFFIX,
    RunConfig,
    identity,
    load_processes,
    sort_processes,
    write_json_atomic,
)
from splice.cli.report import (
    SCHEMA_VERSION,
    combine,
    process_entry,
    process_probes,
    summary,
    write_json,
    write_pickle,
)
from splice.cli.session import Session
from splice.cli.targets import available, module_file
from splice.patcher import PATCHER

__all__ = ["main"]


def _err(msg: str) -> None:
    print(f"python -m splice run: {msg}", file=sys.stderr, flush=True)


def _exit_status(code: Any) -> int:
    """The process exit status for ``SystemExit(code)``, as Python computes it
    (an ``int`` subclass such as ``True`` counts as its integer value)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    return 1


class _Main:
    """The code to run as ``__main__`` and the namespace it runs in."""

    def __init__(self, code: types.CodeType, globals_: dict[str, Any], file: Optional[pathlib.Path],
                 name: Optional[str], argv: list[str], path0: Optional[str]) -> None:
        self.code = code
        self.globals = globals_
        self.file = file
        self.name = name  # the module name a MODULE:FUNC target would use
        self.argv = argv
        self.path0 = path0


def _main_globals(spec: Any) -> dict[str, Any]:
    """The globals of a ``__main__`` module run from ``spec`` (as runpy sets
    them), its loader the real one, not the probe hook's wrapper."""
    spec.loader = real_loader(spec.loader)
    return {
        "__name__": "__main__",
        "__doc__": None,
        "__file__": spec.origin,
        "__loader__": spec.loader,
        "__spec__": spec,
        "__package__": spec.parent,
        "__cached__": spec.cached,
        "__builtins__": builtins,
    }


def _is_path_entry(path: str) -> bool:
    """Whether ``python PATH`` runs ``PATH`` as a ``sys.path`` entry (a
    directory or a zip file, whose ``__main__`` module is run) rather than
    as a source file: CPython asks the path hooks, as this does."""
    if os.path.isdir(path):
        return True
    try:
        zipimport.zipimporter(path)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


def _path_entry(opts: RunOptions, path: str, abspath: str) -> _Main | int:
    """``python DIR`` / ``python app.zip``: the entry becomes ``sys.path[0]``
    and its ``__main__`` module runs (``runpy``'s own lookup, as
    ``runpy.run_path`` does), named ``__main__``."""
    sys.path[0] = abspath  # where runpy looks for __main__ (_exec_main sets it again)
    try:
        mod_name, spec, code = runpy._get_main_module_details()  # type: ignore[attr-defined]
    except ImportError as e:
        print(f"{sys.executable}: {e}", file=sys.stderr)
        return 1
    g = _main_globals(spec)
    # a zip member has no file of its own: its path stays as Python names it,
    # and linecache reads its text through the loader (--line needs it)
    file = pathlib.Path(spec.origin) if spec.origin else None
    if file is not None and file.is_file():
        file = file.resolve()
    elif spec.origin:
        linecache.lazycache(spec.origin, g)
    return _Main(code, g, file, mod_name, [path, *opts.args], abspath)


def _script(opts: RunOptions) -> _Main | int:
    path = opts.script
    assert path is not None
    abspath = os.path.abspath(path)
    if not os.path.exists(abspath):
        _err(f"can't open file {abspath!r}: no such file")
        return 2
    if _is_path_entry(abspath):
        return _path_entry(opts, path, abspath)
    if not os.path.isfile(abspath):
        _err(f"can't open file {abspath!r}: not a regular file, a directory or a zip file")
        return 2
    try:
        code = codetree.compile_file(abspath)
    except SyntaxError as e:
        traceback.print_exception(type(e), e, None)
        return 1
    g = {
        "__name__": "__main__",
        "__doc__": None,
        "__file__": abspath,
        "__loader__": SourceFileLoader("__main__", abspath),
        "__spec__": None,
        "__package__": None,
        "__cached__": None,
        "__builtins__": builtins,
    }
    return _Main(code, g, pathlib.Path(abspath).resolve(), None, [path, *opts.args],
                 os.path.dirname(os.path.realpath(abspath)))


def _module(opts: RunOptions) -> _Main | int:
    assert opts.module is not None
    try:
        # runpy's own helper, as pdb uses it: finds the module (a package's
        # __main__), imports its parents (through our hook), gets its code
        mod_name, spec, code = runpy._get_module_details(opts.module)  # type: ignore[attr-defined]
    except ImportError as e:
        print(f"{sys.executable}: {e}", file=sys.stderr)
        return 1
    g = _main_globals(spec)
    file = pathlib.Path(spec.origin).resolve() if spec.has_location and spec.origin else None
    return _Main(code, g, file, mod_name, [spec.origin or opts.module, *opts.args], None)


def _prepare_main(session: Session, main: _Main) -> Optional[str]:
    """Splice the probes that target the script into its code; an error
    message if one cannot be set (the script has not started yet).

    The script is named by its path, ``__main__``, or with ``-m`` by the
    module's name. For a package (``-m pkg``) that name is ``pkg.__main__``:
    ``pkg:func`` is the package's ``__init__.py``, probed by the import
    hook like any other module."""
    _hint_package_main(session, main)
    states = []
    for n in (main.name, "__main__"):
        for s in session.matching(n, main.file):
            if s not in states:
                states.append(s)
    if not states:
        return None
    if main.file is None:
        return f"{main.name or 'the script'} has no source file to set probes in"
    keep = codetree.stand_ins(main.code, main.globals)  # alive while planning
    for s in states:
        try:
            session.install(s, main.file, None, "__main__")
        except Exception as e:
            return _module_level_problem(s.spec, main) or f"{s.spec.describe()}: {type(e).__name__}: {e}"
    main.code = codetree.rebuild(main.code, PATCHER.current)
    del keep
    return None


def _hint_package_main(session: Session, main: _Main) -> None:
    """With ``-m pkg``, a ``pkg:FUNC`` that failed in ``pkg/__init__.py``
    while ``FUNC`` is defined in ``pkg/__main__.py``: say how to name that
    one (the error itself was reported when the package was imported)."""
    if not main.name or not main.name.endswith(".__main__"):
        return
    package = main.name[: -len(".__main__")]
    defined = {getattr(c, "co_qualname", c.co_name) for c in codetree.function_codes(main.code)}
    for s in session.states:
        t = s.spec.target
        if t.module == package and t.qualname in defined and s.errors and not s.installs:
            note = (f"{t.qualname} is defined in {main.file}, which -m {package} runs as __main__: "
                    f"name it {main.name}:{t.qualname} ({package}:... is the package's __init__.py)")
            s.errors.append(note)
            _err(f"{s.spec.describe()}: {note}")


def _line_numbers(spec: ProbeSpec, file: pathlib.Path) -> list[int]:
    """The lines ``--line`` names in ``file``: the number, or every line
    whose text (stripped) is the text given."""
    if isinstance(spec.line, int):
        return [spec.line]
    lines = linecache.getlines(str(file))  # also a zip application's __main__.py
    return [i for i, src in enumerate(lines, 1) if src.strip() == spec.line]


def _module_level_problem(spec: ProbeSpec, main: _Main) -> Optional[str]:
    """Why a ``--break`` on the script failed, when its line is module-level
    code of the script (or a class body): splice's own message says such
    code "has already run", which is not so for a script that has not
    started; ``None`` when the line is not such code."""
    if spec.kind != "break" or spec.line is None or main.file is None:
        return None
    in_functions: set[Optional[int]] = set()
    elsewhere: set[Optional[int]] = set()
    for c in codetree.all_codes(main.code):
        lines = {line for _, _, line in c.co_lines()}
        if c.co_flags & CO_OPTIMIZED:
            # a function's first line is its `def` (or decorator), which
            # runs in the code around it, not in the function
            in_functions.update(lines - {c.co_firstlineno})
        else:
            elsewhere.update(lines)
    top = [n for n in _line_numbers(spec, main.file) if n in elsewhere and n not in in_functions]
    if not top:
        return None
    return (f"{spec.describe()}: line {top[0]} of {main.file} is module-level code of the script (a statement "
            f"outside any function body, a def line, or a class body): it runs once, as the script starts, "
            f"and splice can only break inside functions. Break at a line of a function's body instead "
            f"(--break {spec.target.where}:FUNCTION --line ...){available(main.file)}, or move this code "
            f"into a function")


def _finisher(session: Session, finder: ProbeFinder, run_info: dict[str, Any], opts: RunOptions,
              recorder: Callable[[], Optional[ProcessRecorder]], config: Optional[RunConfig],
              temp_dir: Optional[str]) -> Callable[[str, Optional[int]], None]:
    """What runs when the ``run`` process leaves (at exit, or in
    ``os._exit``): stop the probes, write this process's records, merge
    those of its children, then write the report (never changing the
    script's exit status)."""

    def finish(how: str, status: Optional[int]) -> None:
        finder.remove()
        session.stop()  # before any repr(): a __repr__ may call a probed function
        if how == "os._exit" and run_info["exit_status"] is None:
            run_info["exit_status"] = status
        try:
            rec = recorder()
            probes = process_probes(session, run_info.get("module") or "", opts.width)
            ident = rec.ident if rec is not None else identity("main", "main", False)
            own = process_entry(ident, probes, exit_status=run_info["exit_status"], flushed=how,
                                run_id=config.run_id if config else "")
            processes = [own]
            if config is not None:
                if not temp_dir:  # kept: `python -m splice merge` reads it
                    write_json_atomic(os.path.join(config.dir, own["key"] + RECORD_SUFFIX), {
                        "schema": SCHEMA_VERSION, "kind": "splice-process-record", "run_id": config.run_id,
                        "splice_version": splice.__version__, "python": platform.python_version(),
                        "run": run_info, "process": own,
                    })
                others, problems = load_processes([config.dir], config.run_id, skip_keys={own["key"]})
                for msg in problems:
                    _err(msg)
                processes += sort_processes(others)
            doc = combine(run_info, processes)
            if not opts.quiet:
                summary(doc, sys.stderr or sys.__stderr__ or io.StringIO(), opts.show)
            if opts.json:
                write_json(doc, opts.json)
            if opts.pickle:
                replaced = write_pickle(session, opts.pickle, opts.width)
                if replaced:
                    _err(f"--pickle: {len(replaced)} value(s) could not be pickled and were stored as "
                         f"their repr (listed under 'replaced' in {opts.pickle})")
        except Exception as e:  # never change the script's exit status
            _err(f"could not write the report: {type(e).__name__}: {e}")
        finally:
            if temp_dir:
                shutil.rmtree(temp_dir, ignore_errors=True)
        try:
            sys.stderr.flush()
        except Exception:
            pass

    return finish


def _follow_children(opts: RunOptions) -> tuple[RunConfig, Optional[str]]:
    """Prepare the output directory and the environment every child
    inherits (docs/cli.md, "Child processes"); the config and the temporary
    directory to remove at the end (``None`` with ``--out-dir``). Raises
    :class:`OSError` (nothing changed) if the directory cannot be used."""
    if opts.out_dir:
        directory = opts.out_dir  # made absolute at launch
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise NotADirectoryError(errno.ENOTDIR, "it exists and is not a directory")
        os.makedirs(directory, exist_ok=True)
        temp = None
    else:
        directory = temp = tempfile.mkdtemp(prefix="splice-run-")
    config = RunConfig(uuid.uuid4().hex[:12], directory, os.getpid(), list(opts.probes), opts.max_calls,
                       opts.width, f"{sys.version_info[0]}.{sys.version_info[1]}")
    try:
        config.save()
    except OSError:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
        raise
    boot = os.path.join(os.path.dirname(os.path.abspath(splice.__file__ or "")), "_bootstrap")
    old = os.environ.get("PYTHONPATH", "")
    if old.split(os.pathsep)[0] != boot:
        os.environ["PYTHONPATH"] = boot + (os.pathsep + old if old else "")
    os.environ[ENV_DIR] = directory
    os.environ.pop(ENV_REEXEC, None)
    return config, temp


def _probe_imported(session: Session) -> None:
    """Probe the target modules imported before the run (by splice, site, or
    ``-m``'s parent packages): the import hook only sees later imports.
    Modules the hook already handled (probed, or failed with an error
    already reported) are left alone."""
    for mod in list(sys.modules.values()):
        if isinstance(mod, types.ModuleType) and mod.__name__ != "__main__":
            if session.matching(mod.__name__, module_file(mod) if session._file_targets else None):
                if mod.__name__ not in session.seen_modules:
                    session.on_module(mod)


def _exec_main(main_: _Main, run_info: dict[str, Any]) -> int:
    """Run the script's code as ``__main__``; the exit status (0, or 1 after
    printing an uncaught exception as Python would). ``SystemExit`` and
    ``KeyboardInterrupt`` propagate, as they do from a script."""
    sys.argv[:] = main_.argv
    if main_.path0 is not None:
        sys.path[0] = main_.path0
    module = types.ModuleType("__main__")
    module.__dict__.update(main_.globals)
    # kept as __main__ until exit, so pickle finds classes the script defined
    sys.modules["__main__"] = module
    try:
        exec(main_.code, module.__dict__)
    except SystemExit as e:
        run_info["exit_status"] = _exit_status(e.code)
        raise
    except KeyboardInterrupt as e:
        # Python reports it and exits by SIGINT (-2 as seen by a parent)
        run_info["exit_status"] = -2
        run_info["exception"] = {"type": type(e).__qualname__, "message": str(e)}
        raise
    except BaseException as e:
        run_info["exit_status"] = 1
        run_info["exception"] = {"type": type(e).__qualname__, "message": " ".join(str(e).split())[:500]}
        tb = e.__traceback__
        tb = tb.tb_next if tb is not None else None  # drop this frame, keep the script's
        # (the default hook prints e.__traceback__, whatever tb is passed)
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        return 1
    run_info["exit_status"] = 0
    return 0


def _paths_at_launch(opts: RunOptions) -> None:
    """Make the output paths absolute now: the script may ``os.chdir``
    before they are written (at exit)."""
    for name in ("json", "pickle", "out_dir"):
        value = getattr(opts, name)
        if value:
            setattr(opts, name, os.path.abspath(value))


def _stop(session: Session, finder: ProbeFinder) -> None:
    """Take the probes and the import hook away (the script will not run)."""
    finder.remove()
    session.stop()


def main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m splice run`` (returns the exit status, or
    re-raises the script's ``SystemExit``/``KeyboardInterrupt``)."""
    opts = parse_run_args(argv)
    _paths_at_launch(opts)
    session, finder = session_with_hook(opts.probes, opts.max_calls)
    run_info: dict[str, Any] = {
        "argv": None,
        "script": opts.script,
        "module": opts.module,
        "exit_status": None,
        "exception": None,
    }
    main_ = _module(opts) if opts.module is not None else _script(opts)
    if isinstance(main_, int):
        _stop(session, finder)
        return main_
    if main_.file is not None:
        session.retarget_main(main_.file)  # before run.json is written: children see the file
    _probe_imported(session)
    problem = _prepare_main(session, main_)
    if problem is not None:
        _stop(session, finder)
        _err(problem)
        return 2
    run_info["argv"] = list(main_.argv)
    try:
        config, temp = _follow_children(opts) if opts.follow_children else (None, None)
    except OSError as e:
        _stop(session, finder)
        what = f"--out-dir {opts.out_dir}" if opts.out_dir else "the run's temporary directory"
        _err(f"cannot use {what}: {e.strerror or e}")
        return 2
    holder: list[ProcessRecorder] = []
    finish = _finisher(session, finder, run_info, opts, lambda: holder[0] if holder else None, config, temp)
    recorder = ProcessRecorder(session, config, "main", "main", main_finish=finish)
    holder.append(recorder)
    recorder.start()  # atexit (and, following children: fork hook, os._exit)
    if not opts.follow_children and hasattr(os, "register_at_fork"):
        _leave_forked_children_untouched(session, finder)
    return _exec_main(main_, run_info)


def _leave_forked_children_untouched(session: Session, finder: ProbeFinder) -> None:
    """``--no-follow-children``: a forked child would inherit the patched
    code (its memory is the parent's); the probes and the import hook are
    taken away in it right after the fork, so that it runs untouched as a
    new interpreter does."""

    def in_child() -> None:
        try:
            _stop(session, finder)
        except Exception:
            pass  # (never raised into the program's fork)

    os.register_at_fork(after_in_child=in_child)
