//! [`Code`] -> raw code-object fields, one pass per concern as in CPython's
//! `Python/assemble.c`: operand sizing and jump offsets (iterated to a fixed
//! point, since an EXTENDED_ARG prefix moves every later offset), bytes with
//! inline caches, exception table, location table, stack depth.

use crate::cfg::Cfg;
use crate::exceptiontable::{self, ExceptionTableEntry};
use crate::linetable;
use crate::model::{Code, Handler, Instr, LabelMap};
use crate::opcodes::{self, ArgKind, OpcodeTable};
use crate::stackdepth;
use crate::{PyVersion, RawCode, RewriteError};

/// Most passes the jump-offset iteration may take. Sizes only change when an
/// operand crosses a byte boundary, so real code converges in two or three.
const MAX_PASSES: usize = 64;

/// Number of EXTENDED_ARG prefixes `arg` needs.
pub fn extended_args(arg: u32) -> u32 {
    match arg {
        0..=0xFF => 0,
        0x100..=0xFFFF => 1,
        0x1_0000..=0xFF_FFFF => 2,
        _ => 3,
    }
}

fn caches(table: &OpcodeTable, op: u8) -> Result<u32, RewriteError> {
    table
        .info(op)
        .map(|o| u32::from(o.caches))
        .ok_or(RewriteError::UnknownOpcode { op, offset: 0 })
}

/// Size in code units of an instruction with operand `arg`, prefixes and
/// caches included.
fn size(table: &OpcodeTable, op: u8, arg: u32) -> Result<u32, RewriteError> {
    Ok(extended_args(arg) + 1 + caches(table, op)?)
}

/// Final operands: non-jumps keep theirs, jumps get the relative offset of
/// their target, iterated until no instruction changes size.
fn resolve_jumps(
    table: &OpcodeTable,
    instrs: &[&Instr],
    labels: &LabelMap,
) -> Result<(Vec<u32>, Vec<u32>), RewriteError> {
    // Where the iteration starts decides which fixed point it reaches when
    // several exist (jumps over each other can all be long or all short).
    // Start where CPython does: 3.13 and later seed a jump's operand with
    // its target's instruction index, 3.11 and 3.12 with 0 (checked by
    // `splice doctor`).
    let seed_with_index = table.version >= PyVersion::V313;
    let mut args: Vec<u32> = Vec::with_capacity(instrs.len());
    for ins in instrs {
        args.push(match ins.target {
            Some(t) if seed_with_index => {
                labels.get(t).ok_or(RewriteError::UnplacedLabel(t.0))? as u32
            }
            Some(_) => 0,
            None => ins.arg,
        });
    }
    for _ in 0..MAX_PASSES {
        let mut offsets = Vec::with_capacity(instrs.len() + 1);
        let mut off = 0u32;
        for (i, ins) in instrs.iter().enumerate() {
            offsets.push(off);
            off += size(table, ins.op, args[i])?;
        }
        offsets.push(off);
        let mut changed = false;
        for (i, ins) in instrs.iter().enumerate() {
            let Some(t) = ins.target else { continue };
            let ti = labels.get(t).ok_or(RewriteError::UnplacedLabel(t.0))?;
            let after = i64::from(offsets[i + 1]);
            let target = i64::from(offsets[ti]);
            let info = table.info(ins.op).ok_or(RewriteError::UnknownOpcode {
                op: ins.op,
                offset: 0,
            })?;
            // An anchored operand counts back to `anchor + delta` (3.14+
            // END_ASYNC_FOR names its SEND this way).
            let anchored = table.offset_anchor(ins.op).map_or(0, |(_, d)| i64::from(d));
            let delta = match info.arg {
                ArgKind::JumpForward => target - after,
                ArgKind::JumpBackward => after - target - anchored,
                _ => {
                    return Err(RewriteError::Verify(format!(
                        "{} has a jump target but is not a jump",
                        info.name
                    )))
                }
            };
            if delta < 0 {
                return Err(RewriteError::Verify(format!(
                    "{} at instruction {i} cannot jump {} to instruction {ti}",
                    info.name,
                    if info.arg == ArgKind::JumpForward {
                        "backward"
                    } else {
                        "forward"
                    }
                )));
            }
            let new = u32::try_from(delta).map_err(|_| RewriteError::ArgTooLarge {
                name: info.name,
                arg: delta as u64,
            })?;
            if extended_args(new) != extended_args(args[i]) {
                changed = true;
            }
            args[i] = new;
        }
        if !changed {
            return Ok((args, offsets));
        }
    }
    Err(RewriteError::NoFixedPoint(MAX_PASSES))
}

/// The exception table: one entry per maximal run of consecutive
/// instructions with the same handler, as CPython writes it.
fn exception_entries(
    instrs: &[&Instr],
    offsets: &[u32],
    labels: &LabelMap,
) -> Result<Vec<ExceptionTableEntry>, RewriteError> {
    let mut out = Vec::new();
    let mut current: Option<(Handler, u32)> = None;
    let mut close = |h: Handler, start: u32, end: u32| -> Result<(), RewriteError> {
        let ti = labels
            .get(h.target)
            .ok_or(RewriteError::UnplacedLabel(h.target.0))?;
        out.push(ExceptionTableEntry {
            start,
            end,
            target: offsets[ti],
            depth: h.depth,
            lasti: h.lasti,
        });
        Ok(())
    };
    for (i, ins) in instrs.iter().enumerate() {
        if current.map(|(h, _)| h) != ins.handler {
            if let Some((h, start)) = current {
                close(h, start, offsets[i])?;
            }
            current = ins.handler.map(|h| (h, offsets[i]));
        }
    }
    if let Some((h, start)) = current {
        close(h, start, offsets[instrs.len()])?;
    }
    Ok(out)
}

/// Assemble the model into raw code-object fields. Does not verify; callers
/// that hand the result to CPython go through [`crate::verify::assemble_verified`].
pub fn assemble(code: &Code) -> Result<RawCode, RewriteError> {
    let cfg = Cfg::new(code)?;
    let depths = stackdepth::compute(&cfg)?;
    let mut raw = assemble_graph(code, &cfg)?;
    raw.stacksize = depths.max.max(code.min_stacksize);
    Ok(raw)
}

/// The bytes and tables of `code`, whose graph is `cfg`, with `co_stacksize`
/// left at the original's: the caller computes the stack depth (the
/// verifier computes it from these bytes anyway, so
/// [`crate::verify::assemble_verified`] takes it from there instead of
/// walking the code twice).
pub(crate) fn assemble_graph(code: &Code, cfg: &Cfg) -> Result<RawCode, RewriteError> {
    let table = opcodes::table(code.version);
    let (instrs, labels) = (&cfg.instrs, &cfg.labels);
    let (args, offsets) = resolve_jumps(table, instrs, labels)?;
    let extended_arg = table.known.extended_arg;

    let mut bytes = Vec::with_capacity(2 * offsets[instrs.len()] as usize);
    for (ins, &arg) in instrs.iter().zip(&args) {
        let n_ext = extended_args(arg);
        for k in (1..=n_ext).rev() {
            bytes.push(extended_arg);
            bytes.push((arg >> (8 * k)) as u8);
        }
        bytes.push(ins.op);
        bytes.push(arg as u8);
        for _ in 0..caches(table, ins.op)? {
            bytes.extend_from_slice(&[0, 0]);
        }
    }

    let entries = exception_entries(instrs, &offsets, labels)?;
    let locations: Vec<_> = instrs
        .iter()
        .enumerate()
        .map(|(i, ins)| (ins.loc, offsets[i + 1] - offsets[i]))
        .collect();

    Ok(RawCode {
        version: code.version,
        code: bytes,
        exceptiontable: exceptiontable::encode(&entries),
        linetable: linetable::encode(code.version, code.firstlineno, &locations),
        firstlineno: code.firstlineno,
        stacksize: code.min_stacksize,
        counts: code.counts,
    })
}
