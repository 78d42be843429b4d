//! Locals a snippet may unbind (CPython 3.12+).
//!
//! From 3.12 on, `LOAD_FAST` does not check for an unbound local: the
//! compiler emits it only where its flow analysis proved the local bound,
//! and `LOAD_FAST_CHECK` elsewhere (3.13's and 3.14's pair and borrowed
//! forms likewise). A snippet that deletes a local of the target (`del z`,
//! or `except E as z:`, whose handler ends with `DELETE_FAST z`) breaks that
//! proof for every later load: `LOAD_FAST z` would push NULL and the next
//! instruction would crash the interpreter.
//!
//! So every unchecked load of such a local in the rewritten code becomes a
//! `LOAD_FAST_CHECK`, which raises `UnboundLocalError` as the same `del`
//! typed into the source would (CPython compiles the source's loads after a
//! `del` as checked loads too). A superinstruction with such a local in it
//! is split in two (the other half keeps its form). 3.11's `LOAD_FAST`
//! checks by itself: nothing to do there.

use crate::model::{Code, Item};
use crate::opcodes::Known;

use super::callgen::plain;

/// Make every load of the locals in `deleted` (target indexes) a checked
/// load. Returns how many instructions changed.
pub fn check_loads_of(code: &mut Code, deleted: &[u32]) -> usize {
    let k: Known = crate::opcodes::table(code.version).known;
    let Some(check) = k.load_fast_check else {
        return 0; // 3.11: every LOAD_FAST checks
    };
    if deleted.is_empty() {
        return 0;
    }
    let hit = |local: u32| deleted.contains(&local);
    let mut changed = 0usize;
    let mut out = Vec::with_capacity(code.items.len() + 4);
    for item in std::mem::take(&mut code.items) {
        let Item::Instr(mut ins) = item else {
            out.push(item);
            continue;
        };
        if (ins.op == k.load_fast || Some(ins.op) == k.load_fast_borrow) && hit(ins.arg) {
            ins.op = check;
            changed += 1;
            out.push(Item::Instr(ins));
            continue;
        }
        // Pairs: two 4-bit local indexes, first in the high bits.
        let halves = if Some(ins.op) == k.load_fast_load_fast {
            Some((k.load_fast, k.load_fast, true))
        } else if Some(ins.op) == k.load_fast_borrow_load_fast_borrow {
            k.load_fast_borrow.map(|b| (b, b, true))
        } else if Some(ins.op) == k.store_fast_load_fast {
            Some((k.store_fast, k.load_fast, false))
        } else {
            None
        };
        let Some((first_op, second_op, first_loads)) = halves else {
            out.push(Item::Instr(ins));
            continue;
        };
        let (a, b) = (ins.arg >> 4, ins.arg & 15);
        let first_hit = first_loads && hit(a);
        if !first_hit && !hit(b) {
            out.push(Item::Instr(ins));
            continue;
        }
        changed += 1;
        let first = if first_hit { check } else { first_op };
        let second = if hit(b) { check } else { second_op };
        // The split pair keeps the pair's location and handler; a label on
        // the pair now targets its first half.
        // (each half keeps the pair's mark: a split pair of a probe's copy
        // is still part of the copy)
        for (op, local) in [(first, a), (second, b)] {
            let mut half = plain(op, local, ins.loc, ins.handler);
            half.spliced = ins.spliced;
            out.push(Item::Instr(half));
        }
    }
    code.items = out;
    changed
}
