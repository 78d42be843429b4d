//! `EvalSink`: where an inline `eval` action puts its values.
//!
//! The spliced code calls the sink's bound `append` method, which it holds
//! as a constant, and that puts the value on the breakpoint's results list.
//! Why not the list's own `append` as the constant (as before): the
//! collector does not see code objects, so a value that refers back to the
//! frame of a hit (a caught exception through its traceback,
//! `sys._getframe()`) made a cycle it could not find: frame, instrumented
//! code, its constant, the list, the value, the frame. Nothing in it was
//! ever freed: in a training step, that frame's every tensor. The sink lets
//! go of the list while the breakpoint is not installed (`detach`), which
//! cuts that cycle, and the collector sees what it holds while it does.
//!
//! `append` is a `METH_O` builtin method, as `list.append` is: CPython's
//! specialised call of such a method calls the C function directly, so a
//! hit costs what the list's `append` cost.

use std::cell::UnsafeCell;
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::Borrowed;
use pyo3::{PyTraverseError, PyVisit};

/// The list, or None while detached. Read and written only with the GIL
/// held (the default build is the only one splice runs on: `_interpreter`
/// refuses a free-threaded one), and never while Python code can run in
/// between: `append` runs none, `detach`/`attach` swap the value in one
/// step and drop the old one after.
struct GilCell(UnsafeCell<Option<Py<PyList>>>);

// SAFETY: every access happens with the GIL held (see GilCell).
unsafe impl Sync for GilCell {}

#[pyclass(module = "splice._native", frozen)]
pub struct EvalSink {
    list: GilCell,
}

impl EvalSink {
    fn swap(&self, _py: Python<'_>, new: Option<Py<PyList>>) -> Option<Py<PyList>> {
        // SAFETY: the GIL is held (`_py`); no other reference into the
        // cell exists during the swap
        unsafe { std::mem::replace(&mut *self.list.0.get(), new) }
    }
}

#[pymethods]
impl EvalSink {
    #[new]
    #[pyo3(signature = (results, /))]
    fn new(results: Option<Py<PyList>>) -> Self {
        EvalSink {
            list: GilCell(UnsafeCell::new(results)),
        }
    }

    /// The bound builtin method the spliced code calls with each value
    /// (`METH_O`, see the module docs); it puts the value on the list,
    /// or drops it while the sink is detached.
    fn appender(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        // SAFETY: APPEND_DEF is a static that outlives every function made
        // from it; PyCFunction_NewEx takes its own reference to `self`
        let f = unsafe {
            ffi::PyCFunction_NewEx(
                ptr::addr_of!(APPEND_DEF.0).cast_mut(),
                slf.as_ptr(),
                ptr::null_mut(),
            )
        };
        // SAFETY: a new reference, or null with an exception set
        unsafe { Bound::from_owned_ptr_or_err(py, f) }.map(Bound::unbind)
    }

    /// Let go of the list (the breakpoint is no longer installed).
    fn detach(&self, py: Python<'_>) {
        let old = self.swap(py, None);
        drop(old); // after the swap: its finalisers may run Python code
    }

    /// Put the values on `results` again (the breakpoint is installed again).
    #[pyo3(signature = (results, /))]
    fn attach(&self, py: Python<'_>, results: Py<PyList>) {
        let old = self.swap(py, Some(results));
        drop(old);
    }

    /// Whether the sink holds its list.
    #[getter]
    fn attached(&self, py: Python<'_>) -> bool {
        let _ = py;
        // SAFETY: GIL held; read only
        unsafe { (*self.list.0.get()).is_some() }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // SAFETY: the collector runs with the GIL held, never inside a swap
        if let Some(list) = unsafe { (*self.list.0.get()).as_ref() } {
            visit.call(list)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        // SAFETY: the collector runs with the GIL held
        let old = unsafe { (*self.list.0.get()).take() };
        drop(old);
    }

    /// A copy (cloudpickle copies a probed function with its constants) is
    /// detached: values a copied function computes go nowhere, as a copied
    /// capture records nothing.
    fn __reduce__(slf: &Bound<'_, Self>) -> (Py<PyAny>, (Option<Py<PyList>>,)) {
        (slf.get_type().into_any().unbind(), (None,))
    }

    /// What [`sink_append`] does, for a copy's `append` (a pickled builtin
    /// method is found again by name on its copied self).
    #[pyo3(signature = (value, /))]
    fn append(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        // SAFETY: GIL held (`py`); PyList_Append runs no Python code
        if let Some(list) = unsafe { (*self.list.0.get()).as_ref() } {
            list.bind(py).append(value)?;
        }
        Ok(())
    }
}

/// `append` of an [`EvalSink`], as a `METH_O` C function: `slf` is the sink
/// (the method's bound self), `value` the evaluated expression.
unsafe extern "C" fn sink_append(
    slf: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held, `slf` the EvalSink the
    // method was bound to (`appender`) and `value` a borrowed reference
    unsafe {
        let py = Python::assume_attached();
        // borrowed, not a new reference: the method holds its self
        let Some(sink) = Borrowed::from_ptr_or_opt(py, slf) else {
            return ptr::null_mut(); // never: a bound method has its self
        };
        let sink = sink.cast_unchecked::<EvalSink>().get();
        if let Some(list) = (*sink.list.0.get()).as_ref() {
            // What `list.append` does: into the room the list has, else
            // through PyList_Append, which grows it (through the allocator
            // only: no Python code runs)
            let lp = list.as_ptr().cast::<ffi::PyListObject>();
            let len = (*lp).ob_base.ob_size;
            if len < (*lp).allocated {
                ffi::Py_INCREF(value);
                *(*lp).ob_item.offset(len) = value;
                (*lp).ob_base.ob_size = len + 1;
            } else if ffi::PyList_Append(list.as_ptr(), value) < 0 {
                return ptr::null_mut();
            }
        }
        ffi::Py_NewRef(ffi::Py_None())
    }
}

/// A method definition in a static (a builtin method keeps a pointer to
/// its definition for its whole life).
#[repr(transparent)]
struct StaticDef(ffi::PyMethodDef);

// SAFETY: never written after it is made; CPython only reads it, with the
// GIL held
unsafe impl Sync for StaticDef {}

/// The method definition [`sink_append`] is made from.
static APPEND_DEF: StaticDef = StaticDef(ffi::PyMethodDef {
    ml_name: c"append".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: sink_append,
    },
    ml_flags: ffi::METH_O,
    ml_doc: c"Put the value on the breakpoint's eval list (dropped while detached).".as_ptr(),
});

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EvalSink>()?;
    Ok(())
}
