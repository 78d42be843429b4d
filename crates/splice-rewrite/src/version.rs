//! The CPython versions whose bytecode this crate understands.

use std::fmt;

/// A supported CPython minor version. Bytecode differs between every pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PyVersion {
    V311,
    V312,
    V313,
    V314,
    V315,
}

impl PyVersion {
    /// All supported versions, oldest first.
    pub const ALL: [PyVersion; 5] = [
        PyVersion::V311,
        PyVersion::V312,
        PyVersion::V313,
        PyVersion::V314,
        PyVersion::V315,
    ];

    /// The version for `3.minor`, or `None` when that version is unsupported.
    pub fn from_minor(minor: u32) -> Option<Self> {
        match minor {
            11 => Some(PyVersion::V311),
            12 => Some(PyVersion::V312),
            13 => Some(PyVersion::V313),
            14 => Some(PyVersion::V314),
            15 => Some(PyVersion::V315),
            _ => None,
        }
    }

    /// The supported versions as text, for messages: "3.11, 3.12 and 3.13".
    pub fn supported_list() -> String {
        let all: Vec<String> = Self::ALL.iter().map(|v| v.to_string()).collect();
        match all.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => all.join(""),
        }
    }

    /// The minor version number (11 to 15).
    pub fn minor(self) -> u32 {
        match self {
            PyVersion::V311 => 11,
            PyVersion::V312 => 12,
            PyVersion::V313 => 13,
            PyVersion::V314 => 14,
            PyVersion::V315 => 15,
        }
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "3.{}", self.minor())
    }
}
