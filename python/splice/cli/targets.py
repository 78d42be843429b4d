"""Target specs from the command line and the scopes they become.

Syntax (see docs/cli.md):

- ``path/to/file.py:function`` or ``path/to/file.py:Class.method``: functions
  defined in that file (the script being run included);
- ``package.module:function`` or ``package.module:Class.method``: the object
  reached by attribute lookup on the imported module (so re-exported names
  work), else functions of that qualified name defined in the module's file;
- ``path/to/file.py`` or ``package.module`` alone: with ``--line``, the
  function that runs that line.

A function part without dots (``forward``) matches every function of that
name in the file (as splice's ``breakpoint("forward", file=...)`` does); a
dotted one (``Model.forward``, ``outer.inner`` or ``outer.<locals>.inner``)
matches the qualified name exactly.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import re
from dataclasses import dataclass
from types import CodeType, ModuleType
from typing import Optional, Union

from splice.resolve import Scope

__all__ = [
    "TargetSpec", "TargetSpecError", "QualScope", "available", "module_file", "parse_target", "parse_line", "scope_for",
]

_LOCALS = ".<locals>"


class TargetSpecError(ValueError):
    """A target or line spec given on the command line is malformed."""


@dataclass(frozen=True)
class TargetSpec:
    """A parsed ``TARGET``: exactly one of ``file``/``module`` is set."""

    text: str
    file: Optional[pathlib.Path] = None  # resolved (symlinks followed)
    module: Optional[str] = None
    qualname: Optional[str] = None  # None: the whole file/module (needs --line)

    @property
    def where(self) -> str:
        """The file or module, as the user wrote it."""
        return self.text.rsplit(":", 1)[0] if self.qualname else self.text


def _is_dotted(name: str, allow_locals: bool = False) -> bool:
    parts = name.split(".")
    return all(p.isidentifier() or (allow_locals and p == "<locals>") for p in parts) and bool(parts)


def parse_target(text: str, *, must_exist: bool = True) -> TargetSpec:
    """Parse ``TARGET`` (see the module docstring); raise
    :class:`TargetSpecError` with a message that says what is wrong."""
    if not text or not text.strip():
        raise TargetSpecError("empty target; expected FILE.py:FUNCTION, MODULE:FUNCTION, FILE.py or MODULE")
    where, sep, qual = text.rpartition(":")
    if not sep:
        where, qual = text, ""
    elif not where:
        raise TargetSpecError(f"target {text!r}: nothing before ':'; expected FILE.py:FUNCTION or MODULE:FUNCTION")
    elif not qual:
        raise TargetSpecError(f"target {text!r}: nothing after ':'; name a function, e.g. {where}:main")
    if qual and (not _is_dotted(qual, allow_locals=True) or qual.split(".")[-1] == "<locals>"):
        raise TargetSpecError(
            f"target {text!r}: {qual!r} is not a function name (expected NAME or Class.method)"
        )
    qualname = qual or None
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = pathlib.Path(where).expanduser()
        if must_exist and not path.is_file():
            raise TargetSpecError(f"target {text!r}: no such file: {where}")
        return TargetSpec(text, file=path.resolve(), qualname=qualname)
    if _is_dotted(where):
        return TargetSpec(text, module=where, qualname=qualname)
    raise TargetSpecError(
        f"target {text!r}: {where!r} is neither a file path ending in .py nor a dotted module name"
    )


def parse_line(text: str) -> Union[int, str]:
    """``--line`` value: a line number, else the source text of the line."""
    s = text.strip()
    if not s:
        raise TargetSpecError("--line needs a line number or the text of a line")
    if re.fullmatch(r"\d+", s):
        n = int(s)
        if n < 1:
            raise TargetSpecError(f"--line {text!r}: line numbers start at 1")
        return n
    return s


def _norm(qualname: str) -> str:
    return qualname.replace(_LOCALS, "")


class QualScope(Scope):
    """A :class:`~splice.Scope` by function name within one file that also
    checks the qualified name (``Class.method``, ``outer.<locals>.inner``)
    when the spec has dots; ``<locals>`` may be left out."""

    def __init__(self, qualname: str, file: pathlib.Path) -> None:
        super().__init__(qualname.rsplit(".", 1)[-1], file=file)
        self.qualname = qualname
        self._qual = _norm(qualname) if "." in qualname else None

    def match_code(self, code: CodeType) -> bool:
        """As :meth:`Scope.match_code`, and the qualified name must match too."""
        if not super().match_code(code):
            return False
        return self._qual is None or _norm(getattr(code, "co_qualname", code.co_name)) == self._qual

    def __repr__(self) -> str:
        return f"{self.qualname} in {self.file}"


def _walk(module: ModuleType, qualname: str) -> object:
    """The object ``module.<qualname>``, or ``None``. The last step is static
    so a classmethod/staticmethod/property comes back as itself (not bound)."""
    if "<locals>" in qualname:
        return None
    obj: object = module
    parts = qualname.split(".")
    for i, part in enumerate(parts):
        try:
            obj = inspect.getattr_static(obj, part) if i == len(parts) - 1 else getattr(obj, part)
        except AttributeError:
            return None
    return obj


def module_file(module: ModuleType) -> Optional[pathlib.Path]:
    """The resolved ``__file__`` of a module (``None`` for builtins/namespace packages)."""
    f = getattr(module, "__file__", None)
    if not f:
        return None
    try:
        return pathlib.Path(f).resolve()
    except (OSError, RuntimeError):
        return pathlib.Path(f)


def available(file: pathlib.Path, limit: int = 12) -> str:
    """The functions defined in ``file`` (for "no such function" messages)."""
    from splice.cli.codetree import compile_file, function_codes

    try:
        codes = function_codes(compile_file(str(file)))
    except (OSError, SyntaxError, ValueError):
        return ""
    names = []
    for c in codes:
        q = getattr(c, "co_qualname", c.co_name)
        if "<" not in q and q not in names:  # no lambdas, comprehensions, nested functions
            names.append(q)
    if not names:
        return " (it defines no functions)"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return " (functions there: " + ", ".join(names[:limit]) + more + ")"


def scope_for(spec: TargetSpec, file: pathlib.Path, module: Optional[ModuleType] = None) -> Scope:
    """The scope a probe on ``spec`` uses once its code is available: the
    functions of ``file`` (the module's file, or the script), narrowed to the
    spec's function. For a module target the object is first looked up by
    attribute (``Class.method``), which also finds re-exported functions
    defined elsewhere; anything that is not a function is reported by
    :func:`splice.resolve.code_of` (``TargetError``)."""
    if spec.qualname is None:
        return Scope(file=file)
    if module is not None and spec.module is not None:
        obj = _walk(module, spec.qualname)
        if obj is not None and not isinstance(obj, ModuleType):
            # A bound method or callable instance keeps its instance filter;
            # classes and builtins raise TargetError with splice's message.
            return Scope(obj)  # type: ignore[arg-type]  # Scope checks it is callable
    return QualScope(spec.qualname, file)
