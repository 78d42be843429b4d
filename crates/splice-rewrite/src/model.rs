//! The editable model of a code object: a flat list of labels and
//! instructions. Jumps and exception handlers refer to labels, never to
//! offsets, so instructions can be inserted anywhere and [`crate::assemble`]
//! recomputes every offset.

use crate::linetable::Location;
use crate::{PyVersion, RewriteError};

/// A position in the instruction list that jumps and handlers can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub u32);

/// Where each placed label is: the index of the instruction it precedes.
/// Labels are numbered densely from 0 ([`Code::new_label`] counts up, decode
/// numbers the targets it finds), so this is a vector indexed by label
/// number rather than a hash map: every pass over a code object looks labels
/// up, and hashing them was a measurable part of a rewrite. The few labels
/// outside the dense range (a snippet's end marker is `u32::MAX`) go in a
/// short list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelMap {
    /// `dense[label]` is the instruction index, `UNPLACED` if not placed.
    dense: Vec<u32>,
    sparse: Vec<(Label, u32)>,
}

const UNPLACED: u32 = u32::MAX;

/// Labels numbered below this are stored by number.
const DENSE_LIMIT: u32 = 1 << 20;

impl LabelMap {
    /// An empty map with room for labels `0..n`.
    pub fn with_capacity(n: usize) -> Self {
        LabelMap {
            dense: Vec::with_capacity(n.min(DENSE_LIMIT as usize)),
            sparse: Vec::new(),
        }
    }

    /// The index `l` is placed at, if it is.
    pub fn get(&self, l: Label) -> Option<usize> {
        let at = if l.0 < DENSE_LIMIT {
            self.dense.get(l.0 as usize).copied()
        } else {
            self.sparse.iter().find(|(k, _)| *k == l).map(|&(_, i)| i)
        };
        at.filter(|&i| i != UNPLACED).map(|i| i as usize)
    }

    /// True when `l` is placed.
    pub fn contains(&self, l: Label) -> bool {
        self.get(l).is_some()
    }

    /// Place `l` before instruction `index`; false (and nothing changes) if
    /// it was already placed.
    pub fn place(&mut self, l: Label, index: usize) -> bool {
        if self.contains(l) {
            return false;
        }
        if l.0 < DENSE_LIMIT {
            let k = l.0 as usize;
            if k >= self.dense.len() {
                self.dense.resize(k + 1, UNPLACED);
            }
            self.dense[k] = index as u32;
        } else {
            self.sparse.push((l, index as u32));
        }
        true
    }

    /// Every placed label and its index (dense ones by number, then the
    /// others in the order they were placed).
    pub fn iter(&self) -> impl Iterator<Item = (Label, usize)> + '_ {
        self.dense
            .iter()
            .enumerate()
            .map(|(k, &i)| (Label(k as u32), i))
            .chain(self.sparse.iter().copied())
            .filter(|&(_, i)| i != UNPLACED)
            .map(|(l, i)| (l, i as usize))
    }
}

/// The exception handler that covers an instruction: where to jump, the stack
/// depth to unwind to, and whether the offset of the raising instruction
/// (`lasti`) is pushed before the exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handler {
    pub target: Label,
    pub depth: u32,
    pub lasti: bool,
}

impl Handler {
    /// Stack depth on entry to the handler: the unwound stack, `lasti` if
    /// pushed, and the exception itself.
    pub fn entry_depth(&self) -> u32 {
        self.depth + u32::from(self.lasti) + 1
    }
}

/// One instruction. `arg` is the full operand (EXTENDED_ARG prefixes are
/// folded in and re-emitted by the assembler); for jumps it is recomputed from
/// `target` on assembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instr {
    pub op: u8,
    pub arg: u32,
    pub target: Option<Label>,
    pub loc: Location,
    pub handler: Option<Handler>,
    /// Set on the instructions of a line probe's copy: later probes on the
    /// same line never go inside it (see [`Spliced`]). Not encoded in the
    /// bytes: decoding gives `None`.
    pub spliced: Option<Spliced>,
}

/// What a later probe needs to know about an instruction an earlier line
/// probe spliced in. Probes are applied one after the other; a copy carries
/// its line, so without the mark the next probe on that line would find
/// line events inside it (the head of a loop in the snippet) and take the
/// handler of a `try` in the snippet for its own, which ran one probe's
/// snippet inside another's loop and exception handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spliced {
    /// The handler of the place the copy went to, which covers the copy as a
    /// whole (and a later probe's copy in front of it).
    pub outer: Option<Handler>,
    /// Which copy (a number unique within the code object): an edge between
    /// two instructions of one copy is the snippet's own control flow, an
    /// edge from one copy into another (an entry probe's copy followed by a
    /// copy on the first line) is the function's.
    pub copy: u32,
    /// A load of a closure's cell: a `LOAD_FAST` (3.13+) of a cell or free
    /// slot that the snippet's template read as a cell, to build a closure.
    /// The verifier counts it as a use of the slot as a cell
    /// ([`crate::shadow`]), which the opcode alone does not tell.
    pub cell: bool,
}

/// An element of the instruction list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// The next instruction is the target of this label.
    Label(Label),
    Instr(Instr),
}

/// How many entries each operand table of the code object has, so that the
/// verifier can check every operand index; and the plain locals, for its
/// check of unchecked loads ([`crate::bound`]), which is skipped where they
/// are not known (`None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperandCounts {
    pub consts: usize,
    pub names: usize,
    pub localsplus: usize,
    pub locals: Option<LocalCounts>,
}

/// The leading localsplus entries that are plain locals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalCounts {
    /// Bound when a call starts: the parameters (`co_argcount`,
    /// `co_kwonlyargcount`, then `*args` and `**kwargs` if present).
    pub params: usize,
    /// `co_nlocals` (`co_varnames`): the parameters and the other plain
    /// locals, unbound when a call starts. Cell-only and free variables
    /// come after them.
    pub varnames: usize,
}

/// A decoded code object body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    pub version: PyVersion,
    pub firstlineno: i32,
    pub items: Vec<Item>,
    pub counts: OperandCounts,
    /// `co_stacksize` of the original code object. The assembler never
    /// returns less: CPython sometimes over-estimates (it counts handlers of
    /// `try` bodies that cannot raise, then drops them as unreachable), and
    /// keeping its number makes unmodified code round-trip byte for byte.
    pub min_stacksize: u32,
    /// Next unused label number.
    pub next_label: u32,
}

impl Code {
    /// A fresh label, not yet placed.
    pub fn new_label(&mut self) -> Label {
        let l = Label(self.next_label);
        self.next_label += 1;
        l
    }

    /// The instructions in order, without labels.
    pub fn instrs(&self) -> impl Iterator<Item = &Instr> {
        self.items.iter().filter_map(|it| match it {
            Item::Instr(i) => Some(i),
            Item::Label(_) => None,
        })
    }

    /// The instructions in order, and for each placed label the index of the
    /// instruction it precedes. Fails if a label is placed twice, placed at
    /// the end, or used by a jump or handler without being placed.
    pub fn flatten(&self) -> Result<(Vec<&Instr>, LabelMap), RewriteError> {
        let mut instrs = Vec::with_capacity(self.items.len());
        let mut labels = LabelMap::with_capacity(self.next_label as usize);
        for item in &self.items {
            match item {
                Item::Label(l) => {
                    if !labels.place(*l, instrs.len()) {
                        return Err(RewriteError::DuplicateLabel(l.0));
                    }
                }
                Item::Instr(i) => instrs.push(i),
            }
        }
        if let Some((l, _)) = labels.iter().find(|&(_, idx)| idx >= instrs.len()) {
            return Err(RewriteError::UnplacedLabel(l.0));
        }
        for i in &instrs {
            for l in i.target.iter().chain(i.handler.as_ref().map(|h| &h.target)) {
                if !labels.contains(*l) {
                    return Err(RewriteError::UnplacedLabel(l.0));
                }
            }
        }
        Ok((instrs, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_map_places_dense_and_far_labels_once() {
        let mut m = LabelMap::with_capacity(2);
        assert!(m.place(Label(3), 7));
        assert!(m.place(Label(u32::MAX), 9));
        assert!(!m.place(Label(3), 8), "a label is placed once");
        assert!(!m.place(Label(u32::MAX), 1));
        assert_eq!(m.get(Label(3)), Some(7));
        assert_eq!(m.get(Label(u32::MAX)), Some(9));
        assert_eq!(m.get(Label(0)), None);
        assert_eq!(m.get(Label(1 << 21)), None);
        let all: Vec<_> = m.iter().collect();
        assert_eq!(all, vec![(Label(3), 7), (Label(u32::MAX), 9)]);
    }
}
