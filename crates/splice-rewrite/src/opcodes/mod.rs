//! Per-version opcode tables. INTERFACE STUB: the opcode-table work fills this
//! in; the signatures below are what the rest of the crate relies on.

use crate::PyVersion;

/// What an instruction's operand means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// The opcode takes no argument (below HAVE_ARGUMENT).
    None,
    /// A plain number (counts, flags, RESUME kinds, ...).
    Plain,
    /// Index into `co_consts`.
    Const,
    /// Index into `co_names`, shifted left by `shift` bits with flags below
    /// (LOAD_GLOBAL and 3.12+ LOAD_ATTR: 1; LOAD_SUPER_ATTR: 2; else 0).
    Name { shift: u8 },
    /// Index into the fast locals (`co_varnames`, and on 3.11+ all of localsplus).
    Local,
    /// 3.13 superinstructions: two 4-bit local indexes, `arg >> 4` and `arg & 15`.
    LocalPair,
    /// Index into localsplus for cell and free variables (LOAD_DEREF, ...).
    Free,
    /// Relative jump forward, in code units after this instruction's caches.
    JumpForward,
    /// Relative jump backward, in code units after this instruction's caches.
    JumpBackward,
    /// COMPARE_OP's comparison (encoding differs per version).
    Compare,
}

/// One opcode of one CPython version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub name: &'static str,
    pub code: u8,
    /// Inline cache entries (code units) that follow the instruction.
    pub caches: u8,
    pub arg: ArgKind,
}

pub struct OpcodeTable {
    pub version: PyVersion,
}

/// The table for `version`.
pub fn table(version: PyVersion) -> &'static OpcodeTable {
    let _ = version;
    unimplemented!()
}

impl OpcodeTable {
    /// The opcode `op`, or `None` if this version has no such opcode.
    pub fn info(&self, op: u8) -> Option<&OpInfo> {
        let _ = op;
        unimplemented!()
    }
    /// The opcode named `name` (as in `opcode.opmap`).
    pub fn by_name(&self, name: &str) -> Option<u8> {
        let _ = name;
        unimplemented!()
    }
    /// Net stack effect of `op` with argument `arg`, exactly as
    /// `dis.stack_effect(op, arg, jump=jump)` on that version (`jump: None`
    /// gives the maximum of both). `None` when CPython would raise.
    pub fn stack_effect(&self, op: u8, arg: u32, jump: Option<bool>) -> Option<i32> {
        let _ = (op, arg, jump);
        unimplemented!()
    }
    /// True when control never falls through to the next instruction
    /// (returns, raises, re-raises, unconditional jumps).
    pub fn is_terminal(&self, op: u8) -> bool {
        let _ = op;
        unimplemented!()
    }
}
