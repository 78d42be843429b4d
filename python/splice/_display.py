"""Rich display in Jupyter: the HTML that :class:`~splice.CallInfo`,
:class:`~splice.CallCapture` and :class:`~splice.CallListCapture` give
through ``_repr_html_``.

The plain ``repr`` stays NoPdb's; only notebooks (and anything else that asks
for ``text/html``) see this. Every value is summarized, never printed in
full: its type, and for tensors and arrays (anything with ``shape`` and
``dtype``) the shape, dtype and device instead of the values; other values
as a ``repr`` cut to :data:`MAX_VALUE` characters. Everything is escaped.
"""

from __future__ import annotations

import html
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from splice.capture import CallInfo

MAX_VALUE = 80  # characters of a value's repr
MAX_ROWS = 50  # variables of one call, calls of a list

_repr = reprlib.Repr()
_repr.maxstring = MAX_VALUE
_repr.maxother = MAX_VALUE
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 8

_STYLE = (
    "<style>.splice-call table{border-collapse:collapse;margin:2px 0 6px 0}"
    ".splice-call td,.splice-call th{padding:1px 8px;text-align:left;vertical-align:top;"
    "font-family:monospace;font-size:12px}"
    ".splice-call th{border-bottom:1px solid #aaa}.splice-call .t{color:#666}</style>"
)


def type_name(value: Any) -> str:
    """``module.Class`` for non-builtins, ``Class`` for builtins."""
    t = type(value)
    mod = t.__module__
    return t.__qualname__ if mod == "builtins" else f"{mod.split('.')[0]}.{t.__qualname__}"


def _attr(value: Any, name: str) -> Any:
    """``getattr(value, name, None)``, None also when the attribute raises: a
    property of a recorded value (the ``shape`` of a torch
    ``UninitializedParameter`` before its first forward) must not break the
    display of the whole call."""
    try:
        return getattr(value, name, None)
    except Exception:
        return None


def _array_summary(value: Any) -> Optional[str]:
    """``shape ..., dtype ...(, device ...)`` for a tensor or an array, None
    for anything else or when describing it raises."""
    shape = _attr(value, "shape")
    dtype = _attr(value, "dtype")
    if shape is None or dtype is None or isinstance(value, type):
        return None
    try:
        try:
            dims: Any = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            dims = shape
        text = f"shape {dims}, dtype {dtype}"
        device = _attr(value, "device")
        if device is not None and not callable(device):
            text += f", device {device}"
        return text
    except Exception:
        return None


def summary(value: Any) -> str:
    """A one-line text summary of ``value`` (not escaped)."""
    text = _array_summary(value)
    if text is not None:
        return text
    if isinstance(value, (tuple, list)) and any(_is_array(v) for v in value[:8]):
        # e.g. a module's (output, weights): the shapes, not the values
        inner = ", ".join(summary_short(v) for v in value[:8]) + (", ..." if len(value) > 8 else "")
        text = f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
        return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."
    try:
        text = " ".join(_repr.repr(value).split())  # one line
    except Exception as e:  # a broken __repr__ must not break the display
        text = f"<repr failed: {type(e).__name__}>"
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 3] + "..."
    return text


def _rows(items: Iterable[tuple[str, Any]], limit: int = MAX_ROWS) -> str:
    out = []
    n = 0
    for n, (name, value) in enumerate(items, 1):
        if n > limit:
            continue
        out.append(
            f"<tr><td>{html.escape(str(name))}</td><td class='t'>{html.escape(type_name(value))}</td>"
            f"<td>{html.escape(summary(value))}</td></tr>"
        )
    if n > limit:
        out.append(f"<tr><td colspan='3'>... {n - limit} more</td></tr>")
    return "".join(out)


def _table(title: str, items: Sequence[tuple[str, Any]]) -> str:
    if not items:
        return ""
    return (
        f"<table><tr><th colspan='3'>{html.escape(title)}</th></tr>"
        "<tr><th>name</th><th>type</th><th>value</th></tr>" + _rows(items) + "</table>"
    )


def _where(call: CallInfo) -> str:
    file = call.file
    return f" in {html.escape(Path(file).name)}" if file else ""


def call_html(call: CallInfo) -> str:
    """The HTML of one call: its name and file, then tables of the arguments,
    the other locals at return, and the return value or exception."""
    kind = html.escape(type(call).__name__)
    if call.name is None:
        return f"<div class='splice-call'><b>{kind}</b>: no call captured</div>"
    args: Mapping[str, Any] = call.args or {}
    locals_: Mapping[str, Any] = call.locals or {}
    other = [(k, v) for k, v in locals_.items() if k not in args]
    result: list[tuple[str, Any]] = (
        [("exception", call.exception)] if call.exception is not None else [("return value", call.return_value)]
    )
    return (
        _STYLE + f"<div class='splice-call'><b>{kind}</b> <code>{html.escape(call.name)}()</code>{_where(call)}"
        + _table("arguments", list(args.items()))
        + _table("other locals at return", other)
        + _table("result", result)
        + "</div>"
    )


def calls_html(calls: Sequence[CallInfo], kind: str) -> str:
    """The HTML of a list of calls: one row per call with its arguments and
    result summarized."""
    head = f"<b>{html.escape(kind)}</b>: {len(calls)} call{'s' if len(calls) != 1 else ''}"
    if not calls:
        return _STYLE + f"<div class='splice-call'>{head}</div>"
    rows = []
    for i, call in enumerate(calls[:MAX_ROWS]):
        args = ", ".join(f"{k}={summary_short(v)}" for k, v in (call.args or {}).items())
        result: Optional[str]
        if call.exception is not None:
            result = "raised " + summary_short(call.exception)
        else:
            result = summary_short(call.return_value)
        rows.append(
            f"<tr><td>{i}</td><td>{html.escape(call.name or '')}</td><td>{html.escape(args)}</td>"
            f"<td>{html.escape(result)}</td></tr>"
        )
    if len(calls) > MAX_ROWS:
        rows.append(f"<tr><td colspan='4'>... {len(calls) - MAX_ROWS} more</td></tr>")
    return (
        _STYLE + f"<div class='splice-call'>{head}<table>"
        "<tr><th>#</th><th>function</th><th>arguments</th><th>result</th></tr>" + "".join(rows) + "</table></div>"
    )


def _is_array(value: Any) -> bool:
    return _attr(value, "shape") is not None and _attr(value, "dtype") is not None and not isinstance(value, type)


def summary_short(value: Any) -> str:
    """A tensor as ``Tensor(1, 12, 9, 9)``, anything else as :func:`summary`
    cut to 40 characters: for one-line rows."""
    shape = _attr(value, "shape")
    if shape is not None and _attr(value, "dtype") is not None and not isinstance(value, type):
        try:
            return f"{type(value).__name__}{tuple(int(d) for d in shape)}"
        except Exception:
            pass
    text = summary(value)
    return text if len(text) <= 40 else text[:37] + "..."
