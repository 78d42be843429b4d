//! The verifier: every code object splice hands to CPython passes it first.
//!
//! It works from the assembled bytes, not from the model that produced them,
//! so a bug in the assembler is caught as surely as a bug in a splice pass:
//! the bytes are decoded again (instruction boundaries, jump targets,
//! exception-table ranges, one location per instruction), stack depth is
//! recomputed over every path, every operand index is checked against its
//! table, and the instruction pairs that CPython's interpreter assumes are
//! adjacent are checked to still be adjacent.

use crate::decode;
use crate::model::{Code, Instr};
use crate::opcodes::{self, ArgKind};
use crate::stackdepth;
use crate::{assemble, PyVersion, RawCode, RewriteError};

/// Opcodes the interpreter assumes are immediately followed by a specific
/// opcode, because it reads or skips the next instruction:
/// - 3.11 `PRECALL` specialisations skip over the following `CALL`;
/// - 3.12 `KW_NAMES` hands its names to the following `CALL`;
/// - `YIELD_VALUE` is followed by the `RESUME` that `_PyGen_yf` and
///   `gen_close` inspect.
pub fn required_successor(version: PyVersion, name: &str) -> Option<&'static str> {
    match (version, name) {
        (PyVersion::V311, "PRECALL") => Some("CALL"),
        (PyVersion::V312, "KW_NAMES") => Some("CALL"),
        (_, "YIELD_VALUE") => Some("RESUME"),
        _ => None,
    }
}

/// Opcodes whose jump target must be a specific opcode, because the
/// interpreter jumps past it: on 3.12+ an exhausted `FOR_ITER` skips the
/// `END_FOR` at its target (and on 3.13 the `POP_TOP` after it).
pub fn required_jump_target(version: PyVersion, name: &str) -> Option<&'static [&'static str]> {
    match (version, name) {
        (PyVersion::V312, "FOR_ITER") => Some(&["END_FOR"]),
        (PyVersion::V313, "FOR_ITER") => Some(&["END_FOR", "POP_TOP"]),
        _ => None,
    }
}

fn check_operands(code: &Code, instrs: &[&Instr]) -> Result<(), RewriteError> {
    let table = opcodes::table(code.version);
    let c = code.counts;
    for (i, ins) in instrs.iter().enumerate() {
        let Some(info) = table.info(ins.op) else {
            return Err(RewriteError::UnknownOpcode {
                op: ins.op,
                offset: i,
            });
        };
        let arg = ins.arg as usize;
        let (index, limit, what) = match info.arg {
            ArgKind::Const => (arg, c.consts, "co_consts"),
            ArgKind::Name { shift } => (arg >> shift, c.names, "co_names"),
            ArgKind::Local | ArgKind::Free => (arg, c.localsplus, "the local variables"),
            ArgKind::LocalPair => (
                (arg >> 4).max(arg & 15),
                c.localsplus,
                "the local variables",
            ),
            _ => continue,
        };
        if index >= limit {
            return Err(RewriteError::Verify(format!(
                "instruction {i} ({}) uses index {index} of {what}, which has {limit} entries",
                info.name
            )));
        }
    }
    Ok(())
}

fn check_adjacency(code: &Code) -> Result<(), RewriteError> {
    let table = opcodes::table(code.version);
    let (instrs, labels) = code.flatten()?;
    let name = |i: usize| {
        instrs
            .get(i)
            .and_then(|ins| table.info(ins.op))
            .map(|o| o.name)
            .unwrap_or("<end of code>")
    };
    for (i, ins) in instrs.iter().enumerate() {
        let this = name(i);
        if let Some(next) = required_successor(code.version, this) {
            if name(i + 1) != next {
                return Err(RewriteError::Verify(format!(
                    "instruction {i} ({this}) must be followed by {next}, found {}",
                    name(i + 1)
                )));
            }
        }
        if let (Some(t), Some(seq)) = (ins.target, required_jump_target(code.version, this)) {
            let ti = *labels.get(&t).ok_or(RewriteError::UnplacedLabel(t.0))?;
            for (k, want) in seq.iter().enumerate() {
                if name(ti + k) != *want {
                    return Err(RewriteError::Verify(format!(
                        "instruction {i} ({this}) must jump to {}, found {} at its target",
                        seq.join(" + "),
                        name(ti + k)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Verify raw code-object fields before they become a code object.
pub fn verify(raw: &RawCode) -> Result<(), RewriteError> {
    let code = decode::decode(raw)?;
    let (instrs, labels) = code.flatten()?;
    let depths = stackdepth::compute(raw.version, &instrs, &labels)?;
    if depths.max > raw.stacksize {
        return Err(RewriteError::Verify(format!(
            "co_stacksize is {} but the stack reaches depth {}",
            raw.stacksize, depths.max
        )));
    }
    check_operands(&code, &instrs)?;
    check_adjacency(&code)?;
    Ok(())
}

/// Assemble `code` and verify the result: the only way splice produces
/// bytes for CPython.
pub fn assemble_verified(code: &Code) -> Result<RawCode, RewriteError> {
    let raw = assemble(code)?;
    verify(&raw)?;
    Ok(raw)
}
