//! `splice._native`: the narrow native module behind the `splice` package.
//!
//! It converts CPython code objects to and from the `splice-rewrite` model,
//! exposes the locate crate, and the native hooks reached from injected
//! bytecode (`hooks`, `capture_hooks`). All user-facing API lives in plain Python.

use pyo3::prelude::*;

mod capture_hooks;
mod code;
mod hooks;
mod instrument;
mod locate;
mod rewrite;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    rewrite::register(m)?;
    instrument::register(m)?;
    hooks::register(m)?;
    capture_hooks::register(m)?;
    locate::register(m)?;
    Ok(())
}
