//! Stack depth over every path, including exception handlers: the depth
//! before each instruction, and the maximum (`co_stacksize`). Computed over
//! the basic blocks of the [`Cfg`] the way CPython's own `stackdepth()` does,
//! so re-assembling unmodified code gives back the original `co_stacksize`.
//!
//! Any inconsistency is an error: a point reached with two different depths,
//! a depth below zero, a handler that unwinds to a depth the stack does not
//! have, or control falling off the end of the code. CPython would not catch
//! any of these; it would crash.

use crate::cfg::{Cfg, Edge, EdgeKind};
use crate::RewriteError;

/// Depth before each instruction (`None`: unreachable) and the maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackDepths {
    pub before: Vec<Option<u32>>,
    pub max: u32,
}

fn describe(cfg: &Cfg, i: usize) -> String {
    let name = cfg.table.name(cfg.instrs[i].op).unwrap_or("?");
    match cfg.instrs[i].loc.line {
        Some(line) => format!("instruction {i} ({name}, line {line})"),
        None => format!("instruction {i} ({name})"),
    }
}

/// The walk's state: the depth each instruction is first reached with, and
/// the block starts still to walk.
struct Walk<'c, 'a> {
    cfg: &'c Cfg<'a>,
    before: Vec<Option<u32>>,
    work: Vec<usize>,
}

impl Walk<'_, '_> {
    /// Record that `edge` reaches its target with `depth`; queue the target
    /// if it is new.
    fn reach(&mut self, edge: Edge, depth: i64) -> Result<(), RewriteError> {
        let n = self.cfg.len();
        if edge.to >= n {
            return Err(RewriteError::Verify(format!(
                "control falls off the end of the code after {}",
                describe(self.cfg, edge.from)
            )));
        }
        if depth < 0 {
            return Err(RewriteError::Verify(format!(
                "stack underflow: {} leaves depth {depth}",
                describe(self.cfg, edge.from)
            )));
        }
        let depth = depth as u32;
        match self.before[edge.to] {
            None => {
                self.before[edge.to] = Some(depth);
                self.work.push(edge.to);
                Ok(())
            }
            Some(d) if d == depth => Ok(()),
            Some(d) => Err(RewriteError::Verify(format!(
                "inconsistent stack depth: {} is reached with depth {d} and with depth {depth} (from {})",
                describe(self.cfg, edge.to),
                describe(self.cfg, edge.from)
            ))),
        }
    }
}

/// The stack effect of instruction `i` along an edge of `kind` (fall-through
/// or jump).
fn effect(cfg: &Cfg, i: usize, jump: bool) -> Result<i64, RewriteError> {
    let ins = cfg.instrs[i];
    if ins.op == cfg.table.known.return_generator {
        // The generator's frame resumes after RETURN_GENERATOR with the
        // sent value pushed (the POP_TOP that follows drops it). 3.11 and
        // 3.12 report 0 here because their compilers add this prefix after
        // computing the depth.
        return Ok(1);
    }
    cfg.table
        .stack_effect(ins.op, ins.arg, Some(jump))
        .map(i64::from)
        .ok_or_else(|| RewriteError::UnknownStackEffect {
            name: cfg.table.name(ins.op).unwrap_or("?"),
            arg: ins.arg,
        })
}

/// Compute stack depths over `cfg`, starting at instruction 0 with an empty
/// stack.
pub fn compute(cfg: &Cfg) -> Result<StackDepths, RewriteError> {
    let n = cfg.len();
    if n == 0 {
        return Err(RewriteError::Verify("the code has no instructions".into()));
    }
    let mut walk = Walk {
        cfg,
        before: vec![None; n],
        work: vec![0],
    };
    walk.before[0] = Some(0);
    let mut max: i64 = 0;
    // A block is walked once, from its first instruction, when it is first
    // reached; within it, control only falls through.
    let mut block_end = vec![0usize; n];
    for b in cfg.blocks() {
        for i in b.clone() {
            block_end[i] = b.end;
        }
    }
    while let Some(start) = walk.work.pop() {
        let end = block_end[start];
        let mut depth = i64::from(walk.before[start].unwrap_or(0));
        for i in start..end {
            if i > start {
                // Record depths inside the block for the passes that read
                // them (probes splice in at any instruction).
                walk.before[i] = Some(depth as u32);
            }
            // the fall-through effect, used by the edge and by the walk
            // below (looked up once per instruction)
            let fall = if cfg.falls_through(i) {
                effect(cfg, i, false)?
            } else {
                0 // no fall-through edge, and the last of its block
            };
            for e in cfg.successors(i) {
                let d = match e.kind {
                    EdgeKind::Exception => {
                        let h = cfg.instrs[i].handler.ok_or_else(|| {
                            RewriteError::Verify(format!(
                                "{} has an exception edge but no handler",
                                describe(cfg, i)
                            ))
                        })?;
                        if i64::from(h.depth) > depth {
                            if !cfg.table.can_raise(cfg.instrs[i].op) {
                                // CPython 3.15 keeps a generator's handler
                                // over its final `return None`, deeper than
                                // the stack there; no exception can take
                                // that edge.
                                continue;
                            }
                            return Err(RewriteError::Verify(format!(
                                "the handler of {} unwinds to depth {} but the stack only has {depth}",
                                describe(cfg, i),
                                h.depth
                            )));
                        }
                        i64::from(h.entry_depth())
                    }
                    EdgeKind::Jump => depth + effect(cfg, i, true)?,
                    EdgeKind::Fallthrough => depth + fall,
                };
                max = max.max(d);
                // Fall-through inside the block continues the walk below.
                if e.kind == EdgeKind::Fallthrough && e.to < end {
                    continue;
                }
                walk.reach(e, d)?;
            }
            if i + 1 < end {
                depth += fall;
                if depth < 0 {
                    return Err(RewriteError::Verify(format!(
                        "stack underflow: {} leaves depth {depth}",
                        describe(cfg, i)
                    )));
                }
            }
        }
    }
    Ok(StackDepths {
        before: walk.before,
        max: max as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linetable::Location;
    use crate::model::{Code, Handler, Instr, Item, Label, OperandCounts};
    use crate::opcodes;
    use crate::PyVersion;

    fn code(
        v: PyVersion,
        spec: &[(&str, u32, Option<u32>)],
        labels: &[(u32, usize)],
        handler: Option<(u32, u32, Range)>,
    ) -> Code {
        let t = opcodes::table(v);
        let mut items = Vec::new();
        for (i, (name, arg, target)) in spec.iter().enumerate() {
            for (l, k) in labels {
                if *k == i {
                    items.push(Item::Label(Label(*l)));
                }
            }
            let h = handler.as_ref().and_then(|(l, depth, r)| {
                (r.0 <= i && i < r.1).then_some(Handler {
                    target: Label(*l),
                    depth: *depth,
                    lasti: false,
                })
            });
            items.push(Item::Instr(Instr {
                spliced: None,
                op: t.by_name(name).unwrap_or_else(|| panic!("{name}")),
                arg: *arg,
                target: target.map(Label),
                loc: Location::line_only(1),
                handler: h,
            }));
        }
        Code {
            version: v,
            firstlineno: 1,
            items,
            counts: OperandCounts {
                consts: 4,
                names: 4,
                localsplus: 4,
                locals: None,
            },
            min_stacksize: 0,
            next_label: 100,
        }
    }

    type Range = (usize, usize);

    fn depths(c: &Code) -> Result<StackDepths, RewriteError> {
        compute(&Cfg::new(c)?)
    }

    #[test]
    fn straight_line_and_branches() {
        let v = PyVersion::V312;
        // RESUME; LOAD_CONST; POP_JUMP_IF_TRUE L0; LOAD_CONST; RETURN_VALUE; L0: RETURN_CONST
        let c = code(
            v,
            &[
                ("RESUME", 0, None),
                ("LOAD_CONST", 0, None),
                ("POP_JUMP_IF_TRUE", 0, Some(0)),
                ("LOAD_CONST", 0, None),
                ("RETURN_VALUE", 0, None),
                ("RETURN_CONST", 0, None),
            ],
            &[(0, 5)],
            None,
        );
        let d = depths(&c).expect("depths");
        assert_eq!(
            d.before,
            vec![Some(0), Some(0), Some(1), Some(0), Some(1), Some(0)]
        );
        assert_eq!(d.max, 1);
    }

    #[test]
    fn handlers_count_their_entry_depth() {
        let v = PyVersion::V311;
        // NOP (h: L0 depth 0, no lasti); RETURN_VALUE-less: LOAD_CONST; RETURN_VALUE; L0: POP_TOP ... RERAISE 0
        let c = code(
            v,
            &[
                ("NOP", 0, None),
                ("LOAD_CONST", 0, None),
                ("RETURN_VALUE", 0, None),
                ("PUSH_EXC_INFO", 0, None),
                ("POP_TOP", 0, None),
                ("POP_EXCEPT", 0, None),
                ("LOAD_CONST", 0, None),
                ("RETURN_VALUE", 0, None),
            ],
            &[(7, 3)],
            Some((7, 0, (0, 2))),
        );
        let d = depths(&c).expect("depths");
        assert_eq!(d.before[3], Some(1), "the exception is pushed");
        assert_eq!(d.before[4], Some(2));
        assert_eq!(d.max, 2);
    }

    #[test]
    fn inconsistent_depths_are_errors() {
        let v = PyVersion::V313;
        // a join reached with 0 and 1 values on the stack
        let c = code(
            v,
            &[
                ("LOAD_CONST", 0, None),
                ("POP_JUMP_IF_TRUE", 0, Some(0)),
                ("LOAD_CONST", 0, None),
                ("NOP", 0, None),
                ("RETURN_VALUE", 0, None),
            ],
            &[(0, 3)],
            None,
        );
        let e = depths(&c).expect_err("must fail");
        assert!(e.to_string().contains("inconsistent stack depth"), "{e}");
    }

    /// CPython 3.15 leaves a generator's handler (depth 2) over its final
    /// `return None`, where the stack is empty: accepted for instructions
    /// that cannot raise, refused for ones that can.
    #[test]
    fn deep_handlers_over_instructions_that_cannot_raise() {
        let v = PyVersion::V315;
        let spec = |load: &'static str| {
            vec![
                ("LOAD_SMALL_INT", 0, None),
                ("LOAD_SMALL_INT", 0, None),
                ("POP_TOP", 0, None),
                ("POP_TOP", 0, None),
                (load, 7, None),
                ("RETURN_VALUE", 0, None),
                ("RERAISE", 1, None),
            ]
        };
        let handler = Some((9, 2, (0, 6)));
        let ok = code(v, &spec("LOAD_COMMON_CONSTANT"), &[(9, 6)], handler);
        let d = depths(&ok).expect("accepted");
        assert_eq!(
            d.before[6],
            Some(3),
            "entered from the raising instructions"
        );
        let bad = code(v, &spec("LOAD_GLOBAL"), &[(9, 6)], handler);
        assert!(depths(&bad)
            .unwrap_err()
            .to_string()
            .contains("unwinds to depth 2"));
    }

    #[test]
    fn underflow_and_falling_off_the_end_are_errors() {
        let v = PyVersion::V313;
        let c = code(
            v,
            &[("POP_TOP", 0, None), ("RETURN_VALUE", 0, None)],
            &[],
            None,
        );
        assert!(depths(&c).unwrap_err().to_string().contains("underflow"));
        let c = code(v, &[("NOP", 0, None)], &[], None);
        assert!(depths(&c)
            .unwrap_err()
            .to_string()
            .contains("falls off the end"));
        let c = code(
            v,
            &[
                ("NOP", 0, None),
                ("RETURN_CONST", 0, None),
                ("RERAISE", 0, None),
            ],
            &[(3, 2)],
            Some((3, 1, (0, 1))),
        );
        assert!(depths(&c)
            .unwrap_err()
            .to_string()
            .contains("unwinds to depth 1"));
    }
}
