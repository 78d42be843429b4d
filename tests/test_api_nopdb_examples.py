"""Every call-capture and breakpoint example of NoPdb's README and
documentation (docs/getting-started.rst, the API docstrings), run with
``import splice as nopdb``.

The README examples are typed at the interactive prompt, so they are run here
the same way: each statement compiled alone with the file name ``<stdin>``
and no source text. The getting-started examples are doctests; they are run
as "cells" whose text is registered in :mod:`linecache` (as doctest does).

These tests run the real native rewriter (``splice._native.instrument``).
"""

import io
import itertools
import linecache
import sys
import textwrap
from collections import OrderedDict

import pytest

import splice
import splice as nopdb

_cells = itertools.count()


@pytest.fixture
def ns():
    space = {"nopdb": nopdb, "__name__": "__main__"}
    yield space  # (conftest checks that no probe leaked)
    assert not splice.get_nopdb().started


def stdin(src, ns):
    """Run one interactive statement (no source text available, as at >>>)."""
    exec(compile(textwrap.dedent(src), "<stdin>", "exec"), ns)


def cell(src, ns):
    """Run a notebook/doctest cell whose text linecache knows."""
    name = f"<doc-cell-{next(_cells)}>"
    text = textwrap.dedent(src)
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    exec(compile(text, name, "exec"), ns)
    return name


README_F = """\
def f(x, y):
    z = x + y
    return 2 * z
"""
README_G = """\
def g(x):
    return f(x, x)
"""


def define_f_g_at_the_prompt(ns):
    stdin(README_F, ns)
    stdin(README_G, ns)


# --- README: capturing function calls ------------------------------------------


def test_readme_capture_call(ns):
    define_f_g_at_the_prompt(ns)
    stdin(
        """\
        with nopdb.capture_call(f) as call:
            g(1)
        """,
        ns,
    )
    call = ns["call"]
    assert repr(call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    out = io.StringIO()
    call.print_stack(file=out)
    assert out.getvalue().splitlines()[-3:] == [
        '  File "<stdin>", line 2, in <module>',
        '  File "<stdin>", line 2, in g',
        '  File "<stdin>", line 1, in f',
    ]
    assert call.args["x"] == 1
    assert call.return_value == 4
    assert call.locals == {"y": 1, "x": 1, "z": 2}


def test_readme_capture_calls_generic_form(ns):
    define_f_g_at_the_prompt(ns)
    ns["fn"] = ns["f"]
    ns["some_code_that_calls_fn"] = lambda: (ns["g"](1), ns["g"](2))
    out = io.StringIO()
    ns["print"] = lambda *a: print(*a, file=out)
    stdin(
        """\
        with nopdb.capture_calls(fn) as calls:
            some_code_that_calls_fn()

            print(calls)  # see details about how fn() was called
        """,
        ns,
    )
    assert out.getvalue() == (
        "[CallInfo(name='f', args=OrderedDict(x=1, y=1), return_value=4), "
        "CallInfo(name='f', args=OrderedDict(x=2, y=2), return_value=8)]\n"
    )


# --- README: setting breakpoints --------------------------------------------------


def test_readme_breakpoint_eval_and_print(ns, capsys):
    define_f_g_at_the_prompt(ns)
    ns["some_code_that_calls_f"] = lambda: ns["g"](5)
    stdin(
        """\
        # Break at line 3 of the file or notebook cell where f is defined
        with nopdb.breakpoint(function=f, line=3) as bp:
            x = bp.eval("x")             # Schedule an expression
            type_y = bp.eval("type(y)")  # Another one
            bp.exec("print(y)")          # Schedule a print statement

            some_code_that_calls_f()
        """,
        ns,
    )
    assert ns["x"] == [5] and ns["type_y"] == [int]
    assert capsys.readouterr().out == "5\n"


def test_readme_break_on_a_line_text_in_a_file(ns, tmp_path, monkeypatch):
    # NoPdb's README uses file="pathlib.py", line="return obj"; pathlib no longer
    # has that line, which NoPdb silently ignores and splice reports:
    import pathlib  # noqa: F401

    with pytest.raises(splice.LocateError, match="no statement whose text is 'return obj'"):
        nopdb.breakpoint(file="pathlib.py", line="return obj")
    # the same form on a file that has the line
    (tmp_path / "objmod.py").write_text(
        "def make(kind):\n    obj = kind()\n    return obj\n\ndef other():\n    obj = 1\n    return obj\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import objmod

    with nopdb.breakpoint(file="objmod.py", line="return obj") as bp:
        seen = bp.eval("obj")
        objmod.make(list)
        objmod.other()
    assert seen == [[], 1]
    sys.modules.pop("objmod", None)


def test_readme_break_when_a_named_function_is_called(ns):
    cell(
        """\
        def myfunc(a, b=2):
            return a + b
        """,
        ns,
    )
    with nopdb.breakpoint(function="myfunc") as bp:
        args = bp.eval("(a, b)")
        ns["myfunc"](1)
        ns["myfunc"](3, b=4)
    assert args == [(1, 2), (3, 4)]


def test_readme_modify_values(ns):
    define_f_g_at_the_prompt(ns)
    ns["some_code_that_calls_f"] = lambda: ns["f"](2, 0)
    stdin(
        """\
        with nopdb.breakpoint(function=f, line=3) as bp:
            # Get the value of x, then increment it, then get the new value
            x_before = bp.eval('x')
            bp.exec('x += 1')
            x_after = bp.eval('x')

            some_code_that_calls_f()
        """,
        ns,
    )
    assert ns["x_before"] == [2] and ns["x_after"] == [3]


# --- docs/getting-started.rst ----------------------------------------------------

DOC_F_G = """\
def f(x, y):
    z = x + y
    return 2 * z
def g(x):
    return f(x, x)
"""


@pytest.fixture
def doc(ns):
    cell(DOC_F_G, ns)
    return ns


def test_doc_capture_call(doc):
    f, g = doc["f"], doc["g"]
    with nopdb.capture_call(f) as call:
        assert g(1) == 4
    assert repr(call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    assert call.args["x"] == 1
    assert call.return_value == 4
    assert call.locals == {"x": 1, "y": 1, "z": 2}
    out = io.StringIO()
    call.print_stack(file=out)
    lines = out.getvalue().splitlines()
    assert lines[-4:] == [
        '  File "%s", line 5, in g' % g.__code__.co_filename,
        "    return f(x, x)",
        '  File "%s", line 1, in f' % f.__code__.co_filename,
        "    def f(x, y):",
    ]


def test_doc_capture_calls(doc):
    f, g = doc["f"], doc["g"]
    with nopdb.capture_calls(f) as calls:
        assert g(1) == 4
        assert g(42) == 168
    assert repr(calls) == (
        "[CallInfo(name='f', args=OrderedDict(x=1, y=1), return_value=4), "
        "CallInfo(name='f', args=OrderedDict(x=42, y=42), return_value=168)]"
    )


def test_doc_scopes_name_module_file_and_bound_method(doc, tmp_path, monkeypatch):
    f, g = doc["f"], doc["g"]
    with nopdb.capture_calls("f", file=f.__code__.co_filename) as calls:
        g(1)
    assert [c.args for c in calls] == [OrderedDict(x=1, y=1)]
    (tmp_path / "mymodule.py").write_text(
        "class A:\n    def f(self, v):\n        return v + 1\n\ndef f(v):\n    return A().f(v)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import mymodule

    with nopdb.capture_calls("f", module=mymodule) as calls:
        mymodule.f(1)
    assert [c.name for c in calls] == ["f", "f"]  # A.f returns first, then f
    with nopdb.capture_calls("f", file="mymodule.py") as calls2:
        mymodule.f(2)
    assert [c.return_value for c in calls2] == [3, 3]
    a, b = mymodule.A(), mymodule.A()
    with nopdb.capture_calls(a.f) as calls3:
        a.f(10)
        b.f(20)
        a.f(30)
    assert [c.args["v"] for c in calls3] == [10, 30]
    assert all(c.args["self"] is a for c in calls3)
    sys.modules.pop("mymodule", None)


def test_doc_breakpoint_eval(doc):
    f, g = doc["f"], doc["g"]
    with nopdb.breakpoint(f, line=3) as bp:
        z_values = bp.eval("z")  # Get the value of z whenever the breakpoint is hit
        assert g(1) == 4
        assert g(42) == 168
    assert z_values == [2, 84]


def test_doc_breakpoint_by_line_text_entry_and_cond(doc):
    f, g = doc["f"], doc["g"]
    with nopdb.breakpoint(f, line="return 2 * z") as bp:
        zs = bp.eval("z")
        g(3)
    assert zs == [6]
    with nopdb.breakpoint(f) as bp:  # every time f is called
        xs = bp.eval("x")
        g(3)
        g(4)
    assert xs == [3, 4]
    with nopdb.breakpoint(f, line=3, cond="z > 10") as bp:
        zs = bp.eval("z")
        g(1)
        g(42)
    assert zs == [84]


def test_doc_breakpoint_modify(doc):
    f, g = doc["f"], doc["g"]
    with nopdb.breakpoint(f, line=3) as bp:
        # Get the value of z, then increment it, then get the new value
        z_before = bp.eval("z")
        bp.exec("z += 1")
        z_after = bp.eval("z")

        assert g(1) == 6  # This would normally return 4
    assert z_before == [2]
    assert z_after == [3]
    assert g(1) == 4


def test_doc_nopdb_class_as_context_manager(doc):
    f, g = doc["f"], doc["g"]
    with nopdb.NoPdb():
        f_call = nopdb.capture_call(f)
        g_call = nopdb.capture_call(g)
        z_val = nopdb.breakpoint(f, line=3).eval("z")

        g(1)
    assert repr(f_call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    assert repr(g_call) == "CallCapture(name='g', args=OrderedDict(x=1), return_value=4)"
    assert z_val == [2]


def test_doc_nopdb_class_start_stop(doc):
    f, g = doc["f"], doc["g"]
    dbg = nopdb.NoPdb()
    f_call = dbg.capture_call(f)
    g_call = dbg.capture_call(g)
    z_val = dbg.breakpoint(f, line=3).eval("z")

    dbg.start()
    g(1)
    dbg.stop()
    assert repr(f_call) == "CallCapture(name='f', args=OrderedDict(x=1, y=1), return_value=4)"
    assert repr(g_call) == "CallCapture(name='g', args=OrderedDict(x=1), return_value=4)"
    assert z_val == [2]
    g(2)  # stopped: nothing more is recorded
    assert z_val == [2] and f_call.args["x"] == 1


def test_doc_only_one_nopdb_active(doc):
    f, g = doc["f"], doc["g"]
    outer = nopdb.NoPdb()
    inner = nopdb.NoPdb()
    with outer:
        a = nopdb.capture_calls(f)
        with inner:
            b = nopdb.capture_calls(f)
            g(1)
        g(2)
    assert [c.args["x"] for c in a] == [2]
    assert [c.args["x"] for c in b] == [1]


def test_api_docstring_example(doc, capsys):
    cell(
        """\
        def h(x):
            y = [x] * 2
            return y
        """,
        doc,
    )
    h = doc["h"]
    # Stop at the line in f that says "return y"
    with nopdb.breakpoint(function=h, line="return y") as bp:
        x = bp.eval("x")             # Schedule an expression
        type_y = bp.eval("type(y)")  # Another one
        bp.exec("print(y)")          # Schedule a print statement

        h(7)

    assert (x, type_y) == ([7], [list])
    assert capsys.readouterr().out == "[7, 7]\n"


def test_tutorial_style_capture_of_one_instance_and_exec_on_all(doc):
    """The shape of NoPdb's PyTorch tutorial, without torch: a breakpoint on
    the class's method changes a local in every instance, a capture on one
    bound method records only that instance."""
    cell(
        """\
        class Attention:
            def __init__(self, scale):
                self.scale = scale

            def forward(self, x):
                attn = x * self.scale
                attn = attn + 1
                return attn

        class Model:
            def __init__(self):
                self.blocks = [Attention(s) for s in (1, 2, 3)]

            def __call__(self, x):
                for b in self.blocks:
                    x = b.forward(x)
                return x
        """,
        doc,
    )
    Attention, Model = doc["Attention"], doc["Model"]
    model = Model()
    baseline = model(1)
    with nopdb.breakpoint(function=Attention.forward, line="attn = attn + 1") as bp, \
         nopdb.capture_call(model.blocks[1].forward) as attn_call:
        bp.exec("attn = attn * 3")
        changed = model(1)
    assert baseline == ((1 * 1 + 1) * 2 + 1) * 3 + 1
    assert changed == ((((1 * 1 * 3) + 1) * 2 * 3 + 1) * 3 * 3) + 1
    assert attn_call.args["self"] is model.blocks[1]
    assert attn_call.locals["attn"] == 4 * 2 * 3 + 1
    assert model(1) == baseline
