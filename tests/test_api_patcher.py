"""Lifecycle of probes, independent of the native rewriter: ``instrument`` is
replaced by a fake that returns ``code.replace()`` copies, so these tests check
which code object every function holds at every step."""

import sys
import threading
import types
import warnings
import weakref

import pytest

import splice
from splice import RewriteError, SnippetError
from splice import patcher
from splice._native import CaptureProbe, LineProbe


@pytest.fixture
def fake(fake_instrument):
    """The conftest fake, under a short name (these tests all use it)."""
    return fake_instrument


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


def outer(k):
    def inner(v):
        w = v + k
        return w

    return inner


class Model:
    def forward(self, x):
        out = x + 1
        return out


F_RETURN = f.__code__.co_firstlineno + 2


def test_capture_swaps_and_restores_exactly(fake):
    orig = f.__code__
    with splice.capture_call(f) as call:
        assert f.__code__ is not orig
        assert f.__code__ == orig  # the fake copies
        assert call.active
    assert f.__code__ is orig
    assert not call.active and not call.enabled
    assert sys.gettrace() is None and sys.getprofile() is None


def test_fake_instrument_returns_a_new_code_object(fake):
    def one():
        return 1

    new = patcher.instrument(one.__code__, [])
    assert new is not one.__code__ and new == one.__code__
    assert fake.calls == [(one.__code__, [])]


def test_capture_probe_spec(fake):
    with splice.capture_call(f):
        pass
    code, probes = fake.calls[-1]
    assert code is f.__code__
    [p] = probes
    assert isinstance(p, CaptureProbe)
    assert callable(p.enter) and callable(p.exit) and callable(p.error)


def test_breakpoint_without_actions_patches_nothing(fake):
    orig = f.__code__
    with splice.breakpoint(f, line=F_RETURN):
        assert f.__code__ is orig
    assert fake.calls == []


def test_scheduling_inside_the_block_replans(fake, probe_at):
    orig = f.__code__
    with splice.breakpoint(f, line=F_RETURN) as bp:
        bp.eval("z")
        first = f.__code__
        assert first is not orig
        bp.exec("z += 1")
        assert f.__code__ is not first and f.__code__ is not orig
        [probe] = fake.calls[-1][1]
        assert isinstance(probe, LineProbe) and probe_at(probe) == [F_RETURN]
        assert any(k.endswith("append") for k in probe.hooks)  # the eval list's append
    assert f.__code__ is orig


def test_several_probes_compose_in_order_and_exit_in_any_order(fake, probe_at):
    orig = f.__code__
    with splice.NoPdb():
        a = splice.breakpoint(f, line=F_RETURN).__enter__()
        a.eval("z")
        b = splice.capture_call(f).__enter__()
        c = splice.breakpoint(f).__enter__()
        c.exec("x = x")
        probes = fake.calls[-1][1]
        assert [probe_at(p) for p in probes] == [[F_RETURN], "capture", "entry"]
        # leave in a different order than entered
        b.__exit__(None, None, None)
        assert f.__code__ is not orig
        assert [probe_at(p) for p in fake.calls[-1][1]] == [[F_RETURN], "entry"]
        a.__exit__(None, None, None)
        assert [probe_at(p) for p in fake.calls[-1][1]] == ["entry"]
        c.__exit__(None, None, None)
        assert f.__code__ is orig


def test_leaving_an_inner_block_puts_back_the_very_code_object_before_it():
    """Exact restore at every level, not only the outermost: after the inner
    block the outer block's own code object is back (`is`, not `==`)."""
    orig = f.__code__
    with splice.breakpoint(f, line=F_RETURN) as a:
        a.exec("z = z * 10")
        outer_code = f.__code__
        with splice.capture_call(f) as call:
            with splice.breakpoint(f) as b:
                b.exec("x = x + 1")
                assert f(1, 1) == 2 * 30
            assert f.__code__ is not outer_code  # the capture is still there
        assert f.__code__ is outer_code
        assert call.return_value == 60 and f(1, 1) == 40
        a.exec("z = z + 1")  # a changed plan is rebuilt, not reused
        assert f.__code__ is not outer_code and f(1, 1) == 2 * 21
    assert f.__code__ is orig


def test_the_instance_stops_when_the_last_block_exits(fake, probe_at):
    """Unlike NoPdb (where leaving the block that started the default
    instance stops it, and with it every other block's probes): the instance
    blocks started stops when the last of them exits, in any order."""
    orig = f.__code__
    a = splice.breakpoint(f, line=F_RETURN).__enter__()
    a.eval("z")
    c = splice.breakpoint(f).__enter__()
    c.exec("x = x")
    a.__exit__(None, None, None)
    assert f.__code__ is not orig and c.enabled and c.active and not a.active
    assert [probe_at(p) for p in fake.calls[-1][1]] == ["entry"]
    assert splice.get_nopdb().started
    c.__exit__(None, None, None)
    assert f.__code__ is orig
    assert not splice.get_nopdb().started


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_restore_on_exceptions(fake, exc):
    orig = f.__code__
    with pytest.raises(exc):
        with splice.capture_calls(f):
            with splice.breakpoint(f, line=F_RETURN) as bp:
                bp.exec("z = 1")
                raise exc()
    assert f.__code__ is orig
    assert not splice.get_nopdb().started


def test_planning_is_atomic(fake, monkeypatch):
    """A name scope covering two functions, one of which cannot be rewritten:
    nothing is patched, the error says why, and the capture whose block
    failed is not left registered (a later start would install it again)."""
    monkeypatch.setenv("SPLICE_EAGER_SCOPES", "1")  # every match built on entering
    ns = {}
    src = "def twin_a(x):\n    return x\n\ndef twin_b(x):\n    return x\n"
    import linecache

    linecache.cache["<atomic>"] = (len(src), None, src.splitlines(True), "<atomic>")
    exec(compile(src, "<atomic>", "exec"), ns)
    a, b = ns["twin_a"], ns["twin_b"]
    ca, cb = a.__code__, b.__code__
    fake.fail_for = {"twin_b"}
    cap = splice.capture_calls(file="<atomic>")
    with pytest.raises(RewriteError, match="fake failure"):
        with cap:
            pass  # pragma: no cover
    assert a.__code__ is ca and b.__code__ is cb
    assert not splice.get_nopdb().started
    assert all(x is not cap for x in splice.get_nopdb()._items.values()) and not cap.enabled
    with splice.capture_call(f):
        assert a.__code__ is ca and b.__code__ is cb


def test_failed_replan_keeps_the_previous_state(fake):
    orig = f.__code__
    with splice.breakpoint(f, line=F_RETURN) as bp:
        bp.eval("z")
        before = f.__code__
        fake.fail_for = {"f"}
        with pytest.raises(RewriteError):
            bp.exec("z += 1")
        assert f.__code__ is before
        assert [a.label for a in bp._actions] == ["eval('z')"]
        with pytest.raises(SnippetError):
            bp.exec("return 1")
        assert f.__code__ is before
        fake.fail_for = set()
    assert f.__code__ is orig


def test_closures_created_during_the_block_are_patched_and_restored(fake, monkeypatch):
    monkeypatch.setenv("SPLICE_EAGER_SCOPES", "1")  # the eager path (3.11; the CLI)
    early = outer(1)
    orig_outer, orig_inner = outer.__code__, early.__code__
    with splice.capture_calls("inner", module=sys.modules[__name__]):
        assert early.__code__ is not orig_inner
        assert outer.__code__ is not orig_outer
        patched_inner = [c for c in outer.__code__.co_consts if hasattr(c, "co_code")]
        assert patched_inner == [early.__code__]
        late = outer(2)
        assert late.__code__ is early.__code__
    assert outer.__code__ is orig_outer
    assert early.__code__ is orig_inner
    assert late.__code__ is orig_inner
    assert outer(3).__code__ is orig_inner


def test_replan_moves_closures_along(fake):
    with splice.breakpoint("inner", module=sys.modules[__name__], line="return w") as bp:
        bp.eval("w")
        c1 = outer(1)
        first = c1.__code__
        bp.exec("w = w")
        assert c1.__code__ is not first and c1.__code__ is outer(5).__code__
    assert c1.__code__ is outer(1).__code__ is [c for c in outer.__code__.co_consts if hasattr(c, "co_code")][0]


def test_disable_enable(fake):
    orig = f.__code__
    with splice.capture_call(f) as call:
        call.disable()
        assert f.__code__ is orig
        call.enable()
        assert f.__code__ is not orig
    assert f.__code__ is orig


def test_resolution_sees_through_patched_code(fake, monkeypatch):
    monkeypatch.setenv("SPLICE_EAGER_SCOPES", "1")  # the eager path (3.11; the CLI)
    orig = f.__code__
    with splice.capture_call(f):
        with splice.capture_calls("f", module=sys.modules[__name__]) as calls:
            assert calls.targets == [orig]
            assert len(fake.calls[-1][1]) == 2
    assert f.__code__ is orig


def test_nopdb_instances_pause_each_other(fake):
    orig = f.__code__
    n1, n2 = splice.NoPdb(), splice.NoPdb()
    c1 = n1.capture_call(f)
    c2 = n2.capture_call(g)
    assert f.__code__ is orig  # not started yet
    n1.start()
    assert f.__code__ is not orig and splice.get_nopdb() is n1
    orig_g = g.__code__
    n2.start()
    assert f.__code__ is orig and g.__code__ is not orig_g
    assert splice.get_nopdb() is n2
    assert c2.active and not c1.active
    n2.stop()
    assert c1.active and f.__code__ is not orig
    n1.stop()
    assert f.__code__ is orig
    with pytest.raises(RuntimeError, match="not been started"):
        n1.stop()
    with pytest.raises(RuntimeError, match="already been started"):
        with n1:
            n1.start()


def test_nopdb_context_and_explicit_start(fake, probe_at):
    orig = f.__code__
    dbg = splice.NoPdb()
    call = dbg.capture_call(f)
    bp = dbg.breakpoint(f, line=F_RETURN)
    bp.eval("z")
    assert f.__code__ is orig
    dbg.start()
    assert [probe_at(p) for p in fake.calls[-1][1]] == ["capture", [F_RETURN]]
    dbg.stop()
    assert f.__code__ is orig
    orig_g = g.__code__
    with splice.NoPdb() as n:
        c = splice.capture_call(g)  # created inside: patched at once
        assert g.__code__ is not orig_g and splice.get_nopdb() is n and c.active
    assert g.__code__ is orig_g and f.__code__ is orig


def test_item_enter_starts_and_stops_the_default_instance(fake):
    d = splice.get_nopdb()
    assert not d.started
    with splice.capture_call(f):
        assert splice.get_nopdb() is d and d.started
    assert not d.started
    with splice.NoPdb() as n:
        assert splice.get_nopdb() is n
        with splice.capture_call(f) as c:
            assert c._nopdb is n
        assert n.started  # the block did not start it, so it does not stop it


def test_threads_share_one_registry(fake):
    orig = f.__code__
    errors = []
    barrier = threading.Barrier(8)

    def worker():
        try:
            barrier.wait()
            for _ in range(8):  # all eight collide (barrier); more rounds only cost time
                with splice.capture_calls(f):
                    pass
                with splice.breakpoint(f, line=F_RETURN) as bp:
                    bp.eval("z")
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert f.__code__ is orig


def test_threads_probes_each_fire_and_nothing_is_called_foreign():
    """Real rewrites on 8 threads at once: each thread's probe fires on its
    own call, and no thread mistakes another's patched code for a foreign
    replacement (a thread that read ``f.__code__`` just before another
    restored it must still map it to the original)."""
    orig = f.__code__
    errors: list[BaseException] = []
    missed: list[str] = []
    barrier = threading.Barrier(8)

    def worker():
        try:
            barrier.wait()
            for _ in range(10):
                with splice.capture_calls(f) as calls:
                    f(1, 2)
                if not calls:
                    missed.append("capture")
                with splice.breakpoint(f, line=F_RETURN) as bp:
                    zs = bp.eval("z")
                    f(1, 2)
                if 3 not in zs:
                    missed.append("eval")
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: races show up in fewer rounds
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ts = [threading.Thread(target=worker) for _ in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert missed == []
    # (a HeapSearchWarning may come: the other threads are running f while
    # a probe is entered, which splice cannot count; not what this tests)
    assert [str(w.message) for w in caught if "replaced by someone else" in str(w.message)] == []
    assert f.__code__ is orig


def test_foreign_code_replacement_is_left_alone(fake):
    orig = f.__code__

    def other(x, y):
        return 0

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with splice.breakpoint(f, line=F_RETURN) as bp:
            bp.eval("z")
            f.__code__ = other.__code__
            bp.exec("z = z")
        foreign = [x for x in w if "replaced by someone else" in str(x.message)]
        assert foreign
        # reported at the user's line, not inside splice
        assert all(x.filename == __file__ for x in foreign), [x.filename for x in foreign]
    assert f.__code__ is other.__code__
    f.__code__ = orig


def test_bound_method_capture_has_an_instance_filter_probe(fake):
    m = Model()
    with splice.capture_call(m.forward):
        [cap, entry] = fake.calls[-1][1]
    assert isinstance(cap, CaptureProbe) and cap.enter is None
    assert isinstance(entry, LineProbe) and entry.lines is None
    assert any(v is m for v in entry.hooks.values())
    assert Model.forward.__code__.co_name == "forward"


def test_breakpoint_errors_at_creation_leave_nothing(fake):
    orig = f.__code__
    with pytest.raises(splice.LocateError):
        splice.breakpoint(f, line="no such text")
    with pytest.raises(splice.ScopeError):
        splice.breakpoint("no_function_named_this")
    with pytest.raises(SnippetError):
        splice.breakpoint(f, line=F_RETURN, cond="x y")
    with pytest.raises(TypeError, match="A line must be given"):
        splice.breakpoint(module=sys.modules[__name__])
    with pytest.raises(TypeError, match="A module, file or function"):
        splice.breakpoint(line=3)
    assert f.__code__ is orig


def test_arguments_of_the_wrong_type_are_refused_by_name(fake):
    # each names the argument and what it takes, and patches nothing (not
    # an AttributeError from deep inside, nor a silent wrong meaning)
    orig = f.__code__
    with pytest.raises(TypeError, match=r"^cond= takes Python source as a str or bytes, or a code object; not int"):
        splice.breakpoint(f, line=F_RETURN, cond=5)
    with splice.breakpoint(f, line=F_RETURN) as bp:
        with pytest.raises(TypeError, match=r"^exec\(\) takes Python source .*; not int"):
            bp.exec(5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^eval\('x'\): variables must be a dict of names to values, not int"):
            bp.eval("x", variables=5)  # type: ignore[arg-type]
        assert f(1, 2) == 6  # (the breakpoint has no action: f runs as written)
    # a str would be kept letter by letter: keep_locals="attn" kept a, t, n
    with pytest.raises(TypeError, match=r"such as \['attn'\], not a single str"):
        splice.capture_calls(f, keep_locals="attn")
    with pytest.raises(TypeError, match=r"must hold names of locals \(str\); got 3"):
        splice.capture_calls(f, keep_locals=["z", 3])
    with pytest.raises(TypeError, match=r"^transform must be callable, not int"):
        splice.capture_calls(f, transform=5)  # type: ignore[arg-type]
    with pytest.raises(splice.TargetError, match=r"5 is an int object"):
        splice.capture_call(5)  # type: ignore[arg-type]
    assert f.__code__ is orig


def _copied(a):
    q = a - 1
    return q


def test_a_function_made_of_the_patched_code_inside_the_block_is_restored():
    # types.FunctionType(f.__code__, ...) inside the block (or a function
    # unpickled by value) runs the instrumented code object; it stayed on it
    # after the exit, hooks in its constants, and later captures of f missed
    # its calls. The exit now counts the references to the instrumented code
    # and searches the heap when some are unexplained.
    base = _copied  # module-level: its code object has no parent node
    original = weakref.ref(base.__code__)
    holder = {}
    with splice.capture_calls(base) as calls:
        holder["twin"] = types.FunctionType(base.__code__, globals(), "twin")
        assert holder["twin"](3) == 2
    assert [r.return_value for r in calls] == [2]
    assert base.__code__ is original()
    assert holder["twin"].__code__ is original()
    with splice.capture_calls(base) as again:
        base(1)
        holder["twin"](2)
    assert [r.return_value for r in again] == [0, 1]


def test_a_made_entry_whose_callback_was_cut_short_is_dropped():
    """The record of a code object splice made is dropped by its weakref's
    callback when the code object dies. A KeyboardInterrupt from a signal
    handler landing as that callback starts skips it (seen under the random
    signal test): the dead entry must not keep the patcher counting code
    objects as made (every name-scope search would map through original())."""
    dead = compile("pass", "<made>", "exec")
    ref = weakref.ref(dead)  # (no callback: the one that was cut short)
    del dead
    assert ref() is None
    made = patcher.PATCHER._made
    assert patcher.PATCHER.is_idle()
    # (code objects earlier tests made may still be alive, run by a frame
    # a traceback keeps: those count)
    live = [k for k, entry in made.items() if entry[0]() is not None]
    made[1] = (ref, ref, frozenset())
    assert patcher.PATCHER.any_made() is bool(live)
    assert 1 not in made
