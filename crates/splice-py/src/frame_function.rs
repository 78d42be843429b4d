//! `frame_function(frame)`: the function object a frame runs, which no
//! public C API gives. A name scope's first call of a function is seen by a
//! `sys.monitoring` `PY_START` callback that has the frame only; the function
//! it runs is the one whose `__code__` must move to the instrumented code
//! (splice.first_calls). The alternative, a heap search per function, costs
//! tens of milliseconds in a process with torch imported.
//!
//! On 3.12-3.15 (default builds) a frame object is `PyObject_HEAD`, `f_back`,
//! `f_frame`; the interpreter frame `f_frame` points to starts with its code
//! object (`f_code`, 3.13+ `f_executable`), `previous`, and the function
//! (`f_funcobj`); on 3.14+ both are `_PyStackRef`s whose two low bits are
//! tags. The layout is checked on every call: the word read as the code
//! object must be the frame's code (`PyFrame_GetCode`) before the function
//! word is even dereferenced, and the function must be a function whose
//! `__code__` is that code object. Any mismatch (another layout, a
//! free-threaded build, 3.11) gives `None`, and the caller falls back to the
//! heap search.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyFrame;

/// Tag bits of a `_PyStackRef` (3.14+); pointers are at least 8-aligned, so
/// clearing them on earlier versions changes nothing.
const TAG_BITS: usize = 3;

#[repr(C)]
struct FrameObjectHead {
    ob_refcnt: isize,
    ob_type: *mut ffi::PyTypeObject,
    f_back: *mut ffi::PyObject,
    f_frame: *const [usize; 3],
}

#[pyfunction]
fn frame_function(py: Python<'_>, frame: &Bound<'_, PyFrame>) -> Option<Py<PyAny>> {
    if !cfg!(Py_3_12) || cfg!(Py_GIL_DISABLED) {
        return None;
    }
    let fp: *mut ffi::PyFrameObject = frame.as_ptr().cast();
    // SAFETY: `frame` is a live frame object; PyFrame_GetCode returns a new
    // reference, never NULL.
    let code =
        unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(fp).cast::<ffi::PyObject>()) };
    // SAFETY: every frame object of 3.12-3.15 starts with this head (the
    // object is larger than it); `f_frame` points to interpreter frame data,
    // which is larger than three words, as long as the frame object lives.
    let words = unsafe {
        let head = &*(fp as *const FrameObjectHead);
        if head.f_frame.is_null() {
            return None;
        }
        *head.f_frame
    };
    if words[0] & !TAG_BITS != code.as_ptr() as usize {
        return None; // not the layout we know
    }
    let func = (words[2] & !TAG_BITS) as *mut ffi::PyObject;
    if func.is_null() {
        return None;
    }
    // SAFETY: the layout is the one we know (checked above), so `func` is the
    // frame's strong (or deferred) reference to its function object, alive
    // while the frame is.
    unsafe {
        if ffi::PyFunction_Check(func) == 0 || ffi::PyFunction_GetCode(func) != code.as_ptr() {
            return None;
        }
        Some(Bound::from_borrowed_ptr(py, func).unbind())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(frame_function, m)?)?;
    Ok(())
}
