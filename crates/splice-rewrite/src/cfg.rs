//! The control-flow graph of an instruction list: the one place that knows
//! where control can go from each instruction (fall through, jump, or unwind
//! to an exception handler), which instructions reach which, how the list
//! splits into basic blocks, and where nothing may be inserted. Stack depth,
//! padding, line-event planning and the hot/cold split of snippets all read
//! it, in the spirit of CPython's `Python/flowgraph.c`.
//!
//! Nodes are instruction indexes `0..len()`; a snippet body may also have
//! edges to `len()`, its exit (a label placed after its last instruction).

use std::cell::OnceCell;
use std::ops::Range;

use crate::model::{Code, Instr, Item, Label, LabelMap};
use crate::opcodes::{self, OpcodeTable};
use crate::{PyVersion, RewriteError};

/// How control gets from one instruction to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// To the next instruction in order.
    Fallthrough,
    /// By the instruction's jump operand.
    Jump,
    /// To the exception handler covering the instruction, when it raises.
    Exception,
}

/// One edge of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
}

impl Edge {
    /// A jump to the same or an earlier instruction.
    pub fn is_backward_jump(&self) -> bool {
        self.kind == EdgeKind::Jump && self.to <= self.from
    }
}

/// The control-flow graph of one instruction list.
pub struct Cfg<'a> {
    pub table: &'static OpcodeTable,
    pub instrs: Vec<&'a Instr>,
    /// Each placed label and the index of the instruction it precedes
    /// (`len()` for a label after the last instruction: the exit).
    pub labels: LabelMap,
    jump: Vec<Option<usize>>,
    handler: Vec<Option<usize>>,
    /// Incoming edges of every node, exit included; built on first use
    /// (only line-event planning reads them; assembly and verification,
    /// which build a graph of every rewritten code object, do not).
    preds: OnceCell<Preds>,
}

/// Incoming edges in one array (node `i`'s are `edges[start[i]..start[i+1]]`),
/// in the order fall-through, jump, exception of their sources: one
/// allocation instead of one per node.
struct Preds {
    start: Vec<u32>,
    edges: Vec<Edge>,
}

impl<'a> Cfg<'a> {
    /// The graph of a whole code object. Every label must precede an
    /// instruction (a label at the end, or one used but never placed, is an
    /// error, as [`Code::flatten`] reports).
    pub fn new(code: &'a Code) -> Result<Self, RewriteError> {
        let (instrs, labels) = code.flatten()?;
        Self::build(code.version, instrs, labels)
    }

    /// The graph of a piece of code that may end with labels (a snippet
    /// body: jumps to them leave the piece). `exit` labels that are never
    /// placed stand for the exit too.
    pub fn of_items(
        version: PyVersion,
        items: &'a [Item],
        exits: &[Label],
    ) -> Result<Self, RewriteError> {
        let mut instrs = Vec::with_capacity(items.len());
        let mut labels = LabelMap::default();
        for item in items {
            match item {
                Item::Label(l) => {
                    if !labels.place(*l, instrs.len()) {
                        return Err(RewriteError::DuplicateLabel(l.0));
                    }
                }
                Item::Instr(i) => instrs.push(i),
            }
        }
        for l in exits {
            labels.place(*l, instrs.len());
        }
        Self::build(version, instrs, labels)
    }

    fn build(
        version: PyVersion,
        instrs: Vec<&'a Instr>,
        labels: LabelMap,
    ) -> Result<Self, RewriteError> {
        let table = opcodes::table(version);
        let n = instrs.len();
        let find = |l: Label| labels.get(l).ok_or(RewriteError::UnplacedLabel(l.0));
        let mut jump = Vec::with_capacity(n);
        let mut handler = Vec::with_capacity(n);
        for (i, ins) in instrs.iter().enumerate() {
            let is_jump = table.is_jump(ins.op);
            let j = match ins.target {
                Some(_) if !is_jump => {
                    return Err(RewriteError::Verify(format!(
                        "instruction {i} ({}) has a jump target but is not a jump",
                        table.name(ins.op).unwrap_or("?")
                    )))
                }
                Some(t) => Some(find(t)?),
                None if is_jump => {
                    return Err(RewriteError::Verify(format!(
                        "instruction {i} ({}) is a jump without a target",
                        table.name(ins.op).unwrap_or("?")
                    )))
                }
                None => None,
            };
            let h = ins.handler.map(|h| find(h.target)).transpose()?;
            // 3.14+ END_ASYNC_FOR has an offset operand but never jumps.
            jump.push(j.filter(|_| table.transfers_control(ins.op)));
            handler.push(h);
        }
        Ok(Cfg {
            table,
            instrs,
            labels,
            jump,
            handler,
            preds: OnceCell::new(),
        })
    }

    /// Every node's incoming edges, counted then filled (a counting sort by
    /// target), so each node's edges keep the order of their sources.
    fn build_preds(&self) -> Preds {
        let n = self.len();
        // nodes 0..=n (the exit too); node k's count goes in start[k + 2]
        let mut start = vec![0u32; n + 3];
        for i in 0..n {
            for e in self.successors(i) {
                start[e.to + 2] += 1;
            }
        }
        for k in 2..start.len() {
            start[k] += start[k - 1];
        }
        // start[k + 1] is now where node k's edges go; it advances as they
        // are written, ending at node k's end, which is where k + 1 starts.
        let total = start[n + 2] as usize;
        let mut edges = vec![
            Edge {
                from: 0,
                to: 0,
                kind: EdgeKind::Fallthrough
            };
            total
        ];
        for i in 0..n {
            for e in self.successors(i) {
                let slot = &mut start[e.to + 1];
                edges[*slot as usize] = e;
                *slot += 1;
            }
        }
        Preds { start, edges }
    }

    /// Number of instructions; also the index of the exit node.
    pub fn len(&self) -> usize {
        self.instrs.len()
    }

    /// True when there are no instructions.
    pub fn is_empty(&self) -> bool {
        self.instrs.is_empty()
    }

    /// The version whose opcodes these are.
    pub fn version(&self) -> PyVersion {
        self.table.version
    }

    /// True when control can continue with the next instruction.
    pub fn falls_through(&self, i: usize) -> bool {
        !self.table.is_terminal(self.instrs[i].op)
    }

    /// Where instruction `i` jumps, if it is a jump that transfers control
    /// (3.14+ `END_ASYNC_FOR`'s operand is an offset, not a jump).
    pub fn jump_target(&self, i: usize) -> Option<usize> {
        self.jump[i]
    }

    /// The handler instruction `i` unwinds to, if it is covered by one.
    pub fn handler_target(&self, i: usize) -> Option<usize> {
        self.handler[i]
    }

    /// The outgoing edges of instruction `i`: fall-through (possibly to the
    /// exit), jump, exception.
    pub fn successors(&self, i: usize) -> impl Iterator<Item = Edge> + '_ {
        let fall = self.falls_through(i).then_some(Edge {
            from: i,
            to: i + 1,
            kind: EdgeKind::Fallthrough,
        });
        let jump = self.jump[i].map(|to| Edge {
            from: i,
            to,
            kind: EdgeKind::Jump,
        });
        let exc = self.handler[i].map(|to| Edge {
            from: i,
            to,
            kind: EdgeKind::Exception,
        });
        fall.into_iter().chain(jump).chain(exc)
    }

    /// The incoming edges of node `i` (the exit is `len()`).
    pub fn predecessors(&self, i: usize) -> &[Edge] {
        let p = self.preds.get_or_init(|| self.build_preds());
        &p.edges[p.start[i] as usize..p.start[i + 1] as usize]
    }

    /// The nodes reachable from `roots`, following exception edges only when
    /// `exceptions` is true. Indexed by node, exit included.
    pub fn reachable(&self, roots: &[usize], exceptions: bool) -> Vec<bool> {
        let n = self.len();
        let mut seen = vec![false; n + 1];
        let mut work: Vec<usize> = roots.to_vec();
        while let Some(i) = work.pop() {
            if i > n || seen[i] {
                continue;
            }
            seen[i] = true;
            if i == n {
                continue;
            }
            for e in self.successors(i) {
                if exceptions || e.kind != EdgeKind::Exception {
                    work.push(e.to);
                }
            }
        }
        seen
    }

    /// The basic blocks, in order: a block starts at the first instruction,
    /// at every jump or handler target and after every jump or terminal
    /// instruction, and wherever the covering handler changes (as CPython's
    /// blocks, each has one handler).
    pub fn blocks(&self) -> Vec<Range<usize>> {
        let n = self.len();
        let mut leader = vec![false; n + 1];
        if n > 0 {
            leader[0] = true;
        }
        for i in 0..n {
            if let Some(t) = self.jump[i] {
                leader[t] = true;
            }
            if let Some(t) = self.handler[i] {
                leader[t] = true;
            }
            if self.jump[i].is_some() || !self.falls_through(i) {
                leader[i + 1] = true;
            }
            if i > 0 && self.instrs[i].handler != self.instrs[i - 1].handler {
                leader[i] = true;
            }
        }
        let starts: Vec<usize> = (0..n).filter(|&i| leader[i]).collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &s)| s..starts.get(k + 1).copied().unwrap_or(n))
            .collect()
    }

    /// Index of the `RESUME` where the function's body starts (see
    /// [`crate::opcodes::Known::is_body_start`]): a frame before it is still
    /// being set up (3.15 runs a generator expression's prologue, up to
    /// `RETURN_GENERATOR`, in the creating call).
    pub fn body_start(&self) -> Option<usize> {
        let k = &self.table.known;
        self.instrs
            .iter()
            .position(|i| k.is_body_start(i.op, i.arg))
    }

    /// For every instruction, whether nothing may be inserted right before
    /// it: everything up to the body's `RESUME` (everything, if there is
    /// none), the second of an instruction
    /// pair the interpreter assumes adjacent, and the instructions a jump
    /// must land on exactly (see [`OpcodeTable::required_successor`],
    /// [`OpcodeTable::required_jump_target`] and
    /// [`OpcodeTable::never_displaced`]).
    pub fn pinned(&self) -> Vec<bool> {
        let n = self.len();
        let mut pinned = vec![false; n];
        if n == 0 {
            return pinned;
        }
        // No RESUME: the frame is never complete; insert nothing anywhere.
        let r = self.body_start().unwrap_or(n - 1);
        pinned[..=r].iter_mut().for_each(|p| *p = true);
        for (i, ins) in self.instrs.iter().enumerate() {
            if self.table.required_successor(ins.op).is_some() && i + 1 < n {
                pinned[i + 1] = true;
            }
            if self.table.never_displaced(ins.op) {
                pinned[i] = true;
            }
            if let (Some(t), Some(seq)) = (self.jump[i], self.table.required_jump_target(ins.op)) {
                let end = (t + seq.len()).min(n);
                pinned[t..end].iter_mut().for_each(|p| *p = true);
            }
        }
        pinned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linetable::Location;
    use crate::model::Handler;

    /// Build items from `(opcode name, jump target label, handler label)`,
    /// with labels placed before the listed instruction indexes.
    fn items(
        v: PyVersion,
        spec: &[(&str, Option<u32>, Option<u32>)],
        at: &[(u32, usize)],
    ) -> Vec<Item> {
        let t = opcodes::table(v);
        let mut out = Vec::new();
        for (i, (name, target, handler)) in spec.iter().enumerate() {
            for (l, k) in at {
                if *k == i {
                    out.push(Item::Label(Label(*l)));
                }
            }
            out.push(Item::Instr(Instr {
                spliced: None,
                op: t.by_name(name).unwrap_or_else(|| panic!("{name}")),
                arg: 0,
                target: target.map(Label),
                loc: Location::line_only(1),
                handler: handler.map(|h| Handler {
                    target: Label(h),
                    depth: 0,
                    lasti: false,
                }),
            }));
        }
        for (l, k) in at {
            if *k == spec.len() {
                out.push(Item::Label(Label(*l)));
            }
        }
        out
    }

    #[test]
    fn edges_of_a_loop_with_a_handler() {
        let v = PyVersion::V312;
        // 0 RESUME; 1 NOP (h: L2); L0: 2 NOP; 3 POP_JUMP_IF_TRUE L1; 4 JUMP_BACKWARD L0;
        // L1: 5 RETURN_CONST; L2: 6 RERAISE
        let it = items(
            v,
            &[
                ("RESUME", None, None),
                ("NOP", None, Some(2)),
                ("NOP", None, None),
                ("POP_JUMP_IF_TRUE", Some(1), None),
                ("JUMP_BACKWARD", Some(0), None),
                ("RETURN_CONST", None, None),
                ("RERAISE", None, None),
            ],
            &[(0, 2), (1, 5), (2, 6)],
        );
        let cfg = Cfg::of_items(v, &it, &[]).expect("cfg");
        let succ: Vec<Edge> = cfg.successors(1).collect();
        assert_eq!(
            succ,
            vec![
                Edge {
                    from: 1,
                    to: 2,
                    kind: EdgeKind::Fallthrough
                },
                Edge {
                    from: 1,
                    to: 6,
                    kind: EdgeKind::Exception
                },
            ]
        );
        assert_eq!(cfg.jump_target(4), Some(2));
        assert!(cfg.predecessors(2).iter().any(|e| e.is_backward_jump()));
        assert_eq!(
            cfg.predecessors(5),
            &[Edge {
                from: 3,
                to: 5,
                kind: EdgeKind::Jump
            }]
        );
        assert!(!cfg.falls_through(4));
        assert_eq!(cfg.blocks(), vec![0..1, 1..2, 2..4, 4..5, 5..6, 6..7]);
        let normal = cfg.reachable(&[0], false);
        assert!(
            !normal[6],
            "the handler is reached only by an exception edge"
        );
        assert!(cfg.reachable(&[0], true)[6]);
        assert_eq!(cfg.body_start(), Some(0));
    }

    #[test]
    fn exit_edges_of_a_snippet_body() {
        let v = PyVersion::V313;
        let it = items(
            v,
            &[("POP_JUMP_IF_TRUE", Some(9), None), ("NOP", None, None)],
            &[(9, 2)],
        );
        let cfg = Cfg::of_items(v, &it, &[]).expect("cfg");
        assert_eq!(
            cfg.predecessors(2).len(),
            2,
            "jump and fall-through both leave"
        );
        let unplaced = Label(42);
        let it2 = items(v, &[("JUMP_FORWARD", Some(42), None)], &[]);
        let cfg2 = Cfg::of_items(v, &it2, &[unplaced]).expect("cfg");
        assert_eq!(cfg2.jump_target(0), Some(1));
    }

    #[test]
    fn pinned_instructions() {
        let v = PyVersion::V313;
        // 0 NOP 1 RESUME 2 FOR_ITER->L0 3 YIELD_VALUE 4 RESUME 5 JUMP_BACKWARD
        // L0: 6 END_FOR 7 POP_TOP 8 RETURN_VALUE
        let it = items(
            v,
            &[
                ("NOP", None, None),
                ("RESUME", None, None),
                ("FOR_ITER", Some(0), None),
                ("YIELD_VALUE", None, None),
                ("RESUME", None, None),
                ("JUMP_BACKWARD", Some(1), None),
                ("END_FOR", None, None),
                ("POP_TOP", None, None),
                ("RETURN_VALUE", None, None),
            ],
            &[(0, 6), (1, 2)],
        );
        let cfg = Cfg::of_items(v, &it, &[]).expect("cfg");
        assert_eq!(
            cfg.pinned(),
            vec![true, true, false, false, true, false, true, true, false]
        );
    }

    /// 3.14+ END_ASYNC_FOR names its loop's END_SEND in a backward offset
    /// but never jumps there: no edge.
    #[test]
    fn end_async_for_is_an_offset_not_an_edge() {
        let v = PyVersion::V314;
        let it = items(
            v,
            &[
                ("END_SEND", None, None),
                ("NOP", None, None),
                ("END_ASYNC_FOR", Some(0), None),
            ],
            &[(0, 0)],
        );
        let cfg = Cfg::of_items(v, &it, &[]).expect("cfg");
        assert_eq!(cfg.jump_target(2), None);
        assert!(cfg.predecessors(0).is_empty());
        assert!(cfg.falls_through(2));
    }

    #[test]
    fn malformed_jumps_are_errors() {
        let v = PyVersion::V311;
        let it = items(v, &[("NOP", Some(0), None)], &[(0, 0)]);
        assert!(matches!(
            Cfg::of_items(v, &it, &[]),
            Err(RewriteError::Verify(_))
        ));
        let it = items(v, &[("JUMP_FORWARD", Some(7), None)], &[]);
        assert_eq!(
            Cfg::of_items(v, &it, &[]).err(),
            Some(RewriteError::UnplacedLabel(7))
        );
    }
}
