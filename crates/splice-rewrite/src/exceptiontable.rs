//! `co_exceptiontable` codec. INTERFACE STUB: the codec work fills this in.

use crate::RewriteError;

/// One entry, offsets in code units (2-byte units), `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionTableEntry {
    pub start: u32,
    pub end: u32,
    pub target: u32,
    pub depth: u32,
    pub lasti: bool,
}

/// Parse `co_exceptiontable`.
pub fn parse(bytes: &[u8]) -> Result<Vec<ExceptionTableEntry>, RewriteError> {
    let _ = bytes;
    unimplemented!()
}

/// Encode entries exactly as CPython's assembler would.
pub fn encode(entries: &[ExceptionTableEntry]) -> Vec<u8> {
    let _ = entries;
    unimplemented!()
}
