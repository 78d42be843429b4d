"""The native capture hooks (``splice._native.CaptureHooks`` / ``Recorder``):
what CPython calls, recursion depth, the records they make, reentrancy,
threads, failures, and that nothing a capture or breakpoint recorded outlives
it.
"""

import collections
import gc
import io
import subprocess
import sys
import textwrap
import threading
import traceback
import types
import warnings
import weakref

import pytest

import splice
from splice import _native
from splice._native import CaptureProbe, testing

MINOR = sys.version_info[1]


@pytest.fixture(autouse=True)
def clean():
    yield  # (conftest checks that no probe leaked)
    assert not splice.get_nopdb().started


class Big:
    """Something a captured call holds, to watch with a weak reference."""


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


def raises(n):
    data = [n]
    if n:
        raise ValueError(n)
    return data


def varargs(a, /, b, *rest, c=3, **kw):
    total = a + b + c + sum(rest)
    return total


def fact(n):
    big = Big()
    return 1 if n <= 1 else n * fact(n - 1)


def outer_with_cell(x):
    def inner():
        return x

    y = x * 2
    return inner() + y


def gen(n):
    acc = 0
    for i in range(n):
        acc += i
        yield i
    return acc


async def coro(n):
    return n * 2


class Model:
    def forward(self, x):
        big = Big()
        return x * 2


def _hooks_in(code):
    return [
        c for c in code.co_consts
        if getattr(type(getattr(c, "__self__", None)), "__name__", "") == "CaptureHooks"
    ]


# --- what CPython calls ---------------------------------------------------------------


def test_hooks_are_vectorcall_builtins_not_python_functions():
    with splice.capture_calls(f):
        hooks = _hooks_in(f.__code__)
        assert sorted(h.__name__ for h in hooks) == ["enter", "error", "exit"]
        for h in hooks:
            assert type(h) is types.BuiltinFunctionType  # a builtin, so no Python frame
            assert not isinstance(h, types.FunctionType)
            assert isinstance(h.__self__, _native.CaptureHooks)
    assert _hooks_in(f.__code__) == []


def _max_depth():
    depth = [0]

    def down(n):
        depth[0] = n
        down(n + 1)

    try:
        down(1)
    except RecursionError:
        pass
    return depth[0], down


def test_no_recursion_limit_effect():
    # The hooks are called at every level; on 3.11 a tp_call hook (or a
    # METH_O builtin) would count one more level each, so the deepest level
    # reached would be lower with the capture than without.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        plain, _ = _max_depth()
        depth = [0]

        def down(n):
            depth[0] = n
            down(n + 1)

        down_plain = []
        try:
            down(1)
        except RecursionError:
            down_plain.append(depth[0])
        with splice.capture_calls(down) as calls:
            for _ in range(3):  # warm up the specialised calls, as a real run would
                try:
                    down(1)
                except RecursionError:
                    pass
        assert depth[0] == down_plain[0]
        assert plain - 2 <= depth[0] <= plain + 2
        assert len(calls) == 3 * depth[0]
        assert all(isinstance(c.exception, RecursionError) for c in calls)
    finally:
        sys.setrecursionlimit(old)


# --- records ------------------------------------------------------------------------------


def test_record_fields_args_locals_return_and_repr():
    with splice.capture_calls(varargs) as calls:
        assert varargs(1, 2, 4, 5, c=6, d=7) == 18
    (c,) = calls
    assert type(c) is splice.CallInfo
    assert c.name == "varargs" and c.file == __file__
    assert type(c.args) is collections.OrderedDict
    assert list(c.args.items()) == [("a", 1), ("b", 2), ("c", 6), ("rest", (4, 5)), ("kw", {"d": 7})]
    assert c.locals == {"a": 1, "b": 2, "c": 6, "rest": (4, 5), "kw": {"d": 7}, "total": 18}
    assert c.return_value == 18 and c.exception is None
    assert c.globals is globals()
    assert repr(c) == (
        "CallInfo(name='varargs', args=OrderedDict(a=1, b=2, c=6, rest=(4, 5), "
        "kw={'d': 7}), return_value=18)"
    )


def test_locals_at_raise_and_exception():
    with splice.capture_calls(raises) as calls:
        with pytest.raises(ValueError) as e:
            raises(5)
    (c,) = calls
    assert c.exception is e.value and c.return_value is None
    assert c.locals == {"n": 5, "data": [5]}
    assert c.args == {"n": 5}


def test_cells_give_values_not_cells():
    with splice.capture_calls(outer_with_cell) as calls:
        assert outer_with_cell(3) == 9
    (c,) = calls
    assert c.args == {"x": 3}
    assert c.locals["x"] == 3 and c.locals["y"] == 6
    assert isinstance(c.locals["inner"], types.FunctionType)


def test_args_are_values_at_entry():
    def mutate(a, b):
        a = a + 1
        b.append(1)
        return a

    lst = []
    with splice.capture_call(mutate) as call:
        mutate(1, lst)
    assert call.args == {"a": 1, "b": [1]}  # same object for b, as in NoPdb
    assert call.locals["a"] == 2


def test_stack_matches_traceback_extract_stack():
    here = []

    def probe_stack():
        here.append(traceback.extract_stack()[:-1])

    def target():
        probe_stack()
        return 1

    def caller():
        return target()

    with splice.capture_call(target) as call:
        caller()
    st = call.stack
    assert isinstance(st, traceback.StackSummary)
    expected = here[0]
    assert [(fs.filename, fs.name) for fs in st] == [(fs.filename, fs.name) for fs in expected]
    # outer frames: same lines as extract_stack; the last entry is the def line
    assert [fs.lineno for fs in st[:-1]] == [fs.lineno for fs in expected[:-1]]
    assert st[-1].lineno == target.__code__.co_firstlineno


def test_recursion_records_and_stacks():
    with splice.capture_calls(fact) as calls:
        assert fact(5) == 120
    assert [c.args["n"] for c in calls] == [1, 2, 3, 4, 5]
    assert [len(c.stack) for c in calls] == [len(calls[-1].stack) + k for k in (4, 3, 2, 1, 0)]
    assert all(fs.name == "fact" for fs in calls[0].stack[-5:])


def test_same_place_calls_share_one_recorded_stack():
    with splice.capture_calls(f) as calls:
        for i in range(3):
            f(i, 0)
    outer = [c._recorded_stack()[0] for c in calls]
    assert outer[1:] == [outer[0]] * 2  # the same (code, offset) pairs
    assert all(a[0] is b[0] for o in outer[1:] for a, b in zip(o, outer[0]))
    assert [c.stack.format() for c in calls[1:]] == [calls[0].stack.format()] * 2


def test_capture_call_keeps_the_last_and_resets_lazy_fields():
    with splice.capture_call(f) as call:
        f(1, 2)
        assert call.args == {"x": 1, "y": 2}
        st = call.stack
        f(3, 4)
    assert call.args == {"x": 3, "y": 4} and call.return_value == 14
    assert call.stack is not st
    assert repr(call) == "CallCapture(name='f', args=OrderedDict(x=3, y=4), return_value=14)"


def test_generators_and_coroutines_one_record_per_call():
    import asyncio

    with splice.capture_calls(gen) as calls:
        assert list(gen(3)) == [0, 1, 2]
    assert [(c.args, c.return_value, c.locals["acc"]) for c in calls] == [({"n": 3}, 3, 3)]
    with splice.capture_calls(coro) as calls:
        assert asyncio.run(coro(4)) == 8
    assert [(c.args, c.return_value) for c in calls] == [({"n": 4}, 8)]


def test_bound_method_filter():
    a, b = Model(), Model()
    with splice.capture_calls(a.forward) as calls:
        b.forward(1)
        a.forward(2)
        b.forward(3)
    assert [c.args["x"] for c in calls] == [2]
    assert calls[0].args["self"] is a
    assert "_splice_self" not in calls[0].locals
    assert set(calls[0].locals) == {"self", "x", "big"}


# --- bounding, transform, failures -----------------------------------------------------------


def test_max_calls_keeps_the_first_calls_to_return():
    with splice.capture_calls(fact, max_calls=2) as calls:
        fact(4)
        fact(2)
        fact(3)  # still captured, but past max_calls: not recorded
    assert [c.args["n"] for c in calls] == [1, 2]


def test_keep_locals_and_transform():
    seen = []

    def t(v):
        seen.append(v)
        return ("t", v)

    with splice.capture_calls(f, keep_locals=["z", "nothing"], transform=t) as calls:
        assert f(1, 2) == 6
    (c,) = calls
    assert c.locals == {"z": ("t", 3)}
    assert c.args == {"x": ("t", 1), "y": ("t", 2)}
    assert c.return_value == ("t", 6)
    assert sorted(map(repr, seen)) == sorted(map(repr, [1, 2, 3, 6]))


def test_transform_sees_the_arguments_at_entry_and_the_locals_at_exit():
    def grow(items):
        items.append(1)
        return len(items)

    copy = lambda v: list(v) if isinstance(v, list) else v  # noqa: E731
    with splice.capture_calls(grow, transform=copy) as calls:
        assert grow([0]) == 2
    (c,) = calls
    assert c.args == {"items": [0]}  # before the body changed it in place
    assert c.locals == {"items": [0, 1]}


def test_a_running_call_does_not_keep_alive_an_argument_it_let_go():
    # (CPython's test_contextlib.test_nokeepref, run under a capture: the
    # generator drops its arguments and checks they are gone while it is
    # suspended. On 3.11 the capture read the arguments through the frame's
    # locals dict, which kept them until the call ended.)
    class Big:
        pass

    def gen(a):
        a = weakref.ref(a)
        gc.collect()
        yield a() is None

    with splice.capture_calls(gen, transform=lambda v: None) as calls:
        g = gen(Big())
        assert next(g) is True
        g.close()
    assert len(calls) == 1 and calls[0].args == {"a": None}


def test_transform_that_calls_the_captured_function_reenters_safely():
    def t(v):
        if isinstance(v, int) and v > 0:
            f(0, 0)  # a captured call made from inside the hook
        return v

    with splice.capture_calls(f, transform=t) as calls:
        assert f(1, 1) == 4
    assert sorted(c.args["x"] for c in calls)[-1] == 1
    assert all(c.args["x"] == 0 for c in calls[:-1])
    assert testing.pending_calls(calls._recorder) == 0


def test_records_dropped_during_the_block_free_their_slots():
    """Each record made while recording has a slot (the collector tracks it
    again when the capture stops); a record dropped in the block gives its
    slot to the next one. A block that recorded millions of calls and
    dropped them as it went (a training loop) grew by 8 bytes per call
    until it exited (found by an adversarial run)."""
    with splice.capture_calls(f) as calls:
        for i in range(5000):
            f(i, 1)
            if len(calls) >= 10:
                calls.clear()
        slots = testing.deferred_slots(calls._recorder)
    assert len(calls) == 0
    assert slots <= 20, slots


def test_hook_failures_are_recorded_and_warned_once_never_raised():
    def bad(v):
        raise TypeError("no")

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with splice.capture_calls(f, transform=bad) as calls:
            assert f(1, 2) == 6
            assert f(2, 2) == 8
    assert [c.return_value for c in calls] == [6, 8]  # values kept as is
    # x, y, three locals and the return value, per call
    assert len(calls.hook_errors) == 12 and all(isinstance(e, TypeError) for e in calls.hook_errors)
    msgs = [x for x in w if "capture hook failed" in str(x.message)]
    assert len(msgs) == 1 and msgs[0].filename == __file__


def _rec_gen(n):
    if n == 0:
        raise ValueError("bottom")
    yield from _rec_gen(n - 1)
    yield n


def _recurse_to_the_limit():
    """What json's tests of deeply nested objects do: generators nested
    until RecursionError, each closed on the way out."""
    try:
        list(_rec_gen(100_000))
    except RecursionError:
        return "recursion"
    return "no recursion"


@pytest.fixture
def unraisable():
    """What reaches sys.unraisablehook ("Exception ignored in ...") meanwhile."""
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append
    yield seen
    sys.unraisablehook = old


def test_a_hook_failure_whose_report_fails_joins_hook_errors_when_the_capture_stops(unraisable):
    """A failure the recorder cannot hand to ``_hook_failed`` (at the
    recursion limit that call fails as well) is kept and added to
    ``hook_errors`` when the capture stops, with the one warning; it used to
    be written as unraisable ("Exception ignored in ...") under the captured
    function and left out of ``hook_errors``."""

    def bad(v):
        raise TypeError("no")

    def report_fails(e):
        raise RecursionError("no room to report")

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with splice.capture_calls(f, transform=bad, keep_locals=()) as calls:
            calls._hook_failed = report_fails  # the instance's: the recorder calls it by name
            assert f(1, 2) == 6
            del calls._hook_failed  # reporting works again by the time the capture stops
            assert calls.hook_errors == []  # nothing could be reported yet
    assert [c.return_value for c in calls] == [6]
    # x, y and the return value went through transform; each failed
    assert calls._recorder.failures == 3
    assert len(calls.hook_errors) == 3 and all(isinstance(e, TypeError) for e in calls.hook_errors)
    assert calls._recorder.take_unreported() == []  # handed over once
    assert unraisable == []
    msgs = [x for x in w if "capture hook failed" in str(x.message)]
    assert len(msgs) == 1 and msgs[0].filename == __file__, [(str(x.message), x.filename) for x in w]


@pytest.mark.parametrize("how", ["function", "no scope (lazy)"])
def test_hooks_failing_at_the_recursion_limit_print_nothing_and_are_all_in_hook_errors(how, unraisable):
    """Generators recursing to the limit inside a capture whose ``transform``
    is Python code (the torture's lazy mode over test_json): the hooks that
    run out of stack fail, and so does their report; nothing is written as
    unraisable, every failure the recorder counted is in ``hook_errors``,
    and the program sees what it sees without the capture."""
    want = _recurse_to_the_limit()
    capture = (
        splice.capture_calls(_rec_gen, transform=lambda v: v)
        if how == "function"
        else splice.capture_call(transform=lambda v: None, keep_locals=())
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with capture:
            got = _recurse_to_the_limit()
    assert got == want == "recursion"
    assert unraisable == [], [repr(u.exc_value) for u in unraisable]
    assert len(capture.hook_errors) == capture._recorder.failures
    assert all(isinstance(e, RecursionError) for e in capture.hook_errors), capture.hook_errors[:3]


def test_recorder_discard_sink_counts_without_keeping():
    rec = _native.Recorder(None, "discard", splice.CallInfo)
    hooks = _native.CaptureHooks(rec, f.__code__, ("x", "y"))
    code = _native.instrument(f.__code__, [CaptureProbe(hooks.enter, hooks.exit, hooks.error)])
    fn = types.FunctionType(code, globals())
    assert fn(1, 2) == 6 and rec.count == 0  # not live yet
    rec.set_live(True)
    assert fn(1, 2) == 6 and fn(2, 2) == 8
    assert rec.count == 2 and testing.pending_calls(rec) == 0 and rec.failures == 0
    with pytest.raises(ValueError):
        _native.Recorder(None, "list", splice.CallInfo)
    with pytest.raises(ValueError):
        _native.Recorder(None, "bogus", splice.CallInfo)

    class L(list):
        pass

    with pytest.raises(TypeError, match="record class"):  # records are made by calling it
        _native.Recorder(L(), "list", splice.CallInfo())


# --- threads ---------------------------------------------------------------------------------


def test_threads_recursing_concurrently():
    errors = []

    def work(k):
        try:
            for _ in range(50):
                assert fact(k) > 0
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    with splice.capture_calls(fact) as calls:
        ts = [threading.Thread(target=work, args=(k,)) for k in range(2, 7)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert errors == []
    assert len(calls) == 50 * sum(range(2, 7))
    by_n = collections.Counter(c.args["n"] for c in calls)
    assert by_n[1] == 50 * 5 and by_n[6] == 50
    assert all(c.return_value == {1: 1, 2: 2, 3: 6, 4: 24, 5: 120, 6: 720}[c.args["n"]] for c in calls)
    assert testing.pending_calls(calls._recorder) == 0


# --- nothing outlives the capture --------------------------------------------------------------


def _gone(ref):
    gc.collect()
    return ref() is None


def test_capture_calls_and_its_records_are_collected():
    with splice.capture_calls(fact) as cap:
        fact(3)
    big = weakref.ref(cap[0].locals["big"])
    capref = weakref.ref(cap)
    del cap
    assert _gone(big) and _gone(capref)


def test_capture_call_is_collected():
    with splice.capture_call(fact) as cap:
        fact(2)
    big = weakref.ref(cap.locals["big"])
    capref = weakref.ref(cap)
    del cap
    assert _gone(big) and _gone(capref)


def test_a_dropped_capture_frees_its_records_without_the_collector():
    # A capture that were a reference cycle (with its probes) would hold all
    # its records until the next full collection: 100k records there made a
    # full collection of 80-100 ms land inside whatever ran next.
    gc.collect()
    gc.disable()
    try:
        for make in (lambda: splice.capture_calls(fact), lambda: splice.capture_call(fact),
                     lambda: splice.capture_calls("fact")):
            with make() as cap:
                fact(3)
            last = cap[-1] if isinstance(cap, list) else cap
            big = weakref.ref(last.locals["big"])
            capref = weakref.ref(cap)
            del cap, last
            assert capref() is None and big() is None
    finally:
        gc.enable()


def test_bound_method_capture_and_instance_are_collected():
    m = Model()
    with splice.capture_calls(m.forward) as cap:
        m.forward(1)
    big = weakref.ref(cap[0].locals["big"])
    mref = weakref.ref(m)
    del cap, m
    assert _gone(big) and _gone(mref)


def test_suspended_generator_capture_is_collected():
    with splice.capture_calls(gen) as cap:
        it = gen(3)
        next(it)
    capref = weakref.ref(cap)
    del cap
    assert _gone(capref)
    assert list(it) == [1, 2]


def test_generator_closed_early_records_generator_exit_and_frees_its_frame():
    # CPython 3.12+ closes a generator suspended at a yield that no try
    # covers without throwing GeneratorExit into it; the capture's handler
    # covers every yield, so the rewritten code must say so. Otherwise the
    # call never ends in the recorder and keeps the frame's objects alive (a
    # generator expression that all() stops early: pyparsing's And.__init__).
    class Item:
        empty = False

    def gen_over(items):
        for it in items:
            yield it.empty

    with splice.capture_calls(gen_over) as calls:
        item = Item()
        ref = weakref.ref(item)
        g = gen_over([item, Item()])
        assert next(g) is False
        g.close()
        del g, item
        assert len(calls) == 1
        assert isinstance(calls[0].exception, GeneratorExit)
        calls.clear()
        assert _gone(ref)
    with splice.capture_calls(gen_over, keep_locals=[]) as calls:
        item = Item()
        ref = weakref.ref(item)
        assert all(gen_over([item, Item()])) is False
        del item
        assert [type(c.exception) for c in calls] == [GeneratorExit]
        calls.clear()
        assert _gone(ref)



@pytest.mark.parametrize("scope", ["function", "no scope (lazy)"])
def test_a_generator_exit_record_keeps_no_frame(scope):
    """The record of a generator closed early keeps a GeneratorExit without
    the thrown one's traceback, which is the closed frame: with
    ``keep_locals=[]`` nothing the call held stays alive while the record
    does (CPython's weakref and asyncgen finalization tests, run under a
    lazy ``capture_call(keep_locals=())``, saw their objects outlive the
    generator). The lazy scope records the call through sys.monitoring
    events (3.12+) or splice's frame evaluator (3.11)."""

    class Item:
        pass

    refs = []

    def walk(n):
        item = Item()  # a local only: the record keeps no locals and no argument holds it
        refs.append(weakref.ref(item))
        yield from range(n)

    ctx = splice.capture_calls(walk, keep_locals=[]) if scope == "function" else splice.capture_call(keep_locals=[])
    # Python gc callbacks (hypothesis registers one once any of its tests
    # ran in the process) would be the last call the no-scope capture sees
    callbacks = gc.callbacks[:]
    gc.callbacks.clear()
    try:
        with ctx as cap:
            g = walk(3)
            assert next(g) == 0
            g.close()
            del g
            gc.collect()
            assert refs[0]() is None, "the record kept the closed generator's locals alive"
    finally:
        gc.callbacks[:] = callbacks
    record = cap[0] if scope == "function" else cap
    assert record.name == "walk"
    assert type(record.exception) is GeneratorExit
    assert record.exception.__traceback__ is None
    assert record.locals == {}



def test_a_suspended_generator_in_a_garbage_cycle_is_collected_inside_the_block():
    """A generator's open call is kept by its own frame (a hidden local), not
    by the capture: a suspended generator inside a garbage cycle is collected
    while the block runs, as it would be without splice, and its closing is
    recorded (the capture used to hold the open call's arguments, which kept
    the cycle reachable until the block ended)."""

    class Node:
        pass

    def walk(node):
        yield node
        yield node

    with splice.capture_calls(walk) as calls:
        node = Node()
        node.walker = walk(node)  # node -> generator -> frame -> node
        assert next(node.walker) is node
        assert testing.pending_calls(calls._recorder) == 1
        ref = weakref.ref(node)
        del node
        gc.collect()
        # the collector closed the generator (the capture did not keep the
        # cycle reachable), which ended the call: its record now keeps the
        # argument, as any record does
        assert [c.name for c in calls] == ["walk"], "the open call kept the garbage cycle reachable"
        assert type(calls[0].exception) is GeneratorExit
        assert type(calls[0].args["node"]) is Node
        assert testing.pending_calls(calls._recorder) == 0
        assert "_splice_call" not in calls[0].locals
        # (the collector cleared `ref` before the record resurrected the
        # node, up to 3.13; from 3.14 on only when an object is freed)
        ref = weakref.ref(calls[0].args["node"])
    del calls
    assert _gone(ref)


@pytest.mark.parametrize("kind", ["generator", "coroutine", "async generator", "function"])
def test_only_resumable_code_keeps_its_open_call_in_the_frame(kind):
    """Generators, coroutines and async generators (whose calls can be
    suspended) keep an open call in a hidden local; plain functions, which
    cannot be suspended inside a garbage cycle, keep theirs in the capture."""
    ns = {}
    exec(
        {
            "generator": "def fn(a):\n    yield a",
            "coroutine": "async def fn(a):\n    return a",
            "async generator": "async def fn(a):\n    yield a",
            "function": "def fn(a):\n    return a",
        }[kind],
        ns,
    )
    fn = ns["fn"]
    with splice.capture_calls(fn):
        keeps = "_splice_call" in fn.__code__.co_varnames
    assert keeps == (kind != "function")
    assert "_splice_call" not in fn.__code__.co_varnames


def test_an_abandoned_asyncio_task_is_collected_inside_the_block():
    """CPython's asyncio test_log_destroyed_pending_task under a capture: a
    task abandoned while its coroutine awaits a future is a garbage cycle
    (task, coroutine, frame, future, its callbacks, task); collecting it
    logs "Task was destroyed but it is pending!" inside the block (it used
    to wait for the block's end)."""
    import asyncio

    async def wait_for(fut):
        await fut

    logged = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda loop, context: logged.append(context["message"]))
    try:
        with splice.capture_calls(wait_for) as calls:
            fut = loop.create_future()
            task = loop.create_task(wait_for(fut))
            loop.run_until_complete(asyncio.sleep(0))  # the task now awaits fut
            ref = weakref.ref(fut)
            del task, fut
            gc.collect()
            assert logged == ["Task was destroyed but it is pending!"]
            # closing the coroutine ended the call; its record keeps the argument
            assert [c.name for c in calls] == ["wait_for"]
            assert type(calls[0].exception) is GeneratorExit
            assert isinstance(calls[0].args["fut"], asyncio.Future)
            ref = weakref.ref(calls[0].args["fut"])
    finally:
        loop.close()
    del calls
    assert _gone(ref)


def test_a_generator_suspended_when_the_block_ends_forgets_its_open_call():
    """Leaving the block drops what the capture held of open calls, here the
    (transformed) argument a suspended generator's frame kept; the generator
    then runs on, unrecorded."""

    class Big:
        pass

    kept = []

    def keep(v):
        copy = Big()
        kept.append(weakref.ref(copy))
        return copy

    def gen(a):
        yield 1
        yield 2

    with splice.capture_calls(gen, transform=keep) as calls:
        g = gen(0)
        assert next(g) == 1
        assert testing.pending_calls(calls._recorder) == 1
    assert testing.pending_calls(calls._recorder) == 0
    gc.collect()
    assert [r() for r in kept] == [None], "the suspended frame kept the capture's copy"
    assert list(g) == [2]
    assert calls == []


def test_a_generator_captured_twice_keeps_two_open_calls():
    def gen(a):
        yield a
        return a + 1

    with splice.capture_calls(gen) as outer:
        with splice.capture_calls(gen) as inner:
            g = gen(5)
            assert next(g) == 5
            names = [n for n in g.gi_frame.f_code.co_varnames if n.startswith("_splice_call")]
            assert names == ["_splice_call", "_splice_call1"]
            with pytest.raises(StopIteration) as stop:
                next(g)
            assert stop.value.value == 6
    assert [c.return_value for c in inner] == [6]
    assert [c.return_value for c in outer] == [6]
    assert gen.__code__.co_varnames == ("a",)


def test_a_generator_whose_entry_hook_raises_keeps_its_exception():
    """``open`` raising a BaseException (a KeyboardInterrupt from
    ``transform``) leaves the hidden local at None: the error hook runs
    with it, records nothing and the exception goes on unchanged."""

    def interrupt(v):
        raise KeyboardInterrupt

    def gen(a):
        yield a

    with splice.capture_calls(gen, transform=interrupt) as calls:
        with pytest.raises(KeyboardInterrupt):
            next(gen(1))
        assert testing.pending_calls(calls._recorder) == 0
    assert calls == []


class _Shown:
    """A value whose repr is Python code a capture with no scope records."""

    def __repr__(self) -> str:
        return "_Shown()"


def _show_me(x):
    return x


def test_printing_records_inside_a_block_with_no_scope_records_nothing_more():
    """The reprs of recorded values run Python code; a capture with no scope
    recorded it while its own list was printed inside the block, each record
    of a ``__repr__`` showing the value again: the list grew until memory ran
    out (bounded here by ``max_calls``). Formatting a record (repr, stack,
    HTML display, print_stack) records nothing."""
    with splice.capture_calls(max_calls=50) as calls:
        _show_me(_Shown())
        text = repr(calls)
        calls[0].stack
        calls[0]._repr_html_()
        calls._repr_html_()
        calls[0].print_stack(file=io.StringIO())
        names = [c.name for c in calls]
    assert text == "[CallInfo(name='_show_me', args=OrderedDict(x=_Shown()), return_value=_Shown())]"
    assert names == ["_show_me"]
    with splice.capture_call() as last:
        _show_me(_Shown())
        text = repr(last)
        assert last.name == "_show_me"
    assert text == "CallCapture(name='_show_me', args=OrderedDict(x=_Shown()), return_value=_Shown())"
    repr(_Shown())  # outside any formatting, a repr is a call like any other



def test_a_patched_function_whose_closure_leads_back_to_it_is_collected_inside_the_block():
    """The saved function-version state (3.12+) held the function's closure
    in a table the collector takes as reachable: a method of a class defined
    in a function (its closure holds the class, the class holds the method)
    lived until the block ended, and a weakref callback to the class did not
    run before the instance's finaliser (CPython's test_weakref under a
    capture with no scope)."""

    def make():
        class Local:
            def method(self):
                return Local

        Local().method()
        return weakref.ref(Local)

    with splice.capture_calls("method", keep_locals=[], transform=lambda v: None) as calls:
        ref = make()
        assert [c.name for c in calls] == ["method"]  # it was patched and ran
        assert _gone(ref)


def test_breakpoint_and_its_values_are_collected():
    def target(x):
        big = Big()
        return x + 1

    with splice.breakpoint(target, line="return x + 1") as bp:
        vals = bp.eval("big")
        bp.callback(lambda view: None)
        target(1)
    big = weakref.ref(vals[0])
    bpref = weakref.ref(bp)
    del bp, vals
    assert _gone(big) and _gone(bpref)


def test_a_dropped_breakpoint_frees_its_values_without_the_collector():
    def target(x):
        big = Big()
        return x + 1

    gc.collect()
    gc.disable()
    try:
        with splice.breakpoint(target, line="return x + 1") as bp:
            vals = bp.eval("big")
            bp.exec("x = x")
            bp.callback(lambda view: None)
            target(1)
        big = weakref.ref(vals[0])
        bpref = weakref.ref(bp)
        del bp, vals
        assert bpref() is None and big() is None
    finally:
        gc.enable()


def test_call_info_pickles_to_another_process_with_module_globals_by_reference(tmp_path):
    # One file of records per DDP rank (docs/cli.md): a module's namespace
    # holds modules and functions pickle cannot copy; it travels as the
    # module's name and comes back as that module's namespace there.
    import copy
    import pickle
    import subprocess
    import textwrap

    with splice.capture_calls(textwrap.dedent) as calls:
        textwrap.dedent("  a\n  b\n")
    [call] = calls
    assert copy.copy(call).globals is textwrap.__dict__
    path = tmp_path / "rank0.pickle"
    path.write_bytes(pickle.dumps(list(calls)))
    code = (
        "import pickle, sys, textwrap\n"
        f"[c] = pickle.load(open({str(path)!r}, 'rb'))\n"
        "print(type(c).__name__, c.name, c.args['text'] == '  a\\n  b\\n', c.return_value == 'a\\nb\\n',\n"
        "      c.globals is textwrap.__dict__, c.stack[-1].name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["CallInfo", "dedent", "True", "True", "True", "dedent"]


def _rec_a(n, seen):
    seen.append(traceback.extract_stack())
    if n % 2:
        _rec_a(n - 1, seen)  # two call sites: the recorded stacks must say which
    elif n:
        _rec_a(n - 1, seen)
    return n


def _gen_chain(n, seen):
    seen.append(traceback.extract_stack())
    if n:
        yield from _gen_chain(n - 1, seen)
    yield n


def _frames(st):
    return [(fs.filename, fs.name, fs.lineno) for fs in st]


def test_recorded_stacks_match_extract_stack_in_recursion_and_generator_chains():
    # Recursion takes the stack from the pending caller's record; a generator
    # chain (resumed from two different consumers) walks the frames. Both
    # must give, for every call, the outer frames extract_stack() gives.
    seen: list = []
    with splice.capture_calls(_rec_a) as calls:
        _rec_a(7, seen)
        [_rec_a(2, seen) for _ in range(2)]
    assert len(calls) == len(seen) == 8 + 3 + 3
    for c, expected in zip(calls, reversed_pairs(seen)):
        assert _frames(c.stack)[:-1] == _frames(expected)[:-1]
    seen.clear()
    with splice.capture_calls(_gen_chain) as gcalls:
        g = _gen_chain(4, seen)
        first = next(g)

        def other_consumer():
            return list(g)

        rest = other_consumer()
    assert [first, *rest] == [0, 1, 2, 3, 4]
    # a generator's record has the stack of its first resumption
    assert len(gcalls) == 5
    starts = {c.args["n"]: c for c in gcalls}
    for n, expected in zip((4, 3, 2, 1, 0), seen):
        assert _frames(starts[n].stack)[:-1] == _frames(expected)[:-1]


def reversed_pairs(seen):
    """Records are made at return (innermost first): the matching order of
    the stacks seen at entry."""
    out = []
    # each top-level call's entries, reversed
    for lo, hi in ((0, 8), (8, 11), (11, 14)):
        out.extend(reversed(seen[lo:hi]))
    return out


def test_deep_recursion_records_stacks_in_linear_memory():
    # 10,000 pending calls: stored whole, their stacks hold 5e7 frame entries
    # (800 MB); shared, one node per level.
    code = textwrap.dedent(
        """
        import resource, sys
        import splice
        sys.setrecursionlimit(30000)
        def down(n):
            return down(n - 1) + 1 if n else 0
        down(100)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with splice.capture_calls(down, max_calls=5) as calls:
            assert down(10000) == 10000
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(len(calls), len(calls[0].stack), (after - before) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    n, depth, grown_mb = map(int, out.stdout.split())
    assert n == 5 and depth > 10000
    assert grown_mb < 100, f"max RSS grew by {grown_mb} MB"


def test_a_caller_that_returned_keeps_nothing_alive_during_the_capture():
    # (the capture kept the last caller frame it walked from, and with it
    # every local of that call, until the next walk: a model's forward kept
    # its activations. Found by CPython's test_functools under a capture.)
    class Big:
        pass

    def g():
        return 1

    def caller():
        big = Big()
        ref = weakref.ref(big)
        g()
        return ref

    with splice.capture_calls(g) as calls:
        ref = caller()
        gc.collect()
        assert ref() is None
    assert len(calls) == 1


def test_a_transform_in_the_capture_scope_does_not_recurse():
    # capture_calls(transform=lambda ...) with no scope captures the
    # transform too: applying it to its own calls' values recursed (a hang
    # of exponential retries at the recursion limit). Its own calls are
    # recorded with their values as they are.
    script = textwrap.dedent(
        """
        import splice
        ns = {}
        exec(compile("def t(v):\\n    return ('t', v)\\ndef f(x):\\n    return x + 1\\n",
                     "<transform-scope>", "exec"), ns)
        with splice.capture_calls(file="<transform-scope>", transform=ns["t"]) as calls:
            assert ns["f"](1) == 2
            assert ns["f"](5) == 6
        got = [(c.name, c.args, c.return_value) for c in calls]
        fs = [g for g in got if g[0] == "f"]
        assert fs == [("f", {"x": ("t", 1)}, ("t", 2)), ("f", {"x": ("t", 5)}, ("t", 6))], got
        # t's own calls, where recorded (on 3.12+ not those made inside a
        # sys.monitoring callback), keep their values as they are
        assert all(g[2] == ("t", g[1]["v"]) for g in got if g[0] == "t"), got
        assert calls.hook_errors == [], calls.hook_errors
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


# --- recorded locals (crates/splice-py/src/frame_locals.rs) ---------------------------------------


def _codes(code: types.CodeType):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _codes(c)


def test_every_function_of_stdlib_modules_has_a_checked_locals_layout():
    # The fast way is taken only when each slot's name is CPython's own
    # (`_varname_from_oparg`): on real code it must be, or every capture
    # would silently read locals the slow way.
    import argparse
    import ast
    import inspect
    import json.decoder
    import typing

    n = 0
    for mod in (argparse, ast, inspect, json.decoder, typing, collections):
        source = inspect.getsource(mod)
        top = compile(source, mod.__file__, "exec")
        assert testing.locals_layout(top) is None  # a module body: the general way
        for code in _codes(top):
            if not code.co_flags & 0x1:  # not a function body
                continue
            layout = testing.locals_layout(code)
            if testing.MANY_VARS is not None and len(code.co_varnames) > testing.MANY_VARS:
                assert layout is None, code  # read through one copy of the locals
                continue
            assert layout is not None, code
            nslots = len(code.co_varnames) + len(set(code.co_cellvars) - set(code.co_varnames)) \
                + len(code.co_freevars)
            assert [s for s, _, _ in layout] == list(range(nslots))
            assert [name for _, name, _ in layout] == [code._varname_from_oparg(i) for i in range(nslots)]
            cells = set(code.co_cellvars) | set(code.co_freevars)
            assert [d for _, name, d in layout] == [name in cells for _, name, _ in layout]
            n += 1
    assert n > 500


def _many_vars(n_args: int, n_locals: int) -> types.FunctionType:
    """A function of ``n_args`` arguments (the last a cell of a closure)
    with ``n_locals`` more locals, one of them deleted before it returns."""
    args = [f"a{i}" for i in range(n_args)]
    body = [f"    v{i} = a{i % n_args} * 2" for i in range(n_locals)]
    src = (
        f"def f({', '.join(args)}):\n"
        + "\n".join(body)
        + f"\n    del v0\n    inner = lambda: {args[-1]}\n    return inner() + v{n_locals - 1}\n"
    )
    ns: dict = {}
    exec(src, ns)
    return ns["f"]


@pytest.mark.parametrize("n_args,n_locals", [(3, 4), (60, 10), (200, 5), (5, 300), (2000, 2000)])
def test_captures_of_functions_with_many_variables_record_every_value(n_args, n_locals):
    """Arguments and locals of functions with few and with many variables
    (past ``testing.MANY_VARS`` 3.12+ reads them through one copy of the
    frame's locals: reading each by name is a linear search, and a
    namedtuple of 150,000 fields took minutes per recorded call) are
    recorded as they are, a deleted local left out, a cell's contents read."""
    fn = _many_vars(n_args, n_locals)
    values = list(range(10, 10 + n_args))
    want_locals = {f"a{i}": v for i, v in enumerate(values)}
    want_locals |= {f"v{i}": values[i % n_args] * 2 for i in range(1, n_locals)}
    with splice.capture_calls(fn) as calls:
        got = fn(*values)
    assert got == values[-1] + values[(n_locals - 1) % n_args] * 2
    [call] = calls
    assert dict(call.args) == {f"a{i}": v for i, v in enumerate(values)}
    assert {k: v for k, v in call.locals.items() if k != "inner"} == want_locals
    assert call.return_value == got
    layout = testing.locals_layout(fn.__code__)
    many = testing.MANY_VARS is not None and len(fn.__code__.co_varnames) > testing.MANY_VARS
    assert (layout is None) == many


def test_a_layout_leaves_splice_names_out():
    ns: dict = {}
    exec("def f(a):\n    _splice_tmp = a\n    b = _splice_tmp\n    return b\n", ns)
    layout = testing.locals_layout(ns["f"].__code__)
    assert [(s, n) for s, n, _ in layout] == [(0, "a"), (2, "b")]


def _locals_kinds():
    def cells(a, *args, **kw):
        b = a + 1

        def inner():
            return a + b

        return inner()

    def outer(x):
        y = x * 2

        def free(z):
            w = x + y + z
            return w

        return free

    def unbound(flag):
        if flag:
            never = 1
        return flag

    def raises(v):
        tmp = [v]
        raise ValueError(tmp)

    def gen(n):
        total = 0
        for i in range(n):
            total += i
            yield total
        last = total
        return last

    free = outer(5)
    calls = [
        (cells, lambda: cells(1, 2, 3, k=4)),
        (free, lambda: free(7)),
        (unbound, lambda: unbound(False)),
        (unbound, lambda: unbound(True)),
        (raises, lambda: raises(3)),
        (gen, lambda: list(gen(3))),
    ]
    return calls


def test_recorded_locals_equal_what_settrace_sees_at_return():
    # The oracle: CPython's own locals of the frame at its last event.
    def run(call):
        try:
            call()
        except ValueError:
            pass

    for fn, call in _locals_kinds():
        seen = []

        def tracer(frame, event, arg, code=fn.__code__):
            if frame.f_code is code and event == "return":
                seen.append(dict(frame.f_locals))
            return tracer if frame.f_code is code else None

        sys.settrace(tracer)
        try:
            run(call)
        finally:
            sys.settrace(None)
        with splice.capture_calls(fn) as calls:
            run(call)
        # a generator returns at each yield for settrace; the record is of
        # the whole call, at its end
        assert len(calls) == 1, fn
        got, want = _plain(calls[0].locals), _plain(seen[-1])
        assert got == want, (fn.__name__, got, want)
        assert list(got) == list(want), fn.__name__  # the same order


def _plain(d: dict) -> dict:
    """``d`` with each function (a new closure per run) as its qualified name."""
    return {k: v.__qualname__ if isinstance(v, types.FunctionType) else v for k, v in d.items()}


RESUME_RAISES = r'''
import sys, splice
def gen(n):
    for i in range(n):
        yield i
class Boom(Exception):
    pass
M = sys.monitoring
M.use_tool_id(5, "test")
armed = [True]
def on_start(code, offset):
    if code.co_name == "gen" and armed[0]:
        armed[0] = False
        raise Boom("at the first resume")
M.register_callback(5, M.events.PY_START, on_start)
with splice.capture_calls(gen) as calls:
    g = gen(3)
    M.set_events(5, M.events.PY_START)
    try:
        next(g)
    except Boom as e:
        print("raised", e)
    finally:
        M.set_events(5, 0)
    print(list(gen(2)))
print([(dict(c.args), c.return_value) for c in calls])
'''


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring (3.12+) raises at the RESUME; 3.11's loads check")
def test_an_exception_at_a_captured_generators_first_resume_does_not_crash():
    # The body's RESUME runs before the hidden local `_splice_call` is bound,
    # and its handler (the generator's implicit one) was covered by the
    # capture's error handler, which loads that local unchecked: 3.12
    # crashed (Py_INCREF(NULL)) when anything raised there (a PY_START
    # callback, as here, or a signal handler at that instant). The RESUME
    # now goes to an unwrapped copy of its handler; the call, never opened,
    # is not recorded. In a child process: a crash is a failed test.
    done = subprocess.run([sys.executable, "-c", RESUME_RAISES], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-1500:]}"
    assert done.stdout.splitlines() == ["raised at the first resume", "[0, 1]", "[({'n': 2}, None)]"]


def _own_prefixed(_splice_call, x=1):
    _splice_total = _splice_call + x
    return _splice_total


def _own_prefixed_gen(n):
    _splice_k = n
    yield _splice_k


def test_the_function_s_own_variables_with_splice_s_prefix_are_recorded():
    # splice leaves its helper locals (`_splice_call`, which a generator's
    # capture adds) out of the recorded locals by their prefix; a variable
    # of the function's own with that prefix was left out with them
    with splice.capture_calls(_own_prefixed) as calls, splice.capture_calls(_own_prefixed_gen) as gens:
        _own_prefixed(10)
        list(_own_prefixed_gen(3))
    assert calls[0].locals == {"_splice_call": 10, "x": 1, "_splice_total": 11}
    assert gens[0].locals == {"n": 3, "_splice_k": 3}
