"""The public API as a user writes it, checked by mypy --strict in `make lint`
(so a wrong or missing annotation in splice fails lint) and run by
tests/test_typed.py (so the usage is real, not only well-typed).

``assert_type`` pins the type each call must have; a change to one of
splice's annotations that a user would notice makes mypy report an error
here.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from types import CodeType
from typing import Any, Optional, assert_type

import splice
from splice import (
    Breakpoint,
    CallCapture,
    CallInfo,
    CallListCapture,
    FrameView,
    Handle,
    LocateError,
    NoPdb,
    SpliceError,
)


def scale(x: int, k: int) -> int:
    y = x * k
    return y + 1


def use_breakpoint() -> list[Any]:
    seen: list[FrameView] = []

    def on_hit(view: FrameView) -> None:
        assert_type(view.locals, dict[str, Any])
        line: int = view.line
        assert line > 0
        assert_type(view.code, CodeType)
        seen.append(view)

    with splice.breakpoint(scale, line="return y + 1") as bp:
        assert_type(bp, Breakpoint)
        values: list[Any] = bp.eval("y")
        bp.exec("y = -y")
        bp.callback(on_hit)
        bp.count_hits()
        assert scale(3, 2) == -5
    hits: Optional[int] = bp.hits
    assert hits == 1 and values == [6] and len(seen) == 1
    with splice.breakpoint(scale, line=scale.__code__.co_firstlineno + 2, cond="x > 10") as bp2:
        cond_values = bp2.eval("x")
        scale(1, 1)
        scale(11, 1)
    assert_type(cond_values, list[Any])
    assert cond_values == [11]
    return values


def use_capture() -> CallInfo:
    with splice.capture_call(scale) as call:
        assert_type(call, CallCapture)
        scale(4, 5)
    args = call.args
    assert_type(args, Optional[Mapping[str, Any]])
    assert args is not None and dict(args) == {"x": 4, "k": 5}
    stack = call.stack
    assert_type(stack, Optional[traceback.StackSummary])
    ret: Any = call.return_value
    assert ret == 21 and call.name == "scale"
    assert_type(call.exception, Optional[BaseException])

    with splice.capture_calls(scale, max_calls=10) as calls:
        assert_type(calls, CallListCapture)
        for i in range(3):
            scale(i, 2)
    first: CallInfo = calls[0]
    assert len(calls) == 3 and first.return_value == 1
    return first


def use_nopdb() -> None:
    with NoPdb() as dbg:
        assert_type(dbg, NoPdb)
        cap = dbg.capture_call(scale)
        assert_type(cap, CallCapture)
        scale(1, 1)
    assert cap.return_value == 2
    assert isinstance(splice.get_nopdb(), NoPdb)
    # a handle is what add_callback returns
    h: Optional[Handle] = None
    del h


def use_errors() -> str:
    try:
        splice.breakpoint(scale, line="this line is not in scale")
    except LocateError as e:
        assert_type(e, LocateError)
        assert isinstance(e, SpliceError)
        return str(e)
    raise AssertionError("LocateError expected")


def main() -> None:
    use_breakpoint()
    use_capture()
    use_nopdb()
    use_errors()
    version: str = splice.__version__
    assert version


if __name__ == "__main__":
    main()
