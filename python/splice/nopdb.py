"""The :class:`NoPdb` class, :func:`get_nopdb` and the module-level functions.

As in NoPdb, every breakpoint and capture belongs to a :class:`NoPdb`
instance, and fires only while that instance is running. Only one instance is
running per thread: starting a second one in the same thread pauses the first
(its probes are removed) until the second stops. ``capture_call``,
``capture_calls`` and ``breakpoint`` at module level use :func:`get_nopdb`:
the instance running in the current thread, else the thread's default one.

An instance started by entering ``with`` blocks of its breakpoints and
captures stops when the last of those blocks exits, in any order (NoPdb
stops it when the block that started it exits, taking the probes of every
block still open with it).

Differences from NoPdb: probes are spliced into the targets' bytecode, so they
fire in every thread (not only in the thread that started the instance), and
nothing is traced: :func:`sys.settrace` is never called (except by a debugger
you ask for with :meth:`Breakpoint.debug`). ``add_callback``/``remove_callback``
(NoPdb's raw trace-function API) do not exist in splice and raise
:class:`NotImplementedError`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable
from types import CodeType, FrameType, ModuleType, TracebackType
from typing import Any, Optional, TypeVar, Union

from splice import _native
from splice._native import addr as _addr  # id() without its audit event
from splice.breakpoint import Breakpoint
from splice.capture import CallCapture, CallListCapture
from splice.errors import release_frames
from splice.lifecycle import Managed, settle, sync
from splice.patcher import PATCHER, RETRIES, UNRECORDED
from splice.resolve import FileArg, FunctionArg, Scope

__all__ = [
    "Handle",
    "NoPdb",
    "TraceFunc",
    "breakpoint",
    "capture_call",
    "capture_calls",
    "get_nopdb",
]

#: what NoPdb._make builds: a Breakpoint or a capture
_Made = TypeVar("_Made", Breakpoint, CallCapture, CallListCapture)

#: NoPdb's type of a trace function (kept for compatibility).
TraceFunc = Callable[[FrameType, str, Any], Any]

_local = threading.local()


class Handle:
    """NoPdb's callback handle (kept for compatibility; see :meth:`NoPdb.add_callback`)."""


def _thread_stack() -> list[NoPdb]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _remove(items: list[Any], item: Any) -> bool:
    """Remove the last entry of ``items`` that is ``item`` (by identity);
    whether there was one. (A function: no loop directly in a ``with`` or
    ``try`` block of splice, see lifecycle._plan_sync; 3.14 inlines the
    generator of an ``any()`` there.)"""
    for i in range(len(items) - 1, -1, -1):
        if items[i] is item:
            del items[i]
            return True
    return False


class NoPdb:
    """The main NoPdb class.

    Multiple instances can be created, but only one can be active in a given
    thread at a given time (starting one pauses the one that was active). It
    can be used as a context manager.
    """

    def __copy__(self) -> Any:
        raise TypeError(
            "a NoPdb cannot be copied: the copy would share its breakpoints and captures; "
            "create another NoPdb instead"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self.__copy__()

    def __reduce__(self) -> Any:
        raise TypeError(
            "a NoPdb cannot be pickled: it is bound to this process's probes; pickle what its "
            "captures recorded instead"
        )

    def __init__(self) -> None:
        self._started = False
        self._stack: Optional[list[NoPdb]] = None
        self._items: dict[int, Managed] = {}
        #: The items whose ``with`` blocks are holding this instance started
        #: (one entry per block still open): non-empty only while the instance
        #: was started by entering such a block, not by :meth:`start`.
        self._holders: list[Managed] = []
        #: True while this thread starts or stops the instance: a block
        #: entered then, on this thread (a finalizer the collector runs, a
        #: signal handler), neither holds nor starts it (see :meth:`_hold`)
        self._changing = False
        #: items whose block was entered while ``_changing`` (one entry per
        #: such block): their exit releases nothing (see :meth:`_hold`)
        self._unheld: list[Managed] = []

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called (and :meth:`stop` not yet)."""
        return self._started

    def _is_running(self) -> bool:
        stack = self._stack
        return self._started and bool(stack) and stack[-1] is self  # type: ignore[index]

    def _register(self, item: Managed) -> None:
        self._items[_addr(item)] = item

    def _unregister(self, item: Managed) -> None:
        self._items.pop(_addr(item), None)

    def start(self) -> None:
        """Start this instance: install the probes of its enabled breakpoints
        and captures (pausing the instance that was active in this thread).

        Called automatically when the object is used as a context manager.
        """
        with PATCHER.lock:
            if self._started:
                raise RuntimeError("nopdb has already been started")
            stack = _thread_stack()
            prev = stack[-1] if stack else None
            items: list[Managed] = []
            changing = self._changing
            try:  # (the state too: an interruption after any of it is undone below)
                self._changing = True
                stack.append(self)
                self._stack = stack
                self._started = True
                items = (list(prev._items.values()) if prev is not None else []) + list(self._items.values())
                sync(items)
            except BaseException as e:
                if stack and stack[-1] is self:
                    stack.pop()
                self._started = False
                self._stack = None
                items = (list(prev._items.values()) if prev is not None else []) + list(self._items.values())
                try:
                    # remove what the failed sync installed (a hook can fail
                    # after the commit: a lazy scope that finds no
                    # sys.monitoring tool id) and resume the paused instance
                    sync(items)
                finally:
                    release_frames(e)
                raise
            finally:
                self._changing = changing

    def stop(self) -> None:
        """Stop this instance: remove its probes (resuming the instance it paused).

        Called automatically when the object is used as a context manager.
        """
        with PATCHER.lock:
            if not self._started:
                raise RuntimeError("nopdb has not been started")
            self._stop()

    def _stop(self) -> None:
        """:meth:`stop`'s work, which can run again from its start when an
        exception interrupted it (it does again what is left: :meth:`_release`
        retries it, and only clears the holders at the very end)."""
        with PATCHER.lock:
            stack = self._stack or []
            was_top = bool(stack) and stack[-1] is self
            settle(lambda: self._stop_step(stack))
            if was_top and stack:
                try:
                    sync(list(stack[-1]._items.values()))
                except Exception as e:
                    warnings.warn(
                        f"splice: could not resume the probes of the previous NoPdb instance: {e}",
                        RuntimeWarning,
                        stacklevel=2,
                    )

    def _stop_step(self, stack: list[NoPdb]) -> None:
        """Leave the thread's stack, stop, remove the probes, then forget the
        holders (last: until then a retry of :meth:`_release` stops again)."""
        changing = self._changing
        try:
            self._changing = True
            _remove(stack, self)
            self._started = False
            self._stack = None
            sync(list(self._items.values()))
            self._holders.clear()
        finally:
            self._changing = changing

    def _ensure_started(self) -> None:
        if self._started and not self._is_running():
            raise RuntimeError(
                "nopdb has been started, but a different NoPdb instance was started "
                "in the meantime"
            )
        if not self._started:
            self.start()

    def _hold(self, item: Managed) -> None:
        """Entering ``item``'s ``with`` block: start this instance if needed.

        An instance started by entering blocks stays started until the last
        of the blocks entered while it runs exits (:meth:`_release`), in any
        order; NoPdb stops it when the block that started it exits, which
        takes every other block's probes with it. An instance started by
        :meth:`start` (or ``with NoPdb()``) is left to :meth:`stop`.
        """
        with PATCHER.lock:
            if self._changing:
                # This thread is starting or stopping the instance, and the
                # block is entered from code that runs in the middle of it
                # (a finalizer the collector runs, a signal handler): it
                # records nothing, as documented. Held, it restarted an
                # instance being stopped, whose stop then forgot every
                # holder: started for good, with no block open. Its exit
                # must then release nothing, not the hold of an outer
                # block of the same object.
                self._unheld.append(item)
                return
            if self._started and not self._holders:
                self._ensure_started()  # started by start(): not ours to stop
                return
            # held before it starts: interrupted after the start, the
            # block's clean-up (its __exit__) releases it and so stops it
            changing = self._changing
            try:
                # (from here: a block entered between the hold and the
                # start found the instance stopped and started it, and this
                # start then failed as started already)
                self._changing = True
                self._holders.append(item)
                self._ensure_started()
            except BaseException:
                # (also when the start finished and the exception came as
                # it returned: the last holder gone, the instance stops)
                self._release(item)
                raise
            finally:
                self._changing = changing

    def _release(self, item: Managed) -> None:
        """Leaving ``item``'s ``with`` block: stop this instance if it was
        the last block holding it started (see :meth:`_hold`)."""
        with PATCHER.lock:
            if _remove(self._unheld, item):
                return  # entered while the instance changed: held nothing
            if not self._holds(item):
                return  # (released already: this runs again if interrupted)
            if len(self._holders) == 1:
                # the last block: stop, which forgets the holder only at its
                # end, so that a run cut short runs again whole
                self._stop()
            else:
                _remove(self._holders, item)

    def _holds(self, item: Managed) -> bool:
        # (a function: no loop directly in a `with` block, see lifecycle._plan_sync)
        return any(h is item for h in self._holders)

    def __enter__(self) -> NoPdb:
        self.start()
        return self

    def _exit(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    #: Stopped whatever interrupts it, as Managed.__exit__
    #: (splice._native.Retrying; run again after it stopped, stop() raises
    #: "not started", and the first exception is the one raised).
    __exit__ = _native.Retrying(_exit, RETRIES)

    def add_callback(self, scope: Scope, callback: TraceFunc, events: Iterable[str]) -> Handle:
        """Not supported: NoPdb's raw trace-function callbacks need
        :func:`sys.settrace`, which splice never installs. Use
        :meth:`breakpoint` with :meth:`Breakpoint.callback`, or :meth:`capture_calls`."""
        raise NotImplementedError(
            "splice does not trace, so NoPdb.add_callback() (a raw sys.settrace callback) is not "
            "available; use breakpoint(...).callback(fn) or capture_calls(...) instead"
        )

    def remove_callback(self, handle: Handle) -> None:
        """Not supported (see :meth:`add_callback`)."""
        raise NotImplementedError("splice does not support NoPdb.add_callback()/remove_callback()")

    def capture_call(
        self,
        function: Optional[FunctionArg] = None,
        *,
        module: Optional[ModuleType] = None,
        file: Optional[FileArg] = None,
        unwrap: bool = True,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
    ) -> CallCapture:
        """Capture a function call.

        The returned object can be used as a context manager, which will cause the
        capturing to stop at the end of the block.

        If multiple calls occur, the returned object will be updated as each call
        returns. At the end, the returned object will contain information about the
        call that was the last to return.

        Args:
            function (~typing.Callable or str, optional): A Python callable or the name
                of a Python function. If an instance method is passed, only calls
                invoked on that particular instance will be captured.
            module (~types.ModuleType, optional): A Python module. If given, only calls
                to functions defined in this module will be captured.
            file (str or ~os.PathLike, optional): A path to a Python source file. If
                given, only calls to functions defined in this file will be captured.
                If a string is passed, it will be used as a glob-style pattern for
                :meth:`pathlib.PurePath.match`. If a path-like object is passed, it
                will be resolved to a canonical path and checked for an exact match.
            unwrap (bool, optional): Whether or not to unwrap `function` when it is a
                wrapper (e.g. produced by a decorator). Only works when `function` is
                given as a callable. Defaults to `True`.
            transform (~typing.Callable, optional): New in splice: applied to every
                kept argument (when the call starts), local and return value (when
                it ends), e.g. to move tensors to the CPU.
            keep_locals (~typing.Iterable[str], optional): New in splice: keep only
                these local variables.

        Returns:
            CallCapture:
                An instance of :class:`CallInfo` which also works as a context
                manager.
        """
        return self._make(
            CallCapture, function, module, file, unwrap, transform=transform, keep_locals=keep_locals
        )

    def capture_calls(
        self,
        function: Optional[FunctionArg] = None,
        *,
        module: Optional[ModuleType] = None,
        file: Optional[FileArg] = None,
        unwrap: bool = True,
        transform: Optional[Callable[[Any], Any]] = None,
        keep_locals: Optional[Iterable[str]] = None,
        max_calls: Optional[int] = None,
    ) -> CallListCapture:
        """Capture function calls.

        The return value is an initially empty list, which is updated with a new item
        as each call returns. At the end, the list will contain a :class:`CallInfo`
        object for each call, following the order in which the calls returned.

        The return value can also be used as a context manager, which will cause the
        capturing to stop at the end of the block.

        With no ``function``, ``module`` or ``file``, every pure-Python function
        (outside splice) is captured. A scope by name, module or file (or
        none) instruments each function at its first call in the block, so
        functions defined later are caught too (splice.first_calls: through
        ``sys.monitoring`` on 3.12+, through splice's frame evaluator on 3.11,
        where every Python call is somewhat slower while such a capture is
        active). With ``SPLICE_EAGER_SCOPES=1`` the scope covers the functions
        alive when the capture is created (instrumented on entering: seconds
        with no scope in a large program) and closures they create later.

        Args:
            function (~typing.Callable or str, optional): A Python callable or the name
                of a Python function. If an instance method is passed, only calls
                invoked on that particular instance will be captured.
            module (~types.ModuleType, optional): A Python module. If given, only calls
                to functions defined in this module will be captured.
            file (str or ~os.PathLike, optional): A path to a Python source file. If
                given, only calls to functions defined in this file will be captured.
                If a string is passed, it will be used as a glob-style pattern for
                :meth:`pathlib.PurePath.match`. If a path-like object is passed, it
                will be resolved to a canonical path and checked for an exact match.
            unwrap (bool, optional): Whether or not to unwrap `function` when it is a
                wrapper (e.g. produced by a decorator). Only works when `function` is
                given as a callable. Defaults to `True`.
            transform (~typing.Callable, optional): New in splice: applied to every
                kept argument (when the call starts), local and return value (when
                it ends).
            keep_locals (~typing.Iterable[str], optional): New in splice: keep only
                these local variables.
            max_calls (int, optional): New in splice: record at most this many
                calls (the first ones), then stop recording; the probes are
                removed after the last one (later calls cost nothing).

        Returns:
            CallListCapture:
                A list of :class:`CallInfo` objects which also works as a
                context manager.
        """
        return self._make(
            CallListCapture, function, module, file, unwrap,
            transform=transform, keep_locals=keep_locals, max_calls=max_calls,
        )

    def breakpoint(
        self,
        function: Optional[FunctionArg] = None,
        *,
        module: Optional[ModuleType] = None,
        file: Optional[FileArg] = None,
        line: Optional[Union[int, str]] = None,
        cond: Optional[Union[str, bytes, CodeType]] = None,
        unwrap: bool = True,
    ) -> Breakpoint:
        """Set a breakpoint.

        The returned :class:`Breakpoint` object works as a context manager that removes
        the breakpoint at the end of the block.

        The breakpoint itself does not stop execution when hit, but can trigger
        user-defined actions; see :meth:`Breakpoint.eval`, :meth:`Breakpoint.exec`,
        :meth:`Breakpoint.debug`, :meth:`Breakpoint.callback`.

        At least a function, a module or a file must be specified. If no function is
        given, a line is also required.

        Example::

           # Stop at the line in f that says "return y"
           with splice.breakpoint(function=f, line="return y") as bp:
               x = bp.eval("x")             # Schedule an expression
               type_y = bp.eval("type(y)")  # Another one
               bp.exec("print(y)")          # Schedule a print statement

               # Now run some code that calls f
               # ...

           print(x, type_y)  # Retrieve the recorded values

        Args:
            function (~typing.Callable or str, optional): A Python callable or the name
                of a Python function. If an instance method is passed, only calls
                invoked on that particular instance will trigger the breakpoint.
            module (~types.ModuleType, optional): A Python module.
            file (str or ~os.PathLike, optional): A path to a Python source file.
                If a string is passed, it will be used as a glob-style pattern for
                :meth:`pathlib.PurePath.match`. If a path-like object is passed, it
                will be resolved to a canonical path and checked for an exact match.
            line (int or str, optional): The line at which to break. Either of the
                following:

                * The line number, counted from the beginning of the file.
                * The source code of the line. The code needs to match exactly, except
                  for leading and trailing whitespace.
                * `None`; in this case, a `function` must be passed, and the breakpoint
                  will be triggered every time the function is called.

                A line that has no statement (blank, comment, the inside of a
                multi-line statement) or text that matches no statement is an
                error (:class:`~splice.LocateError`), where NoPdb would silently
                never fire.
            cond (str, bytes or ~types.CodeType, optional): A condition to evaluate. If
                given, the breakpoint will only be triggered when the condition
                evaluates to true.
            unwrap (bool, optional): Whether or not to unwrap `function` when it is a
                wrapper (e.g. produced by a decorator). Only works when `function` is
                given as a callable. Defaults to `True`.

        Returns:
            Breakpoint:
                The breakpoint object, which also works as a context manager.
        """
        return self._make(Breakpoint, function, module, file, unwrap, line=line, cond=cond)

    def _make(
        self,
        cls: Callable[..., _Made],
        function: Optional[FunctionArg],
        module: Optional[ModuleType],
        file: Optional[FileArg],
        unwrap: bool,
        **kwargs: Any,
    ) -> _Made:
        """``cls(self, Scope(...), **kwargs)``: a breakpoint or a capture of
        this instance. An error it raises leaves with splice's own frames
        released (:func:`splice.errors.release_frames`), so a caller that
        keeps it does not keep the target's code object."""
        try:
            with UNRECORDED:  # resolving the scope is splice's own work
                return cls(self, Scope(function, module, file, unwrap=unwrap), **kwargs)
        except BaseException as e:
            release_frames(e)
            raise


def get_nopdb() -> NoPdb:
    """Return an instance of :class:`NoPdb`.

    If a :class:`NoPdb` instance is currently active in the current thread, that
    instance is returned. Otherwise, the default instance for the current thread is
    returned.
    """
    stack = _thread_stack()
    if stack:
        return stack[-1]
    nopdb = getattr(_local, "default_nopdb", None)
    if nopdb is None:
        nopdb = _local.default_nopdb = NoPdb()
    return nopdb


def capture_call(
    function: Optional[FunctionArg] = None,
    *,
    module: Optional[ModuleType] = None,
    file: Optional[FileArg] = None,
    unwrap: bool = True,
    transform: Optional[Callable[[Any], Any]] = None,
    keep_locals: Optional[Iterable[str]] = None,
) -> CallCapture:
    return get_nopdb().capture_call(
        function, module=module, file=file, unwrap=unwrap,
        transform=transform, keep_locals=keep_locals,
    )


def capture_calls(
    function: Optional[FunctionArg] = None,
    *,
    module: Optional[ModuleType] = None,
    file: Optional[FileArg] = None,
    unwrap: bool = True,
    transform: Optional[Callable[[Any], Any]] = None,
    keep_locals: Optional[Iterable[str]] = None,
    max_calls: Optional[int] = None,
) -> CallListCapture:
    return get_nopdb().capture_calls(
        function, module=module, file=file, unwrap=unwrap,
        transform=transform, keep_locals=keep_locals, max_calls=max_calls,
    )


def breakpoint(
    function: Optional[FunctionArg] = None,
    *,
    module: Optional[ModuleType] = None,
    file: Optional[FileArg] = None,
    line: Optional[Union[int, str]] = None,
    cond: Optional[Union[str, bytes, CodeType]] = None,
    unwrap: bool = True,
) -> Breakpoint:
    return get_nopdb().breakpoint(
        function, module=module, file=file, line=line, cond=cond, unwrap=unwrap
    )


capture_call.__doc__ = NoPdb.capture_call.__doc__
capture_calls.__doc__ = NoPdb.capture_calls.__doc__
breakpoint.__doc__ = NoPdb.breakpoint.__doc__
