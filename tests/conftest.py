"""Shared pytest setup: every test module runs against the splice built for
the running interpreter, and says which interpreter that is."""

import sys


def pytest_report_header(config):
    return f"splice tests on CPython {sys.version.split()[0]} ({sys.executable})"
