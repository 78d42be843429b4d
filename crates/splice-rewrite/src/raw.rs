//! The raw fields of a code object, as the bindings read them from and write
//! them back into a CPython `code` object. Only the fields that bytecode
//! rewriting touches are here; the bindings keep the rest of the object.

use crate::model::OperandCounts;
use crate::PyVersion;

/// The rewrite-relevant fields of a CPython code object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCode {
    pub version: PyVersion,
    /// `co_code`: deoptimized bytecode, inline caches zeroed.
    pub code: Vec<u8>,
    /// `co_exceptiontable`.
    pub exceptiontable: Vec<u8>,
    /// `co_linetable` (PEP 626/657 location table).
    pub linetable: Vec<u8>,
    /// `co_firstlineno`.
    pub firstlineno: i32,
    /// `co_stacksize`.
    pub stacksize: u32,
    /// Sizes of `co_consts`, `co_names` and localsplus, for operand checks.
    pub counts: OperandCounts,
}
