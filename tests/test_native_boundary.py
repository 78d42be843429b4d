"""The native boundary (``splice._native``): typed probe specs that refuse
wrong types with clear errors, rewrite errors mapped to the exception of their
kind, the constants both sides share, the one ``CallInfo`` constructor, and
the testing-only submodule."""

from __future__ import annotations

import __future__
import ast
import sys
import types

import pytest

import splice
from splice import _native
from splice._native import CaptureProbe, LineProbe, testing
from splice.errors import LocateError, RewriteError, SnippetError, SpliceError, UnsupportedVersionError
from splice.template import build_template


def target(x):
    y = x + 1 if isinstance(x, int) else x
    return y * 2


def snippet(code: types.CodeType, text: str, hooks: dict | None = None) -> types.CodeType:
    return build_template(code, ast.parse(text).body, hooks or {}).snippet


LINE = target.__code__.co_firstlineno + 1  # y = ...


# --- probe specs ---------------------------------------------------------------------------


def test_line_probe_keeps_what_it_was_given():
    snip = snippet(target.__code__, "x = x * 10")
    hooks = {"_splice_h": print}
    p = LineProbe([LINE], snip, hooks)
    assert p.lines == [LINE] and p.snippet is snip and p.hooks == hooks
    hooks["_splice_other"] = 1  # the probe took a copy
    assert p.hooks == {"_splice_h": print}
    assert LineProbe(None, snip).lines is None and LineProbe(None, snip).hooks == {}
    assert "LineProbe(lines=[" in repr(p)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        (("12", None), TypeError, "lines must be None .* or a list of line numbers, not str"),
        (([1.5], None), TypeError, "lines must be ints, not float"),
        (([True], None), TypeError, "lines must be ints, not bool"),
        (([], None), ValueError, "must not be empty"),
        (([0], None), ValueError, "line 0 is not a line number"),
        (([1], "x = 1"), TypeError, "snippet must be a code object .*, not str"),
        (([1], None, ["_splice_h"]), TypeError, "hooks must be a dict"),
        (([1], None, {1: 2}), TypeError, "hook names must be str, not int"),
        (([1], None, {"h": 2}), ValueError, "hook name 'h' must start with '_splice_'"),
    ],
)
def test_line_probe_refuses_wrong_types(args, exc, match):
    lines, snip, *rest = args
    snip = snippet(target.__code__, "pass") if snip is None else snip
    with pytest.raises(exc, match=match):
        LineProbe(lines, snip, *rest)


def test_capture_probe_needs_callables():
    p = CaptureProbe(None, print, print)
    assert p.enter is None and p.exit is print and p.error is print
    with pytest.raises(TypeError, match="CaptureProbe exit must be callable, not int"):
        CaptureProbe(print, 1, print)
    with pytest.raises(TypeError, match="CaptureProbe enter must be callable"):
        CaptureProbe("enter", print, print)
    assert CaptureProbe(print, print, print, keep_entry=True).keep_entry
    with pytest.raises(ValueError, match=r"keep_entry=True\) needs an enter hook"):
        CaptureProbe(None, print, print, keep_entry=True)


def test_a_probe_that_keeps_its_entry_passes_it_to_exit_and_error():
    """``keep_entry``: what ``enter()`` returns reaches ``exit`` and
    ``error`` as their second argument, on every path out of a generator
    (return, exception, close), and the hidden local is ``None`` until
    ``enter`` returns."""
    seen = []
    tokens = iter(range(100))

    def enter():
        return next(tokens)

    def gen(fail):
        yield 1
        if fail:
            raise KeyError(fail)
        return 2

    probe = CaptureProbe(
        enter,
        lambda value, entry: seen.append(("exit", value, entry)),
        lambda exc, entry: seen.append(("error", type(exc).__name__, entry)),
        keep_entry=True,
    )
    fn = types.FunctionType(_native.instrument(gen.__code__, [probe]), globals())
    assert list(fn(None)) == [1]
    with pytest.raises(KeyError):
        list(fn("x"))
    g = fn(None)
    next(g)
    g.close()
    assert seen == [("exit", 2, 0), ("error", "KeyError", 1), ("error", "GeneratorExit", 2)]

    def failing_enter():
        raise KeyboardInterrupt

    probe = CaptureProbe(failing_enter, print, lambda exc, entry: seen.append(("error", entry)), keep_entry=True)
    fn = types.FunctionType(_native.instrument(gen.__code__, [probe]), globals())
    with pytest.raises(KeyboardInterrupt):
        next(fn(None))
    assert seen[-1] == ("error", None)


def test_instrument_takes_only_probe_specs():
    with pytest.raises(TypeError, match="probes must be LineProbe or CaptureProbe objects, not dict"):
        _native.instrument(target.__code__, [{"at": "capture"}])
    with pytest.raises(TypeError, match="needs a code object, not function"):
        _native.instrument(target, [])


def test_instrument_applies_a_line_probe():
    code = target.__code__
    new = _native.instrument(code, [LineProbe([LINE], snippet(code, "x = x * 10"))])
    fn = types.FunctionType(new, globals())
    assert fn(1) == 22 and target(1) == 4


# --- errors ---------------------------------------------------------------------------------


def test_a_line_without_a_line_event_is_a_locate_error():
    def one_line(x): return x  # noqa: E704  (no line event after the def's own)

    code = one_line.__code__
    with pytest.raises(LocateError, match="line event fires on line") as e:
        _native.instrument(code, [LineProbe([code.co_firstlineno + 5], snippet(code, "pass"))])
    assert "verifier" not in str(e.value)


def test_a_snippet_the_rewriter_refuses_is_a_snippet_error():
    code = target.__code__
    bad = compile("def f():\n    return 1\n", "<bad>", "exec").co_consts[0]  # a `return` of its own
    with pytest.raises(SnippetError) as e:
        _native.instrument(code, [LineProbe([LINE], bad)])
    assert "verifier" not in str(e.value)


def test_an_unknown_version_is_an_unsupported_version_error():
    with pytest.raises(UnsupportedVersionError, match="CPython 3.99 is not supported"):
        testing.opcode_table(99)
    assert issubclass(UnsupportedVersionError, SpliceError)
    assert issubclass(UnsupportedVersionError, RuntimeError)
    assert splice.UnsupportedVersionError is UnsupportedVersionError


def test_a_verifier_failure_is_a_rewrite_error():
    bad = target.__code__.replace(co_stacksize=0)
    with pytest.raises(RewriteError, match="verifier"):
        testing.verify_code(bad)


def test_error_classes_are_still_importable_where_they_were():
    from splice.resolve import ScopeError, TargetError
    from splice.template import SnippetError as S2

    assert S2 is SnippetError
    assert ScopeError is splice.ScopeError and TargetError is splice.TargetError


# --- shared constants -------------------------------------------------------------------------


def test_shared_constants_match_the_interpreter():
    import inspect

    assert _native.HOOK_PREFIX == "_splice_"
    assert _native.CO_OPTIMIZED == inspect.CO_OPTIMIZED
    assert _native.CO_VARARGS == inspect.CO_VARARGS
    assert _native.CO_VARKEYWORDS == inspect.CO_VARKEYWORDS
    flags = 0
    for name in __future__.all_feature_names:
        flags |= getattr(__future__, name).compiler_flag
    assert _native.FUTURE_FLAGS == flags


# --- CallInfo ---------------------------------------------------------------------------------


def test_call_info_has_one_constructor():
    empty = splice.CallInfo()
    assert (empty.name, empty.args, empty.locals, empty.stack, empty.exception) == (None,) * 5
    info = splice.CallInfo("f", "f.py", {"a": 1}, {"a": 1, "b": 2}, {}, 3, None, None)
    assert info.name == "f" and info.args == {"a": 1} and info.return_value == 3
    assert repr(info) == "CallInfo(name='f', args=dict(a=1), return_value=3)"
    info.name = "g"
    info.extra = "user attributes still work"
    assert info.name == "g" and info.extra == "user attributes still work"


def test_call_info_copies_and_pickles_as_a_plain_record():
    import copy
    import pickle

    with splice.capture_call(target) as call:
        target(2)
    c = copy.copy(call)
    assert type(c) is splice.CallInfo and c.name == "target" and c.args == {"x": 2}
    assert c.stack.format() == call.stack.format()
    info = splice.CallInfo("f", "f.py", {"a": 1}, {"a": 1}, None, 3)
    info.note = "kept"
    back = pickle.loads(pickle.dumps(info))
    assert (back.name, back.args, back.locals, back.return_value, back.note) == ("f", {"a": 1}, {"a": 1}, 3, "kept")


def test_records_are_untracked_while_the_capture_records_and_tracked_after():
    import gc

    with splice.capture_calls(target) as calls:
        target(1)
        target([1])
        assert len(calls) == 2
        assert not any(gc.is_tracked(c) for c in calls)
        assert not any(gc.is_tracked(c.locals) for c in calls)
    assert all(gc.is_tracked(c) for c in calls)
    assert all(gc.is_tracked(c.locals) for c in calls)
    # the recorded argument values are the record's referents (a cycle
    # through one is found), until `args` is built
    arg = calls[1]._recorded_args()[1][0]
    assert any(r is arg for r in gc.get_referents(calls[1]))
    assert calls[1].args == {"x": [1]} and calls[1].args["x"] is arg
    assert calls[1]._recorded_args() is None
    assert calls[0].stack[-1].name == "target"


def test_a_record_dropped_during_the_capture_is_forgotten_not_tracked_later():
    import gc

    with splice.capture_calls(target) as calls:
        for i in range(50):
            target(i)
        calls.clear()  # every record freed while untracked
        gc.collect()
        target(100)
        del calls[:]
        target(101)
    assert [c.args["x"] for c in calls] == [101] and gc.is_tracked(calls[0])


def test_a_cycle_through_a_record_is_collected_after_the_capture():
    import gc
    import weakref

    ns: dict = {}
    exec("def h(x):\n    return x\n", ns)
    with splice.capture_calls(ns["h"]) as calls:
        ns["h"](1)
    ns["calls"] = calls  # ns -> calls -> record -> ns (its globals)
    taken = splice.CallInfo()
    with splice.capture_calls(ns["h"]) as more:
        ns["h"](2)
        taken = more.pop()  # out of the list while untracked
    taken.globals["taken"] = taken  # ns -> record -> ns
    watch = weakref.ref(calls[0]), weakref.ref(taken)
    del calls, more, taken, ns
    gc.collect()
    assert [w() for w in watch] == [None, None]


def test_setting_args_or_stack_drops_what_was_recorded():
    with splice.capture_calls(target) as calls:
        target(1)
        target(2)
    a, b = calls
    a.args = None
    a.stack = None
    assert a.args is None and a.stack is None  # not rebuilt from the recording
    assert a._recorded_args() is None and a._recorded_stack() is None
    assert b._recorded_args() is not None and b.args == {"x": 2}


def test_records_are_made_with_that_constructor():
    with splice.capture_calls(target) as calls:
        target(1)
    [c] = calls
    assert type(c) is splice.CallInfo and isinstance(c, _native.CallRecord)
    assert c.name == "target" and c.args == {"x": 1} and c.return_value == 4


# --- the testing submodule ------------------------------------------------------------------------


def test_testing_is_a_real_submodule_and_the_runtime_surface_is_narrow():
    import splice._native.testing as t

    assert t is testing and sys.modules["splice._native.testing"] is testing
    for name in ("pad_code", "roundtrip_mismatch", "opcode_table", "stack_effect", "verify_code",
                 "disassemble_instrumented", "disassemble_padded", "Counter", "pending_calls"):
        assert hasattr(testing, name) and not hasattr(_native, name), name
    for gone in ("locate", "statement_lines"):
        assert not hasattr(_native, gone), gone
