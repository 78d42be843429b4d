"""Snippets in coroutines: what awaits in the coroutine's own frame is
refused (it would suspend the probed coroutine), what only creates an
asynchronous generator is not (an async generator expression runs in its own
frame; typed into the source it awaits nothing)."""

from __future__ import annotations

import pytest

import splice
from splice import SnippetError


class Empty:
    def __aiter__(self):
        return self

    async def __anext__(self):
        raise StopAsyncIteration


async def af(ait):
    out = []
    out.append(1)
    return out


def _run(coro):
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine suspended")


@pytest.mark.parametrize(
    "snippet",
    ["agen = (x async for x in ait)", "agen = (await x for x in [])", "agen = (x async for x in ait if x)"],
)
def test_an_async_generator_expression_is_accepted(snippet):
    with splice.breakpoint(af, line="out.append(1)") as bp:
        bp.exec(snippet)
        got = bp.eval("type(agen).__name__")
        assert _run(af(Empty())) == [1]
    assert got == ["async_generator"]


@pytest.mark.parametrize(
    "snippet, words",
    [
        ("r = [x async for x in ait]", "async comprehension"),
        ("r = {x async for x in ait}", "async comprehension"),
        ("r = (x for x in await g())", "await"),
        ("await g()", "await"),
    ],
)
def test_what_awaits_in_the_coroutines_frame_is_refused(snippet, words):
    with splice.breakpoint(af, line="out.append(1)") as bp:
        with pytest.raises(SnippetError, match=words):
            bp.exec(snippet)
        assert _run(af(Empty())) == [1]
