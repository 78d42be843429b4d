//! A daemon thread ended by CPython 3.11-3.13 at interpreter exit, inside a
//! call splice's native code makes into Python.
//!
//! At finalization, CPython before 3.14 ends a daemon thread that asks for
//! the GIL back with `pthread_exit()`, a forced unwind of its stack. Through
//! C frames that is harmless; through a pyo3 method it is not: every pyo3
//! method catches unwinds (to turn panics into exceptions), and catching a
//! forced unwind aborts the process ("FATAL: exception not rethrown",
//! SIGABRT). A daemon thread recording calls with a `transform` that
//! releases the GIL, or leaving a block while another thread holds splice's
//! lock, aborted the interpreter's exit that way (found by an adversarial
//! run). [`HangOnThreadExit`] sits between such a call and every catching
//! frame: the unwind runs its clean-up, which parks the thread for good, as
//! CPython 3.14 itself does with such threads (and as pyo3 does around its
//! own GIL re-acquisition); the process then exits normally.
//!
//! The unwind must also be able to leave the call into Python: a call
//! through pyo3 goes through a `extern "C"` declaration, which Rust treats as
//! never unwinding, and the unwinder gives up there (and aborts). [`call`]
//! calls `PyObject_Call` through a `"C-unwind"` function pointer instead,
//! with the guard in the same frame: the calls into Python that can take that
//! long (a capture's `transform`, its failure report, a full capture's
//! removal, a block's `__exit__`, the 3.11 frame evaluator's callback and
//! its re-run of a first call) go through it, and [`release`] lets go of
//! the user's values a hook replaces or forgets (whose finalizers can wait
//! for the GIL) the same way.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// `PyObject_Call` as a `"C-unwind"` function: a forced unwind may leave
/// it. Not a second `extern` declaration of the symbol: LLVM keeps one
/// declaration per symbol, pyo3-ffi's `"C"` one (which cannot unwind), and
/// the unwinder stopped at the call and aborted. A function pointer the
/// optimizer cannot see through (`black_box`) keeps the call site's unwind
/// entry.
fn py_object_call() -> unsafe extern "C-unwind" fn(
    *mut ffi::PyObject,
    *mut ffi::PyObject,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    type CallC = unsafe extern "C" fn(
        *mut ffi::PyObject,
        *mut ffi::PyObject,
        *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
    type CallUnwind = unsafe extern "C-unwind" fn(
        *mut ffi::PyObject,
        *mut ffi::PyObject,
        *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
    let c: CallC = ffi::PyObject_Call;
    // SAFETY: "C" and "C-unwind" are the same calling convention; they
    // differ only in whether unwinding out of the call is allowed, which
    // is what CPython < 3.14 does at a daemon thread's exit.
    std::hint::black_box(unsafe { std::mem::transmute::<CallC, CallUnwind>(c) })
}

/// `callable(*args, **kwargs)`, where a thread exit at interpreter shutdown
/// parks the thread instead of aborting the process (see the module docs).
pub fn call<'py>(
    callable: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = callable.py();
    let kwargs = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
    // SAFETY: every pointer is a live object this call holds a reference to
    // (kwargs may be NULL, as PyObject_Call allows); the result is a new
    // reference or NULL with an exception set.
    let out = HangOnThreadExit::call(|| unsafe {
        py_object_call()(callable.as_ptr(), args.as_ptr(), kwargs)
    });
    // SAFETY: as above.
    unsafe { Bound::from_owned_ptr_or_err(py, out) }
}

/// `Py_DecRef` as a `"C-unwind"` function (see [`py_object_call`]).
fn py_dec_ref() -> unsafe extern "C-unwind" fn(*mut ffi::PyObject) {
    type DecC = unsafe extern "C" fn(*mut ffi::PyObject);
    type DecUnwind = unsafe extern "C-unwind" fn(*mut ffi::PyObject);
    let c: DecC = ffi::Py_DecRef;
    // SAFETY: as in `py_object_call`.
    std::hint::black_box(unsafe { std::mem::transmute::<DecC, DecUnwind>(c) })
}

/// Let go of `objects` (values of the user's program, whose finalizers can
/// run Python code that waits for the GIL) in one deallocation a thread
/// exit can unwind through: they are moved into a list, which is released
/// through `Py_DecRef` under the guard. (A drop in Rust would release each
/// through pyo3-ffi's `"C"` declarations, where the unwinder gives up.)
pub fn release(py: Python<'_>, objects: Vec<Py<PyAny>>) {
    if objects.is_empty() {
        return;
    }
    let Ok(list) = PyList::new(py, objects) else {
        return; // (no memory for the list: the objects went with the error)
    };
    let ptr = list.into_ptr();
    // SAFETY: `ptr` is the one reference this function owns.
    HangOnThreadExit::call(|| unsafe { py_dec_ref()(ptr) });
}

/// `obj.name(*args)` through [`call`].
pub fn call_method<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, pyo3::types::PyString>,
    args: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    call(&obj.getattr(name)?, args, None)
}

/// Parks the thread for good if it is dropped by a forced unwind (a thread
/// exit), not by a Rust panic; [`HangOnThreadExit::call`] disarms it when
/// the call returns.
pub struct HangOnThreadExit(());

impl HangOnThreadExit {
    /// `call()`, with the thread parked for good if a thread exit unwinds
    /// through it.
    pub fn call<R>(call: impl FnOnce() -> R) -> R {
        let guard = HangOnThreadExit(());
        let out = call();
        std::mem::forget(guard);
        out
    }
}

impl Drop for HangOnThreadExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // a Rust panic: it goes on to the frame that reports it
        }
        // A forced unwind (pthread_exit at interpreter exit): the thread
        // must never reach a frame that catches unwinds.
        loop {
            std::thread::park();
        }
    }
}
