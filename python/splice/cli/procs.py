"""The processes of a ``run``: who they are, and their files in the run's
output directory (docs/cli.md, "Child processes").

Every followed process has a *key*, the stem of its two files:

- ``KEY.splice-start.json``: written when the process starts (a spawned or
  exec'd child at bootstrap, a forked child right after the fork), so the
  parent knows it existed even if it is killed before it writes anything;
- ``KEY.splice-proc.json``: its records, written when it leaves (atexit,
  ``os._exit``, SIGTERM), replaced atomically.

The key is ``rankR`` for the process that torchrun (or anything setting
``RANK``) started as rank R, ``rankR-pidP`` for a process below it that
inherited ``RANK`` (a DataLoader worker of that rank), and ``pidP-HOST``
otherwise. ``run.json`` holds what a child needs to set the same probes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from splice.cli.args import ProbeSpec
from splice.cli.records import process_problem
from splice.cli.targets import TargetSpec

__all__ = [
    "ENV_DIR", "ENV_REEXEC", "ENV_RANK_OWNER", "RunConfig", "identity", "load_processes", "process_label",
    "read_json", "write_json_atomic", "START_SUFFIX", "RECORD_SUFFIX",
]

#: the run's output directory; set in the environment of every child
ENV_DIR = "SPLICE_RUN_DIR"
#: the pid of a child that re-executes itself under ``python -m splice.cli.child``
ENV_REEXEC = "SPLICE_RUN_REEXEC"
#: ``R:PID`` of the process that took the name ``rankR``
ENV_RANK_OWNER = "SPLICE_RUN_RANK_OWNER"
CONFIG = "run.json"
START_SUFFIX = ".splice-start.json"
RECORD_SUFFIX = ".splice-proc.json"
FORMAT = 2  # the schema number of these files (the JSON document's)


def _int_env(name: str) -> Optional[int]:
    v = os.environ.get(name)
    try:
        return int(v) if v not in (None, "") else None
    except ValueError:
        return None


def host() -> str:
    """This machine's name, usable in a file name."""
    try:
        name = socket.gethostname().split(".")[0]
    except OSError:
        name = ""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "host"


def identity(role: str, how: str, claim_rank: bool) -> dict[str, Any]:
    """The identity of this process (``pid``, ``ppid``, ``rank``... and its
    file ``key``). With ``claim_rank``, a process that has ``RANK`` set and
    whose parent did not already take that rank's name takes it (and tells
    its own children through the environment)."""
    pid = os.getpid()
    rank = _int_env("RANK")
    key = f"pid{pid}-{host()}"
    if rank is not None:
        owner = os.environ.get(ENV_RANK_OWNER, "")
        o_rank, _, o_pid = owner.partition(":")
        if claim_rank and o_rank != str(rank):
            os.environ[ENV_RANK_OWNER] = f"{rank}:{pid}"
            key = f"rank{rank}"
        elif o_rank == str(rank) and o_pid == str(pid):
            key = f"rank{rank}"
        else:
            key = f"rank{rank}-pid{pid}"
    return {
        "key": key,
        "pid": pid,
        "ppid": os.getppid(),
        "host": host(),
        "rank": rank,
        "local_rank": _int_env("LOCAL_RANK"),
        "world_size": _int_env("WORLD_SIZE"),
        "role": role,
        "how": how,
        "argv": [str(a) for a in getattr(sys, "orig_argv", sys.argv)],
    }


def process_label(p: dict[str, Any]) -> str:
    """``main pid 12``, ``rank 1 pid 14`` or ``pid 15`` (the summary's name for a process)."""
    parts = []
    if p.get("role") == "main":
        parts.append("main")
    if p.get("rank") is not None:
        parts.append(f"rank {p['rank']}")
    parts.append(f"pid {p['pid']}")
    return " ".join(parts)


# -- files ------------------------------------------------------------------------


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and
    :func:`os.replace`, so a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """The JSON in ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _spec_to_json(s: ProbeSpec) -> dict[str, Any]:
    t = s.target
    return {
        "kind": s.kind, "index": s.index, "line": s.line, "cond": s.cond, "actions": [list(a) for a in s.actions],
        "target": {"text": t.text, "file": str(t.file) if t.file is not None else None, "module": t.module,
                   "qualname": t.qualname},
    }


def _spec_from_json(d: dict[str, Any]) -> ProbeSpec:
    import pathlib

    t = d["target"]
    target = TargetSpec(t["text"], file=pathlib.Path(t["file"]) if t["file"] else None, module=t["module"],
                        qualname=t["qualname"])
    return ProbeSpec(d["kind"], target, index=d["index"], line=d["line"], cond=d["cond"],
                     actions=[(k, v) for k, v in d["actions"]])


@dataclass
class RunConfig:
    """What every process of a run shares (``run.json`` in the output directory)."""

    run_id: str
    dir: str
    main_pid: int
    probes: list[ProbeSpec]
    max_calls: int
    width: int
    python: str  # "3.11": children of another interpreter are not followed

    def save(self) -> None:
        """Write ``run.json``."""
        write_json_atomic(os.path.join(self.dir, CONFIG), {
            "schema": FORMAT, "run_id": self.run_id, "main_pid": self.main_pid, "max_calls": self.max_calls,
            "width": self.width, "python": self.python, "probes": [_spec_to_json(p) for p in self.probes],
        })

    @classmethod
    def load(cls, directory: str) -> RunConfig:
        """Read ``run.json`` of ``directory``."""
        d = read_json(os.path.join(directory, CONFIG))
        return cls(d["run_id"], directory, d["main_pid"], [_spec_from_json(p) for p in d["probes"]],
                   d["max_calls"], d["width"], d["python"])


def _state_of(p: dict[str, Any]) -> str:
    """``running`` if the unreported process still runs on this machine, else ``lost``."""
    if p.get("host") != host():
        return "lost"
    try:
        with open(f"/proc/{int(p['pid'])}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[-1].split()[0]
        return "lost" if state in ("Z", "X") else "running"
    except (OSError, IndexError, ValueError):
        pass
    try:
        os.kill(int(p["pid"]), 0)
    except (OSError, ValueError):
        return "lost"
    return "running"


def load_processes(dirs: Iterable[str], run_id: Optional[str] = None, skip_keys: Iterable[str] = ()
                   ) -> tuple[list[dict[str, Any]], list[str]]:
    """The processes recorded in ``dirs`` (only those of ``run_id`` if given):
    a record file gives a reported process (its ``process`` object, with its
    ``run``), a start marker without a record an unreported one. Also
    returns the problems met (unreadable files, or files whose structure is
    not a process record's), as messages."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    problems: list[str] = []
    skip = set(skip_keys)
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            problems.append(f"{d}: {e.strerror or e}")
            continue
        for name in names:
            if not (name.endswith(RECORD_SUFFIX) or name.endswith(START_SUFFIX)):
                continue
            path = os.path.join(d, name)
            try:
                data = read_json(path)
            except (OSError, ValueError) as e:
                problems.append(f"{path}: not readable ({type(e).__name__}: {e})")
                continue
            if not isinstance(data, dict) or data.get("schema") != FORMAT or "process" not in data:
                problems.append(f"{path}: not a splice {FORMAT} process file (schema {data.get('schema')!r})"
                                if isinstance(data, dict) else f"{path}: not a splice process file")
                continue
            rid = str(data.get("run_id"))
            if run_id is not None and rid != run_id:
                continue
            shape = process_problem(data, name.endswith(RECORD_SUFFIX))
            if shape is not None:  # JSON of another shape: skipped, as an unreadable file is
                problems.append(f"{path}: not a valid splice process file ({shape})")
                continue
            proc = dict(data["process"])
            if proc.get("key") in skip:
                continue
            ident = (rid, str(proc.get("key")))
            if name.endswith(RECORD_SUFFIX):
                proc.update(run_id=rid, reported=True, state="reported")
                proc["_run"] = data.get("run")
                proc["_meta"] = {"splice_version": data.get("splice_version"), "python": data.get("python")}
                found[ident] = proc
            elif ident not in found:
                proc.update(run_id=rid, reported=False, exit_status=None, flushed=None, probes=[])
                proc["state"] = _state_of(proc)
                found[ident] = proc
    return list(found.values()), problems


def sort_processes(procs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Main processes first, then by rank (unranked last), then by pid."""
    return sorted(procs, key=lambda p: (p.get("role") != "main", p.get("rank") is None, p.get("rank") or 0,
                                        str(p.get("host")), int(p.get("pid") or 0)))
