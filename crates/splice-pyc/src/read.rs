//! One pass over marshalled bytes: where every back-referenced object and
//! every code object starts. Each `TYPE_*` constant is CPython's
//! (`Python/marshal.c`); an object's first byte is its type code, with
//! `FLAG_REF` set when later objects may refer back to it.

use std::ops::Range;

use crate::MarshalError;

pub(crate) const FLAG_REF: u8 = 0x80;
pub(crate) const TYPE_NULL: u8 = b'0';
pub(crate) const TYPE_NONE: u8 = b'N';
pub(crate) const TYPE_FALSE: u8 = b'F';
pub(crate) const TYPE_TRUE: u8 = b'T';
pub(crate) const TYPE_STOPITER: u8 = b'S';
pub(crate) const TYPE_ELLIPSIS: u8 = b'.';
pub(crate) const TYPE_INT: u8 = b'i';
pub(crate) const TYPE_INT64: u8 = b'I';
pub(crate) const TYPE_FLOAT: u8 = b'f';
pub(crate) const TYPE_BINARY_FLOAT: u8 = b'g';
pub(crate) const TYPE_COMPLEX: u8 = b'x';
pub(crate) const TYPE_BINARY_COMPLEX: u8 = b'y';
pub(crate) const TYPE_LONG: u8 = b'l';
pub(crate) const TYPE_STRING: u8 = b's';
pub(crate) const TYPE_INTERNED: u8 = b't';
pub(crate) const TYPE_REF: u8 = b'r';
pub(crate) const TYPE_TUPLE: u8 = b'(';
pub(crate) const TYPE_SMALL_TUPLE: u8 = b')';
pub(crate) const TYPE_LIST: u8 = b'[';
pub(crate) const TYPE_DICT: u8 = b'{';
pub(crate) const TYPE_CODE: u8 = b'c';
pub(crate) const TYPE_UNICODE: u8 = b'u';
pub(crate) const TYPE_SET: u8 = b'<';
pub(crate) const TYPE_FROZENSET: u8 = b'>';
pub(crate) const TYPE_SLICE: u8 = b':';
pub(crate) const TYPE_ASCII: u8 = b'a';
pub(crate) const TYPE_ASCII_INTERNED: u8 = b'A';
pub(crate) const TYPE_SHORT_ASCII: u8 = b'z';
pub(crate) const TYPE_SHORT_ASCII_INTERNED: u8 = b'Z';

/// How deep objects may nest. CPython reads up to 2,000 levels; real code
/// nests a few dozen (module, class, function, nested function, their
/// constant tuples). Deeper data is an error (the caller unmarshals with
/// CPython instead), and the recursion stays far from a small thread
/// stack's end.
pub const MAX_DEPTH: usize = 200;

/// The four little-endian 32-bit fields a code object starts with:
/// argument count, positional-only and keyword-only argument counts, stack
/// size, flags (`co_argcount` .. `co_flags`; the same in 3.11-3.15).
pub(crate) const CODE_HEADER: usize = 20;

/// A code object found in the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeAt {
    /// Offset of its type byte.
    pub at: usize,
    /// `co_firstlineno`.
    pub first_line: u32,
    /// `co_name`'s UTF-8 bytes, as a range of the data.
    pub name: Range<usize>,
    /// `co_qualname`'s UTF-8 bytes, as a range of the data.
    pub qualname: Range<usize>,
}

/// Marshalled bytes and what one pass over them found.
#[derive(Debug, Clone)]
pub struct Marshalled {
    pub(crate) data: Vec<u8>,
    /// Offset of each object with `FLAG_REF`, in the order references
    /// number them (the order the objects start in: CPython reserves a
    /// container's slot before reading what it holds).
    pub(crate) refs: Vec<usize>,
    codes: Vec<CodeAt>,
}

impl Marshalled {
    /// Walk `data`, which must hold exactly one marshalled object.
    pub fn read(data: Vec<u8>) -> Result<Self, MarshalError> {
        // Sized from the data's length (stdlib .pyc files hold a code object
        // per ~700 bytes): the vectors then grow a few times at most, not a
        // dozen times, each a copy on cold memory at a first probe.
        let mut walk = Walk {
            data: &data,
            refs: Vec::with_capacity(data.len() / 16),
            codes: Vec::with_capacity(data.len() / 512),
        };
        let end = walk.object(0, 0)?;
        if end != data.len() {
            return Err(MarshalError::Trailing {
                extra: data.len() - end,
            });
        }
        let (refs, codes) = (walk.refs, walk.codes);
        Ok(Marshalled { data, refs, codes })
    }

    /// Every code object in the data, inner ones before the one holding them.
    pub fn codes(&self) -> &[CodeAt] {
        &self.codes
    }

    /// The code objects with this first line, name and qualified name.
    pub fn find<'a>(
        &'a self,
        first_line: u32,
        name: &'a [u8],
        qualname: &'a [u8],
    ) -> impl Iterator<Item = &'a CodeAt> + 'a {
        self.codes.iter().filter(move |c| {
            c.first_line == first_line
                && &self.data[c.name.clone()] == name
                && &self.data[c.qualname.clone()] == qualname
        })
    }

    /// The top-level object, when it is a code object.
    pub fn root_code(&self) -> Option<&CodeAt> {
        self.codes.last().filter(|c| c.at == 0)
    }

    /// The bytes of a name range of [`CodeAt`].
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.data[range]
    }

    /// Where the object at `at` starts once a reference is followed, and
    /// where the object written at `at` ends if it is a reference (a
    /// reference's own five bytes, not its target's extent).
    pub(crate) fn deref(&self, at: usize) -> Result<(usize, Option<usize>), MarshalError> {
        let code = byte(&self.data, at)?;
        if code & !FLAG_REF != TYPE_REF {
            return Ok((at, None));
        }
        let index = u32_at(&self.data, at + 1)?;
        let target = *self
            .refs
            .get(index as usize)
            .ok_or(MarshalError::BadRef { index, at })?;
        Ok((target, Some(at + 5)))
    }

    /// Where the object at `at` ends.
    pub(crate) fn skip(&self, at: usize) -> Result<usize, MarshalError> {
        let mut walk = Skip {
            data: &self.data,
            refs: self.refs.len(),
        };
        walk.object(at, 0)
    }
}

/// A sink for what a walk finds: the first pass records, later skips do not.
trait Visit {
    fn data(&self) -> &[u8];
    fn flagged(&mut self, at: usize);
    /// Whether a reference index names an object read before.
    fn known(&self, index: u32) -> bool;
    fn code(&mut self, code: CodeAt);

    /// Read the object at `at`; returns where it ends.
    fn object(&mut self, at: usize, depth: usize) -> Result<usize, MarshalError> {
        if depth > MAX_DEPTH {
            return Err(MarshalError::TooDeep {
                limit: MAX_DEPTH,
                at,
            });
        }
        let code = byte(self.data(), at)?;
        if code & FLAG_REF != 0 {
            self.flagged(at);
        }
        let body = at + 1;
        let ty = code & !FLAG_REF;
        match ty {
            TYPE_NULL | TYPE_NONE | TYPE_FALSE | TYPE_TRUE | TYPE_STOPITER | TYPE_ELLIPSIS => {
                Ok(body)
            }
            TYPE_INT => end_of(self.data(), body, 4),
            TYPE_INT64 | TYPE_BINARY_FLOAT => end_of(self.data(), body, 8),
            TYPE_BINARY_COMPLEX => end_of(self.data(), body, 16),
            TYPE_FLOAT => short_string_end(self.data(), body),
            TYPE_COMPLEX => short_string_end(self.data(), short_string_end(self.data(), body)?),
            TYPE_LONG => {
                let digits = u32_at(self.data(), body)? as i32;
                end_of(self.data(), body + 4, 2 * digits.unsigned_abs() as usize)
            }
            TYPE_STRING
            | TYPE_UNICODE
            | TYPE_INTERNED
            | TYPE_ASCII
            | TYPE_ASCII_INTERNED
            | TYPE_SHORT_ASCII
            | TYPE_SHORT_ASCII_INTERNED => Ok(string_range(self.data(), at)?.end),
            TYPE_TUPLE | TYPE_LIST | TYPE_SET | TYPE_FROZENSET => {
                let n = u32_at(self.data(), body)?;
                self.objects(body + 4, n as usize, depth)
            }
            TYPE_SMALL_TUPLE => {
                let n = byte(self.data(), body)?;
                self.objects(body + 1, n as usize, depth)
            }
            TYPE_DICT => {
                let mut pos = body;
                while byte(self.data(), pos)? & !FLAG_REF != TYPE_NULL {
                    pos = self.object(pos, depth + 1)?;
                    pos = self.object(pos, depth + 1)?;
                }
                Ok(pos + 1)
            }
            TYPE_SLICE => self.objects(body, 3, depth),
            TYPE_REF => {
                let index = u32_at(self.data(), body)?;
                if !self.known(index) {
                    return Err(MarshalError::BadRef { index, at });
                }
                Ok(body + 4)
            }
            TYPE_CODE => self.code_object(at, depth),
            _ => Err(MarshalError::UnknownType { code, at }),
        }
    }

    fn objects(&mut self, mut pos: usize, n: usize, depth: usize) -> Result<usize, MarshalError> {
        for _ in 0..n {
            pos = self.object(pos, depth + 1)?;
        }
        Ok(pos)
    }

    /// A code object: the fixed header, then bytecode, constants, names,
    /// local names, local kinds, file name, name, qualified name, first
    /// line (a 32-bit field), line table, exception table.
    fn code_object(&mut self, at: usize, depth: usize) -> Result<usize, MarshalError> {
        let pos = end_of(self.data(), at + 1, CODE_HEADER)?;
        let pos = self.objects(pos, 6, depth)?; // co_code .. co_filename
        let name_at = pos;
        let pos = self.object(pos, depth + 1)?;
        let qualname_at = pos;
        let pos = self.object(pos, depth + 1)?;
        let first_line = u32_at(self.data(), pos)?;
        let end = self.objects(pos + 4, 2, depth)?;
        let name = self.string_content(name_at)?;
        let qualname = self.string_content(qualname_at)?;
        self.code(CodeAt {
            at,
            first_line,
            name,
            qualname,
        });
        Ok(end)
    }

    /// The content bytes of the string at `at`, following a reference.
    fn string_content(&self, at: usize) -> Result<Range<usize>, MarshalError>;
}

/// The first pass: records references and code objects.
struct Walk<'a> {
    data: &'a [u8],
    refs: Vec<usize>,
    codes: Vec<CodeAt>,
}

impl Visit for Walk<'_> {
    fn data(&self) -> &[u8] {
        self.data
    }
    fn flagged(&mut self, at: usize) {
        self.refs.push(at);
    }
    fn known(&self, index: u32) -> bool {
        (index as usize) < self.refs.len()
    }
    fn code(&mut self, code: CodeAt) {
        self.codes.push(code);
    }
    fn string_content(&self, at: usize) -> Result<Range<usize>, MarshalError> {
        let target = if byte(self.data, at)? & !FLAG_REF == TYPE_REF {
            let index = u32_at(self.data, at + 1)?;
            *self
                .refs
                .get(index as usize)
                .ok_or(MarshalError::BadRef { index, at })?
        } else {
            at
        };
        match byte(self.data, target)? & !FLAG_REF {
            TYPE_STRING => Err(MarshalError::NotAString { at: target }),
            _ => string_range(self.data, target),
        }
    }
}

/// A later walk over data already read: only extents.
struct Skip<'a> {
    data: &'a [u8],
    refs: usize,
}

impl Visit for Skip<'_> {
    fn data(&self) -> &[u8] {
        self.data
    }
    fn flagged(&mut self, _at: usize) {}
    fn known(&self, index: u32) -> bool {
        (index as usize) < self.refs
    }
    fn code(&mut self, _code: CodeAt) {}
    fn string_content(&self, _at: usize) -> Result<Range<usize>, MarshalError> {
        Ok(0..0)
    }
}

pub(crate) fn byte(data: &[u8], at: usize) -> Result<u8, MarshalError> {
    data.get(at).copied().ok_or(MarshalError::Truncated { at })
}

pub(crate) fn u32_at(data: &[u8], at: usize) -> Result<u32, MarshalError> {
    let bytes = data
        .get(at..at + 4)
        .ok_or(MarshalError::Truncated { at: data.len() })?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// `at + n`, when the data has `n` bytes at `at`.
pub(crate) fn end_of(data: &[u8], at: usize, n: usize) -> Result<usize, MarshalError> {
    let end = at.checked_add(n).ok_or(MarshalError::Truncated { at })?;
    if end > data.len() {
        return Err(MarshalError::Truncated { at: data.len() });
    }
    Ok(end)
}

/// The end of a string with a one-byte length at `at` (old float format).
fn short_string_end(data: &[u8], at: usize) -> Result<usize, MarshalError> {
    let n = byte(data, at)?;
    end_of(data, at + 1, n as usize)
}

/// The content of the `str` or `bytes` object whose type byte is at `at`
/// (the UTF-8 of a `str` in every storage form; a `bytes` object's bytes).
pub(crate) fn string_range(data: &[u8], at: usize) -> Result<Range<usize>, MarshalError> {
    let code = byte(data, at)?;
    let (start, n) = match code & !FLAG_REF {
        TYPE_SHORT_ASCII | TYPE_SHORT_ASCII_INTERNED => (at + 2, byte(data, at + 1)? as usize),
        TYPE_STRING | TYPE_UNICODE | TYPE_INTERNED | TYPE_ASCII | TYPE_ASCII_INTERNED => {
            (at + 5, u32_at(data, at + 1)? as usize)
        }
        _ => return Err(MarshalError::NotAString { at }),
    };
    Ok(start..end_of(data, start, n)?)
}
