"""Describe captured values for the summary and the JSON output.

A value becomes ``{"type", "repr", "shape", "dtype"}``: ``shape`` and
``dtype`` are read by duck typing (``.shape``, ``.dtype``), so numpy arrays,
torch tensors, jax arrays and pandas objects are described without importing
any of those libraries; ``repr`` is bounded (containers are abbreviated by
:mod:`reprlib`, everything else cut to ``width`` characters) because a
captured tensor or a long list would otherwise flood the terminal.
"""

from __future__ import annotations

import reprlib
from typing import Any, Optional

__all__ = ["describe", "short_repr", "type_name", "format_value"]

# Values of these types have no .shape/.dtype worth asking for; skipping the
# getattr also avoids running user properties for no reason.
_PLAIN = (type(None), bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)


def type_name(value: Any) -> str:
    """``int`` for builtins, ``module.Qualname`` for everything else
    (``numpy.ndarray``, ``torch.Tensor``)."""
    t = type(value)
    mod = getattr(t, "__module__", None) or ""
    name = getattr(t, "__qualname__", None) or t.__name__
    return name if mod == "builtins" else f"{mod}.{name}"


def _one_line(text: str) -> str:
    # Tensor and array reprs span several lines; the summary wants one.
    return " ".join(text.split())


def short_repr(value: Any, width: int = 120) -> str:
    """A one-line ``repr`` of at most ``width`` characters; never raises (a
    failing ``__repr__`` is reported in place of the text)."""
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 8
    r.maxdict = 8
    r.maxstring = max(20, width)
    r.maxlong = max(20, width)
    r.maxother = max(20, width)
    try:
        text = _one_line(r.repr(value))
    except Exception as e:  # a user __repr__ may raise anything
        text = f"<repr failed: {type(e).__name__}: {e}>"
    if len(text) > width:
        text = text[: max(0, width - 3)] + "..."
    return text


def _shape(value: Any) -> Optional[list[Any]]:
    try:
        s = getattr(value, "shape", None)
    except Exception:
        return None
    if s is None or isinstance(s, (str, bytes)):
        return None
    try:
        items = list(s)
    except Exception:
        return None
    out: list[Any] = []
    for x in items:
        try:
            out.append(int(x))
        except Exception:  # symbolic sizes (tracers, SymInt) stay text
            out.append(str(x))
    return out


def _dtype(value: Any) -> Optional[str]:
    try:
        d = getattr(value, "dtype", None)
    except Exception:
        return None
    if d is None:
        return None
    try:
        return str(d)
    except Exception:
        return None


def describe(value: Any, width: int = 120) -> dict[str, Any]:
    """``{"type": str, "repr": str, "shape": list[Any] | None, "dtype": str | None}``
    for one value (the JSON schema's *value* object)."""
    shape = dtype = None
    if not isinstance(value, _PLAIN) and not isinstance(value, type):
        shape = _shape(value)
        dtype = _dtype(value)
    return {"type": type_name(value), "repr": short_repr(value, width), "shape": shape, "dtype": dtype}


def format_value(desc: dict[str, Any]) -> str:
    """One line for the text summary: ``type shape=(2, 3) dtype=float32  repr``."""
    parts = [desc["type"]]
    if desc.get("shape") is not None:
        parts.append("shape=(" + ", ".join(map(str, desc["shape"])) + ("," if len(desc["shape"]) == 1 else "") + ")")
    if desc.get("dtype") is not None:
        parts.append(f"dtype={desc['dtype']}")
    return " ".join(parts) + "  " + str(desc["repr"])
