"""``Breakpoint.debug()`` sessions that step, continue with a pdb breakpoint
of their own, evaluate the probed function at the prompt or are cut short:
one stop per run of a line, nothing traced or kept after the block.
Found by driving pdb through its commands on 3.11-3.15."""

import bdb
import gc
import io
import pdb
import re
import signal
import sys
import weakref

import pytest

import splice


def loop(n):
    tot = 0
    for i in range(n):
        tot += i
    return tot


def f(x):
    y = x * 2
    z = y + x
    return z


def lineno(fn, text):
    import inspect

    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def stops(out: str) -> list[int]:
    """The lines pdb stopped at, in order (its '> file(N)func()' lines)."""
    return [int(m) for m in re.findall(r"^> .*?\((\d+)\)\w+\(\)$", out.replace("(Pdb) ", "\n"), re.M)]


@pytest.fixture(autouse=True)
def _no_trace_left():
    before = sys.gettrace()
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)  # (pdb installs its own at a stop)
    bdb.Breakpoint.clearBreakpoints()  # (pdb's breakpoints are the process's)
    assert sys.gettrace() is before


def test_stepping_onto_the_breakpoint_line_stops_there_once():
    # Before: the probe, which runs after the line's event, opened a second
    # debugger nested in the first (each such line shown twice), and that
    # one, saving the first as the previous trace function, left it
    # installed after the block.
    body, head = lineno(loop, "tot += i"), lineno(loop, "for i in")
    out = io.StringIO()
    with splice.breakpoint(loop, line="tot += i") as bp:
        bp.debug(stdin=io.StringIO("n\nn\nn\nn\nc\nc\nc\n"), stdout=out, readrc=False)
        assert loop(3) == 3
    assert stops(out.getvalue()) == [body, head, body, head, body]
    assert sys.gettrace() is None


def test_continuing_stops_at_every_hit():
    body = lineno(loop, "tot += i")
    out = io.StringIO()
    with splice.breakpoint(loop, line="tot += i") as bp:
        bp.debug(stdin=io.StringIO("c\nc\nc\nc\n"), stdout=out, readrc=False)
        loop(3)
    assert stops(out.getvalue()) == [body, body, body]


def test_continue_right_after_a_step_onto_the_line_does_not_stop_there_again():
    body = lineno(loop, "tot += i")
    out = io.StringIO()
    with splice.breakpoint(loop, line="tot += i") as bp:
        bp.debug(stdin=io.StringIO("n\nn\nc\nc\nc\n"), stdout=out, readrc=False)
        loop(3)
    # i=0 (the breakpoint), the for line, i=1 (reached by stepping: `c`
    # there continues), i=2 (the breakpoint again)
    assert stops(out.getvalue()) == [body, lineno(loop, "for i in"), body, body]


def test_a_pdb_breakpoint_set_at_the_stop_is_honoured_and_ended_with_the_block():
    later = lineno(f, "return z")
    out = io.StringIO()
    with splice.breakpoint(f, line="y = x * 2") as bp:
        # (before: the stop runs with tracing off, and `c` looked at that)
        bp.debug(stdin=io.StringIO(f"b {later}\nc\np z\nc\n"), stdout=out, readrc=False)
        assert f(1) == 3
    assert stops(out.getvalue())[-1] == later
    assert "3" in out.getvalue().split(f"({later})")[-1]
    # (before: after a step, the pdb breakpoint kept the debugger tracing
    # past the block, and a plain call stopped in it)
    assert sys.gettrace() is None
    assert f(2) == 6


@pytest.mark.parametrize("commands", ["p x\nc\n", "q\n", "", "b {later}\nc\nc\n"])
def test_the_frames_of_a_hit_are_freed_after_the_debugger_ends(commands):
    """After continue, quit, the end of input or a pdb breakpoint of its
    own."""

    class Payload:
        pass

    def caller() -> "weakref.ref[Payload]":
        payload = Payload()
        f(1)
        return weakref.ref(payload)

    later = lineno(f, "return z")
    with splice.breakpoint(f, line="y = x * 2") as bp:
        bp.debug(stdin=io.StringIO(commands.format(later=later)), stdout=io.StringIO(), readrc=False)
        ref = caller()
    del bp
    # pdb itself keeps its last instance alive (its SIGINT handler, still
    # installed after a continue; 3.14's Pdb._last_pdb_instance): the
    # frames of the hit must not hang off it
    if commands.startswith("p x"):
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    gc.collect()
    alive = ref()
    if alive is not None:  # say what holds it
        held = [type(r).__name__ for r in gc.get_referrers(alive)]
        chain = [
            (type(r).__name__, getattr(getattr(r, "f_code", None), "co_name", ""))
            for h in gc.get_referrers(alive)
            for r in gc.get_referrers(h)
        ]
        pytest.fail(f"the caller's local is alive: {held} <- {chain[:12]}")


def test_the_probed_function_called_at_the_prompt_runs_through():
    out = io.StringIO()
    with splice.breakpoint(f, line="y = x * 2") as bp:
        bp.debug(stdin=io.StringIO("p f(5)\nc\n"), stdout=out, readrc=False)
        f(1)
    assert stops(out.getvalue()) == [lineno(f, "y = x * 2")]
    assert "15" in out.getvalue()


def test_an_exception_leaving_the_debugger_after_a_step_restores_tracing():
    class FailsOnSecondStop(pdb.Pdb):
        n = 0

        def user_line(self, frame):
            FailsOnSecondStop.n += 1
            if FailsOnSecondStop.n == 2:
                raise RuntimeError("the debugger failed")
            self.set_step()

    with splice.breakpoint(f, line="y = x * 2") as bp:
        bp.debug(FailsOnSecondStop, stdout=io.StringIO())
        with pytest.raises(RuntimeError, match="the debugger failed"):
            f(1)
    frame = sys._getframe()
    assert frame.f_trace is None and sys.gettrace() is None


def test_a_continued_step_leaves_no_trace_function_on_the_caller():
    def caller():
        a = f(1)
        return a, sys._getframe()

    with splice.breakpoint(f, line="y = x * 2") as bp:
        bp.debug(stdin=io.StringIO("n\nn\nn\nn\nc\n"), stdout=io.StringIO(), readrc=False)
        value, frame = caller()
    assert value == 3 and frame.f_trace is None


@pytest.mark.skipif(sys.version_info < (3, 13), reason="bdb traces opcodes on 3.13+ only")
@pytest.mark.parametrize("commands", ["q\n", ""], ids=["quit", "end-of-input"])
def test_quitting_leaves_no_frame_tracing_opcodes(commands):
    # 3.13+: bdb turns on f_trace_opcodes on every frame of the stack when
    # it starts, and `q` (or the end of its input) left them on: each
    # caller's code object stayed instruction-traced for the rest of the
    # process (a loop in it ran 2x slower after the block)
    def caller():
        opcodes = sys._getframe().f_trace_opcodes
        a = f(1)
        return a, opcodes, sys._getframe().f_trace_opcodes

    with splice.breakpoint(f, line="y = x * 2") as bp:
        bp.debug(stdin=io.StringIO(commands), stdout=io.StringIO(), readrc=False)
        value, before, after = caller()
    assert value == 3 and before is False and after is False


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13+ write frame locals through")
def test_a_debugger_that_never_reads_the_locals_writes_back_no_old_snapshot():
    # 3.11/3.12: the write-back after the stop wrote an older snapshot of
    # the locals (a callback's view made it before the exec's assignment)
    class Continues(bdb.Bdb):
        def user_line(self, frame):
            self.set_continue()

    def g(x):
        y = x + 1
        return y * 2

    with splice.breakpoint(g, line="return y * 2") as bp:
        bp.callback(lambda view: view.locals)
        bp.exec("y = 100")
        bp.debug(Continues)
        assert g(1) == 200


@pytest.mark.skipif(sys.version_info < (3, 14), reason="pdb backends are 3.14+")
def test_the_monitoring_backend_is_refused_when_scheduled():
    with splice.breakpoint(f, line="y = x * 2") as bp:
        with pytest.raises(TypeError, match="'monitoring' backend is not supported"):
            bp.debug(backend="monitoring")
        assert f(1) == 3


def evens(n):
    for i in range(n):
        y = i
    return y


def test_a_step_onto_a_line_whose_condition_is_false_loses_no_later_hit():
    # stepping onto the line at i=1 (cond false: its hook does not run)
    # left a record that skipped the i=2 hit at the same frame and line
    out = io.StringIO()
    cmds = "p ('stop', i)\nn\nn\np ('stop', i)\nc\np ('stop', i)\nc\nc\n"
    with splice.breakpoint(evens, line="y = i", cond="i % 2 == 0") as bp:
        bp.debug(stdin=io.StringIO(cmds), stdout=out, readrc=False)
        evens(4)
    assert re.findall(r"\('stop', (\d)\)", out.getvalue()) == ["0", "1", "2"]


def two_lines(x):
    a = x + 1
    b = a * 2
    return b


def test_stepping_from_one_debug_breakpoint_onto_another_stops_once():
    out = io.StringIO()
    first, second = lineno(two_lines, "a = x + 1"), lineno(two_lines, "b = a * 2")
    with splice.breakpoint(two_lines, line="a = x + 1") as b1, splice.breakpoint(two_lines, line="b = a * 2") as b2:
        b1.debug(stdin=io.StringIO("n\nn\nc\n"), stdout=out, readrc=False)
        b2.debug(stdin=io.StringIO("c\n"), stdout=io.StringIO(), readrc=False)
        assert two_lines(1) == 4
    assert stops(out.getvalue()) == [first, second, second + 1]
