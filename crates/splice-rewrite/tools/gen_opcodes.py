#!/usr/bin/env python3
"""Regenerate the data part of crates/splice-rewrite/src/opcodes/v3XX.rs.

Each per-version module has a block between the markers

    // BEGIN GENERATED (tools/gen_opcodes.py)
    // END GENERATED (tools/gen_opcodes.py)

holding one `pub const NAME: u8` per opcode and the `OPS` table (name, number,
inline cache entries, operand kind), read from that interpreter's `opcode`
module. Everything outside the markers (the stack-effect formulas and the
terminal-opcode list) is written by hand and left alone.

Usage:
    python tools/gen_opcodes.py            # every interpreter it can find
    python tools/gen_opcodes.py --emit     # print the block for *this* Python

Interpreters are found with the project's one discovery helper,
`scripts/find-python MINOR` (SPLICE_PYTHON_3XX, PATH, pyenv, and the
`get-cpython` cache ~/.cache/splice-cpython/3.X).

From 3.14 on, the block also holds `popped_pushed`, translated from the
`_PyOpcode_num_popped` / `_PyOpcode_num_pushed` switches of that
interpreter's own `Include/internal/pycore_opcode_metadata.h` (the headers
ship with it), in C `int` (wrapping) arithmetic. For 3.12 and 3.13 that
function is hand-written outside the markers.

Operand-kind rules (checked against the same opcode module by
tests/opcode_tables.rs):
- no argument: op < HAVE_ARGUMENT, or `op not in opcode.hasarg` where the
  module has `hasarg` (3.12+);
- hasconst -> Const; hasname -> Name{shift} (LOAD_GLOBAL: 1; LOAD_ATTR on 3.12+:
  1; LOAD_SUPER_ATTR on 3.12+: 2; IMPORT_NAME on 3.15+: 2; else 0); haslocal ->
  Local, or LocalPair for the 3.13+ superinstructions; hasfree -> Free (also
  LOAD_DEREF, which 3.14+ lists in haslocal instead); hasjrel
  -> JumpForward or JumpBackward (3.14+: END_ASYNC_FOR counts backward);
  hascompare -> Compare; anything else -> Plain.
"""

import ast
import os
import subprocess
import sys

BEGIN = "// BEGIN GENERATED (tools/gen_opcodes.py)"
END = "// END GENERATED (tools/gen_opcodes.py)"

HERE = os.path.dirname(os.path.abspath(__file__))
OPCODES_DIR = os.path.join(HERE, "..", "src", "opcodes")

LOCAL_PAIRS = {
    "LOAD_FAST_LOAD_FAST",
    "STORE_FAST_STORE_FAST",
    "STORE_FAST_LOAD_FAST",
    "LOAD_FAST_BORROW_LOAD_FAST_BORROW",
}
CELL_OPS = {"LOAD_DEREF"}
BACKWARD_311 = {
    "JUMP_BACKWARD",
    "JUMP_BACKWARD_NO_INTERRUPT",
    "POP_JUMP_BACKWARD_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_NONE",
    "POP_JUMP_BACKWARD_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_TRUE",
}
BACKWARD_312 = {"JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}
BACKWARD_314 = BACKWARD_312 | {"END_ASYNC_FOR", "INSTRUMENTED_END_ASYNC_FOR"}
MINORS = (11, 12, 13, 14, 15)


def name_shift(minor, name):
    if name == "LOAD_GLOBAL":
        return 1
    if minor >= 12 and name == "LOAD_ATTR":
        return 1
    if minor >= 12 and name in ("LOAD_SUPER_ATTR", "INSTRUMENTED_LOAD_SUPER_ATTR"):
        return 2
    if minor >= 15 and name == "IMPORT_NAME":
        return 2
    return 0


def arg_kind(minor, op, name):
    import opcode

    if hasattr(opcode, "hasarg"):
        has_arg = op in opcode.hasarg
    else:
        has_arg = op >= opcode.HAVE_ARGUMENT
    if not has_arg:
        return "ArgKind::None"
    kinds = []
    if op in opcode.hasconst:
        kinds.append("ArgKind::Const")
    if op in opcode.hasname:
        kinds.append("ArgKind::Name { shift: %d }" % name_shift(minor, name))
    if op in opcode.haslocal and name in CELL_OPS:
        # 3.14+ lists LOAD_DEREF in haslocal; it still reads a cell.
        kinds.append("ArgKind::Free")
    elif op in opcode.haslocal:
        kinds.append("ArgKind::LocalPair" if name in LOCAL_PAIRS else "ArgKind::Local")
    if op in opcode.hasfree:
        kinds.append("ArgKind::Free")
    if op in opcode.hasjrel:
        backward = BACKWARD_311 if minor == 11 else BACKWARD_312 if minor < 14 else BACKWARD_314
        kinds.append("ArgKind::JumpBackward" if name in backward else "ArgKind::JumpForward")
    if op in opcode.hasjabs:
        raise SystemExit("absolute jump %s: not expected on 3.11+" % name)
    if op in opcode.hascompare:
        kinds.append("ArgKind::Compare")
    if len(kinds) > 1:
        raise SystemExit("%s is in several has* lists: %s" % (name, kinds))
    return kinds[0] if kinds else "ArgKind::Plain"


def cache_entries(op, name):
    import opcode

    ice = opcode._inline_cache_entries
    if hasattr(ice, "get"):  # 3.13+: keyed by name (a frozendict on 3.15)
        return ice.get(name, 0)
    return ice[op]  # 3.11, 3.12: indexed by number


def emit():
    import opcode

    minor = sys.version_info[1]
    ops = sorted((num, name) for name, num in opcode.opmap.items() if num < 256)
    out = [BEGIN]
    out.append("// Data from CPython %s's `opcode` module; rerun the tool to refresh." % sys.version.split()[0])
    out.append("")
    out.append("/// `opcode.HAVE_ARGUMENT`.")
    out.append("pub const HAVE_ARGUMENT: u8 = %d;" % opcode.HAVE_ARGUMENT)
    out.append("")
    for num, name in ops:
        out.append("pub const %s: u8 = %d;" % (name, num))
    out.append("")
    out.append("/// Every opcode of `opcode.opmap` below 256, by number.")
    out.append("#[rustfmt::skip]")
    out.append("pub static OPS: &[OpInfo] = &[")
    for num, name in ops:
        out.append(
            '    OpInfo { name: "%s", code: %s, caches: %d, arg: %s },'
            % (name, name, cache_entries(num, name), arg_kind(minor, num, name))
        )
    out.append("];")
    if minor >= 14:
        out.append("")
        out.append("/// `LOAD_COMMON_CONSTANT`'s table (`opcode._common_constants`), as text.")
        out.append("#[rustfmt::skip]")
        out.append("pub const COMMON_CONSTANTS: &[&str] = &[%s];" % ", ".join(
            '"%s"' % common_constant_text(c).replace("\\", "\\\\").replace('"', '\\"')
            for c in opcode._common_constants))
        out.append("")
        out.extend(emit_popped_pushed({name for _, name in ops}))
        out.append("")
        out.extend(emit_cannot_raise({name for _, name in ops}))
    out.append(END)
    return "\n".join(out) + "\n"


def common_constant_text(c):
    """How the disassembly shows a common constant: a class or builtin by
    its name, anything else by its repr (the same text the harness of
    tests/opcode_tables.rs compares)."""
    return getattr(c, "__name__", None) or repr(c)


def metadata_switches():
    """The two switches of this interpreter's pycore_opcode_metadata.h as
    {"popped"|"pushed": {opcode name or None for default: C expression}}."""
    import sysconfig

    path = os.path.join(sysconfig.get_path("include"), "internal", "pycore_opcode_metadata.h")
    with open(path) as f:
        text = f.read()
    out = {}
    for which in ("popped", "pushed"):
        head = "int _PyOpcode_num_%s(int opcode, int oparg)" % which
        body = text[text.index(head):]
        body = body[: body.index("\n}\n")]
        table, pending = {}, []
        for line in body.splitlines()[1:]:
            line = line.strip()
            if line.startswith("case ") and line.endswith(":"):
                pending.append(line[5:-1].strip())
            elif line == "default:":
                pending.append(None)
            elif line.startswith("return ") and line.endswith(";"):
                for name in pending:
                    table[name] = line[7:-1].strip()
                pending = []
        out[which] = table
    return out


def emit_cannot_raise(known_names):
    """Rust list of the opcodes whose metadata has no error path
    (`HAS_ERROR_FLAG`, `HAS_ERROR_NO_POP_FLAG`) and no eval breaker (where a
    signal handler may raise)."""
    import re
    import sysconfig

    path = os.path.join(sysconfig.get_path("include"), "internal", "pycore_opcode_metadata.h")
    with open(path) as f:
        text = f.read()
    start = re.search(r"const struct opcode_metadata _PyOpcode_opcode_metadata\[\d+\] = \{", text)
    body = text[start.end() :]
    body = body[: body.index("};")]
    names = []
    for m in re.finditer(r"\[(\w+)\] = \{ true, \w+, ([^}]*)\}", body):
        name, flags = m.group(1), m.group(2)
        if name not in known_names:
            continue
        if not any(f in flags for f in ("HAS_ERROR_FLAG", "HAS_ERROR_NO_POP_FLAG", "HAS_EVAL_BREAK_FLAG")):
            names.append(name)
    out = [
        "/// Opcodes with no error path and no eval breaker in this version's",
        "/// `_PyOpcode_opcode_metadata` flags: they never raise.",
        "#[rustfmt::skip]",
        "pub(super) static CANNOT_RAISE: &[u8] = &[",
    ]
    for i in range(0, len(names), 6):
        out.append("    " + ", ".join(names[i:i + 6]) + ",")
    out.append("];")
    return out


def rust_expr(c_expr):
    """A C int expression of `oparg` (+ - * & >> and literals) as Rust i32
    code with C's wrapping arithmetic."""
    ops = {ast.Add: "wrapping_add", ast.Sub: "wrapping_sub", ast.Mult: "wrapping_mul"}

    def go(n):
        """(Rust code, whether it can be a method receiver without parens)."""
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return "%di32" % n.value, True
        if isinstance(n, ast.Name) and n.id == "oparg":
            return "oparg", True
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Constant):
            return "-%di32" % n.operand.value, False
        if isinstance(n, ast.BinOp):
            (a, a_atom), (b, _) = go(n.left), go(n.right)
            if type(n.op) in ops:
                recv = a if a_atom else "(%s)" % a
                return "%s.%s(%s)" % (recv, ops[type(n.op)], b), True
            sym = {ast.BitAnd: "&", ast.RShift: ">>"}.get(type(n.op))
            if sym:
                wrap = lambda x, atom: x if atom else "(%s)" % x
                return "%s %s %s" % (wrap(a, a_atom), sym, wrap(b, go(n.right)[1])), False
        raise SystemExit("cannot translate C expression %r" % c_expr)

    return go(ast.parse(c_expr, mode="eval").body)[0]


def emit_popped_pushed(known_names):
    """Rust `popped_pushed` for the opcodes of `known_names` (the opmap
    entries below 256; specialized forms are not in co_code)."""
    sw = metadata_switches()
    out = [
        "/// `(popped, pushed)`: `_PyOpcode_num_popped` / `_PyOpcode_num_pushed` of",
        "/// this version's `pycore_opcode_metadata.h`, in C `int` arithmetic.",
        "/// Long on purpose: generated, one `match` arm per group of opcodes.",
        "#[rustfmt::skip]",
        "pub(super) fn popped_pushed(op: u8, oparg: i32) -> Option<(i32, i32)> {",
    ]
    for which in ("popped", "pushed"):
        table = sw[which]
        groups = {}
        for name, expr in table.items():
            if name is None or name in known_names:
                groups.setdefault(rust_expr(expr), []).append(name)
        out.append("    let %s = match op {" % which)
        default = None
        for expr, names in sorted(groups.items(), key=lambda kv: sorted(n or "" for n in kv[1])):
            real = sorted(n for n in names if n is not None)
            if None in names:
                default = expr
            if real:
                out.append("        %s => %s," % (" | ".join(real), expr))
        out.append("        _ => %s," % (default if default is not None else "return None"))
        out.append("    };")
    out.append("    Some((popped, pushed))")
    out.append("}")
    return out


def find_pythons():
    """{minor: interpreter path} for every supported version this machine
    has, through scripts/find-python."""
    finder = os.path.normpath(os.path.join(HERE, "..", "..", "..", "scripts", "find-python"))
    found = {}
    for minor in MINORS:
        r = subprocess.run([finder, str(minor)], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            found[minor] = r.stdout.strip()
        else:
            print("CPython 3.%d not found; v3%d.rs left as it is" % (minor, minor))
    return found


def splice_into(path, block):
    with open(path) as f:
        text = f.read()
    start = text.index(BEGIN)
    end = text.index(END) + len(END) + 1  # and its newline
    with open(path, "w") as f:
        f.write(text[:start] + block + text[end:])


def main():
    if "--emit" in sys.argv:
        sys.stdout.write(emit())
        return
    for minor, python in sorted(find_pythons().items()):
        block = subprocess.run(
            [python, os.path.abspath(__file__), "--emit"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path = os.path.normpath(os.path.join(OPCODES_DIR, "v3%d.rs" % minor))
        if os.path.exists(path):
            splice_into(path, block)
            print("updated", path, "from", python)
        else:
            print("no", path, "(create it with the markers first); block for", python, "follows")
            print(block)


if __name__ == "__main__":
    main()
