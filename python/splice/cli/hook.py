"""The import hook that installs probes as soon as a target module is imported.

:class:`ProbeFinder` sits first in :data:`sys.meta_path`. For a module that
may be a target it asks the finders after it for the spec (exactly what the
import system would do next) and, if the spec's module is a target, wraps its
loader so that right after ``exec_module`` (the module's functions now
exist, the importer has not got the module yet) the probes are created
(or, if the module's code raised, the failure is noted for the report).
Modules that cannot be targets are not touched: ``find_spec`` returns
``None`` at once when only module-name targets were given, and otherwise
returns the other finders' spec unchanged.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Optional

__all__ = ["ProbeFinder", "real_loader"]


class _LoaderProxy:
    """Delegates to the real loader; calls ``after(module)`` once the module
    has executed, or ``failed(module, exc)`` if its code raised (the import
    fails as it would have). The real loader is put back on the module and
    its spec before the module's code runs, so the module never sees the
    proxy."""

    def __init__(self, loader: Any, after: Callable[[ModuleType], None],
                 failed: Optional[Callable[[ModuleType, BaseException], None]] = None) -> None:
        self._loader = loader
        self._after = after
        self._failed = failed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        try:
            self._loader.exec_module(module)
        except BaseException as e:
            if self._failed is not None:  # so the report can say why the target never appeared
                self._failed(module, e)
            raise
        self._after(module)


def real_loader(loader: Any) -> Any:
    """``loader`` itself, or the loader a :class:`ProbeFinder` wrapped in it
    (code that only reads a spec, as ``run`` does for its ``__main__``, never
    calls ``exec_module``, so the wrapper must not show)."""
    return loader._loader if isinstance(loader, _LoaderProxy) else loader


class ProbeFinder:
    """A meta path finder; see the module docstring."""

    def __init__(
        self,
        wants_name: Callable[[str], bool],
        wants_origin: Callable[[str, Optional[str]], bool],
        after: Callable[[ModuleType], None],
        failed: Optional[Callable[[ModuleType, BaseException], None]] = None,
    ) -> None:
        self._wants_name = wants_name
        self._wants_origin = wants_origin
        self._after = after
        self._failed = failed
        self._busy = threading.local()

    def _find_below(self, fullname: str, path: Any, target: Any) -> Optional[ModuleSpec]:
        """The spec the other finders of ``sys.meta_path`` give. (A function:
        no loop directly in a ``try`` body, whose ``finally`` CPython
        3.12-3.14 can skip when a KeyboardInterrupt lands on the loop's back
        edge; see splice.lifecycle._plan_sync.)"""
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                return spec  # type: ignore[no-any-return]
        return None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Optional[ModuleSpec]:
        """The spec the finders after us give, its loader wrapped if the
        module is a target (see the module docstring)."""
        if not self._wants_name(fullname):
            return None
        busy = self._busy.__dict__.setdefault("names", set())
        if fullname in busy:  # a finder below us imports the same name
            return None
        busy.add(fullname)
        try:
            spec = self._find_below(fullname, path, target)
        finally:
            busy.discard(fullname)
        if spec is None:
            return None  # let the import system try (legacy finders, errors)
        found: ModuleSpec = spec
        loader = found.loader
        if loader is None or not hasattr(loader, "exec_module") or isinstance(loader, _LoaderProxy):
            return found
        origin = found.origin if found.has_location else None
        if origin is not None:
            origin = os.path.realpath(origin)
        if self._wants_origin(fullname, origin):
            found.loader = _LoaderProxy(loader, self._after, self._failed)  # type: ignore[assignment]  # duck-typed Loader
        return found

    def invalidate_caches(self) -> None:
        """Nothing cached here (the finders after us have their own)."""

    def install(self) -> None:
        """Put the finder first in :data:`sys.meta_path`."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        """Take the finder out of :data:`sys.meta_path`."""
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
