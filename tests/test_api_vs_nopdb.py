"""Differential: the same scenario run with NoPdb and with splice gives the
same results (reprs, arguments, locals, return values, stacks, breakpoint
values), except for the documented differences, which are asserted as such.

Needs the ``nopdb`` package in the test virtualenv (skipped, and reported as
skipped, when it is missing) and the real native rewriter.
"""

import io
import sys

import pytest

import splice

# Real NoPdb from PyPI (requirements-test.txt); missing it is a failure, not a skip.
import nopdb  # noqa: E402

LIBS = [nopdb, splice]


@pytest.fixture(autouse=True)
def clean():
    yield  # (conftest checks that no probe leaked)
    assert sys.gettrace() is None


def f(x, y):
    z = x + y
    return 2 * z


def g(x):
    return f(x, x)


class Model:
    def __init__(self, w):
        self.w = w

    def forward(self, x):
        out = x * self.w
        return out


def raises(n):
    data = [n]
    if n:
        raise ValueError(n)
    return data


def gen(n):
    for i in range(n):
        yield i * 10
    return "done"


def myfunc(a, b=2):
    c = a + b
    return c


F_RETURN = f.__code__.co_firstlineno + 2


def both(scenario):
    a, b = (scenario(lib) for lib in LIBS)
    assert a == b
    return b


def stack_of(call):
    return [(fs.filename, fs.lineno, fs.name, fs.line) for fs in call.stack]


def test_capture_call():
    def scenario(lib):
        with lib.capture_call(f) as call:
            g(1)
        return repr(call), dict(call.args), call.locals, call.return_value, call.name, call.file, stack_of(call)

    both(scenario)


def test_capture_calls_and_print_stack():
    def scenario(lib):
        with lib.capture_calls(f) as calls:
            g(1)
            g(42)
        out = io.StringIO()
        calls[1].print_stack(file=out)
        return repr(calls), [c.globals is f.__globals__ for c in calls], out.getvalue()

    both(scenario)


def test_bound_method_and_callable_scopes():
    def scenario(lib):
        a, b = Model(1), Model(2)
        with lib.capture_calls(a.forward) as calls:
            a.forward(1)
            b.forward(2)
            a.forward(3)
        return [c.args["x"] for c in calls], [c.return_value for c in calls]

    both(scenario)


def test_name_and_module_scopes():
    def scenario(lib):
        with lib.capture_calls("myfunc", module=sys.modules[__name__]) as calls:
            myfunc(1)
            myfunc(2, b=5)
        return repr(calls)

    both(scenario)


def test_breakpoints_eval_exec_cond_entry_and_text():
    def scenario(lib):
        with lib.breakpoint(f, line=F_RETURN) as bp:
            before = bp.eval("z")
            bp.exec("z += 1")
            after = bp.eval("z")
            r = g(1)
        with lib.breakpoint(f, line="return 2 * z", cond="z > 10") as bp:
            big = bp.eval("z")
            g(1)
            g(42)
        with lib.breakpoint("myfunc") as bp:
            entry = bp.eval("(a, b)")
            myfunc(7)
        with lib.breakpoint(f, line=F_RETURN) as bp:
            ext = bp.eval("z * k", variables={"k": 3})
            g(2)
        return before, after, r, big, entry, ext

    assert both(scenario) == ([2], [3], 6, [84], [(7, 2)], [12])


def test_nopdb_class_semantics():
    def scenario(lib):
        dbg = lib.NoPdb()
        f_call = dbg.capture_call(f)
        z_val = dbg.breakpoint(f, line=F_RETURN).eval("z")
        g(0)  # not started
        dbg.start()
        g(1)
        with lib.NoPdb():
            inner = lib.capture_calls(f)
            g(2)  # dbg is paused
        g(3)
        dbg.stop()
        g(4)
        return repr(f_call), z_val, repr(inner), lib.get_nopdb().started

    both(scenario)


def test_exceptions_documented_difference():
    def scenario(lib):
        with lib.capture_calls(raises) as calls:
            raises(0)
            try:
                raises(1)
            except ValueError:
                pass
        return [(c.return_value, c.locals, dict(c.args)) for c in calls]

    both(scenario)  # NoPdb records the raising call too, with return_value None
    with splice.capture_calls(raises) as calls:
        try:
            raises(1)
        except ValueError as e:
            err = e
    assert calls[0].exception is err  # new in splice


def test_generators_documented_difference():
    with nopdb.capture_calls(gen) as theirs:
        list(gen(2))
    with splice.capture_calls(gen) as ours:
        list(gen(2))
    # NoPdb: one record per resumption (yielded values); splice: one per call
    assert [c.return_value for c in theirs] == [0, 10, "done"]
    assert [c.return_value for c in ours] == ["done"]


def test_silent_never_firing_in_nopdb_is_an_error_in_splice():
    blank_line = f.__code__.co_firstlineno + 3  # the blank line after f
    with nopdb.breakpoint(f, line=blank_line) as bp:
        r = bp.eval("1")
        g(1)
    assert r == []
    with pytest.raises(splice.LocateError):
        splice.breakpoint(f, line=blank_line)
    with nopdb.breakpoint("no_function_with_this_name") as bp:
        bp.eval("1")
    with pytest.raises(splice.ScopeError):
        splice.breakpoint("no_function_with_this_name")
    with pytest.raises(splice.LocateError):
        splice.breakpoint(f, line="not in f")
