//! Native hooks reached from injected bytecode. A hook written in Python
//! costs a Python frame per call (which also counts against the recursion
//! limit: CPython's own recursion tests notice it); these cost a C call.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The locals of the Python frame that called the current native hook, as
/// a new dict (a snapshot), or `None` outside any Python frame.
pub fn caller_locals<'py>(py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
    // SAFETY: called with the GIL held (we have `py`); PyEval_GetFrame
    // returns a borrowed reference to the running frame or NULL, and
    // PyFrame_GetLocals returns a new reference or NULL with an exception.
    unsafe {
        let frame = ffi::PyEval_GetFrame();
        if frame.is_null() {
            return Ok(None);
        }
        let locals = ffi::PyFrame_GetLocals(frame);
        let locals = Bound::from_owned_ptr_or_err(py, locals)?;
        let out = PyDict::new(py);
        // A dict on 3.11/3.12, a write-through proxy on 3.13: copy either.
        out.call_method1("update", (locals,))?;
        Ok(Some(out))
    }
}

/// A callable that counts its calls (any arguments are ignored).
/// `only_when_tracing=True` counts only calls made while a `sys.settrace`
/// function is installed (for comparing with settrace's line events);
/// `snapshot_locals=True` also copies the caller's locals on every call,
/// the work a call capture does.
#[pyclass(module = "splice._native", frozen)]
pub struct Counter {
    n: AtomicU64,
    only_when_tracing: bool,
    snapshot_locals: bool,
}

#[pymethods]
impl Counter {
    #[new]
    #[pyo3(signature = (only_when_tracing = false, snapshot_locals = false))]
    fn new(only_when_tracing: bool, snapshot_locals: bool) -> Self {
        Counter {
            n: AtomicU64::new(0),
            only_when_tracing,
            snapshot_locals,
        }
    }

    #[pyo3(signature = (*_args))]
    fn __call__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        if self.only_when_tracing {
            let tracing = !py.import("sys")?.getattr("gettrace")?.call0()?.is_none();
            if !tracing {
                return Ok(());
            }
        }
        if self.snapshot_locals {
            caller_locals(py)?;
        }
        self.n.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The same as calling the counter, as a bound builtin method that
    /// CPython calls through vectorcall. `__call__` goes through `tp_call`,
    /// which counts a C recursion level per call (3.11, 3.13): CPython's
    /// recursion-limit tests notice that when a probe calls it on every line.
    /// The unused optional argument keeps pyo3 from making it METH_NOARGS,
    /// which 3.11 also calls through a recursion-counting path.
    #[pyo3(signature = (_arg = None))]
    fn hit(&self, py: Python<'_>, _arg: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.__call__(py, &PyTuple::empty(py))
    }

    /// Number of counted calls.
    #[getter]
    fn count(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Counter>()?;
    Ok(())
}
