//! Per-version opcode tables: for every opcode of CPython 3.11, 3.12 and 3.13
//! (every entry of that version's `opcode.opmap` below 256), its name, number,
//! inline cache entries and operand kind, plus its stack effect and whether
//! control can fall through it.
//!
//! The data lives in [`v311`], [`v312`] and [`v313`]: the names, numbers,
//! cache counts and operand kinds are generated from each interpreter's
//! `opcode` module by `tools/gen_opcodes.py`; the stack effects are
//! hand-written formulas of the operand taken from CPython's sources
//! (`Python/compile.c` for 3.11, the generated opcode metadata for 3.12 and
//! 3.13). `tests/opcode_tables.rs` checks all of it against the running
//! interpreters' `opcode` and `dis` modules.

use std::fmt;

use crate::PyVersion;

pub use known::Known;

mod known;
pub mod v311;
pub mod v312;
pub mod v313;
pub mod v314;
pub mod v315;

/// What an instruction's operand means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

impl ArgKind {
    /// True for the two relative-jump kinds.
    pub fn is_jump(self) -> bool {
        matches!(self, ArgKind::JumpForward | ArgKind::JumpBackward)
    }
}

impl fmt::Display for ArgKind {
    /// A short stable spelling: `none`, `plain`, `const`, `name`, `name>>1`,
    /// `local`, `localpair`, `free`, `jump+`, `jump-`, `compare`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgKind::None => f.write_str("none"),
            ArgKind::Plain => f.write_str("plain"),
            ArgKind::Const => f.write_str("const"),
            ArgKind::Name { shift: 0 } => f.write_str("name"),
            ArgKind::Name { shift } => write!(f, "name>>{shift}"),
            ArgKind::Local => f.write_str("local"),
            ArgKind::LocalPair => f.write_str("localpair"),
            ArgKind::Free => f.write_str("free"),
            ArgKind::JumpForward => f.write_str("jump+"),
            ArgKind::JumpBackward => f.write_str("jump-"),
            ArgKind::Compare => f.write_str("compare"),
        }
    }
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

/// `dis.stack_effect` of one version, operand already cast to C `int`.
type EffectFn = fn(u8, i32, Option<bool>) -> Option<i32>;

/// `(popped, pushed)` of one version (3.12+, from the opcode metadata).
type PoppedPushedFn = fn(u8, i32) -> Option<(i32, i32)>;

pub struct OpcodeTable {
    pub version: PyVersion,
    /// The opcodes the passes use, by role.
    pub known: Known,
    ops: &'static [OpInfo],
    by_code: [Option<OpInfo>; 256],
    /// Opcodes after which control never falls through, as a lookup
    /// table: asked for every edge of every graph.
    terminal: [bool; 256],
    effect: EffectFn,
    popped_pushed: Option<PoppedPushedFn>,
    have_argument: u8,
    required_successors: &'static [(u8, u8)],
    required_jump_targets: &'static [(u8, &'static [u8])],
    never_displaced: &'static [u8],
    offset_anchors: &'static [(u8, u8, u32)],
    pushes_fresh: &'static [u8],
    cannot_raise: &'static [u8],
    common_constants: &'static [&'static str],
}

/// Index `ops` by opcode number (at compile time).
const fn index(ops: &[OpInfo]) -> [Option<OpInfo>; 256] {
    let mut out: [Option<OpInfo>; 256] = [None; 256];
    let mut i = 0;
    while i < ops.len() {
        out[ops[i].code as usize] = Some(ops[i]);
        i += 1;
    }
    out
}

/// A membership table of `ops` by opcode number (at compile time).
const fn member(ops: &[u8]) -> [bool; 256] {
    let mut out = [false; 256];
    let mut i = 0;
    while i < ops.len() {
        out[ops[i] as usize] = true;
        i += 1;
    }
    out
}

static V311: OpcodeTable = OpcodeTable {
    version: PyVersion::V311,
    known: v311::KNOWN,
    ops: v311::OPS,
    by_code: index(v311::OPS),
    terminal: member(v311::TERMINAL),
    effect: v311::stack_effect,
    popped_pushed: None,
    have_argument: v311::HAVE_ARGUMENT,
    required_successors: v311::REQUIRED_SUCCESSORS,
    required_jump_targets: v311::REQUIRED_JUMP_TARGETS,
    never_displaced: &[],
    offset_anchors: &[],
    pushes_fresh: &[],
    cannot_raise: &[],
    common_constants: &[],
};

static V312: OpcodeTable = OpcodeTable {
    version: PyVersion::V312,
    known: v312::KNOWN,
    ops: v312::OPS,
    by_code: index(v312::OPS),
    terminal: member(v312::TERMINAL),
    effect: v312::stack_effect,
    popped_pushed: Some(v312::popped_pushed),
    have_argument: v312::HAVE_ARGUMENT,
    required_successors: v312::REQUIRED_SUCCESSORS,
    required_jump_targets: v312::REQUIRED_JUMP_TARGETS,
    never_displaced: &[],
    offset_anchors: &[],
    pushes_fresh: &[],
    cannot_raise: &[],
    common_constants: &[],
};

static V313: OpcodeTable = OpcodeTable {
    version: PyVersion::V313,
    known: v313::KNOWN,
    ops: v313::OPS,
    by_code: index(v313::OPS),
    terminal: member(v313::TERMINAL),
    effect: v313::stack_effect,
    popped_pushed: Some(v313::popped_pushed),
    have_argument: v313::HAVE_ARGUMENT,
    required_successors: v313::REQUIRED_SUCCESSORS,
    required_jump_targets: v313::REQUIRED_JUMP_TARGETS,
    never_displaced: &[],
    offset_anchors: &[],
    pushes_fresh: &[],
    cannot_raise: &[],
    common_constants: &[],
};

static V314: OpcodeTable = OpcodeTable {
    version: PyVersion::V314,
    known: v314::KNOWN,
    ops: v314::OPS,
    by_code: index(v314::OPS),
    terminal: member(v314::TERMINAL),
    effect: v314::stack_effect,
    popped_pushed: Some(v314::popped_pushed),
    have_argument: v314::HAVE_ARGUMENT,
    required_successors: v314::REQUIRED_SUCCESSORS,
    required_jump_targets: v314::REQUIRED_JUMP_TARGETS,
    never_displaced: v314::NEVER_DISPLACED,
    offset_anchors: v314::OFFSET_ANCHORS,
    pushes_fresh: v314::PUSHES_FRESH,
    cannot_raise: v314::CANNOT_RAISE,
    common_constants: v314::COMMON_CONSTANTS,
};

static V315: OpcodeTable = OpcodeTable {
    version: PyVersion::V315,
    known: v315::KNOWN,
    ops: v315::OPS,
    by_code: index(v315::OPS),
    terminal: member(v315::TERMINAL),
    effect: v315::stack_effect,
    popped_pushed: Some(v315::popped_pushed),
    have_argument: v315::HAVE_ARGUMENT,
    required_successors: v315::REQUIRED_SUCCESSORS,
    required_jump_targets: v315::REQUIRED_JUMP_TARGETS,
    never_displaced: v315::NEVER_DISPLACED,
    offset_anchors: v315::OFFSET_ANCHORS,
    pushes_fresh: v315::PUSHES_FRESH,
    cannot_raise: v315::CANNOT_RAISE,
    common_constants: v315::COMMON_CONSTANTS,
};

/// The table for `version`.
pub fn table(version: PyVersion) -> &'static OpcodeTable {
    match version {
        PyVersion::V311 => &V311,
        PyVersion::V312 => &V312,
        PyVersion::V313 => &V313,
        PyVersion::V314 => &V314,
        PyVersion::V315 => &V315,
    }
}

/// Every opcode of `version` as `(number, name, inline cache entries, operand
/// kind)`, by number: what the bindings compare against the running
/// interpreter's `opcode` module.
pub fn describe(version: PyVersion) -> Vec<(u8, &'static str, u8, ArgKind)> {
    table(version)
        .ops()
        .iter()
        .map(|o| (o.code, o.name, o.caches, o.arg))
        .collect()
}

impl OpcodeTable {
    /// The opcode `op`, or `None` if this version has no such opcode.
    pub fn info(&self, op: u8) -> Option<&OpInfo> {
        self.by_code[op as usize].as_ref()
    }

    /// The opcode named `name` (as in `opcode.opmap`). For tests, tools and
    /// messages: passes use the resolved numbers in [`Self::known`].
    pub fn by_name(&self, name: &str) -> Option<u8> {
        self.ops.iter().find(|o| o.name == name).map(|o| o.code)
    }

    /// Net stack effect of `op` with argument `arg`, exactly as
    /// `dis.stack_effect(op, arg, jump=jump)` on that version (`jump: None`
    /// gives the maximum of both). `None` when CPython would raise.
    ///
    /// For opcodes without an argument ([`ArgKind::None`]) `arg` is ignored
    /// (`dis` is then called with `arg=None`). `arg` is converted to a C `int`
    /// as CPython does, so values of 2**31 and above act as negative numbers.
    pub fn stack_effect(&self, op: u8, arg: u32, jump: Option<bool>) -> Option<i32> {
        let info = self.info(op)?;
        let oparg = if info.arg == ArgKind::None {
            0
        } else {
            arg as i32
        };
        match (self.effect)(op, oparg, jump) {
            // PY_INVALID_STACK_EFFECT is INT_MAX: a formula that happens to
            // give INT_MAX is reported as invalid by CPython too.
            Some(i32::MAX) => None,
            e => e,
        }
    }

    /// How many values `op` with argument `arg` pops and pushes, where the
    /// version's metadata says (3.12+; `None` on 3.11, whose `dis` knows
    /// only the net effect, and for invalid arguments). Values below the
    /// operands that the instruction leaves in place count on both sides,
    /// as in CPython's metadata.
    pub fn popped_pushed(&self, op: u8, arg: u32) -> Option<(u32, u32)> {
        let info = self.info(op)?;
        let oparg = if info.arg == ArgKind::None {
            0
        } else {
            arg as i32
        };
        let (p, q) = (self.popped_pushed?)(op, oparg)?;
        Some((u32::try_from(p).ok()?, u32::try_from(q).ok()?))
    }

    /// True when control never falls through to the next instruction
    /// (returns, raises, re-raises, unconditional jumps).
    pub fn is_terminal(&self, op: u8) -> bool {
        self.terminal[op as usize]
    }

    /// Every opcode of this version, by number.
    pub fn ops(&self) -> &'static [OpInfo] {
        self.ops
    }

    /// The name of `op` (`None` for numbers this version does not define).
    pub fn name(&self, op: u8) -> Option<&'static str> {
        self.info(op).map(|o| o.name)
    }

    /// Inline cache entries (code units) after `op`; 0 for unknown opcodes.
    pub fn caches(&self, op: u8) -> u8 {
        self.info(op).map_or(0, |o| o.caches)
    }

    /// The operand kind of `op` (`None` for unknown opcodes).
    pub fn arg_kind(&self, op: u8) -> Option<ArgKind> {
        self.info(op).map(|o| o.arg)
    }

    /// True when `op` uses its operand (anything but [`ArgKind::None`]).
    pub fn has_arg(&self, op: u8) -> bool {
        self.info(op).is_some_and(|o| o.arg != ArgKind::None)
    }

    /// True for relative jumps (conditional or not, either direction):
    /// opcodes whose operand is a code offset the assembler recomputes.
    /// See [`Self::transfers_control`] for whether control goes there.
    pub fn is_jump(&self, op: u8) -> bool {
        self.info(op).is_some_and(|o| o.arg.is_jump())
    }

    /// True for jumps that can transfer control to their target; false for
    /// the offset-only operands of 3.14+ `END_ASYNC_FOR` (see
    /// [`Self::offset_anchor`]).
    pub fn transfers_control(&self, op: u8) -> bool {
        self.is_jump(op) && self.offset_anchor(op).is_none()
    }

    /// For an opcode whose backward operand names an instruction without
    /// jumping to it: `(anchor opcode, delta)`, where the operand counts
    /// back to `delta` code units after the anchor. 3.14+ `END_ASYNC_FOR`
    /// names its loop's `SEND` this way (`END_SEND_OFFSET` in CPython's
    /// `assemble.c`: 5 on 3.14, 6 on 3.15, where `RESUME` gained a cache);
    /// CPython uses it for branch events only, and its layout sometimes puts
    /// a `CLEANUP_THROW` rather than the `END_SEND` at that point, so the
    /// model keeps the `SEND` as the target.
    pub fn offset_anchor(&self, op: u8) -> Option<(u8, u32)> {
        self.offset_anchors
            .iter()
            .find(|(o, _, _)| *o == op)
            .map(|&(_, anchor, delta)| (anchor, delta))
    }

    /// `LOAD_COMMON_CONSTANT`'s table as text (3.14+; empty before):
    /// classes and builtins by name, other values by repr.
    pub fn common_constants(&self) -> &'static [&'static str] {
        self.common_constants
    }

    /// False when the version's metadata shows `op` has no error path and
    /// no eval breaker, so it never raises (3.14+); true for every opcode of
    /// the versions whose metadata splice does not read (the strict answer).
    pub fn can_raise(&self, op: u8) -> bool {
        !self.cannot_raise.contains(&op)
    }

    /// True when nothing may be inserted right before `op` (3.14+
    /// `NOT_TAKEN`, which must follow the branch it reports on).
    pub fn never_displaced(&self, op: u8) -> bool {
        self.never_displaced.contains(&op)
    }

    /// True for relative jumps whose operand counts backward.
    pub fn is_backward_jump(&self, op: u8) -> bool {
        self.info(op)
            .is_some_and(|o| o.arg == ArgKind::JumpBackward)
    }

    /// True for jumps that always jump (a subset of [`Self::is_terminal`]).
    pub fn is_unconditional_jump(&self, op: u8) -> bool {
        self.is_jump(op) && self.is_terminal(op)
    }

    /// `opcode.HAVE_ARGUMENT`. On 3.13 some opcodes at or above it take no
    /// argument (INSTRUMENTED_END_FOR, ...): use [`Self::has_arg`].
    pub fn have_argument(&self) -> u8 {
        self.have_argument
    }

    /// True when `op` only pushes objects it created (or immortal ones),
    /// never one of its inputs (3.14+, for the borrowed-load analysis;
    /// `false` where the version has no borrowed loads).
    pub fn pushes_fresh(&self, op: u8) -> bool {
        self.pushes_fresh.contains(&op)
    }

    /// The opcode the interpreter assumes directly follows `op` (it reads or
    /// skips that instruction when it runs `op`), if any: 3.11 `PRECALL` +
    /// `CALL`, 3.12 `KW_NAMES` + `CALL`, `YIELD_VALUE` + `RESUME`, ...
    pub fn required_successor(&self, op: u8) -> Option<u8> {
        self.required_successors
            .iter()
            .find(|(a, _)| *a == op)
            .map(|&(_, b)| b)
    }

    /// The instructions a jump by `op` must land on, in order, because the
    /// interpreter jumps past them (3.12+ `FOR_ITER` and its `END_FOR`).
    pub fn required_jump_target(&self, op: u8) -> Option<&'static [u8]> {
        self.required_jump_targets
            .iter()
            .find(|(a, _)| *a == op)
            .map(|&(_, seq)| seq)
    }
}

impl fmt::Debug for OpcodeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpcodeTable")
            .field("version", &self.version)
            .field("opcodes", &self.ops.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(v: PyVersion, name: &str) -> u8 {
        table(v)
            .by_name(name)
            .unwrap_or_else(|| panic!("{v} has no {name}"))
    }

    #[test]
    fn tables_are_consistent() {
        for v in PyVersion::ALL {
            let t = table(v);
            assert_eq!(t.version, v);
            let mut prev = None;
            for o in t.ops() {
                assert!(prev < Some(o.code), "{v}: {} out of order", o.name);
                prev = Some(o.code);
                assert_eq!(t.info(o.code), Some(o));
                assert_eq!(t.by_name(o.name), Some(o.code));
                assert_eq!(t.name(o.code), Some(o.name));
            }
            let known = (0..=255u8).filter(|&c| t.info(c).is_some()).count();
            assert_eq!(known, t.ops().len(), "{v}: duplicate numbers");
            for c in 0..=255u8 {
                assert!(
                    !t.is_terminal(c) || t.info(c).is_some(),
                    "{v}: terminal {c} unknown"
                );
            }
            assert_eq!(describe(v).len(), t.ops().len());
        }
    }

    #[test]
    fn well_known_numbers() {
        let nums = |t: &OpcodeTable| {
            (
                t.known.extended_arg,
                t.known.cache,
                t.known.nop,
                t.known.resume,
            )
        };
        let t = table(PyVersion::V311);
        assert_eq!(nums(t), (144, 0, 9, 151));
        assert_eq!(t.have_argument(), 90);
        let t = table(PyVersion::V312);
        assert_eq!(nums(t), (144, 0, 9, 151));
        let t = table(PyVersion::V313);
        assert_eq!(nums(t), (71, 0, 30, 149));
        assert_eq!(t.have_argument(), 44);
        // RESUME takes an argument although it is numbered after the rest.
        assert!(t.has_arg(149));
        assert!(!t.has_arg(op(PyVersion::V313, "INSTRUMENTED_END_FOR")));
        assert_eq!(t.by_name("JUMP"), None, "pseudo-ops are not in the table");
        assert_eq!(t.info(255), None);
    }

    #[test]
    fn known_opcodes_match_their_names() {
        for v in PyVersion::ALL {
            let t = table(v);
            for (name, code) in t.known.named() {
                assert_eq!(code, t.by_name(name), "{v}: {name}");
            }
            assert_eq!(t.known.null_after_callable, v >= PyVersion::V313);
            for &(a, b) in t.required_successors {
                assert!(t.info(a).is_some() && t.info(b).is_some(), "{v}");
            }
        }
    }

    #[test]
    fn caches() {
        let v = PyVersion::V311;
        assert_eq!(table(v).caches(op(v, "LOAD_GLOBAL")), 5);
        assert_eq!(table(v).caches(op(v, "LOAD_ATTR")), 4);
        assert_eq!(table(v).caches(op(v, "PRECALL")), 1);
        assert_eq!(table(v).caches(op(v, "CALL")), 4);
        let v = PyVersion::V312;
        assert_eq!(table(v).caches(op(v, "LOAD_ATTR")), 9);
        assert_eq!(table(v).caches(op(v, "CALL")), 3);
        assert_eq!(table(v).caches(op(v, "JUMP_BACKWARD")), 0);
        let v = PyVersion::V313;
        assert_eq!(table(v).caches(op(v, "TO_BOOL")), 3);
        assert_eq!(table(v).caches(op(v, "JUMP_BACKWARD")), 1);
        assert_eq!(table(v).caches(op(v, "POP_JUMP_IF_TRUE")), 1);
        assert_eq!(table(v).caches(255), 0);
    }

    #[test]
    fn arg_kinds() {
        let k = |v, name| table(v).arg_kind(op(v, name)).unwrap();
        use PyVersion::*;
        assert_eq!(k(V311, "LOAD_GLOBAL"), ArgKind::Name { shift: 1 });
        assert_eq!(k(V311, "LOAD_ATTR"), ArgKind::Name { shift: 0 });
        assert_eq!(k(V311, "LOAD_METHOD"), ArgKind::Name { shift: 0 });
        assert_eq!(k(V312, "LOAD_ATTR"), ArgKind::Name { shift: 1 });
        assert_eq!(k(V312, "LOAD_SUPER_ATTR"), ArgKind::Name { shift: 2 });
        assert_eq!(k(V313, "LOAD_SUPER_ATTR"), ArgKind::Name { shift: 2 });
        assert_eq!(k(V313, "LOAD_FAST_LOAD_FAST"), ArgKind::LocalPair);
        assert_eq!(k(V313, "STORE_FAST_STORE_FAST"), ArgKind::LocalPair);
        assert_eq!(k(V313, "STORE_FAST_LOAD_FAST"), ArgKind::LocalPair);
        assert_eq!(k(V311, "KW_NAMES"), ArgKind::Const);
        assert_eq!(k(V312, "RETURN_CONST"), ArgKind::Const);
        assert_eq!(k(V311, "LOAD_CLOSURE"), ArgKind::Free);
        assert_eq!(k(V313, "COMPARE_OP"), ArgKind::Compare);
        assert_eq!(k(V311, "POP_JUMP_BACKWARD_IF_TRUE"), ArgKind::JumpBackward);
        assert_eq!(k(V311, "POP_JUMP_FORWARD_IF_TRUE"), ArgKind::JumpForward);
        for v in PyVersion::ALL {
            let t = table(v);
            assert_eq!(k(v, "JUMP_BACKWARD"), ArgKind::JumpBackward);
            assert_eq!(k(v, "JUMP_BACKWARD_NO_INTERRUPT"), ArgKind::JumpBackward);
            assert_eq!(k(v, "FOR_ITER"), ArgKind::JumpForward);
            assert_eq!(k(v, "SEND"), ArgKind::JumpForward);
            assert_eq!(k(v, "EXTENDED_ARG"), ArgKind::Plain);
            assert_eq!(k(v, "NOP"), ArgKind::None);
            assert!(t.is_jump(op(v, "JUMP_FORWARD")));
            assert!(!t.is_backward_jump(op(v, "JUMP_FORWARD")));
            assert!(t.is_backward_jump(op(v, "JUMP_BACKWARD")));
            assert!(t.is_unconditional_jump(op(v, "JUMP_BACKWARD")));
            assert!(!t.is_unconditional_jump(op(v, "FOR_ITER")));
            assert!(!t.is_jump(op(v, "LOAD_CONST")));
        }
    }

    #[test]
    fn terminal() {
        for v in PyVersion::ALL {
            let t = table(v);
            for name in [
                "RETURN_VALUE",
                "RAISE_VARARGS",
                "RERAISE",
                "JUMP_FORWARD",
                "JUMP_BACKWARD",
                "JUMP_BACKWARD_NO_INTERRUPT",
            ] {
                assert!(t.is_terminal(op(v, name)), "{v} {name}");
            }
            for name in [
                "YIELD_VALUE",
                "FOR_ITER",
                "SEND",
                "RETURN_GENERATOR",
                "END_ASYNC_FOR",
                "NOP",
                "CALL",
                "POP_EXCEPT",
            ] {
                assert!(!t.is_terminal(op(v, name)), "{v} {name}");
            }
            assert!(!t.is_terminal(255));
        }
        let v = PyVersion::V311;
        assert!(!table(v).is_terminal(op(v, "POP_JUMP_BACKWARD_IF_TRUE")));
        assert!(!table(v).is_terminal(op(v, "JUMP_IF_TRUE_OR_POP")));
        for v in [PyVersion::V312, PyVersion::V313] {
            assert!(table(v).is_terminal(op(v, "RETURN_CONST")));
            assert!(table(v).is_terminal(op(v, "INSTRUMENTED_RETURN_VALUE")));
            assert!(!table(v).is_terminal(op(v, "CLEANUP_THROW")));
            assert!(!table(v).is_terminal(op(v, "INSTRUMENTED_LINE")));
        }
    }

    #[test]
    fn stack_effects() {
        use PyVersion::*;
        let se = |v, name, arg, jump| table(v).stack_effect(op(v, name), arg, jump);
        // 3.11: jump-dependent effects.
        assert_eq!(se(V311, "FOR_ITER", 5, Some(true)), Some(-1));
        assert_eq!(se(V311, "FOR_ITER", 5, Some(false)), Some(1));
        assert_eq!(se(V311, "FOR_ITER", 5, None), Some(1));
        assert_eq!(se(V311, "SEND", 5, Some(true)), Some(-1));
        assert_eq!(se(V311, "SEND", 5, None), Some(0));
        assert_eq!(se(V311, "JUMP_IF_TRUE_OR_POP", 5, Some(false)), Some(-1));
        assert_eq!(se(V311, "JUMP_IF_TRUE_OR_POP", 5, None), Some(0));
        assert_eq!(se(V311, "PRECALL", 3, None), Some(-3));
        assert_eq!(se(V311, "CALL", 3, None), Some(-1));
        assert_eq!(se(V311, "MAKE_FUNCTION", 0b1011, None), Some(-3));
        // 3.12+: no jump dependence; END_FOR pops the iterator too on 3.12.
        assert_eq!(se(V312, "FOR_ITER", 5, Some(true)), Some(1));
        assert_eq!(se(V312, "END_FOR", 0, None), Some(-2));
        assert_eq!(se(V313, "END_FOR", 0, None), Some(-1));
        assert_eq!(se(V312, "CALL", 3, None), Some(-4));
        assert_eq!(se(V313, "CALL_KW", 3, None), Some(-5));
        assert_eq!(se(V313, "LOAD_FAST_LOAD_FAST", 0x12, None), Some(2));
        assert_eq!(se(V313, "RETURN_GENERATOR", 0, None), Some(1));
        for v in PyVersion::ALL {
            assert_eq!(se(v, "BUILD_TUPLE", 3, None), Some(-2));
            assert_eq!(se(v, "BUILD_MAP", 2, None), Some(-3));
            assert_eq!(se(v, "UNPACK_EX", 0x0102, None), Some(3));
            assert_eq!(se(v, "LOAD_GLOBAL", 1, None), Some(2));
            assert_eq!(se(v, "NOP", 12345, None), Some(0), "argument ignored");
            let unknown = (0..=255u8).find(|&c| table(v).info(c).is_none());
            if let Some(u) = unknown {
                assert_eq!(table(v).stack_effect(u, 0, None), None, "{v}: {u}");
            }
        }
        // Values above i32::MAX are negative C ints, as in CPython.
        assert_eq!(se(V312, "RERAISE", u32::MAX, None), None);
        assert_eq!(se(V312, "INSTRUMENTED_LINE", 0, None), None);
    }

    #[test]
    fn display() {
        assert_eq!(ArgKind::Name { shift: 1 }.to_string(), "name>>1");
        assert_eq!(ArgKind::JumpBackward.to_string(), "jump-");
    }
}
