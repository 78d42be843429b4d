"""`python -m splice run` in every process of a job (docs/cli.md, "Child
processes"): multiprocessing with each start method, subprocess children
(ranks, re-executed scripts, a chained sitecustomize), a child killed with
SIGKILL, `python -m splice merge`, and with torch a DataLoader's workers and
torchrun/DDP ranks. Real processes, on CPU."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from cli_schema import FIXTURES, check_schema

# find_spec, not import: torch imported into the pytest process would make
# every later test run in a heap of torch's size
HAVE_TORCH = importlib.util.find_spec("torch") is not None

needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason=f"torch is not installed for Python {sys.version.split()[0]} "
                                 "(scripts/venv installs it on 3.11 and 3.15 only)")


def splice(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONUNBUFFERED", "RANK", "LOCAL_RANK", "WORLD_SIZE", "SPLICE_RUN_DIR"):
        e.pop(k, None)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "splice", *args], cwd=FIXTURES, capture_output=True, text=True,
                          timeout=timeout, env=e)


def stdout_json(r: subprocess.CompletedProcess) -> dict:
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, (r.stdout, r.stderr)
    return json.loads(lines[-1])


def by_pid(doc: dict) -> dict[int, dict]:
    return {p["pid"]: p for p in doc["processes"]}


# -- multiprocessing -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_every_call_in_every_child(tmp_path, method):
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "mp_jobs.py:work", "--json", str(out), "mp_jobs.py", method, "pool")
    assert r.returncode == 0, r.stderr
    seen = stdout_json(r)
    doc = json.loads(out.read_text())
    check_schema(doc)
    procs = by_pid(doc)
    main = doc["processes"][0]
    assert main["role"] == "main" and main["pid"] == seen["main"] and main["probes"][0]["hits"] == 0
    # the script's own record of which process ran work(x), against splice's
    expected = Counter(pid for pid, _ in seen["calls"])
    assert len(seen["calls"]) == 8 and len(expected) >= 3  # >= 1 pool worker + 2 Processes
    for pid, n in expected.items():
        p = procs[pid]
        assert p["reported"] and p["role"] == "child", p
        assert p["how"] == ("exec" if method == "spawn" else "fork")
        if method != "forkserver":  # forkserver children are forked by the server process
            assert p["ppid"] == seen["main"]
        probe = p["probes"][0]
        assert probe["hits"] == n and len(probe["calls"]) == n
        xs = sorted(x for q, x in seen["calls"] if q == pid)
        assert sorted(int(c["args"]["x"]["repr"]) for c in probe["calls"]) == xs
        assert all(c["return_value"]["repr"].startswith(f"({pid}, ") for c in probe["calls"])
    # every process that started reported (pool workers leave by SIGTERM
    # from Pool.terminate(), Processes through os._exit or exit)
    assert all(p["reported"] for p in doc["processes"])
    assert {p["flushed"] for p in doc["processes"] if p["role"] == "child"} <= {"SIGTERM", "os._exit", "exit"}
    assert doc["probes"][0]["hits"] == 8
    assert f"processes: {len(doc['processes'])} started, {len(doc['processes'])} reported" in r.stderr
    assert "did not report" not in r.stderr


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_sigterm_pending_while_the_main_thread_blocks_still_ends_the_child(tmp_path, method):
    """The window in which Pool.terminate() hung a pool worker (CI, 3.14):
    SIGTERM arrives while the main thread is about to block in sem_wait, so
    the handler would never run; the child's SIGTERM watch makes it run.
    A forkserver child gets its watch only after multiprocessing has set it
    up (the server's wakeup fd, then none): before that fix it hung here."""
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "sigterm_race.py:work", "--json", str(out), "sigterm_race.py", method)
    assert r.returncode == 0, r.stderr
    seen = stdout_json(r)
    assert seen["exitcode"] == -15  # died by SIGTERM, as without splice (not killed after 20 s)
    doc = json.loads(out.read_text())
    child = by_pid(doc)[seen["child"]]
    assert child["reported"] and child["flushed"] == "SIGTERM"
    assert child["probes"][0]["hits"] == 1
    assert "did not report" not in r.stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_killed_child_is_named(tmp_path, method):
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "mp_jobs.py:work", "--json", str(out), "mp_jobs.py", method, "kill")
    assert r.returncode == 0, r.stderr
    seen = stdout_json(r)
    killed = seen["killed"]
    doc = json.loads(out.read_text())
    check_schema(doc)
    procs = by_pid(doc)
    assert set(procs) >= {pid for pid, _ in seen["calls"]}
    assert procs[killed]["reported"] is False and procs[killed]["state"] == "lost"
    assert procs[killed]["probes"] == []
    others = [pid for pid, _ in seen["calls"] if pid != killed]
    assert len(others) == 2
    for pid in others:
        assert procs[pid]["reported"] and procs[pid]["probes"][0]["hits"] == 1
    assert doc["probes"][0]["hits"] == 2  # the killed child's call is lost with it
    err = r.stderr
    n = len(doc["processes"])
    assert f"processes: {n} started, {n - 1} reported" in err
    assert f"did not report: pid {killed} " in err
    assert f"pid {killed}" in err.split("DID NOT REPORT")[0].splitlines()[-1]


def test_no_follow_children(tmp_path):
    out = tmp_path / "o.json"
    r = splice("run", "--no-follow-children", "--capture", "mp_jobs.py:work", "--json", str(out),
               "mp_jobs.py", "spawn", "pool")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    check_schema(doc)
    assert [p["role"] for p in doc["processes"]] == ["main"]
    assert doc["probes"][0]["hits"] == 0  # work() ran in the children only
    assert "processes:" not in r.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_no_follow_children_leaves_a_forked_child_untouched():
    """A forked child inherited the patched code (its memory is the
    parent's), although the option says children run untouched; the probes
    are taken away in it at the fork now."""
    r = splice("run", "--no-follow-children", "--break", "fork_plain.py:f", "--line", "return y",
               "--exec", "y = y + 1000", "fork_plain.py")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith(("parent", "child"))]
    assert lines == ["parent before 1002", "child 2", "parent after 1002"], r.stdout


def test_main_target_follows_the_script_into_spawned_children(tmp_path):
    # __main__:work names the script run gives (as mp_jobs.py:work does), so the
    # spawn children that run it again as __mp_main__ are probed too
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "__main__:work", "--json", str(out), "mp_jobs.py", "spawn", "pool")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    check_schema(doc)
    assert doc["probes"][0]["target"] == "__main__:work"
    assert doc["probes"][0]["hits"] == 8 == len(stdout_json(r)["calls"])
    assert all(p["reported"] and not p["probes"][0]["errors"] for p in doc["processes"])


# -- subprocess children: ranks, scripts re-executed, sitecustomize chained --------------


def test_subprocess_children_ranks_and_sitecustomize(tmp_path):
    user_site = tmp_path / "site"
    user_site.mkdir()
    (user_site / "sitecustomize.py").write_text('MARK = "user sitecustomize ran"\n')
    out = tmp_path / "o.json"
    r = splice(
        "run", "--capture", "subchild.py:scale", "--capture", "mathlib:softmax",
        "--break", "subchild.py:scale", "--line", "return y", "--cond", "splice_rank == 1", "--exec", "y = -y",
        "--json", str(out), "sub_jobs.py",
        env={"PYTHONPATH": str(user_site)},
    )
    assert r.returncode == 0, r.stderr
    seen = stdout_json(r)
    c0, c1 = seen["children"]
    # the probes ran inside the children's own __main__ (re-executed, same pid)
    assert c0["vals"] == [2, 4, 6] and c1["vals"] == [-2, -4, -6]  # the exec ran on rank 1 only
    for c in (c0, c1):
        assert c["name"] == "__main__" and c["argv"][0].endswith("subchild.py")
        assert c["path0"] == str(FIXTURES)
        assert c["user_sitecustomize"] == "user sitecustomize ran"  # chained, not replaced
    assert (c0["unbuffered"], c1["unbuffered"]) == (False, True)  # `python -u` kept through the re-exec
    doc = json.loads(out.read_text())
    check_schema(doc)
    procs = by_pid(doc)
    r0, r1, cc = procs[c0["pid"]], procs[c1["pid"]], procs[seen["c_child"]]
    assert (r0["key"], r0["rank"], r0["local_rank"], r0["world_size"]) == ("rank0", 0, 0, 2)
    assert (r1["key"], r1["rank"]) == ("rank1", 1)
    assert r1["exit_status"] == 1 and r0["exit_status"] == 0  # the script's sys.exit(rank)
    assert r1["argv"][1:] == ["-u", str(FIXTURES / "subchild.py"), "1"]
    for p in (r0, r1, cc):
        assert p["how"] == "exec" and p["ppid"] == seen["main"] and p["reported"]
    scale, softmax, brk = doc["probes"]
    assert [q["hits"] for q in r0["probes"]] == [3, 0, 0]
    assert [q["hits"] for q in r1["probes"]] == [3, 0, 3]
    assert [q["hits"] for q in cc["probes"]] == [0, 1, 0]
    assert [c["return_value"]["repr"] for c in r1["probes"][0]["calls"]] == ["-2", "-4", "-6"]
    assert (scale["hits"], softmax["hits"], brk["hits"]) == (6, 1, 3)
    assert "rank 1 pid" in r.stderr and "hits: 3" in r.stderr


# -- merge -----------------------------------------------------------------------------


def test_merge_two_nodes(tmp_path):
    shared = tmp_path / "shared"
    docs = []
    for node in (0, 1):  # two "nodes": one splice run each, RANK set for the launcher
        out = tmp_path / f"node{node}.json"
        r = splice("run", "--capture", "mp_jobs.py:work", "--out-dir", str(shared), "--json", str(out),
                   "mp_jobs.py", "fork", "pool", env={"RANK": str(node)})
        assert r.returncode == 0, r.stderr
        doc = json.loads(out.read_text())
        check_schema(doc)
        assert doc["processes"][0]["key"] == f"rank{node}"
        assert all(p["rank"] == node for p in doc["processes"])  # each run reports its own processes only
        docs.append(doc)
    merged = tmp_path / "merged.json"
    r = splice("merge", str(shared), "--json", str(merged))
    assert r.returncode == 0, r.stderr
    doc = json.loads(merged.read_text())
    check_schema(doc, merged=True)
    assert sorted((p["run_id"], p["pid"]) for p in doc["processes"]) == sorted(
        (p["run_id"], p["pid"]) for d in docs for p in d["processes"])
    assert doc["probes"][0]["hits"] == 16 == sum(d["probes"][0]["hits"] for d in docs)
    assert [p["role"] for p in doc["processes"][:2]] == ["main", "main"]
    assert doc["run"] == docs[0]["run"]
    assert "merged 2 runs" in r.stderr
    # nothing to merge / no such directory
    empty = tmp_path / "empty"
    empty.mkdir()
    r = splice("merge", str(empty))
    assert r.returncode == 1 and "no process records" in r.stderr
    r = splice("merge", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such directory" in r.stderr


# -- torch: DataLoader workers, torchrun ranks --------------------------------------------


@needs_torch
def test_dataloader_workers(tmp_path):
    out = tmp_path / "o.json"
    r = splice("run", "--capture", "dl_job.py:Squares.__getitem__", "--json", str(out), "dl_job.py", "10")
    assert r.returncode == 0, r.stderr
    seen = stdout_json(r)
    assert sorted(seen["items"]) == list(range(10)) and len(seen["workers"]) == 2
    doc = json.loads(out.read_text())
    check_schema(doc)
    procs = by_pid(doc)
    assert procs[seen["main"]]["probes"][0]["hits"] == 0  # the dataset is read in the workers only
    fetched = []
    for pid in seen["workers"]:
        p = procs[pid]
        assert p["reported"] and p["role"] == "child" and p["how"] == "fork"
        if sys.version_info < (3, 14):  # fork; 3.14+ default to forkserver, whose server forks them
            assert p["ppid"] == seen["main"]
        calls = p["probes"][0]["calls"]
        assert p["probes"][0]["hits"] == len(calls) > 0
        fetched += [int(c["args"]["i"]["repr"]) for c in calls]
        assert all(c["return_value"]["repr"].startswith("(") and f", {pid}, tensor(" in c["return_value"]["repr"]
                   for c in calls)
    assert sorted(fetched) == list(range(10))  # every item, once, in the worker that fetched it
    assert doc["probes"][0]["hits"] == 10
    print("\nDataLoader per-process entries:", json.dumps(
        [{"pid": p["pid"], "ppid": p["ppid"], "rank": p["rank"], "role": p["role"], "how": p["how"],
          "hits": p["probes"][0]["hits"]} for p in doc["processes"]]))


@needs_torch
def test_torchrun_ddp_ranks(tmp_path):
    out = tmp_path / "o.json"
    r = splice(
        "run", "--capture", "ddp_train.py:Net.forward", "--capture", "ddp_train.py:step",
        "--break", "ddp_train.py:Net.forward", "--line", "return out", "--cond", "splice_rank == 1",
        "--exec", "out = out * 2", "--show", "1", "--json", str(out),
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "ddp_train.py",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    # the ranks share stdout: their lines may interleave
    printed = {d["rank"]: d for d in map(json.loads, re.findall(r'\{"rank": [^{}]*\}', r.stdout))}
    assert sorted(printed) == [0, 1], r.stdout
    doc = json.loads(out.read_text())
    check_schema(doc)
    assert doc["run"]["exit_status"] == 0 and doc["run"]["module"] == "torch.distributed.run"
    ranks = {p["rank"]: p for p in doc["processes"] if p["rank"] is not None}
    assert sorted(ranks) == [0, 1]
    loss = {}
    for rank, p in ranks.items():
        assert p["reported"] and p["key"] == f"rank{rank}" and p["pid"] == printed[rank]["pid"]
        assert p["ppid"] == doc["processes"][0]["pid"] and p["how"] == "exec" and p["exit_status"] == 0
        fwd, step, brk = p["probes"]
        assert fwd["hits"] == 1 and step["hits"] == 1
        assert brk["hits"] == (1 if rank == 1 else 0)
        loss[rank] = float(step["calls"][0]["return_value"]["repr"])
        assert loss[rank] == printed[rank]["loss"]
        assert fwd["calls"][0]["locals"]["out"]["shape"] == [2, 3]
    # the exec doubled `out` on rank 1 only, so its loss (out.sum()) is exactly twice rank 0's
    assert loss[0] != 0 and loss[1] == 2 * loss[0]
    assert "rank 0 pid" in r.stderr and "rank 1 pid" in r.stderr
    print("\ntorchrun summary:\n" + r.stderr[r.stderr.index("=== splice run summary"):])
