"""Shared pytest setup and the helpers every suite gets as fixtures.

Every test module runs against the splice built for the running interpreter
(the report header says which). Helpers are fixtures here, never imports of
another test module:

- ``no_leaked_probes`` (autouse): after every test, splice has no probe
  active and no code object replaced (``PATCHER.is_idle()``), and the test
  left nothing enabled on the thread's default NoPdb;
- ``fake_instrument``: ``splice.patcher.instrument`` replaced by a fake that
  returns a fresh ``code.replace()`` copy and records the probe specs, so
  the patcher's lifecycle can be tested without any bytecode rewriting;
- ``probe_at``: a readable form of a native probe spec (``"capture"``,
  ``"entry"`` or its list of lines), for asserting what the patcher planned.
"""

from __future__ import annotations

import sys
import types
from typing import Union

import pytest

from splice import patcher
from splice._native import CaptureProbe, LineProbe
from splice.errors import RewriteError


def pytest_report_header(config):
    return f"splice tests on CPython {sys.version.split()[0]} ({sys.executable})"


@pytest.fixture(autouse=True)
def no_leaked_probes():
    """Fail the test that leaves a probe installed (or a code object
    replaced), or a breakpoint or capture enabled on the thread's default
    NoPdb: the next block started on that NoPdb, in any later test, would
    install it too (a test that makes one without ``with`` disables it)."""
    import splice

    before = set(splice.get_nopdb()._items)
    yield
    assert patcher.PATCHER.is_idle(), "a probe leaked"
    left = [f"{o!r} (enabled={o.enabled})" for k, o in splice.get_nopdb()._items.items() if k not in before]
    assert not left, f"left registered on the default NoPdb: {left}"


class FakeInstrument:
    """Stands in for ``_native.instrument``: records calls, returns
    ``code.replace()`` copies (new objects), fails for names in ``fail_for``."""

    def __init__(self) -> None:
        self.calls: list[tuple[types.CodeType, list[Union[LineProbe, CaptureProbe]]]] = []
        self.fail_for: set[str] = set()

    def __call__(self, code, probes):
        if code.co_name in self.fail_for:
            raise RewriteError(f"fake failure for {code.co_name}")
        for p in probes:  # what the patcher hands over must be native specs
            assert isinstance(p, (LineProbe, CaptureProbe)), p
        self.calls.append((code, list(probes)))
        new = code.replace(co_name=code.co_name)
        assert new is not code
        return new


@pytest.fixture
def fake_instrument(monkeypatch) -> FakeInstrument:
    """``splice.patcher.instrument`` replaced by a :class:`FakeInstrument`."""
    fake = FakeInstrument()
    monkeypatch.setattr(patcher, "instrument", fake)
    return fake


def _probe_at(p: Union[LineProbe, CaptureProbe]) -> Union[str, list[int]]:
    if isinstance(p, CaptureProbe):
        return "capture"
    return "entry" if p.lines is None else p.lines


@pytest.fixture
def probe_at():
    """``probe_at(spec)``: ``"capture"``, ``"entry"`` or the spec's lines."""
    return _probe_at
