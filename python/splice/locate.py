"""Find where a probe goes: source retrieval, line location, stale-source checks.

This is the Python side of the pipeline's *locate* stage (the parsing is done
by the Rust crate ``splice-locate`` behind ``splice._native``):

- :func:`get_source` reads the source text a code object was compiled from:
  what :mod:`linecache` holds for it first (so IPython/Jupyter cells and code
  run with ``exec`` whose text was registered in ``linecache.cache`` work,
  and a file linecache read before it was edited gives the text the running
  code came from), read from the file itself when linecache holds no other
  text for it, else through linecache and :func:`inspect.getsourcefile`.
- :func:`check_source` raises :class:`~splice.errors.SourceMismatchError` when
  that text is not what the running code was compiled from (the file was
  edited after it was imported), instead of letting a probe land on the wrong
  line.
- :func:`locate` turns a line spec (``int`` line number, ``str`` line text, or
  ``None`` for "on entry") into the statement lines of a code object where a
  probe can go; :func:`locate_in_source` does the same for a whole file or
  cell (``file=``/``module=`` breakpoints), naming for each line the innermost
  code object that runs it; :func:`statement_lines` lists them all.

Every failure is a :class:`~splice.errors.LocateError` (a ``ValueError``)
whose message says what the line is and what would work, e.g.
``model.py: line 12 has no code (it is blank); the nearest statements start on
lines 11 and 14``.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import linecache
import marshal
import os
import re
import stat
import sys
from dataclasses import dataclass
from types import CodeType
from typing import Any, Optional, Union

from splice import _native
from splice.errors import LocateError, SourceMismatchError

__all__ = [
    "Located",
    "LineSpec",
    "Source",
    "check_source",
    "get_source",
    "locate",
    "locate_in_source",
    "statement_lines",
]

#: A line spec: a line number (from 1 at the top of the file or cell), the
#: text of a statement's first line (compared after stripping whitespace), or
#: ``None`` for "when the code object is entered".
LineSpec = Union[int, str, None]

MINOR = sys.version_info[1]


@dataclass(frozen=True)
class Located:
    """A statement line where a probe can go, and the code object that runs it.

    ``owner_firstlineno``/``owner_name`` are the ``co_firstlineno``/``co_name``
    of that code object (for a decorated function, ``co_firstlineno`` is its
    first decorator's line). For ``line=None`` the line is ``co_firstlineno``.
    """

    line: int
    owner_firstlineno: int
    owner_name: str

    def owned_by(self, code: CodeType) -> bool:
        """Is ``code`` the code object that runs this line?"""
        return (self.owner_firstlineno, self.owner_name) == (code.co_firstlineno, code.co_name)


class Source:
    """The text of a module or notebook cell, and the file name it goes by.

    ``stat``: the size and modification time of the file the text was read
    from, when that is known (what a ``.pyc`` header is compared with);
    ``utf8``: the file's bytes when they are exactly the UTF-8 of the text.
    Given those bytes, the text is decoded only when something asks for it:
    a first probe in an installed module reads the method's lines from the
    bytes (``_native.block_excerpt``) and checks the ``.pyc``, and never
    needs the whole ``str`` (decoding the 250 KB of transformers'
    generation/utils.py, which is not ASCII, into a fresh 1 MB string took
    0.5 ms)."""

    __slots__ = ("filename", "stat", "utf8", "_text")

    def __init__(
        self,
        filename: str,
        text: Optional[str] = None,
        stat: Optional[tuple[int, float]] = None,
        utf8: Optional[bytes] = None,
    ) -> None:
        if text is None and utf8 is None:
            raise TypeError("Source needs the text or its UTF-8 bytes")
        self.filename = filename
        self.stat = stat
        self.utf8 = utf8
        self._text = text

    @property
    def text(self) -> str:
        """The text (decoded from ``utf8`` on first use)."""
        if self._text is None:
            assert self.utf8 is not None
            self._text = self.utf8.decode("utf-8")
        return self._text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Source):
            return NotImplemented
        if self.filename != other.filename:
            return False
        if self.utf8 is not None and other.utf8 is not None:
            return self.utf8 == other.utf8
        return self.text == other.text

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Source(filename={self.filename!r}, stat={self.stat!r})"


def get_source(code: CodeType, module_globals: Optional[dict[str, Any]] = None) -> Source:
    """The source text ``code`` was compiled from.

    Looks in :mod:`linecache` under ``code.co_filename`` (this covers files on
    disk, zip imports when ``module_globals`` is given, IPython/Jupyter cells
    and any text registered in ``linecache.cache``), then under the file name
    :func:`inspect.getsourcefile` finds. Raises :class:`LocateError` when
    there is none. A file that linecache has not read, or has read as it is
    on disk now (the same size and modification time), is read directly
    (:func:`_read_file`), which gives the same text.
    """
    filename = code.co_filename
    entry: Any = linecache.cache.get(filename)
    on_disk = _disk_stat(entry)
    if entry is None or (on_disk is not None and _DECLINED.get(filename) != on_disk):
        # Not cached, or cached from the file as it is now: then the
        # direct read gives the same text (both read that version of the
        # file), as bytes, which a first probe in a big file needs: joining
        # linecache's lines and encoding them to UTF-8 for the native parser
        # cost 0.5-1 ms for transformers' generation/utils.py, which is in
        # linecache as soon as anything printed a warning or traceback
        # from it.
        read = _read_file(filename)
        if read is not None and (entry is None or read.stat == on_disk):
            return read
    lines = linecache.getlines(filename, module_globals)
    if not lines and module_globals is None:
        # A module imported from a zip file (zipimport) or by another loader
        # with get_source: linecache reads it through the module's loader,
        # which it is given only with the module's globals (3.11-3.13; 3.14+
        # find the loader themselves).
        found = _module_globals_for(filename)
        if found is not None:
            lines = linecache.getlines(filename, found)
    if not lines:
        try:
            path = inspect.getsourcefile(code)
        except TypeError:
            path = None
        if path and path != filename:
            lines = linecache.getlines(path, module_globals)
            if lines:
                filename = path
    if not lines:
        # A stdlib module the interpreter froze into itself (os, posixpath,
        # codecs...): its functions say "<frozen posixpath>", its __file__
        # names the source it was compiled from. The source is checked
        # against the running code like any other (check_source).
        path = _frozen_source(filename)
        if path is not None:
            read = _read_file(path)
            if read is not None:
                return read
            lines = linecache.getlines(path)
            if lines:
                filename = path
    if not lines:
        # Code from `python -c` or typed at the interactive prompt (3.14+):
        # CPython keeps its text for tracebacks by code object, outside
        # linecache's file cache.
        from_code = getattr(linecache, "_getlines_from_code", None)
        if from_code is not None:
            lines = from_code(code)
    if not lines:
        if filename.endswith(".py") and not os.path.exists(filename):
            # a file that was there at compile time: a module imported from
            # its .pyc alone, or a file deleted or moved since
            raise LocateError(
                f"no source text for {_describe(code)}: {filename} does not exist (a module "
                f"imported from a .pyc without its .py, or a file moved or deleted since). "
                f"Put the source file back at that path to probe a line by its text"
            )
        raise LocateError(
            f"no source text for {_describe(code)}: {filename!r} is not a file "
            f"linecache can read. For code compiled from a string, register its "
            f"text first: linecache.cache[filename] = "
            f"(len(text), None, text.splitlines(True), filename)"
        )
    return Source(filename, _joined(filename, lines), _entry_stat(filename, lines))


def _module_globals_for(filename: str) -> Optional[dict[str, Any]]:
    """The globals of the imported module whose ``__file__`` is ``filename``,
    when that names no file on disk (a zip import's ``archive.zip/mod.py``);
    else None. Not for ``<...>`` names or files on disk, which linecache
    reads without a loader."""
    if filename.startswith("<") or not os.path.isabs(filename) or os.path.exists(filename):
        return None
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == filename:
            namespace = getattr(module, "__dict__", None)
            return namespace if isinstance(namespace, dict) else None
    return None


def frozen_name(module: Any) -> Optional[str]:
    """The name of ``module`` if it was imported frozen (``os``,
    ``posixpath``, ``codecs``...: compiled into the interpreter), whose
    functions' ``co_filename`` is ``"<frozen NAME>"``; else None."""
    spec = getattr(module, "__spec__", None)
    if spec is None or getattr(spec, "origin", None) != "frozen":
        return None
    name = getattr(spec, "name", None)
    return name if isinstance(name, str) else None


def _frozen_source(filename: str) -> Optional[str]:
    """The source file of the frozen module whose functions' ``co_filename``
    is ``filename`` (``"<frozen posixpath>"``), if it is imported and says."""
    if not (filename.startswith("<frozen ") and filename.endswith(">")):
        return None
    module = sys.modules.get(filename[len("<frozen ") : -1])
    path = getattr(module, "__file__", None)
    return path if frozen_name(module) is not None and isinstance(path, str) else None


def _disk_stat(entry: Any) -> Optional[tuple[int, float]]:
    """Size and modification time of the file a linecache entry was read
    from, or None (no entry, text registered by hand, a lazy entry)."""
    if entry is None or len(entry) != 4 or entry[1] is None:
        return None
    return (entry[0], entry[1])


def _entry_stat(filename: str, lines: list[str]) -> Optional[tuple[int, float]]:
    """Size and modification time of the file linecache read ``lines`` from
    (its entry for ``filename`` holds that very list), else None (text
    registered by hand, an entry replaced since)."""
    entry: Any = linecache.cache.get(filename)
    stat = _disk_stat(entry)
    return stat if stat is not None and entry[2] is lines else None


#: file name -> the Source read from it by :func:`_read_file`. Like
#: linecache, a file is read once and its text kept until a check finds it
#: stale (:func:`_checked_source` then reads it again).
_FILES: dict[str, Source] = {}

#: file name -> size and modification time of the version of it whose text
#: :func:`_read_file` read and left to linecache, so that a file linecache
#: holds is not read again on every probe only to be declined again.
_DECLINED: dict[str, tuple[int, float]] = {}

#: a PEP 263 encoding declaration
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)


def _read_file(filename: str) -> Optional[Source]:
    """The text of the file ``filename`` names, read directly, or None to
    leave it to linecache: a relative name (linecache searches
    ``sys.path``), anything but a regular file, and anything whose text
    is not its bytes as UTF-8 line for line (a byte-order mark, a declared
    encoding other than UTF-8, a ``\\r`` line break, which linecache's
    text mode turns into ``\\n``). For the rest the text is what linecache
    would join from its lines, at a fraction of the cost: linecache splits
    the file into a list of lines through a text stream and splice joined
    them again (1.3 ms, cold, for the 4,600 lines of transformers'
    generation/utils.py, against 0.2 ms here)."""
    hit = _FILES.get(filename)
    if hit is not None:
        return hit
    if not os.path.isabs(filename):
        return None
    read = _read_regular(filename)
    if read is None:
        return None
    data, st = read
    if not _is_plain_utf8(data):
        if len(_DECLINED) >= 64:
            _DECLINED.clear()
        _DECLINED[filename] = (st.st_size, st.st_mtime)
        return None
    if not data.endswith(b"\n"):  # linecache ends the last line too
        data += b"\n"
    if len(_FILES) >= 16:
        _FILES.clear()
    source = _FILES[filename] = Source(filename, None, (st.st_size, st.st_mtime), data)
    return source


def _is_plain_utf8(data: bytes) -> bool:
    """Whether ``data`` is a file's text as linecache reads it, line for
    line: not empty (linecache's text of an empty file differs by version),
    no byte-order mark, no ``\r``, no declared encoding other than UTF-8,
    valid UTF-8."""
    if not data or data.startswith(b"\xef\xbb\xbf") or b"\r" in data:
        return False
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    for line in (data if second < 0 else data[:second]).split(b"\n")[:2]:  # no copy of the rest
        m = _CODING.match(line)
        if m and m.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            return False
    return _native.is_utf8(data)


def _read_regular(path: str) -> Optional[tuple[bytes, os.stat_result]]:
    """The bytes of the regular file ``path`` and its status, or None (no
    such file, not a regular file, unreadable). Read with ``os.read``: a
    first probe reads two files (the source, the ``.pyc``), and ``open()``
    made a file object and a buffered reader for each (a fifth of the
    reads' cost on cold caches)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer
        # (it changes nothing for a regular file); os.open's descriptors are
        # not inherited by child processes already (PEP 446)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:  # it grew since: read to the end
            data = _read_rest(fd, data)
        return data, st
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_rest(fd: int, first: bytes) -> bytes:
    """``first`` and the rest of the file ``fd`` reads. (A function: no loop
    directly in a ``try`` block, whose ``finally`` a KeyboardInterrupt on the
    loop's back edge would skip on 3.12-3.14; see lifecycle._plan_sync.)"""
    parts = [first]
    while parts[-1]:
        parts.append(os.read(fd, 1 << 16))
    return b"".join(parts)


#: file name -> (the line list linecache gave, its length, its text)
_TEXTS: dict[str, tuple[list[str], int, str]] = {}


def _joined(filename: str, lines: list[str]) -> str:
    """``"".join(lines)``, the same string object while linecache keeps the
    same list: every enter of a probe reads the source two or three times,
    and the caches keyed by the text (the parsed index, the fresh-compile
    line tables) then hash and compare one object instead of a new copy of
    the whole file each time. (linecache replaces a file's list when it
    reads the file again; the length check is for code that edits a
    registered list in place.)"""
    hit = _TEXTS.get(filename)
    if hit is not None and hit[0] is lines and hit[1] == len(lines):
        return hit[2]
    text = "".join(lines)
    if len(_TEXTS) >= 64:
        _TEXTS.clear()
    _TEXTS[filename] = (lines, len(lines), text)
    return text


def check_source(code: CodeType, source: Source) -> None:
    """Raise :class:`SourceMismatchError` unless ``source`` is the text the
    running ``code`` was compiled from.

    Two checks. First, the code object must be defined in the text where it
    says: something named ``co_name`` starting on ``co_firstlineno``, and every
    line ``code.co_lines()`` reports must be a line where the text has code of
    that code object (not a blank line, a comment, another function's body or
    past its end). Second, the text is compiled again and the code object of
    the same name, first line and qualified name must exist and report the
    same first and last lines, with the running code's lines a subset of its
    lines (a subset, so that code rewritten by tools such as pytest's assert
    rewriting still passes).

    Both are skipped when the module's ``.pyc`` vouches for the text
    (:func:`_bytecode_verdict`): the usual case for installed packages,
    where the compile was most of a first probe's cost. When the ``.pyc``
    holds the running code but was compiled from another version of the
    file (its header does not match: the file was edited, or touched, after
    the import), the running code is known to be exactly the ``.pyc``'s, not
    rewritten at import, and the fresh compile must give a code object
    equal to it: an edit that keeps every line in place (``+`` made ``-``,
    two lines swapped) is caught then. Without such a ``.pyc`` only the
    lines are compared, and such an edit passes.
    """
    verdict = _bytecode_verdict(code, source)
    if verdict == _PROVEN:
        return
    lines = _native.code_lines(code)
    try:
        _ask(source, code, "check_code_lines", code.co_firstlineno, code.co_name, lines, MINOR)
    except _native.LocateFailure as e:
        raise SourceMismatchError(_mismatch_message(code, source, str(e))) from None
    problem = _compare_with_fresh_compile(code, source, lines)
    if not problem and verdict == _FROM_PYC:
        problem = _compare_exactly(code, source)
    if problem:
        raise SourceMismatchError(_mismatch_message(code, source, problem))


def locate(
    code: CodeType,
    line: LineSpec,
    *,
    source: Optional[Source] = None,
    module_globals: Optional[dict[str, Any]] = None,
) -> list[Located]:
    """Where ``line`` is in ``code``'s own statements.

    ``line`` is a line number, the text of a statement's first line (every
    statement of ``code`` with that text is returned), or ``None`` (entry).
    Statements of functions, classes or lambdas nested in ``code`` are not
    ``code``'s: naming one is an error that says which code object owns it.
    The source is fetched with :func:`get_source` unless given, and checked
    against the running code with :func:`check_source` first.
    """
    source = _checked_source(code, source, module_globals)
    ask = functools.partial(_ask, source, code, "locate")
    return _call(source, ask, code.co_firstlineno, code.co_name, line, MINOR)


def locate_in_source(source: Source, line: LineSpec) -> list[Located]:
    """Where ``line`` (a number or a text) is in a whole file or cell.

    Each result names the innermost code object that runs the statement; a
    line can hold statements of two code objects (``def f(): return 1``), and
    then both are returned, outer first.
    """
    return _call(source, _index(source.text).locate, None, None, line, MINOR)


def statement_lines(code: CodeType, *, source: Optional[Source] = None) -> list[Located]:
    """Every statement line in ``code`` and in code objects nested in it."""
    source = _checked_source(code, source, None)
    ask = functools.partial(_ask, source, code, "statement_lines")
    return _call(source, ask, code.co_firstlineno, code.co_name, MINOR)


# ---- helpers ---------------------------------------------------------------


def _checked_source(
    code: CodeType, source: Optional[Source], module_globals: Optional[dict[str, Any]]
) -> Source:
    """The source of ``code`` (``source`` if given), checked against it; if the
    text linecache had cached does not match, the file is read again once (it
    may have been cached before an edit, or the edit may have been undone)."""
    if source is not None:
        check_source(code, source)
        return source
    source = get_source(code, module_globals)
    try:
        check_source(code, source)
        return source
    except SourceMismatchError:
        linecache.checkcache(source.filename)
        _FILES.pop(source.filename, None)
        again = get_source(code, module_globals)
        if again == source:
            raise
    check_source(code, again)
    return again


@functools.lru_cache(maxsize=32)
def _index(text: str) -> Any:
    return _native.LocateIndex(text)


def _index_for(source: Source, code: Optional[CodeType]) -> Any:
    """The parsed index of ``source``; a parse failure means, when a running
    ``code`` came from it, that the text changed since."""
    try:
        return _index(source.text)
    except _native.LocateFailure as e:
        if code is not None:
            raise SourceMismatchError(_mismatch_message(code, source, str(e))) from None
        raise LocateError(f"{source.filename}: {e}") from None


def _block_index(source: Source, code: CodeType) -> Any:
    """The index of the ``def`` or ``class`` statement that makes ``code``,
    alone, or None: the first probe on a method parses that method's text,
    not its class's (a method of transformers' 3,500-line
    ``GenerationMixin`` took 4 ms to parse with its class). Its lines are a
    guess from indentation (``_native.block_excerpt``); a wrong guess cuts
    the text inside a string or brackets, where it does not parse, or
    leaves lines of ``code`` out, where the index cannot answer, and
    :func:`_ask` then asks a larger text. Never for the module's own code
    (a ``def`` on line 1 is not the module)."""
    if code.co_name == "<module>":
        return None
    text: Union[str, bytes] = source.utf8 if source.utf8 is not None else source.text
    key = (id(text), code.co_firstlineno)
    hit = _DEF_INDEXES.get(key)
    if hit is not None and hit[0] is text:
        return hit[1]
    cut = _native.block_excerpt(text, code.co_firstlineno)
    index = None if cut is None else _parsed(cut[2], cut[3])
    if len(_DEF_INDEXES) >= 64:
        _DEF_INDEXES.clear()
    _DEF_INDEXES[key] = (text, index)
    return index


def declared_globals(code: CodeType) -> frozenset[str]:
    """The names ``code``'s own body declares ``global`` in its source (not
    those of functions or classes nested in it); empty when the source or
    the ``def`` cannot be found. The bytecode shows a ``global`` declaration
    only through a store or a delete of the name, and a function that only
    reads it (or whose store the compiler dropped as dead code) leaves no
    trace of it there."""
    try:
        source = get_source(code)
    except LocateError:
        return frozenset()
    text: Union[str, bytes] = source.utf8 if source.utf8 is not None else source.text
    cut = _native.block_excerpt(text, code.co_firstlineno)
    if cut is None:
        return frozenset()
    try:
        tree = ast.parse(cut[2])
    except (SyntaxError, ValueError):
        return frozenset()
    defs = [
        n for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == code.co_name
    ]
    if not defs:
        return frozenset()
    names: set[str] = set()
    todo: list[ast.AST] = list(defs[0].body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return frozenset(names)


#: (id(text), line) -> (text, the index of the def on that line or None).
#: Not an lru_cache on the text: hashing a 250 KB module's text costs
#: 0.4 ms the first time, as much as parsing the method; the text kept in
#: the entry keeps its id from being reused.
_DEF_INDEXES: dict[tuple[int, int], tuple[Union[str, bytes], Any]] = {}


def _part_index(source: Source, code: CodeType) -> Any:
    """The index of the top-level statement that holds ``code`` alone, or
    None: a method of a large class is answered from its class's text, not
    from a parse of the whole file (which a first probe in a file would pay,
    about 1.6 ms for a 1,400-line transformers module against 0.3 ms for
    its class). Never for the module's own code, whose statements are the
    whole file's."""
    if code.co_name == "<module>":
        return None
    text = source.text
    span = _native.top_level_lines(text, code.co_firstlineno)
    return None if span is None else _excerpt_index(text, *span)


@functools.lru_cache(maxsize=64)
def _excerpt_index(text: str, start: int, end: int) -> Any:
    """The index of lines ``[start, end)`` alone, or None when they do not
    parse (the guess of their extent was wrong)."""
    cut = _native.excerpt(text, start, end)
    return None if cut is None else _parsed(cut)


def _parsed(excerpt: str, first_line: int = 1) -> Any:
    try:
        return _native.LocateIndex(excerpt, first_line)
    except _native.LocateFailure:
        return None


def _ask(source: Source, code: CodeType, method: str, *args: Any) -> Any:
    """``method(*args)`` of the smallest index that can answer for ``code``:
    its own ``def``'s (:func:`_block_index`), then its top-level
    statement's (:func:`_part_index`), when that answers without an error,
    since it then holds the code object's whole text and gives what the
    whole file's would; else the whole file's, which decides and words any
    error. ``own_text`` skips the ``def``'s index: its text opens the
    block with ``if 1:``, not with the classes around the ``def``, and the
    text it returns is compiled."""
    parts = (_part_index,) if method == "own_text" else (_block_index, _part_index)
    for part_of in parts:
        part = part_of(source, code)
        if part is not None:
            try:
                return getattr(part, method)(*args)
            except _native.LocateFailure:
                pass
    return getattr(_index_for(source, code), method)(*args)


def _call(source: Source, method: Any, *args: Any) -> list[Located]:
    try:
        found = method(*args)
    except _native.SourceMismatchFailure as e:
        raise SourceMismatchError(f"{source.filename}: {e}") from None
    except _native.LocateFailure as e:
        raise LocateError(f"{source.filename}: {e}") from None
    return [Located(*t) for t in found]


def _describe(code: CodeType) -> str:
    name = getattr(code, "co_qualname", code.co_name)
    return f"{name} (line {code.co_firstlineno})"


def _mismatch_message(code: CodeType, source: Source, detail: str) -> str:
    return (
        f"{source.filename}: the source text does not match the running code of "
        f"{_describe(code)}: {detail}. The file was probably edited after the code "
        f"was loaded; reload the module (importlib.reload) or restart the "
        f"interpreter, so that probes land on the lines you see"
    )


def _all_codes(module: CodeType) -> list[CodeType]:
    """``module`` and every code object nested in it, each once (a native
    walk: the recursive one in Python took 0.3 ms for the 400 code objects
    of transformers' generation/utils.py)."""
    nested = {id(c): c for _, c in _native.nested_codes([module])}
    return [module, *nested.values()]


@functools.lru_cache(maxsize=64)
def _compiled_lines(text: str, filename: str, flags: int, optimize: int = -1) -> Any:
    """(co_firstlineno, co_name, co_qualname) -> list of line sets, for every
    code object compiling ``text`` makes; or the SyntaxError message."""
    compiled = _compiled_codes(text, filename, flags, optimize)
    if isinstance(compiled, str):
        return compiled
    return {key: [frozenset(_native.code_lines(c)) for c in codes] for key, codes in compiled.items()}


@functools.lru_cache(maxsize=8)
def _compiled_codes(
    text: str, filename: str, flags: int, optimize: int = -1
) -> Union[str, dict[_CodeKey, list[CodeType]]]:
    """(co_firstlineno, co_name, co_qualname) -> the code objects compiling
    ``text`` makes (``optimize``: :func:`_optimize_of`); or the SyntaxError
    message. (Kept for a few texts: the line check and
    :func:`_compare_exactly` of one probe compile once.)"""
    module = None
    error = ""
    for extra in (0, ast.PyCF_ALLOW_TOP_LEVEL_AWAIT):
        try:
            module = compile(text, filename, "exec", flags | extra, dont_inherit=True, optimize=optimize)
            break
        except (SyntaxError, ValueError) as e:
            error = f"it no longer compiles ({type(e).__name__}: {e})"
    if module is None:
        return error
    table: dict[_CodeKey, list[CodeType]] = {}
    for c in _all_codes(module):
        table.setdefault(_code_key(c), []).append(c)
    return table


#: :func:`_bytecode_verdict`: the ``.pyc`` proves the text; the running code
#: is the ``.pyc``'s, compiled from another version of the file
_PROVEN = "proven"
_FROM_PYC = "from the .pyc of another version"


def _bytecode_verdict(code: CodeType, source: Source) -> Optional[str]:
    """What the module's ``.pyc`` says about ``source`` and ``code``, without
    compiling anything.

    :data:`_PROVEN`: ``source`` is the text ``code`` was compiled from. The
    text was read (by linecache or :func:`_read_file`; ``source.stat``) from
    a file of the size and modification time the ``.pyc`` header records
    (the test the import system itself applies), and the ``.pyc`` holds a
    code object equal to ``code``. (The header's time has whole seconds; a
    ``.pyc`` older than the text's exact modification time does not prove
    it, so an edit of the same size within the second of the import is not
    mistaken for the compiled text.)

    :data:`_FROM_PYC`: the ``.pyc`` holds a code object equal to ``code``
    but its header is not that of the file the text was read from (or it is
    hash-based): the running code is exactly the compiler's, from some
    version of the file.

    None when it says nothing: no ``.pyc``, a text of unknown origin, code
    rewritten at import (pytest's asserts).

    The ``.pyc`` is not unmarshalled: splice-pyc's ``PycIndex`` finds the
    code object of the same first line and names in its bytes and compares
    it with ``marshal.dumps(code)`` (the fields ``==`` on code objects
    compares, and the qualified name; crates/splice-pyc). Data that reader
    does not know is unmarshalled and compared with ``==``."""
    if source.stat is None:
        return None
    cached = _bytecode_cache(source.filename, *source.stat)
    if cached is None:
        return None
    index, fresh = cached
    if isinstance(index, dict):
        holds = any(code == c for c in index.get(_code_key(code), ()))
    else:
        try:
            holds = index.holds(marshal.dumps(code))
        except ValueError:  # a constant marshal cannot write (code made by hand)
            return None
    if not holds:
        return None
    return _PROVEN if fresh else _FROM_PYC


#: (co_firstlineno, co_name, co_qualname): how a fresh code object is matched
_CodeKey = tuple[int, str, str]


def _code_key(code: CodeType) -> _CodeKey:
    return (code.co_firstlineno, code.co_name, code.co_qualname)


@functools.lru_cache(maxsize=4)
def _bytecode_cache(
    filename: str, size: int, mtime: float
) -> Optional[tuple[Union[_native.PycIndex, dict[_CodeKey, list[CodeType]]], bool]]:
    """The code objects of ``filename``'s ``.pyc`` (for this interpreter and
    optimization level), and whether its header says it was compiled from a
    file of ``size`` bytes modified at ``mtime``; None without a ``.pyc``
    of this interpreter. Indexed by
    ``PycIndex`` (0.1 ms for the 210 KB ``.pyc`` of transformers'
    generation/utils.py, which ``marshal.loads`` takes 1 ms to build the
    first time); if that cannot read it, unmarshalled into a table of
    (co_firstlineno, co_name, co_qualname) -> code objects. Kept for the 4
    files probed last."""
    try:
        read = _read_regular(importlib.util.cache_from_source(filename))
    except (NotImplementedError, ValueError):
        return None
    if read is None:
        return None
    data, written = read[0], read[1].st_mtime
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
        return None
    flags, stamp, length = (int.from_bytes(data[i : i + 4], "little") for i in (4, 8, 12))
    # not fresh: hash-based, or compiled from another version of the file;
    # or newer than the .pyc itself: the header keeps whole seconds, and an
    # edit of the same size within the second of the import would pass it,
    # but such an edit is newer than the .pyc, whose own time is exact
    fresh = flags == 0 and stamp == int(mtime) & 0xFFFFFFFF and length == size & 0xFFFFFFFF and mtime <= written
    try:
        return _native.PycIndex(data, 16), fresh
    except ValueError:
        pass
    try:
        module = marshal.loads(memoryview(data)[16:])
    except (EOFError, ValueError, TypeError):
        return None
    if type(module) is not CodeType:
        return None
    table: dict[_CodeKey, list[CodeType]] = {}
    for c in _all_codes(module):
        table.setdefault(_code_key(c), []).append(c)
    return table, fresh


def _optimize_of(code: CodeType) -> int:
    """The ``optimize`` level ``code`` was compiled at, for compiling its
    text again: a frozen stdlib module's (``<frozen os>``) was compiled when
    the interpreter was built, keeping its asserts whatever ``-O`` says;
    any other code, at this interpreter's level (-1)."""
    return 0 if code.co_filename.startswith("<frozen ") else -1


def _compare_exactly(code: CodeType, source: Source) -> str:
    """"" when compiling ``source`` again gives a code object equal to the
    running ``code`` (``==``: its instructions, constants, names, lines),
    else what differs. For code known to be exactly what the compiler made
    (:data:`_FROM_PYC`); the texts tried are those of
    :func:`_compare_with_fresh_compile`, least first."""
    flags = code.co_flags & _native.FUTURE_FLAGS
    texts: list[Optional[str]] = []
    if code.co_name != "<module>":
        texts.append(_ask(source, code, "own_text", code.co_firstlineno, code.co_name, MINOR))
        span = _native.top_level_lines(source.text, code.co_firstlineno)
        texts.append(None if span is None else _native.excerpt(source.text, *span))
    texts.append(source.text)
    error = ""
    for text in texts:
        if text is None:
            continue
        compiled = _compiled_codes(text, source.filename, flags, _optimize_of(code))
        if isinstance(compiled, str):
            error = compiled
        elif any(fresh == code for fresh in compiled.get(_code_key(code), ())):
            return ""
    return error or (
        "the text compiles to other code than the running code has on the same lines (the "
        "module was loaded from a .pyc of another version of the file)"
    )



def _compare_with_fresh_compile(code: CodeType, source: Source, lines: list[int]) -> str:
    """"" when compiling ``source`` again gives a code object whose lines fit
    the running ``code``'s, else what differs.

    Compiling the whole file costs milliseconds, which a first probe in a
    file would pay; so the least text that makes the code object is compiled
    first: its own ``def`` (or the ``def``/``class`` that holds it) with only
    the headers of those around it (``LocateIndex.own_text``: the same text
    at the same lines, inside the same classes, so the same code object),
    then the top-level statement that holds it. A fit of either is a fit;
    only if neither shows the code object as expected is the whole text
    compiled, which decides."""
    flags = code.co_flags & _native.FUTURE_FLAGS
    if code.co_name == "<module>":
        table = _compiled_lines(source.text, source.filename, flags, _optimize_of(code))
        return table if isinstance(table, str) else ""  # a module or cell may be compiled piecewise (IPython)
    own = _ask(source, code, "own_text", code.co_firstlineno, code.co_name, MINOR)
    if own is not None:
        part = _compiled_lines(own, source.filename, flags, _optimize_of(code))
        if not isinstance(part, str) and not _fit_problem(code, part, lines):
            return ""
    span = _native.top_level_lines(source.text, code.co_firstlineno)
    cut = None if span is None else _native.excerpt(source.text, *span)
    if cut is not None:
        part = _compiled_lines(cut, source.filename, flags, _optimize_of(code))
        if not isinstance(part, str) and not _fit_problem(code, part, lines):
            return ""
    table = _compiled_lines(source.text, source.filename, flags, _optimize_of(code))
    if isinstance(table, str):
        return table
    return _fit_problem(code, table, lines)


def _fit_problem(code: CodeType, table: Any, lines: list[int]) -> str:
    """"" when ``table`` (:func:`_compiled_lines`) has a code object whose
    lines fit the running ``code``'s, else what differs."""
    key = _code_key(code)
    candidates = table.get(key)
    if not candidates:
        return (
            f"compiling it gives no code object {key[2]!r} starting on line "
            f"{code.co_firstlineno}"
        )
    running = set(lines)
    for fresh in candidates:
        if running <= fresh and (
            not running or (min(running), max(running)) == (min(fresh), max(fresh))
        ):
            return ""
    fresh = min(candidates, key=lambda f: len(f ^ running))
    only_running = sorted(running - fresh)
    if only_running:
        return (
            f"the running code has code on line {only_running[0]}, where the text "
            f"compiles to none"
        )
    return (
        f"the running code spans lines {min(running)}-{max(running)}, but the text "
        f"compiles to lines {min(fresh)}-{max(fresh)}"
    )
