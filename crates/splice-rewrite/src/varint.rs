//! Variable-length integers used by `co_linetable` (little-endian 6-bit
//! chunks) and `co_exceptiontable` (big-endian 6-bit chunks).
//!
//! Both formats store 6 value bits per byte with bit 6 (`0x40`) meaning "more
//! bytes follow"; bit 7 (`0x80`) is reserved for marking the first byte of a
//! table entry, which the table codecs handle.
//!
//! - Location table (`Objects/locations.md`, `write_varint` /
//!   `write_signed_varint` in `Include/internal/pycore_code.h`): least
//!   significant chunk first. Signed values are mapped to unsigned as
//!   `(-v << 1) | 1` for negative `v` and `v << 1` otherwise. The arithmetic is
//!   32-bit and wrapping, exactly as in C, so that whatever CPython's release
//!   build writes is what these functions write and read back.
//! - Exception table (`Objects/exception_handling_notes.txt`,
//!   `assemble_emit_exception_table_item`): most significant chunk first.

use std::fmt;

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes ended while a continuation bit was set (or before the value).
    Truncated,
    /// More chunks than fit in 32 bits.
    TooLong,
}

impl fmt::Display for VarintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarintError::Truncated => f.write_str("varint runs past the end of the table"),
            VarintError::TooLong => f.write_str("varint does not fit in 32 bits"),
        }
    }
}

/// Bit 6: another chunk follows.
pub const CONTINUATION: u8 = 0x40;
/// Bit 7: first byte of a table entry.
pub const ENTRY_START: u8 = 0x80;

/// A chunk count beyond which a 32-bit value cannot have more bits (6 chunks
/// hold 36 bits).
const MAX_CHUNKS: usize = 6;

/// Append `val` as a little-endian varint (location table).
pub fn write_varint(out: &mut Vec<u8>, mut val: u32) {
    while val >= 64 {
        out.push(CONTINUATION | (val & 63) as u8);
        val >>= 6;
    }
    out.push(val as u8);
}

/// Map a signed value to the unsigned form stored in the location table,
/// with CPython's 32-bit wrapping arithmetic.
pub fn zigzag(val: i32) -> u32 {
    if val < 0 {
        (val.wrapping_neg() as u32).wrapping_shl(1) | 1
    } else {
        (val as u32) << 1
    }
}

/// Inverse of [`zigzag`].
pub fn unzigzag(uval: u32) -> i32 {
    if uval & 1 != 0 {
        ((uval >> 1) as i32).wrapping_neg()
    } else {
        (uval >> 1) as i32
    }
}

/// Append `val` as a signed little-endian varint (location table).
pub fn write_signed_varint(out: &mut Vec<u8>, val: i32) {
    write_varint(out, zigzag(val));
}

/// Read a little-endian varint at `*pos`, advancing `*pos` past it. Bit 7 of
/// the bytes is ignored, as CPython's reader ignores it.
pub fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u32, VarintError> {
    let mut val: u64 = 0;
    let mut shift = 0u32;
    for chunk in 0.. {
        if chunk == MAX_CHUNKS {
            return Err(VarintError::TooLong);
        }
        let b = *bytes.get(*pos).ok_or(VarintError::Truncated)?;
        *pos += 1;
        val |= u64::from(b & 63) << shift;
        shift += 6;
        if b & CONTINUATION == 0 {
            break;
        }
    }
    u32::try_from(val).map_err(|_| VarintError::TooLong)
}

/// Read a signed little-endian varint at `*pos` (location table).
pub fn read_signed_varint(bytes: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    read_varint(bytes, pos).map(unzigzag)
}

/// Append `val` as a big-endian varint (exception table), setting bit 7 on
/// its first byte when `entry_start` is true. For values below 2**30 (all
/// that CPython's assembler accepts) the bytes are exactly CPython's.
pub fn write_be_varint(out: &mut Vec<u8>, val: u32, entry_start: bool) {
    let mut msb = if entry_start { ENTRY_START } else { 0 };
    // Number of 6-bit chunks: at least one.
    let bits = 32 - val.leading_zeros();
    let chunks = bits.div_ceil(6).max(1);
    for i in (1..chunks).rev() {
        out.push(((val >> (6 * i)) & 63) as u8 | CONTINUATION | msb);
        msb = 0;
    }
    out.push((val & 63) as u8 | msb);
}

/// Read a big-endian varint at `*pos` (exception table), advancing `*pos`.
/// Returns the value and whether bit 7 was set on its first byte. Bit 7 of the
/// following bytes is reported through `later_msb` being true.
pub fn read_be_varint(bytes: &[u8], pos: &mut usize) -> Result<BeVarint, VarintError> {
    let first = *bytes.get(*pos).ok_or(VarintError::Truncated)?;
    *pos += 1;
    let mut val = u64::from(first & 63);
    let mut b = first;
    let mut later_msb = false;
    let mut chunks = 1;
    while b & CONTINUATION != 0 {
        if chunks == MAX_CHUNKS {
            return Err(VarintError::TooLong);
        }
        b = *bytes.get(*pos).ok_or(VarintError::Truncated)?;
        *pos += 1;
        later_msb |= b & ENTRY_START != 0;
        val = (val << 6) | u64::from(b & 63);
        chunks += 1;
    }
    Ok(BeVarint {
        value: u32::try_from(val).map_err(|_| VarintError::TooLong)?,
        entry_start: first & ENTRY_START != 0,
        later_msb,
    })
}

/// A big-endian varint as read from the exception table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeVarint {
    pub value: u32,
    /// Bit 7 was set on the first byte.
    pub entry_start: bool,
    /// Bit 7 was set on a continuation byte (never written by CPython).
    pub later_msb: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_examples_from_locations_md() {
        let mut v = Vec::new();
        write_varint(&mut v, 63);
        assert_eq!(v, [0x3f]);
        v.clear();
        write_varint(&mut v, 200);
        assert_eq!(v, [0x48, 0x03]);
        let mut pos = 0;
        assert_eq!(read_varint(&v, &mut pos), Ok(200));
        assert_eq!(pos, 2);
    }

    #[test]
    fn signed_round_trip() {
        for val in [
            0,
            1,
            -1,
            2,
            -2,
            63,
            -64,
            1 << 20,
            -(1 << 20),
            i32::MAX,
            i32::MIN + 1,
        ] {
            let mut v = Vec::new();
            write_signed_varint(&mut v, val);
            let mut pos = 0;
            assert_eq!(read_signed_varint(&v, &mut pos), Ok(val), "{val}");
            assert_eq!(pos, v.len());
        }
        // CPython: -1 -> 3, 1 -> 2.
        assert_eq!(zigzag(-1), 3);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn unsigned_round_trip_and_limits() {
        for val in [0, 1, 63, 64, 4095, 4096, 1 << 30, u32::MAX] {
            let mut v = Vec::new();
            write_varint(&mut v, val);
            let mut pos = 0;
            assert_eq!(read_varint(&v, &mut pos), Ok(val));
        }
        assert_eq!(read_varint(&[0x40], &mut 0), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x7f; 7], &mut 0), Err(VarintError::TooLong));
        // 6 chunks with bits beyond 32.
        assert_eq!(
            read_varint(&[0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f], &mut 0),
            Err(VarintError::TooLong)
        );
    }

    #[test]
    fn big_endian_matches_cpython() {
        let mut v = Vec::new();
        write_be_varint(&mut v, 0, true);
        assert_eq!(v, [0x80]);
        v.clear();
        write_be_varint(&mut v, 64, false);
        assert_eq!(v, [0x41, 0x00]);
        v.clear();
        write_be_varint(&mut v, 64, true);
        assert_eq!(v, [0xc1, 0x00]);
        for val in [
            0,
            5,
            63,
            64,
            4095,
            4096,
            (1 << 24) + 3,
            (1 << 30) - 1,
            u32::MAX,
        ] {
            for start in [false, true] {
                let mut v = Vec::new();
                write_be_varint(&mut v, val, start);
                let mut pos = 0;
                let r = read_be_varint(&v, &mut pos).unwrap();
                assert_eq!((r.value, r.entry_start, r.later_msb), (val, start, false));
                assert_eq!(pos, v.len());
            }
        }
        assert_eq!(read_be_varint(&[0xc1], &mut 0), Err(VarintError::Truncated));
    }
}
