"""Rich display in notebooks: ``CallInfo``, ``CallCapture`` and
``CallListCapture`` have an HTML repr (``_repr_html_``) with names, types,
tensor/array shapes and dtypes and truncated values, while the plain repr
stays NoPdb's."""

from __future__ import annotations

import html
import re
from typing import Any

import nopdb
import pytest

import splice
from splice import CallInfo


class FakeArray:
    """What the display looks at in a tensor or array: shape, dtype, device."""

    shape = (2, 12, 9, 9)
    dtype = "float32"
    device = "cpu"

    def __repr__(self) -> str:  # never shown: the values of a tensor are not printed
        return "FakeArray(" + "0.5, " * 10_000 + ")"


class Lines:
    def __repr__(self) -> str:
        return "Lines(a\n  b\n  c)"


def attention(hidden: Any, mask: Any, note: str) -> Any:
    weights = FakeArray()
    long_text = "x" * 500
    pair = (weights, 3)  # noqa: F841 (read from the captured locals)
    lines = Lines()  # noqa: F841
    return weights if mask is None else long_text


def _cells(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", html)


def test_call_html_names_types_shapes() -> None:
    with splice.capture_call(attention) as call:
        attention(FakeArray(), None, "<b>not bold</b>")
    page = call._repr_html_()
    cells = _cells(page)
    assert "<b>CallCapture</b> <code>attention()</code> in test_display.py" in page
    # arguments: name, type, summary; tensors by shape/dtype/device, not values
    i = cells.index("hidden")
    assert cells[i + 1] == "test_display.FakeArray"
    assert cells[i + 2] == "shape (2, 12, 9, 9), dtype float32, device cpu"
    assert "0.5, 0.5" not in page
    # strings escaped, long values cut
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page
    i = cells.index("long_text")
    assert cells[i + 1] == "str" and len(html.unescape(cells[i + 2])) <= 80 and "..." in cells[i + 2]
    # other locals and the result; a multi-line repr is one line
    assert "weights" in cells and "return value" in cells
    i = cells.index("pair")
    assert cells[i + 1] == "tuple" and cells[i + 2] == "(FakeArray(2, 12, 9, 9), 3)"
    i = cells.index("lines")
    assert cells[i + 2] == "Lines(a b c)"
    assert "arguments" in page and "other locals at return" in page


def test_call_html_exception_and_empty() -> None:
    def boom(x: int) -> int:
        raise ValueError("no <good>")

    with splice.capture_call(boom) as call:
        with pytest.raises(ValueError):
            boom(1)
    page = call._repr_html_()
    assert "exception" in _cells(page) and "ValueError(&#x27;no &lt;good&gt;&#x27;)" in page
    assert "no call captured" in CallInfo()._repr_html_()


def test_call_list_html() -> None:
    with splice.capture_calls(attention) as calls:
        for _ in range(3):
            attention(FakeArray(), 1, "n")
    page = calls._repr_html_()
    assert "<b>CallListCapture</b>: 3 calls" in page
    rows = re.findall(r"<tr><td>(\d+)</td><td>attention</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert rows[0][1] == "hidden=FakeArray(2, 12, 9, 9), mask=1, note=&#x27;n&#x27;"
    assert rows[0][2].endswith("...") and len(html.unescape(rows[0][2])) <= 40


def test_plain_repr_is_nopdbs() -> None:
    """The plain repr is NoPdb's, character for character."""
    with splice.capture_call(attention) as call:
        attention(1, None, "n")
    with nopdb.capture_call(attention) as ncall:
        attention(1, None, "n")
    assert repr(call).replace("CallCapture", "X") == repr(ncall).replace("CallCapture", "X")
    with splice.capture_calls(attention) as calls:
        attention(2, 3, "m")
    with nopdb.capture_calls(attention) as ncalls:
        attention(2, 3, "m")
    assert repr(calls) == repr(ncalls)
    assert repr(CallInfo()) == repr(nopdb.CallInfo())


class NotYetShaped:
    """A value whose ``shape`` raises until it is known, as the shape of a
    torch ``UninitializedParameter`` (``nn.LazyLinear``) before its first
    forward; its ``repr`` fails too (reprlib then names the instance)."""

    dtype = "float32"

    @property
    def shape(self) -> Any:
        raise RuntimeError("shape not known yet")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def test_a_value_whose_shape_raises_does_not_break_the_display() -> None:
    """The display of a call, and of a list of calls, still renders (the
    value's cell names the instance) when a recorded value's ``shape``
    raises; it raised out of ``_repr_html_`` (a formatter traceback in the
    notebook cell)."""

    def f(x: Any) -> int:
        return 1

    with splice.capture_call(f) as call:
        f(NotYetShaped())
    cells = _cells(call._repr_html_())
    i = cells.index("x")
    assert cells[i + 1] == "test_display.NotYetShaped"
    assert cells[i + 2].startswith("&lt;NotYetShaped instance at 0x")
    with splice.capture_calls(f) as calls:
        f(NotYetShaped())
        f([NotYetShaped(), 2])
    page = calls._repr_html_()
    assert "x=&lt;NotYetShaped instance at 0x" in page
    assert page.count("<tr><td>") == 2
