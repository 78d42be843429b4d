"""Probes entered, changed and exited in any order (issue 12, part 2).

Every probe works from its own ``__enter__`` until its own ``__exit__``,
whatever the other probes on the same, nested or enclosing functions do in
between, in this thread or another; after the last exit every ``__code__``
is the original object.

The cause of the bug this guards: the ``with`` block that started the
default NoPdb instance stopped it on exit (as NoPdb does), and with it every
other block's probes. Now the instance stops when the last block holding it
exits.

``test_random_sequences`` is property-based (hypothesis): it generates
random sequences of enter / add action (eval, exec, callback; breakpoints
with and without ``cond``) / exit for several probes (breakpoints and
captures, some owned by a second thread) on a plain function, an enclosing
function, the closure it makes, a function calling both, and a method
(unbound and bound: an instance filter). After every step it runs the
functions and compares what they return and what each probe recorded with
a plain-Python reference model of which probes are active.
``SPLICE_HYPOTHESIS_EXAMPLES`` sets the number of sequences (default 400,
about 20 s). One scenario in four holds the targets' code objects strongly,
so that its enters take the heap-search path rather than the census.

Runs the real native rewriter.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import splice
from splice.patcher import PATCHER

EXAMPLES = int(os.environ.get("SPLICE_HYPOTHESIS_EXAMPLES", "400"))


# --- targets (a line text is looked up within its function) ----------------------


def plain(x, y):
    z = x + y
    return 2 * z


def make(a, s):
    b = a * s
    def inner(c):  # noqa: E306
        d = c + a
        return d * b
    return inner


held = make(1, 2)  # a closure made before any probe


def outer(x, u):
    w = x + 1
    fn = make(w, 3)
    return fn(w) + held(x)


class Acc:
    def __init__(self, k):
        self.k = k

    def step(self, v):
        t = v * self.k
        return t + 1


ACC1, ACC2 = Acc(2), Acc(3)

# Weak references: a strong one from this module (a dict of code objects is
# untracked by the collector, so splice cannot see who holds them) would make
# every enter on these functions a heap search. Scenarios drawn with
# `hold_code` hold them strongly on purpose, to take that path too.
ORIGINAL = {
    "plain": weakref.ref(plain.__code__),
    "make": weakref.ref(make.__code__),
    "inner": weakref.ref(held.__code__),
    "outer": weakref.ref(outer.__code__),
    "step": weakref.ref(Acc.step.__code__),
}
INNER_IN_MAKE = [weakref.ref(k) for k in make.__code__.co_consts if hasattr(k, "co_code")]


def assert_all_original() -> None:
    assert plain.__code__ is ORIGINAL["plain"]()
    assert make.__code__ is ORIGINAL["make"]()
    assert held.__code__ is ORIGINAL["inner"]()
    assert outer.__code__ is ORIGINAL["outer"]()
    assert Acc.step.__code__ is ORIGINAL["step"]()
    nested = [k for k in make.__code__.co_consts if hasattr(k, "co_code")]
    assert len(nested) == len(INNER_IN_MAKE) and all(k is r() for k, r in zip(nested, INNER_IN_MAKE, strict=True))
    assert make(1, 1).__code__ is ORIGINAL["inner"]()
    assert PATCHER.is_idle()


# --- 1. the reproductions from the issue ----------------------------------------


def f(x, y):
    z = x + y
    return 2 * z


def test_breakpoints_exited_out_of_order():
    orig = f.__code__
    bp1 = splice.breakpoint(f, line="return 2 * z")
    bp2 = splice.breakpoint(f, line="z = x + y")
    bp1.__enter__()
    bp1.exec("z = z + 1")
    bp2.__enter__()
    values = bp2.eval("x")
    assert (f(1, 1), values) == (6, [1])
    bp1.__exit__(None, None, None)
    assert bp2.active
    assert (f(2, 1), values) == (6, [1, 2])  # bp2's eval still runs, bp1's exec does not
    bp2.__exit__(None, None, None)
    assert f.__code__ is orig
    assert (f(3, 1), values) == (8, [1, 2])
    assert not splice.get_nopdb().started


def test_two_capture_calls_on_one_function_exited_out_of_order():
    orig = f.__code__
    c1 = splice.capture_calls(f).__enter__()
    c2 = splice.capture_calls(f).__enter__()
    f(1, 1)
    c1.__exit__(None, None, None)
    f(2, 2)
    assert [c.return_value for c in c1] == [4]
    assert [c.return_value for c in c2] == [4, 8]
    c2.__exit__(None, None, None)
    f(3, 3)
    assert [c.return_value for c in c2] == [4, 8]
    assert f.__code__ is orig
    assert not splice.get_nopdb().started


def test_actions_added_after_enter_while_another_block_exits():
    """NoPdb's idiom (actions added inside the block) with blocks that
    overlap instead of nesting, on an enclosing function and its closure."""
    with splice.capture_calls(held) as calls:
        bp = splice.breakpoint(make, line="b = a * s").__enter__()
        bp.exec("a = a + 10")
        assert make(1, 2)(1) == (1 + 11) * 22
    seen = bp.eval("s")  # the capture's block is gone, the breakpoint's is not
    assert make(1, 2)(1) == (1 + 11) * 22 and seen == [2]
    assert [c.return_value for c in calls] == [264]
    a_values = bp.eval("a")
    assert make(1, 2)(1) == 264 and seen == [2, 2] and a_values == [11]
    bp.__exit__(None, None, None)
    assert make(1, 2)(1) == (1 + 1) * 2 and a_values == [11]
    assert_all_original()


def test_blocks_in_two_threads_exit_out_of_order():
    """Each thread's default instance is held by its own blocks; a block in
    one thread exiting does not touch the other's probes."""
    orig = f.__code__
    with ThreadPoolExecutor(max_workers=1) as other:
        bp = splice.breakpoint(f, line="return 2 * z").__enter__()
        bp.exec("z = z + 1")
        calls = other.submit(lambda: splice.capture_calls(f).__enter__()).result()
        assert f(1, 1) == 6
        bp.__exit__(None, None, None)
        assert other.submit(lambda: f(2, 2)).result() == 8 and f(1, 1) == 4
        assert [c.return_value for c in calls] == [6, 8, 4]
        assert not splice.get_nopdb().started
        assert other.submit(lambda: splice.get_nopdb().started).result()
        other.submit(lambda: calls.__exit__(None, None, None)).result()
        assert not other.submit(lambda: splice.get_nopdb().started).result()
    assert f.__code__ is orig and f(1, 1) == 4 and len(calls) == 3


def test_an_explicit_stop_ends_every_block_and_later_exits_are_harmless():
    orig = f.__code__
    a = splice.capture_calls(f).__enter__()
    b = splice.breakpoint(f, line="z = x + y").__enter__()
    values = b.eval("y")
    splice.get_nopdb().stop()  # as in NoPdb: stop() stops, whoever holds it
    assert f.__code__ is orig and not a.active and not b.active
    a.__exit__(None, None, None)
    assert not splice.get_nopdb().started
    with splice.capture_calls(f) as c:  # a new block starts it again
        f(1, 5)
        assert b.active  # still enabled: its block never exited
    assert values == [5] and len(c) == 1 and f.__code__ is orig
    b.__exit__(None, None, None)
    assert f.__code__ is orig
    assert not splice.get_nopdb().started


def test_a_block_inside_an_explicitly_started_instance_does_not_stop_it():
    n = splice.NoPdb()
    n.start()
    a = n.capture_calls(f).__enter__()
    b = n.capture_calls(f).__enter__()
    a.__exit__(None, None, None)
    b.__exit__(None, None, None)
    assert n.started
    n.stop()
    assert f(1, 1) == 4 and a == [] and b == []


def test_a_failed_enter_leaves_the_instance_as_it_was(monkeypatch):
    from splice import patcher

    orig = f.__code__
    bp = splice.breakpoint(f, line="return 2 * z")
    bp.exec("z = z + 1")
    bp.disable()

    def fail(code, probes):
        raise splice.RewriteError("no")

    monkeypatch.setattr(patcher, "instrument", fail)
    with pytest.raises(splice.RewriteError):
        bp.__enter__()
    assert not splice.get_nopdb().started and f.__code__ is orig
    monkeypatch.undo()
    with splice.capture_calls(f) as calls:  # the instance still works as usual
        f(1, 1)
    assert len(calls) == 1 and not splice.get_nopdb().started and f.__code__ is orig


# --- 2. property-based: random sequences against a reference model --------------


@dataclass(frozen=True)
class Line:
    """A breakpoint line: its text (None: function entry), the local an
    ``exec`` there increments (None: no exec), the expression an ``eval``
    records (never changed by an exec on the same line, so the order of
    probes on one line does not matter) and a ``cond``."""

    text: Optional[str]
    exec_var: Optional[str]
    eval_expr: str
    cond: str


#: target key -> (what is passed to splice, code name, instance filter, lines)
TARGETS: dict[str, tuple[Callable[[], Any], str, Any, dict[str, Line]]] = {
    "plain": (lambda: plain, "plain", None, {
        "entry": Line(None, None, "y", "y > 1"),
        "P1": Line("z = x + y", "x", "y", "y > 1"),
        "P2": Line("return 2 * z", "z", "x", "x > 1"),
    }),
    "make": (lambda: make, "make", None, {
        "M1": Line("b = a * s", "a", "s", "s > 2"),
        "M2": Line("return inner", "b", "a", "a > 2"),
    }),
    "inner": (lambda: held, "inner", None, {
        "I1": Line("d = c + a", "c", "a", "a > 1"),
        "I2": Line("return d * b", "d", "c", "c > 3"),
    }),
    "outer": (lambda: outer, "outer", None, {
        "O1": Line("w = x + 1", "x", "u", "u > 2"),
        "O2": Line("fn = make(w, 3)", "w", "x", "x > 1"),
        "O3": Line("return fn(w) + held(x)", "w", "x", "x > 1"),
    }),
    "Acc.step": (lambda: Acc.step, "step", None, {
        "entry": Line(None, None, "v", "v > 2"),
        "S1": Line("t = v * self.k", "v", "self.k", "self.k > 2"),
        "S2": Line("return t + 1", "t", "v", "v > 2"),
    }),
    "ACC1.step": (lambda: ACC1.step, "step", ACC1, {
        "S1": Line("t = v * self.k", "v", "self.k", "self.k > 2"),
        "S2": Line("return t + 1", "t", "v", "v > 2"),
    }),
}


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # "breakpoint" or "capture"
    target: str
    line: Optional[str] = None  # breakpoints: a key of TARGETS[target][3]
    cond: bool = False
    thread: int = 0  # 0: the test's thread; 1: a worker thread

    def __repr__(self) -> str:
        where = self.target + (f":{self.line}" if self.line else "")
        return f"{self.kind}({where}{', cond' if self.cond else ''}{', thread 1' if self.thread else ''})"


@dataclass
class ModelProbe:
    """What the reference model knows of one probe: created / entered /
    exited, its actions and what each should have recorded."""

    spec: ProbeSpec
    state: str = "new"  # new, created (enabled, not entered), entered, exited
    actions: list[tuple[str, int, list[Any]]] = field(default_factory=list)  # (kind, k, records)
    calls: list[Any] = field(default_factory=list)  # captures: (args, return value, int locals)


class Closure:
    """The model of a closure `make` returns: the cells' final values."""

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b


class Model:
    """Plain-Python versions of the targets, with the active probes applied
    by hand. A probe is active while it is entered, or created (enabled) and
    some probe of its thread is entered (the thread's default NoPdb instance
    is then running, and NoPdb installs every enabled probe of a running
    instance)."""

    def __init__(self, probes: list[ModelProbe]) -> None:
        self.probes = probes

    def active(self, p: ModelProbe) -> bool:
        if p.state == "entered":
            return True
        return p.state == "created" and any(
            q.state == "entered" and q.spec.thread == p.spec.thread for q in self.probes
        )

    def _applies(self, p: ModelProbe, code_name: str, instance: Any) -> bool:
        _, name, only, _ = TARGETS[p.spec.target]
        return name == code_name and (only is None or only is instance) and self.active(p)

    def hook(self, code_name: str, tag: str, env: dict[str, Any], instance: Any = None) -> None:
        for p in self.probes:
            if p.spec.kind != "breakpoint" or p.spec.line != tag or not self._applies(p, code_name, instance):
                continue
            line = TARGETS[p.spec.target][3][tag]
            if p.spec.cond and not eval(line.cond, {}, dict(env)):
                continue
            for kind, k, records in p.actions:
                if kind == "exec":
                    env[line.exec_var] += k  # type: ignore[index]
                else:  # eval, callback
                    records.append(eval(line.eval_expr, {}, dict(env)))

    def call(self, code_name: str, args: dict[str, Any], body: Callable[[dict[str, Any]], Any],
             instance: Any = None) -> Any:
        captures = [
            p for p in self.probes
            if p.spec.kind == "capture" and self._applies(p, code_name, instance)
        ]
        env = dict(args)
        self.hook(code_name, "entry", env, instance)
        result = body(env)
        for p in captures:
            p.calls.append((dict(args), normal(result), int_locals(env)))
        return result

    # the targets, by hand
    def plain(self, x: int, y: int) -> int:
        def body(e: dict[str, Any]) -> int:
            self.hook("plain", "P1", e)
            e["z"] = e["x"] + e["y"]
            self.hook("plain", "P2", e)
            return 2 * e["z"]
        return self.call("plain", {"x": x, "y": y}, body)

    def make(self, a: int, s: int) -> Closure:
        def body(e: dict[str, Any]) -> Closure:
            self.hook("make", "M1", e)
            e["b"] = e["a"] * e["s"]
            self.hook("make", "M2", e)
            return Closure(e["a"], e["b"])
        return self.call("make", {"a": a, "s": s}, body)

    def inner(self, clo: Closure, c: int) -> int:
        def body(e: dict[str, Any]) -> int:
            e["a"], e["b"] = clo.a, clo.b  # free variables are locals too
            self.hook("inner", "I1", e)
            e["d"] = e["c"] + e["a"]
            self.hook("inner", "I2", e)
            return e["d"] * e["b"]
        return self.call("inner", {"c": c}, body)

    def outer(self, x: int, u: int) -> int:
        def body(e: dict[str, Any]) -> int:
            self.hook("outer", "O1", e)
            e["w"] = e["x"] + 1
            self.hook("outer", "O2", e)
            fn = self.make(e["w"], 3)
            self.hook("outer", "O3", e)
            return self.inner(fn, e["w"]) + self.inner(HELD, e["x"])
        return self.call("outer", {"x": x, "u": u}, body)

    def step(self, obj: Acc, v: int) -> int:
        def body(e: dict[str, Any]) -> int:
            self.hook("step", "S1", e, obj)
            e["t"] = e["v"] * obj.k
            self.hook("step", "S2", e, obj)
            return e["t"] + 1
        return self.call("step", {"self": obj, "v": v}, body, obj)


HELD = Closure(1, 2)


def normal(value: Any) -> Any:
    """Return values as compared: a closure is just "a function"."""
    return "<function>" if callable(value) or isinstance(value, Closure) else value


def int_locals(env: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in env.items() if type(v) is int}


def run_real() -> list[Any]:
    return [
        plain(1, 2), plain(3, 1),
        make(2, 1)(5), held(4), outer(3, 4), outer(0, 1),
        ACC1.step(2), ACC2.step(3), ACC1.step(3),
    ]


def run_model(m: Model) -> list[Any]:
    return [
        m.plain(1, 2), m.plain(3, 1),
        m.inner(m.make(2, 1), 5), m.inner(HELD, 4), m.outer(3, 4), m.outer(0, 1),
        m.step(ACC1, 2), m.step(ACC2, 3), m.step(ACC1, 3),
    ]


# strategies


#: Targets a scenario draws its probes from: one function, an enclosing
#: function with what it encloses and calls, a method (bound and unbound),
#: or all of them.
FAMILIES = [["plain"], ["make", "inner", "outer"], ["Acc.step", "ACC1.step"], sorted(TARGETS)]


@st.composite
def probe_specs(draw: st.DrawFn, family: list[str]) -> ProbeSpec:
    target = draw(st.sampled_from(family))
    thread = draw(st.sampled_from([0, 0, 0, 1]))
    if draw(st.booleans()):
        return ProbeSpec("capture", target, thread=thread)
    line = draw(st.sampled_from(sorted(TARGETS[target][3])))
    return ProbeSpec("breakpoint", target, line, draw(st.booleans()), thread)


ACTIONS = st.one_of(
    st.just(("eval", 0)),
    st.just(("callback", 0)),
    st.tuples(st.just("exec"), st.integers(1, 9)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[ProbeSpec], list[tuple[str, int, tuple[str, int]]], list[int], bool]:
    family = draw(st.sampled_from(FAMILIES))
    specs = draw(st.lists(probe_specs(family), min_size=2, max_size=5))
    n = len(specs)
    ops = draw(st.lists(
        st.tuples(st.sampled_from(["enter", "enter", "add", "add", "exit"]), st.integers(0, n - 1), ACTIONS),
        min_size=4, max_size=24,
    ))
    final_exits = draw(st.permutations(range(n)))
    # one scenario in four holds the targets' code objects where splice's
    # census cannot account for them: every enter is then a heap search
    hold_code = draw(st.integers(0, 3)) == 0
    return specs, ops, final_exits, hold_code


class Real:
    """The splice objects of one scenario, each made and driven in its thread."""

    def __init__(self, specs: list[ProbeSpec], worker: ThreadPoolExecutor) -> None:
        self.specs = specs
        self.objs: list[Any] = [None] * len(specs)
        self.records: list[list[list[Any]]] = [[] for _ in specs]  # per probe, per action
        self.worker = worker

    def in_thread(self, i: int, fn: Callable[[], Any]) -> Any:
        if self.specs[i].thread == 0:
            return fn()
        return self.worker.submit(fn).result()

    def create(self, i: int) -> None:
        spec = self.specs[i]
        fn, _, _, lines = TARGETS[spec.target]
        if spec.kind == "capture":
            self.objs[i] = splice.capture_calls(fn())
        else:
            line = lines[spec.line]  # type: ignore[index]
            self.objs[i] = splice.breakpoint(fn(), line=line.text, cond=line.cond if spec.cond else None)

    def add(self, i: int, kind: str, k: int) -> None:
        spec = self.specs[i]
        line = TARGETS[spec.target][3][spec.line]  # type: ignore[index]
        bp = self.objs[i]
        if kind == "exec":
            bp.exec(f"{line.exec_var} = {line.exec_var} + {k}")
            self.records[i].append([])
        elif kind == "eval":
            self.records[i].append(bp.eval(line.eval_expr))
        else:
            out: list[Any] = []
            expr = line.eval_expr
            bp.callback(lambda view: out.append(eval(expr, view.globals, view.locals)))
            self.records[i].append(out)

    def capture_records(self, i: int) -> list[Any]:
        return [(dict(c.args), normal(c.return_value), int_locals(c.locals)) for c in self.objs[i]]


def step_action(spec: ProbeSpec, action: tuple[str, int]) -> tuple[str, int]:
    kind, k = action
    line = TARGETS[spec.target][3][spec.line]  # type: ignore[index]
    if kind == "exec" and line.exec_var is None:
        return ("eval", 0)  # no exec at function entry
    return kind, k


def check(real: Real, model: Model, thread: int, where: str) -> None:
    got = real.in_thread(0, run_real) if thread == 0 else real.worker.submit(run_real).result()
    want = run_model(model)
    assert got == want, f"{where}: return values"
    for i, p in enumerate(model.probes):
        if real.objs[i] is None:
            continue
        if p.spec.kind == "capture":
            assert real.capture_records(i) == p.calls, f"{where}: captured calls of probe {i} {p.spec!r}"
        else:
            assert real.records[i] == [r for _, _, r in p.actions], f"{where}: records of probe {i} {p.spec!r}"


NESTING = {("make", "inner"), ("outer", "make"), ("outer", "inner")}


def coverage_events(model: Model, entered_order: list[int], op: str, i: int) -> None:
    """What the step exercised, for ``--hypothesis-show-statistics``."""
    active = [p for p in model.probes if model.active(p)]
    names = {TARGETS[p.spec.target][1] for p in active}
    if op == "exit" and entered_order and entered_order[-1] != i:
        event("an exit out of order (not the last probe entered)")
    if any(sum(TARGETS[p.spec.target][1] == n for p in active) > 1 for n in names):
        event("two or more probes active on one function")
    if any(a in names and b in names for a, b in NESTING):
        event("probes active on an enclosing and a nested function")
    if {p.spec.thread for p in active} == {0, 1}:
        event("probes of both threads active")
    if any(p.state == "created" and model.active(p) for p in model.probes):
        event("a probe active without its own block (created while the instance runs)")


def run_scenario(specs: list[ProbeSpec], ops: list[tuple[str, int, tuple[str, int]]],
                 final_exits: list[int], worker: ThreadPoolExecutor,
                 events: bool = False) -> None:
    real = Real(specs, worker)
    model = Model([ModelProbe(s) for s in specs])
    steps = [(op, i, a) for op, i, a in ops] + [("exit", i, ("eval", 0)) for i in final_exits]
    entered: list[int] = []  # probes in the order they were entered, still entered
    try:
        for n, (op, i, action) in enumerate(steps):
            p = model.probes[i]
            spec = p.spec
            if op == "enter":
                if p.state == "entered":
                    continue
                if p.state == "new":
                    real.in_thread(i, lambda i=i: real.create(i))
                real.in_thread(i, lambda i=i: real.objs[i].__enter__())
                p.state = "entered"
                entered.append(i)
            elif op == "add":
                if p.state == "new":
                    real.in_thread(i, lambda i=i: real.create(i))
                    p.state = "created"
                if spec.kind == "breakpoint":
                    kind, k = step_action(spec, action)
                    real.in_thread(i, lambda i=i, kind=kind, k=k: real.add(i, kind, k))
                    p.actions.append((kind, k, []))
            else:
                if p.state not in ("created", "entered"):
                    continue
                if events:
                    coverage_events(model, entered, op, i)
                real.in_thread(i, lambda i=i: real.objs[i].__exit__(None, None, None))
                p.state = "exited"
                if i in entered:
                    entered.remove(i)
            if events and op != "exit":
                coverage_events(model, entered, op, i)
            check(real, model, spec.thread, f"after step {n} ({op} probe {i} {spec!r})")
        assert_all_original()
        for t in (0, 1):
            started = splice.get_nopdb().started if t == 0 else worker.submit(
                lambda: splice.get_nopdb().started).result()
            assert not started, f"thread {t}'s NoPdb instance is still started"
    finally:  # never leak into the next example, whatever failed
        for i, obj in enumerate(real.objs):
            if obj is not None:
                real.in_thread(i, lambda obj=obj: obj.__exit__(None, None, None))


@pytest.fixture(scope="module")
def worker():
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-order") as ex:
        yield ex


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_random_sequences(scenario, worker):
    specs, ops, final_exits, hold_code = scenario
    held_codes = [r() for r in ORIGINAL.values()] if hold_code else []
    event("code objects held (enters search the heap)" if hold_code else "code objects not held")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", splice.HeapSearchWarning)  # the held_codes, on purpose
        run_scenario(specs, ops, final_exits, worker, events=True)
    del held_codes


def test_model_sanity(worker):
    """The model itself: one scenario worked out by hand."""
    specs = [ProbeSpec("breakpoint", "plain", "P2"), ProbeSpec("capture", "plain")]
    model = Model([ModelProbe(s) for s in specs])
    model.probes[0].state = "entered"
    model.probes[0].actions.append(("exec", 5, []))
    model.probes[1].state = "created"  # active: thread 0's instance runs
    assert model.plain(1, 2) == 16
    assert model.probes[1].calls == [({"x": 1, "y": 2}, 16, {"x": 1, "y": 2, "z": 8})]
    run_scenario(specs, [("add", 0, ("exec", 5)), ("enter", 0, ("eval", 0)), ("add", 1, ("eval", 0))],
                 [1, 0], worker)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


#: what the snippets of the next test append to (a global of its function)
ORDER_OUT: list = []


def test_breakpoints_on_one_line_run_in_the_order_they_were_enabled():
    # as NoPdb's trace function calls them (splice ran the one enabled
    # last first); a later one sees what an earlier one assigned
    def f(x):
        y = x + 1
        return y

    out = ORDER_OUT
    out.clear()
    with splice.breakpoint(f, line="return y") as a:
        a.exec("t = y * 10; ORDER_OUT.append(('a', t))")
        with splice.breakpoint(f, line="return y") as b:
            b.exec("ORDER_OUT.append(('b', t))")
            with splice.breakpoint(f, line="return y") as c:
                c.exec("ORDER_OUT.append(('c', y))")
                assert f(1) == 2
    assert out == [("a", 20), ("b", 20), ("c", 2)]
    with splice.breakpoint(f, line=None) as entry:
        entry.exec("ORDER_OUT.append('entry')")
        with splice.capture_calls(f) as calls:
            f(2)
    assert out[-1] == "entry" and len(calls) == 1


def test_a_breakpoint_does_not_run_inside_another_breakpoints_loop_or_handler():
    # Probes are spliced one after the other, each in front of what is at
    # its site; the copy of one snippet carries the probed line, and the
    # next probe on that line found line events inside it: at the head of
    # the snippet's loop (so it ran once per iteration of the other's loop)
    # and under the snippet's own `try` (so the other's `except` caught its
    # exception, and the function went on as if nothing had raised).
    def f():
        b = 1
        return b

    out = ORDER_OUT
    out.clear()
    with splice.breakpoint(f, line="b = 1") as first, splice.breakpoint(f, line="b = 1") as second:
        first.exec("ORDER_OUT.append('first')")
        second.exec("for k in range(3):\n    ORDER_OUT.append(('second', k))")
        first.count_hits()
        assert f() == 1
    assert out == ["first", ("second", 0), ("second", 1), ("second", 2)]
    assert first.hits == 1

    for handler in ("except ValueError:\n    ORDER_OUT.append('second except')",
                    "finally:\n    ORDER_OUT.append('second finally')"):
        out.clear()
        with splice.breakpoint(f, line="b = 1") as first, splice.breakpoint(f, line="b = 1") as second:
            first.exec("raise ValueError('first')")
            second.exec("try:\n    ORDER_OUT.append('second body')\n" + handler)
            with pytest.raises(ValueError, match="first"):
                f()
        assert out == [], handler  # typed in one after the other: the first raises, the second never runs


@pytest.mark.parametrize("capture_first", [False, True])
def test_a_capture_records_the_arguments_before_a_breakpoint_on_the_first_line_runs(capture_first):
    """The capture's enter hook comes right after the body's RESUME, before
    anything a breakpoint puts on the first statement's line, whichever was
    entered first. (An enter hook given the first statement's line was taken
    for the start of that line: the breakpoint's ``x = x + 1`` ran first and
    the capture recorded x=2.)"""
    with contextlib.ExitStack() as stack:
        if capture_first:
            calls = stack.enter_context(splice.capture_calls(plain))
        bp = stack.enter_context(splice.breakpoint(plain, line="z = x + y"))
        bp.exec("x = x + 1")
        if not capture_first:
            calls = stack.enter_context(splice.capture_calls(plain))
        assert plain(1, 2) == 8
    assert [(dict(c.args), c.return_value, c.locals["x"]) for c in calls] == [({"x": 1, "y": 2}, 8, 2)]
