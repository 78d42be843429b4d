"""``python -m splice attach PID``: probes in a running CPython 3.14+ process.

How it works (docs/cli.md, `attach`, has the user's view):

1. The command line is parsed with ``run``'s probe options
   (:func:`splice.cli.remote_agent.probe_parser`, built on
   ``splice.cli.args._add_probe_options``); file targets become absolute.
2. The target is checked before anything is sent to it: the PID exists and
   may be traced by us, it is CPython (the ``_Py_DebugOffsets`` cookie and
   version in its executable or ``libpython``, else the file names in its
   memory map), the same minor version as this interpreter, 3.14 or newer.
3. A private directory (``mkdtemp``: mode 0700, owned by the target's user
   when we are root) holds a Unix socket we listen on and the bootstrap
   script; ``sys.remote_exec(pid, script)`` asks the target's main thread to
   run it at its next safe point. The script connects back, imports splice
   (from the attacher's install if the target has none and the versions
   match) and starts :mod:`splice.cli.remote_agent`.
4. If the target does not connect within ``--timeout`` the pending request
   is replaced by ``/dev/null`` (an empty script: ``sys.remote_exec`` keeps
   one pending path per process), so nothing runs later.
5. While attached, values stream back and are printed; a heartbeat keeps the
   agent's lease alive. At ``--duration``, ``--hits`` or Ctrl-C a second
   ``sys.remote_exec`` runs the detach in the target's main thread (over the
   socket if the main thread does not get to it); the target removes every
   probe, checks every patched function's ``__code__`` is the original code
   object, and sends the final document, printed as ``run`` prints it.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import mmap
import os
import pathlib
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, Optional, TextIO

from splice.cli.args import ProbeSpec, _check
from splice.cli.remote_agent import PROTOCOL, ProbeArgsError, probe_parser
from splice.cli.report import summary, write_json
from splice.cli.values import format_value

__all__ = ["AttachError", "TargetInfo", "inspect_target", "main"]

PROG = "python -m splice attach"
#: remote debugging (PEP 768) exists from this version on
MIN_VERSION = (3, 14)


class AttachError(Exception):
    """Attaching failed; the message says why and what would work. The
    target has not been changed."""


# -- the command line --------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    """``attach``'s parser: ``run``'s probe options and the attach options."""
    p = probe_parser(
        PROG,
        usage=f"{PROG} PID [--capture TARGET]... [--break TARGET --line SPEC [--cond EXPR] [--eval EXPR]... "
        "[--exec CODE]...]... [--duration SECONDS | --hits N] [--json FILE] [--pickle FILE] [options]",
        description="Set splice probes in a running CPython 3.14+ process (sys.remote_exec, PEP 768), "
        "print what they record, then remove them: every probed function gets its original code object back. "
        "The target keeps running throughout.",
    )
    p.add_argument("pid", metavar="PID", type=int, help="the process to attach to")
    s = p.add_argument_group("when to detach (default: Ctrl-C)")
    stop = s.add_mutually_exclusive_group()
    stop.add_argument("--duration", metavar="SECONDS", type=float, help="detach after SECONDS")
    stop.add_argument("--hits", metavar="N", type=int,
                      help="detach once the probes were hit N times in total (a few more may be recorded)")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="FILE", help="write what was recorded as JSON (run's schema + \"attach\")")
    o.add_argument("--pickle", metavar="FILE", help="write the raw captured values with pickle")
    o.add_argument("--max-calls", metavar="N", type=int, default=100,
                   help="keep the first N calls per --capture and values per --eval (all are counted; default 100)")
    o.add_argument("--width", metavar="N", type=int, default=120, help="cut value reprs to N characters (default 120)")
    o.add_argument("--show", metavar="N", type=int, default=3,
                   help="values/calls per probe shown in the summary (default 3; JSON has all)")
    o.add_argument("--stream", metavar="N", type=int, default=5,
                   help="values/calls per probe printed as they arrive (default 5; 0: none)")
    o.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    a = p.add_argument_group("attaching")
    a.add_argument("--timeout", metavar="SECONDS", type=float, default=10.0,
                   help="how long the target's main thread may take to reach a safe point (default 10)")
    a.add_argument("--lease", metavar="SECONDS", type=float, default=10.0,
                   help="the target removes the probes by itself if it hears nothing from us for this long "
                   "(default 10; a heartbeat is sent every SECONDS/4)")
    a.add_argument("--no-attacher-splice", action="store_true",
                   help="never load splice into the target from this interpreter's install "
                   "(by default it is, when the target cannot import splice itself)")
    return p


@dataclasses.dataclass
class Options:
    """Parsed ``attach`` arguments."""

    pid: int
    probes: list[ProbeSpec]
    probe_argv: list[str]
    duration: Optional[float] = None
    hits: Optional[int] = None
    json: Optional[str] = None
    pickle: Optional[str] = None
    max_calls: int = 100
    width: int = 120
    show: int = 3
    stream: int = 5
    quiet: bool = False
    timeout: float = 10.0
    lease: float = 10.0
    attacher_splice: bool = True


def _probe_argv(probes: Sequence[ProbeSpec]) -> list[str]:
    """The probe options again, with file targets absolute (the target's
    working directory is not ours)."""
    out: list[str] = []
    for p in probes:
        t = p.target
        text = t.text
        if t.file is not None:
            text = str(t.file) + (f":{t.qualname}" if t.qualname else "")
        out += [f"--{p.kind}", text]
        if p.line is not None:
            out += ["--line", str(p.line)]
        if p.cond is not None:
            out += ["--cond", p.cond]
        for kind, code in p.actions:
            out += [f"--{kind}", code]
    return out


def parse_args(argv: Sequence[str]) -> Options:
    """Parse ``attach``'s arguments (exits with status 2 on an error)."""
    parser = make_parser()
    try:
        ns = parser.parse_args(list(argv))
        probes: list[ProbeSpec] = ns.probes or []
        if not probes:
            parser.error("no probes given: add --capture TARGET or --break TARGET --line SPEC")
        _check(parser, probes)
        for name in ("max_calls", "width", "show", "stream"):
            if getattr(ns, name) < 0:
                parser.error(f"--{name.replace('_', '-')} must not be negative")
        if ns.duration is not None and ns.duration <= 0:
            parser.error("--duration must be positive")
        if ns.hits is not None and ns.hits < 1:
            parser.error("--hits must be at least 1")
        if ns.timeout <= 0 or ns.lease <= 0:
            parser.error("--timeout and --lease must be positive")
    except ProbeArgsError as e:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return Options(
        pid=ns.pid, probes=probes, probe_argv=_probe_argv(probes), duration=ns.duration, hits=ns.hits,
        json=ns.json, pickle=ns.pickle, max_calls=ns.max_calls, width=max(ns.width, 20), show=ns.show,
        stream=ns.stream, quiet=ns.quiet, timeout=ns.timeout, lease=ns.lease,
        attacher_splice=not ns.no_attacher_splice,
    )


# -- what the target is --------------------------------------------------------------


@dataclasses.dataclass
class TargetInfo:
    """What can be learnt about a process without touching it."""

    pid: int
    uid: Optional[int] = None
    comm: str = "?"
    exe: Optional[str] = None
    cmdline: list[str] = dataclasses.field(default_factory=list)
    version: Optional[tuple[int, int, int]] = None
    version_text: Optional[str] = None
    free_threaded: bool = False
    python_file: Optional[str] = None  # where the version was read

    def describe(self) -> str:
        """``process 123 (python3.14 loop.py)``."""
        cmd = " ".join(self.cmdline)[:100] or self.comm
        return f"process {self.pid} ({cmd})"


_COOKIE = b"xdebugpy"
_NAME = re.compile(r"(?:^|/)(?:lib)?python(3)\.(\d+)(?:[^/]*)$")


def _debug_offsets_version(path: str) -> Optional[tuple[tuple[int, int, int], str, bool]]:
    """The version in a binary's ``_Py_DebugOffsets`` (3.13+): the cookie
    followed by ``PY_VERSION_HEX`` and the free-threading flag."""
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            i = m.find(_COOKIE)
            while i >= 0:
                if i + 24 <= len(m):
                    v, ft = struct.unpack_from("<QQ", m, i + 8)
                    if v >> 24 == 3 and (v & 0xF0) in (0xA0, 0xB0, 0xC0, 0xF0) and ft in (0, 1):
                        ver = (3, (v >> 16) & 0xFF, (v >> 8) & 0xFF)
                        level = {0xA0: "a", 0xB0: "b", 0xC0: "rc", 0xF0: ""}[v & 0xF0]
                        serial = v & 0xF
                        text = f"{ver[0]}.{ver[1]}.{ver[2]}" + (f"{level}{serial}" if level else "")
                        return ver, text, bool(ft)
                i = m.find(_COOKIE, i + 1)
    except (OSError, ValueError):
        return None
    return None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _user(uid: Optional[int]) -> str:
    if uid is None:
        return "another user"
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _permission_hint(info: TargetInfo) -> str:
    me = os.geteuid()
    scope = _read("/proc/sys/kernel/yama/ptrace_scope")
    hints = []
    if info.uid is not None and info.uid != me:
        hints.append(f"run attach as the target's user ({_user(info.uid)}), e.g. sudo -u "
                     f"{_user(info.uid).split()[0]} {sys.executable} -m splice attach {info.pid} ..., or as root")
    else:
        hints.append("run attach as root (or with CAP_SYS_PTRACE; in a container: --cap-add=SYS_PTRACE)")
    if scope is not None and scope.strip() not in ("", "0"):
        hints.append(f"kernel.yama.ptrace_scope is {scope.strip()} (only parents may trace their children "
                     "unless root): 'sudo sysctl kernel.yama.ptrace_scope=0' allows same-user attach")
    return "; ".join(hints)


def inspect_target(pid: int) -> TargetInfo:
    """What the target is, from ``/proc`` and its binaries (nothing is sent
    to it); raises :class:`AttachError` when it cannot be attached to."""
    if pid <= 0:
        raise AttachError(f"no process with PID {pid} (a PID is a positive number)")
    if pid == os.getpid():
        raise AttachError(f"PID {pid} is this attach process itself")
    info = TargetInfo(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError(f"no process with PID {pid} (it does not exist, or has exited)") from None
    except PermissionError:
        status = _read(f"/proc/{pid}/status") or ""
        m = re.search(r"^Uid:\s+(\d+)", status, re.M)
        info.uid = int(m.group(1)) if m else None
        raise AttachError(f"no permission to attach to process {pid}: it belongs to {_user(info.uid)} and this "
                          f"is {_user(os.geteuid())}. {_permission_hint(info)}") from None
    status = _read(f"/proc/{pid}/status") or ""
    if re.search(r"^State:\s+Z", status, re.M):
        raise AttachError(f"process {pid} has exited (a zombie waiting for its parent)")
    m = re.search(r"^Uid:\s+\d+\s+(\d+)", status, re.M)
    info.uid = int(m.group(1)) if m else None
    info.comm = (_read(f"/proc/{pid}/comm") or "?").strip()
    raw = _read(f"/proc/{pid}/cmdline") or ""
    info.cmdline = [a for a in raw.split("\0") if a]
    try:
        info.exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        info.exe = None
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
            maps = f.read()
    except PermissionError:
        raise AttachError(f"no permission to attach to {info.describe()}: its memory map is not readable "
                          f"(it belongs to {_user(info.uid)}, or is not dumpable). {_permission_hint(info)}") from None
    except OSError as e:
        raise AttachError(f"cannot read the memory map of process {pid}: {e}") from None
    files = []
    if info.exe:
        files.append(info.exe.removesuffix(" (deleted)"))
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/") and "python" in os.path.basename(parts[5]):
            if parts[5] not in files:
                files.append(parts[5])
    for path in files:
        found = _debug_offsets_version(path)
        if found is not None:
            info.version, info.version_text, info.free_threaded = found
            info.python_file = path
            return info
    for path in files:
        m2 = _NAME.search(path)
        if m2:
            info.version = (3, int(m2.group(2)), 0)
            info.version_text = f"3.{m2.group(2)}"
            info.python_file = path
            return info
    raise AttachError(
        f"{info.describe()} is not a CPython process: neither its executable ({info.exe or 'unknown'}) nor a "
        "library it loaded is a CPython interpreter (no _Py_DebugOffsets, no python3.X/libpython3.X)"
    )


def check_versions(info: TargetInfo) -> None:
    """Refuse a target whose CPython cannot be attached to from here."""
    here = sys.version_info
    v = info.version
    assert v is not None
    where = f"{info.describe()} runs CPython {info.version_text} ({info.python_file})"
    if v[:2] < MIN_VERSION:
        raise AttachError(f"{where}: attach needs CPython 3.14 or newer in the target (remote execution, "
                          "PEP 768, first shipped in 3.14); use 'python -m splice run' to start it with probes")
    if v[:2] != (here.major, here.minor):
        raise AttachError(
            f"{where} but this is CPython {here.major}.{here.minor}.{here.micro}: sys.remote_exec only works "
            f"between the same minor version; run attach with a CPython {v[0]}.{v[1]} that has splice "
            f"installed (python{v[0]}.{v[1]} -m splice attach {info.pid} ...)"
        )
    if info.free_threaded:
        raise AttachError(f"{where}, a free-threaded build; splice supports the default (GIL) build only")


def check_attacher() -> None:
    """This interpreter must be able to send: 3.14+, remote debugging on."""
    if sys.version_info < MIN_VERSION or not hasattr(sys, "remote_exec"):
        v = sys.version_info
        raise AttachError(
            f"attach needs CPython 3.14 or newer (sys.remote_exec, PEP 768); this is CPython "
            f"{v.major}.{v.minor}.{v.micro} ({sys.executable}). Run it with the target's CPython 3.14+ "
            f"interpreter: python3.14 -m splice attach PID ..."
        )
    enabled = getattr(sys, "is_remote_debug_enabled", None)
    if enabled is not None and not enabled():
        raise AttachError("remote debugging is disabled in this (attaching) interpreter: unset "
                          "PYTHON_DISABLE_REMOTE_DEBUG and do not pass -X disable-remote-debug")


def _disabled_reason(info: TargetInfo) -> str:
    env = _read(f"/proc/{info.pid}/environ") or ""
    why = []
    if any(e.startswith("PYTHON_DISABLE_REMOTE_DEBUG=") for e in env.split("\0")):
        why.append("its environment sets PYTHON_DISABLE_REMOTE_DEBUG")
    args = info.cmdline
    for i, a in enumerate(args):
        if a == "-X" and i + 1 < len(args) and args[i + 1].startswith("disable-remote-debug"):
            why.append("it was started with -X disable-remote-debug")
        elif a.startswith("-Xdisable-remote-debug"):
            why.append("it was started with -Xdisable-remote-debug")
    if not why:
        why.append("PYTHON_DISABLE_REMOTE_DEBUG or -X disable-remote-debug, or a build with --without-remote-debug")
    return (f"remote debugging is disabled in {info.describe()} ({'; '.join(why)}); it cannot be attached "
            "to: restart it without that setting (or start it under 'python -m splice run')")


# -- the channel ---------------------------------------------------------------------

_BOOTSTRAP = r'''# splice attach: run by sys.remote_exec in the main thread of this process
def _splice_attach_bootstrap(cfg):
    import json, os, socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5.0)
    try:
        s.connect(cfg["socket"])
    except OSError:  # the attacher gave up (timeout) or is gone: do nothing
        s.close()
        return

    def send(msg):
        try:
            s.sendall((json.dumps(msg) + "\n").encode())
        except OSError:
            pass

    def fail(kind, message):
        send({"t": "error", "stage": kind, "message": message})
        s.close()

    try:
        send({"t": "hello", "token": cfg["token"], "pid": os.getpid(), "python": sys.version.split()[0],
              "executable": sys.executable, "argv": [str(a) for a in sys.argv[:20]],
              "cwd": os.getcwd(), "sys_path": sys.path[:8]})
        had = "splice" in sys.modules
        loaded = None
        try:
            import splice
        except ImportError as e:
            first = f"{type(e).__name__}: {e}"
            if had or not cfg["fallback"]:
                return fail("import", first)
            sys.path.insert(0, cfg["fallback"])
            try:
                import splice
                loaded = cfg["fallback"]
            except ImportError as e2:
                return fail("import", f"{first}; from the attacher's install ({cfg['fallback']}): "
                            f"{type(e2).__name__}: {e2}")
            finally:
                try:
                    sys.path.remove(cfg["fallback"])
                except ValueError:
                    pass
        where = os.path.dirname(getattr(splice, "__file__", "") or "?")
        version = getattr(splice, "__version__", "?")
        try:
            from splice.cli import remote_agent
        except ImportError as e:
            return fail("agent", f"the target's splice {version} ({where}) has no attach support: "
                        f"{type(e).__name__}: {e}")
        if getattr(remote_agent, "PROTOCOL", None) != cfg["protocol"]:
            return fail("agent", f"the target's splice {version} ({where}) speaks attach protocol "
                        f"{getattr(remote_agent, 'PROTOCOL', None)}, the attacher {cfg['protocol']}")
        send({"t": "splice", "version": version, "path": where, "loaded_from_attacher": loaded})
        remote_agent.start(s, cfg["token"], cfg)
    except Exception as e:
        fail("bootstrap", f"{type(e).__name__}: {e}")


_splice_attach_bootstrap(__CONFIG__)
del _splice_attach_bootstrap
'''

_DETACH = r'''# splice attach: detach, run by sys.remote_exec in the main thread of this process
import sys as _s
_m = _s.modules.get("splice.cli.remote_agent")
if _m is not None:
    _m.remote_detach(__TOKEN__)
del _s, _m
'''


class Channel:
    """The private directory, the listening socket and the connection."""

    def __init__(self, info: TargetInfo) -> None:
        self.dir = tempfile.mkdtemp(prefix="splice-attach-")  # mode 0700
        self.sock_path = os.path.join(self.dir, "s")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.sock_path)
        os.chmod(self.sock_path, 0o600)
        self.listener.listen(1)
        self.conn: Optional[socket.socket] = None
        self._buf = b""
        self._uid = info.uid if info.uid is not None and info.uid != os.geteuid() and os.geteuid() == 0 else None
        if self._uid is not None:  # we are root, the target is not: the directory becomes the target user's
            self._own(self.dir)
            self._own(self.sock_path)

    def _own(self, path: str) -> None:
        if self._uid is not None:
            try:
                gid = pwd.getpwuid(self._uid).pw_gid
            except KeyError:
                gid = -1
            os.chown(path, self._uid, gid)

    def write(self, name: str, text: str) -> str:
        """A file in the private directory (mode 0600); its path."""
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        self._own(path)
        return path

    def accept(self, timeout: float) -> bool:
        """Wait for the target to connect."""
        self.listener.settimeout(timeout)
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            return False
        conn.setblocking(True)
        self.conn = conn
        return True

    def send(self, msg: dict[str, Any]) -> bool:
        """One message to the agent; ``False`` if the connection is gone."""
        if self.conn is None:
            return False
        try:
            self.conn.sendall((json.dumps(msg) + "\n").encode())
            return True
        except OSError:
            return False

    def receive(self, timeout: float) -> Optional[list[dict[str, Any]]]:
        """The messages that arrive within ``timeout`` (maybe none);
        ``None`` when the target closed the connection."""
        assert self.conn is not None
        out: list[dict[str, Any]] = []
        end = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
            if out:
                return out
            left = end - time.monotonic()
            if left <= 0:
                return out
            ready, _, _ = select.select([self.conn], [], [], left)
            if not ready:
                return out
            try:
                data = self.conn.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                return None
            self._buf += data

    def close(self) -> None:
        """Close everything and remove the directory."""
        for s in (self.conn, self.listener):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _remote_exec(info: TargetInfo, path: str) -> None:
    """``sys.remote_exec`` with its errors turned into :class:`AttachError`."""
    remote_exec = getattr(sys, "remote_exec")  # noqa: B009  (3.14+; mypy checks as 3.11)
    try:
        remote_exec(info.pid, path)
    except PermissionError as e:
        raise AttachError(f"no permission to attach to {info.describe()} ({e}). {_permission_hint(info)}") from None
    except ProcessLookupError:
        raise AttachError(f"process {info.pid} has exited") from None
    except (RuntimeError, OSError) as e:
        text = str(e)
        if "not enabled in the remote process" in text:
            raise AttachError(_disabled_reason(info)) from None
        if "not enabled" in text:
            raise AttachError("remote debugging is disabled in this (attaching) interpreter: unset "
                              "PYTHON_DISABLE_REMOTE_DEBUG and do not pass -X disable-remote-debug") from None
        if "Can't send commands" in text:
            raise AttachError(f"{info.describe()}: {text}") from None
        chain = [text]
        c = e.__cause__ or e.__context__
        while c is not None and len(chain) < 4:
            chain.append(str(c))
            c = c.__cause__ or c.__context__
        if any("ermission" in t or "Operation not permitted" in t for t in chain):
            raise AttachError(f"no permission to attach to {info.describe()} ({'; '.join(chain)}). "
                              f"{_permission_hint(info)}") from None
        raise AttachError(f"sys.remote_exec failed for {info.describe()}: {'; '.join(chain)}") from None


def _main_thread_state(pid: int) -> str:
    stat = _read(f"/proc/{pid}/stat") or ""
    state = stat.rsplit(")", 1)[-1].split()[:1]
    wchan = (_read(f"/proc/{pid}/wchan") or "").strip()
    names = {"S": "sleeping", "D": "in uninterruptible I/O", "R": "running", "T": "stopped", "t": "stopped (traced)"}
    out = names.get(state[0], state[0]) if state else "unknown"
    if wchan and wchan != "0":
        out += f", waiting in the kernel in {wchan}"
    return out


# -- the session -----------------------------------------------------------------------


class _Printer:
    """What the attacher prints while attached."""

    def __init__(self, opts: Options, out: TextIO) -> None:
        self.opts = opts
        self.out = out
        self.labels = {p.index: f"[{p.index}] {p.kind} {p.target.text}" for p in opts.probes}

    def line(self, text: str) -> None:
        if not self.opts.quiet:
            self.out.write(text + "\n")
            self.out.flush()

    def installed(self, doc: dict[str, Any]) -> None:
        for p in doc["probes"]:
            head = self.labels.get(p["id"], f"[{p['id']}]")
            for inst in p["installed"]:
                fns = ", ".join(f["function"] + (f" (line {', '.join(map(str, f['lines']))})" if f["lines"] else "")
                                for f in inst["functions"])
                self.line(f"{head}: installed in {inst['module']}: {fns}")
            for e in p["errors"]:
                self.line(f"{head}: ERROR: {e}")
            if not p["installed"] and not p["errors"]:
                self.line(f"{head}: not imported yet in the target; installed when it is imported")

    def values(self, msg: dict[str, Any]) -> None:
        for inst in msg.get("installs", []):
            head = self.labels.get(inst["probe"], f"[{inst['probe']}]")
            if "error" in inst:
                self.line(f"{head}: ERROR: {inst['error']}")
            else:
                fns = ", ".join(f["function"] for f in inst["functions"])
                self.line(f"{head}: installed in {inst['module']} (just imported): {fns}")
        for v in msg.get("values", []):
            head = self.labels.get(v["probe"], f"[{v['probe']}]")
            if v["kind"] == "call":
                c = v["call"]
                args = ", ".join(f"{k}={format_value(d)}" for k, d in c["args"].items())
                end = (f"raised {c['exception']['type']}: {c['exception']['message']}" if c["exception"]
                       else f"return {format_value(c['return_value'])}")
                self.line(f"{head} call #{v['n']} {c['function']}({args}) {end}")
            else:
                self.line(f"{head} eval {v['expr']} #{v['n']}: {format_value(v['value'])}")


def _bootstrap_config(opts: Options, ch: Channel, token: str) -> dict[str, Any]:
    import splice

    fallback = None
    if opts.attacher_splice:
        fallback = str(pathlib.Path(splice.__file__ or ".").resolve().parent.parent)
    return {
        "socket": ch.sock_path, "token": token, "protocol": PROTOCOL, "fallback": fallback,
        "probes": opts.probe_argv, "lease": opts.lease, "poll": 0.1, "width": opts.width,
        "stream": opts.stream, "max_calls": opts.max_calls,
        "pickle": os.path.join(ch.dir, "values.pickle") if opts.pickle else None,
    }


def _import_error(info: TargetInfo, hello: dict[str, Any], stage: str, message: str, fallback: bool) -> AttachError:
    exe = hello.get("executable") or info.exe or "python3.14"
    if stage == "import":
        how = (f"install splice into the target's environment ({exe} -m pip install splice, or a wheel from "
               f"'make wheels': {exe} -m pip install dist/splice-*-cp3{sys.version_info.minor}-*.whl)")
        if not fallback:
            how += ", or drop --no-attacher-splice to load it from this interpreter's install"
        return AttachError(f"splice is not importable in {info.describe()} ({message}); nothing was changed. "
                           f"To attach: {how}")
    if stage == "agent":
        return AttachError(f"{message}; install this splice version in the target's environment "
                           f"({exe} -m pip install --upgrade splice)")
    return AttachError(f"attaching to {info.describe()} failed in the target ({stage}): {message}")


def _summary_text(doc: dict[str, Any], show: int, head: str) -> str:
    buf = io.StringIO()
    summary(doc, buf, show, title=head)
    return buf.getvalue()


def _total_hits(hits: dict[str, Optional[int]]) -> int:
    return sum(h for h in hits.values() if h)


def attach(opts: Options, out: TextIO = sys.stdout) -> int:
    """Attach, collect, detach; the exit status."""
    check_attacher()
    info = inspect_target(opts.pid)
    check_versions(info)
    pr = _Printer(opts, out)
    ch = Channel(info)
    token = secrets.token_hex(16)
    cfg = _bootstrap_config(opts, ch, token)
    script = ch.write("attach.py", _BOOTSTRAP.replace("__CONFIG__", repr(cfg)))
    detach_script = ch.write("detach.py", _DETACH.replace("__TOKEN__", repr(token)))
    t0 = time.monotonic()
    try:
        _remote_exec(info, script)
        if not ch.accept(opts.timeout):
            # the request is still pending in the target: make it an empty one
            try:
                _remote_exec(info, "/dev/null")
            except AttachError:
                pass
            if not ch.accept(0.3):
                raise AttachError(
                    f"{info.describe()} did not run the attach request within {opts.timeout:g} s: its main thread "
                    f"has not reached a safe point (it is {_main_thread_state(info.pid)}; blocked in C code such as "
                    "time.sleep, a lock, I/O or a C extension). sys.remote_exec runs code only in the main thread, "
                    "between bytecodes. Nothing was changed (the pending request was replaced by an empty one). "
                    "Try again when its main thread runs Python code, or raise --timeout."
                )
        return _session(opts, info, ch, pr, token, detach_script, t0)
    finally:
        ch.close()


def _expect(ch: Channel, info: TargetInfo, timeout: float) -> dict[str, Any]:
    msgs = ch.receive(timeout)
    if msgs is None:
        raise AttachError(f"{info.describe()} closed the connection while attaching")
    if not msgs:
        raise AttachError(f"{info.describe()} stopped answering while attaching (no message in {timeout:g} s)")
    if len(msgs) > 1:  # keep the rest for the next call
        ch._buf = b"".join((json.dumps(m) + "\n").encode() for m in msgs[1:]) + ch._buf
    return msgs[0]


def _session(opts: Options, info: TargetInfo, ch: Channel, pr: _Printer, token: str, detach_script: str,
             t0: float) -> int:
    hello = _expect(ch, info, 10.0)
    if hello.get("t") != "hello" or hello.get("token") != token:
        raise AttachError(f"unexpected first message from process {info.pid}: {str(hello)[:200]}")
    msg = _expect(ch, info, 30.0)
    if msg.get("t") == "error":
        raise _import_error(info, hello, msg.get("stage", "?"), msg.get("message", "?"), opts.attacher_splice)
    splice_info = msg
    msg = _expect(ch, info, 120.0)  # installing may take a while in a large process
    if msg.get("t") == "error":
        raise _import_error(info, hello, msg.get("stage", "?"), msg.get("message", "?"), opts.attacher_splice)
    if msg.get("t") != "installed":
        raise AttachError(f"unexpected message from process {info.pid}: {str(msg)[:200]}")
    attached_at = time.monotonic()
    wall_attached = time.strftime("%H:%M:%S")
    loaded = splice_info.get("loaded_from_attacher")
    pr.line(f"splice attach: attached to {info.describe()} in {attached_at - t0:.2f} s: CPython {hello['python']}, "
            f"splice {splice_info.get('version')} from {splice_info.get('path')}"
            + (" (loaded from this interpreter's install: the target has no splice of its own)" if loaded else ""))
    pr.installed(msg["doc"])
    until = []
    if opts.duration is not None:
        until.append(f"{opts.duration:g} s have passed")
    if opts.hits is not None:
        until.append(f"{opts.hits} hits")
    until.append("Ctrl-C")
    pr.line(f"collecting until {' or '.join(until)} (lease {opts.lease:g} s)")

    hb_every = opts.lease / 4
    last_hb = 0.0
    hits: dict[str, Optional[int]] = {}
    final: Optional[dict[str, Any]] = None
    stopped_by = "Ctrl-C"
    gone = False
    # Ctrl-C sets a flag the loop reads, rather than raising
    # KeyboardInterrupt wherever the loop happens to be: one raised between a
    # recv() and the buffering of its bytes lost part of a message, and the
    # "detached" message after it was never recognised (a flaky test).
    interrupted = [False]

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted[0] = True

    installed = False
    previous: Any = None
    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
        installed = True
    except ValueError:  # not the main thread: Ctrl-C stays KeyboardInterrupt
        pass
    try:
        while True:
            if interrupted[0]:
                stopped_by = "Ctrl-C"
                break
            now = time.monotonic()
            if now - last_hb >= hb_every:
                ch.send({"t": "hb"})
                last_hb = now
            if opts.duration is not None and now - attached_at >= opts.duration:
                stopped_by = f"--duration {opts.duration:g}"
                break
            if opts.hits is not None and _total_hits(hits) >= opts.hits:
                stopped_by = f"--hits {opts.hits}"
                break
            wait = hb_every - (now - last_hb)
            if opts.duration is not None:
                wait = min(wait, opts.duration - (now - attached_at))
            msgs = ch.receive(max(0.01, min(wait, 0.25)))
            if msgs is None:
                gone = True
                stopped_by = "the target closed the connection"
                break
            for m in msgs:
                if m.get("t") == "values":
                    pr.values(m)
                    hits = m.get("hits", hits)
                elif m.get("t") == "detached":
                    final = m
            if final is not None:
                stopped_by = f"the target detached by itself: {final.get('reason')}"
                break
    except KeyboardInterrupt:
        stopped_by = "Ctrl-C"
    finally:
        if installed:  # a second Ctrl-C interrupts the detach
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    collected_s = time.monotonic() - attached_at
    if final is None and not gone:
        try:
            final = _detach(opts, info, ch, pr, detach_script, stopped_by)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted while detaching: closing the connection; process {info.pid} removes "
                  "the probes by itself when it sees it closed", file=sys.stderr)
            return 130
    if final is None:
        print(f"{PROG}: process {info.pid} went away while attached ({stopped_by}); what was printed above is "
              "all that arrived", file=sys.stderr)
        return 1
    return _report(opts, info, final, stopped_by, collected_s, wall_attached, hello, ch)


def _detach(opts: Options, info: TargetInfo, ch: Channel, pr: _Printer, detach_script: str,
            stopped_by: str) -> Optional[dict[str, Any]]:
    """The second remote call; over the socket if the main thread does not
    run it within ``opts.timeout``. The final message, or ``None``."""
    pr.line(f"detaching ({stopped_by}) ...")

    def wait(seconds: float) -> Optional[dict[str, Any]]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            msgs = ch.receive(min(0.25, end - time.monotonic()))
            if msgs is None:
                return None
            for m in msgs:
                if m.get("t") == "values":
                    pr.values(m)
                elif m.get("t") == "detached":
                    return m
            ch.send({"t": "hb"})
        return None

    try:
        _remote_exec(info, detach_script)
    except AttachError as e:
        pr.line(f"the detach call could not be sent ({e}); asking the agent over the connection")
        ch.send({"t": "detach"})
        return wait(opts.timeout)
    final = wait(opts.timeout)
    if final is None:
        pr.line(f"the target's main thread did not run the detach call within {opts.timeout:g} s; "
                "asking the agent thread over the connection")
        try:
            _remote_exec(info, "/dev/null")  # the pending detach call becomes an empty one
        except AttachError:
            pass
        ch.send({"t": "detach"})
        final = wait(max(opts.timeout, 5.0))
    return final


def _report(opts: Options, info: TargetInfo, final: dict[str, Any], stopped_by: str, collected_s: float,
            wall_attached: str, hello: dict[str, Any], ch: Channel) -> int:
    doc = final.get("doc")
    restored = final.get("restored", [])
    all_original = all(r["original"] for r in restored)
    changed = any(p.kind == "break" and any(k == "exec" for k, _ in p.actions) for p in opts.probes)
    if doc is None:
        print(f"{PROG}: the target detached but could not build the report: {final.get('error')}", file=sys.stderr)
        doc = {"schema": 1, "probes": [], "run": {}}
    doc["attach"] = {
        "pid": info.pid,
        "python": hello.get("python"),
        "executable": hello.get("executable"),
        "attached_at": wall_attached,
        "duration_s": round(collected_s, 3),
        "stopped_by": stopped_by,
        "detached_by": final.get("by"),
        "detach_reason": final.get("reason"),
        "changed": changed,
        "restored": restored,
        "all_original": all_original,
        "agent_thread_alive": final.get("agent_thread_alive"),
    }
    head = (f"=== splice attach summary (process {info.pid}, attached {collected_s:.1f} s, "
            f"stopped by {stopped_by}) ===")
    if not opts.quiet:
        text = _summary_text(doc, opts.show, head)
        out_lines = [text.rstrip("\n").removesuffix("===").rstrip("\n")]
        names = ", ".join(sorted({r["function"] for r in restored})) or "none"
        if all_original:
            out_lines.append(f"detached ({final.get('by')}): every probe removed; __code__ is the original object "
                             f"again for all {len(restored)} patched function(s), checked in process {info.pid}: "
                             f"{names}")
        else:
            bad = ", ".join(r["function"] for r in restored if not r["original"])
            out_lines.append(f"detached ({final.get('by')}), but NOT restored in process {info.pid}: {bad}")
        if final.get("agent_thread_alive"):
            out_lines.append("WARNING: the agent thread in the target had not ended when it reported")
        if changed:
            out_lines.append(
                f"NOTE: process {info.pid} was CHANGED while attached: --exec ran inside it from {wall_attached} "
                f"for {collected_s:.1f} s, so what it computed in that time differs from an untouched run. It is "
                "restored now: the probes are removed and every probed function runs its original code again."
            )
        out_lines.append("===")
        print("\n".join(out_lines), file=sys.stdout)
        sys.stdout.flush()
    if opts.json:
        write_json(doc, opts.json)
    if opts.pickle:
        src = os.path.join(ch.dir, "values.pickle")
        try:
            shutil.copyfile(src, opts.pickle)
        except OSError as e:
            print(f"{PROG}: --pickle: the target wrote no pickle ({e})", file=sys.stderr)
        replaced = final.get("pickle_replaced") or []
        if replaced:
            print(f"{PROG}: --pickle: {len(replaced)} value(s) could not be pickled and were stored as their repr "
                  f"(listed under 'replaced' in {opts.pickle})", file=sys.stderr)
    return 0 if all_original else 1


def main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m splice attach`` (the exit status: 0 after
    a clean detach, 1 when attaching failed or the target was not restored,
    2 for a malformed command line)."""
    opts = parse_args(argv)
    try:
        return attach(opts)
    except AttachError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
