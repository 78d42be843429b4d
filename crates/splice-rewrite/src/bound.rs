//! The verifier's check that no unchecked load can read an unbound local.
//!
//! From CPython 3.12 on, `LOAD_FAST` (and 3.13's and 3.14's pair and
//! borrowed forms) assumes its local is bound: the compiler emits it only
//! where its flow analysis proved that, and `LOAD_FAST_CHECK` elsewhere
//! (`Python/flowgraph.c`, `add_checks_for_loads_of_uninitialized_variables`).
//! An unchecked load of an unbound local pushes NULL, and the next
//! instruction crashes the interpreter. A rewrite can break the proof (a
//! snippet that deletes a local, an edge into code from a place where a
//! local is not yet bound), so the verifier repeats it over the final
//! bytecode: a plain local is "maybe unbound" at the start of the body
//! unless it is a parameter, after `DELETE_FAST` and `LOAD_FAST_AND_CLEAR`, and
//! wherever any path brings it so (exception edges carry the state before
//! each covered instruction, as CPython's analysis does); `STORE_FAST`,
//! `MAKE_CELL` and a load that checks make it bound. An unchecked load of a
//! maybe-unbound local is an error.
//!
//! This is CPython's own analysis (for any number of locals, where CPython
//! is less precise beyond 64 and only adds checks there), so code CPython
//! compiled passes it. One blind spot, shared with reading the bytecode
//! alone: an inlined comprehension restores its variable with a
//! `STORE_FAST` that may store NULL (the compiler's `STORE_FAST_MAYBE_NULL`
//! pseudo-instruction), which is taken here as binding.

use crate::cfg::Cfg;
use crate::opcodes::Known;
use crate::RewriteError;

/// A set of local indexes: "maybe unbound".
#[derive(Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn has(&self, i: u32) -> bool {
        let i = i as usize;
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    fn set(&mut self, i: u32, on: bool) {
        let i = i as usize;
        if let Some(w) = self.0.get_mut(i / 64) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
    /// Union `other` in; true if that added anything.
    fn absorb(&mut self, other: &Bits) -> bool {
        let mut grew = false;
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            let u = *a | *b;
            grew |= u != *a;
            *a = u;
        }
        grew
    }
}

/// What instruction `i` does to the locals; `Err` names an unchecked load
/// of a maybe-unbound local.
fn step(cfg: &Cfg, k: &Known, i: usize, unbound: &mut Bits) -> Result<(), RewriteError> {
    let ins = cfg.instrs[i];
    let (op, arg) = (ins.op, ins.arg);
    let load = |local: u32, unbound: &mut Bits| -> Result<(), RewriteError> {
        if unbound.has(local) {
            return Err(RewriteError::Verify(format!(
                "instruction {i} ({}) loads local {local} without a check, but it may be unbound there",
                cfg.table.name(op).unwrap_or("?")
            )));
        }
        Ok(())
    };
    if op == k.load_fast || Some(op) == k.load_fast_borrow {
        load(arg, unbound)?;
    } else if Some(op) == k.load_fast_load_fast || Some(op) == k.load_fast_borrow_load_fast_borrow {
        load(arg >> 4, unbound)?;
        load(arg & 15, unbound)?;
    } else if Some(op) == k.store_fast_load_fast {
        unbound.set(arg >> 4, false);
        load(arg & 15, unbound)?;
    } else if Some(op) == k.store_fast_store_fast {
        unbound.set(arg >> 4, false);
        unbound.set(arg & 15, false);
    } else if op == k.store_fast || Some(op) == k.load_fast_check || op == k.make_cell {
        // a checked load that does not raise proves the local bound
        unbound.set(arg, false);
    } else if op == k.delete_fast || Some(op) == k.load_fast_and_clear {
        unbound.set(arg, true);
    }
    Ok(())
}

/// Check every reachable unchecked load of `cfg` (3.12+; 3.11's loads all
/// check). Of the `varnames` plain locals, the first `params` are bound
/// when a call starts; cell and free variables after them are made by the
/// prologue (`MAKE_CELL`, `COPY_FREE_VARS`) and never unbound by a load.
pub fn check_loads(
    cfg: &Cfg,
    params: usize,
    varnames: usize,
    localsplus: usize,
) -> Result<(), RewriteError> {
    let k = &cfg.table.known;
    if k.load_fast_check.is_none() || cfg.is_empty() {
        return Ok(());
    }
    let n = cfg.len();
    let mut block_end = vec![0usize; n];
    for b in cfg.blocks() {
        block_end[b.start] = b.end;
    }
    let mut entry = Bits::new(localsplus.max(varnames));
    for local in params..varnames {
        entry.set(local as u32, true);
    }
    // Maybe-unbound sets at block starts, grown to a fixpoint (a union: the
    // sets only grow, so this ends); then one checking walk over each block.
    let mut state: Vec<Option<Bits>> = vec![None; n];
    state[0] = Some(entry);
    let mut work = vec![0usize];
    let push = |state: &mut Vec<Option<Bits>>, work: &mut Vec<usize>, to: usize, s: &Bits| {
        let grew = match &mut state[to] {
            None => {
                state[to] = Some(s.clone());
                true
            }
            Some(cur) => cur.absorb(s),
        };
        if grew {
            work.push(to);
        }
    };
    let walk = |start: usize,
                state: &mut Vec<Option<Bits>>,
                work: &mut Vec<usize>,
                checking: bool|
     -> Result<(), RewriteError> {
        let Some(mut s) = state[start].clone() else {
            return Ok(());
        };
        let end = block_end[start];
        if end <= start {
            return Err(RewriteError::Verify(format!(
                "instruction {start} is reached by an edge but starts no block (binding analysis)"
            )));
        }
        for i in start..end {
            if let Some(h) = cfg.handler_target(i).filter(|&h| h < n) {
                push(state, work, h, &s);
            }
            // (a load changes no state, so an error's early return leaves
            // the right state for the fixpoint walk, which ignores it)
            let r = step(cfg, k, i, &mut s);
            if checking {
                r?;
            }
        }
        let last = end - 1;
        if let Some(t) = cfg.jump_target(last).filter(|&t| t < n) {
            push(state, work, t, &s);
        }
        if cfg.falls_through(last) && end < n {
            push(state, work, end, &s);
        }
        Ok(())
    };
    while let Some(start) = work.pop() {
        walk(start, &mut state, &mut work, false)?;
    }
    let mut none = Vec::new();
    for start in 0..n {
        if state[start].is_some() && block_end[start] > start {
            walk(start, &mut state, &mut none, true)?;
        }
    }
    Ok(())
}
