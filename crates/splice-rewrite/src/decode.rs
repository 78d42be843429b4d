//! Raw code-object fields -> [`Code`]: EXTENDED_ARG folded into operands,
//! inline caches dropped (the assembler re-emits them), relative jumps and
//! exception-table targets turned into labels, one location per instruction.

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
    // Room for the most instructions the units can hold: growing the vector
    // step by step was a tenth of a first probe's decode, on cold memory.
    let mut out = Vec::with_capacity(n_units);
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
        let info = table.info(op).ok_or_else(|| RewriteError::UnknownOpcode {
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

/// Instruction indexes by the code unit they start at.
struct UnitIndex(Vec<Option<usize>>);

impl UnitIndex {
    fn new(raws: &[RawInstr], n_units: usize) -> Self {
        let mut index_at = vec![None; n_units + 1];
        for (i, r) in raws.iter().enumerate() {
            index_at[r.start] = Some(i);
        }
        UnitIndex(index_at)
    }

    /// The instruction that starts at `unit`, if one does.
    fn at(&self, unit: i64) -> Option<usize> {
        usize::try_from(unit)
            .ok()
            .and_then(|u| self.0.get(u).copied().flatten())
    }
}

/// The instruction each jump names: its landing point, or for an operand
/// anchored to another instruction (3.14+ `END_ASYNC_FOR` and its `SEND`,
/// see [`opcodes::OpcodeTable::offset_anchor`]) that instruction.
fn jump_targets(
    table: &opcodes::OpcodeTable,
    raws: &[RawInstr],
    units: &UnitIndex,
) -> Result<Vec<Option<usize>>, RewriteError> {
    let mut jump_to = vec![None; raws.len()];
    for (i, r) in raws.iter().enumerate() {
        let kind = table.arg_kind(r.op).unwrap_or(ArgKind::None);
        let Some(mut t) = jump_target_unit(kind, r.end, r.arg) else {
            continue;
        };
        let anchor = table.offset_anchor(r.op);
        if let Some((_, delta)) = anchor {
            t -= i64::from(delta);
        }
        let bad = RewriteError::BadJumpTarget {
            offset: 2 * r.op_unit,
            target: 2 * t,
        };
        let ti = units.at(t).ok_or_else(|| bad.clone())?;
        if anchor.is_some_and(|(op, _)| raws[ti].op != op) {
            return Err(bad);
        }
        jump_to[i] = Some(ti);
    }
    Ok(jump_to)
}

/// A decoded exception-table entry for one instruction: handler index,
/// depth, lasti.
type HandlerOf = Option<(usize, u32, bool)>;

/// The handler of each instruction from the exception table: every entry
/// must cover whole instructions and target an instruction; entries must
/// not overlap.
fn handlers(
    raw: &RawCode,
    raws: &[RawInstr],
    units: &UnitIndex,
) -> Result<Vec<HandlerOf>, RewriteError> {
    let n_units = raw.code.len() / 2;
    let entries = exceptiontable::parse(&raw.exceptiontable)?;
    let mut handler_of = vec![None; raws.len()];
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
        let first = units
            .at(i64::from(e.start))
            .ok_or_else(|| bad("start is not an instruction boundary"))?;
        let last = if e.end as usize == n_units {
            raws.len()
        } else {
            units
                .at(i64::from(e.end))
                .ok_or_else(|| bad("end is not an instruction boundary"))?
        };
        if last <= first {
            return Err(bad("empty range"));
        }
        let target = units
            .at(i64::from(e.target))
            .ok_or_else(|| bad("target is not an instruction"))?;
        for h in &mut handler_of[first..last] {
            if h.is_some() {
                return Err(bad("overlaps another entry"));
            }
            *h = Some((target, e.depth, e.lasti));
        }
    }
    Ok(handler_of)
}

/// One location per instruction: every unit of an instruction (prefixes and
/// caches included) must share it. The same result as indexing
/// [`linetable::decode`]'s per-unit list, walked entry by entry instead
/// (no list of one location per code unit).
fn locations(raw: &RawCode, raws: &[RawInstr]) -> Result<Vec<Location>, RewriteError> {
    let entries = linetable::entries(&raw.linetable, raw.firstlineno)?;
    // The entries as consecutive unit spans; units past the table have no
    // location.
    let mut spans = entries.iter().scan(0usize, |end, &(loc, len)| {
        *end += len as usize;
        Some((loc, *end))
    });
    let mut next_span = || spans.next().unwrap_or((Location::NONE, usize::MAX));
    let mut span = next_span();
    let mut out = Vec::with_capacity(raws.len());
    for r in raws {
        // the span holding the instruction's first unit
        while span.1 <= r.start {
            span = next_span();
        }
        let l = span.0;
        // every later span the instruction reaches must say the same
        while span.1 < r.end {
            span = next_span();
            if span.0 != l {
                return Err(RewriteError::BadLineTable(format!(
                    "the instruction at offset {} has more than one location",
                    2 * r.op_unit
                )));
            }
        }
        out.push(l);
    }
    Ok(out)
}

/// Decode the raw fields of a code object into the editable model: split
/// the instructions, resolve jump and handler targets to labels, attach
/// locations.
pub fn decode(raw: &RawCode) -> Result<Code, RewriteError> {
    let table = opcodes::table(raw.version);
    let raws = split_instructions(raw)?;
    let units = UnitIndex::new(&raws, raw.code.len() / 2);
    let jump_to = jump_targets(table, &raws, &units)?;
    let handler_of = handlers(raw, &raws, &units)?;
    let locs = locations(raw, &raws)?;

    // Labels numbered in instruction order of their targets.
    let mut is_target = vec![false; raws.len()];
    for &t in jump_to
        .iter()
        .flatten()
        .chain(handler_of.iter().flatten().map(|(t, _, _)| t))
    {
        is_target[t] = true;
    }
    let mut n_labels = 0u32;
    let label_of: Vec<Option<Label>> = is_target
        .iter()
        .map(|&t| {
            t.then(|| {
                n_labels += 1;
                Label(n_labels - 1)
            })
        })
        .collect();
    let mut items = Vec::with_capacity(raws.len() + n_labels as usize);
    for (i, r) in raws.iter().enumerate() {
        if let Some(l) = label_of[i] {
            items.push(Item::Label(l));
        }
        let handler = handler_of[i].and_then(|(t, depth, lasti)| {
            label_of[t].map(|target| Handler {
                target,
                depth,
                lasti,
            })
        });
        items.push(Item::Instr(Instr {
            spliced: None,
            op: r.op,
            arg: r.arg,
            target: jump_to[i].and_then(|t| label_of[t]),
            loc: locs[i],
            handler,
        }));
    }
    Ok(Code {
        version: raw.version,
        firstlineno: raw.firstlineno,
        items,
        counts: raw.counts,
        min_stacksize: raw.stacksize,
        next_label: n_labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble;
    use crate::model::OperandCounts;
    use crate::PyVersion;

    /// 3.14+ END_ASYNC_FOR's operand counts back to SEND + END_SEND_OFFSET;
    /// the model keeps the SEND as its target and the assembler re-emits
    /// the same operand, whatever instruction sits at that point.
    #[test]
    fn end_async_for_is_anchored_to_its_send() {
        for (v, delta) in [(PyVersion::V314, 5u32), (PyVersion::V315, 6)] {
            let t = opcodes::table(v);
            let op = |n: &str| t.by_name(n).unwrap();
            let ins = |name: &str, arg: u32, target: Option<u32>| {
                Item::Instr(Instr {
                    spliced: None,
                    op: op(name),
                    arg,
                    target: target.map(Label),
                    loc: Location::line_only(1),
                    handler: None,
                })
            };
            // RESUME; (2 or 3 values); L0: SEND -> L1; YIELD_VALUE; RESUME 3;
            // JBNI -> L0; L1: END_SEND; (1 value); END_ASYNC_FOR (names L0);
            // (1 value); RETURN_VALUE
            let below = if v == PyVersion::V315 { 3 } else { 2 };
            let mut items = vec![ins("RESUME", 0, None)];
            items.extend((0..below).map(|_| ins("LOAD_CONST", 0, None)));
            items.extend([
                Item::Label(Label(0)),
                ins("SEND", 0, Some(1)),
                ins("YIELD_VALUE", 1, None),
                ins("RESUME", 3, None),
                ins("JUMP_BACKWARD_NO_INTERRUPT", 0, Some(0)),
                Item::Label(Label(1)),
                ins("END_SEND", 0, None),
                ins("LOAD_CONST", 0, None),
                ins("END_ASYNC_FOR", 0, Some(0)),
                ins("LOAD_CONST", 0, None),
                ins("RETURN_VALUE", 0, None),
            ]);
            let code = Code {
                version: v,
                firstlineno: 1,
                items,
                counts: OperandCounts::default(),
                min_stacksize: 0,
                next_label: 2,
            };
            let raw = assemble::assemble(&code).expect("assemble");
            let raws = split_instructions(&raw).unwrap();
            let send = raws.iter().find(|r| r.op == op("SEND")).unwrap();
            let eaf = raws.iter().find(|r| r.op == op("END_ASYNC_FOR")).unwrap();
            let end_send = raws.iter().find(|r| r.op == op("END_SEND")).unwrap();
            assert_eq!(
                eaf.end - eaf.arg as usize,
                send.start + delta as usize,
                "{v}"
            );
            assert_eq!(
                send.start + delta as usize,
                end_send.start,
                "{v}: lands on END_SEND"
            );
            let back = decode(&raw).expect("decode");
            let (instrs, labels) = back.flatten().unwrap();
            let e = instrs.iter().find(|i| i.op == op("END_ASYNC_FOR")).unwrap();
            assert_eq!(
                instrs[labels.get(e.target.unwrap()).unwrap()].op,
                op("SEND"),
                "{v}"
            );
            assert_eq!(assemble::assemble(&back).unwrap(), raw, "{v}: round trip");
        }
    }
}
