"""Decode + re-assemble without changes is byte-identical to CPython's output
(the same check as `python -m splice doctor`, on a sample), and the padded
copies that `make torture` uses behave exactly like the originals."""

import asyncio
import dis
import subprocess
import sys

import pytest

from splice import _native
from splice._native import testing
from splice.errors import RewriteError


def test_doctor_on_a_sample_of_the_stdlib():
    out = subprocess.run(
        [sys.executable, "-m", "splice", "doctor", "--limit", "20000"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    last = out.stdout.strip().splitlines()[-1]
    print(last)
    assert last.startswith("doctor: 20000 code objects, 0 mismatches, 0 errors"), out.stdout[-3000:]
    assert out.returncode == 0


def _nops(code):
    return sum(1 for i in dis.get_instructions(code) if i.opname == "NOP")


def _pad(fn):
    fn.__code__ = testing.pad_code(fn.__code__)
    return fn


def test_padding_inserts_nops_and_keeps_behaviour():
    def f(xs):
        total = 0
        for x in xs:
            if x % 3 == 0:
                continue
            try:
                total += 10 // (x - 5)
            except ZeroDivisionError:
                total -= 1000
            finally:
                total += 1
        return total

    expected = f(range(20))
    before = _nops(f.__code__)
    _pad(f)
    assert _nops(f.__code__) > before + 5
    assert f(range(20)) == expected


def test_padded_generator_and_coroutine():
    def gen(n):
        for i in range(n):
            got = yield i
            if got:
                yield from range(got)

    async def coro(n):
        await asyncio.sleep(0)
        return n * 2

    def drive(g):
        out = [next(g)]
        try:
            out.append(g.send(2))
            while True:
                out.append(next(g))
        except StopIteration:
            return out

    expected = drive(gen(4))
    _pad(gen)
    _pad(coro)
    assert drive(gen(4)) == expected
    assert asyncio.run(coro(21)) == 42


def test_padded_exception_keeps_traceback_line():
    def boom(x):
        y = x + 1
        raise ValueError(y)

    def line_of_raise(fn):
        try:
            fn(1)
        except ValueError as e:
            return e.__traceback__.tb_next.tb_lineno

    want = line_of_raise(boom)
    _pad(boom)
    assert line_of_raise(boom) == want


def test_padding_preserves_settrace_line_events():
    def f(n):
        a = 0
        for i in range(n):
            a += i
        return a

    def lines(fn):
        seen = []

        def tracer(frame, event, arg):
            if frame.f_code is fn.__code__ and event == "line":
                seen.append(frame.f_lineno - fn.__code__.co_firstlineno)
            return tracer

        sys.settrace(tracer)
        try:
            fn(3)
        finally:
            sys.settrace(None)
        return seen

    want = lines(f)
    _pad(f)
    assert lines(f) == want


def test_disassembly_is_stable_text():
    def f(a):
        return a + 1

    text = _native.disassemble(f.__code__)
    assert "RESUME" in text and "(a)" in text
    padded = testing.disassemble_padded(f.__code__)
    assert padded.count("NOP") > text.count("NOP")


def _sample(x):
    total = 0
    for i in range(x):
        total += i * 2
    return total


def test_verifier_accepts_compiler_output():
    testing.verify_code(_sample.__code__)


def test_verifier_rejects_too_small_stack():
    bad = _sample.__code__.replace(co_stacksize=1)
    with pytest.raises(RewriteError, match="co_stacksize is 1 but the stack reaches depth"):
        testing.verify_code(bad)


def _caches(name):
    import opcode

    entries = opcode._inline_cache_entries
    return entries.get(name, 0) if hasattr(entries, "get") else entries[opcode.opmap[name]]


def test_verifier_rejects_jump_into_an_inline_cache():
    code = _sample.__code__
    raw = bytearray(code.co_code)
    instrs = list(dis.get_instructions(code))
    jump = next(i for i in instrs if i.opname == "JUMP_BACKWARD")
    cached = next(i for i in instrs if i.offset < jump.offset and _caches(i.opname) > 0)
    cache_unit = cached.offset + 2  # first inline cache entry of `cached`
    jump_end = jump.offset + 2 + 2 * _caches(jump.opname)
    raw[jump.offset + 1] = (jump_end - cache_unit) // 2
    with pytest.raises(RewriteError, match="not an instruction boundary"):
        testing.verify_code(code.replace(co_code=bytes(raw)))


def test_verifier_rejects_stack_underflow():
    code = _sample.__code__
    raw = bytearray(code.co_code)
    first_store = next(i for i in dis.get_instructions(code) if i.opname == "STORE_FAST")
    raw[first_store.offset - 2] = dis.opmap["NOP"]  # drop the value being stored
    raw[first_store.offset - 1] = 0
    with pytest.raises(RewriteError, match="underflow|inconsistent"):
        testing.verify_code(code.replace(co_code=bytes(raw)))


def _deletes(x, flag):
    z = x + 1
    if flag:
        del z
    return z


def _handler_reads(x):
    try:
        y = 1 / x
    except ZeroDivisionError:
        return x
    return y


def _unchecked(code, opname):
    """``code`` with its first ``opname`` made a plain LOAD_FAST (what
    CPython 3.12+ does not check: it pushes NULL for an unbound local)."""
    raw = bytearray(code.co_code)
    ins = next(i for i in dis.get_instructions(code) if i.opname == opname)
    raw[ins.offset] = dis.opmap["LOAD_FAST"]
    return code.replace(co_code=bytes(raw))


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11's LOAD_FAST checks for an unbound local itself")
def test_verifier_rejects_an_unchecked_load_of_a_maybe_unbound_local():
    # CPython compiles `return z` after a conditional `del z` as a checked
    # load; the same load unchecked would crash when flag is true
    testing.verify_code(_deletes.__code__)
    assert any(i.opname == "LOAD_FAST_CHECK" for i in dis.get_instructions(_deletes))
    with pytest.raises(RewriteError, match=r"loads local 2 without a check, but it may be unbound there"):
        testing.verify_code(_unchecked(_deletes.__code__, "LOAD_FAST_CHECK"))


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11's LOAD_FAST checks for an unbound local itself")
def test_verifier_follows_exception_edges_for_unbound_locals():
    # y is bound only after the division: the handler starts with y unbound,
    # so a load of y there would have to check (found through the handler
    # edge of the division's instruction, with the state before it)
    testing.verify_code(_handler_reads.__code__)
    code = _handler_reads.__code__
    raw = bytearray(code.co_code)
    ins = [i for i in dis.get_instructions(code)]
    # make the handler's `return x` read y instead (same opcode, other local)
    load_x = [i for i in ins if i.opname.startswith("LOAD_FAST") and i.argval == "x"][-1]
    y = code.co_varnames.index("y")
    raw[load_x.offset] = dis.opmap["LOAD_FAST"]
    raw[load_x.offset + 1] = y
    with pytest.raises(RewriteError, match=rf"loads local {y} without a check"):
        testing.verify_code(code.replace(co_code=bytes(raw)))
