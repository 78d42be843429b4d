"""A snippet that unbinds a local of the target (``del z``, or an
``except ... as z`` handler, which deletes ``z`` when it ends).

From 3.12 on CPython's ``LOAD_FAST`` does not check for an unbound local (the
compiler proved it bound), so the target's later loads of ``z`` must become
checked loads, or the interpreter crashes (it did: ``exec("del z")`` at
``return z`` was a segfault on 3.12-3.15). The oracle is CPython itself: the
same statements typed into the source, at the same line, behave the same
(same return value, or same exception type and message).

Each case runs in a child process, so that a crash is a failed test and not
the end of the test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# (name, function source, line text of the breakpoint, snippet, call)
CASES = [
    ("del at return", """
        def f(x):
            z = x + 1
            return z
     """, "return z", "del z", "f(1)"),
    ("del of a parameter", """
        def f(x):
            z = x + 1
            return z + x
     """, "return z + x", "del x", "f(1)"),
    ("pair load after del", """
        def f(x, y):
            z = x + y
            return x + z
     """, "return x + z", "del z", "f(1, 2)"),
    ("both halves of a pair", """
        def f(x, y):
            z = x * y
            return x + y
     """, "return x + y", "del x, y", "f(2, 3)"),
    ("except as rebinds then deletes", """
        def f(x):
            z = x + 1
            return z
     """, "return z", "try:\\n    1 / 0\\nexcept ZeroDivisionError as z:\\n    pass", "f(1)"),
    ("del in a loop, read before the site next time", """
        def f(n):
            t = 0
            z = 1
            for i in range(n):
                t += z
                z = i
            return t
     """, "z = i", "del z", "f(3)"),
    ("del guarded by a condition", """
        def f(x):
            z = x * 2
            return z
     """, "return z", "if x > 5:\\n    del z", "(f(1), f(10))"),
    ("store then load pair", """
        def f(x):
            z = x + 1
            y = z
            return y + z
     """, "y = z", "del z\\nz = 5", "f(1)"),
    ("del of a local read in a handler", """
        def f(x):
            z = x
            try:
                return 1 / x
            except ZeroDivisionError:
                return z
     """, "return 1 / x", "del z", "f(0)"),
    # 3.12+: a comprehension in the snippet whose variable is a local of the
    # target clears it (LOAD_FAST_AND_CLEAR) until it ends; the target's
    # handlers read it: refused by the verifier before (RewriteError)
    ("comprehension over a local in try/finally", """
        def f(i):
            try:
                i += 1
            finally:
                r = i
            return r
     """, "i += 1", "R = [i for i in range(3)]", "f(1)"),
    ("comprehension over a parameter in a with block", """
        def f(x):
            import contextlib
            with contextlib.nullcontext():
                y = x * 2
            return y + x
     """, "y = x * 2", "s = sum(x for x in range(3)) + len([x for x in range(4)])", "f(5)"),
    ("comprehension over a local in an except handler", """
        def f(x):
            try:
                return 1 / x
            except ZeroDivisionError:
                x = -1
                return x
     """, "x = -1", "t = [x for x in range(2)]", "f(0)"),
]

CHILD = r'''
import sys, textwrap
import splice
src, line, snippet, call = sys.argv[1:5]
snippet = snippet.encode().decode("unicode_escape")
import linecache
text = textwrap.dedent(src)
linecache.cache["<target>"] = (len(text), None, text.splitlines(True), "<target>")
ns = {}
exec(compile(text, "<target>", "exec"), ns)
f = ns["f"]

# the oracle: the snippet typed into the source before the line
lines = textwrap.dedent(src).splitlines()
at = next(i for i, l in enumerate(lines) if l.strip() == line)
indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
edited = lines[:at] + [indent + s for s in snippet.splitlines()] + lines[at:]
ens = {}
exec(compile("\n".join(edited), "<edited>", "exec"), ens)

def outcome(fn):
    try:
        return ("value", repr(eval(call, {"f": fn})))
    except Exception as e:
        return ("raised", type(e).__name__, str(e))

want = outcome(ens["f"])
orig = f.__code__
with splice.breakpoint(f, line=line) as bp:
    bp.exec(snippet)
    got = outcome(f)
assert f.__code__ is orig
print(repr((got, want)))
'''


@pytest.mark.parametrize("name,src,line,snippet,call", CASES, ids=[c[0] for c in CASES])
def test_a_snippet_that_unbinds_a_local_behaves_as_the_edited_source(name, src, line, snippet, call):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, textwrap.dedent(src), line, snippet, call],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, f"child exited with {done.returncode}: {done.stderr[-2000:]}"
    got, want = eval(done.stdout.strip().splitlines()[-1])
    assert got == want
