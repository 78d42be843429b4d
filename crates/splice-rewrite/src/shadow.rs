//! Cells that an inlined comprehension shadows (CPython 3.12+, PEP 709).
//!
//! An inlined comprehension's variable shares the slot of the function's
//! local of the same name. `LOAD_FAST_AND_CLEAR x` saves the slot's value on
//! the stack, the comprehension stores its own values there, and a
//! `STORE_FAST x` puts the saved value back afterwards (also on the way out
//! of the comprehension's cleanup handler). When the function's `x` is a
//! cell (a closure reads it) and the comprehension's is not, the slot holds
//! plain objects in between: CPython's own code only reads it there with
//! `LOAD_FAST`. Code that reads it there as a cell (`LOAD_DEREF x`: a
//! snippet compiled in the function's scope, spliced at a line event inside
//! the comprehension) takes a plain object for a cell and crashes the
//! interpreter.
//!
//! [`shadowed`] finds, before each instruction, the cell slots whose saved
//! cell is on the stack: a flow analysis that tags the stack entries
//! `LOAD_FAST_AND_CLEAR` pushes, follows them through `SWAP`, `COPY` and
//! `POP_TOP`, and takes a `STORE_FAST` of a tagged entry into its own slot
//! as the restore. Every other instruction clears the tags of the entries it
//! pops (the version's popped/pushed metadata, which counts entries it only
//! reads as popped and pushed again), so a tag never outlives its entry and
//! a missed restore keeps a slot shadowed: the analysis errs towards
//! "shadowed". A `MAKE_CELL` ends the shadowing (the comprehension's
//! variable is a cell too, so the slot holds a cell again).

use crate::cfg::{Cfg, EdgeKind};
use crate::model::Instr;
use crate::opcodes::ArgKind;
use crate::RewriteError;

/// The analysis state before one instruction.
#[derive(Clone, PartialEq, Eq)]
struct State {
    /// Per candidate slot (by position in the candidate list): shadowed.
    shadowed: Vec<bool>,
    /// Per stack entry, bottom first: the slot whose saved value it is.
    stack: Vec<Option<u32>>,
}

impl State {
    /// Merge `other` in (shadowed on any path; a tag only where both
    /// agree); true if anything changed.
    fn absorb(&mut self, other: &State) -> Result<bool, RewriteError> {
        if self.stack.len() != other.stack.len() {
            return Err(RewriteError::Verify(
                "inconsistent stack depth (comprehension analysis)".into(),
            ));
        }
        let mut changed = false;
        for (a, b) in self.shadowed.iter_mut().zip(&other.shadowed) {
            if *b && !*a {
                *a = true;
                changed = true;
            }
        }
        for (a, b) in self.stack.iter_mut().zip(&other.stack) {
            if a.is_some() && a != b {
                *a = None;
                changed = true;
            }
        }
        Ok(changed)
    }
}

/// The slots some `LOAD_FAST_AND_CLEAR` of `cfg` saves (3.12+; empty on 3.11).
pub fn saved_slots(cfg: &Cfg) -> Vec<u32> {
    let Some(lfac) = cfg.table.known.load_fast_and_clear else {
        return Vec::new();
    };
    let mut out: Vec<u32> = cfg
        .instrs
        .iter()
        .filter(|i| i.op == lfac)
        .map(|i| i.arg)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The slots of `cells` that are shadowed before each instruction of `cfg`
/// (empty for an unreachable one). `cells` are the slots that hold cells
/// outside comprehensions; the others are not looked at.
pub fn shadowed(cfg: &Cfg, cells: &[u32]) -> Result<Vec<Vec<u32>>, RewriteError> {
    let n = cfg.len();
    let mut out = vec![Vec::new(); n];
    if cells.is_empty() || n == 0 || cfg.table.known.load_fast_and_clear.is_none() {
        return Ok(out);
    }
    let mut state: Vec<Option<State>> = vec![None; n];
    state[0] = Some(State {
        shadowed: vec![false; cells.len()],
        stack: Vec::new(),
    });
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let Some(before) = state[i].clone() else {
            continue;
        };
        for e in cfg.successors(i) {
            if e.to >= n {
                continue;
            }
            let Some(after) = step(cfg, cells, i, e.kind, &before)? else {
                continue;
            };
            let grew = match &mut state[e.to] {
                slot @ None => {
                    *slot = Some(after);
                    true
                }
                Some(cur) => cur.absorb(&after)?,
            };
            if grew {
                work.push(e.to);
            }
        }
    }
    for (i, s) in state.iter().enumerate() {
        if let Some(s) = s {
            out[i] = cells
                .iter()
                .zip(&s.shadowed)
                .filter(|(_, &on)| on)
                .map(|(&c, _)| c)
                .collect();
        }
    }
    Ok(out)
}

/// The state after instruction `i` along an edge of `kind`; `None` when no
/// exception can take that edge.
fn step(
    cfg: &Cfg,
    cells: &[u32],
    i: usize,
    kind: EdgeKind,
    before: &State,
) -> Result<Option<State>, RewriteError> {
    let ins = cfg.instrs[i];
    let mut s = before.clone();
    if kind == EdgeKind::Exception {
        let Some(h) = ins.handler else {
            return Ok(None);
        };
        let depth = h.depth as usize;
        if depth > s.stack.len() {
            return Ok(None); // as in stackdepth: a handler no exception reaches
        }
        s.stack.truncate(depth);
        s.stack
            .extend(std::iter::repeat_n(None, usize::from(h.lasti) + 1));
        return Ok(Some(s));
    }
    let k = &cfg.table.known;
    let cell = |slot: u32| cells.iter().position(|&c| c == slot);
    let underflow = || {
        RewriteError::Verify(format!(
            "stack underflow at instruction {i} (comprehension analysis)"
        ))
    };
    // A store into `slot` of the entry tagged `tag`: the restore of the
    // saved cell, or a plain value in a cell's slot.
    let store = |s: &mut State, slot: u32, tag: Option<u32>| {
        if let Some(c) = cell(slot) {
            s.shadowed[c] = tag != Some(slot);
        }
    };
    let (op, arg) = (ins.op, ins.arg);
    if Some(op) == k.load_fast_and_clear {
        if let Some(c) = cell(arg) {
            s.shadowed[c] = true;
            s.stack.push(Some(arg));
        } else {
            s.stack.push(None);
        }
    } else if op == k.make_cell {
        if let Some(c) = cell(arg) {
            s.shadowed[c] = false;
        }
    } else if op == k.store_fast {
        let tag = s.stack.pop().ok_or_else(underflow)?;
        store(&mut s, arg, tag);
    } else if Some(op) == k.store_fast_store_fast {
        let first = s.stack.pop().ok_or_else(underflow)?;
        store(&mut s, arg >> 4, first);
        let second = s.stack.pop().ok_or_else(underflow)?;
        store(&mut s, arg & 15, second);
    } else if Some(op) == k.store_fast_load_fast {
        let tag = s.stack.pop().ok_or_else(underflow)?;
        store(&mut s, arg >> 4, tag);
        s.stack.push(None);
    } else if op == k.swap {
        let len = s.stack.len();
        let n = arg as usize;
        if n < 1 || n > len {
            return Err(underflow());
        }
        s.stack.swap(len - 1, len - n);
    } else if op == k.copy {
        let len = s.stack.len();
        let n = arg as usize;
        if n < 1 || n > len {
            return Err(underflow());
        }
        let tag = s.stack[len - n];
        s.stack.push(tag);
    } else if op == k.pop_top {
        s.stack.pop().ok_or_else(underflow)?;
    } else {
        let (popped, pushed) = effect(cfg, i, kind == EdgeKind::Jump)?;
        if popped > s.stack.len() {
            return Err(underflow());
        }
        s.stack.truncate(s.stack.len() - popped);
        s.stack.extend(std::iter::repeat_n(None, pushed));
    }
    Ok(Some(s))
}

/// (popped, pushed) of instruction `i` along a jump or the fall-through:
/// the metadata's counts, adjusted to the jump's net effect where it differs.
fn effect(cfg: &Cfg, i: usize, jump: bool) -> Result<(usize, usize), RewriteError> {
    let ins = cfg.instrs[i];
    let t = cfg.table;
    let unknown = || RewriteError::UnknownStackEffect {
        name: t.name(ins.op).unwrap_or("?"),
        arg: ins.arg,
    };
    if ins.op == t.known.return_generator {
        return Ok((0, 1)); // as stackdepth counts it: the sent value
    }
    let (popped, pushed) = t.popped_pushed(ins.op, ins.arg).ok_or_else(unknown)?;
    let net = t
        .stack_effect(ins.op, ins.arg, Some(jump))
        .ok_or_else(unknown)?;
    let (popped, pushed) = (i64::from(popped), i64::from(pushed));
    if pushed - popped == i64::from(net) {
        return Ok((popped as usize, pushed as usize));
    }
    // The jump's effect differs (an exhausted FOR_ITER): keep what the
    // metadata pops, push the rest, popping more where the net says so.
    let pushed = popped + i64::from(net);
    if pushed >= 0 {
        Ok((popped as usize, pushed as usize))
    } else {
        Ok(((popped - pushed) as usize, 0))
    }
}

/// The verifier's check: no instruction reads or writes a slot as a cell
/// (`LOAD_DEREF`, `STORE_DEREF`, `DELETE_DEREF`, `LOAD_CLOSURE`) where an
/// inlined comprehension keeps a plain object in it. The cells looked at are
/// the slots some such instruction uses and some `LOAD_FAST_AND_CLEAR`
/// saves, so code without both costs one scan.
pub fn check_cell_uses(cfg: &Cfg) -> Result<(), RewriteError> {
    let saved = saved_slots(cfg);
    if saved.is_empty() {
        return Ok(());
    }
    let k = &cfg.table.known;
    // a cell instruction, or a spliced load of a closure's cell (3.13+
    // reads cells for a closure with LOAD_FAST)
    let as_cell = |i: &Instr| {
        (i.op != k.make_cell && cfg.table.arg_kind(i.op) == Some(ArgKind::Free))
            || i.spliced.is_some_and(|s| s.cell)
    };
    let mut cells: Vec<u32> = cfg
        .instrs
        .iter()
        .filter(|i| as_cell(i) && saved.contains(&i.arg))
        .map(|i| i.arg)
        .collect();
    cells.sort_unstable();
    cells.dedup();
    if cells.is_empty() {
        return Ok(());
    }
    let shadowed = shadowed(cfg, &cells)?;
    for (i, ins) in cfg.instrs.iter().enumerate() {
        if as_cell(ins) && shadowed[i].contains(&ins.arg) {
            return Err(RewriteError::Verify(format!(
                "instruction {i} ({}) uses local {} as a cell inside an inlined comprehension, where that slot holds the comprehension's plain variable",
                cfg.table.name(ins.op).unwrap_or("?"),
                ins.arg
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linetable::Location;
    use crate::model::{Item, Spliced};
    use crate::opcodes::table;
    use crate::PyVersion;

    /// `(opcode name, arg, marked as a spliced load of a closure's cell)`.
    fn items(v: PyVersion, spec: &[(&str, u32, bool)]) -> Vec<Item> {
        let t = table(v);
        spec.iter()
            .map(|(name, arg, cell)| {
                Item::Instr(Instr {
                    spliced: cell.then_some(Spliced {
                        outer: None,
                        copy: 1,
                        cell: true,
                    }),
                    op: t.by_name(name).unwrap_or_else(|| panic!("{name}")),
                    arg: *arg,
                    target: None,
                    loc: Location::line_only(1),
                    handler: None,
                })
            })
            .collect()
    }

    /// 3.13+ builds a closure from a cell with `LOAD_FAST`: a spliced one
    /// marked as a cell load, inside an inlined comprehension that keeps a
    /// plain object in that slot, is a cell use there and is rejected; the
    /// same `LOAD_FAST` unmarked (the comprehension reading its own
    /// variable) is not.
    #[test]
    fn a_marked_cell_load_inside_a_comprehension_is_rejected() {
        for v in [PyVersion::V313, PyVersion::V314, PyVersion::V315] {
            let spec = |cell| {
                items(
                    v,
                    &[
                        ("RESUME", 0, false),
                        ("LOAD_FAST_AND_CLEAR", 0, false), // save x (a cell)
                        ("LOAD_CONST", 0, false),
                        ("STORE_FAST", 0, false), // the comprehension's plain x
                        ("LOAD_FAST", 0, cell),   // a snippet's closure reads x here
                        ("POP_TOP", 0, false),
                        ("STORE_FAST", 0, false), // restore x
                        ("LOAD_FAST", 0, true),   // after the comprehension: a cell again
                        ("RETURN_VALUE", 0, false),
                    ],
                )
            };
            let marked = spec(true);
            let cfg = Cfg::of_items(v, &marked, &[]).expect("cfg");
            let e = check_cell_uses(&cfg).expect_err("a cell load in a shadowed slot");
            assert!(
                e.to_string().contains("instruction 4 (LOAD_FAST)"),
                "{v}: {e}"
            );
            let plain = spec(false);
            let cfg = Cfg::of_items(v, &plain, &[]).expect("cfg");
            check_cell_uses(&cfg).unwrap_or_else(|e| panic!("{v}: {e}"));
        }
    }
}
