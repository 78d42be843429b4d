"""Template generation: golden skeletons for several scopes, name kinds that
mirror the target, and the snippets that are rejected (with their messages)."""

import ast
import dis
import sys
import textwrap
from types import CodeType
from typing import Any

import pytest

import splice
from splice import SnippetError, _native, template
from splice.snippets import parse_expression, parse_statements, rename_variables
from splice.template import ScopeInfo, build_template, skeleton_source

MINOR = sys.version_info[1]


# --- targets ------------------------------------------------------------------


class Attention:
    def __init__(self):
        self.__scale = 2

    def forward(self, x, *args, mask=None, **kw):
        attn = x * self.__scale
        attn = attn + 1
        return attn


def make_closure():
    k = 3
    hits = []

    def inner(a, /, b):
        nonlocal k
        c = a + b + k
        hits.append(c)
        return c

    return inner


class Base:
    def f(self):
        return 1


class Child(Base):
    def f(self, x):
        y = super().f() + x
        return y


def with_cells(a, b):
    total = a

    def add(v):
        return v + total + b

    w = add(1)
    return w


counter = 0


def uses_global():
    global counter
    counter += 1
    return counter


def deletes_arg(x, y):
    z = x + y
    del x
    return z


class Outer:
    def method(self):
        def helper(q):
            r = q * 2
            return r

        return helper


def body_instructions(code):
    """Instructions of a template body (prologue and trailing return left out)."""
    out = []
    started = False
    for ins in dis.get_instructions(code):
        if ins.opname == "RESUME":
            started = True
            continue
        if started:
            out.append(ins)
    return out


def tpl(fn, text, **kw):
    code = fn.__code__ if hasattr(fn, "__code__") else fn
    return build_template(code, parse_statements(text, "exec"), kw.pop("hooks", {}), **kw)


# --- golden skeletons ------------------------------------------------------------


def test_skeleton_method_with_mangling_and_all_argument_kinds():
    assert skeleton_source(Attention.forward.__code__) == textwrap.dedent(
        """\
        class Attention:
            def forward(self, x, *args, mask, **kw):
                if False:
                    attn = None
                _splice_body_placeholder
        """
    )


def test_skeleton_closure_binds_free_variables_nonlocal():
    inner = make_closure()
    assert skeleton_source(inner.__code__) == textwrap.dedent(
        """\
        def _splice_outer(hits, k):
            def _splice_fn(a, /, b):
                nonlocal hits, k
                if False:
                    c = None
                _splice_body_placeholder
            return _splice_fn
        """
    )


def test_skeleton_super_gets_class_cell_from_the_class():
    assert skeleton_source(Child.f.__code__) == textwrap.dedent(
        """\
        class Child:
            def f(self, x):
                if False:
                    y = None
                    (lambda: __class__)
                _splice_body_placeholder
        """
    )


def test_skeleton_cells_global_and_deleted_argument():
    assert skeleton_source(with_cells.__code__) == textwrap.dedent(
        """\
        def with_cells(a, b):
            if False:
                add = w = None
                total = None
                def b(): nonlocal b, total
            _splice_body_placeholder
        """
    )
    assert skeleton_source(uses_global.__code__) == textwrap.dedent(
        """\
        def uses_global():
            global counter
            _splice_body_placeholder
        """
    )
    # x is deleted in the function: it must not be an argument of the template
    # (3.12+ would load it with an unchecked LOAD_FAST)
    assert skeleton_source(deletes_arg.__code__) == textwrap.dedent(
        """\
        def deletes_arg(_splice_arg0, y):
            if False:
                x = z = None
            _splice_body_placeholder
        """
    )


def test_skeleton_nested_function_in_method_keeps_the_class_for_mangling():
    helper = Outer().method()
    assert ScopeInfo.from_code(helper.__code__).class_name == "Outer"
    assert skeleton_source(helper.__code__) == textwrap.dedent(
        """\
        class Outer:
            def helper(q):
                if False:
                    r = None
                _splice_body_placeholder
        """
    )


def test_full_template_source_is_readable():
    t = tpl(Attention.forward, "attn = attn * 3\nself.__scale += 1", hooks={"_splice_h": print})
    assert t.source == textwrap.dedent(
        """\
        class Attention:

            def forward(self, x, *args, mask, **kw):
                if False:
                    attn = None
                attn = attn * 3
                self.__scale += 1"""
    )


# --- name kinds mirror the target ---------------------------------------------------


def _ops(code, name):
    return {i.opname for i in body_instructions(code) if i.argval == name}


def test_mangling_is_identical():
    t = tpl(Attention.forward, "self.__scale = self.__scale * 2")
    assert "_Attention__scale" in t.snippet.co_names


def test_plain_locals_cells_frees_and_globals_compile_to_the_same_kind():
    inner = make_closure()
    t = tpl(inner, "c = a + b + k\nhits.append(len(c if c else []))\nk = k + 1")
    assert _ops(t.snippet, "a") <= {"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST"}
    assert "LOAD_DEREF" in _ops(t.snippet, "k") and "STORE_DEREF" in _ops(t.snippet, "k")
    assert "LOAD_DEREF" in _ops(t.snippet, "hits")
    assert t.snippet.co_freevars == inner.__code__.co_freevars
    assert t.new_locals == ()
    t = tpl(with_cells, "total = total + b\nw = len")
    assert "STORE_DEREF" in _ops(t.snippet, "total")
    assert "LOAD_GLOBAL" in _ops(t.snippet, "len")
    t = tpl(uses_global, "counter = 5")
    assert "STORE_GLOBAL" in _ops(t.snippet, "counter")


@pytest.mark.skipif(MINOR < 12, reason="LOAD_FAST_CHECK exists from 3.12")
def test_non_argument_locals_are_loaded_with_a_check():
    t = tpl(deletes_arg, "q = z + x + y")
    assert _ops(t.snippet, "z") == {"LOAD_FAST_CHECK"}
    assert _ops(t.snippet, "x") == {"LOAD_FAST_CHECK"}


def test_super_compiles_like_in_the_target():
    t = tpl(Child.f, "y = super().f() * 10")
    assert t.snippet.co_freevars == ("__class__",)
    target_ops = [i.opname for i in dis.get_instructions(Child.f.__code__) if "SUPER" in i.opname]
    snippet_ops = [i.opname for i in dis.get_instructions(t.snippet) if "SUPER" in i.opname]
    assert snippet_ops == target_ops


def test_dead_declarations_emit_no_instruction():
    t = tpl(with_cells, "w = 1")
    body = [i.opname for i in body_instructions(t.snippet)]
    # The oracle: the same statement as the whole body of a plain function,
    # compiled by this interpreter (3.11: LOAD_CONST ... RETURN_VALUE; 3.12
    # and 3.13: RETURN_CONST; 3.14: LOAD_SMALL_INT; 3.15: the None of the
    # implicit return from LOAD_COMMON_CONSTANT).
    ns: dict = {}
    exec("def plain():\n    w = 1\n", ns)
    expected = [i.opname for i in body_instructions(ns["plain"].__code__)]
    assert body == expected
    assert "NOP" not in body


def test_new_locals_are_reported_and_extra_locals_are_locals():
    t = tpl(with_cells, "fresh = a * 2")
    assert t.new_locals == ("fresh",)
    t2 = tpl(with_cells, "other = fresh + 1", extra_locals=("fresh",))
    assert "fresh" in t2.snippet.co_varnames
    assert _ops(t2.snippet, "fresh") & {"LOAD_FAST", "LOAD_FAST_CHECK"}
    assert t2.new_locals == ("fresh", "other")


def test_template_declares_only_the_variables_the_snippet_names():
    # with_cells: plain local w, cell total, argument b also a cell
    t = tpl(with_cells, "w = 1")
    assert "total" not in t.source and "nonlocal" not in t.source
    assert t.snippet.co_cellvars == ()
    t = tpl(with_cells, "w = total")
    assert "LOAD_DEREF" in _ops(t.snippet, "total")
    # a closure's free variables: no enclosing function unless one is named
    inner = make_closure()
    t = tpl(inner, "c = a")
    assert t.snippet.co_freevars == ()
    assert "_splice_outer" not in t.source
    t = tpl(inner, "c = k")
    assert t.snippet.co_freevars == ("k",)
    assert "LOAD_DEREF" in _ops(t.snippet, "k")
    # names the target declares global: only when named
    assert "global counter" not in tpl(uses_global, "pass").source
    assert "STORE_GLOBAL" in _ops(tpl(uses_global, "counter = 5").snippet, "counter")


def test_a_variable_named_only_in_a_nested_scope_is_still_declared():
    # w is a plain local of with_cells; a lambda reading it must be refused
    # (it would otherwise compile as a global read and see another value)
    with pytest.raises(SnippetError, match=r"closes over 'w'.*plain local of with_cells"):
        tpl(with_cells, "f = lambda: w")
    # a `global` declaration of a plain local is an error, as in the source
    with pytest.raises(SnippetError, match=r"'w'"):
        tpl(with_cells, "global w\nw = 1")


def test_the_class_is_left_out_unless_something_needs_it():
    assert not tpl(Attention.forward, "attn = attn * 3").source.startswith("class")
    assert tpl(Attention.forward, "attn = self.__scale").source.startswith("class Attention")
    assert "_Attention__scale" in tpl(Attention.forward, "attn = self.__scale").snippet.co_names
    assert tpl(Child.f, "y = super().f()").source.startswith("class Child")


def test_future_flags_are_inherited():
    ns = {}
    exec(compile("from __future__ import annotations\ndef f(a):\n    b = a\n", "<fut>", "exec"), ns)
    t = tpl(ns["f"], "x: undefined_name = 1")
    assert t.snippet.co_flags & 0x1000000  # CO_FUTURE_ANNOTATIONS


# --- rejected snippets ------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ("return 1", "`return`"),
        ("x = yield 1", "`yield`"),
        ("yield from []", "`yield`"),
        ("await something()", "`await`"),
        ("async with a: pass", "`async with`"),
        ("async for a in b: pass", "`async for`"),
    ],
)
def test_control_flow_out_of_the_snippet_is_rejected(text, words):
    with pytest.raises(SnippetError) as e:
        tpl(with_cells, text, label="exec('...')")
    assert words in str(e.value) and "with_cells" in str(e.value)


def test_nested_defs_may_return_and_yield():
    t = tpl(with_cells, "def g():\n    return 1\nh = lambda: (yield)\nw = g()")
    assert set(t.new_locals) == {"g", "h"}


@pytest.mark.parametrize("stmt", ["break", "continue"])
def test_break_outside_a_loop_names_the_snippet(stmt):
    with pytest.raises(SnippetError, match=rf"exec\('{stmt}'\).*loop"):
        tpl(with_cells, stmt, label=f"exec('{stmt}')")
    tpl(with_cells, f"for i in range(3):\n    {stmt}")  # inside its own loop: fine


@pytest.mark.parametrize("stmt", ["break", "continue"])
def test_break_on_a_line_inside_the_functions_loop_says_the_snippet_cannot_leave_it(stmt):
    """The line is in a loop of the function, so CPython's "'break' outside
    loop" read as false (found by an adversarial run)."""

    def f():
        out = []
        for i in range(3):
            out.append(i)
        return out

    with pytest.raises(SnippetError, match=rf"'{stmt}' outside a loop of the snippet: a snippet cannot {stmt} a loop of the function"):
        with splice.breakpoint(f, line="out.append(i)") as bp:
            bp.exec(f"if i == 1: {stmt}")
    assert f() == [0, 1, 2]


def test_lambda_closing_over_a_plain_local_is_rejected():
    with pytest.raises(SnippetError, match=r"closes over 'a'.*plain local of with_cells"):
        tpl(with_cells, "f = lambda: a")
    with pytest.raises(SnippetError, match=r"closes over 'fresh'"):
        tpl(with_cells, "fresh = 1\nf = lambda: fresh")
    # closing over a cell the target already has is fine, and so are defaults
    tpl(with_cells, "f = lambda: total")
    tpl(with_cells, "f = lambda a=a: a")


@pytest.mark.skipif(MINOR >= 12, reason="3.12 inlines comprehensions (PEP 709)")
def test_comprehension_over_a_local_is_rejected_on_311():
    with pytest.raises(SnippetError, match=r"comprehension.*'a'"):
        tpl(with_cells, "w = [a + i for i in range(3)]")


@pytest.mark.skipif(MINOR < 12, reason="3.12 inlines comprehensions (PEP 709)")
def test_comprehension_over_a_local_is_inlined_on_312():
    t = tpl(with_cells, "w = [a + i for i in range(3)]")
    assert "a" not in t.snippet.co_cellvars


def test_super_without_class_cell_is_rejected():
    with pytest.raises(SnippetError, match=r"super\(\).*no __class__ cell"):
        tpl(Attention.forward, "attn = super().forward(x)")


def test_syntax_error_names_the_snippet():
    with pytest.raises(SnippetError, match=r"exec\('x = '\)"):
        parse_statements("x = ", "exec('x = ')")
    with pytest.raises(SnippetError, match=r"eval\('x y'\)"):
        parse_expression("x y", "eval('x y')")


def test_exec_text_is_dedented():
    stmts = parse_statements("\n    a = 1\n    if a:\n        b = 2\n", "exec")
    assert [type(s).__name__ for s in stmts] == ["Assign", "If"]


# --- variables= ---------------------------------------------------------------------


def test_variables_are_renamed_to_hooks():
    stmts = parse_statements("w = scale * a", "exec")
    hooks = rename_variables(stmts, {"scale": 3}, "_splice_v_", "exec")
    assert hooks == {"_splice_v_scale": 3}
    assert ast.unparse(stmts[0]) == "w = _splice_v_scale * a"


@pytest.mark.parametrize(
    "text, msg",
    [
        ("scale = 1", "assigns or deletes 'scale'"),
        ("del scale", "assigns or deletes 'scale'"),
        ("for scale in []: pass", "assigns or deletes 'scale'"),
        ("f = lambda: scale", "inside a lambda"),
        ("f = lambda scale: 1", "rebinds 'scale'"),
        ("global scale", "global/nonlocal"),
        ("import scale", "imports 'scale'"),
    ],
)
def test_variables_misuse_is_rejected(text, msg):
    with pytest.raises(SnippetError, match=msg):
        rename_variables(parse_statements(text, "exec"), {"scale": 3}, "_splice_v_", "exec")


# --- the AST the template compiles from is the parsed skeleton text ------------


def _scopes_of_stdlib() -> list[CodeType]:
    import importlib

    out: list[CodeType] = []
    for name in ("ast", "argparse", "asyncio.tasks", "dataclasses", "enum", "functools", "inspect",
                 "pathlib", "typing", "unittest.mock"):
        mod = importlib.import_module(name)
        stack = [compile(open(mod.__file__, encoding="utf-8").read(), mod.__file__, "exec")]
        while stack:
            c = stack.pop()
            if c.co_flags & _native.CO_OPTIMIZED:
                out.append(c)
            stack.extend(k for k in c.co_consts if isinstance(k, CodeType))
    return out


def _from_text(shape: Any, stmts: list) -> ast.Module:
    """What the template was compiled from before the AST was built
    directly: the skeleton text parsed, its dead declarations moved to the
    ``def`` line, the placeholder replaced."""
    module = ast.parse(shape.text())
    fn = next(n for n in ast.walk(module) if isinstance(n, ast.FunctionDef) and n.lineno == shape.def_line)
    body: list = []
    for s in fn.body:
        if isinstance(s, ast.If):
            for n in ast.walk(s):
                if "lineno" in n._attributes:
                    n.lineno = n.end_lineno = shape.def_line
            body.append(s)
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Name) and s.value.id.endswith("body_placeholder"):
            body.extend(stmts)
        else:
            body.append(s)
    fn.body = body
    return module


def _template_fn(module: ast.Module, qual: str) -> CodeType:
    stack = [compile(module, "<t>", "exec", dont_inherit=True)]
    while stack:
        c = stack.pop()
        if c.co_qualname == qual:
            return c
        stack.extend(k for k in c.co_consts if isinstance(k, CodeType))
    raise AssertionError(qual)


def test_template_tree_is_the_parsed_skeleton_for_stdlib_scopes():
    """template._Shape.tree builds the AST that parsing _Shape.text gave;
    checked on every function of ten stdlib modules (argument kinds,
    closures, cells, __class__, globals, deleted arguments, extra locals):
    the same nodes (ast.dump without positions) and the same compiled
    template function, lines included."""
    codes = _scopes_of_stdlib()
    assert len(codes) > 1000
    kinds = {"closure": 0, "cells": 0, "class_cell": 0, "globals": 0, "varargs": 0, "renamed": 0}
    for code in codes:
        scope = ScopeInfo.from_code(code)
        for extra in ((), ("_splice_new", "x_extra")):
            shape = template._shape(scope, extra)
            body = ast.parse("y = 1\nprint(y)").body
            built = shape.tree(body)
            parsed = _from_text(shape, ast.parse("y = 1\nprint(y)").body)
            assert ast.dump(built) == ast.dump(parsed), code
            a, b = _template_fn(built, shape.qualname), _template_fn(parsed, shape.qualname)
            for attr in ("co_code", "co_varnames", "co_cellvars", "co_freevars", "co_names", "co_flags",
                         "co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_firstlineno"):
                assert getattr(a, attr) == getattr(b, attr), (code, attr)
            assert [ln for *_, ln in a.co_lines()] == [ln for *_, ln in b.co_lines()], code
        kinds["closure"] += bool(shape.outer)
        kinds["cells"] += bool(shape.cell_refs)
        kinds["class_cell"] += shape.reads_class
        kinds["globals"] += bool(shape.declared_globals)
        kinds["varargs"] += bool(shape.varargs or shape.varkw)
        kinds["renamed"] += any(a.startswith("_splice_arg") for a in shape.args + shape.posonly + shape.kwonly)
    assert all(kinds[k] > 0 for k in ("closure", "cells", "class_cell", "globals", "varargs")), kinds


def test_arg_names_without_scope_info_match_it():
    """Captures read a target's argument names with template.arg_names, not
    from a ScopeInfo: the two agree on every signature shape and on every
    function of a few stdlib modules, and name what inspect names."""
    import inspect
    import json.decoder
    import logging
    import pathlib

    def shapes(a, /, b, c=1, *args, d, e=2, **kw):  # noqa: ARG001
        local = a
        return local

    codes = [
        shapes.__code__,
        (lambda: 0).__code__,
        (lambda *a: a).__code__,
        (lambda **k: k).__code__,
        (lambda a, /, *, b: a).__code__,
    ]
    for module in (logging, pathlib, json.decoder, inspect):
        for obj in vars(module).values():
            for fn in [obj, *(vars(obj).values() if isinstance(obj, type) else ())]:
                code = getattr(fn, "__code__", None)
                if isinstance(code, CodeType):
                    codes.append(code)
    assert len(codes) > 300
    for code in codes:
        assert template.arg_names(code) == ScopeInfo.from_code(code).arg_names, code
    # co_varnames order: keyword-only before *args
    assert template.arg_names(shapes.__code__) == ("a", "b", "c", "d", "e", "args", "kw")
    assert set(template.arg_names(shapes.__code__)) == set(inspect.signature(shapes).parameters)


class _UsesClassCell:
    def m(self):
        r = __class__
        return r


@pytest.mark.parametrize("stmt", ["del __class__", "__class__ = 5"])
def test_a_snippet_binding_the_class_cell_is_refused_with_what_it_is(stmt):
    with pytest.raises(SnippetError, match=r"assigns or deletes `__class__`, the implicit closure cell that super\(\) reads"):
        with splice.breakpoint(_UsesClassCell.m, line="return r") as bp:
            bp.exec(stmt)
    assert _UsesClassCell().m() is _UsesClassCell
