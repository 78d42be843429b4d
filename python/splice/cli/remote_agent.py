"""The side of ``python -m splice attach`` that runs inside the target process.

The attacher (:mod:`splice.cli.attach`) has ``sys.remote_exec`` run a small
bootstrap script in the target's main thread; the script connects to the
attacher's Unix socket (in a 0700 directory), imports this module and calls
:func:`start`. From then on:

- :class:`Agent` installs the probes with the ordinary ``run`` machinery
  (:class:`splice.cli.session.Session`: one private ``NoPdb``; modules
  imported later are probed by :class:`splice.cli.hook.ProbeFinder`, as in
  ``run``) and reports where they went;
- a daemon thread (``splice-attach-agent``) streams what the probes record
  (a bounded number of values per probe, and hit counts) as JSON lines, reads
  the attacher's heartbeats, and enforces the *lease*: when the connection
  closes (the attacher exited or was killed) or no heartbeat came for
  ``lease`` seconds, it removes every probe by itself;
- a second ``sys.remote_exec`` call from the attacher runs
  :func:`remote_detach` in the main thread, which removes every probe, checks
  that every patched function's ``__code__`` is its original code object
  again, sends the final document (:func:`splice.cli.report.build`, the same
  one ``run`` writes) and ends the agent thread.

Nothing here prints to the target's stdout or stderr: failures are reported
to the attacher. The messages are one JSON object per line (``"t"`` says
which kind; see :data:`PROTOCOL`).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import pathlib
import select
import socket
import sys
import threading
import time
import traceback
import types
import weakref
from collections.abc import Sequence
from typing import Any, NoReturn, Optional

from splice.cli.args import ProbeSpec, _add_probe_options, _check
from splice.cli.hook import ProbeFinder
from splice.cli.report import _call_json, _hits, build, write_pickle
from splice.cli.session import Install, ProbeState, Session
from splice.cli.targets import module_file
from splice.cli.values import describe
from splice.patcher import PATCHER

__all__ = ["PROTOCOL", "Agent", "ProbeArgsError", "probe_parser", "parse_probes", "remote_detach", "start"]

#: Version of the attacher <-> agent messages; both sides must agree.
PROTOCOL = 1

#: Live agents by token (what :func:`remote_detach` looks up).
_AGENTS: dict[str, Agent] = {}


class ProbeArgsError(ValueError):
    """A malformed probe option (raised instead of exiting: in the target
    process an ``argparse`` exit would be a ``SystemExit`` in its main thread)."""


class _ProbeParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ProbeArgsError(message)


def probe_parser(prog: str, **kwargs: Any) -> argparse.ArgumentParser:
    """The parser of the probe options, shared by ``attach`` (in the
    attacher) and the agent (in the target): ``run``'s own
    ``_add_probe_options``; errors raise :class:`ProbeArgsError`."""
    p = _ProbeParser(prog=prog, allow_abbrev=False, **kwargs)
    _add_probe_options(p)
    p.set_defaults(probes=None)
    return p


def parse_probes(argv: Sequence[str]) -> list[ProbeSpec]:
    """The probe groups of ``argv`` (probe options only)."""
    p = probe_parser("splice attach agent")
    ns = p.parse_args(list(argv))
    probes: list[ProbeSpec] = ns.probes or []
    _check(p, probes)
    return probes


class _AgentSession(Session):
    """A ``run`` session that never prints in the target (an install that
    fails when a module is imported is recorded and streamed instead), and
    whose breakpoints with ``--eval`` count hits with their own counter: the
    agent keeps only the first ``max_calls`` values of each ``--eval`` (a
    probed line in a live process may run millions of times), and a
    breakpoint's hits are otherwise the length of its first eval list."""

    def install(self, state: ProbeState, file: pathlib.Path, module: Optional[types.ModuleType],
                label: str) -> Install:
        """As ``run`` installs, plus a hit counter on breakpoints with evals."""
        inst = super().install(state, file, module, label)
        if inst.breakpoint is not None and inst.evals:
            try:
                inst.breakpoint.count_hits()
            except Exception as e:  # the probe works without it; hits are then the values kept
                state.errors.append(f"hit counter not added: {type(e).__name__}: {e}")
        return inst

    def _fail(self, state: ProbeState, msg: str) -> None:
        state.errors.append(msg)

    def trim(self) -> None:
        """Drop the eval values past the first ``max_calls`` of each list."""
        for s in self.states:
            for inst in s.installs:
                for values in inst.evals:
                    if len(values) > self.max_calls:
                        del values[self.max_calls:]


def _main_aliases() -> dict[str, types.ModuleType]:
    """Module names under which a probe may name the target's ``__main__``
    (its spec name for ``python -m pkg.mod``, its file's stem for a script)."""
    main = sys.modules.get("__main__")
    if main is None:
        return {}
    out = {"__main__": main}
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        out[spec.name] = main
        if spec.name.endswith(".__main__"):
            out[spec.name.rsplit(".", 1)[0]] = main
    f = getattr(main, "__file__", None)
    if f:
        out.setdefault(pathlib.Path(f).stem, main)
    return out


def _patched_now() -> list[tuple[weakref.ref[types.FunctionType], Any, str, str]]:
    """Every function splice has patched now, with its original code (under
    ``PATCHER.lock``)."""
    out = []
    for node in list(PATCHER._nodes.values()):
        for f in node.live_owners():
            if f.__code__ is not node.original:
                out.append((weakref.ref(f), node.original, node.original.co_qualname, node.original.co_filename))
    return out


class Agent:
    """One attach session inside the target (see the module docstring)."""

    def __init__(self, sock: socket.socket, token: str, config: dict[str, Any]) -> None:
        self.sock = sock
        self.token = token
        self.lease = float(config.get("lease", 10.0))
        self.poll = float(config.get("poll", 0.1))
        self.width = int(config.get("width", 120))
        self.stream = int(config.get("stream", 10))
        self.max_calls = int(config.get("max_calls", 100))
        self.pickle_path: Optional[str] = config.get("pickle")
        self.probe_argv: list[str] = list(config.get("probes", []))
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._detached = False
        self._stop = threading.Event()
        self._buf = b""
        self._last_heard = time.monotonic()
        self._sent_values: dict[tuple[int, int, int], int] = {}
        self._sent_installs: dict[int, int] = {}
        self._sent_errors: dict[int, int] = {}
        self._last_hits: dict[int, Optional[int]] = {}
        self._thread: Optional[threading.Thread] = None
        self.session: Optional[_AgentSession] = None
        self.finder: Optional[ProbeFinder] = None
        self.run_info: dict[str, Any] = {
            "argv": list(sys.argv), "script": None, "module": None, "exit_status": None, "exception": None,
        }

    # -- messages -------------------------------------------------------------

    def send(self, msg: dict[str, Any]) -> bool:
        """Send one message; ``False`` if the attacher is gone (or stuck)."""
        data = (json.dumps(msg, default=str) + "\n").encode()
        with self._send_lock:
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                return False

    # -- attach (main thread, from the bootstrap script) -------------------------

    def attach(self) -> None:
        """Install the probes where their targets already exist, set the
        import hook for the rest, report, and start the agent thread."""
        probes = parse_probes(self.probe_argv)
        session = self.session = _AgentSession(probes, max_calls=self.max_calls)
        self.finder = ProbeFinder(
            wants_name=session.wants,
            wants_origin=lambda name, origin: bool(
                session.matching(name, pathlib.Path(origin) if origin else None)),
            after=session.on_module,
            failed=session.on_import_failed,
        )
        try:
            self._install_all(session, self.finder)
        except BaseException:
            self.finder.remove()
            session.stop()
            raise
        _AGENTS[self.token] = self
        atexit.register(self._at_exit)
        self._note_installs()
        self.send({"t": "installed", "doc": build(session, self.run_info, self.width)})
        self._thread = threading.Thread(target=self._loop, name="splice-attach-agent", daemon=True)
        self._thread.start()

    def _install_all(self, session: _AgentSession, finder: ProbeFinder) -> None:
        """Install the finder and set the probes on what is imported already.
        (A method: no loop directly in ``attach``'s ``try`` body, whose
        handler CPython 3.12-3.14 can skip when a KeyboardInterrupt lands on
        a loop's back edge; see splice.lifecycle._plan_sync.)"""
        finder.install()
        aliases = _main_aliases()
        for state in session.states:
            t = state.spec.target
            main = aliases.get(t.module) if t.module is not None else None
            if main is not None and main.__name__ == "__main__" and t.module not in sys.modules:
                file = module_file(main)
                if file is None:
                    session._fail(state, "the target's __main__ has no source file")
                    continue
                try:
                    session.install(state, file, main, "__main__")
                except Exception as e:
                    session._fail(state, f"in __main__: {type(e).__name__}: {e}")
        modules: list[Any] = list(sys.modules.values())  # anything may sit in sys.modules
        for mod in modules:
            if not isinstance(mod, types.ModuleType):
                continue
            name = getattr(mod, "__name__", None)
            file = module_file(mod) if session._file_targets else None
            for state in session.matching(name, file):
                if not any(i.file == str(module_file(mod)) for i in state.installs):
                    try:
                        f = module_file(mod)
                        if f is None:
                            session._fail(state, f"module {name} has no source file")
                            continue
                        session.install(state, f, mod, name or str(f))
                    except Exception as e:
                        session._fail(state, f"in module {name}: {type(e).__name__}: {e}")

    # -- the agent thread ------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ready, _, _ = select.select([self.sock], [], [], self.poll)
                except (OSError, ValueError):
                    self.detach("the connection to the attacher failed", "agent")
                    break
                if ready:
                    try:
                        data = self.sock.recv(65536)
                    except (BlockingIOError, TimeoutError):
                        data = None
                    except OSError:
                        data = b""
                    if data == b"":
                        self.detach("the attacher closed the connection (it exited or was killed)", "agent")
                        break
                    if data:
                        self._last_heard = time.monotonic()
                        self._buf += data
                        while b"\n" in self._buf:
                            line, self._buf = self._buf.split(b"\n", 1)
                            try:
                                msg = json.loads(line)
                            except ValueError:
                                continue
                            if msg.get("t") == "detach":
                                self.detach("asked by the attacher over the connection", "agent")
                if self._stop.is_set():
                    break
                if time.monotonic() - self._last_heard > self.lease:
                    self.detach(f"lease expired: no heartbeat from the attacher for {self.lease:g} s", "agent")
                    break
                if not self._flush():
                    self.detach("the attacher stopped reading (sending failed)", "agent")
                    break
        except BaseException as e:  # never let the thread die with probes set
            self.detach(f"agent error: {type(e).__name__}: {e}", "agent")

    def _note_installs(self) -> list[dict[str, Any]]:
        """Installs and install errors not reported yet."""
        out: list[dict[str, Any]] = []
        if self.session is None:
            return out
        for s in self.session.states:
            pid = s.spec.index
            for inst in s.installs[self._sent_installs.get(pid, 0):]:
                out.append({"probe": pid, "module": inst.module, "file": inst.file, "functions": inst.functions})
            self._sent_installs[pid] = len(s.installs)
            for err in s.errors[self._sent_errors.get(pid, 0):]:
                out.append({"probe": pid, "error": err})
            self._sent_errors[pid] = len(s.errors)
        return out

    def _new_values(self) -> list[dict[str, Any]]:
        """Up to ``stream`` described values per probe not sent yet."""
        out: list[dict[str, Any]] = []
        if self.session is None or self.stream <= 0:
            return out
        for s in self.session.states:
            pid = s.spec.index
            budget = self.stream - sum(n for (p, _, _), n in self._sent_values.items() if p == pid)
            for k, inst in enumerate(s.installs):
                if budget <= 0:
                    break
                if inst.capture is not None:
                    key = (pid, k, -1)
                    done = self._sent_values.get(key, 0)
                    calls = list(inst.capture)[done: done + budget]
                    for j, c in enumerate(calls):
                        out.append({"probe": pid, "kind": "call", "n": done + j + 1, "call": _call_json(c, self.width)})
                    self._sent_values[key] = done + len(calls)
                    budget -= len(calls)
                for e, values in enumerate(inst.evals):
                    key = (pid, k, e)
                    done = self._sent_values.get(key, 0)
                    new = list(values[done: done + max(budget, 0)])
                    for j, v in enumerate(new):
                        out.append({"probe": pid, "kind": "eval", "expr": s.spec.evals[e], "n": done + j + 1,
                                    "value": describe(v, self.width)})
                    self._sent_values[key] = done + len(new)
                    budget -= len(new)
        return out

    def _flush(self) -> bool:
        """Send new installs, values and changed hit counts."""
        if self.session is None:
            return True
        self.session.trim()
        installs = self._note_installs()
        values = self._new_values()
        hits = {s.spec.index: _hits(s) for s in self.session.states}
        if not installs and not values and hits == self._last_hits:
            return True
        self._last_hits = hits
        return self.send({"t": "values", "installs": installs, "values": values,
                          "hits": {str(k): v for k, v in hits.items()}})

    # -- detach ------------------------------------------------------------------------

    def _patched(self) -> list[tuple[weakref.ref[types.FunctionType], Any, str, str]]:
        """Every function splice has patched now, with its original code."""
        with PATCHER.lock:
            return _patched_now()  # (a call: no loop directly in a `with`, see lifecycle._plan_sync)

    def detach(self, reason: str, by: str) -> bool:
        """Remove every probe (idempotent, any thread), check each patched
        function has its original ``__code__`` again, send the final
        document; ``False`` if it had been done already."""
        with self._state_lock:
            if self._detached:
                return False
            self._detached = True
        try:
            atexit.unregister(self._at_exit)
        except Exception:
            pass
        patched = self._patched()
        if self.finder is not None:
            self.finder.remove()
        if self.session is not None:
            self.session.stop()
        # (only now: a child forked while the probes were being removed
        # still finds the agent, and removes what it inherited)
        _AGENTS.pop(self.token, None)
        restored = []
        for ref, original, qualname, file in patched:
            f = ref()
            restored.append({"function": qualname, "file": file,
                             "original": f is None or f.__code__ is original})
        msg: dict[str, Any] = {"t": "detached", "reason": reason, "by": by, "restored": restored,
                               "idle": PATCHER.is_idle()}
        try:
            if self.session is not None:
                self._flush()
                self.session.trim()
                msg["doc"] = build(self.session, self.run_info, self.width)
                if self.pickle_path:
                    msg["pickle_replaced"] = write_pickle(self.session, self.pickle_path, self.width)
        except Exception as e:
            msg["error"] = f"{type(e).__name__}: {e}"
        self._stop.set()
        me = threading.current_thread()
        if self._thread is not None and self._thread is not me:
            self._thread.join(timeout=max(2.0, self.poll * 20))
            msg["agent_thread_alive"] = self._thread.is_alive()
        else:
            msg["agent_thread_alive"] = False if by == "agent" else None
        self.send(msg)
        try:
            self.sock.close()
        except OSError:
            pass
        return True

    def _at_exit(self) -> None:
        self.detach("the target process is exiting", "atexit")

    def _leave_forked_child(self) -> None:
        """In a child the target forked: the session is the parent's. The
        child has no agent thread to remove its probes, and its exit ran
        the parent's atexit detach over the inherited socket (the attacher
        reported the parent detached, and checked in the wrong process).
        Remove the probes here, quietly: no message, the inherited socket
        closed without a shutdown (the parent's connection stays up)."""
        self._detached = True  # (no lock: another thread may have held it at the fork)
        _AGENTS.pop(self.token, None)
        try:
            atexit.unregister(self._at_exit)
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        if self.finder is not None:
            self.finder.remove()
        if self.session is not None:
            self.session.stop()


def _after_fork_in_child() -> None:
    """``os.register_at_fork`` handler: every live agent leaves the child
    (:meth:`Agent._leave_forked_child`); a failure is never raised into the
    target's fork."""
    for agent in list(_AGENTS.values()):
        try:
            agent._leave_forked_child()
        except Exception:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def start(sock: socket.socket, token: str, config: dict[str, Any]) -> None:
    """Entry point of the bootstrap script (target's main thread): attach
    and report; an error is sent to the attacher, never raised (nothing is
    left installed)."""
    sock.settimeout(2.0)  # a stopped attacher must not block the agent in sendall
    agent = Agent(sock, token, config)
    try:
        agent.attach()
    except ProbeArgsError as e:
        agent.send({"t": "error", "stage": "install", "message": f"bad probe options: {e}"})
        sock.close()
    except Exception as e:
        agent.send({"t": "error", "stage": "install", "message": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc()})
        sock.close()


def remote_detach(token: str) -> None:
    """Entry point of the detach script (the attacher's second remote call)."""
    agent = _AGENTS.get(token)
    if agent is not None:
        agent.detach("asked by the attacher (remote call)", "remote call")


def pid() -> int:
    """This process's id (used by the bootstrap in its hello message)."""
    return os.getpid()
