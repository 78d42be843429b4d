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

from splice import _native
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

    def __reduce__(self) -> Any:
        raise TypeError(
            f"a {type(self).__name__} cannot be pickled: it is bound to this process's probes; "
            f"pickle what it recorded instead"
        )

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
            if not self._enabled and not self._active:
                # (and still registered only if a disable ran out of stack
                # after its sync: near the recursion limit, the call that
                # unregisters it can fail; its NoPdb kept it for good)
                self._nopdb._unregister(self)
                return
            # (disabled with probes still in: a removal that failed every
            # try, e.g. out of stack near the recursion limit, is done now)
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
        try:
            with PATCHER.lock, UNRECORDED:
                self._nopdb._hold(self)
                self.enable()
        except BaseException:
            # The with statement will not call __exit__: leave nothing
            # enabled (the object would come back the next time its NoPdb
            # starts) and nothing holding the NoPdb started (a breakpoint
            # made outside any block would then fire). Whatever failed or
            # was interrupted (starting the instance, enable(), the lock or
            # the recording pause letting go), __exit__'s steps, disable
            # and release, each do what is left and nothing more.
            try:
                self.__exit__(None, None, None)
            except BaseException:  # (a second interruption): the first error is the one to see
                pass
            raise
        return self

    def _exit(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        with PATCHER.lock, UNRECORDED:
            try:
                self.disable()
            finally:
                self._nopdb._release(self)

    #: The block's exit runs again whole if an exception interrupts it (a
    #: signal handler's KeyboardInterrupt lands on any instruction, the first
    #: one of a call too): native, so that no Python instruction runs before
    #: that is taken care of; both steps do only what is left (see
    #: splice._native.Retrying). The first exception is raised once it ran
    #: to its end.
    __exit__ = _native.Retrying(_exit, RETRIES)


def sync(items: Sequence[Managed], changed: Sequence[Managed] = ()) -> None:
    """Bring the installed probes of ``items`` in line with their state, in one
    atomic commit; probes of objects in ``changed`` are rebuilt."""
    with PATCHER.lock, UNRECORDED:
        # (a call, not the loop itself: see _plan_sync)
        add, remove, rebuild, wants, running = _plan_sync(items, changed)
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


def _plan_sync(
    items: Sequence[Managed], changed: Sequence[Managed]
) -> tuple[list[Probe], list[Probe], list[Probe], list[list[Probe]], list[bool]]:
    """What :func:`sync` commits: the probes to add, remove and rebuild, and
    each object's wanted probes and running state.

    A function of its own so that no loop runs directly inside a ``with`` or
    ``try`` block of splice: CPython 3.12-3.14 leave the back edge of some
    loops there (a loop ending in an ``if``) out of the block's exception
    table, and a KeyboardInterrupt a signal handler raises on that
    instruction (a loop's back edge checks for signals) skips the block's
    ``__exit__``: the lock stayed held, recording stayed paused for good
    (``tests/test_interrupts.py``, the no-holes test)."""
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
    return add, remove, rebuild, wants, running


def _record_installed(items: Sequence[Managed], wants: list[list[Probe]]) -> None:
    """Each object's record of its installed probes, from the registry (after
    a commit raised: it changed nothing, or finished and was interrupted as
    it returned)."""
    installed = PATCHER.installed()
    for it, want in zip(items, wants, strict=True):
        probes = {_addr(p): p for p in [*it._active, *want]}
        it._active = [p for key, p in probes.items() if key in installed]


#: one item per try of a step that must finish (see :func:`settle`)
_TRIES = tuple(range(RETRIES))


def settle(step: Callable[[], None]) -> None:
    """Run ``step`` (a sync that removes probes: a block's exit, a disable, a
    stop) until it has run to its end, then raise the first exception that
    interrupted it: a KeyboardInterrupt at the exit of a block must not leave
    the probes in (a commit cut short before it changed anything changes
    nothing, and the state says they are gone)."""
    first: Optional[BaseException] = None
    for _ in _TRIES:  # (inline: a call here would be one more place to be interrupted)
        try:
            step()
            break
        except BaseException as e:
            first = first or e
    if first is not None:
        raise first
