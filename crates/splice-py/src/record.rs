//! `CallRecord`: the storage and the one constructor of a captured call.
//!
//! `splice.CallInfo` is a Python subclass that adds the views (`args` and
//! `stack` built from their recorded forms when first read, `repr`,
//! `print_stack`); the fields and the constructor are here:
//!
//! `CallRecord(name=None, file=None, args=None, locals=None, globals=None,
//! return_value=None, exception=None, stack=None)`
//!
//! Python code calls it as `CallInfo(...)`; the capture hooks make every
//! record with the same constructor ([`new_record`]), and refill a
//! `CallCapture` (itself a `CallInfo`) with [`CallRecord::refill`]. Neither
//! runs Python code or counts a recursion level: a record is often made at
//! the recursion limit (in the `error` hook of a call that raised
//! `RecursionError`).

use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use pyo3::PyTraverseError;

/// The fields of a record, in constructor order.
pub type Fields = [Option<Py<PyAny>>; 8];

#[pyclass(subclass, weakref, module = "splice._native")]
pub struct CallRecord {
    /// `co_name` of the called function.
    #[pyo3(get, set)]
    name: Option<Py<PyAny>>,
    /// `co_filename` of the called function.
    #[pyo3(get, set)]
    file: Option<Py<PyAny>>,
    /// The arguments: a mapping, or a `RecordedCall` until first read.
    #[pyo3(get, set, name = "_args")]
    args: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    locals: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    globals: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    return_value: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    exception: Option<Py<PyAny>>,
    /// The stack: a `StackSummary`, or a `RecordedCall` until first read.
    #[pyo3(get, set, name = "_stack")]
    stack: Option<Py<PyAny>>,
}

impl CallRecord {
    fn from_fields(f: Fields) -> Self {
        let [name, file, args, locals, globals, return_value, exception, stack] = f;
        CallRecord {
            name,
            file,
            args,
            locals,
            globals,
            return_value,
            exception,
            stack,
        }
    }

    /// Replace every field of `record` (a `CallCapture` keeping the last
    /// call). The old values are dropped after the record is released: a
    /// finaliser they run may read the record.
    pub fn refill(record: &Bound<'_, CallRecord>, fields: Fields) -> PyResult<()> {
        let old = {
            let mut r = record.try_borrow_mut()?;
            std::mem::replace(&mut *r, CallRecord::from_fields(fields))
        };
        drop(old);
        Ok(())
    }
}

#[pymethods]
impl CallRecord {
    #[new]
    #[pyo3(signature = (name = None, file = None, args = None, locals = None, globals = None,
                        return_value = None, exception = None, stack = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: Option<Py<PyAny>>,
        file: Option<Py<PyAny>>,
        args: Option<Py<PyAny>>,
        locals: Option<Py<PyAny>>,
        globals: Option<Py<PyAny>>,
        return_value: Option<Py<PyAny>>,
        exception: Option<Py<PyAny>>,
        stack: Option<Py<PyAny>>,
    ) -> Self {
        CallRecord::from_fields([
            name,
            file,
            args,
            locals,
            globals,
            return_value,
            exception,
            stack,
        ])
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for f in [
            &self.name,
            &self.file,
            &self.args,
            &self.locals,
            &self.globals,
            &self.return_value,
            &self.exception,
            &self.stack,
        ] {
            visit.call(f)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        *self = CallRecord::from_fields(Default::default());
    }
}

/// A new record of class `cls` (a `CallRecord` subclass: the caller checks),
/// made by its constructor, `cls.__new__(cls, *fields)`, called through the
/// type's `tp_new` slot. Calling the class itself would go through its
/// `tp_call`, which counts a recursion level on 3.11 and so fails in the
/// `error` hook of a call that raised `RecursionError`. (`CallRecord` has no
/// `__init__`: `__new__` is the whole constructor.)
pub fn new_record<'py>(cls: &Bound<'py, PyType>, fields: Fields) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let args = PyTuple::new(py, fields)?;
    let tp = cls.as_type_ptr();
    // SAFETY: `tp` is a valid type object (we hold a reference to it) and
    // reading its slot is what `type_call` does; `tp_new` takes the type, an
    // argument tuple and NULL keywords, and returns a new reference or NULL
    // with an exception set.
    unsafe {
        let Some(new) = (*tp).tp_new else {
            return Err(PyTypeError::new_err(
                "the record class cannot be instantiated",
            ));
        };
        Bound::from_owned_ptr_or_err(py, new(tp, args.as_ptr(), std::ptr::null_mut()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CallRecord>()?;
    Ok(())
}
