//! `locals_to_fast(frame)`: write a frame's locals dict back into its
//! variables, as CPython's trace trampoline does after every call of a
//! trace function on 3.11 and 3.12 (`PyFrame_LocalsToFast`).
//!
//! `bp.debug()` calls the debugger's `trace_dispatch` for the stop at the
//! breakpoint line directly, not through that trampoline: on 3.11 and 3.12
//! `frame.f_locals` is a snapshot dict, and an assignment typed at the pdb
//! prompt (`!y = 100`) changed only the snapshot. On 3.13+ `f_locals` is a
//! write-through proxy (PEP 667) and there is nothing to write back.

use pyo3::prelude::*;
use pyo3::types::PyFrame;

#[pyfunction]
fn locals_to_fast(frame: &Bound<'_, PyFrame>) {
    #[cfg(not(Py_3_13))]
    // SAFETY: `frame` is a live frame object; clear=1 as the trampoline does
    // (a name deleted from the dict is deleted from the frame). Its locals
    // dict exists: the debugger read `frame.f_locals`, which made it.
    unsafe {
        pyo3::ffi::PyFrame_LocalsToFast(frame.as_ptr().cast(), 1);
    }
    #[cfg(Py_3_13)]
    let _ = frame;
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(locals_to_fast, m)?)?;
    Ok(())
}
