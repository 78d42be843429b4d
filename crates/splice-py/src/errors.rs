//! The one place a `splice_rewrite::RewriteError` becomes a Python exception.
//!
//! Each [`ErrorKind`] has its class in `splice.errors`:
//!
//! | kind       | Python exception                                  |
//! |------------|---------------------------------------------------|
//! | `Version`  | `UnsupportedVersionError` (`RuntimeError`)        |
//! | `Snippet`  | `SnippetError` (`ValueError`)                     |
//! | `Location` | `LocateError` (`ValueError`)                      |
//! | `Rewrite`  | `RewriteError`                                    |
//!
//! The message is the rewrite crate's, unchanged. If `splice.errors` cannot
//! be imported (a bare `_native` without its package), the builtin base class
//! of each is raised instead.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use splice_rewrite::{ErrorKind, RewriteError};

/// The `splice.errors` class name and the builtin fallback of each kind.
fn class_of(kind: ErrorKind) -> (&'static str, fn(String) -> PyErr) {
    match kind {
        ErrorKind::Version => ("UnsupportedVersionError", PyRuntimeError::new_err),
        ErrorKind::Snippet => ("SnippetError", PyValueError::new_err),
        ErrorKind::Location => ("LocateError", PyValueError::new_err),
        ErrorKind::Rewrite => ("RewriteError", PyRuntimeError::new_err),
    }
}

/// `e` as the `splice.errors` exception of its kind.
pub fn rewrite_error(e: RewriteError) -> PyErr {
    let (name, fallback) = class_of(e.kind());
    let message = e.to_string();
    Python::attach(|py| {
        let class = py
            .import("splice.errors")
            .and_then(|m| m.getattr(name))
            .and_then(|c| Ok(c.cast_into::<PyType>()?));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(_) => fallback(message),
        }
    })
}
