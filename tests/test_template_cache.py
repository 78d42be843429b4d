"""The compiled-template cache (splice.template._templates) and the hook-name
slots of breakpoints (splice.breakpoint._Slots): entering the same
breakpoint again compiles nothing, and nothing that changes the snippet is
ever served from the cache."""

from __future__ import annotations

import gc

import pytest

import splice
from splice import actions, template


def target(a):
    b = a + 1
    return b


@pytest.fixture()
def builds(monkeypatch):
    made: list[str] = []
    real = template._build_template

    def counting(code, body, hooks, **kw):
        made.append(code.co_name)
        return real(code, body, hooks, **kw)

    monkeypatch.setattr(template, "_build_template", counting)
    return made


def _enter(text: str) -> int:
    with splice.breakpoint(target, line="return b") as bp:
        bp.exec(text)
        return target(1)


def test_entering_the_same_breakpoint_again_compiles_nothing(builds):
    gc.collect()
    assert _enter("b = b * 10") == 20
    first = len(builds)
    assert first >= 1
    for _ in range(3):
        gc.collect()  # the previous breakpoint object is freed: its slot is reused
        assert _enter("b = b * 10") == 20
    assert len(builds) == first
    assert target(1) == 2


def test_a_different_snippet_condition_or_line_is_compiled_anew(builds):
    def compiles(go) -> int:
        gc.collect()
        before = len(builds)
        go()
        return len(builds) - before

    def times(k: int):
        return lambda: _check(_enter(f"b = b * {k}  # t2") == 2 * k)

    def with_cond():
        with splice.breakpoint(target, line="return b", cond="a > 5  # t2") as bp:
            bp.exec("b = b * 10  # t2")
            _check(target(1) == 2 and target(6) == 70)

    def other_line():
        with splice.breakpoint(target, line="b = a + 1") as bp:
            bp.exec("a = a * 10  # t2")
            _check(target(1) == 11)

    assert compiles(times(10)) == 1
    assert compiles(times(10)) == 0
    assert compiles(times(100)) == 1  # never the cached `* 10`
    assert compiles(with_cond) >= 1  # (the condition alone is compiled first)
    assert compiles(with_cond) == 0
    assert compiles(other_line) == 1
    assert compiles(other_line) == 0
    assert compiles(times(10)) == 0


def _check(ok: bool) -> None:
    assert ok


def test_exception_notes_setting_is_part_of_the_key(builds, monkeypatch):
    gc.collect()
    with splice.breakpoint(target, line="return b") as bp:
        bp.exec("raise ValueError(b)")
        with pytest.raises(ValueError) as e:
            target(1)
    assert any("splice: raised in breakpoint code" in n for n in getattr(e.value, "__notes__", []))
    monkeypatch.setattr(actions, "ADD_EXCEPTION_NOTES", False)
    gc.collect()
    with splice.breakpoint(target, line="return b") as bp:
        bp.exec("raise ValueError(b)")
        with pytest.raises(ValueError) as e:
            target(1)
    assert not getattr(e.value, "__notes__", [])


def test_live_breakpoints_never_share_hook_names():
    with splice.breakpoint(target, line="return b") as one:
        with splice.breakpoint(target, line="return b") as two:
            assert one._id != two._id
            one.exec("b = b + 1")
            two.exec("b = b + 10")
            assert target(1) == 13  # both ran (each with its own hooks)
    assert target(1) == 2
