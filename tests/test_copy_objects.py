"""Copying splice's objects: a copy that shared the original's probes (the
default copy did) removed them when the copy's block exited, while the
original still said it was active and lost every later hit."""

from __future__ import annotations

import copy
import weakref

import pytest

import splice
from splice import CallInfo


def f(n):
    y = n * 2
    return y


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_a_breakpoint_and_a_nopdb_cannot_be_copied(copier):
    orig = weakref.ref(f.__code__)
    with splice.breakpoint(f, line="return y") as bp:
        got = bp.eval("y")
        with pytest.raises(TypeError, match="cannot be copied"):
            copier(bp)
        with pytest.raises(TypeError, match="cannot be copied"):
            copier(splice.get_nopdb())
        f(2)
    assert got == [4]
    assert f.__code__ is orig()


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_a_copy_of_a_capture_is_its_records_and_leaves_the_capture_running(copier):
    with splice.capture_calls(f) as calls:
        f(1)
        snapshot = copier(calls)
        f(2)
    f(3)
    assert type(snapshot) is list and [c.args["n"] for c in snapshot] == [1]
    assert [c.args["n"] for c in calls] == [1, 2]
    with splice.capture_call(f) as call:
        f(5)
        one = copier(call)
        f(6)
    assert type(one) is CallInfo and one.args["n"] == 5 and one.return_value == 10
    assert call.args["n"] == 6


def test_a_capture_pickles_as_its_records_and_a_breakpoint_or_nopdb_says_why_it_cannot():
    """Pickling a capture failed with "cannot pickle code objects" (from its
    probes), and a capture returned from a multiprocessing worker with a
    TypeError about a module: it pickles as it copies now. A breakpoint and
    a NoPdb say why they cannot be pickled."""
    import pickle

    orig = weakref.ref(f.__code__)
    with splice.capture_calls(f) as calls, splice.capture_call(f) as last:
        f(1)
        f(2)
        back = pickle.loads(pickle.dumps(calls))
        assert type(back) is list and all(type(c) is CallInfo for c in back)
        assert [(c.args, c.return_value) for c in back] == [({"n": 1}, 2), ({"n": 2}, 4)]
        one = pickle.loads(pickle.dumps(last))
        assert type(one) is CallInfo and one.return_value == 4 and one.args == {"n": 2}
        f(3)
    assert [c.return_value for c in calls] == [2, 4, 6]  # still recorded after pickling
    with splice.breakpoint(f, line="return y") as bp:
        with pytest.raises(TypeError, match="cannot be pickled: it is bound to this process's probes"):
            pickle.dumps(bp)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(splice.get_nopdb())
    assert f.__code__ is orig()
