//! Capture probes: `enter()` right after the `RESUME` where the body starts, `exit(value)`
//! before every return, and `error(exc)` from a new outermost exception
//! handler that re-raises unchanged (`RERAISE 1` restores the raising
//! instruction, so tracebacks do not change).

use crate::linetable::Location;
use crate::model::{Code, Handler, Instr, Item};
use crate::opcodes;
use crate::RewriteError;

use super::callgen::{call_const, plain};

/// Hooks of a capture probe, as indexes into the target's consts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureHooks {
    pub enter: Option<u32>,
    pub exit: u32,
    pub error: u32,
}

/// Record that the new outermost handler covers a yield too. The compiler
/// marks yields that only the generator's implicit handler covers, and
/// `gen.close()` on a generator suspended there clears the frame without
/// throwing `GeneratorExit`: left as it was, the error hook would never run
/// for a generator closed early (a generator expression that `all()` stops
/// consuming), and its call would stay open in the recorder, holding the
/// frame's arguments alive.
fn cover_yield(k: &opcodes::Known, ins: &mut Instr) {
    if let Some(mask) = k.resume_depth1_mask {
        if ins.op == k.resume && ins.arg & k.resume_location_mask != 0 {
            ins.arg &= !mask;
        }
    }
    if k.yield_value_arg_is_handler_depth && ins.op == k.yield_value {
        ins.arg += 1;
    }
}

/// Splice a capture probe into `code`.
pub fn apply(code: &mut Code, hooks: CaptureHooks) -> Result<(), RewriteError> {
    let k = &opcodes::table(code.version).known;
    let err_label = code.new_label();
    let err_handler = Handler {
        target: err_label,
        depth: 0,
        lasti: true,
    };

    let old = std::mem::take(&mut code.items);
    let mut out: Vec<Item> = Vec::with_capacity(old.len() + 32);
    let mut seen_resume = false;
    for item in old {
        let mut ins = match item {
            Item::Label(_) => {
                out.push(item);
                continue;
            }
            Item::Instr(i) => i,
        };
        if seen_resume {
            ins.handler = ins.handler.or(Some(err_handler));
            cover_yield(k, &mut ins);
            if k.is_return(ins.op) {
                // [value] -> [value, value] -> exit(value) -> [value]
                let (loc, handler) = (ins.loc, ins.handler);
                if Some(ins.op) == k.return_const {
                    out.push(Item::Instr(plain(k.load_const, ins.arg, loc, handler)));
                    ins.op = k.return_value;
                    ins.arg = 0;
                }
                out.push(Item::Instr(plain(k.copy, 1, loc, handler)));
                out.extend(
                    call_const(k, hooks.exit, 1, loc, handler)
                        .into_iter()
                        .map(Item::Instr),
                );
                out.push(Item::Instr(plain(k.pop_top, 0, loc, handler)));
            }
        }
        let is_body_start = !seen_resume && k.is_body_start(ins.op, ins.arg);
        let loc = ins.loc;
        out.push(Item::Instr(ins));
        if is_body_start {
            seen_resume = true;
            if let Some(enter) = hooks.enter {
                let handler = Some(err_handler);
                out.extend(
                    call_const(k, enter, 0, loc, handler)
                        .into_iter()
                        .map(Item::Instr),
                );
                out.push(Item::Instr(plain(k.pop_top, 0, loc, handler)));
            }
        }
    }
    if !seen_resume {
        return Err(RewriteError::Uninstrumentable(
            "the code has no RESUME instruction".into(),
        ));
    }
    // The error handler: [lasti, exc] -> error(exc) -> RERAISE 1 (restores
    // lasti, so the traceback still points at the raising instruction).
    let none = Location::NONE;
    out.push(Item::Label(err_label));
    out.push(Item::Instr(plain(k.copy, 1, none, None)));
    out.extend(
        call_const(k, hooks.error, 1, none, None)
            .into_iter()
            .map(Item::Instr),
    );
    out.push(Item::Instr(plain(k.pop_top, 0, none, None)));
    out.push(Item::Instr(plain(k.reraise, 1, none, None)));
    code.items = out;
    Ok(())
}
