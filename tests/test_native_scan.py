"""splice._native.scope_names and code_lines against CPython: the same
answers as a Python pass over ``co_code`` and ``co_lines()``, for every
function of several stdlib modules and for the cases that matter (global
declarations, ``del``, ``except ... as``, EXTENDED_ARG operands)."""

from __future__ import annotations

import dis
import sys
import importlib
from types import CodeType
from typing import Iterator

import pytest

from splice import _native

MODULES = ["ast", "argparse", "asyncio.base_events", "dataclasses", "enum", "inspect", "json.decoder",
           "pathlib", "typing", "unittest.case"]


def _walk(code: CodeType) -> Iterator[CodeType]:
    yield code
    for c in code.co_consts:
        if isinstance(c, CodeType):
            yield from _walk(c)


def _codes() -> list[CodeType]:
    out = []
    for name in MODULES:
        mod = importlib.import_module(name)
        with open(mod.__file__, encoding="utf-8") as f:  # type: ignore[arg-type]
            out.extend(_walk(compile(f.read(), mod.__file__, "exec")))  # type: ignore[arg-type]
    return out


def _python_scope_names(code: CodeType) -> tuple[list[str], list[str], list[str]]:
    declared: list[str] = []
    deleted: set[str] = set()
    cleared: set[str] = set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("STORE_GLOBAL", "DELETE_GLOBAL") and ins.argval not in declared:
            declared.append(ins.argval)
        elif ins.opname == "DELETE_FAST":
            deleted.add(ins.argval)
        elif ins.opname == "LOAD_FAST_AND_CLEAR" and ins.arg < len(code.co_varnames):
            cleared.add(ins.argval)  # (a cell or free slot is past co_varnames)
    return declared, sorted(deleted), sorted(cleared)


def test_scope_names_agree_with_dis_on_stdlib_code():
    codes = _codes()
    assert len(codes) > 1000
    some = cleared = 0
    for code in codes:
        want = _python_scope_names(code)
        assert _native.scope_names(code) == want, code
        some += bool(want[0] or want[1])
        cleared += bool(want[2])
    assert some > 10  # the stdlib has global declarations and `except ... as`
    assert cleared > 10 or sys.version_info < (3, 12)  # and inlined comprehensions


def test_code_lines_agree_with_co_lines_on_stdlib_code():
    for code in _codes():
        assert _native.code_lines(code) == sorted({ln for *_, ln in code.co_lines() if ln}), code


def test_scope_names_read_extended_arg_operands():
    # 300 globals: the later ones need EXTENDED_ARG
    names = [f"g{i}" for i in range(300)]
    src = "def f():\n    global " + ", ".join(names) + "\n" + "".join(f"    {n} = 1\n" for n in names)
    src += "    x = 1\n    del x\n    try:\n        pass\n    except Exception as e:\n        pass\n"
    ns: dict = {}
    exec(compile(src, "<t>", "exec"), ns)
    declared, deleted, _ = _native.scope_names(ns["f"].__code__)
    assert declared == names
    assert deleted == ["e", "x"]


def test_scan_rejects_what_is_not_a_code_object():
    with pytest.raises(AttributeError):
        _native.scope_names(42)  # type: ignore[arg-type]
