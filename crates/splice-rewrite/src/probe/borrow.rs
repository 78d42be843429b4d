//! Borrowed loads (CPython 3.14+): `LOAD_FAST_BORROW` pushes the local's
//! reference without owning it, because the compiler proved the local keeps
//! the object alive until the value is used. A snippet that rebinds or
//! deletes that local while the borrowed value is still on the stack would
//! free the object under the interpreter's feet (a crash another bytecode
//! rewriter hit: PaddlePaddle/Paddle#77005).
//!
//! So before a probe is spliced, every borrowed load whose value may be on
//! the stack at one of the probe's sites, of a local the snippet stores to
//! or deletes, becomes an owning `LOAD_FAST` (the pair form becomes
//! `LOAD_FAST_LOAD_FAST`). Which values may be on the stack is a dataflow
//! over the [`Cfg`]: each stack slot carries the set of borrowed loads its
//! value may come from. Instructions pass their inputs' sets on to all their
//! outputs unless they are known to push fresh objects, which is never less
//! safe than the truth; `COPY` and `SWAP` move sets exactly.

use std::collections::{BTreeMap, BTreeSet};

use crate::cfg::Cfg;
use crate::model::{Code, Item};
use crate::opcodes::Known;
use crate::RewriteError;

use super::lines::SitePlan;

/// Which borrowed loads each stack slot's value may come from, bottom first.
type Stack = Vec<BTreeSet<usize>>;

/// The stack after instruction `i` along a normal edge.
fn transfer(cfg: &Cfg, i: usize, mut stack: Stack) -> Result<Stack, RewriteError> {
    let t = cfg.table;
    let k: &Known = &t.known;
    let ins = cfg.instrs[i];
    let top = stack.len();
    let at = |n: u32| -> Result<usize, RewriteError> {
        top.checked_sub(n as usize).ok_or_else(|| {
            RewriteError::Verify(format!(
                "stack underflow at instruction {i} (borrow analysis)"
            ))
        })
    };
    if Some(ins.op) == k.load_fast_borrow {
        stack.push(BTreeSet::from([i]));
    } else if Some(ins.op) == k.load_fast_borrow_load_fast_borrow {
        stack.push(BTreeSet::from([i]));
        stack.push(BTreeSet::from([i]));
    } else if ins.op == k.copy {
        let v = stack[at(ins.arg)?].clone();
        stack.push(v);
    } else if ins.op == k.swap {
        let j = at(ins.arg)?;
        stack.swap(j, top - 1);
    } else {
        let (popped, pushed) = t.popped_pushed(ins.op, ins.arg).ok_or_else(|| {
            RewriteError::Verify(format!(
                "no stack metadata for {} (borrow analysis)",
                t.name(ins.op).unwrap_or("?")
            ))
        })?;
        let from = at(popped)?;
        let inputs: BTreeSet<usize> = stack.drain(from..).flatten().collect();
        let out = if t.pushes_fresh(ins.op) {
            BTreeSet::new()
        } else {
            inputs
        };
        stack.extend(std::iter::repeat_n(out, pushed as usize));
    }
    Ok(stack)
}

/// Merge `incoming` into the state of `to`; true if it changed.
fn merge(state: &mut [Option<Stack>], to: usize, incoming: Stack) -> bool {
    match &mut state[to] {
        None => {
            state[to] = Some(incoming);
            true
        }
        Some(cur) => {
            let mut changed = false;
            for (a, b) in cur.iter_mut().zip(incoming) {
                let before = a.len();
                a.extend(b);
                changed |= a.len() != before;
            }
            changed
        }
    }
}

/// For each instruction `i` with `wanted[i]`, the borrowed loads whose
/// values may be on the stack before it (`None`: unreachable).
///
/// States are kept at block starts only (every edge but a fall-through
/// inside a block lands on one, see [`Cfg::blocks`]); a block is walked
/// again, in place, whenever its start state grows, and the states of the
/// wanted instructions are taken on the way. The last walk of a block is
/// the one from its final (largest) start state, so what it records is the
/// fixpoint.
fn live_borrows(cfg: &Cfg, wanted: &[bool]) -> Result<Vec<Option<Stack>>, RewriteError> {
    let n = cfg.len();
    let mut out: Vec<Option<Stack>> = vec![None; n];
    if n == 0 {
        return Ok(out);
    }
    let mut block_end = vec![0usize; n];
    for b in cfg.blocks() {
        block_end[b.start] = b.end;
    }
    let mut state: Vec<Option<Stack>> = vec![None; n];
    state[0] = Some(Vec::new());
    let mut work = vec![0usize];
    while let Some(start) = work.pop() {
        let Some(mut stack) = state[start].clone() else {
            continue;
        };
        let end = block_end[start];
        if end <= start {
            return Err(RewriteError::Verify(format!(
                "instruction {start} is reached by an edge but starts no block (borrow analysis)"
            )));
        }
        for i in start..end {
            if wanted[i] {
                out[i] = Some(stack.clone());
            }
            if let (Some(h), Some(to)) = (cfg.instrs[i].handler, cfg.handler_target(i)) {
                // Unwound to the handler's depth; lasti and the exception
                // are fresh.
                let mut s: Stack = stack.iter().take(h.depth as usize).cloned().collect();
                s.extend(std::iter::repeat_n(
                    BTreeSet::new(),
                    (h.entry_depth() as usize).saturating_sub(s.len()),
                ));
                if to < n && merge(&mut state, to, s) {
                    work.push(to);
                }
            }
            stack = transfer(cfg, i, stack)?;
        }
        // The block's normal outgoing edges leave from its last instruction
        // (a jump ends a block).
        let last = end - 1;
        if let Some(t) = cfg.jump_target(last).filter(|&t| t < n) {
            if merge(&mut state, t, stack.clone()) {
                work.push(t);
            }
        }
        if cfg.falls_through(last) && end < n && merge(&mut state, end, stack) {
            work.push(end);
        }
    }
    Ok(out)
}

/// Make the borrowed loads that could be invalidated by the probe own their
/// reference instead. `stored` lists the target's local indexes the snippet
/// stores to or deletes; `None` means any local may change (a debugger
/// that can assign locals runs at the site).
pub fn demote_live_borrows(
    code: &mut Code,
    plans: &BTreeMap<usize, SitePlan>,
    stored: Option<&[u32]>,
) -> Result<usize, RewriteError> {
    let t = crate::opcodes::table(code.version);
    let k = t.known;
    let (Some(borrow), Some(borrow2)) = (k.load_fast_borrow, k.load_fast_borrow_load_fast_borrow)
    else {
        return Ok(0); // no borrowed loads before 3.14
    };
    if stored.is_some_and(|s| s.is_empty()) || plans.is_empty() {
        return Ok(0);
    }
    let demote: BTreeSet<usize> = {
        let cfg = Cfg::new(code)?;
        let mut wanted = vec![false; cfg.len()];
        for &site in plans.keys() {
            if let Some(w) = wanted.get_mut(site) {
                *w = true;
            }
        }
        let live = live_borrows(&cfg, &wanted)?;
        let changes = |local: u32| stored.is_none_or(|s| s.contains(&local));
        let mut out = BTreeSet::new();
        for &site in plans.keys() {
            let Some(Some(stack)) = live.get(site) else {
                continue;
            };
            for &b in stack.iter().flatten() {
                let ins = cfg.instrs[b];
                let hit = if ins.op == borrow2 {
                    changes(ins.arg >> 4) || changes(ins.arg & 15)
                } else {
                    changes(ins.arg)
                };
                if hit {
                    out.insert(b);
                }
            }
        }
        out
    };
    let mut idx = 0usize;
    for item in &mut code.items {
        if let Item::Instr(ins) = item {
            if demote.contains(&idx) {
                if ins.op == borrow {
                    ins.op = k.load_fast;
                } else if ins.op == borrow2 {
                    ins.op = k.load_fast_load_fast.ok_or_else(|| {
                        RewriteError::Verify(
                            "LOAD_FAST_LOAD_FAST missing where borrowed pairs exist".into(),
                        )
                    })?;
                }
            }
            idx += 1;
        }
    }
    Ok(demote.len())
}
