"""Resolve: targets -> code objects, owners, parents and instance filters."""

import functools
import importlib
import linecache
import os
import pathlib
import subprocess
import sys
import textwrap
import warnings
import zipfile

import pytest

import splice
from splice import ScopeError, TargetError
from splice.resolve import Scope, code_of, owners_of, resolve

MODULE_SRC = textwrap.dedent(
    """\
    import functools

    def plain(x):
        y = x + 1
        return y

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            return fn(*a, **k)
        return wrapper

    @deco
    def decorated(a):
        return a * 2

    def outer(k):
        def inner(v):
            return v + k
        return inner

    class Model:
        def __init__(self, w):
            self.w = w

        def forward(self, x):
            out = x * self.w
            return out

        def __call__(self, x):
            return self.forward(x)

        @classmethod
        def make(cls, w):
            return cls(w)

        @staticmethod
        def helper(q):
            return q + 1

        @property
        def double(self):
            return self.w * 2

    def plain2(x):
        return plain(x)
    """
)


@pytest.fixture
def mod(tmp_path, monkeypatch):
    pkg = tmp_path / "resolvemod_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    path = pkg / "targets.py"
    path.write_text(MODULE_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    m = importlib.import_module("resolvemod_pkg.targets")
    yield m
    sys.modules.pop("resolvemod_pkg.targets", None)
    sys.modules.pop("resolvemod_pkg", None)


def codes(targets):
    return [t.code for t in targets]


def test_function(mod):
    [t] = resolve(Scope(mod.plain))
    assert t.code is mod.plain.__code__ and t.instance is None
    assert mod.plain in t.site.functions and t.site.parent is None


def test_bound_method_filters_that_instance(mod):
    m = mod.Model(3)
    [t] = resolve(Scope(m.forward))
    assert t.code is mod.Model.forward.__code__ and t.instance is m


def test_unbound_method_fires_for_all_instances(mod):
    [t] = resolve(Scope(mod.Model.forward))
    assert t.instance is None


def test_callable_instance_uses_class_call_and_that_instance(mod):
    m = mod.Model(3)
    [t] = resolve(Scope(m))
    assert t.code is mod.Model.__call__.__code__ and t.instance is m


def test_a_line_missing_from_a_callable_instances_call_says_to_pass_its_forward(mod):
    """NoPdb's rule puts a breakpoint on a callable instance into its class's
    ``__call__``; a line of the method the call runs (a ``torch.nn.Module``'s
    ``forward``) is not there: the error says what to pass instead, and
    installs nothing."""
    m = mod.Model(3)
    original = mod.Model.__call__.__code__
    for line in ("out = x * self.w", 1):
        with pytest.raises(splice.LocateError) as e:
            with splice.breakpoint(m, line=line):
                pass
        text = str(e.value)
        assert "Model.__call__" in text and "Model.forward (every instance)" in text, text
        assert "bound method .forward" in text, text
        assert mod.Model.__call__.__code__ is original
    # the method itself takes the line, for that instance only
    with splice.breakpoint(m.forward, line="out = x * self.w") as bp:
        bp.exec("x = x + 100")
        assert m(1) == 303 and mod.Model(3)(1) == 3
    assert m(1) == 3


def test_a_line_missing_from_a_function_gives_no_instance_hint(mod):
    with pytest.raises(splice.LocateError) as e:
        with splice.breakpoint(mod.Model.__call__, line="out = x * self.w"):
            pass
    assert "callable instance" not in str(e.value) and "forward (every" not in str(e.value)


@pytest.mark.parametrize("kind", ["staticmethod", "classmethod"])
def test_a_callable_instance_whose_call_is_not_given_the_instance_is_refused(kind):
    """Its calls do not carry the instance, so a probe limited to it never
    fired (staticmethod) or the target was refused as not Python
    (classmethod); the error says what to pass."""
    ns: dict = {}
    exec(f"class K:\n    @{kind}\n    def __call__(*a):\n        return a[-1] + 1\n", ns)
    obj = ns["K"]()
    with pytest.raises(TargetError) as e:
        splice.capture_calls(obj)
    text = str(e.value)
    assert kind in text and "not given the instance" in text, text
    fn = ns["K"].__call__ if kind == "staticmethod" else ns["K"].__call__.__func__
    assert f"K.__call__{'.__func__' if kind == 'classmethod' else ''} to probe every call" in text
    with splice.capture_calls(fn) as calls:
        obj(1)
    assert len(calls) == 1


def test_mock_with_a_function_spec_is_a_callable_instance(mod):
    """``Mock(spec=f)`` passes ``isinstance(m, FunctionType)`` (its
    ``__class__`` is the spec's) while its ``__code__`` is another Mock: it is
    resolved by its real type, a callable instance, not taken for ``f``."""
    from unittest import mock

    m = mock.Mock(spec=mod.plain, return_value=5)
    assert isinstance(m, type(mod.plain))  # what made it look like a function
    fn, instance = code_of(m)
    assert fn is type(m).__call__ and instance is m
    [t] = resolve(Scope(m))
    assert t.code is type(m).__call__.__code__ and t.instance is m


def test_classmethod_staticmethod_property(mod):
    [t] = resolve(Scope(mod.Model.make))  # bound to the class: every call (docs/api.md)
    assert t.code is mod.Model.__dict__["make"].__func__.__code__ and t.instance is None
    [t] = resolve(Scope(mod.Model.__dict__["make"]))  # the classmethod object
    assert t.instance is None
    [t] = resolve(Scope(mod.Model.helper))
    assert t.code is mod.Model.__dict__["helper"].__func__.__code__ and t.instance is None
    [t] = resolve(Scope(mod.Model.__dict__["double"]))
    assert t.code is mod.Model.__dict__["double"].fget.__code__


def test_unwrap_follows_functools_wraps(mod):
    [t] = resolve(Scope(mod.decorated))
    assert t.code.co_name == "decorated"
    [t] = resolve(Scope(mod.decorated, unwrap=False))
    assert t.code.co_name == "wrapper"


def test_name_string_finds_every_live_function_with_that_name(mod):
    targets = resolve(Scope("forward", module=mod))
    assert codes(targets) == [mod.Model.forward.__code__]
    assert {t.code.co_name for t in resolve(Scope("plain"))} == {"plain"}


def test_name_finds_nested_code_objects_and_their_parents(mod):
    targets = resolve(Scope("inner", module=mod))
    [t] = targets
    outer_code = mod.outer.__code__
    assert t.code in outer_code.co_consts  # found without any live closure
    assert t.site.parent is not None and t.site.parent.code is outer_code
    assert mod.outer in t.site.parent.functions


def test_closure_target_knows_its_parent(mod):
    f = mod.outer(1)
    [t] = resolve(Scope(f))
    assert t.site.parent is not None and t.site.parent.code is mod.outer.__code__
    assert f in t.site.functions


def test_module_scope(mod):
    names = {t.code.co_name for t in resolve(Scope(module=mod))}
    assert {"plain", "decorated", "wrapper", "outer", "inner", "forward", "__call__", "make",
            "helper", "double", "plain2", "deco", "__init__"} <= names
    assert "<module>" not in names and "Model" not in names  # bodies that ran once


def test_file_scope_glob_pathlike_and_special_names(mod, tmp_path):
    glob = {t.code.co_name for t in resolve(Scope(file="resolvemod_pkg/targets.py"))}
    assert "plain" in glob
    exact = {t.code.co_name for t in resolve(Scope(file=pathlib.Path(mod.__file__)))}
    assert exact == {t.code.co_name for t in resolve(Scope(module=mod))}
    with pytest.raises(ScopeError):
        resolve(Scope(file=pathlib.Path(str(tmp_path / "nope.py"))))
    # notebook-cell-like names match exactly
    name = "<splice-test-cell-7>"
    src = "def cell_fn(a):\n    return a\n"
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    ns = {}
    exec(compile(src, name, "exec"), ns)
    assert codes(resolve(Scope(file=name))) == [ns["cell_fn"].__code__]
    assert codes(resolve(Scope("cell_fn", file=name))) == [ns["cell_fn"].__code__]


def test_function_outside_the_given_module_is_an_error(mod):
    with pytest.raises(ScopeError, match="is defined in"):
        resolve(Scope(mod.plain, module=functools))


def test_nothing_matches(mod):
    with pytest.raises(ScopeError, match="no live pure-Python function named 'no_such_fn'"):
        resolve(Scope("no_such_fn"))
    with pytest.raises(ScopeError, match="co_name"):
        resolve(Scope("Model.forward"))


@pytest.mark.parametrize(
    "obj, words",
    [
        (len, "len is a builtin"),
        ([].append, "builtin"),
        (str.join, "builtin"),
        (object.__init__, "builtin"),
        (dict, "is a class"),
        (functools.partial(print, 1), "partial"),
        (42, "int object"),
    ],
)
def test_builtins_and_non_functions_are_rejected(obj, words):
    with pytest.raises(TargetError, match="splice can only instrument pure-Python functions") as e:
        code_of(obj)
    assert words in str(e.value)
    assert isinstance(e.value, TypeError)  # as NoPdb


def test_owners_of_finds_functions_sharing_code(mod):
    import types

    twin = types.FunctionType(mod.plain.__code__, mod.plain.__globals__, "twin")
    owners = owners_of(mod.plain.__code__)
    assert mod.plain in owners and twin in owners


def test_match_frame_compat():
    import sys as _sys

    class Spy:
        def here(self):
            return _sys._getframe()

    a, b = Spy(), Spy()
    scope = Scope(a.here)
    assert scope.match_frame(a.here()) is True
    assert scope.match_frame(b.here()) is False
    assert Scope(Spy.here).match_frame(b.here()) is True
    assert Scope("here").match_frame(b.here()) is True
    assert Scope("nope").match_frame(b.here()) is False


def test_a_module_scope_matches_a_module_imported_frozen():
    # os, posixpath, codecs... are compiled into the interpreter (3.11+):
    # their functions' co_filename is "<frozen posixpath>", not __file__, so
    # module=posixpath matched nothing and said so misleadingly
    import os
    import posixpath

    assert posixpath.join.__code__.co_filename == "<frozen posixpath>"
    with splice.capture_calls(module=posixpath) as calls:
        os.path.join("a", "b")
    assert "join" in [r.name for r in calls]
    with splice.capture_calls("join", module=posixpath) as calls:
        os.path.join("a", "b")
    assert [r.return_value for r in calls] == [os.path.join("a", "b")]


def test_a_file_scope_naming_a_frozen_module_says_what_to_pass():
    import posixpath  # noqa: F401

    with pytest.raises(splice.ScopeError, match=r"posixpath is imported frozen .* pass module=posixpath"):
        splice.capture_calls(file="*/posixpath.py")
    with pytest.raises(splice.ScopeError, match=r"module sys has no source file"):
        splice.capture_calls(module=sys)


@functools.lru_cache(maxsize=None)
def _cached(x):
    return x * 3


def test_a_c_wrapper_that_names_what_it_wraps_is_unwrapped():
    # functools.lru_cache's wrapper is written in C: its class's __call__ is
    # no Python function, but its __wrapped__ is (unwrap=True follows it);
    # a cached call does not reach the function, so it is not recorded
    fn, instance = code_of(_cached)
    assert fn is _cached.__wrapped__ and instance is None
    _cached.cache_clear()
    with splice.capture_calls(_cached) as calls:
        _cached(2), _cached(2), _cached(3)
    assert [r.return_value for r in calls] == [6, 9]
    with pytest.raises(TargetError, match=r"it wraps <function _cached .*>: pass that, or unwrap=True"):
        code_of(_cached, unwrap=False)


class _Decorator:
    """A class-based decorator, the functools.update_wrapper way."""

    def __init__(self, f):
        self.f = f
        functools.update_wrapper(self, f)

    def __call__(self, *args):
        return self.f(*args)


@_Decorator
def _decorated(x):
    y = x + 1
    return y


def test_a_callable_instance_that_names_what_it_wraps_is_unwrapped():
    # (its __call__ is a Python function: it was probed, and a line of the
    # decorated function was "outside function '__call__'")
    fn, instance = code_of(_decorated)
    assert fn is _decorated.__wrapped__ and instance is None
    with splice.capture_calls(_decorated) as calls:
        _decorated(1)
    assert [(r.name, dict(r.args)) for r in calls] == [("_decorated", {"x": 1})]
    with splice.breakpoint(_decorated, line="return y") as bp:
        ys = bp.eval("y")
        assert _decorated(1) == 2
    assert ys == [2]
    fn, instance = code_of(_decorated, unwrap=False)  # its __call__, on this instance
    assert fn is _Decorator.__call__ and instance is _decorated


class _Dispatching:
    @functools.singledispatchmethod
    def meth(self, x):
        r = "base"
        return r

    @meth.register
    def _(self, x: int):
        return "int"


def test_a_singledispatchmethod_reached_through_an_instance_is_its_base_function():
    # (3.14+: `obj.meth` is a new callable object per access, with a Python
    # __call__ that dispatches and __wrapped__; it was probed, on that
    # throwaway object, and never fired)
    obj = _Dispatching()
    with splice.capture_calls(obj.meth) as calls:
        assert obj.meth("a") == "base" and obj.meth(1) == "int"
    assert [r.return_value for r in calls] == ["base"]


def test_an_unusable_file_pattern_is_a_scope_error():
    with pytest.raises(ScopeError, match=r"file='' is not a usable pattern"):
        splice.capture_calls(file="")


def test_a_function_imported_from_a_zip_file_is_located_by_its_text(tmp_path, monkeypatch):
    # (3.11-3.13: linecache reads a zip import's source only through the
    # module's loader, which it finds in the module's globals; splice did not
    # pass them, and a line text was "no source text")
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("splice_zipped_mod.py", "def zipped(x):\n    y = x * 2\n    return y\n")
    monkeypatch.syspath_prepend(str(archive))
    monkeypatch.delitem(sys.modules, "splice_zipped_mod", raising=False)
    import splice_zipped_mod

    try:
        assert splice_zipped_mod.zipped.__code__.co_filename == str(archive / "splice_zipped_mod.py")
        with splice.breakpoint(splice_zipped_mod.zipped, line="return y") as bp:
            ys = bp.eval("y")
            assert splice_zipped_mod.zipped(4) == 8
        assert ys == [8]
    finally:
        del sys.modules["splice_zipped_mod"]


def test_a_scope_says_whether_it_is_empty_and_which_instance_it_is_for():
    # (api.md documented both properties; neither existed)
    assert splice.Scope().is_empty and splice.Scope().instance is None
    assert not splice.Scope(module=sys.modules[__name__]).is_empty
    assert not splice.Scope(file="*.py").is_empty
    scope = splice.Scope(_Decorator.__call__.__get__(_decorated))
    assert not scope.is_empty and scope.instance is _decorated
    assert splice.Scope(_Dispatching.meth).instance is None
    assert splice.Scope("forward").instance is None


def test_a_frozen_function_with_an_assert_takes_line_breakpoints_under_dash_O():
    # A frozen stdlib module was compiled when the interpreter was built,
    # asserts kept; under -O the source check compiled its text without
    # them and refused every line of os._fwalk as "edited after import".
    if not os._fwalk.__code__.co_filename.startswith("<frozen "):
        pytest.skip("os is not imported frozen here")
    child = textwrap.dedent(
        """
        import os, sys, tempfile, warnings
        import splice
        warnings.simplefilter("ignore", splice.HeapSearchWarning)
        assert sys.flags.optimize == 1
        assert any(op == "LOAD_ASSERTION_ERROR" for op in __import__("dis").get_instructions(os._fwalk) for op in [op.opname])
        top = tempfile.mkdtemp()
        os.makedirs(os.path.join(top, "sub"))
        code = os._fwalk.__code__
        first = min(line for *_, line in code.co_lines() if line and line > code.co_firstlineno)
        with splice.breakpoint(os._fwalk, line=first) as bp:
            hits = bp.eval("1")
            list(os.fwalk(top))
        print(len(hits))
        """
    )
    proc = subprocess.run([sys.executable, "-O", "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout) > 0


def test_a_function_from_python_dash_c_takes_breakpoints_by_line_text():
    # (3.13+ keep `-c` and interactive source for tracebacks; 3.14+ in
    # linecache._interactive_cache, by code object, not in linecache.cache:
    # "no source text" there. 3.11 and 3.12 keep it nowhere.)
    child = textwrap.dedent(
        """
        import splice
        def f(x):
            y = x * 2
            return y
        try:
            with splice.breakpoint(f, line="y = x * 2") as bp:
                bp.exec("x = x + 1")
                print(f(1))
        except splice.LocateError as e:
            print(e)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if hasattr(linecache, "_register_code"):
        assert proc.stdout.strip() == "4"
    else:
        assert "no source text for f" in proc.stdout and "linecache.cache[filename]" in proc.stdout


def test_probes_on_a_frozen_stdlib_function_give_no_heap_search_warning():
    # (3.11 and 3.12 build frozen modules' code objects into the interpreter
    # with a fixed reference count: every enter warned that 999,999,999
    # references, "a local variable of a running function...", made it
    # search the heap, and told the user to drop them)
    import posixpath

    with warnings.catch_warnings():
        warnings.simplefilter("error", splice.HeapSearchWarning)
        for _ in range(3):
            with splice.breakpoint(posixpath.join, line=None) as bp:
                seen = bp.eval("a")
                posixpath.join("x", "y")
            assert seen == ["x"]


def test_code_without_text_says_which_line_numbers_still_work():
    """A dataclass's generated __init__ (compiled from a string nobody
    registered): a line spec that cannot be used says which line numbers
    can, and one of them works."""
    import dataclasses

    @dataclasses.dataclass
    class P:
        x: int
        y: int = 2

    code = P.__init__.__code__
    with pytest.raises(splice.LocateError) as e:
        splice.breakpoint(P.__init__, line="self.x = x")
    text = str(e.value)
    usable = [ln for *_, ln in code.co_lines() if ln is not None and ln != code.co_firstlineno]
    assert usable and "a line number where it has code still works: " in text, text
    listed = [int(n) for n in text.rsplit("still works: ", 1)[1].split(" (or")[0].split(", ")]
    assert set(listed) <= set(usable), (listed, usable)
    with splice.breakpoint(P.__init__, line=listed[0]) as bp:
        got = bp.eval("x")
        P(5)
    assert got == [5]


@pytest.mark.skipif(sys.version_info < (3, 14), reason="PEP 649 annotation functions are new in 3.14")
def test_a_line_on_a_generated_annotation_function_says_it_has_no_statements(tmp_path):
    """Not 'the file was probably edited' (SourceMismatchError): the
    function is generated from the annotations; its entry can be probed."""
    path = tmp_path / "annotated.py"
    path.write_text("class Later:\n    pass\n\ndef f(x: Later) -> Later:\n    return x\n")
    ns: dict = {"__name__": "annotated"}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    ann = ns["f"].__annotate__
    with pytest.raises(splice.LocateError, match="generates to evaluate annotations"):
        splice.breakpoint(ann, line=4)
    with splice.capture_call(ann) as call:
        ns["f"].__annotations__  # noqa: B018 - evaluates them
    assert call.return_value == {"x": ns["Later"], "return": ns["Later"]}


@pytest.mark.skipif(sys.version_info < (3, 15), reason="lazy imports are new in 3.15 (PEP 810)")
def test_a_lazy_import_in_a_snippet_is_refused_for_what_it_is():
    def g(x):
        return x

    with splice.breakpoint(g, line="return x") as bp:
        with pytest.raises(splice.SnippetSyntaxError, match="only at a module's top level") as e:
            bp.exec("lazy import csv")
        assert "try" not in str(e.value)


def test_a_scope_of_splices_own_files_says_splice_never_probes_itself():
    import splice.patcher as own

    for kw in ({"file": "*/splice/patcher.py"}, {"module": own}):
        with pytest.raises(ScopeError, match="splice never probes its own code"):
            splice.capture_calls(**kw)
    with pytest.raises(ScopeError) as e:
        splice.capture_calls(file="*/no_such_file_here.py")
    assert "its own code" not in str(e.value)


def test_a_target_whose_attribute_lookup_raises_is_a_target_error():
    class Odd:
        def __call__(self, x):
            return x

        def __getattr__(self, name):
            raise RuntimeError(f"no {name} here")

    with pytest.raises(TargetError, match="raised RuntimeError: no __wrapped__ here"):
        splice.capture_calls(Odd())


def test_a_line_in_none_of_many_functions_of_a_name_lists_ten_and_counts_the_rest():
    ns: dict = {}
    src = "".join(f"class C{i}:\n    def many(self):\n        return {i}\n" for i in range(15))
    exec(compile(src, "<many>", "exec"), ns)
    with pytest.raises(splice.LocateError) as e:
        splice.breakpoint("many", line=99999)
    lines = str(e.value).splitlines()
    assert "none of the 15 functions named 'many'" in lines[0], lines[0]
    items = [ln for ln in lines if ln.startswith("  - ")]
    assert len(items) == 11 and items[-1] == "  - ... and 5 more", items


RELOADED_V1 = "def f(a):\n    b = a * 2\n    return b + 1\n"
RELOADED_V2 = "def f(a):\n    # a comment moves the code down\n    b = a * 5\n    return b + 1\n"


@pytest.mark.parametrize("scope", ["module", "file"])
def test_a_module_or_file_scope_skips_functions_from_before_a_reload(tmp_path, monkeypatch, scope):
    """After an edit and ``importlib.reload``, a function object from before
    the reload that is still alive shares the module's globals, so it is in
    the module's scope; its code no longer matches the file. It is skipped
    (as a scope by name skips it) and the current function is probed; it
    made every module/file breakpoint a SourceMismatchError that advised
    the reload already done."""
    path = tmp_path / "reloaded_mod.py"
    path.write_text(RELOADED_V1)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    import reloaded_mod

    try:
        old_f = reloaded_mod.f
        path.write_text(RELOADED_V2)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        importlib.reload(reloaded_mod)
        assert reloaded_mod.f is not old_f
        kw = {"module": reloaded_mod} if scope == "module" else {"file": str(path)}
        with splice.breakpoint(line=4, **kw) as bp:
            bp.exec("b = b + 100")
            assert reloaded_mod.f(1) == 106
            assert old_f(1) == 3
        assert reloaded_mod.f(1) == 6
        assert reloaded_mod.f(1) == 6
    finally:
        sys.modules.pop("reloaded_mod", None)


@pytest.mark.parametrize("scope", ["module", "file"])
def test_a_line_no_function_owns_in_an_edited_file_is_a_source_mismatch(tmp_path, monkeypatch, scope):
    """A module or file scope's line that no live function owns, in a file
    edited since the import (not reloaded), is a SourceMismatchError that
    says so, not "module-level code, which has already run": here the
    function moved four lines down, and line 6 is its first statement."""
    path = tmp_path / "edited_mod.py"
    path.write_text(RELOADED_V1)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    import edited_mod

    try:
        path.write_text("# four lines\n# added\n# on\n# top\n" + RELOADED_V1)
        kw = {"module": edited_mod} if scope == "module" else {"file": str(path)}
        with pytest.raises(splice.SourceMismatchError, match="edited after the code was loaded"):
            with splice.breakpoint(line=6, **kw):
                pass
        assert edited_mod.f(1) == 3
    finally:
        sys.modules.pop("edited_mod", None)


def test_generated_code_named_like_a_registered_text_is_probed_by_line_number():
    """A dataclass's ``__init__`` is compiled from generated text under the
    name ``<string>``, where CPython 3.13 also registers a ``python -c``
    command's text. splice compared the two and called the file edited
    (SourceMismatchError, "reload the module"); a line number works, as
    for any code without its text (found by an adversarial run). Emulated
    on every version by registering an unrelated text under that name."""
    child = textwrap.dedent(
        """
        import dataclasses, linecache, splice
        linecache.cache["<string>"] = (30, None, ["import os\\n", "x = 1\\n", "y = 2\\n"], "<string>")

        @dataclasses.dataclass
        class D:
            a: int

        line = min(ln for *_, ln in D.__init__.__code__.co_lines() if ln and ln != D.__init__.__code__.co_firstlineno)
        with splice.breakpoint(D.__init__, line=line) as bp:
            bp.exec("a = 100")
            print(D(1))
        try:
            with splice.breakpoint(D.__init__, line="self.a = a"):
                pass
        except splice.LocateError as e:
            print(type(e).__name__, e)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "D(a=100)", proc.stdout
    assert out[1].startswith("LocateError <string>: the text registered under this name in linecache is not the one"), proc.stdout
    assert "a line number where it has code still works" in proc.stdout


class _Descriptors:
    def meth(self, a, s):
        return a + s

    pm = functools.partialmethod(meth, 5)

    @functools.cached_property
    def cached(self):
        return 1


def test_descriptor_targets_say_what_to_pass():
    """A partialmethod reached through its class is functools' forwarding
    function: a capture on it recorded nothing for calls on instances, and a
    line probe looked in functools.py. Descriptor objects that hold the
    function as .func say so (found by an adversarial run)."""
    with pytest.raises(TargetError, match=r"partialmethod of _Descriptors\.meth .*Pass _Descriptors\.meth"):
        with splice.capture_calls(_Descriptors.pm):
            pass
    for obj in (_Descriptors.__dict__["pm"], _Descriptors.__dict__["cached"]):
        with pytest.raises(TargetError, match=r"pass its \.func, the Python function it calls"):
            with splice.capture_calls(obj):
                pass
    with splice.capture_calls(_Descriptors.__dict__["pm"].func) as calls:
        _Descriptors().pm(2)
    assert [c.return_value for c in calls] == [7]


def test_a_module_imported_from_its_pyc_alone_says_its_source_file_is_missing(tmp_path, monkeypatch):
    """Its functions name a .py that is not there: the message said to
    register the text of "code compiled from a string" (found by an
    adversarial run). A line number still works."""
    import py_compile

    src = tmp_path / "pyc_only_mod.py"
    src.write_text("def f(x):\n    y = x + 1\n    return y\n")
    py_compile.compile(str(src), cfile=str(tmp_path / "pyc_only_mod.pyc"))
    src.unlink()
    monkeypatch.syspath_prepend(str(tmp_path))
    import pyc_only_mod as mod

    with pytest.raises(splice.LocateError, match=r"pyc_only_mod\.py does not exist \(a module imported from a \.pyc without its \.py"):
        with splice.breakpoint(mod.f, line="return y"):
            pass
    with splice.breakpoint(mod.f, line=3) as bp:
        ys = bp.eval("y")
        mod.f(1)
    assert ys == [2]


class _CmBase:
    def __init_subclass__(cls, **kw):
        tag = kw.get("tag")
        cls.tag = tag

    @classmethod
    def make(cls, v):
        r = v
        return r

    also_make = make


class _CmSub(_CmBase):
    pass


def test_a_classmethod_named_through_its_class_covers_every_call():
    """``Base.make`` is a method bound to the class; splice filtered on
    ``cls is Base``, so calls through a subclass never fired and a probe on
    ``Base.__init_subclass__`` (called only with subclasses) never did
    (found by an adversarial run; NoPdb filters the same way)."""
    with splice.breakpoint(_CmBase.make, line="return r") as bp:
        seen = bp.eval("cls.__name__")
        _CmBase.make(1)
        _CmSub.make(2)
        _CmSub().make(3)
    assert seen == ["_CmBase", "_CmSub", "_CmSub"]
    with splice.capture_calls(_CmSub.also_make) as calls:
        _CmBase.make(1)
        _CmSub.make(2)
    assert [c.args["v"] for c in calls] == [1, 2]
    with splice.breakpoint(_CmBase.__init_subclass__, line="cls.tag = tag") as bp:
        tags = bp.eval("(cls.__name__, tag)")

        class _Tagged(_CmBase, tag=5):
            pass

    assert tags == [("_Tagged", 5)]
    with splice.breakpoint(_CmBase.make, line="return r", cond="cls is _CmSub") as bp:
        seen = bp.eval("v")
        _CmBase.make(1)
        _CmSub.make(2)
    assert seen == [2]


def test_a_metaclass_method_bound_to_a_class_still_means_that_class():
    class Meta(type):
        def describe(cls, v):
            r = (cls.__name__, v)
            return r

    class A(metaclass=Meta):
        pass

    class B(metaclass=Meta):
        pass

    with splice.capture_calls(A.describe) as calls:
        A.describe(1)
        B.describe(2)
    assert [c.return_value for c in calls] == [("A", 1)]
