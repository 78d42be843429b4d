//! splice-rewrite: a model of CPython 3.11-3.13 code objects that can be
//! decoded, edited and re-assembled without ever producing bytecode that could
//! crash the interpreter.
//!
//! Pure Rust: the bindings (`splice-py`) extract the raw fields of a code
//! object into [`RawCode`] and build a new code object from the [`RawCode`]
//! that [`assemble`] returns.
//!
//! One module per concern, in pipeline order:
//! - [`opcodes`]: per-version opcode tables (numbers, caches, operand kinds,
//!   jumps, stack effects);
//! - [`varint`], [`exceptiontable`], [`linetable`]: the byte formats of
//!   `co_exceptiontable` and `co_linetable`;
//! - [`model`]: instructions with labels, locations and exception handlers;
//! - [`decode`]: raw fields -> model;
//! - [`cfg`]: the control-flow graph (edges, predecessors, reachability,
//!   basic blocks, where nothing may be inserted) every analysis reads;
//! - [`assemble`]: model -> raw fields (jump offsets to a fixed point,
//!   EXTENDED_ARG sizing, caches, tables);
//! - [`stackdepth`], [`bound`], [`shadow`] and [`verify`]: the safety net run
//!   on every result;
//! - [`pad`]: a NOP at every line start (the assembler's torture test);
//! - [`probe`]: line probes and call capture spliced into a target;
//! - [`disasm`]: stable text for snapshots and `python -m splice show`.

pub mod assemble;
pub mod bound;
pub mod cfg;
pub mod decode;
pub mod disasm;
pub mod error;
pub mod exceptiontable;
pub mod linetable;
pub mod model;
pub mod opcodes;
pub mod pad;
pub mod probe;
pub mod raw;
pub mod shadow;
pub mod stackdepth;
pub mod varint;
pub mod verify;
pub mod version;

pub use assemble::assemble;
pub use decode::decode;
pub use error::{ErrorKind, RewriteError};
pub use model::{Code, Handler, Instr, Item, Label};
pub use raw::RawCode;
pub use version::PyVersion;
