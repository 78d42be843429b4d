//! Padding: a NOP before every instruction that starts a source line. It
//! changes every offset after the first line, every jump, every exception
//! range and the location table while leaving behaviour unchanged, which
//! makes it the torture test of the assembler (`make torture`).

use crate::cfg::Cfg;
use crate::model::{Code, Instr, Item};
use crate::opcodes;
use crate::RewriteError;

/// Insert a NOP before each instruction whose line differs from the previous
/// instruction's. The NOP takes that instruction's location and handler and
/// goes after its labels, so jumps to the line run the NOP too, except where
/// nothing may be inserted ([`Cfg::pinned`]: up to the first `RESUME`,
/// between instruction pairs the interpreter assumes adjacent, at exact jump
/// targets). Returns the number of NOPs inserted.
pub fn pad_line_starts(code: &mut Code) -> Result<usize, RewriteError> {
    let nop = opcodes::table(code.version).known.nop;
    let pads: Vec<Option<Instr>> = {
        let cfg = Cfg::new(code)?;
        let pinned = cfg.pinned();
        (0..cfg.len())
            .map(|i| {
                let ins = cfg.instrs[i];
                let starts_line = ins.loc.line.is_some()
                    && (i == 0 || cfg.instrs[i - 1].loc.line != ins.loc.line);
                (starts_line && !pinned[i]).then_some(Instr {
                    spliced: None,
                    op: nop,
                    arg: 0,
                    target: None,
                    loc: ins.loc,
                    handler: ins.handler,
                })
            })
            .collect()
    };
    let mut out = Vec::with_capacity(code.items.len() * 2);
    let mut inserted = 0;
    let mut pads = pads.into_iter();
    for item in std::mem::take(&mut code.items) {
        if let Item::Instr(_) = item {
            if let Some(Some(pad)) = pads.next() {
                out.push(Item::Instr(pad));
                inserted += 1;
            }
        }
        out.push(item);
    }
    code.items = out;
    Ok(inserted)
}
