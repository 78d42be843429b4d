//! splice-locate: line specs -> statement lines.
//!
//! Given the source text of a module (or notebook cell), a *scope* (one code
//! object, named the way CPython names it: `co_firstlineno` + `co_name`, or the
//! whole file) and a *line spec* (a line number, the text of a line, or
//! "entry"), find the lines where a probe can go: the first lines of
//! statements. Each result names the innermost code object that runs the
//! statement, so a probe on `Attention.forward` never lands in a helper nested
//! inside it. Anything else is a [`LocateError`] whose message says what the
//! line is and what would work ("line 12 has no code (it is blank); the nearest
//! statements start on lines 11 and 14").
//!
//! Pure Rust, no Python: the source is parsed with `ruff_python_parser`, which
//! reads Python 3.11-3.14 syntax (PEP 701 f-strings, PEP 750 t-strings, PEP
//! 758 `except` lists) and 3.15's lazy imports; 3.15's `case +0:` it flags
//! but recovers from, and the index accepts it (see `index.rs`).
//!
//! # What counts as a statement line
//!
//! The line a statement starts on is the `lineno` CPython's `ast` gives it:
//! for a decorated `def`/`class` that is the line of the `def`/`class`
//! keyword (`async` for `async def`), not of a decorator; an `elif` is a
//! statement (it is an `If` in `ast`). Docstrings are not statements (they
//! run no code of their own in a function), and neither are clause lines
//! (`else:`, `except ...:`, `finally:`, `case ...:`), decorator lines,
//! continuation lines, comments and blank lines.
//!
//! # Which code object owns a statement
//!
//! Statements only live in the bodies of modules, functions and classes, so
//! the owner is the innermost enclosing `def`/`class` (or the module). Lambdas,
//! comprehensions and generator expressions hold expressions only: they can be
//! a scope (for [`LineSpec::Entry`]) but own no statements. Whether a list,
//! set or dict comprehension is a code object of its own depends on the
//! Python version (3.11 yes; 3.12+ inlines them, PEP 709), hence the `minor`
//! parameter.

pub mod block;
mod error;
mod index;
mod query;
pub mod snippet;

pub use error::{LocateError, Nearest, Quoted};
pub use index::{CodeKind, SourceIndex};

/// Which code object a line spec is relative to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The code object whose `co_firstlineno` and `co_name` these are: a
    /// function or method (for a decorated one, `co_firstlineno` is the line
    /// of its first decorator), a class body, a lambda (`<lambda>`), a
    /// comprehension (`<listcomp>`, `<setcomp>`, `<dictcomp>`: 3.11 only), a
    /// generator expression (`<genexpr>`) or the module (`<module>`).
    Function { firstlineno: u32, name: String },
    /// The whole file: a line may land in any code object, and the result
    /// names the innermost one that owns each statement on that line.
    File,
}

/// Where in the scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LineSpec {
    /// A line number counted from 1 at the start of the source (file or
    /// notebook cell). It must be the first line of a statement.
    Number(u32),
    /// The text of a statement's first line, compared after stripping
    /// leading and trailing whitespace (a trailing `# comment` on the source
    /// line may be left out). Every statement of the scope that matches is
    /// returned.
    Text(String),
    /// When the code object is entered (`line=None`). The result's line is
    /// `co_firstlineno`, the line `sys.settrace` reports for the 'call' event.
    Entry,
}

/// One place a probe can go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Located {
    /// The first line of the statement (or `co_firstlineno` for an entry).
    pub line: u32,
    /// `co_firstlineno` of the code object that runs the statement.
    pub owner_firstlineno: u32,
    /// `co_name` of that code object.
    pub owner_name: String,
}

/// A code object the source defines, as [`SourceIndex::code_objects`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeObject {
    pub kind: CodeKind,
    /// `co_firstlineno`.
    pub firstlineno: u32,
    /// `co_name`.
    pub name: String,
    /// First line of its text (decorators included) and last line.
    pub first_line: u32,
    pub last_line: u32,
}

/// Set up the parser's per-thread state on the calling thread, so that the
/// first parse there does not pay for it.
///
/// `ruff_python_parser` guards its recursion with `stacker`, which finds the
/// thread's stack limit on its first use in each thread. On a process's main
/// thread glibc's `pthread_getattr_np` reads all of `/proc/self/maps` for
/// that: 1.5-6 ms with torch's libraries mapped (thousands of lines),
/// against 0.1 ms in a small process. Called when splice's native module is
/// imported, it moves that cost from the first probe to the import.
pub fn prepare_thread() {
    // Any parse does it; an empty module is the cheapest one.
    let _ = SourceIndex::new("");
}

/// Parse `source` and locate `spec` in `scope` for CPython 3.`minor`.
///
/// A convenience for [`SourceIndex::new`] + [`SourceIndex::locate`]; keep the
/// index when locating several specs in one source.
pub fn locate(
    source: &str,
    scope: &Scope,
    spec: &LineSpec,
    minor: u8,
) -> Result<Vec<Located>, LocateError> {
    SourceIndex::new(source)?.locate(scope, spec, minor)
}

/// Parse `source` and list every statement start line in `scope` (nested
/// code objects included), each with the code object that owns it.
pub fn statement_lines(
    source: &str,
    scope: &Scope,
    minor: u8,
) -> Result<Vec<Located>, LocateError> {
    SourceIndex::new(source)?.statement_lines(scope, minor)
}
