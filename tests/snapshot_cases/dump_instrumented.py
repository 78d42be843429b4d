"""Print before/after disassembly of each instrumentation case (see
instrument_cases.py) as blocks `case NAME` ... `end`. Needs splice built for
the running interpreter."""

import ast
import importlib.util
import inspect
import os
import sys

from splice import _native
from splice._native import CaptureProbe, LineProbe, testing
from splice.template import build_template

HERE = os.path.dirname(os.path.abspath(__file__))

# (case name, function qualname, line text or None for capture, snippet)
CASES = [
    ("bp_loop_body", "loop_body", "acc += x", "x = x * 3"),
    ("bp_for_line", "loop_body", "for x in xs:", "_splice_sink(acc)"),
    ("bp_while_condition", "while_cond", "while i < n:", "_splice_sink(i)"),
    ("bp_try_body", "try_except", "q = a / b", "b = b or 1"),
    ("bp_except_clause", "try_except", "except ZeroDivisionError:", "_splice_sink(a)"),
    ("bp_finally_body", "try_finally", "f.close()", "_splice_sink(path)"),
    ("bp_with_body", "with_body", "items.append(1)", "items.append(0)"),
    ("bp_closure_cell", "closure.<locals>.add", "total += k", "total = total + 100"),
    ("bp_super_and_mangling", "Child.f", "value += self.__secret", "value = value + self.__secret + super().f()"),
    ("bp_generator", "generator", "if y:", "y = y or 0"),
    ("bp_async", "coroutine", "x = x + 1", "x = x * 10"),
    ("bp_comprehension_line", "comprehension", "ys = [x * x for x in xs if x]", "_splice_sink(xs)"),
    ("bp_extended_arg", "big_function", "x = x * 2", "x = -x"),
    # breakpoint.py wraps actions in a handler that adds a note to exceptions
    # (bp_noted_hook, as it does now: a hook call, no name bound; the two
    # before it bind the exception, as it once did, a handler with a cleanup
    # handler of its own); the handler is cold code and goes after the
    # function's last instruction
    ("bp_noted_hook", "loop_body", "acc += x",
     "try:\n    x = x * 3\nexcept:\n    _splice_sink('n')\n    raise"),
    ("bp_noted_exec", "loop_body", "acc += x",
     "try:\n    x = x * 3\nexcept BaseException as _splice_exc:\n    _splice_exc.add_note('n')\n    raise"),
    ("bp_noted_cond", "loop_body", "acc += x",
     "try:\n    if x < 0:\n        x = x * 3\nexcept BaseException as _splice_exc:\n"
     "    _splice_exc.add_note('n')\n    raise"),
    # a snippet that deletes a local: every later load of it must check
    # (LOAD_FAST_CHECK; 3.13+ pairs split), as CPython compiles loads after
    # a `del` in the source
    ("bp_del_local", "read_after_delete", "w = z * 2", "del z"),
    ("cap_plain", "loop_body", None, None),
    ("cap_several_returns", "several_returns", None, None),
    ("cap_try_finally", "try_finally", None, None),
    ("cap_generator", "generator", None, None),
    ("cap_async", "coroutine", None, None),
    ("cap_closure", "closure.<locals>.add", None, None),
    ("cap_method", "Child.f", None, None),
    ("cap_generator_cell", "generator_with_cell", None, None),
]


class Hook:
    """A hook object with a stable repr for snapshots."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return None

    def __repr__(self):
        return f"<hook {self.name}>"


def find_code(module, qualname):
    stack = []
    for v in vars(module).values():
        if hasattr(v, "__code__"):
            stack.append(v.__code__)
        elif isinstance(v, type):
            stack.extend(f.__code__ for f in vars(v).values() if hasattr(f, "__code__"))
    while stack:
        c = stack.pop()
        if c.co_qualname == qualname:
            return c
        stack.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    raise LookupError(qualname)


def main():
    spec = importlib.util.spec_from_file_location("instrument_cases", os.path.join(HERE, "instrument_cases.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(spec.origin) as f:
        lines = f.read().splitlines()
    for name, qualname, line_text, snippet in CASES:
        code = find_code(mod, qualname)
        if line_text is None:
            # as splice's captures do: a generator or coroutine keeps its
            # open call in a hidden local (CaptureProbe(keep_entry=True))
            keep = bool(code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR))
            probes = [CaptureProbe(Hook("open" if keep else "enter"), Hook("exit"), Hook("error"), keep_entry=keep)]
        else:
            line = next(
                i + 1
                for i, t in enumerate(lines)
                if t.strip() == line_text and code.co_firstlineno <= i + 1
            )
            hooks = {"_splice_sink": Hook("sink")} if "_splice_sink" in snippet else {}
            tmpl = build_template(code, ast.parse(snippet).body, hooks)
            probes = [LineProbe([line], tmpl.snippet, tmpl.hooks)]
            print(f"case {name}")
            print(f"# {qualname}, line {line - code.co_firstlineno + 1} of the function: {line_text!r} + {snippet!r}")
        if line_text is None:
            print(f"case {name}")
            if keep:
                print(f"# {qualname}: capture (open() kept in a hidden local and passed to exit before every return and to the error handler)")
            else:
                print(f"# {qualname}: capture (enter, exit before every return, error handler)")
        print("--- before ---")
        print(_native.disassemble(code))
        print("--- after ---")
        print(testing.disassemble_instrumented(code, probes))
        print("end")


if __name__ == "__main__":
    main()
