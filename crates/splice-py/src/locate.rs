//! Bindings for splice-locate.
//!
//! `splice._native` gets:
//!
//! - `LocateIndex(source, first_line=1)`: the parsed, indexed source (which
//!   starts on line `first_line` of its file), with methods
//!   `locate(firstlineno, name, spec, minor)`, `statement_lines(firstlineno,
//!   name, minor)`, `check_code_lines(firstlineno, name, lines, minor)` and
//!   `own_text(firstlineno, name, minor)`,
//!   and the `line_count` property. A scope is `firstlineno`/`name` (`co_firstlineno`
//!   and `co_name` of a code object), or `None`/`None` for the whole file. A
//!   spec is an `int` line number, a `str` line text, or `None` for entry.
//!   Results are lists of `(line, owner_firstlineno, owner_name)`.
//! - `block_excerpt(source, line)`, `top_level_lines(source, line)` and
//!   `excerpt(source, start, end)`: a statement's lines guessed from
//!   indentation, and those lines cut out (the crate's `block` module), so
//!   that a first probe parses one method, not its class: `excerpt` at
//!   their own line numbers (empty lines before them, for compiling),
//!   `block_excerpt` without the empty lines and with the line it starts on.
//! - `LocateFailure(ValueError)` and its subclass `SourceMismatchFailure`,
//!   raised with the crate's messages; `python/splice/locate.py` turns them
//!   into `splice.LocateError` / `splice.SourceMismatchError`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString};

use splice_locate::{block, LineSpec, LocateError, Located, Scope, SourceIndex};

pyo3::create_exception!(
    splice._native,
    LocateFailure,
    PyValueError,
    "A line spec names no place a probe can go (splice-locate)."
);
pyo3::create_exception!(
    splice._native,
    SourceMismatchFailure,
    LocateFailure,
    "The source text does not match the running code (splice-locate)."
);

fn to_py_err(e: LocateError) -> PyErr {
    if e.is_source_mismatch() {
        SourceMismatchFailure::new_err(e.to_string())
    } else {
        LocateFailure::new_err(e.to_string())
    }
}

fn scope(firstlineno: Option<i64>, name: Option<String>) -> PyResult<Scope> {
    match (firstlineno, name) {
        (None, None) => Ok(Scope::File),
        (Some(firstlineno), Some(name)) => {
            let firstlineno = u32::try_from(firstlineno).map_err(|_| {
                PyValueError::new_err(format!("co_firstlineno {firstlineno} is out of range"))
            })?;
            Ok(Scope::Function { firstlineno, name })
        }
        _ => Err(PyTypeError::new_err(
            "give both firstlineno and name (a code object's co_firstlineno and co_name), \
             or neither (the whole file)",
        )),
    }
}

fn spec(spec: Option<&Bound<'_, PyAny>>) -> PyResult<LineSpec> {
    let Some(spec) = spec else {
        return Ok(LineSpec::Entry);
    };
    if spec.is_none() {
        return Ok(LineSpec::Entry);
    }
    if spec.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "line must be a line number (int), a line's text (str) or None, not a bool",
        ));
    }
    if spec.is_instance_of::<PyInt>() {
        let line: i64 = spec.extract().unwrap_or(i64::MAX);
        if line < 1 {
            return Err(to_py_err(LocateError::BadLineNumber { line }));
        }
        return match u32::try_from(line) {
            Ok(line) => Ok(LineSpec::Number(line)),
            // (shown as given: a clamped number in the message is not the
            // one the user passed)
            Err(_) => Err(LocateFailure::new_err(format!(
                "line {spec} is past the end of the source"
            ))),
        };
    }
    if let Ok(text) = spec.cast::<PyString>() {
        return Ok(LineSpec::Text(text.to_str()?.to_string()));
    }
    Err(PyTypeError::new_err(format!(
        "line must be a line number (int), a line's text (str) or None, not {}",
        spec.get_type().name()?
    )))
}

fn tuples(v: Vec<Located>) -> Vec<(u32, u32, String)> {
    v.into_iter()
        .map(|l| (l.line, l.owner_firstlineno, l.owner_name))
        .collect()
}

fn minor_version(minor: i64) -> PyResult<u8> {
    u8::try_from(minor)
        .map_err(|_| PyValueError::new_err(format!("Python minor version {minor} is out of range")))
}

/// The parsed and indexed text of one module or notebook cell.
#[pyclass(frozen, module = "splice._native")]
pub struct LocateIndex {
    index: SourceIndex,
}

#[pymethods]
impl LocateIndex {
    /// `first_line`: the line of its file the text starts on (an excerpt
    /// from `block_excerpt`); line numbers asked and answered are the file's.
    #[new]
    #[pyo3(signature = (source, first_line = 1))]
    fn new(py: Python<'_>, source: &str, first_line: i64) -> PyResult<Self> {
        let first_line = u32::try_from(first_line).unwrap_or(0);
        let source = source.to_string();
        let index = py
            .detach(move || SourceIndex::new_at(&source, first_line))
            .map_err(to_py_err)?;
        Ok(LocateIndex { index })
    }

    /// Number of lines in the source.
    #[getter]
    fn line_count(&self) -> u32 {
        self.index.line_count()
    }

    /// Locate `spec` (int line, str text, or None for entry) in the scope.
    #[pyo3(signature = (firstlineno, name, spec, minor))]
    fn locate(
        &self,
        firstlineno: Option<i64>,
        name: Option<String>,
        spec: Option<&Bound<'_, PyAny>>,
        minor: i64,
    ) -> PyResult<Vec<(u32, u32, String)>> {
        let scope = scope(firstlineno, name)?;
        let spec = self::spec(spec)?;
        self.index
            .locate(&scope, &spec, minor_version(minor)?)
            .map(tuples)
            .map_err(to_py_err)
    }

    /// Every statement start line in the scope, nested code objects included.
    #[pyo3(signature = (firstlineno, name, minor))]
    fn statement_lines(
        &self,
        firstlineno: Option<i64>,
        name: Option<String>,
        minor: i64,
    ) -> PyResult<Vec<(u32, u32, String)>> {
        let scope = scope(firstlineno, name)?;
        self.index
            .statement_lines(&scope, minor_version(minor)?)
            .map(tuples)
            .map_err(to_py_err)
    }

    /// The source with only the lines compiling this code object needs
    /// (the def or class that holds it, the headers around that), other
    /// lines empty; None when the module holds it or it is not here.
    #[pyo3(signature = (firstlineno, name, minor))]
    fn own_text(&self, firstlineno: i64, name: String, minor: i64) -> PyResult<Option<String>> {
        let scope = scope(Some(firstlineno), Some(name))?;
        Ok(self.index.own_text(&scope, minor_version(minor)?))
    }

    /// Raise SourceMismatchFailure unless a code object with this
    /// co_firstlineno/co_name is defined here and has code only on `lines`
    /// where the source has code of it.
    #[pyo3(signature = (firstlineno, name, lines, minor))]
    fn check_code_lines(
        &self,
        firstlineno: i64,
        name: String,
        lines: Vec<i64>,
        minor: i64,
    ) -> PyResult<()> {
        let scope = scope(Some(firstlineno), Some(name))?;
        let lines: Vec<u32> = lines
            .into_iter()
            .map(|l| u32::try_from(l).unwrap_or(0))
            .collect();
        self.index
            .check_code_lines(&scope, &lines, minor_version(minor)?)
            .map_err(to_py_err)
    }
}

fn line_number(line: i64) -> Option<u32> {
    u32::try_from(line).ok().filter(|&l| l > 0)
}

/// Lines `(start, end)` (end exclusive) of the `def`/`class` whose first
/// line or first decorator is `line`, guessed from indentation, their
/// excerpt without the lines before it, and the line that excerpt starts on
/// (`LocateIndex(excerpt, first_line)` indexes it); None when `line` starts
/// none.
///
/// `source` is a `str`, or `bytes` holding UTF-8 text (a file as read:
/// no conversion of a large `str` to UTF-8 first).
#[pyfunction]
fn block_excerpt(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    line: i64,
) -> PyResult<Option<(u32, u32, String, u32)>> {
    let Some(line) = line_number(line) else {
        return Ok(None);
    };
    let bytes: &[u8] = if let Ok(b) = source.cast::<PyBytes>() {
        b.as_bytes()
    } else {
        source.cast::<PyString>()?.to_str()?.as_bytes()
    };
    Ok(py.detach(|| block::block_excerpt(bytes, line)))
}

/// Whether `data` is valid UTF-8 (strict, as Python's `bytes.decode`: no
/// encoded surrogates), checked without making a `str` of it.
#[pyfunction]
fn is_utf8(py: Python<'_>, data: &[u8]) -> bool {
    py.detach(|| std::str::from_utf8(data).is_ok())
}

/// Lines `(start, end)` of the top-level statement holding `line`, guessed
/// from indentation; None when `line` is not in `source`.
#[pyfunction]
fn top_level_lines(py: Python<'_>, source: &str, line: i64) -> Option<(u32, u32)> {
    let line = line_number(line)?;
    py.detach(|| block::top_level_lines(source, line))
}

/// Lines `[start, end)` of `source` at their own line numbers, the lines
/// before them empty (an indented first line gets `if 1:` before it).
#[pyfunction]
fn excerpt(py: Python<'_>, source: &str, start: i64, end: i64) -> Option<String> {
    let (start, end) = (line_number(start)?, line_number(end)?);
    py.detach(|| block::excerpt(source, start, end))
}

/// Whether a snippet's text parses by itself: as one expression
/// (`expression`) or as statements (`splice_locate::snippet`).
#[pyfunction]
fn stands_alone(py: Python<'_>, text: &str, expression: bool) -> bool {
    py.detach(|| {
        if expression {
            splice_locate::snippet::is_expression(text)
        } else {
            splice_locate::snippet::is_statements(text)
        }
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(block_excerpt, m)?)?;
    m.add_function(wrap_pyfunction!(is_utf8, m)?)?;
    m.add_function(wrap_pyfunction!(top_level_lines, m)?)?;
    m.add_function(wrap_pyfunction!(excerpt, m)?)?;
    m.add_function(wrap_pyfunction!(stands_alone, m)?)?;
    m.add("LocateFailure", py.get_type::<LocateFailure>())?;
    m.add(
        "SourceMismatchFailure",
        py.get_type::<SourceMismatchFailure>(),
    )?;
    m.add_class::<LocateIndex>()?;
    Ok(())
}
