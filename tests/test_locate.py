"""splice.locate: source retrieval, line specs, messages, stale-source detection."""

from __future__ import annotations

import importlib.util
import itertools
import linecache
import os
import py_compile
import sys
import textwrap
import time
from pathlib import Path

import pytest

import splice.locate as locate_module
from splice import _native
from splice.errors import LocateError, SourceMismatchError
from splice.locate import (
    Located,
    Source,
    _block_index,  # the guesses whose fallbacks these tests check
    _part_index,
    check_source,
    get_source,
    locate,
    locate_in_source,
    statement_lines,
)

MINOR = sys.version_info[1]
_counter = itertools.count()

MODEL = textwrap.dedent(
    """\
    import functools


    def passthrough(fn):
        return fn


    class Attention:
        def __init__(self, scale):
            self.scale = scale

        @passthrough
        def forward(self, x):
            attn = x * self.scale
            # scale it

            attn = max(
                attn,
                0,
            )

            def helper(y):
                return y + 1

            attn = helper(attn)
            attn = helper(attn)
            return attn


    def tiny(): return 1
    square = lambda v: v * v
    """
)


def load(tmp_path: Path, text: str):
    """Write ``text`` to a fresh module file and import it."""
    name = f"splice_locate_case_{next(_counter)}"
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def edit(path: Path, text: str) -> None:
    path.write_text(text)
    linecache.checkcache(str(path))


@pytest.fixture
def model(tmp_path):
    module, path = load(tmp_path, MODEL)
    return module, path


def test_by_number_text_and_entry(model):
    module, _ = model
    forward = module.Attention.forward.__code__
    assert forward.co_firstlineno == 12  # the decorator's line
    assert locate(forward, 14) == [Located(14, 12, "forward")]
    assert locate(forward, "attn = helper(attn)") == [
        Located(25, 12, "forward"),
        Located(26, 12, "forward"),
    ]
    assert locate(forward, None) == [Located(12, 12, "forward")]
    assert locate(module.square.__code__, None) == [Located(31, 31, "<lambda>")]
    assert all(loc.owned_by(forward) for loc in locate(forward, "return attn"))


def test_messages(model):
    module, path = model
    forward = module.Attention.forward.__code__

    def message(line):
        with pytest.raises(LocateError) as info:
            locate(forward, line)
        return str(info.value)

    where = f"{path}: "
    assert message(16) == (
        where + "line 16 has no code (it is blank); the nearest statements start on lines 14 and 17"
    )
    assert message(15) == (
        where + "line 15 is a comment; the nearest statements start on lines 14 and 17"
    )
    assert message(18) == (
        where + "line 18 is inside the statement that starts on line 17 ('attn = max('); "
        "a probe can go on line 17"
    )
    assert message("attn = helpr(attn)") == (
        where + "no line in forward() has the text 'attn = helpr(attn)'; closest: "
        "line 25 'attn = helper(attn)', line 26 'attn = helper(attn)', line 17 'attn = max('"
    )
    assert message(23) == (
        where + "line 23 belongs to function 'helper' (lines 22-23), "
        "not to function 'forward' (lines 12-27)"
    )
    assert message(12) == (
        where + "line 12 is the header of function 'forward' (lines 12-27), not a statement "
        "in it; its first statement starts on line 14 (use line=None to stop when it is entered)"
    )
    assert message(99) == where + "line 99 is past the end of the source, which has 31 lines"
    assert message(-1) == where + "line -1 does not exist; lines are numbered from 1"


def test_errors_are_value_errors(model):
    module, _ = model
    with pytest.raises(ValueError):
        locate(module.tiny.__code__, 2)
    assert issubclass(_native.SourceMismatchFailure, _native.LocateFailure)
    assert issubclass(_native.LocateFailure, ValueError)


def test_bad_spec_types(model):
    module, _ = model
    for bad in (True, 1.5, b"x"):
        with pytest.raises(TypeError):
            locate(module.tiny.__code__, bad)


def test_file_scope_names_the_innermost_owner(model):
    module, path = model
    source = get_source(module.Attention.forward.__code__)
    assert source.filename == str(path)
    assert locate_in_source(source, 23) == [Located(23, 22, "helper")]
    # A one-line def: the def statement runs in the module, the return in tiny.
    assert locate_in_source(source, 30) == [Located(30, 1, "<module>"), Located(30, 30, "tiny")]
    assert locate_in_source(source, "return y + 1") == [Located(23, 22, "helper")]
    with pytest.raises(LocateError, match="line=None"):
        locate_in_source(source, None)


def test_statement_lines(model):
    module, _ = model
    lines = statement_lines(module.Attention.forward.__code__)
    assert [(loc.line, loc.owner_name) for loc in lines] == [
        (14, "forward"),
        (17, "forward"),
        (22, "forward"),
        (23, "helper"),
        (25, "forward"),
        (26, "forward"),
        (27, "forward"),
    ]


def test_exec_code_registered_in_linecache():
    text = "def f(x):\n    y = x * 2\n    return y\n"
    filename = f"<splice-test-{next(_counter)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    try:
        namespace = {}
        exec(compile(text, filename, "exec"), namespace)
        code = namespace["f"].__code__
        assert get_source(code) == Source(filename, text)
        assert locate(code, "return y") == [Located(3, 1, "f")]
    finally:
        del linecache.cache[filename]


def test_jupyter_style_cell():
    # IPython registers each cell's (transformed) text in linecache under a
    # synthetic file name, with mtime None so checkcache keeps it.
    cell = "import math\n\ndef area(r):\n    a = math.pi * r * r\n    return a\n"
    filename = f"/tmp/ipykernel_4242/{next(_counter)}.py"
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    try:
        namespace = {}
        exec(compile(cell, filename, "exec"), namespace)
        code = namespace["area"].__code__
        assert locate(code, 4) == [Located(4, 3, "area")]
    finally:
        del linecache.cache[filename]


def test_no_source_is_a_clear_error():
    namespace = {}
    exec(compile("def f():\n    return 1\n", "<nowhere>", "exec"), namespace)
    with pytest.raises(LocateError, match=r"no source text for f .*linecache\.cache\[filename\]"):
        locate(namespace["f"].__code__, 2)


def test_stale_source_line_added_above(model):
    module, path = model
    edit(path, "import os\n" + MODEL)
    with pytest.raises(SourceMismatchError) as info:
        locate(module.Attention.forward.__code__, 14)
    message = str(info.value)
    assert "no function or class named 'forward' starts on line 12 of this source" in message
    assert "'forward' starts on line 13" in message
    assert "reload the module" in message


def test_stale_source_blank_line_added_inside(tmp_path):
    text = "def f(x):\n    y = x + 1\n    return y\n"
    module, path = load(tmp_path, text)
    edit(path, "def f(x):\n\n    y = x + 1\n    return y\n")
    with pytest.raises(SourceMismatchError, match="has code on line 2, but in this source line 2 is blank"):
        locate(module.f.__code__, 2)


def test_stale_source_statement_added_inside(tmp_path):
    # Every old line still has code, so only compiling the text again shows it.
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path = load(tmp_path, text)
    edit(path, "def f(x):\n    y = x + 1\n    w = 0\n    z = y * 2\n    return z\n")
    with pytest.raises(SourceMismatchError, match="spans lines 1-4, but the text compiles to lines 1-5"):
        locate(module.f.__code__, 3)


def test_stale_source_no_longer_parses(tmp_path):
    module, path = load(tmp_path, "def f(x):\n    return x\n")
    edit(path, "def f(x):\n    return x +\n")
    with pytest.raises(SourceMismatchError, match="cannot parse the source: line 2: "):
        locate(module.f.__code__, 2)


def test_stale_cached_text_is_read_again(tmp_path):
    # linecache read the file before it was edited; the running code matches
    # the new text (it was reloaded), so the cached text must be dropped.
    module, path = load(tmp_path, "def f(x):\n    return x\n")
    assert linecache.getlines(str(path))
    new = "def f(x):\n    x += 1\n    return x\n"
    path.write_text(new)
    namespace = {}
    exec(compile(new, str(path), "exec"), namespace)
    assert locate(namespace["f"].__code__, "x += 1") == [Located(2, 1, "f")]


def test_text_read_directly_is_dropped_when_stale(tmp_path):
    """A file splice read itself (linecache had no entry) is kept like
    linecache keeps one: an edit is seen when the running code no longer
    matches the kept text, then the file is read again once."""
    module, path = load(tmp_path, "def f(x):\n    return x\n")
    linecache.checkcache(str(path))
    assert str(path) not in linecache.cache
    assert locate(module.f.__code__, "return x") == [Located(2, 1, "f")]
    assert locate_module._FILES[str(path)].utf8 == path.read_bytes()
    new = "def f(x):\n    x += 1\n    return x\n"
    path.write_text(new)
    namespace = {}
    exec(compile(new, str(path), "exec"), namespace)
    assert locate(namespace["f"].__code__, "x += 1") == [Located(2, 1, "f")]
    # the old code no longer matches the file: the clear error, not a wrong line
    with pytest.raises(SourceMismatchError):
        locate(module.f.__code__, "return x")


def test_a_file_linecache_holds_as_it_is_on_disk_is_read_directly(tmp_path):
    """A file linecache read as it still is on disk (an earlier traceback or
    warning from it) is read directly, as bytes: the same text, without
    joining linecache's lines and encoding them again for the parser."""
    module, path = load(tmp_path, MODEL.replace("# scale it", "# scale it \u00e9"))  # not ASCII
    lines = linecache.getlines(str(path))
    assert lines and str(path) in linecache.cache
    locate_module._FILES.pop(str(path), None)
    source = get_source(module.Attention.forward.__code__)
    assert source.utf8 == path.read_bytes()
    assert source.text == "".join(lines)
    assert source is locate_module._FILES[str(path)]
    assert locate(module.Attention.forward.__code__, "attn = helper(attn)")[0].line == 25


def test_text_linecache_read_before_an_edit_is_still_used(tmp_path):
    """Where linecache holds a file as it was before an edit on disk, its
    text is the one the running code came from: the probe goes there, and
    the edited file on disk does not replace it."""
    text = "def f(x):\n    y = x + 1\n    return y\n"
    module, path = load(tmp_path, text)
    assert linecache.getlines(str(path))
    path.write_text("# edited\n\n" + text)  # on disk now: f moved two lines down
    source = get_source(module.f.__code__)
    assert source.text == text
    assert locate(module.f.__code__, "return y") == [Located(3, 1, "f")]


def test_a_file_the_direct_read_declines_is_not_read_again_on_every_probe(tmp_path, monkeypatch):
    """A file whose text the direct read leaves to linecache (here: \\r\\n
    line breaks) is read at most once, not on every probe, while linecache
    holds that version of it; the text is linecache's."""
    path = tmp_path / f"splice_crlf_{next(_counter)}.py"
    path.write_bytes(b"def f(x):\r\n    y = x + 1\r\n    return y\r\n")
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    code = namespace["f"].__code__
    assert linecache.getlines(str(path))
    reads = []
    real = locate_module._read_regular
    monkeypatch.setattr(locate_module, "_read_regular", lambda p: reads.append(p) or real(p))
    for _ in range(3):
        assert get_source(code).text == "def f(x):\n    y = x + 1\n    return y\n"
    assert reads in ([], [str(path)])
    assert locate(code, "return y") == [Located(3, 1, "f")]


def test_text_read_directly_is_what_linecache_reads():
    """The direct read gives linecache's text, byte for byte, or leaves the
    file to linecache: checked on every third file under the interpreter's
    library directory (the standard library and what is installed there),
    which has files without a line break at the end (linecache adds one)."""
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    read = left = 0
    for path in sorted(root.glob("**/*.py"))[::3]:
        name = str(path)
        locate_module._FILES.pop(name, None)
        got = locate_module._read_file(name)
        if got is None:
            left += path.stat().st_size > 0  # empty files are left to linecache
            continue
        linecache.checkcache(name)
        assert got.text == "".join(linecache.getlines(name)), name
        assert got.utf8 == got.text.encode("utf-8")
        st = path.stat()
        assert got.stat == (st.st_size, st.st_mtime)
        read += 1
    assert read > 400 and left < read / 10, (read, left)


def test_a_last_line_without_a_break_reads_as_linecache_reads_it(tmp_path):
    path = tmp_path / f"nobreak_{next(_counter)}.py"
    path.write_bytes(b"def f(x):\n    return x")
    got = locate_module._read_file(str(path))
    assert got is not None and got.text == "".join(linecache.getlines(str(path))) == "def f(x):\n    return x\n"
    assert got.utf8 == got.text.encode()


def test_only_regular_files_are_read_directly(tmp_path, monkeypatch):
    """The direct read takes a regular file's bytes and status; a directory,
    a FIFO or a missing file is None (linecache decides then), and a file
    that grows between its status and its read is read to its end."""
    path = tmp_path / "regular.py"
    path.write_bytes(b"x = 1\n" * 1000)
    data, st = locate_module._read_regular(str(path))
    assert data == path.read_bytes() and st.st_size == len(data)
    assert locate_module._read_regular(str(tmp_path)) is None
    assert locate_module._read_regular(str(tmp_path / "missing.py")) is None
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    assert locate_module._read_regular(str(fifo)) is None  # without waiting for a writer

    real_fstat = os.fstat

    def fstat_then_grow(fd):  # the status is taken before the file grows
        st = real_fstat(fd)
        with open(path, "ab") as f:
            f.write(b"y = 2\n" * 20000)
        return st

    monkeypatch.setattr(locate_module.os, "fstat", fstat_then_grow)
    data, st = locate_module._read_regular(str(path))
    assert data == b"x = 1\n" * 1000 + b"y = 2\n" * 20000 and st.st_size == 6000


@pytest.mark.parametrize("content", [
    "\ufeffdef f(x):\n    return x\n".encode("utf-8"),
    # valid UTF-8 bytes declared latin-1: only the declaration says the text differs
    "# -*- coding: latin-1 -*-\ndef f(x):\n    return 'é'\n".encode(),
    "#!/usr/bin/env python\n# vim: set fileencoding=latin-1 :\ndef f(x):\n    return 'é'\n".encode(),
    b"def f(x):\r\n    return x\r\n",
])
def test_files_only_linecache_reads_right_are_left_to_it(tmp_path, content):
    path = tmp_path / f"left_{next(_counter)}.py"
    path.write_bytes(content)
    assert locate_module._read_file(str(path)) is None
    namespace: dict = {}
    exec(compile(content, str(path), "exec"), namespace)
    code = namespace["f"].__code__
    first = code.co_firstlineno
    assert locate(code, first + 1) == [Located(first + 1, first, "f")]
    assert locate_module._read_file("relative/name.py") is None


@pytest.mark.parametrize("content", [
    b"def f(x):\n    return '\xff'\n",  # not UTF-8
    b"def f(x):\n    return '\xed\xa0\x80'\n",  # an encoded surrogate, which strict UTF-8 refuses
])
def test_files_that_are_not_utf8_are_left_to_linecache(tmp_path, content):
    path = tmp_path / f"bad_{next(_counter)}.py"
    path.write_bytes(content)
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    assert locate_module._read_file(str(path)) is None


def test_text_read_directly_is_decoded_only_when_asked_for(tmp_path):
    """A first probe on a function of an imported module reads its lines
    from the file's bytes and checks the .pyc: the whole text is never
    decoded. When something needs it, it is the file's text."""
    module, path, _pyc = _with_pyc(tmp_path, MODEL)
    linecache.checkcache(str(path))
    assert str(path) not in linecache.cache
    forward = module.Attention.forward.__code__
    assert locate(forward, 14) == [Located(14, 12, "forward")]
    source = locate_module._FILES[str(path)]
    assert source._text is None
    assert source.text == path.read_text() and source._text is not None


def _rewritten_by_pytest(values):
    total = sum(values)
    assert total == (
        len(values)
    ), "pytest rewrites this assert"
    return total


def test_pytest_rewritten_code_still_matches():
    code = _rewritten_by_pytest.__code__
    assert any(name.startswith("@py_assert") for name in code.co_varnames)
    check_source(code, get_source(code))
    assert locate(code, "total = sum(values)")[0].owner_name == "_rewritten_by_pytest"


@pytest.mark.skipif(MINOR != 11, reason="comprehensions are code objects on 3.11 only")
def test_comprehension_scope_on_311(tmp_path):
    module, _ = load(tmp_path, "def f(a):\n    return [\n        i for i in a\n    ]\n")
    listcomp = next(c for c in module.f.__code__.co_consts if getattr(c, "co_name", "") == "<listcomp>")
    assert locate(listcomp, None) == [Located(2, 2, "<listcomp>")]
    with pytest.raises(LocateError, match="holds an expression, not statements"):
        locate(listcomp, 3)


def test_source_text_is_one_object_while_linecache_keeps_the_lines():
    """get_source returns the same text object while linecache holds the same
    line list (the caches keyed by the text then hash and compare it once),
    and a new text when the registered lines change, even in place."""
    text = "def f(x):\n    y = x * 2\n    return y\n"
    filename = f"<splice-test-{next(_counter)}>"
    lines = text.splitlines(True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    try:
        namespace: dict = {}
        exec(compile(text, filename, "exec"), namespace)
        code = namespace["f"].__code__
        first = get_source(code).text
        assert first == text
        assert get_source(code).text is first
        lines.append("# a line added in place\n")
        assert get_source(code).text == text + "# a line added in place\n"
        new = "def f(x):\n    return x\n"
        linecache.cache[filename] = (len(new), None, new.splitlines(True), filename)
        assert get_source(code).text == new
    finally:
        del linecache.cache[filename]


def _whole_file_answer(code, line):
    """What the index of the whole file answers, or its error message."""
    ix = _native.LocateIndex(get_source(code).text)
    try:
        return [Located(*t) for t in ix.locate(code.co_firstlineno, code.co_name, line, MINOR)]
    except _native.LocateFailure as e:
        return str(e)


def test_answers_from_the_smaller_texts_are_the_whole_files(model):
    """A method is located in the index of its own def's text alone (a first
    probe in a large class then parses one method, not the class, nor the
    file); every answer and every error message is the whole file's."""
    module, path = model
    forward = module.Attention.forward.__code__
    helper = next(c for c in forward.co_consts if getattr(c, "co_name", "") == "helper")
    for code in (forward, helper, module.Attention.__init__.__code__, module.tiny.__code__):
        for line in [*range(1, 34), "attn = helper(attn)", "return y + 1", "self.scale = scale", None]:
            try:
                got = locate(code, line)
            except LocateError as e:
                got = str(e).removeprefix(f"{path}: ")
            assert got == _whole_file_answer(code, line), (code.co_name, line)


def test_stale_source_statement_added_inside_a_method(tmp_path):
    # The method's own text is compiled (not its class's): the edit still shows.
    text = "class A:\n    def f(self, x):\n        y = x + 1\n        return y\n\n    def g(self):\n        pass\n"
    module, path = load(tmp_path, text)
    edit(path, text.replace("        return y\n", "        y += 2\n        return y\n"))
    with pytest.raises(SourceMismatchError, match="spans lines 2-4, but the text compiles to lines 2-5"):
        locate(module.A.f.__code__, 3)
    # g, below the edit, starts a line later in the new text.
    with pytest.raises(SourceMismatchError, match="'g' starts on line 7"):
        locate(module.A.g.__code__, 7)


def test_code_the_smaller_texts_cannot_stand_for(tmp_path):
    """Where a def's own text does not compile alone (a def inside a
    top-level `if`, a `nonlocal` of its enclosing function) or a string in
    column 0 misleads the guess of the top-level statement, the whole file
    is used: locating still works and gives the same answers."""
    text = textwrap.dedent(
        '''\
        import sys
        if sys.version_info >= (3, 0):
            def under_if(x):
                y = x + 1
                return y

        def outer():
            count = 0
            def bump():
                nonlocal count
                count += 1
                return count
            return bump

        class Doc:
            text = """
        column zero
        """
            def method(self):
                z = 2
                return z
        '''
    )
    module, _ = load(tmp_path, text)
    bump = module.outer().__code__
    # The cases are what they say: the own texts do not compile, the guess is wrong.
    ix = _native.LocateIndex(text)
    for code in (module.under_if.__code__, bump):
        with pytest.raises(SyntaxError, match="unexpected indent|no binding for nonlocal"):
            compile(ix.own_text(code.co_firstlineno, code.co_name, MINOR), "<own>", "exec")
    assert _part_index(Source("<t>", text), module.Doc.method.__code__) is None
    for code, line, want in (
        (module.under_if.__code__, "return y", 5),
        (bump, "count += 1", 11),
        (module.Doc.method.__code__, "return z", 21),
    ):
        check_source(code, get_source(code))
        assert locate(code, line) == [Located(want, code.co_firstlineno, code.co_name)]
        assert locate(code, line) == _whole_file_answer(code, line)


def test_a_method_is_answered_from_its_own_text(tmp_path, monkeypatch):
    """Locating a method parses that method's lines only: neither its
    class's text nor the whole file is indexed (with a ``.pyc`` to vouch for
    the text, as for installed packages; without one the compile check
    compiles the class's text, which costs more than its parse)."""
    filler = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(200))
    target = "    def target(self, x):\n        y = x + 1\n        return y\n\n"
    text = f"class Big:\n{filler}{target}{filler.replace('def m', 'def n')}"
    module, _, _ = _with_pyc(tmp_path, text)
    code = module.Big.target.__code__
    assert locate_module._bytecode_verdict(code, get_source(code)) == locate_module._PROVEN
    parsed: list[tuple[int, int]] = []
    real = _native.LocateIndex

    class Counting:
        def __new__(cls, source, first_line=1):
            parsed.append((first_line, source.count("\n")))
            return real(source, first_line)

    monkeypatch.setattr(locate_module._native, "LocateIndex", Counting)
    locate_module._DEF_INDEXES.clear()
    locate_module._excerpt_index.cache_clear()
    locate_module._index.cache_clear()
    assert locate(code, "return y") == [Located(code.co_firstlineno + 2, code.co_firstlineno, "target")]
    assert statement_lines(code) == [Located(code.co_firstlineno + n, code.co_firstlineno, "target") for n in (1, 2)]
    # One parse, of an excerpt that ends right after the method, not of the
    # 1,200-line class: the `if 1:` that opens its indented block on the
    # line before it, its three lines and the blank line after them, indexed
    # at the file's line numbers (no empty lines before it to lex).
    assert parsed == [(code.co_firstlineno - 1, 5)]


def _answers(index, minor: int, file_lines: list[str], text_start: int) -> list:
    """What ``index`` answers, for every code object it holds: its
    statements, each line from ``text_start - 2`` on and each line's text
    (``file_lines``) located in it, its own text, its lines checked (an
    error's message stands for the answer)."""

    def ask(method, *args):
        try:
            return getattr(index, method)(*args)
        except _native.LocateFailure as e:
            return f"{type(e).__name__}: {e}"

    out: list = [index.line_count]
    everything = index.statement_lines(None, None, minor)
    out.append(everything)
    for first, name in sorted({(first, name) for _, first, name in everything}):
        own = ask("statement_lines", first, name, minor)
        out += [own, ask("own_text", first, name, minor), ask("locate", first, name, None, minor)]
        lines = [line for line, *_ in own] if isinstance(own, list) else []
        out.append(ask("check_code_lines", first, name, lines, minor))
        for line in range(max(first, text_start) - 2, index.line_count + 2):
            out.append(ask("locate", first, name, line, minor))
            if 0 < line <= len(file_lines) and file_lines[line - 1].strip():
                out.append(ask("locate", first, name, file_lines[line - 1].strip(), minor))
    return out


def test_an_excerpt_indexed_at_its_first_line_answers_as_the_padded_excerpt():
    """``block_excerpt`` cuts a method out without the thousands of empty
    lines that would keep its line numbers; ``LocateIndex(text, first_line)``
    must answer every question exactly as the index of the padded text
    does. Checked on every def and class of several stdlib modules and of
    one with indented blocks, decorators and nested code."""
    import ast as ast_module
    import inspect as inspect_module

    texts = [Path(m.__file__).read_text(encoding="utf-8") for m in (textwrap, linecache, inspect_module)]
    texts.append(MODEL + "if True:\n    @passthrough\n    def under(x):\n        return [y for y in x]\n")
    checked = 0
    for text in texts:
        file_lines = text.splitlines()
        for node in ast_module.walk(ast_module.parse(text)):
            if not isinstance(node, (ast_module.FunctionDef, ast_module.AsyncFunctionDef, ast_module.ClassDef)):
                continue
            line = min([node.lineno] + [d.lineno for d in node.decorator_list])
            cut = _native.block_excerpt(text, line)
            if cut is None:
                continue
            start, end, excerpt, first = cut
            assert first in (start, start - 1) and not excerpt.startswith("\n")
            padded = "\n" * (first - 1) + excerpt
            assert padded == _native.excerpt(text, start, end)
            try:
                whole = _native.LocateIndex(padded)
            except _native.LocateFailure as e:
                with pytest.raises(_native.LocateFailure) as got:
                    _native.LocateIndex(excerpt, first)
                assert str(got.value) == str(e)  # the same error, at the file's line
                continue
            at = _native.LocateIndex(excerpt, first)
            for minor in (11, 13, 15):
                assert _answers(at, minor, file_lines, first) == _answers(whole, minor, file_lines, first), (line, minor)
            checked += 1
    assert checked > 150, checked


def test_an_excerpt_cannot_start_before_line_one_or_absurdly_far_down():
    with pytest.raises(_native.LocateFailure, match="cannot start on line 0"):
        _native.LocateIndex("x = 1\n", 0)
    with pytest.raises(_native.LocateFailure, match="cannot start on line"):
        _native.LocateIndex("x = 1\n", 1 << 40)
    assert _native.LocateIndex("x = 1\n", 7).statement_lines(None, None, MINOR) == [(7, 1, "<module>")]


def test_a_wrong_guess_of_the_def_falls_back_to_larger_texts(tmp_path):
    """The def's extent is guessed from indentation: a string with lines in
    column 0 cuts the guess short. The cut text does not parse, and the
    answers come from the class's or the file's text, the same as ever."""
    text = textwrap.dedent(
        '''\
        class A:
            def f(self):
                doc = """
        column zero
        """
                y = 1
                return y

        if True:
            def under_if(x):
                return x + 1
        '''
    )
    module, _ = load(tmp_path, text)
    f = module.A.f.__code__
    assert _native.block_excerpt(text, f.co_firstlineno)[:2] == (2, 4)  # cut inside the string
    assert _block_index(Source("<t>", text), f) is None
    assert locate(f, "return y") == [Located(7, 2, "f")] == _whole_file_answer(f, "return y")
    # A def inside a block is cut out with an `if 1:` before it.
    under_if = module.under_if.__code__
    assert _block_index(Source("<t>", text), under_if) is not None
    assert locate(under_if, "return x + 1") == [Located(11, 10, "under_if")] == _whole_file_answer(under_if, 11)


# ---- the .pyc proves the text (no compile) ---------------------------------


def _count_compiles(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = locate_module._compiled_lines

    def spy(text, filename, flags, optimize=-1):
        calls.append(filename)
        return real(text, filename, flags, optimize)

    spy.cache_clear = real.cache_clear  # type: ignore[attr-defined]
    monkeypatch.setattr(locate_module, "_compiled_lines", spy)
    return calls


def _with_pyc(tmp_path: Path, text: str):
    """A module imported from a file whose .pyc the import wrote, and the
    .pyc's path (asserted to exist: the test is about it)."""
    module, path = load(tmp_path, text)
    pyc = Path(importlib.util.cache_from_source(str(path)))
    if not pyc.exists():  # PYTHONDONTWRITEBYTECODE: write it as the import would
        py_compile.compile(str(path), cfile=str(pyc), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    os.utime(pyc, (time.time() + 1, time.time() + 1))  # written after the source, as an import does
    assert pyc.exists()
    return module, path, pyc


def test_a_matching_pyc_proves_the_source_without_compiling(tmp_path, monkeypatch):
    """The first probe in a file used to compile the function's text to
    check it against the running code (0.6 ms for timm's attention); the
    .pyc the import wrote proves the same when its header matches the text
    linecache read and it holds an equal code object."""
    module, path, _pyc = _with_pyc(tmp_path, MODEL)
    compiles = _count_compiles(monkeypatch)
    forward = module.Attention.forward.__code__
    assert locate_module._bytecode_verdict(forward, get_source(forward)) == locate_module._PROVEN
    assert locate(forward, 14) == [Located(14, 12, "forward")]
    assert locate(module.square.__code__, None) == [Located(31, 31, "<lambda>")]
    assert compiles == []


def test_the_pyc_is_read_without_unmarshalling_it(tmp_path, monkeypatch):
    """splice-pyc's index answers; marshal.loads, which builds every code
    object of the module, is not called."""
    module, path, _pyc = _with_pyc(tmp_path, MODEL)

    def no_loads(data):
        raise AssertionError("the .pyc was unmarshalled")

    monkeypatch.setattr(locate_module.marshal, "loads", no_loads)
    locate_module._bytecode_cache.cache_clear()
    forward = module.Attention.forward.__code__
    assert locate_module._bytecode_verdict(forward, get_source(forward)) == locate_module._PROVEN
    assert isinstance(locate_module._bytecode_cache(str(path), *get_source(forward).stat)[0], _native.PycIndex)


def test_a_pyc_the_index_cannot_read_is_unmarshalled(tmp_path, monkeypatch):
    """Data splice-pyc does not know (a newer marshal format) falls back to
    marshal.loads and code object ==, with the same verdicts."""
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path, pyc = _with_pyc(tmp_path, text)

    def unreadable(data, start=0):
        raise ValueError("unknown marshal type code")

    monkeypatch.setattr(locate_module._native, "PycIndex", unreadable)
    locate_module._bytecode_cache.cache_clear()
    code = module.f.__code__
    assert isinstance(locate_module._bytecode_cache(str(path), *get_source(code).stat)[0], dict)
    assert locate_module._bytecode_verdict(code, get_source(code)) == locate_module._PROVEN
    edit(path, "def f(x):\n    y = x + 1\n\n    z = y * 2\n    return z\n")
    py_compile.compile(str(path), cfile=str(pyc), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    os.utime(pyc, (time.time() + 2, time.time() + 2))
    locate_module._FILES.pop(str(path), None)
    fresh = get_source(code)
    assert locate_module._bytecode_cache(str(path), *fresh.stat)[1]  # header matches the edit
    assert isinstance(locate_module._bytecode_cache(str(path), *fresh.stat)[0], dict)
    assert locate_module._bytecode_verdict(code, fresh) != locate_module._PROVEN


def test_an_edit_after_import_is_caught_though_a_pyc_exists(tmp_path, monkeypatch):
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path, _pyc = _with_pyc(tmp_path, text)
    edit(path, "def f(x):\n    y = x + 1\n    w = 0\n    z = y * 2\n    return z\n")
    compiles = _count_compiles(monkeypatch)
    assert locate_module._bytecode_verdict(module.f.__code__, get_source(module.f.__code__)) != locate_module._PROVEN
    with pytest.raises(SourceMismatchError, match="spans lines 1-4, but the text compiles to lines 1-5"):
        locate(module.f.__code__, 3)
    assert compiles  # decided by the compile, as without a .pyc


@pytest.mark.parametrize(
    "edited",
    [
        "def f(x):\n    y = x - 1\n    z = y * 2\n    return z\n",  # an operator
        "def f(x):\n    z = y * 2\n    y = x + 1\n    return z\n",  # two lines swapped
        "def f(x):\n    y = x + 10\n    z = y * 2\n    return z\n",  # a constant
    ],
)
def test_an_edit_that_keeps_every_line_in_place_is_caught_when_a_pyc_holds_the_running_code(tmp_path, edited):
    """The running code is exactly the .pyc's (its header is of the old
    file), so the edited text must compile to an equal code object; its
    lines alone fit (the edit kept them), which passed before."""
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path, _pyc = _with_pyc(tmp_path, text)
    edit(path, edited)
    later = time.time() + 3  # (after the .pyc, which _with_pyc dates a second ahead)
    os.utime(path, (later, later))
    linecache.checkcache(str(path))
    code = module.f.__code__
    assert locate_module._bytecode_verdict(code, get_source(code)) == locate_module._FROM_PYC
    with pytest.raises(SourceMismatchError, match="the text compiles to other code than the running code"):
        locate(code, 3)


def test_a_file_touched_after_import_is_not_a_mismatch(tmp_path):
    """The same text with a new modification time (a checkout, `touch`): the
    .pyc's header no longer matches it, and the fresh compile is equal."""
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path, pyc = _with_pyc(tmp_path, text)
    later = time.time() + 5
    os.utime(path, (later, later))
    linecache.checkcache(str(path))
    locate_module._FILES.pop(str(path), None)
    code = module.f.__code__
    assert locate_module._bytecode_verdict(code, get_source(code)) == locate_module._FROM_PYC
    assert locate(code, "z = y * 2") == [Located(3, 1, "f")]


@pytest.mark.parametrize("mode", ["CHECKED_HASH", "UNCHECKED_HASH"])
def test_a_hash_based_pyc_holding_the_running_code_compares_exactly(tmp_path, mode):
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path, pyc = _with_pyc(tmp_path, text)
    py_compile.compile(str(path), cfile=str(pyc), invalidation_mode=getattr(py_compile.PycInvalidationMode, mode))
    locate_module._bytecode_cache.cache_clear()
    code = module.f.__code__
    assert locate_module._bytecode_verdict(code, get_source(code)) == locate_module._FROM_PYC
    assert locate(code, "z = y * 2") == [Located(3, 1, "f")]
    edit(path, "def f(x):\n    y = x * 1\n    z = y * 2\n    return z\n")
    locate_module._FILES.pop(str(path), None)
    with pytest.raises(SourceMismatchError, match="the text compiles to other code than the running code"):
        locate(code, 3)


def test_a_pyc_rewritten_for_the_edited_text_does_not_vouch_for_old_code(tmp_path):
    """Another process imported the edited file and rewrote the .pyc: its
    header matches the new text, but its code is not the running code."""
    text = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    module, path, pyc = _with_pyc(tmp_path, text)
    edit(path, "def f(x):\n    y = x + 1\n\n    z = y * 2\n    return z\n")
    py_compile.compile(str(path), cfile=str(pyc), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    os.utime(pyc, (time.time() + 2, time.time() + 2))
    assert locate_module._bytecode_verdict(module.f.__code__, get_source(module.f.__code__)) != locate_module._PROVEN
    with pytest.raises(SourceMismatchError, match="in this source line 3 is blank"):
        locate(module.f.__code__, 3)


def test_a_same_size_edit_in_the_same_second_is_not_vouched_for(tmp_path):
    """The .pyc header keeps whole seconds: an edit of the same size within
    the second of the import matches it. The .pyc's own time, older than
    the edit, rules it out, and the compile decides (here: lines moved)."""
    text = "def f(x):\n    y = x + 1\n    return y\n\n"
    module, path, pyc = _with_pyc(tmp_path, text)
    stamp = int(os.stat(path).st_mtime)
    os.utime(pyc, (stamp + 0.5, stamp + 0.5))
    same_size = "def f(x):\n\n    y = x + 1\n    return y\n"
    assert len(same_size) == len(text)
    path.write_text(same_size)
    os.utime(path, (stamp + 0.7, stamp + 0.7))  # same second, after the .pyc
    linecache.checkcache(str(path))
    code = module.f.__code__
    assert locate_module._bytecode_verdict(code, get_source(code)) != locate_module._PROVEN
    with pytest.raises(SourceMismatchError):
        locate(code, 3)


def test_damaged_source_text_is_a_locate_failure_never_a_panic():
    """Source text is whatever is on disk or in linecache (half-edited,
    cut short, NUL bytes, unbalanced brackets): the native index and the
    excerpt helpers answer or raise ``LocateFailure``. A Rust panic would
    surface as ``pyo3_runtime.PanicException``, a ``BaseException`` no
    caller expects. Random edits of stdlib sources (fixed seed)."""
    import random

    texts = [Path(m.__file__).read_text(encoding="utf-8") for m in (textwrap, linecache, importlib.util)]
    pieces = ["(", ")", "[", "]", "{", "}", ":", "\n", "    ", "\t", "'''", '"', "\\", "def ", "class ",
              "lambda ", "f'{", "}'", "async ", "match x:\n case 1:\n  pass\n", "@d\n", "#", "\r", "\x00",
              "\u00e9", "if 1:\n", "else:\n", "try:\n", "except* E:\n", "yield", "type X = int\n", "\f"]
    rng = random.Random(7)
    parsed = failed = 0
    for _ in range(300):
        lines = rng.choice(texts).splitlines(True)
        # from a line at the left margin, so that unedited slices mostly parse
        start = rng.choice([i for i, text in enumerate(lines) if text[:1].isalpha()])
        lines = lines[start:start + rng.randint(1, 80)]
        for _ in range(rng.choice((0, 0, 1, 2, 5))):
            if lines and rng.random() < 0.5:
                j = rng.randrange(len(lines))
                p = rng.randrange(len(lines[j]) + 1)
                lines[j] = lines[j][:p] + rng.choice(pieces) + lines[j][p:]
            elif lines and rng.random() < 0.5:
                del lines[rng.randrange(len(lines))]
            else:
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(pieces))
        text = "".join(lines)
        line = rng.randint(0, text.count("\n") + 3)
        cut = _native.block_excerpt(text, line)
        assert cut == _native.block_excerpt(text.encode(), line)
        if cut is not None:
            try:
                _native.LocateIndex(cut[2], cut[3]).statement_lines(None, None, MINOR)
            except _native.LocateFailure:
                pass
        _native.top_level_lines(text, line)
        _native.excerpt(text, line, line + rng.randint(-3, 50))
        try:
            index = _native.LocateIndex(text)
        except _native.LocateFailure:
            failed += 1
            continue
        parsed += 1
        spec = lines[rng.randrange(len(lines))].strip() if lines else ""
        for minor in (11, 12, 13, 14, 15):
            for name in ("<module>", "<lambda>", "<genexpr>", "<listcomp>", "f"):
                calls = (
                    (index.locate, (line, name, line, minor)),
                    (index.locate, (line, name, spec, minor)),
                    (index.locate, (line, name, None, minor)),
                    (index.locate, (None, None, spec, minor)),
                    (index.statement_lines, (line, name, minor)),
                    (index.own_text, (line, name, minor)),
                    (index.check_code_lines, (line, name, [line, line + 1], minor)),
                )
                for method, args in calls:
                    try:
                        method(*args)
                    except _native.LocateFailure:
                        pass
    assert parsed > 50 and failed > 50, (parsed, failed)  # both outcomes were exercised


def test_a_function_of_a_module_imported_frozen_is_located_in_its_source_file():
    # os, posixpath, codecs... are compiled into the interpreter; their
    # functions' co_filename is "<frozen posixpath>", which linecache cannot
    # read: a breakpoint by line text there raised LocateError. The source is
    # the module's __file__, checked against the running code as any other.
    import os
    import posixpath

    import splice

    assert posixpath.join.__code__.co_filename == "<frozen posixpath>"
    source = locate_module.get_source(posixpath.join.__code__)
    assert source.filename == posixpath.__file__
    with splice.breakpoint(posixpath.join, line="sep = _get_sep(a)") as bp:
        bp.exec("a = 'zz'")
        assert os.path.join("x", "y") == "zz/y"
    assert os.path.join("x", "y") == "x/y"
