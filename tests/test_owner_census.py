"""Finding every function a probe must patch, without a heap search when the
reference count proves there is nothing to find (python/splice/owners.py).

Each test checks both halves: the search is skipped where it is not needed
(``owners.search`` replaced by a spy that counts), and every owner is still
patched where one exists (the probe fires through it).
"""

from __future__ import annotations

import gc
import linecache
import subprocess
import sys
import textwrap
import traceback
import types
import warnings
import weakref

import pytest

import splice
from splice import _native, owners

SOURCE = textwrap.dedent(
    """
    def scale(x, k):
        y = x * k
        return y

    class Block:
        def forward(self, x):
            h = x + 1
            return h * 2

    def outer(k):
        def inner(x):
            z = x + k
            return z
        return inner

    def train(rounds, hits):
        import splice
        def step(x):
            y = x * 2
            return y
        for i in range(rounds):
            with splice.capture_calls(step) as calls:
                step(i)
            hits.append([c.return_value for c in calls])
        return step

    def make_caller(block):
        def call_it(x):
            return block.forward(x)
        return call_it
    """
)


@pytest.fixture
def mod():
    """A fresh module whose functions nothing else references (its module
    code object is gone once exec returns), registered in sys.modules."""
    m = types.ModuleType("census_mod")
    m.__file__ = "<census_mod>"
    linecache.cache["<census_mod>"] = (len(SOURCE), None, SOURCE.splitlines(True), "<census_mod>")
    exec(compile(SOURCE, "<census_mod>", "exec"), m.__dict__)
    sys.modules["census_mod"] = m
    yield m
    del sys.modules["census_mod"]
    linecache.cache.pop("<census_mod>", None)


@pytest.fixture
def searches(monkeypatch):
    """Counts heap searches (the real search still runs)."""
    calls: list[str] = []
    real = owners.search

    def spy(code):
        calls.append(code.co_qualname)
        return real(code)

    monkeypatch.setattr(owners, "search", spy)
    return calls


def test_census_proves_a_sole_owner_and_sees_any_other_holder(mod):
    gc.collect()
    assert owners.unexplained_refs(mod.scale) == 0
    held = mod.scale.__code__  # a user's variable
    assert owners.unexplained_refs(mod.scale) == 1
    del held
    twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")
    assert owners.unexplained_refs(mod.scale) == 1
    assert owners.owners(mod.scale) == [mod.scale, twin] or set(owners.owners(mod.scale)) == {mod.scale, twin}


def test_repeated_probes_on_one_function_never_search_the_heap(mod, searches):
    gc.collect()
    kept = []  # breakpoints, captures and their records stay alive
    block = mod.Block()
    for i in range(3):
        with splice.breakpoint(mod.scale, line="return y") as bp:
            values = bp.eval("y")
            assert mod.scale(2, i) == 2 * i
        assert values == [2 * i]
        kept.append(bp)
        with splice.capture_calls(mod.Block.forward) as calls:
            assert block.forward(i) == 2 * (i + 1)
        assert [c.return_value for c in calls] == [2 * (i + 1)]
        kept.append(calls)
        # one probe while another is active on the same function
        with splice.capture_calls(mod.scale) as outer_calls:
            with splice.breakpoint(mod.scale, line="return y") as bp2:
                bp2.exec("y = y + 1")
                assert mod.scale(1, 1) == 2
            assert mod.scale(1, 1) == 1
        assert [c.return_value for c in outer_calls] == [2, 1]
        kept.append((bp2, outer_calls))
    assert searches == []
    assert mod.scale(3, 3) == 9


def test_holders_of_dropped_probes_are_forgotten_and_kept_ones_counted(mod, searches):
    """Every capture's Scope registers itself as a holder of the code. The
    registry of one code object stays as small as the live holders (it once
    kept every dead one until a global pruning every 1,024 registrations,
    and each census read them all), and holders that stay alive are still
    counted, so the census needs no heap search either way."""
    gc.collect()
    key = id(mod.scale.__code__)  # (a local holding the code would be an unexplained reference)
    for _ in range(300):  # captures dropped after their block
        with splice.capture_calls(mod.scale):
            assert mod.scale(2, 3) == 6
    assert len(owners._HOLDERS.get(key, {})) <= 8
    kept = []
    for _ in range(20):  # captures the user keeps: their Scopes stay registered
        with splice.capture_calls(mod.scale) as calls:
            assert mod.scale(2, 3) == 6
        kept.append(calls)
    assert len(owners._HOLDERS[key]) >= 20
    assert owners.registered_refs(mod.scale.__code__) >= 20
    assert owners.unexplained_refs(mod.scale) == 0
    assert searches == []
    assert [len(calls) for calls in kept] == [1] * 20


def test_another_owner_made_from_the_code_is_found_and_probed(mod, searches):
    gc.collect()
    twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")
    with splice.breakpoint(mod.scale, line="return y") as bp:
        bp.exec("y = -y")
        assert mod.scale(2, 3) == -6
        assert twin(2, 3) == -6
    assert searches == ["scale"]
    assert twin(2, 3) == 6 and twin.__code__ is mod.scale.__code__


def _heap_search_warnings(record: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in record if issubclass(w.category, splice.HeapSearchWarning)]


def test_a_held_code_object_warns_once_naming_the_holder(mod, searches):
    """A variable holding ``f.__code__`` makes every enter on ``f`` search
    the heap (tens of milliseconds with torch imported). The second such
    search warns, once per code object, at the user's ``with`` line, naming
    what holds the code object; probes still work."""
    gc.collect()
    mod.held = mod.scale.__code__  # a global of the function's own module
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for i in range(4):
            with splice.breakpoint(mod.scale, line="return y") as bp:  # the warning's line
                bp.exec("y = y + 1")
                assert mod.scale(2, i) == 2 * i + 1
    assert searches == ["scale"] * 4
    found = _heap_search_warnings(record)
    assert len(found) == 1, [str(w.message) for w in record]
    message = str(found[0].message)
    assert "every probe entered on scale (<census_mod>:2)" in message
    assert "1 reference to its code object comes from" in message
    assert "the globals of module census_mod" in message
    assert "weakref.ref()" in message and "HeapSearchWarning" in message
    assert found[0].filename == __file__
    with_line = next(n for n, text in enumerate(open(__file__), 1) if "# the warning's line" in text and "with" in text)
    assert found[0].lineno == with_line
    del mod.held


def test_a_reference_no_collector_sees_is_still_reported(mod, searches):
    """A local variable of a running function (no frame object) is not seen
    by ``gc.get_referrers``: the warning still counts it."""
    gc.collect()
    held = mod.scale.__code__  # noqa: F841 - the reference under test
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(2):
            with splice.capture_calls(mod.scale) as calls:
                mod.scale(1, 2)
            assert [c.return_value for c in calls] == [2]
    found = _heap_search_warnings(record)
    assert len(found) == 1
    assert "(running it, or holding it in a local variable)" in str(found[0].message) or (
        "not shown by the collector" in str(found[0].message)
    )


def test_kept_frame_views_are_counted_and_need_no_search(mod, searches):
    """A FrameView kept from a breakpoint callback holds the original code
    object (``.code``). Views register as holders, so keeping them (a list
    of every hit, over many ``with`` blocks) costs no heap search on later
    enters and no warning; the registry is pruned in amortized O(1)."""
    gc.collect()
    views: list[splice.FrameView] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for i in range(40):
            with splice.breakpoint(mod.scale, line="return y") as bp:
                bp.callback(views.append)
                mod.scale(1, i)
                mod.scale(2, i)
    assert [v.locals["y"] for v in views[:4]] == [0, 0, 1, 2]
    assert all(v.code is mod.scale.__code__ for v in views)
    assert searches == []
    assert _heap_search_warnings(record) == []
    assert owners.unexplained_refs(mod.scale) == 0
    views.clear()
    gc.collect()
    for _ in range(3):  # the dead views' entries go at the next pruning
        with splice.capture_calls(mod.scale):
            mod.scale(1, 1)
    assert len(owners._HOLDERS.get(id(mod.scale.__code__), {})) < 80


def test_the_warnings_heap_scan_leaves_tuples_out(mod):
    """The warning names holders from ``gc.get_referrers``; a tuple in that
    list may be one another thread is still building with
    ``tuple(generator)``, which fails if anyone else holds it, so the native
    scan drops exact tuples before any Python code runs."""
    code = mod.scale.__code__
    # (the dict holds a list too: a dict of untracked objects only, a code
    # object and strings, is itself untracked and no scan shows it)
    in_list, in_dict, in_tuple = [code], {"code": code, "list": []}, (code, 1)
    refs = _native.referrers_but_tuples(code)
    assert any(r is in_list for r in refs) and any(r is in_dict for r in refs)
    assert not any(type(r) is tuple for r in refs)
    assert in_tuple[0] is code


def test_searches_that_find_the_other_owners_do_not_warn(mod, searches):
    """A second function made from the code object explains the reference
    it holds once the search has found it: a search that finds every
    holder is not the user's mistake, and does not warn."""
    gc.collect()
    twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for i in range(3):
            with splice.breakpoint(mod.scale, line="return y") as bp:
                bp.exec("y = -y")
                assert twin(2, i) == -2 * i
    assert searches == ["scale"] * 3
    assert _heap_search_warnings(record) == []


def test_probes_the_census_proves_do_not_warn(mod, searches):
    gc.collect()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            with splice.capture_calls(mod.scale):
                mod.scale(1, 1)
    assert searches == []
    assert _heap_search_warnings(record) == []


def test_a_frame_running_the_function_forces_a_search_that_finds_every_owner(mod, searches):
    gc.collect()
    twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")
    seen = []

    def set_from_inside(frame_locals):
        # the code object is held by a running frame of it (and, here, by a
        # twin): the count is not explained, so the heap is searched
        if seen:
            return  # twin(1, 1) below runs this callback too
        seen.append(None)
        with splice.breakpoint(mod.scale, line="return y") as bp:
            bp.exec("y = 100")
            seen.append(twin(1, 1))

    with splice.breakpoint(mod.scale, line="y = x * k") as outer_bp:
        outer_bp.callback(lambda view: set_from_inside(view.locals))
        mod.scale(1, 2)
    assert seen == [None, 100]
    assert searches  # the running frame's reference was not explained
    assert mod.scale.__code__ is twin.__code__


def test_closure_created_before_the_with_is_probed(mod):
    first = mod.outer(1)
    second = mod.outer(10)  # made before the probe, never named in it
    with splice.capture_calls(first) as calls:
        assert second(1) == 11
        assert first(1) == 2
        third = mod.outer(100)  # made while the probe is active
        assert third(1) == 101
    assert sorted(c.return_value for c in calls) == [2, 11, 101]
    assert second.__code__ is first.__code__ is third.__code__
    assert first.__code__ is mod.outer(0).__code__


def test_owner_in_a_frozen_heap_is_found(mod, searches):
    gc.collect()
    ns = types.ModuleType("census_twin")
    ns.twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")
    sys.modules["census_twin"] = ns
    gc.freeze()
    try:
        assert ns.twin not in gc.get_referrers(mod.scale.__code__)  # the search cannot see it
        with splice.breakpoint(mod.scale, line="return y") as bp:
            bp.exec("y = -y")
            assert ns.twin(2, 3) == -6
            assert mod.scale(2, 3) == -6
        assert ns.twin(2, 3) == 6
        with splice.capture_calls("scale", module=mod) as calls:  # a name scope
            ns.twin(1, 1)
        assert [c.return_value for c in calls] == [1]
    finally:
        gc.unfreeze()
        del sys.modules["census_twin"]


def test_a_heap_nobody_froze_is_not_searched_as_frozen(mod, monkeypatch):
    """CPython 3.12 starts with objects in the permanent generation (a few
    hundred tuples), so gc.get_freeze_count() is not 0 in a heap nobody
    froze; splice must not take the slow path for frozen heaps then (it
    walked every module's functions at every heap search: 8-12 ms per
    breakpoint enter in the benchmarks on 3.12)."""
    assert not owners.heap_frozen()

    def walk() -> list:
        raise AssertionError("module_functions ran for a heap nobody froze")

    monkeypatch.setattr(owners, "module_functions", walk)
    held = mod.scale.__code__  # a reference the census cannot explain: a search
    assert owners.find(mod.scale) == [mod.scale]
    del held
    gc.freeze()
    try:
        assert owners.heap_frozen()
    finally:
        gc.unfreeze()
    assert not owners.heap_frozen()


SCRIPT = textwrap.dedent(
    """
    import types
    import splice
    from splice import owners

    searched = []
    real = owners.search
    owners.search = lambda code: searched.append(code.co_name) or real(code)

    def step(x):
        y = x + 1
        return y

    class Model:
        def forward(self, x):
            return x * 2

    # the module code running this script holds both code objects
    with splice.capture_calls(step) as calls:
        step(1)
    with splice.capture_calls(Model.forward) as calls2:
        Model().forward(3)
    twin = types.FunctionType(step.__code__, globals(), "twin")  # a real second owner
    with splice.breakpoint(step, line="return y") as bp:
        bp.exec("y = -y")
        twin_value = twin(1)
    print([c.return_value for c in calls], [c.return_value for c in calls2], twin_value, searched)
    """
)


def _run_script(tmp_path, text: str) -> str:
    """What ``text`` prints, run as a script (``__main__``: its module code
    runs as long as the script does)."""
    import subprocess

    path = tmp_path / "script.py"
    path.write_text(text)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout


def test_functions_of_a_running_script_need_no_search(tmp_path):
    out = _run_script(tmp_path, SCRIPT)
    assert out.strip() == "[2] [6] -2 ['step']"


NESTED_SCRIPT = textwrap.dedent(
    """
    import splice
    from splice import owners

    searched = []
    real = owners.search
    owners.search = lambda code: searched.append(code.co_name) or real(code)

    def main():
        def step(x):
            y = x + 1
            return y
        values = []
        for i in range(3):
            with splice.capture_calls(step) as calls:
                step(i)
            values.append([c.return_value for c in calls])
        print(values, searched)

    main()
    """
)


def test_a_closure_of_a_script_function_needs_no_search(tmp_path):
    """A script's module code runs as long as the script does, and its
    constants hold its functions' code objects and, through theirs, their
    closures'. The census counted the parent's constant once as the
    parent's and once as running module code, which left -1 and searched
    the heap on every enter on a closure in ``main()`` (tens of ms with
    torch imported). The parent's constants are now counted first."""
    out = _run_script(tmp_path, NESTED_SCRIPT)
    assert out.strip() == "[[1], [2], [3]] []"


TWIN_CLOSURE_SCRIPT = textwrap.dedent(
    """
    import splice
    from splice import owners

    searched = []
    real = owners.search
    owners.search = lambda code: searched.append(code.co_name) or real(code)

    def make(k):
        def inner(x):
            return x + k
        return inner

    first, second = make(1), make(2)  # two owners of inner's code
    with splice.capture_calls(first) as calls:
        first(10)
        second(10)
    print(sorted(c.return_value for c in calls), searched)
    """
)


def test_a_second_closure_of_a_script_function_is_searched_for(tmp_path):
    """The other half: a second closure of the same ``def`` is a reference
    the census must leave unexplained, also in a running script, whose
    module-code walk counts only module and class-body constants (not the
    parent function's, which the caller counts)."""
    out = _run_script(tmp_path, TWIN_CLOSURE_SCRIPT)
    assert out.strip() == "[11, 12] ['inner']"


def test_closure_one_level_deep_needs_no_heap_walk(mod, searches, monkeypatch):
    from splice import resolve

    def no_index():
        raise AssertionError("the heap index was built")

    gc.collect()
    only = mod.outer(5)
    monkeypatch.setattr(resolve, "_Index", no_index)
    with splice.capture_calls(only) as calls:
        assert only(1) == 6
        later = mod.outer(7)  # made inside the block: the parent's constant is patched
        assert later(1) == 8
    assert [c.return_value for c in calls] == [6, 8]
    assert searches == []
    assert only.__code__ is later.__code__ is mod.outer(0).__code__
    del later  # a second owner would need the search
    with splice.breakpoint(only, line="return z") as bp:
        bp.exec("z = -z")
        assert only(1) == -6
    assert only(1) == 6
    assert searches == []


def test_a_nested_function_probed_inside_its_running_parent_needs_no_search(mod, searches):
    """The parent's running frame holds its code object; the census counts
    the calling thread's frames, so probing a closure from inside the
    function that made it (a training loop probing its step) searches
    nothing and warns nothing."""
    gc.collect()
    hits: list[list[int]] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        step = mod.train(4, hits)
    assert hits == [[0], [2], [4], [6]]
    assert searches == []
    assert _heap_search_warnings(record) == []
    assert step.__code__ is next(k for k in mod.train.__code__.co_consts if type(k) is types.CodeType)  # restored


def test_a_running_parents_twin_is_still_found(mod, searches):
    """Counting the running frame explains that frame's reference only: a
    second function made from the parent's code object is still unexplained,
    searched for, and found (and restored with the rest)."""
    gc.collect()
    original = weakref.ref(mod.train.__code__)  # (a strong one would be another reference)
    twin = types.FunctionType(mod.train.__code__, mod.__dict__, "twin_train")
    hits: list[list[int]] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        mod.train(2, hits)
    assert hits == [[0], [2]]
    assert searches.count("train") == 2  # every enter: the twin is unexplained
    assert _heap_search_warnings(record) == []  # and found: nothing to warn about
    assert twin.__code__ is original() and mod.train.__code__ is original()


def test_callers_kept_in_capture_records_need_no_search(mod, searches):
    """A capture's records keep the code objects of their callers (the
    recorded stack, until it is read). Probing one of those callers later,
    while the records live, needs no heap search: the census counts what
    recorded stacks hold."""
    gc.collect()
    block = mod.Block()

    def caller(i):  # a function of this test: its code is in the records
        return block.forward(i)

    kept = []
    for i in range(3):
        with splice.capture_calls(mod.Block.forward) as calls:
            caller(i)
        kept.append(calls)
    assert _native.recorded_stack_refs(caller.__code__) >= 1
    searches.clear()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            with splice.capture_calls(caller) as outer_calls:
                caller(5)
            assert [c.return_value for c in outer_calls] == [12]
    assert searches == []
    assert _heap_search_warnings(record) == []
    assert [c.stack[-2].name for c in kept[0]] == ["caller"]  # reading the stack drops the codes
    assert [len(c) for c in kept] == [1, 1, 1]


def test_recorded_stack_counts_are_used_only_when_no_node_changed(mod, searches, monkeypatch):
    """A stack node made or dropped between the census's reference count and
    its read of the recorded count (another thread's capture) would make
    the count unsound; the generation check then leaves the references
    unexplained, and the heap is searched."""
    gc.collect()
    block = mod.Block()

    def caller(i):
        return block.forward(i)

    base = owners.unexplained_refs(caller)  # (1: this test's code holds caller's as a constant)
    with splice.capture_calls(mod.Block.forward) as calls:
        caller(1)
    assert _native.recorded_stack_refs(caller.__code__) == 1
    assert owners.unexplained_refs(caller) == base
    ticks = iter(range(1000))
    monkeypatch.setattr(_native, "recorded_stack_generation", lambda: next(ticks))
    assert owners.unexplained_refs(caller) == base + 1  # the record's reference, not counted
    with splice.capture_calls(caller):
        caller(2)
    # caller, and this test function (its parent, in the records' stacks too)
    this_test = "test_recorded_stack_counts_are_used_only_when_no_node_changed"
    assert [q.rsplit(".", 1)[-1] for q in searches] == ["caller", this_test]
    assert len(calls) == 1


def test_heap_scans_never_break_a_tuple_another_thread_is_building(mod):
    # tuple(generator) resizes the tuple in place and raises SystemError if
    # anything else holds a reference to it meanwhile; a Python-level list
    # of gc.get_objects() did, whenever a thread switch came while it
    # existed (107 errors in 300 scans on 3.12). The scans are native now.
    import threading

    errors: list[BaseException] = []
    stop = threading.Event()

    def build():
        while not stop.is_set():
            try:
                tuple(i for i in range(50))
            except BaseException as e:  # pragma: no cover - the failure
                errors.append(e)

    twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")  # forces searches
    builders = [threading.Thread(target=build) for _ in range(2)]
    for t in builders:
        t.start()
    try:
        for _ in range(15):
            with splice.capture_calls("scale", module=mod):  # the name-scope index
                pass
            with splice.capture_calls(mod.scale):  # the owner search
                twin(1, 1)
    finally:
        stop.set()
        for t in builders:
            t.join()
    assert errors == []


@pytest.fixture
def closure_searches(monkeypatch):
    """Counts the patcher's closure searches (phase 3a; the real search still
    runs), and checks every census that skipped one: a heap search must then
    find no function running the code that the node does not already know."""
    from splice import patcher

    calls: list[list[str]] = []
    proved: list[str] = []
    real_search, real_census = owners.search_many, patcher._no_other_closures

    def spy(codes):
        calls.append(sorted(c.co_qualname for c in codes))
        return real_search(codes)

    def checked(c, n, versions):
        ok = real_census(c, n, versions)
        if ok:
            known = {id(f) for f in n.live_owners()}
            found = real_search([n.original, n.current])
            missed = [f for f in found if id(f) not in known]
            assert not missed, f"census skipped a search that finds {missed}"
            proved.append(n.original.co_qualname)
        return ok

    monkeypatch.setattr(owners, "search_many", spy)
    monkeypatch.setattr(patcher, "_no_other_closures", checked)
    return calls, proved


def test_a_sole_closure_needs_no_closure_search(mod, closure_searches):
    calls, proved = closure_searches
    gc.collect()
    only = mod.outer(5)
    for _ in range(2):
        with splice.capture_calls(only) as got:
            assert only(1) == 6
        assert [c.return_value for c in got] == [6]
    with splice.breakpoint(only, line="return z") as bp:
        bp.exec("z = -z")
        assert only(1) == -6
    assert only(1) == 6 and only.__code__ is mod.outer(0).__code__
    assert calls == []
    assert proved  # the census did the proving, each time checked by a search


def test_a_closure_in_capture_records_needs_no_closure_search(mod, closure_searches):
    """A closure that called a captured function is in the records' stacks;
    probing it afterwards (records kept) needs no closure search either:
    phase 3a's census counts the recorded stacks too (each proof checked
    by a real search)."""
    calls, proved = closure_searches
    gc.collect()
    call_it = mod.make_caller(mod.Block())
    with splice.capture_calls(mod.Block.forward) as records:
        call_it(1)
    assert _native.recorded_stack_refs(call_it.__code__) == 1
    calls.clear()
    for _ in range(2):
        with splice.capture_calls(call_it) as got:
            assert call_it(2) == 6
        assert [c.return_value for c in got] == [6]
    assert calls == []
    assert proved
    assert [c.return_value for c in records] == [4]


def test_closures_nobody_named_still_force_the_search(mod, closure_searches):
    calls, proved = closure_searches
    first = mod.outer(1)
    other = mod.outer(10)  # alive before the probe, never named in it
    with splice.capture_calls(first) as got:
        assert other(1) == 11
        made = mod.outer(100)  # made inside: must be put back on exit
        assert made(1) == 101
    assert sorted(c.return_value for c in got) == [11, 101]
    assert first.__code__ is other.__code__ is made.__code__ is mod.outer(0).__code__
    assert len(calls) == 2  # enter (other) and exit (made)
    # a suspended frame of the closure holds its code: the census cannot
    # prove anything, and the search runs
    del other, made
    gc.collect()
    src = textwrap.dedent(
        """
        def outer2():
            def g():
                yield 1
                yield 2
            return g
        """
    )
    ns: dict = {}
    exec(compile(src, "<census_gen>", "exec"), ns)
    g = ns["outer2"]()
    running = g()
    assert next(running) == 1  # a suspended frame of g's code
    del calls[:]
    with splice.capture_calls(g) as got:
        assert list(g()) == [1, 2]
    assert len(got) == 1 and calls, "the suspended frame must force a search"
    assert next(running) == 2


def test_stack_module_codes_finds_module_code_still_running():
    """The census asks which module code objects of a file are still running
    (they hold their functions' code objects): found below the top frame, once
    each, only for that file."""
    from splice import _native

    text = "import sys\nfrom splice import _native\nfound = _native.stack_module_codes([sys._getframe()], __file__)\n"
    ns: dict = {"__file__": "<stack-module-test>"}
    module_code = compile(text, "<stack-module-test>", "exec")
    exec(module_code, ns)
    assert ns["found"] == [module_code]
    assert len(ns["found"]) == 1 and ns["found"][0] is module_code
    assert _native.stack_module_codes([sys._getframe()], "<stack-module-test>") == []  # it finished
    ns = {"__file__": "<elsewhere>"}
    exec(module_code, ns)
    assert ns["found"] == []


# Errors a user makes and keeps: the REPL keeps the last one (sys.last_exc),
# IPython its traceback, pytest.raises its result. splice's own frames in
# that traceback held the code object (resolve, locate and compile keep it in
# locals), so every later probe on the function searched the heap and warned,
# naming splice's frames.
KEPT_ERRORS = {
    "exec syntax error": (lambda m: _bp(m.scale, "return y", exec_="y = = 1"), splice.SnippetSyntaxError),
    "eval syntax error": (lambda m: _bp(m.scale, "return y", eval_="x +"), splice.SnippetSyntaxError),
    "cond syntax error": (lambda m: _bp(m.scale, "return y", cond="x ==", eval_="x"), splice.SnippetSyntaxError),
    "return in exec": (lambda m: _bp(m.scale, "return y", exec_="return 3"), splice.SnippetError),
    "no such line text": (lambda m: _bp(m.scale, "nothing here", eval_="x"), splice.LocateError),
    "line out of range": (lambda m: _bp(m.scale, 1000, eval_="x"), splice.LocateError),
    "no such name": (lambda m: splice.capture_calls("no_such_function_in_census_mod"), splice.ScopeError),
}


def _bp(fn, line, exec_=None, eval_=None, cond=None):
    with splice.breakpoint(fn, line=line, cond=cond) as bp:
        if exec_ is not None:
            bp.exec(exec_)
        if eval_ is not None:
            bp.eval(eval_)


@pytest.mark.parametrize("case", list(KEPT_ERRORS))
def test_a_kept_error_leaves_later_probes_without_a_search(mod, searches, case):
    make, kind = KEPT_ERRORS[case]
    gc.collect()
    with pytest.raises(kind) as info:
        make(mod)
    kept = info.value  # the whole traceback stays alive
    assert kept.__traceback__ is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", splice.HeapSearchWarning)
        for i in range(3):
            with splice.breakpoint(mod.scale, line="return y") as bp:
                values = bp.eval("y")
                assert mod.scale(2, i) == 2 * i
            assert values == [2 * i]
            with splice.capture_call(mod.scale) as call:
                mod.scale(i, 3)
            assert call.return_value == 3 * i
    assert searches == []
    # the traceback still names the frames and lines it went through
    assert "splice" in "".join(traceback.format_exception(kept))


def test_an_audit_hook_refusing_tb_frame_leaves_the_error_as_it_was(tmp_path):
    # release_frames reads tb.tb_frame, an audited attribute; a hook that
    # refuses it must not replace the error splice raises (a child process:
    # audit hooks cannot be removed)
    script = tmp_path / "audit.py"
    script.write_text(textwrap.dedent('''
        import sys, splice
        def f(x):
            return x
        def hook(event, args):
            if event == "object.__getattr__" and args[1] == "tb_frame":
                raise RuntimeError("refused by the audit hook")
        sys.addaudithook(hook)
        try:
            splice.breakpoint(f, line="no such line")
        except splice.LocateError as e:
            print("LocateError", "no such line" in str(e))
    '''))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "LocateError True", done.stdout + done.stderr


@pytest.fixture
def exit_searches(monkeypatch):
    """Counts the patcher's heap searches for functions running a code
    object it installed (the real search still runs)."""
    calls: list[list[str]] = []
    real = owners.search_many

    def spy(codes):
        calls.append([c.co_qualname for c in codes])
        return real(codes)

    monkeypatch.setattr(owners, "search_many", spy)
    return calls


def test_kept_views_frames_cost_no_search_at_exit(mod, exit_searches):
    """A kept FrameView also holds its frame, which runs the instrumented
    code object: each such frame is one reference the exit's census counts,
    so leaving the block does not search the heap (it took 13-18 ms with
    torch imported), and the function gets its own code back."""
    gc.collect()
    original = weakref.ref(mod.scale.__code__)
    views: list[splice.FrameView] = []
    for i in range(5):
        with splice.breakpoint(mod.scale, line="return y") as bp:
            bp.callback(views.append)
            mod.scale(1, i)
            mod.scale(2, i)
        assert mod.scale.__code__ is original()
    assert len(views) == 10
    assert all(v.frame.f_code is not original() for v in views)  # the instrumented code
    assert exit_searches == []


def test_kept_views_do_not_hide_a_function_made_of_the_patched_code(mod, exit_searches):
    """The frames of kept views explain only their own references: a
    function made inside the block from the patched code object is still
    an unexplained one, found by the search, and restored at exit."""
    gc.collect()
    original = weakref.ref(mod.scale.__code__)
    views: list[splice.FrameView] = []
    with splice.breakpoint(mod.scale, line="return y") as bp:
        bp.callback(views.append)
        mod.scale(1, 1)
        twin = types.FunctionType(mod.scale.__code__, mod.__dict__, "twin")
        twin(2, 2)
    assert len(views) == 2 and views[0].frame is not views[1].frame
    assert exit_searches != []
    assert mod.scale.__code__ is original()
    assert twin.__code__ is original()


def test_kept_views_of_a_generator_still_restore_it(mod, exit_searches):
    """A generator's frame is referenced by the generator too: such views
    are not counted, the exit searches the heap as before, and both the
    function and a twin made in the block are restored."""
    src = "def gen(n):\n    for i in range(n):\n        yield i * 2\n"
    ns: dict = {}
    linecache.cache["<census_gen>"] = (len(src), None, src.splitlines(True), "<census_gen>")
    try:
        exec(compile(src, "<census_gen>", "exec"), ns)
        gen = ns["gen"]
        original = weakref.ref(gen.__code__)
        views: list[splice.FrameView] = []
        with splice.breakpoint(gen, line=3) as bp:
            bp.callback(views.append)
            assert list(gen(2)) == [0, 2]
            twin = types.FunctionType(gen.__code__, ns, "twin")
        assert len(views) == 2
        assert exit_searches != []
        assert gen.__code__ is original() and twin.__code__ is original()
    finally:
        linecache.cache.pop("<census_gen>", None)


def test_a_capture_reaching_max_calls_needs_no_search(mod, exit_searches):
    """A capture that reaches ``max_calls`` removes its probe inside the
    call, while the frame running the instrumented code is on this thread's
    stack: that frame's reference is counted, so neither that removal nor
    the block's exit searches the heap (70-85 ms per block with torch
    imported, every training step that used ``max_calls``)."""
    gc.collect()
    original = weakref.ref(mod.scale.__code__)
    for _ in range(3):
        with splice.capture_calls(mod.scale, max_calls=1) as calls:
            assert mod.scale(1, 2) == 2
            assert mod.scale(2, 2) == 4
        assert [c.return_value for c in calls] == [2]
        assert mod.scale.__code__ is original()
    assert exit_searches == []


@pytest.mark.skipif(not hasattr(types, "LazyImportType"), reason="lazy imports are 3.15+ (PEP 810)")
def test_a_module_with_an_unresolved_lazy_import_needs_no_search(tmp_path, monkeypatch, searches):
    """A lazy import not yet resolved keeps the code of the module that made
    it, whose constants hold the module's functions' code objects: one
    reference the collector does not show. Every enter searched the heap,
    and the second warned the user about a reference they do not hold.
    Counted now; a twin made from the code is still found."""
    (tmp_path / "lazymod.py").write_text(
        "lazy import json\n\ndef other(s):\n    a = s + 1\n    return a\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazymod

    try:
        gc.collect()
        assert sys.getrefcount(lazymod.other.__code__) == 3  # (the lazy import's module code)
        assert owners.unexplained_refs(lazymod.other) == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error", splice.HeapSearchWarning)
            for i in range(3):
                with splice.breakpoint(lazymod.other, line="return a") as bp:
                    bp.exec("a = -1")
                    assert lazymod.other(i) == -1
        assert searches == []
        twin = types.FunctionType(lazymod.other.__code__, lazymod.__dict__, "twin")
        assert owners.unexplained_refs(lazymod.other) == 1
        with splice.breakpoint(lazymod.other, line="return a") as bp:
            bp.exec("a = -1")
            assert twin(5) == -1
        assert searches == ["other"]
    finally:
        sys.modules.pop("lazymod", None)
