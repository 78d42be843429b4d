//! Line probes: a relocated snippet copied to every place where a 'line'
//! event for the probed lines would fire ([`super::lines::plan`]).
//!
//! When every edge into an instruction fires, the copy goes right before it
//! (after its labels, so jumps to it run the probe). Otherwise the copy gets
//! its own label, only the firing jumps and exception edges are re-targeted
//! to it, and a fall-through that must not fire jumps over it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::cfg::Cfg;
use crate::linetable::Location;
use crate::model::{Code, Handler, Instr, Item, Label};
use crate::opcodes::{self, OpcodeTable};
use crate::shadow;
use crate::stackdepth;
use crate::RewriteError;

use super::borrow;
use super::lines::{self, SitePlan};
use super::scope::{Scope, TargetVars, VarKind};
use super::snippet::{Relocated, Snippet};
use super::unbound;
use super::{Report, Site, Target};

/// Where the copies go, by instruction index of the target before splicing.
struct Placement {
    /// Sites on probed lines.
    plans: BTreeMap<usize, SitePlan>,
    /// For [`Site::Entry`]: the body's `RESUME`, which the copy follows.
    entry_after: Option<usize>,
    /// Stack depth before each instruction.
    depth_before: Vec<Option<u32>>,
    /// Whether the target's last instruction never falls through, so cold
    /// parts can be appended after it.
    ends_terminal: bool,
}

fn place(code: &Code, site: &Site) -> Result<Placement, RewriteError> {
    let cfg = Cfg::new(code)?;
    let body_start = cfg.body_start().ok_or_else(|| {
        RewriteError::Uninstrumentable("the code has no RESUME instruction".into())
    })?;
    let (plans, entry_after) = match site {
        Site::Entry => (BTreeMap::new(), Some(body_start)),
        Site::Lines(ls) => {
            let set: HashSet<i32> = ls.iter().copied().collect();
            let plans = lines::plan(&cfg, &set);
            if plans.is_empty() {
                return Err(RewriteError::NoLineEvent { lines: ls.clone() });
            }
            (plans, None)
        }
    };
    // Cold parts go after the function's last instruction, which must not
    // fall through (CPython's never does; checked, not assumed).
    let ends_terminal = !cfg.is_empty() && !cfg.falls_through(cfg.len() - 1);
    Ok(Placement {
        plans,
        entry_after,
        depth_before: stackdepth::compute(&cfg)?.before,
        ends_terminal,
    })
}

/// Give each partial site a label and point its firing jumps and exception
/// edges at it. Returns the labels by site.
fn retarget(code: &mut Code, plans: &BTreeMap<usize, SitePlan>) -> BTreeMap<usize, Label> {
    let mut site_label = BTreeMap::new();
    let mut jumps: HashMap<usize, Label> = HashMap::new();
    let mut handlers: HashMap<usize, Label> = HashMap::new();
    for (&i, plan) in plans.iter().filter(|(_, p)| !p.all) {
        let l = code.new_label();
        site_label.insert(i, l);
        jumps.extend(plan.jumps.iter().map(|&j| (j, l)));
        handlers.extend(plan.handlers.iter().map(|&j| (j, l)));
    }
    let instrs = code.items.iter_mut().filter_map(|it| match it {
        Item::Instr(i) => Some(i),
        Item::Label(_) => None,
    });
    for (idx, ins) in instrs.enumerate() {
        if let Some(&l) = jumps.get(&idx) {
            ins.target = Some(l);
        }
        if let (Some(&l), Some(h)) = (handlers.get(&idx), ins.handler.as_mut()) {
            h.target = l;
        }
    }
    site_label
}

/// The rebuilt item list and the cold parts to append.
struct Emitter<'a> {
    table: &'static OpcodeTable,
    snippet: &'a Relocated,
    placement: &'a Placement,
    site_label: BTreeMap<usize, Label>,
    out: Vec<Item>,
    cold: Vec<Item>,
    /// Labels of the current instruction, not yet emitted.
    pending: Vec<Item>,
}

impl Emitter<'_> {
    fn copy(
        &mut self,
        code: &mut Code,
        idx: usize,
        handler: Option<Handler>,
        loc: Location,
    ) -> Vec<Item> {
        let depth = self.placement.depth_before[idx].unwrap_or(0);
        let cold = self.placement.ends_terminal.then_some(&mut self.cold);
        self.snippet.instantiate(code, depth, handler, loc, cold)
    }

    /// The probe for site `idx`, before instruction `ins`. `prev` is the
    /// location and handler of the instruction before it, for the jump
    /// over a copy that the fall-through must not run.
    fn site(
        &mut self,
        code: &mut Code,
        idx: usize,
        ins: &Instr,
        prev: Option<(Location, Option<Handler>)>,
    ) {
        let placement = self.placement;
        let plan = &placement.plans[&idx];
        let loc = Location::line_only(ins.loc.line.unwrap_or(0));
        // In front of an earlier probe's copy, the copy is covered by what
        // covers that copy as a whole, not by a handler inside it.
        let handler = ins.spliced.map_or(ins.handler, |s| s.outer);
        let copy = self.copy(code, idx, handler, loc);
        if plan.all {
            self.out.append(&mut self.pending);
            self.out.extend(copy);
            return;
        }
        let own = self.site_label[&idx];
        if plan.fallthrough_skips {
            let orig = code.new_label();
            let (ploc, phandler) = prev.unwrap_or((ins.loc, ins.handler));
            self.out.push(Item::Instr(Instr {
                spliced: None,
                op: self.table.known.jump_forward,
                arg: 0,
                target: Some(orig),
                loc: ploc,
                handler: phandler,
            }));
            self.out.push(Item::Label(own));
            self.out.extend(copy);
            self.out.push(Item::Label(orig));
        } else {
            self.out.push(Item::Label(own));
            self.out.extend(copy);
        }
        self.out.append(&mut self.pending);
    }
}

/// Refuse a snippet that uses a cell of the target at a site inside an
/// inlined comprehension whose own variable of that name is a plain local
/// ([`crate::shadow`]): the snippet, compiled in the function's scope, would
/// read the comprehension's plain object as the function's cell and crash
/// the interpreter. (Every other site of such a line would be fine, but a
/// probe that ran at some of its line events and not at others would be a
/// silent surprise; the error names the line and the variable.)
fn refuse_shadowed_cells(
    table: &'static OpcodeTable,
    code: &Code,
    scope: &Scope,
    snippet: &Relocated,
    placement: &Placement,
) -> Result<(), RewriteError> {
    // A scan first: most code has no comprehension that saves a slot the
    // snippet uses, and then no graph is built.
    let Some(lfac) = table.known.load_fast_and_clear else {
        return Ok(()); // 3.11 does not inline comprehensions
    };
    if placement.plans.is_empty() || !code.instrs().any(|i| i.op == lfac) {
        return Ok(());
    }
    let used = snippet.slots_used(table);
    let mut cells: Vec<u32> = code
        .instrs()
        .filter(|i| i.op == lfac && used.contains(&i.arg))
        .map(|i| i.arg)
        .filter(|&s| {
            scope
                .name_at(s)
                .ok()
                .and_then(|n| scope.kind(&n))
                .is_some_and(|k| k != VarKind::Fast)
        })
        .collect();
    cells.sort_unstable();
    cells.dedup();
    if cells.is_empty() {
        return Ok(());
    }
    let probe = Cfg::new(code)?;
    let shadowed = shadow::shadowed(&probe, &cells)?;
    for &idx in placement.plans.keys() {
        if let Some(&slot) = shadowed.get(idx).and_then(|s| s.first()) {
            let name = scope.name_at(slot)?;
            let line = probe.instrs[idx].loc.line.unwrap_or(code.firstlineno);
            return Err(RewriteError::Snippet(format!(
                "line {line} runs a comprehension whose variable `{name}` hides the function's own `{name}`, \
                 a variable it shares with a nested or enclosing function; a line event of line {line} fires \
                 inside the comprehension, where a snippet cannot use that `{name}`. Put the probe on a line \
                 before or after that statement, or leave `{name}` out of the snippet"
            )));
        }
    }
    Ok(())
}

/// Splice `snippet` into `target` at `site`.
pub fn apply(
    target: &mut Target,
    site: &Site,
    snippet: &Snippet,
    report: &mut Report,
) -> Result<(), RewriteError> {
    let table = opcodes::table(target.code.version);
    let relocated = Relocated::new(
        table,
        snippet,
        TargetVars {
            scope: &mut target.scope,
            code: &mut target.code,
            added: &mut report.new_locals,
        },
        &mut target.names,
    )?;
    let code = &mut target.code;
    let placement = place(code, site)?;
    refuse_shadowed_cells(table, code, &target.scope, &relocated, &placement)?;
    borrow::demote_live_borrows(code, &placement.plans, Some(&relocated.stored_locals))?;
    let site_label = retarget(code, &placement.plans);
    let mut em = Emitter {
        table,
        snippet: &relocated,
        placement: &placement,
        site_label,
        out: Vec::with_capacity(code.items.len() * 2),
        cold: Vec::new(),
        pending: Vec::new(),
    };
    let mut prev: Option<(Location, Option<Handler>)> = None;
    let mut idx = 0usize;
    for item in std::mem::take(&mut code.items) {
        let ins = match item {
            Item::Label(_) => {
                em.pending.push(item);
                continue;
            }
            Item::Instr(i) => i,
        };
        if placement.plans.contains_key(&idx) {
            em.site(code, idx, &ins, prev);
            report.sites += 1;
        } else {
            em.out.append(&mut em.pending);
        }
        prev = Some((ins.loc, ins.handler));
        let handler = ins.handler;
        em.out.push(Item::Instr(ins));
        if placement.entry_after == Some(idx) {
            let loc = Location::line_only(code.firstlineno);
            let copy = em.copy(code, idx, handler, loc);
            em.out.extend(copy);
            report.sites += 1;
        }
        idx += 1;
    }
    em.out.append(&mut em.pending);
    em.out.append(&mut em.cold);
    code.items = em.out;
    // After the splice: the pass may split a pair, and the placement above
    // counts instructions.
    unbound::check_loads_of(code, &relocated.deleted_locals);
    Ok(())
}
