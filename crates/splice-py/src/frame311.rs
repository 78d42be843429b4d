//! CPython 3.11's interpreter frame, which no public C API exposes and which
//! three 3.11-only paths read: the first-call evaluator (`start_hook`: a new
//! frame's function and bound arguments), the capture hooks (a running
//! frame's arguments without syncing its locals dict, `capture_hooks`) and
//! the locals they record (`frame_locals`).
//!
//! The layout is `_PyInterpreterFrame` of Include/internal/pycore_frame.h,
//! the same in every 3.11.x; 3.12 changed it (and 3.12+ needs none of this).
#![cfg(all(Py_3_11, not(Py_3_12), not(Py_GIL_DISABLED)))]

use std::os::raw::{c_char, c_int, c_void};

use pyo3::ffi;

/// The head of 3.11's `_PyInterpreterFrame`, up to the first local.
#[repr(C)]
pub struct Frame311 {
    pub f_func: *mut ffi::PyObject,
    pub f_globals: *mut ffi::PyObject,
    pub f_builtins: *mut ffi::PyObject,
    pub f_locals: *mut ffi::PyObject,
    pub f_code: *mut ffi::PyObject,
    pub frame_obj: *mut ffi::PyObject,
    pub previous: *mut c_void,
    pub prev_instr: *mut u16,
    pub stacktop: c_int,
    pub is_entry: bool,
    pub owner: c_char,
    pub localsplus: [*mut ffi::PyObject; 0],
}

/// `FRAME_OWNED_BY_THREAD`: a frame a call pushed (not a generator's).
pub const FRAME_OWNED_BY_THREAD: c_char = 0;

/// The head of a 3.11 frame object: `PyObject_HEAD`, `f_back`, `f_frame`.
#[repr(C)]
struct FrameObjectHead {
    ob_refcnt: isize,
    ob_type: *mut ffi::PyTypeObject,
    f_back: *mut ffi::PyObject,
    f_frame: *mut Frame311,
}

/// The interpreter frame of the frame object `frame`, checked: its code
/// word must be the frame's code object (`PyFrame_GetCode`), else `None`.
///
/// # Safety
/// `frame` is a live frame object; the result lives as long as it does
/// (and, for a running frame, as long as the call).
pub unsafe fn interpreter_frame(frame: *mut ffi::PyFrameObject) -> Option<*mut Frame311> {
    let iframe = (*(frame as *const FrameObjectHead)).f_frame;
    if iframe.is_null() {
        return None;
    }
    let code = ffi::PyFrame_GetCode(frame);
    let same = (*iframe).f_code == code.cast::<ffi::PyObject>();
    ffi::Py_DECREF(code.cast());
    same.then_some(iframe)
}

/// The local in slot `i` of `iframe` (borrowed, may be NULL).
///
/// # Safety
/// `i` is below the code object's `co_nlocalsplus`.
pub unsafe fn local(iframe: *mut Frame311, i: usize) -> *mut ffi::PyObject {
    *(*iframe).localsplus.as_ptr().add(i)
}
