//! The verifier: every code object splice hands to CPython passes it first.
//!
//! It works from the assembled bytes, not from the model that produced them,
//! so a bug in the assembler is caught as surely as a bug in a splice pass:
//! the bytes are decoded again (instruction boundaries, jump targets,
//! exception-table ranges, one location per instruction), stack depth is
//! recomputed over every path, every operand index is checked against its
//! table, the instruction pairs that CPython's interpreter assumes are
//! adjacent are checked to still be adjacent, and (3.12+) no unchecked load
//! can read an unbound local ([`crate::bound`]) and no instruction uses a
//! slot as a cell where an inlined comprehension keeps a plain object in it
//! ([`crate::shadow`]).

use crate::bound;
use crate::cfg::Cfg;
use crate::decode;
use crate::model::OperandCounts;
use crate::opcodes::ArgKind;
use crate::shadow;
use crate::stackdepth;
use crate::{assemble, Code, RawCode, RewriteError};

fn check_operands(cfg: &Cfg, c: OperandCounts) -> Result<(), RewriteError> {
    for (i, ins) in cfg.instrs.iter().enumerate() {
        let Some(info) = cfg.table.info(ins.op) else {
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

/// The instruction pairs and jump targets the interpreter assumes (see
/// [`crate::opcodes::OpcodeTable::required_successor`] and
/// [`crate::opcodes::OpcodeTable::required_jump_target`]).
fn check_adjacency(cfg: &Cfg) -> Result<(), RewriteError> {
    let t = cfg.table;
    let name = |i: usize| {
        cfg.instrs
            .get(i)
            .and_then(|ins| t.name(ins.op))
            .unwrap_or("<end of code>")
    };
    let op_at = |i: usize| cfg.instrs.get(i).map(|ins| ins.op);
    for (i, ins) in cfg.instrs.iter().enumerate() {
        if let Some(next) = t.required_successor(ins.op) {
            if op_at(i + 1) != Some(next) {
                return Err(RewriteError::Verify(format!(
                    "instruction {i} ({}) must be followed by {}, found {}",
                    name(i),
                    t.name(next).unwrap_or("?"),
                    name(i + 1)
                )));
            }
        }
        if let (Some(ti), Some(seq)) = (cfg.jump_target(i), t.required_jump_target(ins.op)) {
            for (k, want) in seq.iter().enumerate() {
                if op_at(ti + k) != Some(*want) {
                    let seq_names: Vec<&str> =
                        seq.iter().map(|&o| t.name(o).unwrap_or("?")).collect();
                    return Err(RewriteError::Verify(format!(
                        "instruction {i} ({}) must jump to {}, found {} at its target",
                        name(i),
                        seq_names.join(" + "),
                        name(ti + k)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Every check but `co_stacksize`'s; returns the deepest the stack gets.
fn check(raw: &RawCode) -> Result<u32, RewriteError> {
    let code = decode::decode(raw)?;
    let cfg = Cfg::new(&code)?;
    let depths = stackdepth::compute(&cfg)?;
    check_operands(&cfg, code.counts)?;
    check_adjacency(&cfg)?;
    if let Some(locals) = code.counts.locals {
        bound::check_loads(&cfg, locals.params, locals.varnames, code.counts.localsplus)?;
    }
    shadow::check_cell_uses(&cfg)?;
    Ok(depths.max)
}

/// Verify raw code-object fields before they become a code object.
pub fn verify(raw: &RawCode) -> Result<(), RewriteError> {
    let max = check(raw)?;
    if max > raw.stacksize {
        return Err(RewriteError::Verify(format!(
            "co_stacksize is {} but the stack reaches depth {max}",
            raw.stacksize
        )));
    }
    Ok(())
}

/// Assemble `code` and verify the result: the only way splice produces
/// bytes for CPython. `co_stacksize` is the depth the verifier computes
/// from the assembled bytes (never less than the original's), so the stack
/// depth walk runs once, over exactly what CPython will run.
pub fn assemble_verified(code: &Code) -> Result<RawCode, RewriteError> {
    let mut raw = assemble::assemble_graph(code, &Cfg::new(code)?)?;
    let max = check(&raw)?;
    raw.stacksize = max.max(code.min_stacksize);
    Ok(raw)
}
