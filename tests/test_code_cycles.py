"""Cycles through an instrumented code object, which the cycle collector
does not see (code objects are not tracked): a frame kept from a hit holds
the instrumented code, whose constants hold splice's hooks. If a hook holds
something that reaches the kept frame, nothing in the cycle is ever freed:
the frame's locals (a model's activations) stayed alive for the rest of the
process. Found by an adversarial run."""

from __future__ import annotations

import gc
import sys
import weakref

import splice


class Big:  # stands for a tensor
    pass


def kept(x):
    y = Big()
    return y


def failing(x):
    y = Big()
    try:
        raise ValueError(x)
    except ValueError as e:
        return str(e)


def _views_kept_by_a_callback() -> weakref.ref[Big]:
    views: list[splice.FrameView] = []
    with splice.breakpoint(kept, line="return y") as bp:
        bp.callback(views.append)
        kept(Big())
    return weakref.ref(views[0].locals["y"])


def test_frame_views_kept_by_a_callback_are_freed_with_the_list():
    """The callback hook reached the callback (``views.append``), and the
    views hold the frame that holds the instrumented code."""
    ref = _views_kept_by_a_callback()
    gc.collect()
    assert ref() is None


def test_a_breakpoint_entered_again_still_calls_its_callback():
    """The hooks' functions are out of the code's reach between blocks and
    come back when the breakpoint is installed again."""
    seen = []
    bp = splice.breakpoint(kept, line="return y")
    bp.callback(lambda v: seen.append(v.locals["x"]))
    with bp:
        kept(1)
    kept(2)  # not installed: not called
    with bp:
        kept(3)
    assert seen == [1, 3]


def steps(n):
    for i in range(n):
        yield i  # the breakpoint's line


def test_a_generator_suspended_in_an_earlier_block_calls_the_callback_again():
    """Each block builds its hooks again; a generator still running the
    code of an earlier block calls that block's hook, which works again
    while the breakpoint is installed (and does nothing between blocks)."""
    seen = []
    bp = splice.breakpoint(steps, line="yield i")
    bp.callback(lambda v: seen.append(v.locals["i"]))
    with bp:
        g = steps(4)
        next(g)
    next(g)  # not installed: not called
    with bp:
        next(g)
    next(g)
    assert seen == [0, 2]


def test_a_breakpoint_entered_many_times_keeps_no_hook_of_ended_blocks():
    """Every block builds the hooks again. The breakpoint kept a box for
    each hook it ever built, and each enter and exit went through all of
    them: 12 ms per block after 20,000 blocks."""
    bp = splice.breakpoint(kept, line="return y")
    bp.callback(lambda v: None)
    bp.debug()  # a second Python-level hook
    for _ in range(50):
        with bp:
            pass
    gc.collect()
    assert len(bp._state.boxes) <= 2


class _Holder:
    """Keeps its captures and transforms with a method (a common wrapper)."""

    def __init__(self) -> None:
        self.captures: list[splice.CallListCapture] = []
        self.applied = 0

    def transform(self, value: object) -> object:
        self.applied += 1
        return value


def _records_kept_by_a_capture_whose_transform_reaches_them() -> weakref.ref[Big]:
    holder = _Holder()
    with splice.capture_calls(failing, transform=holder.transform) as calls:
        holder.captures.append(calls)
        failing(1)
    assert holder.applied > 0
    # the record holds the raised exception, whose traceback holds the frame
    return weakref.ref(calls[0].locals["y"])


def test_a_capture_whose_transform_reaches_its_records_is_freed():
    """The recorder (reached from the code through the capture hooks) held
    the transform, a method of the object holding the records."""
    ref = _records_kept_by_a_capture_whose_transform_reaches_them()
    gc.collect()
    assert ref() is None
