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

Interpreters are found through SPLICE_PYTHON_311 / _312 / _313, or the pyenv
paths /root/.pyenv/versions/3.1X.*/bin/python.

Operand-kind rules (checked against the same opcode module by
tests/opcode_tables.rs):
- no argument: op < HAVE_ARGUMENT, or `op not in opcode.hasarg` where the
  module has `hasarg` (3.12+);
- hasconst -> Const; hasname -> Name{shift} (LOAD_GLOBAL: 1; LOAD_ATTR on 3.12+:
  1; LOAD_SUPER_ATTR on 3.12+: 2; else 0); haslocal -> Local, or LocalPair for
  the 3.13 superinstructions; hasfree -> Free; hasjrel -> JumpForward or
  JumpBackward; hascompare -> Compare; anything else -> Plain.
"""

import glob
import os
import subprocess
import sys

BEGIN = "// BEGIN GENERATED (tools/gen_opcodes.py)"
END = "// END GENERATED (tools/gen_opcodes.py)"

HERE = os.path.dirname(os.path.abspath(__file__))
OPCODES_DIR = os.path.join(HERE, "..", "src", "opcodes")

LOCAL_PAIRS = {"LOAD_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST"}
BACKWARD_311 = {
    "JUMP_BACKWARD",
    "JUMP_BACKWARD_NO_INTERRUPT",
    "POP_JUMP_BACKWARD_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_NONE",
    "POP_JUMP_BACKWARD_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_TRUE",
}
BACKWARD_312 = {"JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}


def name_shift(minor, name):
    if name == "LOAD_GLOBAL":
        return 1
    if minor >= 12 and name == "LOAD_ATTR":
        return 1
    if minor >= 12 and name == "LOAD_SUPER_ATTR":
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
    if op in opcode.haslocal:
        kinds.append("ArgKind::LocalPair" if name in LOCAL_PAIRS else "ArgKind::Local")
    if op in opcode.hasfree:
        kinds.append("ArgKind::Free")
    if op in opcode.hasjrel:
        backward = BACKWARD_311 if minor == 11 else BACKWARD_312
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
    if isinstance(ice, dict):  # 3.13: keyed by name
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
    out.append(END)
    return "\n".join(out) + "\n"


def find_pythons():
    found = {}
    for minor in (11, 12, 13):
        env = os.environ.get("SPLICE_PYTHON_3%d" % minor)
        if env:
            found[minor] = env
            continue
        cands = sorted(glob.glob("/root/.pyenv/versions/3.%d.*/bin/python" % minor))
        if cands:
            found[minor] = cands[-1]
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
