//! `co_exceptiontable` codec (CPython 3.11-3.13; the format is the same in all
//! three).
//!
//! Layout (`Objects/exception_handling_notes.txt`, `assemble_exception_table`
//! in 3.11 `Python/compile.c` and 3.12+ `Python/assemble.c`): a sequence of
//! entries, each four big-endian varints (6 value bits a byte, bit 6 =
//! continuation, see [`crate::varint`]):
//!
//! ```text
//! start (code units)   first byte has bit 7 set: marks the entry start
//! size  (code units)   end = start + size, exclusive
//! target (code units)
//! (depth << 1) | lasti
//! ```
//!
//! CPython writes one entry per maximal run of consecutive instructions with
//! the same handler, in code order, so entries are sorted, disjoint and
//! non-empty; the interpreter's lookup (`get_exception_handler`) relies on
//! that and on bit 7 marking entry starts (it binary-searches large tables).
//! [`parse`] rejects tables that break those rules.

use crate::varint::{read_be_varint, write_be_varint};
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

fn bad(msg: String) -> RewriteError {
    RewriteError::BadExceptionTable(msg)
}

/// Parse `co_exceptiontable`.
///
/// Errors on truncated or overlong varints, a missing or misplaced entry-start
/// bit, empty entries, and entries that are out of order or overlap.
pub fn parse(bytes: &[u8]) -> Result<Vec<ExceptionTableEntry>, RewriteError> {
    const FIELDS: [&str; 4] = ["start", "size", "target", "depth/lasti"];
    let mut entries: Vec<ExceptionTableEntry> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let index = entries.len();
        let entry_offset = pos;
        let mut vals = [0u32; 4];
        for (field, val) in FIELDS.iter().zip(vals.iter_mut()) {
            let at = pos;
            let v = read_be_varint(bytes, &mut pos).map_err(|e| {
                bad(format!(
                    "entry {index} (byte {entry_offset}): {field} at byte {at}: {e}"
                ))
            })?;
            let want_start = *field == "start";
            if v.entry_start != want_start || v.later_msb {
                return Err(bad(format!(
                    "entry {index} (byte {entry_offset}): {field} at byte {at} {} the entry-start bit",
                    if want_start { "lacks" } else { "has" }
                )));
            }
            *val = v.value;
        }
        let [start, size, target, depth_lasti] = vals;
        if size == 0 {
            return Err(bad(format!("entry {index} (byte {entry_offset}) is empty")));
        }
        let end = start.checked_add(size).ok_or_else(|| {
            bad(format!(
                "entry {index} (byte {entry_offset}): start {start} + size {size} overflows"
            ))
        })?;
        if let Some(prev) = entries.last() {
            if start < prev.end {
                return Err(bad(format!(
                    "entry {index} (byte {entry_offset}) starts at unit {start}, inside or \
                     before the previous entry (units {}..{})",
                    prev.start, prev.end
                )));
            }
        }
        entries.push(ExceptionTableEntry {
            start,
            end,
            target,
            depth: depth_lasti >> 1,
            lasti: depth_lasti & 1 != 0,
        });
    }
    Ok(entries)
}

/// Encode entries exactly as CPython's assembler would.
///
/// CPython emits entries in the order given (its own are sorted and
/// disjoint, one per maximal run of instructions with the same handler; this
/// function does not merge or sort). Every entry must have `end > start`
/// and `depth < 2**31`.
pub fn encode(entries: &[ExceptionTableEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 4);
    for e in entries {
        debug_assert!(e.end > e.start, "empty exception table entry {e:?}");
        debug_assert!(e.depth < 1 << 31, "depth too large in {e:?}");
        write_be_varint(&mut out, e.start, true);
        write_be_varint(&mut out, e.end.wrapping_sub(e.start), false);
        write_be_varint(&mut out, e.target, false);
        write_be_varint(&mut out, (e.depth << 1) | u32::from(e.lasti), false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start: u32, end: u32, target: u32, depth: u32, lasti: bool) -> ExceptionTableEntry {
        ExceptionTableEntry {
            start,
            end,
            target,
            depth,
            lasti,
        }
    }

    #[test]
    fn round_trip_small_and_large() {
        let entries = vec![
            entry(0, 3, 10, 0, false),
            entry(3, 70, 5000, 1, true),
            entry(100, 100_000, 1 << 20, 40, false),
        ];
        let bytes = encode(&entries);
        assert_eq!(bytes[..4], [0x80, 0x03, 0x0a, 0x00]);
        assert_eq!(parse(&bytes).unwrap(), entries);
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse(&[0x80, 0x03, 0x0a]).is_err()); // truncated
        assert!(parse(&[0x00, 0x03, 0x0a, 0x00]).is_err()); // no start bit
        assert!(parse(&[0x80, 0x83, 0x0a, 0x00]).is_err()); // start bit inside
        assert!(parse(&[0x80, 0x00, 0x0a, 0x00]).is_err()); // empty
        let overlapping = encode(&[entry(0, 4, 9, 0, false), entry(2, 6, 9, 0, false)]);
        assert!(parse(&overlapping).is_err());
        assert_eq!(parse(&[]).unwrap(), vec![]);
    }
}
