//! Errors of the rewrite crate. Every error names what was wrong so that the
//! Python layer can show it to the user unchanged, and each variant belongs
//! to one [`ErrorKind`], which the bindings map to a Python exception class.

use thiserror::Error;

use crate::version::PyVersion;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RewriteError {
    // --- the interpreter -------------------------------------------------
    #[error(
        "CPython 3.{0} is not supported: splice knows the bytecode of CPython {supported} only",
        supported = PyVersion::supported_list()
    )]
    UnsupportedVersion(u32),

    // --- malformed input (decode) ----------------------------------------
    #[error("co_code has odd length {0}")]
    OddCodeLength(usize),
    #[error("unknown opcode {op} at offset {offset}")]
    UnknownOpcode { op: u8, offset: usize },
    #[error("code ends inside the inline cache of the instruction at offset {0}")]
    TruncatedCache(usize),
    #[error("EXTENDED_ARG at offset {0} is not followed by an instruction")]
    DanglingExtendedArg(usize),
    #[error("jump at offset {offset} targets {target}, which is not an instruction boundary")]
    BadJumpTarget { offset: usize, target: i64 },
    #[error("malformed exception table: {0}")]
    BadExceptionTable(String),
    #[error("malformed location table: {0}")]
    BadLineTable(String),

    // --- the model and the assembler -------------------------------------
    #[error("label {0} is used but never placed")]
    UnplacedLabel(u32),
    #[error("label {0} is placed more than once")]
    DuplicateLabel(u32),
    #[error("operand {arg} of {name} does not fit in 32 bits")]
    ArgTooLarge { name: &'static str, arg: u64 },
    #[error("jump assembly did not converge after {0} passes")]
    NoFixedPoint(usize),
    #[error("stack effect of {name} with arg {arg} is unknown")]
    UnknownStackEffect { name: &'static str, arg: u32 },

    /// The code fails a safety check (stack depth, jump direction, operand
    /// range, an instruction pair the interpreter assumes adjacent): nothing
    /// may be built from it.
    #[error("verifier: {0}")]
    Verify(String),

    // --- probes ------------------------------------------------------------
    /// A snippet's compiled instructions cannot be spliced into the target
    /// (it returns, yields, assigns a hook name, ...).
    #[error("{0}")]
    Snippet(String),
    /// None of the requested lines has an instruction where CPython would
    /// fire a `sys.settrace` 'line' event.
    #[error(
        "no line event fires on line{} {} in this code object, so a probe there would never run",
        if .lines.len() == 1 { "" } else { "s" },
        .lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoLineEvent { lines: Vec<i32> },
    /// The code object lacks something every probe needs (a `RESUME`, a
    /// final instruction that does not fall through, ...).
    #[error("cannot instrument this code object: {0}")]
    Uninstrumentable(String),
}

/// Which kind of problem an error is; the bindings raise a different Python
/// exception for each (see `crates/splice-py/src/errors.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The running interpreter's bytecode is unknown to splice.
    Version,
    /// The user's snippet cannot be spliced.
    Snippet,
    /// The user's line has no place where a probe would run.
    Location,
    /// Anything else: malformed input, an assembler limit, a failed
    /// verification. Nothing was patched.
    Rewrite,
}

impl RewriteError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RewriteError::UnsupportedVersion(_) => ErrorKind::Version,
            RewriteError::Snippet(_) => ErrorKind::Snippet,
            RewriteError::NoLineEvent { .. } => ErrorKind::Location,
            _ => ErrorKind::Rewrite,
        }
    }
}
