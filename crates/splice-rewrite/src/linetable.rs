//! `co_linetable` codec (PEP 626/657). INTERFACE STUB: the codec work fills this in.

use crate::{PyVersion, RewriteError};

/// Source location of one instruction. `line: None` is "no location" (what
/// `co_positions()` reports as all `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Location {
    pub line: Option<i32>,
    pub end_line: Option<i32>,
    pub col: Option<i32>,
    pub end_col: Option<i32>,
}

/// Decode to one location per code unit (`n_units` = len(co_code) / 2),
/// exactly as `co_positions()` reports them.
pub fn decode(
    linetable: &[u8],
    firstlineno: i32,
    n_units: usize,
) -> Result<Vec<Location>, RewriteError> {
    let _ = (linetable, firstlineno, n_units);
    unimplemented!()
}

/// Encode one location per instruction, given as (location, size in code
/// units including EXTENDED_ARG prefixes and caches), in code order, with the
/// exact entry choices CPython `version`'s assembler makes.
pub fn encode(version: PyVersion, firstlineno: i32, instrs: &[(Location, u32)]) -> Vec<u8> {
    let _ = (version, firstlineno, instrs);
    unimplemented!()
}
