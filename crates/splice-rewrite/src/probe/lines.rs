//! Where `sys.settrace` 'line' events fire: the instructions of the probed
//! lines and, for each, which of its incoming control-flow edges fire.
//!
//! 3.11 (`ceval.c` `maybe_call_line_trace`): an edge into an instruction of
//! line L fires when it comes from an instruction of another line (or of
//! none), from the function's body `RESUME`, or is a backward jump (except
//! into `SEND`).
//!
//! 3.12+ (`instrumentation.c`, `legacy_tracing.c`), in two parts:
//! - *static*: only a *line-start candidate* can ever fire
//!   ([`line_start_candidates`], as `initialize_lines` marks them);
//! - *dynamic*: entering a candidate fires when the instruction executed
//!   before it has another line (or none) or is a `RESUME` (on 3.13+ also
//!   when an exception is thrown into a generator suspended at a yield: the
//!   `RESUME` after the yield is then the previous instruction);
//! - and a same-line backward `JUMP_BACKWARD` fires once more, candidate or
//!   not (the legacy tracer turns its JUMP event into a line event);
//!   `JUMP_BACKWARD_NO_INTERRUPT`, the back edge of `yield from` and
//!   `await`, has no instrumented form.
//!
//! A generator resuming after `YIELD_VALUE; RESUME` continues on the
//! yield's line without a new event unless the next instruction is a
//! candidate of another line.

use std::collections::{BTreeMap, BTreeSet, HashSet};

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

/// The instructions that can start a line (3.12+), as CPython's
/// `initialize_lines` marks them: from the first `RESUME` on, (a) an
/// instruction with a line other than the previous instruction's in code
/// order, where `END_FOR`, `END_SEND`, `END_ASYNC_FOR`, `RESUME` (and 3.14+
/// `POP_ITER`) neither start a line nor count as the previous instruction;
/// (b) a jump target with a line (for `FOR_ITER` and `SEND`, the instruction
/// after the `END_FOR`/`END_SEND` they skip), except `POP_ITER`; (c) an
/// exception handler with a line, except `END_ASYNC_FOR`.
pub fn line_start_candidates(cfg: &Cfg) -> Vec<bool> {
    let k = &cfg.table.known;
    let n = cfg.len();
    let mut out = vec![false; n];
    let Some(first) = cfg.instrs.iter().position(|i| i.op == k.resume) else {
        return out;
    };
    let never = |op: u8| {
        op == k.end_async_for
            || op == k.resume
            || Some(op) == k.end_for
            || Some(op) == k.end_send
            || Some(op) == k.pop_iter
    };
    let mut current: Option<i32> = None;
    for (ins, start) in cfg.instrs[first..].iter().zip(&mut out[first..]) {
        if never(ins.op) {
            continue;
        }
        *start = ins.loc.line.is_some() && ins.loc.line != current;
        current = ins.loc.line;
    }
    for (j, ins) in cfg.instrs.iter().enumerate().skip(first) {
        let Some(t) = cfg.jump_target(j) else {
            continue;
        };
        let t = if ins.op == k.for_iter || ins.op == k.send {
            t + 1
        } else {
            t
        };
        if t < n && cfg.instrs[t].loc.line.is_some() && Some(cfg.instrs[t].op) != k.pop_iter {
            out[t] = true;
        }
    }
    // Every handler of the exception table (CPython scans the table itself).
    for j in 0..n {
        if let Some(h) = cfg.handler_target(j) {
            if cfg.instrs[h].loc.line.is_some() && cfg.instrs[h].op != k.end_async_for {
                out[h] = true;
            }
        }
    }
    out
}

/// The line-event rule of one version for edges into instructions of one
/// line.
struct Rule<'c, 'a> {
    cfg: &'c Cfg<'a>,
    body_start: usize,
    /// 3.12+: [`line_start_candidates`]; `None` on 3.11.
    candidates: Option<Vec<bool>>,
}

impl Rule<'_, '_> {
    fn new<'c, 'a>(cfg: &'c Cfg<'a>, body_start: usize) -> Rule<'c, 'a> {
        let candidates = (cfg.version() >= PyVersion::V312).then(|| line_start_candidates(cfg));
        Rule {
            cfg,
            body_start,
            candidates,
        }
    }

    /// True when control entering instruction `e.to` (of line `line`)
    /// along `e` fires a line event.
    fn fires(&self, e: &Edge, line: i32) -> bool {
        let (cfg, k) = (self.cfg, &self.cfg.table.known);
        let from = cfg.instrs[e.from];
        let other_line = from.loc.line != Some(line);
        match &self.candidates {
            None => {
                other_line
                    || e.from == self.body_start
                    || (e.is_backward_jump() && cfg.instrs[e.to].op != k.send)
            }
            Some(cand) => {
                let same_line_back_edge = e.is_backward_jump() && from.op == k.jump_backward;
                // 3.13+: an exception thrown into a generator suspended at a
                // yield (`close()`, `throw()`) is raised with the RESUME
                // after the yield as the previous instruction.
                let thrown_in = cfg.version() >= PyVersion::V313
                    && e.kind == EdgeKind::Exception
                    && from.op == k.yield_value;
                (cand[e.to] && (other_line || from.op == k.resume || thrown_in))
                    || same_line_back_edge
            }
        }
    }
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
    let rule = Rule::new(cfg, body_start);
    for (i, ins) in cfg.instrs.iter().enumerate() {
        let Some(line) = ins.loc.line else { continue };
        if !lines.contains(&line) || pinned[i] || ins.op == resume {
            continue;
        }
        let mut plan = SitePlan::default();
        let mut any_skip = false;
        for e in cfg.predecessors(i) {
            // An edge inside an earlier probe's copy (a loop or a handler of
            // its snippet) is not a line event of the function's line.
            let inside = matches!((ins.spliced, cfg.instrs[e.from].spliced),
                (Some(a), Some(b)) if a.copy == b.copy);
            let f = !inside && rule.fires(e, line);
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

/// Every line of `cfg` where a line probe would run: the lines on which
/// [`plan`] finds at least one site. The same rule decides both, so a line
/// reported here is one the rewriter accepts.
pub fn event_lines(cfg: &Cfg) -> BTreeSet<i32> {
    let all: HashSet<i32> = cfg.instrs.iter().filter_map(|i| i.loc.line).collect();
    plan(cfg, &all)
        .keys()
        .filter_map(|&i| cfg.instrs[i].loc.line)
        .collect()
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
                spliced: None,
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

    /// 3.12+: a handler with a line is a line start; entering it from
    /// another line fires, whatever instruction the handler follows.
    #[test]
    fn handler_entry_from_another_line_fires() {
        use crate::model::Handler;
        for v in [PyVersion::V312, PyVersion::V314, PyVersion::V315] {
            let t = table(v);
            let ins = |name: &str, line: i32, h: bool| {
                Item::Instr(Instr {
                    spliced: None,
                    op: t.by_name(name).unwrap(),
                    arg: 0,
                    target: None,
                    loc: Location::line_only(line),
                    handler: h.then_some(Handler {
                        target: Label(5),
                        depth: 0,
                        lasti: false,
                    }),
                })
            };
            // RESUME(1); NOP(2, h); NOP(3, h); RETURN_VALUE-ish end; L5: PUSH_EXC_INFO(2) ...
            let it = vec![
                ins("RESUME", 1, false),
                ins("NOP", 2, true),
                ins("NOP", 3, true),
                ins("RERAISE", 3, false),
                Item::Label(Label(5)),
                ins("PUSH_EXC_INFO", 2, false),
                ins("RERAISE", 2, false),
            ];
            let cfg = Cfg::of_items(v, &it, &[]).unwrap();
            assert!(
                line_start_candidates(&cfg)[4],
                "{v}: the handler is a candidate"
            );
            let p = plan(&cfg, &lines(&[2]));
            let site = &p[&4];
            assert_eq!(
                site.handlers,
                vec![2],
                "{v}: only the edge from line 3 fires"
            );
            assert!(!site.all);
        }
    }

    #[test]
    fn event_lines_are_the_lines_plan_accepts() {
        let v = PyVersion::V313;
        let it = items(
            v,
            &[
                ("RESUME", 1, None),
                ("NOP", 1, None),
                ("NOP", 2, None),
                ("RETURN_CONST", 2, None),
                ("NOP", 3, None),
            ],
            &[],
        );
        let cfg = Cfg::of_items(v, &it, &[]).unwrap();
        // line 3 is unreachable; line 1's NOP follows the body RESUME
        assert_eq!(
            event_lines(&cfg).into_iter().collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
