//! `_native.event_lines(code)`: the lines of a code object where a line
//! probe would run, decided by the rewriter's own line-event rule
//! (`splice_rewrite::probe::lines`), so placement refuses exactly the lines
//! the rewriter would refuse, with a reason, before anything is built.

use pyo3::prelude::*;

use splice_rewrite::cfg::Cfg;
use splice_rewrite::decode;
use splice_rewrite::probe::lines;

use crate::code::read_raw;
use crate::errors::rewrite_error;

/// Sorted lines of `code` where a `sys.settrace` 'line' event can fire (and
/// so a probe can go).
#[pyfunction]
pub fn event_lines(code: &Bound<'_, PyAny>) -> PyResult<Vec<i32>> {
    let model = decode(&read_raw(code)?).map_err(rewrite_error)?;
    let cfg = Cfg::new(&model).map_err(rewrite_error)?;
    Ok(lines::event_lines(&cfg).into_iter().collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(event_lines, m)?)?;
    Ok(())
}
