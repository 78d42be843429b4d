//! The constants the bindings and the Python package share, defined once.
//!
//! `splice._native` exports each of them; `python/splice` reads them from
//! there (never from a copy of its own):
//!
//! - `HOOK_PREFIX`: every name splice adds to a function (hook globals of a
//!   snippet, helper locals) starts with it; `LineProbe` refuses hook names
//!   without it and captured locals never show names with it.
//! - `CO_OPTIMIZED`, `CO_VARARGS`, `CO_VARKEYWORDS`: the `co_flags` bits the
//!   package reads (a function body; `*args`; `**kwargs`). The same values
//!   on every CPython splice supports.
//! - `FUTURE_FLAGS`: every `from __future__` compiler flag of the running
//!   interpreter (read from its `__future__` module when `_native` is
//!   imported, so a version that adds or renumbers one is still right).

use pyo3::prelude::*;

/// Prefix of every name splice introduces.
pub const HOOK_PREFIX: &str = "_splice_";

/// `co_flags`: the code object is a function body (fast locals).
pub const CO_OPTIMIZED: u32 = 0x0001;
/// `co_flags`: the function has a `*args` parameter.
pub const CO_VARARGS: u32 = 0x0004;
/// `co_flags`: the function has a `**kwargs` parameter.
pub const CO_VARKEYWORDS: u32 = 0x0008;

/// The OR of `compiler_flag` over `__future__.all_feature_names`.
fn future_flags(py: Python<'_>) -> PyResult<u32> {
    let future = py.import("__future__")?;
    let mut flags = 0u32;
    for name in future.getattr("all_feature_names")?.try_iter()? {
        let feature = future.getattr(name?.cast_into::<pyo3::types::PyString>()?)?;
        flags |= feature.getattr("compiler_flag")?.extract::<u32>()?;
    }
    Ok(flags)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HOOK_PREFIX", HOOK_PREFIX)?;
    m.add("CO_OPTIMIZED", CO_OPTIMIZED)?;
    m.add("CO_VARARGS", CO_VARARGS)?;
    m.add("CO_VARKEYWORDS", CO_VARKEYWORDS)?;
    m.add("FUTURE_FLAGS", future_flags(m.py())?)?;
    Ok(())
}
