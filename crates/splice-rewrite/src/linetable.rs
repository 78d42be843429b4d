//! `co_linetable` codec (PEP 626/657), CPython 3.11-3.13.
//!
//! # Format (`Objects/locations.md`)
//!
//! A sequence of entries. The first byte of an entry is
//! `0x80 | code << 3 | (length - 1)`, covering `length` (1..=8) code units;
//! the bytes that follow have bit 7 clear:
//!
//! | code  | form        | start line            | end line        | columns                        |
//! |-------|-------------|-----------------------|-----------------|--------------------------------|
//! | 0-9   | short       | previous              | = start         | 1 byte: `col = code*8 + (b>>4 & 7)`, `end = col + (b & 15)` |
//! | 10-12 | one line    | previous + (code-10)  | = start         | 2 bytes: col, end col          |
//! | 13    | no columns  | previous + svarint    | = start         | None, None                     |
//! | 14    | long        | previous + svarint    | start + varint  | varint - 1, varint - 1 (0 = None) |
//! | 15    | no location | None (previous kept)  | None            | None, None                     |
//!
//! "previous" starts at `co_firstlineno`; the no-location form leaves it
//! unchanged. Varints are little-endian 6-bit chunks ([`crate::varint`]).
//! `co_positions()` reports -1 as None (and only -1: a line computed as -3
//! is reported as -3).
//!
//! # What the assemblers write
//!
//! The entry chosen for one location (`write_location_info_entry`, identical
//! in 3.11 `Python/compile.c` and 3.12/3.13 `Python/assemble.c`), with None
//! read as -1 and `delta = line - previous`:
//!
//! 1. `line < 0`: no location (previous line unchanged);
//! 2. a column is negative and `end_line` is `line` or -1: no columns;
//! 3. columns set, `end_line == line`, `delta == 0`, `col < 80`,
//!    `0 <= end_col - col < 16`: short form (previous unchanged, delta 0);
//! 4. columns set, `end_line == line`, `0 <= delta < 3`, both columns < 128:
//!    one-line form;
//! 5. otherwise the long form (this includes a negative column with a
//!    different end line, and `end_line` None with columns set, which CPython
//!    writes with 32-bit wrapping arithmetic and reads back as None).
//!
//! A run of `size` code units is cut into entries of 8 units, then one of
//! the remaining `size % 8` (if any), all with the same location.
//!
//! The versions differ in what a run is:
//! - **3.11** (`assemble()` in `compile.c`: `assemble_emit_location(&a, instr)`
//!   per instruction): one run per *instruction*, so consecutive instructions
//!   with the same location still get separate entries;
//! - **3.12 / 3.13** (`assemble_location_info` in `assemble.c`): consecutive
//!   instructions with the same location (`same_location`, all four fields)
//!   are merged into one run before cutting into 8-unit entries.
//!
//! # What cannot be reproduced (3.12 / 3.13)
//!
//! The assembler compares the compiler's locations, which can differ while
//! decoding to the same [`Location`]: `(L, -1, -1, -1)`, `(L, L, -1, -1)` and
//! `(L, L, 5, -1)` are all written as the no-columns form and all decode to
//! `(L, L, None, None)`. Adjacent instructions with such locations get
//! separate entries in CPython's table (an entry shorter than 8 units
//! followed by one with the same location), while [`encode`], which only
//! sees decoded locations, merges them. The bytes then differ but describe
//! the same `co_positions()`. Only ASTs with partial positions handed to
//! `compile()` produce this; code compiled from source text did not, across
//! the standard library (see `tests/codecs.rs`). [`entries`] gives the
//! table's own entry boundaries: encoding those with the 3.11 policy always
//! reproduces the bytes.

use crate::varint::{read_signed_varint, read_varint, write_signed_varint, write_varint};
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

impl Location {
    /// No location: the `(None, None, None, None)` of `co_positions()`.
    pub const NONE: Location = Location {
        line: None,
        end_line: None,
        col: None,
        end_col: None,
    };

    /// A line without columns, as the no-columns form decodes.
    pub fn line_only(line: i32) -> Location {
        Location {
            line: Some(line),
            end_line: Some(line),
            col: None,
            end_col: None,
        }
    }

    /// The four fields as CPython's compiler holds them, None as -1.
    fn to_c(self) -> CLoc {
        let f = |v: Option<i32>| v.unwrap_or(-1);
        CLoc {
            line: f(self.line),
            end_line: f(self.end_line),
            col: f(self.col),
            end_col: f(self.end_col),
        }
    }

    /// As `co_positions()` reports C values: -1 (only) is None.
    fn from_c(c: CLoc) -> Location {
        let f = |v: i32| if v == -1 { None } else { Some(v) };
        Location {
            line: f(c.line),
            end_line: f(c.end_line),
            col: f(c.col),
            end_col: f(c.end_col),
        }
    }
}

/// Entry codes (`_PyCodeLocationInfoKind`).
pub mod code {
    pub const SHORT0: u8 = 0;
    pub const ONE_LINE0: u8 = 10;
    pub const ONE_LINE1: u8 = 11;
    pub const ONE_LINE2: u8 = 12;
    pub const NO_COLUMNS: u8 = 13;
    pub const LONG: u8 = 14;
    pub const NONE: u8 = 15;
}

/// Most code units one entry covers.
pub const MAX_ENTRY_UNITS: u32 = 8;

/// A location with CPython's `int` fields (-1 = absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CLoc {
    line: i32,
    end_line: i32,
    col: i32,
    end_col: i32,
}

const C_NO_LOCATION: CLoc = CLoc {
    line: -1,
    end_line: -1,
    col: -1,
    end_col: -1,
};

fn bad(msg: String) -> RewriteError {
    RewriteError::BadLineTable(msg)
}

/// Decode to one location per code unit (`n_units` = len(co_code) / 2),
/// exactly as `co_positions()` reports them.
///
/// Partial locations are kept as the table states them, so that [`encode`]
/// writes the same entries again: the no-columns form gives
/// `(line, line, None, None)`, the long form can give any field None
/// (a stored column 0 is None; an end line is None only when it computes to
/// -1), and the no-location form gives all None.
///
/// A table that covers fewer than `n_units` units is padded with
/// [`Location::NONE`] (what tracebacks report for such units); units past
/// `n_units` are ignored. Errors are those of [`entries`].
pub fn decode(
    linetable: &[u8],
    firstlineno: i32,
    n_units: usize,
) -> Result<Vec<Location>, RewriteError> {
    let mut out = Vec::with_capacity(n_units);
    for (loc, length) in entries(linetable, firstlineno)? {
        let take = (length as usize).min(n_units - out.len());
        out.extend(std::iter::repeat_n(loc, take));
    }
    out.resize(n_units, Location::NONE);
    Ok(out)
}

/// The table's entries in order, as (location, code units covered (1..=8)).
///
/// Encoding these with the 3.11 policy (`encode(PyVersion::V311, firstlineno,
/// &entries)`, which never merges) gives back the same bytes for any table
/// CPython writes. Errors: an entry not starting with bit 7 set, a later byte
/// of an entry with bit 7 set, a truncated entry, an overlong varint.
pub fn entries(linetable: &[u8], firstlineno: i32) -> Result<Vec<(Location, u32)>, RewriteError> {
    // at most one entry per byte: one allocation
    let mut out = Vec::with_capacity(linetable.len());
    let mut computed_line = firstlineno;
    let mut pos = 0;
    while pos < linetable.len() {
        let entry_at = pos;
        let first = linetable[pos];
        pos += 1;
        if first & 0x80 == 0 {
            return Err(bad(format!(
                "byte {entry_at} (0x{first:02x}) should start an entry but lacks bit 7"
            )));
        }
        let kind = (first >> 3) & 15;
        let length = u32::from(first & 7) + 1;
        let truncated = || bad(format!("entry at byte {entry_at} is truncated"));
        let varint_err = |e| bad(format!("entry at byte {entry_at}: {e}"));
        let c = match kind {
            code::NONE => C_NO_LOCATION,
            code::LONG => {
                computed_line = computed_line
                    .wrapping_add(read_signed_varint(linetable, &mut pos).map_err(varint_err)?);
                let end_delta = read_varint(linetable, &mut pos).map_err(varint_err)?;
                let col = read_varint(linetable, &mut pos).map_err(varint_err)?;
                let end_col = read_varint(linetable, &mut pos).map_err(varint_err)?;
                CLoc {
                    line: computed_line,
                    end_line: computed_line.wrapping_add(end_delta as i32),
                    col: (col as i32).wrapping_sub(1),
                    end_col: (end_col as i32).wrapping_sub(1),
                }
            }
            code::NO_COLUMNS => {
                computed_line = computed_line
                    .wrapping_add(read_signed_varint(linetable, &mut pos).map_err(varint_err)?);
                CLoc {
                    line: computed_line,
                    end_line: computed_line,
                    col: -1,
                    end_col: -1,
                }
            }
            code::ONE_LINE0 | code::ONE_LINE1 | code::ONE_LINE2 => {
                computed_line = computed_line.wrapping_add(i32::from(kind - code::ONE_LINE0));
                let bytes = linetable.get(pos..pos + 2).ok_or_else(truncated)?;
                pos += 2;
                CLoc {
                    line: computed_line,
                    end_line: computed_line,
                    col: i32::from(bytes[0]),
                    end_col: i32::from(bytes[1]),
                }
            }
            _ => {
                // Short forms 0-9 (and 10-15 are all handled above).
                let second = *linetable.get(pos).ok_or_else(truncated)?;
                pos += 1;
                let col = i32::from(kind) << 3 | i32::from(second >> 4);
                CLoc {
                    line: computed_line,
                    end_line: computed_line,
                    col,
                    end_col: col + i32::from(second & 15),
                }
            }
        };
        if let Some(off) = linetable[entry_at + 1..pos]
            .iter()
            .position(|b| b & 0x80 != 0)
        {
            return Err(bad(format!(
                "entry at byte {entry_at}: byte {} has bit 7 set inside the entry",
                entry_at + 1 + off
            )));
        }
        out.push((Location::from_c(c), length));
    }
    Ok(out)
}

/// Encode one location per instruction, given as (location, size in code
/// units including EXTENDED_ARG prefixes and caches), in code order, with the
/// exact entry choices CPython `version`'s assembler makes.
///
/// 3.11 writes the entries of each instruction separately; 3.12 and later
/// first merge consecutive instructions with equal locations (see the module
/// documentation). Instructions of size 0 write nothing.
pub fn encode(version: PyVersion, firstlineno: i32, instrs: &[(Location, u32)]) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::with_capacity(instrs.len() * 2),
        lineno: firstlineno,
    };
    match version {
        PyVersion::V311 => {
            for &(loc, size) in instrs {
                w.emit_run(loc.to_c(), size);
            }
        }
        _ => {
            let mut run = C_NO_LOCATION;
            let mut run_size: u32 = 0;
            for &(loc, size) in instrs {
                let c = loc.to_c();
                if c != run {
                    w.emit_run(run, run_size);
                    run = c;
                    run_size = 0;
                }
                run_size += size;
            }
            w.emit_run(run, run_size);
        }
    }
    w.out
}

/// CPython's `struct assembler` location state.
struct Writer {
    out: Vec<u8>,
    /// `a_lineno`: the line the next delta is taken from.
    lineno: i32,
}

impl Writer {
    /// `assemble_emit_location`: cut a run into entries of at most 8 units.
    fn emit_run(&mut self, loc: CLoc, mut size: u32) {
        while size > MAX_ENTRY_UNITS {
            self.entry(loc, MAX_ENTRY_UNITS);
            size -= MAX_ENTRY_UNITS;
        }
        if size > 0 {
            self.entry(loc, size);
        }
    }

    fn first_byte(&mut self, kind: u8, length: u32) {
        debug_assert!((1..=MAX_ENTRY_UNITS).contains(&length));
        self.out.push(0x80 | kind << 3 | (length - 1) as u8);
    }

    /// `write_location_info_entry`.
    fn entry(&mut self, loc: CLoc, length: u32) {
        if loc.line < 0 {
            self.first_byte(code::NONE, length);
            return;
        }
        let line_delta = loc.line.wrapping_sub(self.lineno);
        let (col, end_col) = (loc.col, loc.end_col);
        if col < 0 || end_col < 0 {
            if loc.end_line == loc.line || loc.end_line == -1 {
                self.first_byte(code::NO_COLUMNS, length);
                write_signed_varint(&mut self.out, line_delta);
                self.lineno = loc.line;
                return;
            }
        } else if loc.end_line == loc.line {
            if line_delta == 0 && col < 80 && end_col - col < 16 && end_col >= col {
                self.first_byte(code::SHORT0 + (col >> 3) as u8, length);
                self.out.push(((col & 7) << 4 | (end_col - col)) as u8);
                return;
            }
            if (0..3).contains(&line_delta) && col < 128 && end_col < 128 {
                self.first_byte(code::ONE_LINE0 + line_delta as u8, length);
                self.out.push(col as u8);
                self.out.push(end_col as u8);
                self.lineno = loc.line;
                return;
            }
        }
        self.first_byte(code::LONG, length);
        write_signed_varint(&mut self.out, line_delta);
        write_varint(&mut self.out, loc.end_line.wrapping_sub(loc.line) as u32);
        write_varint(&mut self.out, col.wrapping_add(1) as u32);
        write_varint(&mut self.out, end_col.wrapping_add(1) as u32);
        self.lineno = loc.line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(line: i32, end_line: i32, col: i32, end_col: i32) -> Location {
        Location::from_c(CLoc {
            line,
            end_line,
            col,
            end_col,
        })
    }

    /// Per code unit, the locations `instrs` describe.
    fn expand(instrs: &[(Location, u32)]) -> Vec<Location> {
        instrs
            .iter()
            .flat_map(|&(l, n)| std::iter::repeat_n(l, n as usize))
            .collect()
    }

    #[test]
    fn forms_round_trip() {
        let instrs = vec![
            (loc(1, 1, 0, 0), 1),         // RESUME-like: short form
            (loc(2, 2, 4, 9), 3),         // one-line +1
            (loc(2, 2, 4, 9), 3),         // same location again
            (loc(2, 2, 100, 120), 1),     // one-line +0 (col >= 80)
            (loc(1, 1, 0, 3), 1),         // negative delta: long
            (loc(400, 400, -1, -1), 2),   // no columns, big delta
            (Location::NONE, 1),          // no location
            (loc(400, 403, 5, 2), 11),    // multi-line long, > 8 units
            (loc(0, 1, 0, 0), 1),         // line 0
            (loc(3, 5, -1, -1), 1),       // no columns, multi-line: long
            (loc(3, 3, 300, 400), 1),     // far columns: long
            (loc(3, -1, 2, 4), 1),        // end line None with columns
            (Location::line_only(-7), 1), // negative line: no location
        ];
        for version in PyVersion::ALL {
            let bytes = encode(version, 1, &instrs);
            let decoded = decode(&bytes, 1, expand(&instrs).len()).unwrap();
            let mut want = expand(&instrs);
            // Negative lines are not representable: CPython writes no location.
            *want.last_mut().unwrap() = Location::NONE;
            assert_eq!(decoded, want, "{version}");
            let own = entries(&bytes, 1).unwrap();
            assert_eq!(encode(PyVersion::V311, 1, &own), bytes, "{version}");
            if version != PyVersion::V311 {
                let again: Vec<_> = decoded.iter().map(|&l| (l, 1)).collect();
                assert_eq!(encode(version, 1, &again), bytes, "{version}");
            }
        }
    }

    #[test]
    fn merging_differs_between_versions() {
        let l = loc(5, 5, 2, 6);
        let instrs = [(l, 3), (l, 3), (l, 3)];
        // 3.11: one entry per instruction.
        assert_eq!(
            encode(PyVersion::V311, 4, &instrs),
            [0xda, 0x02, 0x06, 0x82, 0x24, 0x82, 0x24]
        );
        // 3.12+: 9 units merged, cut into 8 + 1.
        assert_eq!(
            encode(PyVersion::V312, 4, &instrs),
            [0xdf, 0x02, 0x06, 0x80, 0x24]
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!(decode(&[0x00], 1, 1).is_err());
        assert!(decode(&[0xf0, 0x02], 1, 1).is_err());
        assert!(decode(&[0x80], 1, 1).is_err());
        assert!(decode(&[0xd0, 0x01, 0x82], 1, 1).is_err());
        // Short and long tables are padded / cut.
        assert_eq!(decode(&[], 1, 2).unwrap(), vec![Location::NONE; 2]);
        assert_eq!(decode(&[0xf9], 1, 1).unwrap(), vec![Location::NONE]);
    }
}
