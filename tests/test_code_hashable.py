"""A rewritten code object is hashable and a probed function pickles by value.

Third-party code hashes code objects (cloudpickle's globals cache, bdb's
line cache on 3.14+, any dict keyed by ``f.__code__``) and cloudpickle
pickles closures and ``__main__`` functions by value, constants included.
Found by ``make torture-thirdparty`` (attrs' cloudpickle test): an ``eval``
put its results list in ``co_consts`` (unhashable), a capture its native
hooks (not picklable).
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import cloudpickle
import pytest

import splice


def make_scale(k: int) -> Callable[[int], int]:
    def scale(x: int) -> int:  # a closure: cloudpickle pickles it by value
        y = x * k
        return y + 1

    return scale


def _eval(f: Any) -> Any:
    bp = splice.breakpoint(f, line="return y + 1")
    bp.eval("y")
    return bp


def _exec(f: Any) -> Any:
    bp = splice.breakpoint(f, line="return y + 1")
    bp.exec("y = y * 10")
    return bp


def _cond_eval(f: Any) -> Any:
    bp = splice.breakpoint(f, line="return y + 1", cond="y > 0")
    bp.eval("x")
    return bp


def _callback(f: Any) -> Any:
    bp = splice.breakpoint(f, line="return y + 1")
    bp.callback(lambda view: None)
    return bp


def _count_hits(f: Any) -> Any:
    bp = splice.breakpoint(f, line="return y + 1")
    bp.count_hits()
    return bp


PROBES: dict[str, Callable[[Any], Any]] = {
    "count_hits": _count_hits,
    "eval": _eval,
    "exec": _exec,
    "cond+eval": _cond_eval,
    "callback": _callback,
    "capture_calls": lambda f: splice.capture_calls(f),
    "capture_call": lambda f: splice.capture_call(f),
}


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_probed_code_hashes_and_the_function_pickles_by_value(kind: str) -> None:
    f = make_scale(3)
    orig = f.__code__
    expect_inside = 61 if kind == "exec" else 7
    with PROBES[kind](f):
        assert f.__code__ is not orig
        hash(f.__code__)  # raised TypeError (unhashable list) for eval
        cache: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        cache[f.__code__] = 1  # what bdb (3.14+) and cloudpickle do
        copy = cloudpickle.loads(cloudpickle.dumps(f))
        assert f(2) == expect_inside
        # the copy runs as the probed function runs (an exec is code, so it
        # travels); hooks and result lists of the copy record nowhere here
        assert copy(2) == expect_inside
    assert f.__code__ is orig and f(2) == 7


def test_a_pickled_capture_records_nothing_in_the_copy() -> None:
    f = make_scale(3)
    with splice.capture_calls(f) as calls:
        copy = cloudpickle.loads(cloudpickle.dumps(f))
        assert copy(5) == 16
        f(1)
    assert [c.args["x"] for c in calls] == [1]


def test_eval_results_are_a_plain_list() -> None:
    f = make_scale(2)
    with splice.breakpoint(f, line="return y + 1") as bp:
        values = bp.eval("y")
        f(1)
        f(2)
    assert type(values) is list and values == [2, 4]


def test_unhashable_variables_keep_the_code_hashable() -> None:
    """``variables=`` values that cannot be hashed (a list, a dict) are read
    through an identity-hashed holder, not put in ``co_consts`` as they are
    (which made ``hash(f.__code__)`` raise: pdb on 3.14+ and cloudpickle
    then failed); the snippet still sees the very objects given."""
    f = make_scale(3)
    sink: list[int] = []
    cfg = {"k": 10}
    with splice.breakpoint(f, line="return y + 1") as bp:
        bp.exec("sink.append(y * cfg['k'])", {"sink": sink, "cfg": cfg})
        hash(f.__code__)
        cache: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        cache[f.__code__] = 1
        cloudpickle.dumps(f)
        assert f(2) == 7
        cfg["k"] = 100  # the same dict, read at each hit
        assert f(1) == 4
    assert sink == [60, 300]


class EqModel:
    """Instances compare equal (so hash() raises), as a dataclass with
    ``eq=True`` does."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, w: int) -> None:
        self.w = w

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EqModel) and other.w == self.w

    def forward(self, a: int) -> int:
        b = a * self.w
        return b + 1


@pytest.mark.parametrize("kind", ["breakpoint", "capture_call"])
def test_an_unhashable_instance_filter_keeps_the_code_hashable(kind: str) -> None:
    """The instance of a bound-method target that cannot be hashed is read
    through a holder too; the filter still tells instances apart by
    identity (an equal instance does not fire)."""
    mine, other = EqModel(2), EqModel(2)
    assert mine == other
    if kind == "breakpoint":
        probe = splice.breakpoint(mine.forward, line="return b + 1")
        seen = probe.eval("b")
    else:
        probe = splice.capture_call(mine.forward)
    with probe:
        hash(EqModel.forward.__code__)
        cloudpickle.dumps(EqModel.forward)
        assert other.forward(5) == 11
        assert mine.forward(3) == 7
    if kind == "breakpoint":
        assert seen == [6]
    else:
        assert probe.args["a"] == 3 and probe.return_value == 7


SEEN: list[int] = []


def _seen(view: Any) -> None:
    """A callback cloudpickle pickles by reference (a module-level
    function): a copy that calls it records here."""
    SEEN.append(view.locals["x"])


def test_a_copy_by_value_never_runs_the_callbacks() -> None:
    """A copy of a probed function made by value carries splice's hooks; a
    copied callback (or debugger) hook is never live, inside the block or
    after it, as a copied capture records nothing (it kept calling the
    user's callback for good, and `debug()` opened pdb in the copy after
    the block)."""
    f = make_scale(3)
    SEEN.clear()
    with splice.breakpoint(f, line="return y + 1") as bp:
        bp.callback(_seen)
        copy = cloudpickle.loads(cloudpickle.dumps(f))
        assert copy(5) == 16
        assert f(1) == 4
    assert copy(6) == 19
    assert SEEN == [1]
