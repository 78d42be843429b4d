//! Padding: a NOP before every instruction that starts a source line. It
//! changes every offset after the first line, every jump, every exception
//! range and the location table while leaving behaviour unchanged, which
//! makes it the torture test of the assembler (`make torture`).

use crate::model::{Code, Instr, Item};
use crate::opcodes;
use crate::verify::required_successor;
use crate::RewriteError;

/// Insert a NOP before each instruction whose line differs from the previous
/// instruction's. The NOP takes that instruction's location and handler and
/// goes after its labels, so jumps to the line run the NOP too, except where
/// the interpreter needs the jump target or the previous instruction's
/// successor to stay put (see [`crate::verify`]). Nothing is inserted before
/// the first `RESUME` (CPython treats frames there as incomplete).
/// Returns the number of NOPs inserted.
pub fn pad_line_starts(code: &mut Code) -> Result<usize, RewriteError> {
    let table = opcodes::table(code.version);
    let nop = table
        .by_name("NOP")
        .ok_or(RewriteError::UnsupportedVersion(code.version.minor()))?;
    let resume = table.by_name("RESUME");
    // Instructions that are exact jump targets (jumped past) must not move.
    let (instrs, labels) = code.flatten()?;
    let mut pinned = vec![false; instrs.len()];
    for ins in &instrs {
        let name = table.info(ins.op).map(|o| o.name).unwrap_or("");
        if let (Some(t), Some(_)) = (
            ins.target,
            crate::verify::required_jump_target(code.version, name),
        ) {
            if let Some(&ti) = labels.get(&t) {
                pinned[ti] = true;
            }
        }
    }
    drop(instrs);

    let mut out = Vec::with_capacity(code.items.len() * 2);
    let mut prev: Option<Instr> = None;
    let mut seen_resume = false;
    let mut pending_labels = Vec::new();
    let mut inserted = 0;
    let mut idx = 0;
    for item in std::mem::take(&mut code.items) {
        let ins = match item {
            Item::Label(_) => {
                pending_labels.push(item);
                continue;
            }
            Item::Instr(i) => i,
        };
        let starts_line =
            ins.loc.line.is_some() && prev.as_ref().map(|p| p.loc.line) != Some(ins.loc.line);
        let prev_needs_successor = prev
            .as_ref()
            .and_then(|p| table.info(p.op))
            .and_then(|o| required_successor(code.version, o.name))
            .is_some();
        let pad = seen_resume && starts_line && !pinned[idx] && !prev_needs_successor;
        out.append(&mut pending_labels);
        if pad {
            out.push(Item::Instr(Instr {
                op: nop,
                arg: 0,
                target: None,
                loc: ins.loc,
                handler: ins.handler,
            }));
            inserted += 1;
        }
        if Some(ins.op) == resume {
            seen_resume = true;
        }
        prev = Some(ins.clone());
        out.push(Item::Instr(ins));
        idx += 1;
    }
    out.append(&mut pending_labels);
    code.items = out;
    Ok(inserted)
}
