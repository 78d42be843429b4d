//! The editable model of a code object: a flat list of labels and
//! instructions. Jumps and exception handlers refer to labels, never to
//! offsets, so instructions can be inserted anywhere and [`crate::assemble`]
//! recomputes every offset.

use std::collections::HashMap;

use crate::linetable::Location;
use crate::{PyVersion, RewriteError};

/// A position in the instruction list that jumps and handlers can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub u32);

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
}

/// An element of the instruction list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// The next instruction is the target of this label.
    Label(Label),
    Instr(Instr),
}

/// How many entries each operand table of the code object has, so that the
/// verifier can check every operand index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperandCounts {
    pub consts: usize,
    pub names: usize,
    pub localsplus: usize,
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
    pub fn flatten(&self) -> Result<(Vec<&Instr>, HashMap<Label, usize>), RewriteError> {
        let mut instrs = Vec::new();
        let mut labels = HashMap::new();
        for item in &self.items {
            match item {
                Item::Label(l) => {
                    if labels.insert(*l, instrs.len()).is_some() {
                        return Err(RewriteError::DuplicateLabel(l.0));
                    }
                }
                Item::Instr(i) => instrs.push(i),
            }
        }
        for (l, &idx) in &labels {
            if idx >= instrs.len() {
                return Err(RewriteError::UnplacedLabel(l.0));
            }
        }
        for i in &instrs {
            for l in i.target.iter().chain(i.handler.as_ref().map(|h| &h.target)) {
                if !labels.contains_key(l) {
                    return Err(RewriteError::UnplacedLabel(l.0));
                }
            }
        }
        Ok((instrs, labels))
    }
}
