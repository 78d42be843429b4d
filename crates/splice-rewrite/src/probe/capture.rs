//! Capture probes: `enter()` right after the `RESUME` where the body starts, `exit(value)`
//! before every return, and `error(exc)` from a new outermost exception
//! handler that re-raises unchanged (`RERAISE 1` restores the raising
//! instruction, so tracebacks do not change).
//!
//! With `keep_entry`, what `enter()` returns is stored in a new hidden local
//! of the frame and passed to `exit` and `error` as a second argument: the
//! frame itself holds the open call's state, so that a generator or
//! coroutine suspended inside a garbage cycle takes that state down with it
//! (held anywhere else, it kept the cycle reachable). The local is bound
//! (to `None`, then to what `enter()` returns) right after the body's
//! `RESUME`, outside every handler, and that `RESUME`, which can raise
//! before it (a `PY_START` callback, a signal handler), goes to an unwrapped
//! copy of its own handler: the error handler's unchecked load of the local
//! is only ever reached with the local bound (the verifier checks it).

use crate::linetable::Location;
use crate::model::{Handler, Instr, Item};
use crate::opcodes;
use crate::RewriteError;

use super::callgen::{call_const, plain};
use super::scope::TargetVars;
use super::Target;

/// Hooks of a capture probe, as indexes into the target's consts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureHooks {
    pub enter: Option<u32>,
    pub exit: u32,
    pub error: u32,
    /// Keep what `enter()` returns in a hidden local and pass it to `exit`
    /// and `error` (needs `enter`): the index of the constant `None`, which
    /// the local holds until `enter` returns (the error handler reads it
    /// even when `enter` itself raised).
    pub keep_entry: Option<u32>,
}

/// Name prefix of the hidden local that holds an open call's entry; a
/// `_splice_` name, which splice leaves out of the locals it shows.
const ENTRY_LOCAL: &str = "_splice_call";

/// A new hidden local for `target`'s entry state (`_splice_call`,
/// `_splice_call1`, ... when several captures probe one code object), and
/// its localsplus index.
fn add_entry_local(target: &mut Target) -> Result<u32, RewriteError> {
    let mut name = ENTRY_LOCAL.to_string();
    let mut n = 0;
    while target.scope.kind(&name).is_some() {
        n += 1;
        name = format!("{ENTRY_LOCAL}{n}");
    }
    let mut added = Vec::new();
    let mut vars = TargetVars {
        scope: &mut target.scope,
        code: &mut target.code,
        added: &mut added,
    };
    vars.index_of(&name, super::VarKind::Fast)
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

/// The handler block at `label` in `items` (the instructions from the label
/// to the first one that does not fall through), if it is straight-line: no
/// jumps, as the implicit handler of a generator or coroutine is
/// (`CALL_INTRINSIC_1 3; RERAISE 1`).
fn straight_handler_block(
    table: &opcodes::OpcodeTable,
    items: &[Item],
    label: crate::model::Label,
) -> Option<Vec<Instr>> {
    let start = items.iter().position(|it| *it == Item::Label(label))?;
    let mut out = Vec::new();
    for it in &items[start + 1..] {
        let Item::Instr(ins) = it else { continue };
        if ins.target.is_some() || table.is_jump(ins.op) {
            return None;
        }
        out.push(ins.clone());
        if table.is_terminal(ins.op) {
            return Some(out);
        }
        if out.len() > 8 {
            return None;
        }
    }
    None
}

/// Splice a capture probe into `target`.
pub fn apply(target: &mut Target, hooks: CaptureHooks) -> Result<(), RewriteError> {
    let entry = match (hooks.keep_entry, hooks.enter) {
        (None, _) => None,
        (Some(none), Some(_)) => Some((none, add_entry_local(target)?)),
        (Some(_), None) => {
            return Err(RewriteError::Uninstrumentable(
                "a capture probe that keeps its entry needs an enter hook".into(),
            ))
        }
    };
    let code = &mut target.code;
    let table = opcodes::table(code.version);
    let k = &table.known;
    // The arguments of `exit`/`error` after the callable and the NULL:
    // [x, callable, NULL] -> [x, callable, NULL, x (, entry)]
    let hook_args = |loc: Location, handler: Option<Handler>| -> Vec<Instr> {
        let mut args = vec![plain(k.copy, 3, loc, handler)];
        if let Some((_, local)) = entry {
            args.push(plain(k.load_fast, local, loc, handler));
        }
        args
    };
    let err_label = code.new_label();
    let err_handler = Handler {
        target: err_label,
        depth: 0,
        lasti: true,
    };
    let old = std::mem::take(&mut code.items);
    // With a kept entry, the body's `RESUME` must not lead to the error
    // hook: it runs before the hidden local is bound (it can raise: a
    // signal handler's KeyboardInterrupt at a generator's first resume), and
    // the hook's unchecked load of an unbound local pushes NULL (a crash on
    // 3.12+). Its handler (a generator's or coroutine's implicit one) is
    // copied, unwrapped, and the `RESUME` goes there instead.
    let mut resume_handler: Option<(Handler, Vec<Instr>)> = None;
    if entry.is_some() {
        let resume = old.iter().find_map(|it| match it {
            Item::Instr(i) if k.is_body_start(i.op, i.arg) => Some(i),
            _ => None,
        });
        if let Some(h) = resume.and_then(|i| i.handler) {
            let block = straight_handler_block(table, &old, h.target).ok_or_else(|| {
                RewriteError::Uninstrumentable(
                    "the handler around the body's RESUME is not straight-line code".into(),
                )
            })?;
            let copy = Handler {
                target: code.new_label(),
                ..h
            };
            resume_handler = Some((copy, block));
        }
    }
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
                // [value] -> [value, exit, NULL, value (, entry)] -> [value]
                out.extend(
                    call_const(k, hooks.exit, &hook_args(loc, handler), loc, handler)
                        .into_iter()
                        .map(Item::Instr),
                );
                out.push(Item::Instr(plain(k.pop_top, 0, loc, handler)));
            }
        }
        let is_body_start = !seen_resume && k.is_body_start(ins.op, ins.arg);
        if is_body_start {
            if let Some((copy, _)) = &resume_handler {
                ins.handler = Some(*copy);
            }
        }
        let loc = ins.loc;
        out.push(Item::Instr(ins));
        if is_body_start {
            seen_resume = true;
            if let Some(enter) = hooks.enter {
                let handler = Some(err_handler);
                let emit = |op: u8, arg: u32| Item::Instr(plain(op, arg, loc, handler));
                if let Some((none, local)) = entry {
                    // Outside the error handler: neither can raise, and the
                    // handler must only be reached with the local bound
                    // (the verifier's binding check follows every covered
                    // instruction, as CPython's analysis does).
                    out.push(Item::Instr(plain(k.load_const, none, loc, None)));
                    out.push(Item::Instr(plain(k.store_fast, local, loc, None)));
                }
                out.extend(
                    call_const(k, enter, &[], loc, handler)
                        .into_iter()
                        .map(Item::Instr),
                );
                match entry {
                    Some((_, local)) => out.push(emit(k.store_fast, local)),
                    None => out.push(emit(k.pop_top, 0)),
                }
            }
        }
    }
    if !seen_resume {
        return Err(RewriteError::Uninstrumentable(
            "the code has no RESUME instruction".into(),
        ));
    }
    // The error handler: [lasti, exc] -> error(exc (, entry)) -> RERAISE 1
    // (restores lasti, so the traceback still points at the raising
    // instruction).
    let none = Location::NONE;
    out.push(Item::Label(err_label));
    out.extend(
        call_const(k, hooks.error, &hook_args(none, None), none, None)
            .into_iter()
            .map(Item::Instr),
    );
    out.push(Item::Instr(plain(k.pop_top, 0, none, None)));
    out.push(Item::Instr(plain(k.reraise, 1, none, None)));
    if let Some((copy, block)) = resume_handler {
        out.push(Item::Label(copy.target));
        out.extend(block.into_iter().map(Item::Instr));
    }
    code.items = out;
    Ok(())
}
