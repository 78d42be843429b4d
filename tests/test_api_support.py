"""Helpers for the tests/test_api_*.py suites (and a test of the helpers).

- :func:`fake_instrument` stands in for ``splice._native.instrument`` in the
  lifecycle tests: it returns a fresh ``code.replace()`` copy and records the
  probes, so the patcher can be tested without any bytecode rewriting.
- the ``instrumented`` fixture: the behaviour suites use the real native
  rewriter (and fail on a build without it).
"""

from __future__ import annotations

import types

import pytest

from splice import patcher


class FakeInstrument:
    """Records calls; returns ``code.replace()`` copies (new objects)."""

    def __init__(self):
        self.calls: list[tuple[types.CodeType, list[dict]]] = []
        self.fail_for: set[str] = set()

    def __call__(self, code, probes):
        if code.co_name in self.fail_for:
            from splice.errors import RewriteError

            raise RewriteError(f"fake failure for {code.co_name}")
        self.calls.append((code, probes))
        new = code.replace(co_name=code.co_name)
        assert new is not code
        return new


def fake_instrument(monkeypatch) -> FakeInstrument:
    fake = FakeInstrument()
    monkeypatch.setattr(patcher, "instrument", fake)
    return fake


@pytest.fixture
def instrumented():
    """The behaviour suites run against ``splice._native.instrument``; they
    fail (RewriteError) on a build without it."""
    from splice import _native

    return "native" if hasattr(_native, "instrument") else "missing"


def test_fake_instrument_returns_a_new_code_object(monkeypatch):
    fake = fake_instrument(monkeypatch)

    def f():
        return 1

    new = patcher.instrument(f.__code__, [])
    assert new is not f.__code__ and new == f.__code__
    assert fake.calls == [(f.__code__, [])]
