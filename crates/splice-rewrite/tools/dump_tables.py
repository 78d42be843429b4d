#!/usr/bin/env python3
"""Dump the location and exception tables of many real code objects.

Run by `tests/codecs.rs` under every CPython 3.11 / 3.12 / 3.13 interpreter it
can find; the Rust test checks the codecs in `src/linetable.rs` and
`src/exceptiontable.rs` against what this prints. It works with the running
interpreter only and needs nothing outside the standard library.

Code objects come from
- compiling the source of many standard-library modules (the same compiler
  run that `import` does), walking `co_consts` recursively, and
- a few synthetic programs that reach the corners of the location table:
  big line jumps, far columns, multi-line expressions, EXTENDED_ARG, and ASTs
  whose positions are edited (line 0, columns missing, end line missing,
  end column before start column, ...).

Output: one record per code object, lines separated by '\\n':

    C <version> <label> <firstlineno> <n_units> <linetable hex|-> <exceptiontable hex|->
    P <positions>     one item per run of equal co_positions() tuples:
                      `<count>*<line>,<end_line>,<col>,<end_col>` with `_` for None
    I <sizes>         instruction sizes in code units, in code order (EXTENDED_ARG
                      prefixes folded into the instruction they extend; inline
                      caches included)
    X <entries>       dis._parse_exception_table(code), in code units:
                      `<start>,<end>,<target>,<depth>,<lasti 0|1>`

The label has no spaces. `<count>*` is omitted when it is 1.

Usage:
    python dump_tables.py [--modules N]   # N: how many stdlib files (default 80)
    python dump_tables.py --modules all   # every .py file under the stdlib, tests too
    python dump_tables.py --fixture       # small dump for tests/fixtures/codecs/
"""

import ast
import dis
import opcode
import os
import random
import sys
import sysconfig

# Big, varied modules first; the rest of the stdlib top level follows in
# sorted order until --modules is reached.
PREFERRED = [
    "argparse.py", "ast.py", "asyncio/base_events.py", "asyncio/tasks.py",
    "asyncio/streams.py", "collections/__init__.py", "configparser.py",
    "contextlib.py", "csv.py", "dataclasses.py", "datetime.py",
    "_pydatetime.py", "_pydecimal.py", "difflib.py", "dis.py", "doctest.py",
    "email/_header_value_parser.py", "email/message.py", "enum.py",
    "fractions.py", "functools.py", "ftplib.py", "gettext.py",
    "http/client.py", "http/server.py", "imaplib.py", "inspect.py",
    "ipaddress.py", "json/decoder.py", "json/encoder.py",
    "logging/__init__.py", "mailbox.py", "optparse.py", "pathlib.py",
    "pathlib/_local.py", "pdb.py", "pickle.py", "pickletools.py",
    "pydoc.py", "re/_parser.py", "re/_compiler.py", "shutil.py",
    "smtplib.py", "statistics.py", "string.py", "subprocess.py",
    "tarfile.py", "textwrap.py", "threading.py", "tokenize.py",
    "traceback.py", "turtle.py", "typing.py", "unittest/case.py",
    "unittest/mock.py", "urllib/parse.py", "urllib/request.py",
    "xml/etree/ElementTree.py", "zipfile.py", "zipfile/__init__.py",
    "calendar.py", "selectors.py", "socket.py", "ssl.py", "tempfile.py",
    "uuid.py", "warnings.py", "weakref.py", "heapq.py", "bisect.py",
    "random.py", "locale.py", "platform.py", "sysconfig.py",
    "importlib/_bootstrap.py", "importlib/_bootstrap_external.py",
]


def cache_table():
    """opcode number -> number of inline cache entries."""
    entries = opcode._inline_cache_entries
    if isinstance(entries, dict):  # 3.13: name -> count
        table = [0] * 256
        for name, n in entries.items():
            if name in opcode.opmap:
                table[opcode.opmap[name]] = n
        return table
    return list(entries) + [0] * (256 - len(entries))


CACHES = cache_table()
EXTENDED_ARG = opcode.EXTENDED_ARG


CHECKED = 0


def instruction_sizes(code):
    raw = code.co_code
    n = len(raw) // 2
    sizes = []
    starts = []
    i = 0
    while i < n:
        start = i
        while raw[2 * i] == EXTENDED_ARG:
            i += 1
        op = raw[2 * i]
        i += 1 + CACHES[op]
        sizes.append(i - start)
        starts.append(start)
    if i != n:
        raise AssertionError(f"{code!r}: instructions overrun co_code")
    # Cross-check the boundaries against dis (which reports each EXTENDED_ARG
    # as an instruction of its own). dis is slow: every code object with an
    # EXTENDED_ARG, and one in eight of the others.
    global CHECKED
    CHECKED += 1
    if CHECKED % 8 and EXTENDED_ARG not in raw[::2]:
        return sizes
    dis_starts = []
    pending = None
    for ins in dis.get_instructions(code, show_caches=False):
        if ins.opcode == EXTENDED_ARG:
            if pending is None:
                pending = ins.offset // 2
            continue
        dis_starts.append(ins.offset // 2 if pending is None else pending)
        pending = None
    if dis_starts != starts:
        raise AssertionError(f"{code!r}: instruction boundaries disagree with dis")
    return sizes


def fmt_opt(v):
    return "_" if v is None else str(v)


def positions_line(code):
    items = []
    prev = None
    count = 0
    for pos in code.co_positions():
        if pos == prev:
            count += 1
            continue
        if prev is not None:
            items.append((count, prev))
        prev, count = pos, 1
    if prev is not None:
        items.append((count, prev))
    out = []
    for count, pos in items:
        text = ",".join(fmt_opt(v) for v in pos)
        out.append(text if count == 1 else f"{count}*{text}")
    return " ".join(out)


def exception_line(code):
    out = []
    for e in dis._parse_exception_table(code):
        out.append(f"{e.start // 2},{e.end // 2},{e.target // 2},{e.depth},{int(e.lasti)}")
    return " ".join(out)


def walk(code):
    yield code
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            yield from walk(const)


def emit(code, label, out):
    version = f"3.{sys.version_info[1]}"
    lt = code.co_linetable.hex() or "-"
    et = code.co_exceptiontable.hex() or "-"
    n_units = len(code.co_code) // 2
    out.append(f"C {version} {label} {code.co_firstlineno} {n_units} {lt} {et}")
    out.append("P " + positions_line(code))
    out.append("I " + " ".join(str(s) for s in instruction_sizes(code)))
    out.append("X " + exception_line(code))


def stdlib_files(limit):
    root = sysconfig.get_paths()["stdlib"]
    if limit == "all":
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "site-packages")
            found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
        return found
    chosen = []
    for rel in PREFERRED:
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            chosen.append(path)
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.endswith(".py") and os.path.isfile(path) and path not in chosen:
            chosen.append(path)
    return chosen[:limit]


SYNTHETIC = [
    # Big line jumps forwards and backwards (varint line deltas), loops.
    "def jumps(a):\n    x = 1\n" + "\n" * 300 + "    while a:\n        a -= 1\n" + "\n" * 5000
    + "        if a == 3:\n            continue\n    return x\n",
    # Far columns: short form limit (80), one-line form limit (128), long form.
    "def cols(a):\n    return " + " " * 70 + "a+a" + " " * 60 + "+a" + " " * 300 + "+ a\n",
    # Wide spans (end - start >= 16) and multi-line expressions.
    "def spans(a, b):\n    return (a +\n            b +\n\n\n            a) * some_function_name(b, a, b, a, b, a, b, a)\n",
    # Many constants and names: EXTENDED_ARG on loads, long jumps.
    "def big(a):\n" + "".join(f"    v{i} = {i}.5 + a.attr{i}\n" for i in range(400))
    + "    if a:\n" + "".join(f"        v{i} += 1\n" for i in range(300)) + "    return v1\n",
    # The same in one long line each: far columns, EXTENDED_ARG on LOAD_GLOBAL
    # and on the forward jump over the `if` body.
    "def big2(a):\n    x = [" + ", ".join(f"g{i}" for i in range(270)) + "]\n"
    "    if a:\n        a = " + " + ".join(["a"] * 100) + "\n    return x[a]\n",
    # Exception handling: nested try, with, finally, except*, async.
    "def exc(a):\n    try:\n        try:\n            a()\n        except ValueError as e:\n"
    "            raise TypeError from e\n        finally:\n            a.close()\n"
    "    except* OSError:\n        pass\n    with a as b, a as c:\n        return b\n",
    "async def agen(a):\n    async with a as b:\n        async for x in b:\n            yield x\n"
    "    return\n",
    # Comprehensions, lambdas, class bodies, generators.
    "class K:\n    x = [i for i in range(3) if i]\n    f = lambda self: {k: v for k, v in self}\n"
    "    def g(self):\n        yield from (y for y in self)\n",
    # Decorators: line numbers go backwards.
    "@dec1\n@dec2(\n    arg)\ndef decorated(a):\n    return a\n",
]


def perturb(tree, rng):
    """Give AST nodes odd positions; compile() accepts most of them."""
    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or rng.random() < 0.4:
            continue
        kind = rng.randrange(7)
        if kind == 0:
            node.col_offset = node.end_col_offset = -1
        elif kind == 1:
            node.end_lineno = None
        elif kind == 2:
            node.end_lineno = None
            node.col_offset = node.end_col_offset = -1
        elif kind == 3:
            node.lineno = 0
            node.end_lineno = 0
        elif kind == 4:
            node.col_offset = rng.choice([79, 80, 127, 128, 200, 5000])
            node.end_col_offset = node.col_offset + rng.choice([0, 15, 16, 200])
        elif kind == 5:
            node.end_lineno = (node.end_lineno or node.lineno) + rng.choice([1, 2, 70, 100000])
        else:
            node.lineno = node.lineno + rng.choice([-3, 1, 2, 3, 64, 100000])
            node.end_lineno = node.lineno
    return tree


BIG, BIG2 = 3, 4  # the large synthetic programs (fixtures: BIG left out, BIG2 unperturbed)


def synthetic_codes(fixture):
    for i, src in enumerate(SYNTHETIC):
        if fixture and i == BIG:
            continue
        yield f"synthetic{i}", compile(src, f"<synthetic{i}>", "exec")
    for i, src in enumerate(SYNTHETIC):
        if fixture:
            seeds = 0 if i in (BIG, BIG2) else 2
        else:
            seeds = 4 if i in (BIG, BIG2) else 40
        for seed in range(seeds):
            rng = random.Random(1000 * i + seed)
            tree = perturb(ast.parse(src), rng)
            try:
                code = compile(tree, f"<perturbed{i}-{seed}>", "exec")
            except (ValueError, TypeError, SyntaxError, OverflowError):
                continue  # positions compile() rejects
            yield f"perturbed{i}-{seed}", code


def main():
    args = sys.argv[1:]
    fixture = "--fixture" in args
    limit = 80
    if "--modules" in args:
        limit = args[args.index("--modules") + 1]
        limit = limit if limit == "all" else int(limit)
    root = sysconfig.get_paths()["stdlib"]
    if fixture:
        paths = [os.path.join(root, "bisect.py")]
    else:
        paths = stdlib_files(limit)
    sources = []
    for path in paths:
        with open(path, "rb") as f:
            src = f.read()
        try:
            code = compile(src, path, "exec")
        except (SyntaxError, ValueError):
            if limit != "all":
                raise
            continue  # the test suite's deliberately broken files
        sources.append((os.path.relpath(path, root), code))
    sources.extend(synthetic_codes(fixture))
    out = []
    for label, top in sources:
        for code in walk(top):
            name = f"{label}:{code.co_qualname}:{code.co_firstlineno}".replace(" ", "_")
            emit(code, name, out)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
