"""The JSON document of `python -m splice run` and `merge` (docs/cli.md,
schema 2), checked key by key: used by tests/test_cli.py and
tests/test_cli_processes.py."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "cli_fixtures"


def check_value(v: dict) -> None:
    assert set(v) == {"type", "repr", "shape", "dtype"}
    assert isinstance(v["type"], str) and isinstance(v["repr"], str)
    assert v["shape"] is None or (isinstance(v["shape"], list) and all(isinstance(x, (int, str)) for x in v["shape"]))
    assert v["dtype"] is None or isinstance(v["dtype"], str)


def check_exception(e) -> None:
    assert e is None or (set(e) == {"type", "message"} and all(isinstance(x, str) for x in e.values()))


def check_probe(p: dict) -> None:
    common = {"id", "kind", "target", "line", "cond", "actions", "status", "message", "errors", "installed", "hits"}
    assert set(p) == common | ({"calls"} if p["kind"] == "capture" else {"evals"})
    assert p["kind"] in ("capture", "break")
    assert isinstance(p["target"], str)
    assert p["line"] is None or isinstance(p["line"], (int, str))
    assert p["cond"] is None or isinstance(p["cond"], str)
    for a in p["actions"]:
        assert set(a) == {"kind", "code"} and a["kind"] in ("eval", "exec") and isinstance(a["code"], str)
    assert p["status"] in ("installed", "not_found", "error")
    assert (p["message"] is not None) == (p["status"] == "not_found")
    assert all(isinstance(e, str) for e in p["errors"])
    assert (p["status"] == "error") == (not p["installed"] and bool(p["errors"]))
    for inst in p["installed"]:
        assert set(inst) == {"module", "file", "functions"}
        for f in inst["functions"]:
            assert set(f) == {"function", "file", "first_line", "lines"}
            assert isinstance(f["first_line"], int)
            assert f["lines"] is None or all(isinstance(x, int) for x in f["lines"])
    assert p["hits"] is None or isinstance(p["hits"], int)
    if p["kind"] == "capture":
        for c in p["calls"]:
            assert set(c) == {"function", "file", "args", "locals", "return_value", "exception"}
            for v in list(c["args"].values()) + list(c["locals"].values()):
                check_value(v)
            check_exception(c["exception"])
            if c["exception"] is None:
                check_value(c["return_value"])
            else:
                assert c["return_value"] is None
    else:
        assert [e["expr"] for e in p["evals"]] == [a["code"] for a in p["actions"] if a["kind"] == "eval"]
        for e in p["evals"]:
            assert set(e) == {"expr", "values"}
            for v in e["values"]:
                check_value(v)


PROCESS_KEYS = {"key", "pid", "ppid", "host", "rank", "local_rank", "world_size", "role", "how", "argv", "run_id",
                "reported", "state", "exit_status", "flushed", "probes"}


def check_process(proc: dict, probes: list) -> None:
    assert set(proc) == PROCESS_KEYS
    assert isinstance(proc["key"], str) and proc["key"]
    assert isinstance(proc["pid"], int) and isinstance(proc["ppid"], int) and isinstance(proc["host"], str)
    for k in ("rank", "local_rank", "world_size", "exit_status"):
        assert proc[k] is None or isinstance(proc[k], int)
    assert proc["role"] in ("main", "child") and proc["how"] in ("main", "fork", "exec")
    assert isinstance(proc["argv"], list) and all(isinstance(a, str) for a in proc["argv"])
    assert isinstance(proc["run_id"], str)
    assert proc["state"] in ("reported", "running", "lost")
    assert proc["reported"] == (proc["state"] == "reported")
    assert proc["flushed"] in (None, "exit", "os._exit", "SIGTERM")
    assert (proc["flushed"] is not None) == proc["reported"]
    if not proc["reported"]:
        assert proc["probes"] == []
        return
    # a process reports every probe of the run, with what it recorded itself
    assert [q["id"] for q in proc["probes"]] == [p["id"] for p in probes]
    for q, p in zip(proc["probes"], probes, strict=True):
        check_probe(q)
        assert all(q[k] == p[k] for k in ("kind", "target", "line", "cond", "actions"))


def check_schema(doc: dict, merged: bool = False) -> None:
    assert set(doc) == {"schema", "splice_version", "python", "run", "probes", "processes"}
    assert doc["schema"] == 2
    assert isinstance(doc["splice_version"], str) and isinstance(doc["python"], str)
    run = doc["run"]
    assert set(run) == {"argv", "script", "module", "exit_status", "exception"}
    if not (merged and run["argv"] is None):
        assert isinstance(run["argv"], list) and all(isinstance(a, str) for a in run["argv"])
        assert (run["script"] is None) != (run["module"] is None)
    assert run["exit_status"] is None or isinstance(run["exit_status"], int)
    check_exception(run["exception"])
    for p in doc["probes"]:
        check_probe(p)
    assert [p["id"] for p in doc["probes"]] == list(range(1, len(doc["probes"]) + 1))
    procs = doc["processes"]
    assert procs and (merged or procs[0]["role"] == "main")
    for proc in procs:
        check_process(proc, doc["probes"])
    assert len({(p["run_id"], p["key"]) for p in procs}) == len(procs)
    # the top-level probes add up the processes'
    reported = [p for p in procs if p["reported"]]
    for j, p in enumerate(doc["probes"]):
        per = [proc["probes"][j] for proc in reported]
        counted = [q["hits"] for q in per if q["hits"] is not None]
        assert p["hits"] == (sum(counted) if counted else None)
        if p["kind"] == "capture":
            assert p["calls"] == [c for q in per for c in q["calls"]]
        else:
            for k, e in enumerate(p["evals"]):
                assert e["values"] == [v for q in per for v in q["evals"][k]["values"]]
        assert (p["status"] == "installed") == any(q["status"] == "installed" for q in per)
