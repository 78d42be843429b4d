//! Why marshalled bytes could not be read.

use thiserror::Error;

/// The bytes are not marshal data this reader understands. Callers fall
/// back to CPython's own `marshal.loads`, which knows every format its
/// interpreter writes; this reader knows versions 4 and 5 (CPython 3.11-3.15).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MarshalError {
    /// The data ends inside an object.
    #[error("marshal data ends at byte {at}, inside an object")]
    Truncated { at: usize },

    /// A type code this reader does not know (a newer marshal version).
    #[error("unknown marshal type code {code:#04x} at byte {at}")]
    UnknownType { code: u8, at: usize },

    /// A back-reference to an object not read yet.
    #[error("reference {index} at byte {at} names no object read before it")]
    BadRef { index: u32, at: usize },

    /// Objects nested deeper than the reader follows.
    #[error("objects nested more than {limit} deep at byte {at}")]
    TooDeep { limit: usize, at: usize },

    /// Bytes left over after the one top-level object.
    #[error("{extra} bytes after the end of the marshalled object")]
    Trailing { extra: usize },

    /// Where a string was expected (a code object's name), something else.
    #[error("expected a string at byte {at}")]
    NotAString { at: usize },

    /// The top-level object is not a code object.
    #[error("the marshalled object is not a code object")]
    NotCode,
}
