"""The compiled-template cache (splice.template._templates) and the hook-name
slots of breakpoints (splice.breakpoint._Slots): entering the same
breakpoint again compiles nothing, and nothing that changes the snippet is
ever served from the cache."""

from __future__ import annotations

import gc
import sys

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


def test_a_breakpoint_freed_while_enabled_gives_its_hook_names_back(builds):
    """A breakpoint made on a NoPdb that stops with it still enabled, then
    dropped: its slot was never given back, so slot numbers grew without
    bound and every new breakpoint compiled its snippet again."""

    def once() -> None:
        with splice.NoPdb() as n:
            b = n.breakpoint(target, line="return b")
            b.exec("b = b * 10")
            assert target(1) == 20

    once()
    gc.collect()
    first = len(builds)
    for _ in range(20):
        once()
        gc.collect()
    assert len(builds) == first  # the same hook names: the cached template
    slots = sys.modules["splice.breakpoint"]._bp_ids  # (splice.breakpoint is the function)
    taken = slots.take()
    slots.give(taken)
    assert taken < 5, taken


def test_a_slot_given_back_when_an_interrupt_lands_is_given_once(monkeypatch):
    """A KeyboardInterrupt from a signal handler can land when the push in
    ``_Slots.give`` returns (CPython runs handlers after a call). The
    breakpoint still held its number then and gave it again when it was
    freed: the number was free twice, and two live breakpoints got the same
    hook names (found by CI's random-signal test, on 3.15)."""
    slots = sys.modules["splice.breakpoint"]._bp_ids
    real_give = slots.give
    cut = []

    def give_then_interrupted(n):
        real_give(n)
        if not cut:
            cut.append(n)
            raise KeyboardInterrupt

    monkeypatch.setattr(slots, "give", give_then_interrupted)
    bp = splice.breakpoint(target, line="return b")
    with pytest.raises(KeyboardInterrupt):
        bp.disable()
    assert cut and not bp.enabled
    del bp
    gc.collect()
    monkeypatch.undo()
    with splice.breakpoint(target, line="return b") as one:
        with splice.breakpoint(target, line="return b") as two:
            assert one._id != two._id


def test_a_number_given_twice_is_free_once():
    slots = sys.modules["splice.breakpoint"]._Slots()
    a, b = slots.take(), slots.take()
    slots.give(a)
    slots.give(a)
    assert slots.take() == a and slots.take() == b + 1


def _load_class(path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"splice_equal_code_{name.lower()}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_equal_code_objects_of_two_classes_get_their_own_templates(tmp_path):
    """CPython's code equality ignores co_qualname and co_filename: two
    classes' methods with the same body on the same line are equal code
    objects. Each must get its own template (private names are mangled with
    its own class), never the other's from the cache."""
    body = "    def forward(self, x):\n        y = x + 1\n        return y\n"
    classes = []
    for name in ("Foo", "Bar"):
        path = tmp_path / f"{name.lower()}.py"
        path.write_text(f"class {name}:\n{body}")
        classes.append(_load_class(path, name))
    foo, bar = classes
    assert foo.forward.__code__ == bar.forward.__code__  # the premise
    assert foo.forward.__code__ is not bar.forward.__code__
    seen = {}
    for cls in (foo, bar):
        with splice.breakpoint(cls.forward, line="return y") as bp:
            bp.exec("self.__seen = y")
            obj = cls()
            assert obj.forward(1) == 2
        seen[cls.__name__] = sorted(vars(obj))
        assert cls.forward.__code__.co_qualname == f"{cls.__name__}.forward"
    assert seen == {"Foo": ["_Foo__seen"], "Bar": ["_Bar__seen"]}
    # and the scope each template was built from names its own file
    assert template.ScopeInfo.from_code(foo.forward.__code__).filename.endswith("foo.py")
    assert template.ScopeInfo.from_code(bar.forward.__code__).filename.endswith("bar.py")


def test_per_code_cache_lets_go_of_the_code_object():
    from splice.codecache import PerCode

    cache: PerCode[int] = PerCode()
    code = compile("x = 1", "<t>", "exec")
    twin = compile("x = 1", "<t>", "exec")
    assert code == twin and code is not twin
    cache.set(code, 1)
    assert cache.get(code) == 1
    assert cache.get(twin) is None  # identity, not equality
    del code
    gc.collect()
    assert len(cache) == 0
