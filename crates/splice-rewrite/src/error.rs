//! Errors of the rewrite crate. Every error names what was wrong so that the
//! Python layer can show it to the user unchanged.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RewriteError {
    #[error("unsupported CPython version 3.{0}; splice supports 3.11, 3.12 and 3.13")]
    UnsupportedVersion(u32),
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
    #[error("verifier: {0}")]
    Verify(String),
}
