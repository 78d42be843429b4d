"""Issue 17: after a probe is removed, calls to the function are specialized
again exactly as before it was set; while a probe is active, they are
specialized too.

Assigning ``__code__`` clears a function's version (``func_version``), and
on 3.13+ CPython never specializes calls to a function whose version was
cleared. splice gives the version back (crates/splice-py/src/func_version.rs,
``patcher._set_code``). These tests warm up a caller until its call site is
specialized, read the specialized instruction through
``dis.get_instructions(caller, adaptive=True)``, and check it again after
(and during) ``splice.breakpoint`` and ``splice.capture_calls`` blocks; and
that nothing is written when the function's state changed under the probe.

On 3.11 CPython hands out versions again by itself (one lazy counter), so the
specialization tests pass there without splice writing anything; the tests
of what splice writes (and refuses to write) skip there.
"""

from __future__ import annotations

import dis
import sys
import types
import warnings
import weakref

import pytest

import splice
from splice import _native
from splice._native import testing

MINOR = sys.version_info[1]
#: The version values CPython uses for "no version": 0 (UNSET), and on 3.14+
#: also 1 (CLEARED, after a critical attribute was assigned).
INVALID = (0,) if MINOR < 14 else (0, 1)
#: Enough executions of one site to get past the adaptive back-off after a
#: deoptimization (at most 4096 on 3.11-3.15, usually far fewer).
WARM = 5000
CALL_PY = "CALL_PY_EXACT_ARGS"
#: A call of a Python function that passes fewer arguments than it has
#: parameters (defaults filled in) specializes to one of these.
CALL_PY_DEFAULTS = ("CALL_PY_WITH_DEFAULTS", "CALL_PY_GENERAL")
GETITEM = "BINARY_OP_SUBSCR_GETITEM" if MINOR >= 14 else "BINARY_SUBSCR_GETITEM"

SOURCE = '''\
def f(a, b):
    x = a + b
    return x


def g(a, b=1):
    y = a + b
    return y


class Box:
    def __getitem__(self, i):
        z = i * 2
        return z


box = Box()


def call_f(n):
    s = 0
    for i in range(n):
        s += f(i, 1)
    return s


def call_g(n):
    s = 0
    for i in range(n):
        s += g(i)
    return s


def subscript(n):
    s = 0
    for i in range(n):
        s += box[i]
    return s


def outer(k):
    def inner(a):
        w = a + k
        return w
    return inner


class Kinds:
    def meth(self, a):
        m = a + 1
        return m

    @property
    def prop(self):
        p = 7
        return p


kinds = Kinds()
clo = outer(5)


def mixed(n):
    t = 0
    for i in range(n):
        t += f(i, 1) + g(i) + clo(i) + kinds.meth(i) + box[i] + kinds.prop
    return t
'''

writes = pytest.mark.skipif(
    testing.func_version_support()[0] == "lazy",
    reason="3.11 re-versions functions lazily by itself: splice writes no versions there",
)


@pytest.fixture
def mod(tmp_path):
    """A fresh module of the functions above, from a real file (splice reads
    the source to place breakpoints)."""
    path = tmp_path / "fvmod.py"
    path.write_text(SOURCE)
    m = types.ModuleType("fvmod")
    m.__file__ = str(path)
    exec(compile(SOURCE, str(path), "exec"), m.__dict__)
    return m


def site_ops(caller) -> list[str]:
    """The (specialized) names of the caller's call and subscript sites."""
    return [
        i.opname
        for i in dis.get_instructions(caller, adaptive=True)
        if i.opname.startswith(("CALL", "PRECALL", "BINARY_SUBSCR", "BINARY_OP_SUBSCR"))
    ]


def warm(caller, want: int, n: int = WARM) -> list[str]:
    """Run ``caller(n)`` twice (checking its result is ``want``) and return
    its sites' instruction names."""
    for _ in range(2):
        assert caller(n) == want
    return site_ops(caller)


def sum_f(n: int, scale: int = 1) -> int:
    return scale * sum(i + 1 for i in range(n))


def test_layout_check_passed():
    """Writes are enabled wherever they apply: 3.11 needs none, every other
    supported version passes the layout check (a failure here means the
    feature turned itself off, and the reason says why)."""
    mode, why = testing.func_version_support()
    want = "lazy" if MINOR == 11 else "field" if MINOR == 12 else "setter"
    assert mode == want, why


def test_call_specialized_again_after_breakpoint_and_capture(mod):
    f, caller = mod.f, mod.call_f
    original = f.__code__
    version = testing.func_version(f)
    assert CALL_PY in warm(caller, sum_f(WARM))

    with splice.breakpoint(f, line="return x") as bp:
        bp.exec("x = x * 3")
        assert f.__code__ is not original
        assert caller(10) == sum_f(10, 3)  # the probe runs
    assert f.__code__ is original
    with splice.capture_calls(f) as calls:
        assert caller(3) == sum_f(3)
    assert [c.args["a"] for c in calls] == [0, 1, 2]
    assert f.__code__ is original

    assert CALL_PY in warm(caller, sum_f(WARM)), "calls to f are no longer specialized"
    if MINOR >= 12:
        assert testing.func_version(f) == version == testing.code_version(original)


def test_call_specialized_while_probe_active(mod):
    f, caller = mod.f, mod.call_f
    assert CALL_PY in warm(caller, sum_f(WARM))
    with splice.breakpoint(f, line="return x") as bp:
        bp.exec("x = x * 3")
        ops = warm(caller, sum_f(WARM, 3))
        assert CALL_PY in ops, f"calls to the probed f are not specialized: {ops}"
        if MINOR >= 12:
            assert testing.func_version(f) == testing.code_version(f.__code__)
    with splice.capture_calls(f) as calls:
        assert CALL_PY in warm(caller, sum_f(WARM))
    assert len(calls) == 2 * WARM
    assert CALL_PY in warm(caller, sum_f(WARM))


def test_getitem_specialized_again(mod):
    """``obj[i]`` calling a Python ``__getitem__`` is specialized on its
    version too (and trusts it without re-checking the argument count)."""
    getitem = mod.Box.__getitem__
    want = sum(2 * i for i in range(WARM))
    assert GETITEM in warm(mod.subscript, want)
    with splice.breakpoint(getitem, line="return z") as bp:
        bp.exec("z = z + 1")
        assert GETITEM in warm(mod.subscript, want + WARM)
    assert GETITEM in warm(mod.subscript, want)


def test_probes_exited_out_of_order_and_reentered(mod):
    """A breakpoint and a capture on one function, the breakpoint (entered
    first) exited first, three times over: specialized after each step."""
    f, caller = mod.f, mod.call_f
    original = f.__code__
    assert CALL_PY in warm(caller, sum_f(WARM))
    for _ in range(3):
        bp, cap = splice.breakpoint(f, line="return x"), splice.capture_calls(f)
        bp_open = cap_open = False
        try:
            bp.__enter__()
            bp_open = True
            bp.exec("x = x * 2")
            cap.__enter__()
            cap_open = True
            assert CALL_PY in warm(caller, sum_f(WARM, 2))
            bp.__exit__(None, None, None)
            bp_open = False
            assert CALL_PY in warm(caller, sum_f(WARM))  # the capture alone
            cap.__exit__(None, None, None)
            cap_open = False
            assert f.__code__ is original
            assert CALL_PY in warm(caller, sum_f(WARM))
        finally:
            if bp_open:
                bp.__exit__(None, None, None)
            if cap_open:
                cap.__exit__(None, None, None)


@writes
def test_closure_made_while_patched_gets_a_version(mod):
    """A closure created from the patched parent carries patched code; when
    the probe goes, it gets the original code and that code's version (what
    a ``def`` would have given it)."""
    first = mod.outer(1)
    inner_code = first.__code__
    with splice.capture_calls(first):
        made = mod.outer(2)
        assert made.__code__ is not inner_code
        assert testing.func_version(made) == testing.code_version(made.__code__)
    assert made.__code__ is inner_code and first.__code__ is inner_code
    assert testing.func_version(made) == testing.code_version(inner_code)
    assert testing.func_version(first) == testing.code_version(inner_code)
    assert made(1) == 3


@writes
def test_no_write_when_defaults_changed_under_the_probe(mod):
    g, caller = mod.g, mod.call_g
    original = g.__code__
    assert set(CALL_PY_DEFAULTS) & set(warm(caller, sum_f(WARM)))
    with splice.breakpoint(g, line="return y") as bp:
        bp.exec("y = y * 3")
        g.__defaults__ = (2,)  # clears the version; the guard must see it
        assert testing.func_version(g) in INVALID
    assert g.__code__ is original
    assert testing.func_version(g) in INVALID, "a version was written though __defaults__ changed"
    ops = warm(caller, sum(i + 2 for i in range(WARM)))
    if MINOR >= 13:  # CPython never versions it again (3.12 does, lazily)
        assert not set(CALL_PY_DEFAULTS) & set(ops), ops


@writes
def test_no_write_when_user_reassigned_code(mod):
    f = mod.f
    original = f.__code__
    theirs = original.replace()
    with pytest.warns(RuntimeWarning, match="replaced by someone else"):
        with splice.breakpoint(f, line="return x") as bp:
            bp.exec("x = x * 3")
            f.__code__ = theirs
    assert f.__code__ is theirs
    assert testing.func_version(f) in INVALID, "a version was written for someone else's code"
    f.__code__ = original


@writes
def test_native_guards(mod):
    """``sync_version`` itself: a snapshot is only taken of a function whose
    version is its code's own, and nothing is written for another signature,
    another function, or while the version is valid."""
    f, g = mod.f, mod.g
    assert _native.save_version(types.FunctionType(f.__code__, {}, "copy")) is None
    saved = _native.save_version(f)
    assert saved is not None and saved.version == testing.func_version(f)
    assert saved.code is f.__code__
    original = f.__code__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not _native.sync_version(f, saved), "wrote over a valid version"
        assert not _native.sync_version(g, saved), "wrote a snapshot onto another function"
        f.__code__ = original.replace(co_argcount=1, co_posonlyargcount=0)  # another signature
        assert not _native.sync_version(f, saved)
        assert testing.func_version(f) in INVALID
        f.__code__ = original
        assert _native.sync_version(f, saved)
        assert testing.func_version(f) == saved.version
        assert _native.save_version(f) is not None  # restored: a def's state again
        f.__defaults__ = None  # assigning defaults clears the version, even to the same value
        assert _native.save_version(f) is None


def test_many_swaps_over_function_kinds(mod):
    """Probes entered and exited over and over on six kinds of function
    (positional, defaults, closure, method, ``__getitem__``, property getter)
    that one hot loop calls through specialized instructions: the results
    are those of the code installed at each moment (a version naming the
    wrong code object would run the wrong code, or crash), and the loop is
    specialized again at the end. ``PYTHON_JIT=1`` runs it under 3.14+'s JIT."""
    targets = [(mod.f, "return x", "x = x + 1"), (mod.g, "return y", "y = y + 1"),
               (mod.clo, "return w", "w = w + 1"), (mod.Kinds.meth, "return m", "m = m + 1"),
               (mod.Box.__getitem__, "return z", "z = z + 1"), (mod.Kinds.prop.fget, "return p", "p = p + 1")]
    n = 300
    plain, plain_warm = mod.mixed(n), mod.mixed(WARM)
    # held weakly: a strong list would make every enter a heap search
    # (HeapSearchWarning), since splice cannot account for it
    originals = [weakref.ref(fn.__code__) for fn, _, _ in targets]
    for cycle in range(24):
        active = targets[: 1 + cycle % len(targets)]
        entered = []
        try:
            for fn, line, stmt in active:
                bp = splice.breakpoint(fn, line=line)
                bp.__enter__()
                entered.append(bp)
                bp.exec(stmt)
            for _ in range(5):
                assert mod.mixed(n) == plain + n * len(active)
        finally:
            for bp in reversed(entered):
                bp.__exit__(None, None, None)
        for _ in range(5):
            assert mod.mixed(n) == plain
    assert all(fn.__code__ is orig() for (fn, _, _), orig in zip(targets, originals, strict=True))
    ops = warm(mod.mixed, plain_warm)
    assert ops.count(CALL_PY) >= 1 and GETITEM in ops, ops
    if MINOR >= 12:
        assert all(testing.func_version(fn) == testing.code_version(fn.__code__) for fn, _, _ in targets)
