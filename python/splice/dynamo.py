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
original. Nothing happens unless ``torch`` is imported. ``import torch``
does not import ``torch._dynamo``; the first ``torch.compile`` call does,
often inside the block. The function mark needs no part of torch; for the
``skip_code`` registration (without which Dynamo compiled the probed
function's own frame after the graph break, and failed on the hook
constants), a finder on ``sys.meta_path`` waits for
``torch._dynamo.eval_frame`` to load and registers the code objects of the
functions marked then (:class:`_EvalFrameWatch`).
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


def generated(code: types.CodeType) -> bool:
    """Whether ``code`` is one Dynamo made from a user's function: the
    transformed code of a frame it compiled (same file and name as the
    function's, its own locals: ``tmp_1``...) or a resume function after a
    graph break (``torch_dynamo_resume_in_<name>_at_<line>``). No
    function's ``__code__``; a capture by name, module or file recorded
    their calls as the user's function."""
    if code.co_name.startswith("torch_dynamo_resume_in_"):
        return True
    utils = sys.modules.get("torch._dynamo.utils")
    if utils is None:
        return False
    made = getattr(utils, "orig_code_map", None)  # transformed code -> the original
    ids = getattr(made, "values", None)  # (its id-keyed dict: no audited id() per code)
    if isinstance(ids, dict):
        return _addr(code) in ids
    try:
        return made is not None and code in made
    except Exception:  # another torch's map: only a filter
        return False


class _EvalFrameWatch:
    """A ``sys.meta_path`` finder, there while functions are marked before
    ``torch._dynamo`` is imported: when ``torch._dynamo.eval_frame`` loads,
    the instrumented code of every function marked at that moment is
    registered with its ``skip_code``. The module's spec and loader are the
    real ones (the wrapper only runs the real loader's ``exec_module``, then
    the registration); the finder removes itself then."""

    _TARGET = "torch._dynamo.eval_frame"

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self._TARGET:
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    """The real loader of ``torch._dynamo.eval_frame``, followed by the
    ``skip_code`` registration of :class:`_EvalFrameWatch`."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def create_module(self, spec: Any) -> Any:
        create = getattr(self.real, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        # the module sees its real loader, as if splice were not there
        module.__loader__ = self.real
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.real
        _unwatch()
        self.real.exec_module(module)
        skip = getattr(module, "skip_code", None)
        if skip is None:
            return
        for ref, _, _ in list(_marked.values()):
            fn = ref()
            if fn is not None:
                try:
                    skip(fn.__code__)
                except Exception:  # a torch whose skip_code differs: the mark still works
                    pass


_watch: _EvalFrameWatch | None = None


def _watch_for_dynamo() -> None:
    global _watch
    if _watch is None:
        _watch = _EvalFrameWatch()
        sys.meta_path.insert(0, _watch)


def _unwatch() -> None:
    global _watch
    if _watch is not None:
        try:
            sys.meta_path.remove(_watch)
        except ValueError:
            pass
        _watch = None


def sync(fn: types.FunctionType, code: types.CodeType | None) -> None:
    """Mark or unmark ``fn`` for the instrumented code it now runs (``None``:
    it runs its original code again). See the module docstring."""
    dynamo = sys.modules.get("torch._dynamo")
    key = _addr(fn)
    entry = _marked.get(key)
    if entry is not None and entry[0]() is not fn:
        del _marked[key]
        entry = None
    if code is not None and (dynamo is not None or "torch" in sys.modules):
        skip = _skip_code() if dynamo is not None else None
        if skip is None and "torch._dynamo.eval_frame" not in sys.modules:
            _watch_for_dynamo()
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
        if not _marked:
            _unwatch()
        for name, old in (("_torchdynamo_disable", entry[1]), ("_torchdynamo_disable_msg", entry[2])):
            if old is _MISSING:
                fn.__dict__.pop(name, None)
            else:
                setattr(fn, name, old)
