"""Values attached to one code object by identity, held weakly.

A ``weakref.WeakKeyDictionary`` keyed by code objects looks them up by
*equality*, and CPython's code equality ignores ``co_filename`` and
``co_qualname``: ``Foo.forward`` and ``Bar.forward`` with the same body on the
same line of two files are equal. A cache of anything derived from a name
(the class that private names are mangled with, the file a message names)
must not hand one of them the other's entry, so splice's per-code caches key
on identity.
"""

from __future__ import annotations

import weakref
from types import CodeType
from typing import Generic, Optional, TypeVar

from splice._native import addr as _addr  # id() without its audit event

__all__ = ["PerCode"]

V = TypeVar("V")


class PerCode(Generic[V]):
    """A cache of one value per code object (by identity). The entry goes
    when the code object is freed; the cache never keeps a code object alive."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref[CodeType], V]] = {}

    def get(self, code: CodeType) -> Optional[V]:
        """The value stored for ``code`` itself, or None."""
        entry = self._items.get(_addr(code))
        if entry is not None and entry[0]() is code:
            return entry[1]
        return None

    def set(self, code: CodeType, value: V) -> V:
        """Store ``value`` for ``code``; returns it."""
        key = _addr(code)
        items = self._items

        def drop(ref: weakref.ref[CodeType]) -> None:
            # Only the entry this reference made: the id may have been reused
            # by a newer code object whose entry replaced it.
            entry = items.get(key)
            if entry is not None and entry[0] is ref:
                del items[key]

        items[key] = (weakref.ref(code, drop), value)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()
