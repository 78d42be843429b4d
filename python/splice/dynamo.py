"""Keep torch.compile's Dynamo from tracing functions splice has probed.

Dynamo compiles a function by interpreting its bytecode symbolically and
caches the graph per code object of the frame it compiled; a function it
inlines into that graph (a submodule's ``forward``, a helper method) is
guarded by the function object, not by its ``__code__``. So a graph traced
while a probe was active would keep the probe's effect after the block
exits (an ``exec`` that zeroes a tensor, in every later call of the compiled
model: found by testing, torch 2.15). Dynamo also models ``LOAD_CONST`` only
for literal constants: the hook objects splice loads with ``LOAD_CONST`` (an
``eval`` results list, capture hooks, callbacks, hit counters, the instance
of a bound-method target) made it raise an internal ``AssertionError`` in
the middle of the user's compiled model.

So while a function runs instrumented code, splice marks it the way
``torch._dynamo.skip`` does: the function object gets
``_torchdynamo_disable = True`` (Dynamo then graph-breaks at calls to it
instead of inlining it, and the call runs eagerly, probe included, whatever
code the function runs at the time) and the instrumented code object is
registered with ``skip_code`` (for a function that is itself the compiled
entry point). The mark is removed when the function's code goes back to its
original. Nothing happens unless ``torch._dynamo`` is already imported.
"""

from __future__ import annotations

import sys
import types
import weakref
from typing import Any

from splice._native import addr as _addr  # id() without its audit event

_MISSING = object()
_MSG = "splice: a probe is active on this function (splice runs probed functions eagerly under torch.compile)"

#: id(function) -> (weakref to it, its previous _torchdynamo_disable, previous message)
_marked: dict[int, tuple[weakref.ref[types.FunctionType], Any, Any]] = {}


#: (torch._dynamo.eval_frame module, its skip_code or None), looked up once per module object
_skip: tuple[Any, Any] = (None, None)


def _skip_code() -> Any:
    """``torch._dynamo.eval_frame.skip_code``, or None where this torch has
    none; cached (every commit of a probe asks, and an import
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
    if dynamo is not None and code is not None:
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
