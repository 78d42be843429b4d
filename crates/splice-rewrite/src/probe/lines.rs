//! Where `sys.settrace` 'line' events fire: the instructions of the probed
//! lines and, for each, which of its incoming control-flow edges fire.
//!
//! The rules follow CPython (3.11 `ceval.c` `maybe_call_line_trace`; 3.12+
//! `instrumentation.c` and `legacy_tracing.c`): an edge into an instruction
//! of line L fires when it comes from an instruction of another line (or of
//! none), from the function's first `RESUME`, or is a backward jump that
//! the version traces (3.11: any, except into `SEND`; 3.12+: only
//! `JUMP_BACKWARD`, whose JUMP monitoring event the legacy tracer turns into
//! a line event; `JUMP_BACKWARD_NO_INTERRUPT`, the back edge of `yield from`
//! and `await`, has no instrumented form). A generator resuming after
//! `YIELD_VALUE; RESUME` continues on the yield's line without a new event:
//! only the `RESUME` where the body starts counts as entry.

use std::collections::{BTreeMap, HashSet};

use crate::cfg::{Cfg, Edge, EdgeKind};
use crate::PyVersion;

/// What to do at one instruction of a probed line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SitePlan {
    /// Every edge fires: insert the probe right before the instruction,
    /// after its labels.
    pub all: bool,
    /// Some edges fire: jumps and handlers from these instructions go to a
    /// probe copy with its own label.
    pub jumps: Vec<usize>,
    pub handlers: Vec<usize>,
    /// The fallthrough edge exists and fires.
    pub fallthrough_fires: bool,
    /// The fallthrough edge exists and does not fire.
    pub fallthrough_skips: bool,
}

/// True when a backward jump `e` traces a line event on this version.
fn backward_jump_fires(cfg: &Cfg, e: &Edge) -> bool {
    let k = &cfg.table.known;
    match cfg.version() {
        PyVersion::V311 => cfg.instrs[e.to].op != k.send,
        _ => cfg.instrs[e.from].op != k.jump_backward_no_interrupt,
    }
}

/// True when control entering instruction `e.to` (of line `line`) along `e`
/// fires a line event.
fn fires(cfg: &Cfg, e: &Edge, line: i32, body_start: usize) -> bool {
    cfg.instrs[e.from].loc.line != Some(line)
        || e.from == body_start
        || (e.is_backward_jump() && backward_jump_fires(cfg, e))
}

/// The instructions of `lines` where a line event fires, with the edges
/// that fire, by instruction index. Nothing is planned at or before the
/// body's `RESUME` or where nothing may be inserted ([`Cfg::pinned`]).
pub fn plan(cfg: &Cfg, lines: &HashSet<i32>) -> BTreeMap<usize, SitePlan> {
    let mut plans = BTreeMap::new();
    let Some(body_start) = cfg.body_start() else {
        return plans;
    };
    let pinned = cfg.pinned();
    let resume = cfg.table.known.resume;
    for (i, ins) in cfg.instrs.iter().enumerate() {
        let Some(line) = ins.loc.line else { continue };
        if !lines.contains(&line) || pinned[i] || ins.op == resume {
            continue;
        }
        let mut plan = SitePlan::default();
        let mut any_skip = false;
        for e in cfg.predecessors(i) {
            let f = fires(cfg, e, line, body_start);
            any_skip |= !f;
            match (e.kind, f) {
                (EdgeKind::Fallthrough, true) => plan.fallthrough_fires = true,
                (EdgeKind::Fallthrough, false) => plan.fallthrough_skips = true,
                (EdgeKind::Jump, true) => plan.jumps.push(e.from),
                (EdgeKind::Exception, true) => plan.handlers.push(e.from),
                (_, false) => {}
            }
        }
        if !plan.fallthrough_fires && plan.jumps.is_empty() && plan.handlers.is_empty() {
            continue;
        }
        plan.all = !any_skip;
        plans.insert(i, plan);
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linetable::Location;
    use crate::model::{Instr, Item, Label};
    use crate::opcodes::table;

    /// `(opcode name, line, jump target label)`, labels before indexes.
    fn items(v: PyVersion, spec: &[(&str, i32, Option<u32>)], at: &[(u32, usize)]) -> Vec<Item> {
        let t = table(v);
        let mut out = Vec::new();
        for (i, (name, line, target)) in spec.iter().enumerate() {
            for (l, k) in at {
                if *k == i {
                    out.push(Item::Label(Label(*l)));
                }
            }
            out.push(Item::Instr(Instr {
                op: t.by_name(name).unwrap(),
                arg: 0,
                target: target.map(Label),
                loc: Location::line_only(*line),
                handler: None,
            }));
        }
        out
    }

    fn lines(ls: &[i32]) -> HashSet<i32> {
        ls.iter().copied().collect()
    }

    /// `while x: pass` on one line: the loop head is entered from line 1
    /// (fires) and by the back edge (fires again on every iteration).
    #[test]
    fn back_edge_on_one_line_fires() {
        for v in [PyVersion::V311, PyVersion::V312, PyVersion::V313] {
            let it = items(
                v,
                &[
                    ("RESUME", 1, None),
                    ("NOP", 2, None),
                    ("JUMP_BACKWARD", 2, Some(0)),
                ],
                &[(0, 1)],
            );
            let cfg = Cfg::of_items(v, &it, &[]).unwrap();
            let p = plan(&cfg, &lines(&[2]));
            assert_eq!(p.len(), 1, "{v}");
            assert!(p[&1].all, "{v}: both edges fire");
        }
    }

    /// The back edge of `yield from` (JUMP_BACKWARD_NO_INTERRUPT) does not
    /// fire on 3.12+; so the probe gets its own label there.
    #[test]
    fn no_interrupt_back_edge_does_not_fire_on_312() {
        let v = PyVersion::V312;
        let it = items(
            v,
            &[
                ("RESUME", 1, None),
                ("NOP", 2, None),
                ("JUMP_BACKWARD_NO_INTERRUPT", 2, Some(0)),
            ],
            &[(0, 1)],
        );
        let cfg = Cfg::of_items(v, &it, &[]).unwrap();
        let p = plan(&cfg, &lines(&[2]));
        let s = &p[&1];
        assert!(!s.all && s.fallthrough_fires && s.jumps.is_empty());
    }

    /// The second instruction of a line is entered from its own line: no
    /// event; the first RESUME counts as entry even on the same line.
    #[test]
    fn same_line_fallthrough_does_not_fire() {
        let v = PyVersion::V313;
        let it = items(
            v,
            &[
                ("RESUME", 1, None),
                ("NOP", 1, None),
                ("NOP", 1, None),
                ("RETURN_CONST", 2, None),
            ],
            &[],
        );
        let cfg = Cfg::of_items(v, &it, &[]).unwrap();
        let p = plan(&cfg, &lines(&[1]));
        assert_eq!(p.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert!(plan(&cfg, &lines(&[7])).is_empty());
    }
}
