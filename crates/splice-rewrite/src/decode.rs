//! Raw code-object fields -> [`Code`]: EXTENDED_ARG folded into operands,
//! inline caches dropped (the assembler re-emits them), relative jumps and
//! exception-table targets turned into labels, one location per instruction.

use std::collections::BTreeSet;

use crate::exceptiontable;
use crate::linetable::{self, Location};
use crate::model::{Code, Handler, Instr, Item, Label};
use crate::opcodes::{self, ArgKind};
use crate::{RawCode, RewriteError};

/// One instruction as found in `co_code`, in code units (2-byte units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawInstr {
    /// First unit, including EXTENDED_ARG prefixes.
    pub start: usize,
    /// Unit of the opcode itself.
    pub op_unit: usize,
    /// First unit after the inline caches.
    pub end: usize,
    pub op: u8,
    pub arg: u32,
}

/// Split `co_code` into instructions.
pub fn split_instructions(raw: &RawCode) -> Result<Vec<RawInstr>, RewriteError> {
    let table = opcodes::table(raw.version);
    let code = &raw.code;
    if !code.len().is_multiple_of(2) {
        return Err(RewriteError::OddCodeLength(code.len()));
    }
    let extended_arg = table.known.extended_arg;
    let n_units = code.len() / 2;
    let mut out = Vec::new();
    let mut unit = 0;
    let mut ext: u32 = 0;
    let mut start: Option<usize> = None;
    while unit < n_units {
        let op = code[2 * unit];
        let byte = u32::from(code[2 * unit + 1]);
        if op == extended_arg {
            if ext > 0x00FF_FFFF {
                return Err(RewriteError::ArgTooLarge {
                    name: "EXTENDED_ARG",
                    arg: (u64::from(ext) << 8) | u64::from(byte),
                });
            }
            ext = (ext | byte) << 8;
            start.get_or_insert(unit);
            unit += 1;
            continue;
        }
        let info = table.info(op).ok_or(RewriteError::UnknownOpcode {
            op,
            offset: 2 * unit,
        })?;
        let end = unit + 1 + usize::from(info.caches);
        if end > n_units {
            return Err(RewriteError::TruncatedCache(2 * unit));
        }
        out.push(RawInstr {
            start: start.take().unwrap_or(unit),
            op_unit: unit,
            end,
            op,
            arg: ext | byte,
        });
        ext = 0;
        unit = end;
    }
    if let Some(s) = start {
        return Err(RewriteError::DanglingExtendedArg(2 * s));
    }
    Ok(out)
}

/// Where a relative jump lands, in code units, or `None` for non-jumps.
pub fn jump_target_unit(kind: ArgKind, end: usize, arg: u32) -> Option<i64> {
    match kind {
        ArgKind::JumpForward => Some(end as i64 + i64::from(arg)),
        ArgKind::JumpBackward => Some(end as i64 - i64::from(arg)),
        _ => None,
    }
}

/// Decode the raw fields of a code object into the editable model.
pub fn decode(raw: &RawCode) -> Result<Code, RewriteError> {
    let table = opcodes::table(raw.version);
    let raws = split_instructions(raw)?;
    let n_units = raw.code.len() / 2;

    // Map each unit that starts an instruction to that instruction's index.
    let mut index_at: Vec<Option<usize>> = vec![None; n_units + 1];
    for (i, r) in raws.iter().enumerate() {
        index_at[r.start] = Some(i);
    }
    let instr_at = |unit: i64| -> Option<usize> {
        usize::try_from(unit)
            .ok()
            .and_then(|u| index_at.get(u).copied().flatten())
    };

    // Jump targets.
    let mut targets: BTreeSet<usize> = BTreeSet::new();
    let mut jump_to: Vec<Option<usize>> = vec![None; raws.len()];
    for (i, r) in raws.iter().enumerate() {
        let kind = table.info(r.op).map(|o| o.arg).unwrap_or(ArgKind::None);
        if let Some(t) = jump_target_unit(kind, r.end, r.arg) {
            let ti = instr_at(t).ok_or(RewriteError::BadJumpTarget {
                offset: 2 * r.op_unit,
                target: 2 * t,
            })?;
            targets.insert(ti);
            jump_to[i] = Some(ti);
        }
    }

    // Exception table: every entry must cover whole instructions and target
    // an instruction; entries must not overlap.
    let entries = exceptiontable::parse(&raw.exceptiontable)?;
    let mut handler_of: Vec<Option<(usize, u32, bool)>> = vec![None; raws.len()];
    for e in &entries {
        let bad = |what: &str| {
            RewriteError::BadExceptionTable(format!(
                "entry {}..{} -> {} (depth {}{}): {what}",
                2 * e.start,
                2 * e.end,
                2 * e.target,
                e.depth,
                if e.lasti { ", lasti" } else { "" }
            ))
        };
        let first = instr_at(i64::from(e.start))
            .ok_or_else(|| bad("start is not an instruction boundary"))?;
        let last = if e.end as usize == n_units {
            raws.len()
        } else {
            instr_at(i64::from(e.end)).ok_or_else(|| bad("end is not an instruction boundary"))?
        };
        if last <= first {
            return Err(bad("empty range"));
        }
        let target =
            instr_at(i64::from(e.target)).ok_or_else(|| bad("target is not an instruction"))?;
        targets.insert(target);
        for h in &mut handler_of[first..last] {
            if h.is_some() {
                return Err(bad("overlaps another entry"));
            }
            *h = Some((target, e.depth, e.lasti));
        }
    }

    // Locations: every unit of an instruction shares one location.
    let locs = linetable::decode(&raw.linetable, raw.firstlineno, n_units)?;
    let loc_of = |r: &RawInstr| -> Result<Location, RewriteError> {
        let l = locs[r.start];
        if locs[r.start..r.end].iter().any(|x| *x != l) {
            return Err(RewriteError::BadLineTable(format!(
                "the instruction at offset {} has more than one location",
                2 * r.op_unit
            )));
        }
        Ok(l)
    };

    let mut label_of: Vec<Option<Label>> = vec![None; raws.len()];
    for (n, &t) in targets.iter().enumerate() {
        label_of[t] = Some(Label(n as u32));
    }
    let mut items = Vec::with_capacity(raws.len() + targets.len());
    for (i, r) in raws.iter().enumerate() {
        if let Some(l) = label_of[i] {
            items.push(Item::Label(l));
        }
        let target = jump_to[i].and_then(|t| label_of[t]);
        let handler = handler_of[i].and_then(|(t, depth, lasti)| {
            label_of[t].map(|target| Handler {
                target,
                depth,
                lasti,
            })
        });
        items.push(Item::Instr(Instr {
            op: r.op,
            arg: r.arg,
            target,
            loc: loc_of(r)?,
            handler,
        }));
    }
    Ok(Code {
        version: raw.version,
        firstlineno: raw.firstlineno,
        items,
        counts: raw.counts,
        min_stacksize: raw.stacksize,
        next_label: targets.len() as u32,
    })
}
