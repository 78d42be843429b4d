"""Where a breakpoint goes: a scope and a line spec -> (target, lines) pairs.

:func:`plan` resolves the scope (:mod:`splice.resolve`) and locates the line
(:mod:`splice.locate`) in each target, following NoPdb's rules for what a
line means in each kind of scope:

- ``function=`` a callable: the line must be one of that function's own
  statements;
- ``function=`` a name: every function of that name in which the line is one
  of its own statements (an error only if it is in none);
- ``module=``/``file=`` without a function: the line is located in each
  file, and the breakpoint goes into the live function that runs it;
- no line: function entry.
"""

from __future__ import annotations

import sys
from types import CodeType, FunctionType
from typing import Optional, Union

from splice import locate as _locate
from splice import noevent as _noevent
from splice.errors import LocateError, SourceMismatchError
from splice.resolve import Scope, Target, resolve

__all__ = ["Placement", "lines_in", "plan", "with_events"]

#: A target and the lines of it where the breakpoint goes (``None``: entry).
Placement = tuple[Target, Optional[list[int]]]


def lines_in(code: CodeType, line: Union[int, str]) -> list[int]:
    """The statement lines of ``code`` itself that ``line`` names (the one
    place that calls :mod:`splice.locate` for a function scope)."""
    try:
        _locate.get_source(code)
    except LocateError as e:
        return _lines_without_source(code, line, e)
    if code.co_name == "__annotate__" and sys.version_info >= (3, 14):
        # PEP 649: the compiler generates it from the annotations; the
        # source has no statement of it, and a line check would call the
        # file edited
        raise LocateError(
            f"{getattr(code, 'co_qualname', code.co_name)} is the function CPython generates "
            f"to evaluate annotations (PEP 649); it has no statements of its own to put a line "
            f"probe on: probe its entry (no line), or capture_call it"
        )
    # Without source=: locate checks the text against the running code and,
    # on a mismatch, re-reads the file once (it may have been edited and
    # reverted since linecache cached it).
    try:
        found = _locate.locate(code, line)
    except SourceMismatchError:
        if not code.co_filename.startswith("<"):
            raise
        # A name that is no file: code that exec() or a generator made (a
        # dataclass's __init__) shares '<string>' with whatever text is
        # registered under it (3.13 registers a `python -c` command there)
        qualname = getattr(code, "co_qualname", code.co_name)
        why = LocateError(
            f"{code.co_filename}: the text registered under this name in linecache is not the one "
            f"{qualname} was compiled from (code that exec() or a code generator such as dataclasses "
            f"makes shares names like '<string>')"
        )
        return _lines_without_source(code, line, why)
    lines = sorted({loc.line for loc in found if loc.owned_by(code)})
    return with_events(code, lines, line)


def _lines_without_source(code: CodeType, line: Union[int, str], e: LocateError) -> list[int]:
    """:func:`lines_in` for code whose source text is unknown (``e`` says
    why; e.g. a function typed at the plain REPL): a line number is still
    usable when the code has instructions on it, as in NoPdb; a line text
    is not."""
    events = _noevent.event_lines(code) - {code.co_firstlineno}
    if isinstance(line, int):
        own = {ln for *_, ln in code.co_lines() if ln is not None}
        if line in own and line != code.co_firstlineno:
            if line in events:
                return [line]
            raise LocateError(
                f"line {line} of {getattr(code, 'co_qualname', code.co_name)} has no "
                f"instruction where a line event fires, so a probe there would never run"
            ) from None
    if not events:
        raise e
    usable = ", ".join(str(n) for n in sorted(events)[:12]) + (", ..." if len(events) > 12 else "")
    raise LocateError(
        f"{e}\nWithout its text, a line number where it has code still works: {usable} "
        f"(or no line, for the function's entry)"
    ) from None


def with_events(code: CodeType, lines: list[int], spec: Union[int, str]) -> list[int]:
    """``lines`` of ``code`` where a probe can run (a 'line' event fires);
    a :class:`LocateError` that says why, with the nearest usable lines, if
    none of them can (a declaration, unreachable or removed code)."""
    events = _noevent.event_lines(code)
    kept = [ln for ln in lines if ln in events]
    if kept or not lines:
        return kept
    source = _locate.get_source(code)
    candidates = [loc.line for loc in _locate.statement_lines(code, source=source) if loc.owned_by(code)]
    raise LocateError(_noevent.refusal(code, source.text, source.filename, lines, candidates, spec))


def plan(scope: Scope, line: Union[int, str, None]) -> list[Placement]:
    """(target, lines) for each code object the breakpoint goes into; raises
    :class:`LocateError` or :class:`~splice.ScopeError` if there is none."""
    if line is not None and (isinstance(line, bool) or not isinstance(line, (int, str))):
        raise TypeError(f"line must be an int, a str or None, not {type(line).__name__}")
    targets = resolve(scope)
    if line is None:
        return [(t, None) for t in targets]
    if scope._fn is not None:
        try:
            return [(targets[0], lines_in(targets[0].code, line))]
        except LocateError as e:
            hint = _instance_hint(scope)
            if hint is None:
                raise
            raise LocateError(f"{e}\n{hint}") from None
    if scope._fn_name is not None:
        return _plan_by_name(targets, line, scope._fn_name)
    return _plan_in_files(targets, line, scope)


def _instance_hint(scope: Scope) -> Optional[str]:
    """What to pass instead, when the line was looked for in the ``__call__``
    of a callable instance (NoPdb's rule): a ``torch.nn.Module``'s calls go
    through ``Module._wrapped_call_impl``, and the line a user means is in
    the method the call runs, ``forward``. None for any other target."""
    obj = scope.function
    if obj is None or scope._fn_self is not obj or scope._fn is None:
        return None
    cls = type(obj).__qualname__
    text = (
        f"The target, {_describe_instance(obj)}, is called through its class's __call__ "
        f"({scope._fn.__qualname__}), where splice looks for the line, as NoPdb does."
    )
    forward = getattr(type(obj), "forward", None)
    if isinstance(forward, FunctionType):
        text += (
            f" To stop in the method its calls run, pass {cls}.forward (every instance) "
            f"or the instance's bound method .forward (that instance only)."
        )
    return text


def _describe_instance(obj: object) -> str:
    """``a Foo instance`` (not its ``repr``: a model's is its whole tree)."""
    t = type(obj)
    return f"a {t.__module__}.{t.__qualname__} instance"


def _plan_by_name(targets: list[Target], line: Union[int, str], name: str) -> list[Placement]:
    """Every function named ``name`` in which ``line`` is its own statement."""
    out: list[Placement] = []
    errors: list[LocateError] = []
    for t in targets:
        try:
            out.append((t, lines_in(t.code, line)))
        except LocateError as e:
            errors.append(e)
    if out:
        return out
    if len(errors) == 1:
        raise errors[0]
    # (a name like "forward" matches thousands of functions in an ML process)
    shown = [f"  - {e}" for e in errors[:_SHOWN]]
    if len(errors) > _SHOWN:
        shown.append(f"  - ... and {len(errors) - _SHOWN} more")
    raise LocateError(
        f"line {line!r} is in none of the {len(targets)} functions named "
        f"{name!r}:\n" + "\n".join(shown)
    )


#: why-nots listed when a line is in none of the functions of a name
_SHOWN = 10


def _mismatch_of(targets: list[Target], source: _locate.Source) -> Optional[SourceMismatchError]:
    """The error that says the file was edited, when none of (the first
    few of) its live functions matches ``source``: a line that no function
    owns in an edited file is more likely a moved line than module-level
    code. None when one matches."""
    first: Optional[SourceMismatchError] = None
    for t in targets[:8]:
        try:
            _locate.check_source(t.code, source)
            return None
        except SourceMismatchError as e:
            first = first or e
    return first


def _plan_in_files(targets: list[Target], line: Union[int, str], scope: Scope) -> list[Placement]:
    """``module=`` / ``file=`` without a function: ``line`` located in each
    file; the breakpoint goes into the live functions that run it."""
    by_file: dict[str, list[Target]] = {}
    for t in targets:
        by_file.setdefault(t.code.co_filename, []).append(t)
    out: list[Placement] = []
    errors: list[LocateError] = []
    stale: list[SourceMismatchError] = []
    for fname, ts in by_file.items():
        try:
            source = _locate.get_source(ts[0].code)
            found = _locate.locate_in_source(source, line)
        except LocateError as e:
            if isinstance(line, str):
                continue  # text not in this file: NoPdb matches files independently
            errors.append(e)
            continue
        for t in ts:
            lines = sorted({loc.line for loc in found if loc.owned_by(t.code)})
            if lines:
                try:
                    _locate.check_source(t.code, source)
                except SourceMismatchError as e:
                    # A function from before the file was edited and its
                    # module reloaded (reload keeps the module's dict, and
                    # so its old functions' globals), still alive somewhere:
                    # skipped, as a scope by name skips it, when the line's
                    # current function is there too.
                    stale.append(e)
                    continue
                try:
                    out.append((t, with_events(t.code, lines, line)))
                except LocateError as e:
                    errors.append(e)
        if not any(loc.owned_by(t.code) for loc in found for t in ts):
            errors.append(
                _mismatch_of(ts, source)
                or LocateError(
                    f"{fname}: line {line!r} is not inside a live function (it is module-level "
                    f"code or a class body, which has already run, or its function no longer "
                    f"exists); splice can only break inside functions"
                )
            )
    if out:
        return out
    if stale:
        raise stale[0]
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise LocateError("; ".join(str(e) for e in errors[:5]))
    files = sorted(by_file)
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    raise LocateError(
        f"no statement whose text is {line!r} in the {len(targets)} live function(s) of "
        f"{scope} (files: {shown})"
    )
