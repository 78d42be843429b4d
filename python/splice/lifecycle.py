"""The lifecycle every probe owner shares: enable/disable, ``with`` blocks,
and :func:`sync`, which brings installed probes in line with their owners.

:class:`Managed` is the base of :class:`~splice.Breakpoint`,
:class:`~splice.CallCapture` and :class:`~splice.CallListCapture`. Whether
its probes are installed depends on two things: the object is enabled, and
its :class:`~splice.NoPdb` instance is running. Every change to either ends
in one :func:`sync`, one atomic :meth:`~splice.patcher.Patcher.commit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Self

from splice._native import addr as _addr  # id() without its audit event
from splice.errors import release_frames
from splice.patcher import PATCHER, RETRIES, UNRECORDED, Probe

if TYPE_CHECKING:  # pragma: no cover
    from splice.nopdb import NoPdb

__all__ = ["Managed", "sync"]


class Managed:
    """Base of :class:`~splice.Breakpoint`, :class:`~splice.CallCapture` and
    :class:`~splice.CallListCapture`: ``enable``/``disable`` and the
    context-manager protocol, with NoPdb's semantics.

    An object is *enabled* from creation until :meth:`disable`; its probes are
    installed while it is enabled **and** its :class:`~splice.NoPdb` instance is
    running (started and not paused by a later one). Entering the ``with``
    block starts the instance if it is not started; leaving the block disables
    the object and stops the instance if blocks started it and this was the
    last of them still open (NoPdb stops it when the block that started it
    exits, even while other blocks are open: their probes went with it).
    """

    def __init__(self, nopdb: NoPdb) -> None:
        self._nopdb = nopdb
        self._enabled = False
        self._active: list[Probe] = []
        self.enable()

    def __copy__(self) -> Any:
        raise TypeError(
            f"a {type(self).__name__} cannot be copied: the copy would share its probes, "
            f"and leaving the copy's block would remove them from the original; create "
            f"another one instead"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self.__copy__()

    # subclasses -------------------------------------------------------------
    def _wanted(self) -> list[Probe]:
        """The probes this object needs installed right now (while running)."""
        raise NotImplementedError

    def _on_sync(self, active: bool) -> None:
        """Called after every commit that involved this object."""

    def _on_running(self, running: bool) -> None:
        """Called after every commit that involved this object, with whether
        it is enabled and its instance running (probes may be installed
        later, as a lazy scope's first calls come)."""

    # public -----------------------------------------------------------------
    def enable(self) -> None:
        """Enable again after :meth:`disable` (objects start enabled)."""
        with PATCHER.lock, UNRECORDED:
            if self._enabled:
                return
            self._enabled = True
            self._nopdb._register(self)
            try:
                sync([self])
            except BaseException as e:
                self._enabled = False
                try:
                    sync([self])  # remove what the failed sync installed
                finally:
                    self._nopdb._unregister(self)
                    release_frames(e)
                raise

    def disable(self) -> None:
        """Disable: remove the probes (the original code is back) until :meth:`enable`."""
        with PATCHER.lock, UNRECORDED:
            if not self._enabled:
                return
            settle(self._disable_step)

    def _disable_step(self) -> None:
        # (interrupted before this runs, the object stays enabled and its
        # probes in: consistent, and disable() can be called again)
        self._enabled = False
        try:
            sync([self])
        finally:
            self._nopdb._unregister(self)

    @property
    def enabled(self) -> bool:
        """Whether the object is enabled (see :meth:`enable`, :meth:`disable`)."""
        return self._enabled

    @property
    def active(self) -> bool:
        """Whether its probes are installed right now."""
        return bool(self._active)

    def __enter__(self) -> Self:
        entered = False
        try:
            with PATCHER.lock, UNRECORDED:
                try:
                    self._nopdb._hold(self)
                except BaseException:
                    # starting the instance failed (nothing installed): the
                    # object must not stay registered, or every later start
                    # would try to install it again
                    try:
                        self.disable()
                    except Exception:  # pragma: no cover - the first error is the one to see
                        pass
                    raise
                try:
                    self.enable()
                except BaseException:
                    self._nopdb._release(self)
                    raise
                entered = True
        except BaseException:
            # The with statement will not call __exit__: leave nothing
            # enabled (the object would come back the next time its NoPdb
            # starts). Needed after an interruption as the work ended (the
            # lock or the recording pause let go), or as enable() started.
            if entered or self._enabled:
                try:
                    self.__exit__(None, None, None)
                except Exception:  # pragma: no cover - the first error is the one to see
                    pass
            raise
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        with PATCHER.lock, UNRECORDED:
            try:
                settle(self.disable)  # (again if interrupted as it starts)
            finally:
                self._nopdb._release(self)


def sync(items: Sequence[Managed], changed: Sequence[Managed] = ()) -> None:
    """Bring the installed probes of ``items`` in line with their state, in one
    atomic commit; probes of objects in ``changed`` are rebuilt."""
    with PATCHER.lock, UNRECORDED:
        add: list[Probe] = []
        remove: list[Probe] = []
        rebuild: list[Probe] = []
        wants: list[list[Probe]] = []
        running: list[bool] = []
        changed_ids = {_addr(c) for c in changed}
        for it in items:
            run = it._enabled and it._nopdb._is_running()
            want = list(it._wanted()) if run else []
            running.append(run)
            wants.append(want)
            active_ids = {_addr(a) for a in it._active}
            want_ids = {_addr(w) for w in want}
            add.extend(p for p in want if _addr(p) not in active_ids)
            remove.extend(p for p in it._active if _addr(p) not in want_ids)
            if _addr(it) in changed_ids:
                rebuild.extend(p for p in want if _addr(p) in active_ids)
        # An exception the commit returns came after it changed functions
        # (an interruption: a KeyboardInterrupt): the records below are made
        # first, then it is raised. One it raises may also have come after
        # (an interruption as the commit returned): each object's record is
        # then what the registry says is installed, and the hooks do not run.
        try:
            interrupted = PATCHER.commit(add, remove, rebuild) if add or remove or rebuild else None
            # Every object's record of its installed probes first, so that a
            # hook that fails below leaves each record true to what the commit
            # installed: the caller's undo (a sync after turning its state
            # back) then removes exactly that. (Inline: no call between the
            # commit and these records where an interruption could land.)
            for it, want in zip(items, wants, strict=True):
                it._active = want
        except BaseException:
            _record_installed(items, wants)
            raise
        for it, want, run in zip(items, wants, running, strict=True):
            try:
                it._on_sync(bool(want))
                it._on_running(run)
            except BaseException as e:  # the other objects' hooks still run
                interrupted = interrupted or e
        if interrupted is not None:
            raise interrupted


def _record_installed(items: Sequence[Managed], wants: list[list[Probe]]) -> None:
    """Each object's record of its installed probes, from the registry (after
    a commit raised: it changed nothing, or finished and was interrupted as
    it returned)."""
    installed = PATCHER.installed()
    for it, want in zip(items, wants, strict=True):
        probes = {_addr(p): p for p in [*it._active, *want]}
        it._active = [p for key, p in probes.items() if key in installed]


def settle(step: Callable[[], None]) -> None:
    """Run ``step`` (a sync that removes probes: a block's exit, a disable, a
    stop) until it has run to its end, then raise the first exception that
    interrupted it: a KeyboardInterrupt at the exit of a block must not leave
    the probes in (a commit cut short before it changed anything changes
    nothing, and the state says they are gone)."""
    first: Optional[BaseException] = None
    for _ in range(RETRIES):  # (inline: a call here would be one more place to be interrupted)
        try:
            step()
            break
        except BaseException as e:
            first = first or e
    if first is not None:
        raise first
