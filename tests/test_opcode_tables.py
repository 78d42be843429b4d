"""splice's opcode table for the running interpreter equals CPython's own
`opcode` and `dis` modules, so a wrong entry fails here, not in a user's process."""

import dis
import opcode
import sys

import pytest

from splice._native import testing

MINOR = sys.version_info[1]
TABLE = {op: (name, caches, kind) for op, name, caches, kind in testing.opcode_table(MINOR)}


def _cache_entries(name: str) -> int:
    entries = opcode._inline_cache_entries
    if hasattr(entries, "get"):  # 3.13+: keyed by name (3.15: a frozendict)
        return entries.get(name, 0)
    return entries[opcode.opmap[name]]


def test_every_opcode_is_in_the_table_with_its_number():
    real = {op: name for name, op in opcode.opmap.items() if op < 256}
    mine = {op: row[0] for op, row in TABLE.items()}
    assert mine == real


@pytest.mark.parametrize("name", sorted(n for n, o in opcode.opmap.items() if o < 256))
def test_cache_entries_and_operand_kind(name):
    op = opcode.opmap[name]
    _, caches, kind = TABLE[op]
    assert caches == _cache_entries(name)
    expected = "None" if op < opcode.HAVE_ARGUMENT else None
    if op in opcode.hasconst:
        expected = "Const"
    elif op in opcode.hasname:
        expected = "Name"
    elif op in opcode.haslocal and name == "LOAD_DEREF":
        expected = "Free"  # 3.14+ lists it in haslocal; it reads a cell
    elif op in opcode.haslocal:
        expected = "Local"
    elif op in opcode.hasfree:
        expected = "Free"
    elif op in opcode.hasjrel:
        expected = "Jump"
    if expected is not None:
        assert kind.startswith(expected), (name, kind)
    if kind.startswith("Jump"):
        assert op in opcode.hasjrel, (name, kind)


@pytest.mark.parametrize("name", sorted(n for n, o in opcode.opmap.items() if o < 256))
def test_stack_effect_matches_dis(name):
    op = opcode.opmap[name]
    args = [0] if op < opcode.HAVE_ARGUMENT else list(range(0, 260)) + [1000, 65535, 2**20]
    for arg in args:
        for jump in (None, True, False):
            try:
                want = dis.stack_effect(op, arg if op >= opcode.HAVE_ARGUMENT else None, jump=jump)
            except ValueError:
                want = None
            assert testing.stack_effect(op, arg, jump) == want, (name, arg, jump)
