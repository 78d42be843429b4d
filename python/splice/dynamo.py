"""Keep torch.compile's Dynamo from tracing functions whose probes call hooks.

Dynamo compiles a function by interpreting its bytecode symbolically, and it
models ``LOAD_CONST`` only for literal constants: the hook objects splice
loads with ``LOAD_CONST`` (an ``eval`` results list, capture hooks, callbacks,
hit counters, the instance of a bound-method target) make it raise an
internal ``AssertionError`` in the middle of the user's compiled model.
Inline ``exec``/``cond`` snippets are plain bytecode and compile fine.

So while a function runs code with such constants, splice marks it the way
``torch._dynamo.skip`` does: the function object gets
``_torchdynamo_disable = True`` (Dynamo then graph-breaks at calls to it
instead of inlining it, and the call runs eagerly, hooks included) and the
instrumented code object is registered with ``skip_code`` (for a function
that is itself the compiled entry point). The mark is removed when the
function's code goes back to code without hooks. Nothing happens unless
``torch._dynamo`` is already imported.
"""

from __future__ import annotations

import sys
import types
import weakref
from typing import Any

from splice._native import addr as _addr  # id() without its audit event

_LITERALS = (int, float, complex, bool, str, bytes, type(None), type(...), types.CodeType, type)
_MISSING = object()
_MSG = "splice: a probe that calls Python hooks is active on this function"

#: id(function) -> (weakref to it, its previous _torchdynamo_disable, previous message)
_marked: dict[int, tuple[weakref.ref[types.FunctionType], Any, Any]] = {}


def _literal(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_literal(v) for v in value)
    return isinstance(value, _LITERALS)


def needs_eager(code: types.CodeType) -> bool:
    """Whether ``code`` loads a constant Dynamo cannot model (read from the
    end: splice appends its hook objects there)."""
    return not all(_literal(c) for c in reversed(code.co_consts))


#: (torch._dynamo.eval_frame module, its skip_code or None), looked up once per module object
_skip: tuple[Any, Any] = (None, None)


def _skip_code() -> Any:
    """``torch._dynamo.eval_frame.skip_code``, or None where this torch has
    none; cached (every commit of a probe with hooks asks, and an import
    statement per ask was a tenth of a torch-level enter+exit's extra cost)."""
    global _skip
    module = sys.modules.get("torch._dynamo.eval_frame")  # torch._dynamo imports it
    if module is None:
        return None
    if _skip[0] is not module:
        _skip = (module, getattr(module, "skip_code", None))
    return _skip[1]


def sync(fn: types.FunctionType, code: types.CodeType | None) -> None:
    """Mark or unmark ``fn`` for the instrumented code it now runs (``None``:
    it runs its original code again). See the module docstring."""
    dynamo = sys.modules.get("torch._dynamo")
    key = _addr(fn)
    entry = _marked.get(key)
    if entry is not None and entry[0]() is not fn:
        del _marked[key]
        entry = None
    if dynamo is not None and code is not None and needs_eager(code):
        skip = _skip_code()
        if skip is not None:
            try:
                skip(code)
            except Exception:  # an older or newer torch: the function mark still works
                pass
        if entry is None:
            d = fn.__dict__
            _marked[key] = (
                weakref.ref(fn),
                d.get("_torchdynamo_disable", _MISSING),
                d.get("_torchdynamo_disable_msg", _MISSING),
            )
            fn._torchdynamo_disable = True  # type: ignore[attr-defined]
            fn._torchdynamo_disable_msg = _MSG  # type: ignore[attr-defined]
    elif entry is not None:
        del _marked[key]
        for name, old in (("_torchdynamo_disable", entry[1]), ("_torchdynamo_disable_msg", entry[2])):
            if old is _MISSING:
                fn.__dict__.pop(name, None)
            else:
                setattr(fn, name, old)
