//! splice-pyc: CPython's marshal format (the body of a `.pyc`), read
//! without building Python objects.
//!
//! splice proves that the source text on disk is the text a running code
//! object was compiled from by finding an equal code object in the module's
//! `.pyc` (whose header records the size and modification time of the file
//! it was compiled from). Unmarshalling the `.pyc` builds every code object,
//! string and constant of the module: 1 ms, on the first probe in a file,
//! for the 4,600 lines of transformers' `generation/utils.py`. This crate
//! walks the bytes once instead ([`Marshalled::read`]: where each
//! back-referenced object starts, where each code object starts and what it
//! is called) and compares one code object with another marshalled one,
//! byte range against byte range ([`Marshalled::same`]); the other one is
//! the running code object as `marshal.dumps` writes it.
//!
//! # What "the same" means
//!
//! Two marshalled objects are the same when they would unmarshal to equal
//! objects of the same types: the writer's choices that do not change the
//! object are ignored, and nothing else. Those choices are (CPython's
//! `Python/marshal.c`):
//!
//! - back-references: an object written before may be written again as a
//!   reference to it (`TYPE_REF`), and whether it is depends on reference
//!   counts at the time of writing, so the `.pyc` and a fresh dump differ
//!   there. References are followed on both sides.
//! - `FLAG_REF`, the bit that marks an object as a reference target.
//! - how a `str` is stored: interned or not, short or long, ASCII or UTF-8
//!   (the content bytes are the UTF-8 either way).
//! - a tuple's short or long length field.
//! - the order of a set's or frozenset's elements, which follows string
//!   hashes, randomised per process.
//!
//! A code object's fields are compared as CPython's code object `==`
//! compares them, plus the qualified name: argument counts, flags,
//! bytecode, constants, names, local names, name, qualified name, first
//! line, line table, exception table. Not compared, as `==` does not:
//! `co_filename` (the import system rewrites it when the `.pyc` was
//! written under another path), the stack size and the local kinds
//! (CPython 3.14's `code.replace()` drops the argument bits of the kinds).
//!
//! Anything unexpected (truncated data, an unknown type code from a newer
//! format, nesting deeper than [`MAX_DEPTH`]) is a [`MarshalError`], never
//! a panic: the caller then unmarshals with CPython.

mod compare;
mod error;
mod read;

pub use error::MarshalError;
pub use read::{CodeAt, Marshalled, MAX_DEPTH};
