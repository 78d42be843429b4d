"""The shape of the ``process`` object in a record or start file
(docs/cli.md, "JSON schema"), checked before anything reads it.

Record files come from other processes and machines (``merge`` reads
whatever directories it is given); one that parses as JSON but holds the
wrong structure (``"process": null``, a probe without ``calls``, a pid that
is a string) must be skipped with a message, not crash the summary. Only
what :func:`splice.cli.report.combine` and the summary read is checked, with
the types they rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

__all__ = ["process_problem"]


class _Bad(ValueError):
    """The first thing found wrong (its message names the place)."""


def _need(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise _Bad(f"{where}: {what}")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _fields(d: Any, where: str, checks: dict[str, Callable[[Any], bool]]) -> None:
    """``d`` is an object whose keys in ``checks`` pass their check."""
    _need(isinstance(d, dict), where, f"not an object ({type(d).__name__})")
    for key, check in checks.items():
        _need(key in d, where, f"no {key!r}")
        _need(check(d[key]), f"{where}.{key}", f"unexpected value {d[key]!r:.60}")


def _list(v: Any, where: str, each: Callable[[Any, str], None]) -> None:
    _need(isinstance(v, list), where, f"not a list ({type(v).__name__})")
    for i, item in enumerate(v):
        each(item, f"{where}[{i}]")


def _value(v: Any, where: str) -> None:
    _fields(v, where, {"type": _str, "repr": _str, "shape": _opt(lambda s: isinstance(s, list)),
                       "dtype": _opt(_str)})


def _exception(e: Any, where: str) -> None:
    if e is not None:
        _fields(e, where, {"type": _str, "message": _str})


def _call(c: Any, where: str) -> None:
    _fields(c, where, {"function": _str, "file": _str})
    for key in ("args", "locals"):
        _need(isinstance(c.get(key), dict), where, f"{key!r} is not an object")
        for name, v in c[key].items():
            _value(v, f"{where}.{key}.{name}")
    _need("return_value" in c and "exception" in c, where, "no 'return_value'/'exception'")
    _exception(c["exception"], f"{where}.exception")
    if c["exception"] is None:  # a call that returned: the summary shows its value
        _value(c["return_value"], f"{where}.return_value")


def _installed(i: Any, where: str) -> None:
    _fields(i, where, {"module": _str, "file": _str})
    _list(i.get("functions"), f"{where}.functions", lambda f, w: _fields(f, w, {
        "function": _str, "file": _str, "first_line": _int,
        "lines": _opt(lambda ls: isinstance(ls, list) and all(map(_int, ls)))}))


def _eval(e: Any, where: str) -> None:
    _fields(e, where, {"expr": _str})
    _list(e.get("values"), f"{where}.values", _value)


def _probe(p: Any, where: str) -> None:
    _fields(p, where, {
        "id": _int, "kind": lambda k: k in ("capture", "break"), "target": _str,
        "line": _opt(lambda v: _int(v) or _str(v)), "cond": _opt(_str), "status": _str, "message": _opt(_str),
        "hits": _opt(_int),
    })
    _list(p.get("actions"), f"{where}.actions", lambda a, w: _fields(a, w, {"kind": _str, "code": _str}))
    _list(p.get("errors"), f"{where}.errors", lambda e, w: _need(_str(e), w, "not a string"))
    _list(p.get("installed"), f"{where}.installed", _installed)
    if p["kind"] == "capture":
        _list(p.get("calls"), f"{where}.calls", _call)
        return
    evals = p.get("evals")
    _list(evals, f"{where}.evals", _eval)
    wanted = sum(1 for a in p["actions"] if a["kind"] == "eval")
    _need(len(evals) == wanted, f"{where}.evals", f"{len(evals)} entries for {wanted} --eval")


def _check(proc: Any, reported: bool) -> None:
    _fields(proc, "process", {
        "key": lambda k: _str(k) and bool(k), "pid": _int, "ppid": _int, "host": _str,
        "rank": _opt(_int), "local_rank": _opt(_int), "world_size": _opt(_int), "role": _str, "how": _str,
        "argv": lambda a: isinstance(a, list) and all(map(_str, a)),
    })
    if reported:
        _fields(proc, "process", {"flushed": _opt(_str)})
        _need("exit_status" in proc, "process", "no 'exit_status'")
        _list(proc.get("probes"), "process.probes", _probe)


def _run(run: Any) -> None:
    if run is None:
        return
    _need(isinstance(run, dict), "run", f"not an object ({type(run).__name__})")
    _exception(run.get("exception"), "run.exception")


def process_problem(data: dict[str, Any], reported: bool) -> Optional[str]:
    """What is wrong with the ``process`` (and ``run``) of a file's ``data``
    (``reported``: a record file, which has probes; else a start marker), or
    ``None`` when it has the shape the report reads."""
    try:
        _check(data.get("process"), reported)
        if reported:
            _run(data.get("run"))
    except _Bad as e:
        return str(e)
    return None
