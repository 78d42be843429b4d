//! Whether two marshalled objects are the same object (see the crate docs
//! for what the comparison ignores). Both sides are walked in step; a
//! reference is followed to the object it names, and the walk then goes on
//! after the reference's own five bytes.

use crate::read::*;
use crate::{MarshalError, Marshalled};

/// Where two equal objects end, in each side's data; None if they differ.
type Ends = Option<(usize, usize)>;

impl Marshalled {
    /// Whether the object at `at` here and the one at `other_at` in `other`
    /// unmarshal to equal objects of the same types (a code object's file
    /// name aside).
    pub fn same(
        &self,
        at: usize,
        other: &Marshalled,
        other_at: usize,
    ) -> Result<bool, MarshalError> {
        Ok(Pair { a: self, b: other }
            .object(at, other_at, 0)?
            .is_some())
    }
}

/// Storage forms of one kind of object.
fn kind(ty: u8) -> u8 {
    match ty {
        TYPE_UNICODE
        | TYPE_INTERNED
        | TYPE_ASCII
        | TYPE_ASCII_INTERNED
        | TYPE_SHORT_ASCII
        | TYPE_SHORT_ASCII_INTERNED => TYPE_UNICODE,
        TYPE_SMALL_TUPLE => TYPE_TUPLE,
        other => other,
    }
}

struct Pair<'a> {
    a: &'a Marshalled,
    b: &'a Marshalled,
}

impl Pair<'_> {
    fn object(&self, at_a: usize, at_b: usize, depth: usize) -> Result<Ends, MarshalError> {
        if depth > MAX_DEPTH {
            return Err(MarshalError::TooDeep {
                limit: MAX_DEPTH,
                at: at_a,
            });
        }
        let (ta, ref_end_a) = self.a.deref(at_a)?;
        let (tb, ref_end_b) = self.b.deref(at_b)?;
        Ok(self
            .target(ta, tb, depth)?
            .map(|(ea, eb)| (ref_end_a.unwrap_or(ea), ref_end_b.unwrap_or(eb))))
    }

    /// Two objects that are not references.
    fn target(&self, at_a: usize, at_b: usize, depth: usize) -> Result<Ends, MarshalError> {
        let (da, db) = (&self.a.data, &self.b.data);
        let ty = byte(da, at_a)? & !FLAG_REF;
        if kind(ty) != kind(byte(db, at_b)? & !FLAG_REF) {
            return Ok(None);
        }
        let (ba, bb) = (at_a + 1, at_b + 1);
        match kind(ty) {
            TYPE_UNICODE | TYPE_STRING => {
                let (ra, rb) = (string_range(da, at_a)?, string_range(db, at_b)?);
                Ok((da[ra.clone()] == db[rb.clone()]).then_some((ra.end, rb.end)))
            }
            TYPE_TUPLE | TYPE_LIST => {
                let (na, pa) = self.a.count(at_a)?;
                let (nb, pb) = self.b.count(at_b)?;
                if na != nb {
                    return Ok(None);
                }
                self.sequence(pa, pb, na, depth)
            }
            TYPE_SET | TYPE_FROZENSET => self.set(ba, bb, depth),
            TYPE_DICT => {
                let (mut pa, mut pb) = (ba, bb);
                loop {
                    let end_a = byte(da, pa)? & !FLAG_REF == TYPE_NULL;
                    let end_b = byte(db, pb)? & !FLAG_REF == TYPE_NULL;
                    if end_a || end_b {
                        return Ok((end_a && end_b).then_some((pa + 1, pb + 1)));
                    }
                    match self.sequence(pa, pb, 2, depth)? {
                        Some((na, nb)) => (pa, pb) = (na, nb),
                        None => return Ok(None),
                    }
                }
            }
            TYPE_SLICE => self.sequence(ba, bb, 3, depth),
            TYPE_CODE => self.code(ba, bb, depth),
            // Everything else is its bytes: numbers and singletons.
            _ => {
                let (ea, eb) = (self.a.skip(at_a)?, self.b.skip(at_b)?);
                Ok((da[ba..ea] == db[bb..eb]).then_some((ea, eb)))
            }
        }
    }

    /// `n` objects in a row on each side.
    fn sequence(
        &self,
        mut pa: usize,
        mut pb: usize,
        n: usize,
        depth: usize,
    ) -> Result<Ends, MarshalError> {
        for _ in 0..n {
            match self.object(pa, pb, depth + 1)? {
                Some((na, nb)) => (pa, pb) = (na, nb),
                None => return Ok(None),
            }
        }
        Ok(Some((pa, pb)))
    }

    /// A set's elements, in any order on either side (a set of strings is
    /// written in hash order, which differs from process to process).
    fn set(&self, ba: usize, bb: usize, depth: usize) -> Result<Ends, MarshalError> {
        let elements_a = self.a.elements(ba)?;
        let elements_b = self.b.elements(bb)?;
        if elements_a.len() != elements_b.len() {
            return Ok(None);
        }
        let mut used = vec![false; elements_b.len()];
        for &ea in &elements_a {
            let mut found = false;
            for (j, &eb) in elements_b.iter().enumerate() {
                if !used[j] && self.object(ea, eb, depth + 1)?.is_some() {
                    used[j] = true;
                    found = true;
                    break;
                }
            }
            if !found {
                return Ok(None);
            }
        }
        let end_a = match elements_a.last() {
            Some(&last) => self.a.skip(last)?,
            None => ba + 4,
        };
        let end_b = match elements_b.last() {
            Some(&last) => self.b.skip(last)?,
            None => bb + 4,
        };
        Ok(Some((end_a, end_b)))
    }

    /// Two code objects' fields after the type byte. The fields CPython's
    /// code object `==` ignores are skipped, not compared: the stack size,
    /// the local kinds (3.14's `code.replace()` drops their argument bits)
    /// and the file name (the import system rewrites it).
    fn code(&self, ba: usize, bb: usize, depth: usize) -> Result<Ends, MarshalError> {
        let (da, db) = (&self.a.data, &self.b.data);
        let (ha, hb) = (end_of(da, ba, CODE_HEADER)?, end_of(db, bb, CODE_HEADER)?);
        // argument counts, then (after the stack size) the flags
        if da[ba..ba + 12] != db[bb..bb + 12] || da[ba + 16..ha] != db[bb + 16..hb] {
            return Ok(None);
        }
        // co_code, co_consts, co_names, co_localsplusnames
        let Some((pa, pb)) = self.sequence(ha, hb, 4, depth)? else {
            return Ok(None);
        };
        let (pa, pb) = (self.a.skip(pa)?, self.b.skip(pb)?); // co_localspluskinds
        let (pa, pb) = (self.a.skip(pa)?, self.b.skip(pb)?); // co_filename
                                                             // co_name, co_qualname
        let Some((pa, pb)) = self.sequence(pa, pb, 2, depth)? else {
            return Ok(None);
        };
        if u32_at(da, pa)? != u32_at(db, pb)? {
            return Ok(None); // co_firstlineno
        }
        // co_linetable, co_exceptiontable
        self.sequence(pa + 4, pb + 4, 2, depth)
    }
}

impl Marshalled {
    /// A tuple's or list's length and where its first element starts.
    fn count(&self, at: usize) -> Result<(usize, usize), MarshalError> {
        if byte(&self.data, at)? & !FLAG_REF == TYPE_SMALL_TUPLE {
            Ok((byte(&self.data, at + 1)? as usize, at + 2))
        } else {
            Ok((u32_at(&self.data, at + 1)? as usize, at + 5))
        }
    }

    /// Where each element of the set whose length field is at `body` starts.
    fn elements(&self, body: usize) -> Result<Vec<usize>, MarshalError> {
        let n = u32_at(&self.data, body)? as usize;
        let mut starts = Vec::with_capacity(n.min(self.data.len()));
        let mut pos = body + 4;
        for _ in 0..n {
            starts.push(pos);
            pos = self.skip(pos)?;
        }
        Ok(starts)
    }
}
