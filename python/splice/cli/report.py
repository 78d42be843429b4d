"""What a ``run`` recorded: the JSON document, the text summary on stderr and
the pickle of raw values. The JSON schema is documented in docs/cli.md
(``schema`` 2); :func:`combine` is the only place that produces it, from
the ``process`` objects of every process of the run (:func:`process_entry`;
:func:`build` for a run of one process)."""

from __future__ import annotations

import json
import pickle
import platform
import sys
from typing import Any, Optional, TextIO

import splice
from splice.cli.procs import identity, process_label
from splice.cli.session import ProbeState, Session
from splice.cli.values import describe, format_value

__all__ = [
    "SCHEMA_VERSION", "MergeError", "build", "combine", "process_entry", "process_probes", "summary", "write_json",
    "write_pickle",
]

SCHEMA_VERSION = 2


def _exc(e: Optional[BaseException], width: int) -> Optional[dict[str, Any]]:
    if e is None:
        return None
    return {"type": type(e).__qualname__, "message": _msg(e, width)}


def _msg(e: BaseException, width: int) -> str:
    try:
        text = str(e)
    except Exception:
        text = "<str() failed>"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _status(state: ProbeState) -> str:
    if state.installs:
        return "installed"
    return "error" if state.errors else "not_found"


def _not_found_message(state: ProbeState, main_name: str) -> str:
    t = state.spec.target
    if state.import_failed is not None:
        return f"{state.import_failed}, so its functions never existed"
    if t.module is not None:
        msg = f"module {t.module} was never imported"
        if t.module in sys.modules:
            msg = (f"module {t.module} was imported but not through splice's import hook "
                   f"(another finder or an import before the run started), so no probe was set")
        if t.module == main_name:
            msg += f"; the script runs as __main__: name it by path ({t.module.replace('.', '/')}.py:...)"
        return msg
    return f"no module from {t.file} was imported, and it is not the script being run"


def _calls(state: ProbeState) -> tuple[list[Any], int]:
    calls, hits = [], 0
    for inst in state.installs:
        calls.extend(inst.calls())
        if inst.counter is not None:
            hits += inst.hits() or 0
    return calls, hits


def _evals(state: ProbeState) -> list[tuple[str, list[Any]]]:
    out: list[tuple[str, list[Any]]] = [(text, []) for text in state.spec.evals]
    for inst in state.installs:
        for i in range(len(inst.evals)):
            out[i][1].extend(inst.eval_values(i))
    return out


def _hits(state: ProbeState) -> Optional[int]:
    if state.spec.kind == "capture":
        return _calls(state)[1]
    if not state.installs:
        return 0
    total = 0
    for inst in state.installs:
        h = inst.hits() if inst.breakpoint is not None else None
        if h is None:
            return None
        total += h
    return total


def _call_json(info: Any, width: int) -> dict[str, Any]:
    return {
        "function": info.name,
        "file": info.file,
        "args": {k: describe(v, width) for k, v in (info.args or {}).items()},
        "locals": {k: describe(v, width) for k, v in (info.locals or {}).items()},
        "return_value": None if info.exception is not None else describe(info.return_value, width),
        "exception": _exc(info.exception, width),
    }


def process_probes(session: Session, main_name: str = "", width: int = 120) -> list[dict[str, Any]]:
    """The ``probe`` objects (docs/cli.md) of this process: what its probes
    recorded here (in a forked child: since the fork)."""
    probes = []
    for s in session.states:
        spec = s.spec
        status = _status(s)
        p: dict[str, Any] = {
            "id": spec.index,
            "kind": spec.kind,
            "target": spec.target.text,
            "line": spec.line,
            "cond": spec.cond,
            "actions": [{"kind": k, "code": t} for k, t in spec.actions],
            "status": status,
            "message": _not_found_message(s, main_name) if status == "not_found" else None,
            "errors": list(s.errors),
            "installed": [
                {"module": i.module, "file": i.file, "functions": i.functions} for i in s.installs
            ],
            "hits": _hits(s),
        }
        if spec.kind == "capture":
            calls, _ = _calls(s)
            p["calls"] = [_call_json(c, width) for c in calls]
        else:
            p["evals"] = [
                {"expr": text, "values": [describe(v, width) for v in values]} for text, values in _evals(s)
            ]
        probes.append(p)
    return probes


def process_entry(ident: dict[str, Any], probes: list[dict[str, Any]], *, exit_status: Optional[int] = None,
                  flushed: Optional[str] = None, run_id: str = "") -> dict[str, Any]:
    """A ``process`` object (docs/cli.md) for a process that reported."""
    p = {k: ident[k] for k in _IDENT}
    p.update(run_id=run_id, reported=True, state="reported", exit_status=exit_status, flushed=flushed,
             probes=probes)
    return p


_IDENT = ("key", "pid", "ppid", "host", "rank", "local_rank", "world_size", "role", "how", "argv")
PROCESS_KEYS = frozenset(_IDENT) | {"run_id", "reported", "state", "exit_status", "flushed", "probes"}


def build(session: Session, run: dict[str, Any], width: int = 120,
          processes: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """The JSON document (plain data) for a finished run; ``run`` is the
    ``"run"`` object (command, exit status, exception). ``processes`` are
    the ``process`` objects of every process of the run, this one included;
    by default, this process alone."""
    if processes is None:
        probes = process_probes(session, run.get("module") or "", width)
        processes = [process_entry(identity("main", "main", False), probes, exit_status=run.get("exit_status"),
                                   flushed="exit")]
    return combine(run, processes)


def _same_probe(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("id", "kind", "target", "line", "cond", "actions"))


class MergeError(ValueError):
    """Process records that cannot be merged (different probes)."""


def combine(run: dict[str, Any], processes: list[dict[str, Any]]) -> dict[str, Any]:
    """The document for a run made of ``processes`` (``process`` objects):
    ``probes`` adds up every reported process's probes (hits summed, calls
    and values concatenated in process order); raises :class:`MergeError`
    if processes had different probes."""
    reported = [p for p in processes if p["reported"]]
    template = reported[0]["probes"] if reported else []
    for p in reported[1:]:
        if len(p["probes"]) != len(template) or not all(map(_same_probe, p["probes"], template)):
            raise MergeError(
                f"{process_label(p)} (run {p.get('run_id')}) had other probes than {process_label(reported[0])}: "
                f"merge the records of runs made with the same --capture/--break options"
            )
    probes = []
    for j, meta in enumerate(template):
        per = [p["probes"][j] for p in reported]
        installed: list[dict[str, Any]] = []
        for q in per:
            for i in q["installed"]:
                if i not in installed:
                    installed.append(i)
        errors: list[str] = []
        for q in per:
            for e in q["errors"]:
                if e not in errors:
                    errors.append(e)
        status = "installed" if installed else ("error" if errors else "not_found")
        hits_list = [q["hits"] for q in per if q["hits"] is not None]
        agg: dict[str, Any] = {k: meta[k] for k in ("id", "kind", "target", "line", "cond", "actions")}
        agg.update(
            status=status,
            message=next((q["message"] for q in per if q["message"]), meta["message"]) if status == "not_found"
            else None,
            errors=errors,
            installed=installed,
            hits=sum(hits_list) if hits_list else None,
        )
        if meta["kind"] == "capture":
            agg["calls"] = [c for q in per for c in q["calls"]]
        else:
            agg["evals"] = [
                {"expr": e["expr"], "values": [v for q in per for v in q["evals"][k]["values"]]}
                for k, e in enumerate(meta["evals"])
            ]
        probes.append(agg)
    return {
        "schema": SCHEMA_VERSION,
        "splice_version": splice.__version__,
        "python": platform.python_version(),
        "run": run,
        "probes": probes,
        "processes": [{k: p.get(k) for k in _ORDER} for p in processes],
    }


_ORDER = ("key", "pid", "ppid", "host", "rank", "local_rank", "world_size", "role", "how", "argv", "run_id",
          "reported", "state", "exit_status", "flushed", "probes")


def write_json(doc: dict[str, Any], path: str) -> None:
    """Write the document (UTF-8, indented)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, default=str)
        f.write("\n")


# -- summary ---------------------------------------------------------------------


def _pick(n: int, show: int) -> list[int]:
    """Indexes of the items shown: all if few, else the first ones and the last."""
    if n <= show:
        return list(range(n))
    if show <= 1:
        return [n - 1][:show]
    return list(range(show - 1)) + [n - 1]


def _probe_head(p: dict[str, Any], w: Any) -> None:
    head = f"[{p['id']}] {p['kind']} {p['target']}"
    if p["line"] is not None:
        head += f" --line {p['line']!r}" if isinstance(p["line"], str) else f" --line {p['line']}"
    if p["cond"] is not None:
        head += f" --cond {p['cond']!r}"
    w(head + "\n")
    for a in p["actions"]:
        if a["kind"] == "exec":  # evals are listed with their values below
            w(f"    exec: {a['code']}\n")
    if p["status"] == "not_found":
        w(f"    NOT FOUND: {p['message']}\n")
    for e in p["errors"]:
        w(f"    ERROR: {e}\n")
    for inst in p["installed"]:
        fns = ", ".join(
            f["function"] + (f" (line {', '.join(map(str, f['lines']))})" if f["lines"] else "")
            for f in inst["functions"]
        )
        w(f"    in {inst['module']}: {fns}\n")


def _count_line(p: dict[str, Any]) -> str:
    if p["kind"] == "capture":
        kept = f" ({len(p['calls'])} recorded)" if len(p["calls"]) != p["hits"] else ""
        return f"calls: {p['hits']}{kept}"
    return f"hits: {p['hits'] if p['hits'] is not None else 'not counted'}"


def _probe_body(p: dict[str, Any], w: Any, show: int, ind: str = "    ") -> None:
    """The calls or values of one probe (``p``: a probe object)."""
    if p["kind"] == "capture":
        calls = p["calls"]
        for i in _pick(len(calls), show):
            c = calls[i]
            w(f"{ind}call #{i + 1} {c['function']}\n")
            for k, v in c["args"].items():
                w(f"{ind}    arg    {k} = {format_value(v)}\n")
            for k, v in c["locals"].items():
                if k not in c["args"]:
                    w(f"{ind}    local  {k} = {format_value(v)}\n")
            if c["exception"] is not None:
                w(f"{ind}    raised {c['exception']['type']}: {c['exception']['message']}\n")
            else:
                w(f"{ind}    return {format_value(c['return_value'])}\n")
        if len(calls) > show:
            # true whether or not --json was given (the summary cannot tell)
            w(f"{ind}({len(calls) - show} more calls not shown: --show {len(calls)} shows them all, "
              f"--json FILE writes every call)\n")
    else:
        for ev in p["evals"]:
            vals = ev["values"]
            w(f"{ind}eval {ev['expr']}: {len(vals)} value{'s' if len(vals) != 1 else ''}\n")
            for i in _pick(len(vals), show):
                w(f"{ind}    #{i + 1} {format_value(vals[i])}\n")


def _argv_text(argv: list[str], width: int = 60) -> str:
    text = " ".join(argv[1:] if argv else [])
    return text if len(text) <= width else text[: width - 3] + "..."


def _proc_line(p: dict[str, Any]) -> str:
    label = process_label(p)
    more = f"ppid {p['ppid']}, {p['how']}" if p.get("role") != "main" else "the splice run process"
    if p["reported"]:
        end = ""
    elif p["state"] == "running":
        end = "  DID NOT REPORT (still running when the run ended)"
    else:
        end = "  DID NOT REPORT (killed, or left before its records were written; see docs/cli.md, Who reported)"
    argv = "" if p.get("how") == "fork" else "  " + _argv_text(p.get("argv") or [])  # a fork: its parent's
    return f"  {label:<22} ({more}){argv}{end}\n"


def summary(doc: dict[str, Any], out: TextIO, show: int = 3, title: Optional[str] = None) -> None:
    """The readable summary of ``doc`` (see docs/cli.md for an example).
    With several processes, each probe's calls or values are shown per
    process, and the processes that started but did not report are named.
    ``title`` replaces the header line (``attach`` has its own)."""
    w = out.write
    run = doc["run"]
    status = run.get("exit_status")
    exc = run.get("exception")
    end = f"exit status {status}" if status is not None else "exit status unknown"
    if exc:
        end += f", {exc['type']}: {exc['message']}"
    w(f"\n{title}\n" if title is not None else f"\n=== splice run summary ({end}) ===\n")
    procs = doc.get("processes") or []
    multi = len(procs) > 1
    if multi:
        rep = [p for p in procs if p["reported"]]
        w(f"processes: {len(procs)} started, {len(rep)} reported\n")
        for p in procs:
            w(_proc_line(p))
    if not doc["probes"]:
        w("no probes were given (--capture / --break)\n")
    for j, p in enumerate(doc["probes"]):
        _probe_head(p, w)
        if p["status"] != "installed":
            continue
        if not multi:
            w(f"    {_count_line(p)}\n")
            _probe_body(p, w, show)
            continue
        w(f"    {_count_line(p)} in all\n")
        for proc in procs:
            if not proc["reported"] or j >= len(proc["probes"]):
                continue
            q = proc["probes"][j]
            if q["status"] != "installed":
                continue
            w(f"    -- {process_label(proc)} (ppid {proc['ppid']}): {_count_line(q)}\n")
            _probe_body(q, w, show, "       ")
    lost = [p for p in procs if not p["reported"]]
    if lost:
        w(f"did not report: {', '.join(process_label(p) for p in lost)} "
          f"(their records are lost; the others are complete)\n")
    w("===\n")


# -- pickle ------------------------------------------------------------------------


def _raw(session: Session) -> dict[str, Any]:
    probes = []
    for s in session.states:
        p: dict[str, Any] = {"id": s.spec.index, "kind": s.spec.kind, "target": s.spec.target.text}
        if s.spec.kind == "capture":
            calls, _ = _calls(s)
            p["calls"] = [
                {
                    "function": c.name,
                    "file": c.file,
                    "args": dict(c.args or {}),
                    "locals": dict(c.locals or {}),
                    "return_value": c.return_value,
                    "exception": c.exception,
                }
                for c in calls
            ]
        else:
            p["evals"] = [{"expr": text, "values": values} for text, values in _evals(s)]
        probes.append(p)
    return {"schema": SCHEMA_VERSION, "probes": probes, "replaced": []}  # this process's values only


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return True
    except Exception:
        return False


def _replace_unpicklable(probes: list[Any], replaced: list[str], width: int) -> list[Any]:
    """A copy of the raw probes in which every captured value that cannot be
    pickled is the string ``"<unpicklable T: repr>"`` (its path recorded)."""
    out = []
    for i, p in enumerate(probes):
        q = dict(p)
        base = f"probes[{i}]"
        if "calls" in p:
            q["calls"] = []
            for j, c in enumerate(p["calls"]):
                cb = f"{base}.calls[{j}]"
                d = dict(c)
                d["args"] = {k: _leaf(v, f"{cb}.args.{k}", replaced, width) for k, v in c["args"].items()}
                d["locals"] = {k: _leaf(v, f"{cb}.locals.{k}", replaced, width) for k, v in c["locals"].items()}
                d["return_value"] = _leaf(c["return_value"], f"{cb}.return_value", replaced, width)
                d["exception"] = _leaf(c["exception"], f"{cb}.exception", replaced, width)
                q["calls"].append(d)
        else:
            q["evals"] = [
                {"expr": e["expr"],
                 "values": [_leaf(v, f"{base}.evals[{j}].values[{k}]", replaced, width)
                            for k, v in enumerate(e["values"])]}
                for j, e in enumerate(p["evals"])
            ]
        out.append(q)
    return out


def _leaf(value: Any, path: str, replaced: list[str], width: int) -> Any:
    if _picklable(value):
        return value
    replaced.append(path)
    d = describe(value, width)
    return f"<unpicklable {d['type']}: {d['repr']}>"


def write_pickle(session: Session, path: str, width: int = 120) -> list[str]:
    """Pickle the raw captured values (``{"schema", "probes", "replaced"}``,
    probes shaped like the JSON's). Values that cannot be pickled are
    replaced by a ``"<unpicklable TYPE: repr>"`` string and their places
    listed in ``"replaced"``, which is also returned."""
    doc = _raw(session)
    try:
        data = pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        replaced: list[str] = []
        doc = {"schema": doc["schema"], "probes": _replace_unpicklable(doc["probes"], replaced, width),
               "replaced": replaced}
        data = pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
    with open(path, "wb") as f:
        f.write(data)
    return list(doc["replaced"])
