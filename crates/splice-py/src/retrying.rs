//! `Retrying`: a method whose call runs a Python function again when an
//! exception interrupts it, then raises the first exception.
//!
//! A `with` block's `__exit__` must finish even when a signal handler's
//! `KeyboardInterrupt` lands in it, or the probes stay in. Written in
//! Python, the exception can land on its very first instruction (CPython
//! runs signal handlers where a Python function starts), before any `try`
//! of its own; this object is what the `with` statement calls instead, and
//! native code runs no signal handler: the Python function it calls can
//! be interrupted anywhere and is simply called again (it must do only
//! what is left to do when it runs again: `Managed._exit`, `NoPdb._exit`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

static METHOD_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `__exit__ = Retrying(_exit, tries)`: a descriptor, bound like a function.
/// Seen by the cycle collector (`__traverse__`/`__clear__`): a class holds
/// it, it holds a function of the class's module, whose globals hold the
/// class, and that cycle, unseen, kept the module alive into the
/// interpreter's shutdown (where its globals are then set to None in turn).
#[pyclass(module = "splice._native")]
pub struct Retrying {
    func: Option<Py<PyAny>>,
    tries: usize,
}

#[pymethods]
impl Retrying {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(f) = &self.func {
            visit.call(f)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.func = None;
    }

    #[new]
    fn new(func: Py<PyAny>, tries: usize) -> PyResult<Self> {
        if tries == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "tries must be at least 1",
            ));
        }
        Ok(Retrying {
            func: Some(func),
            tries,
        })
    }

    /// Bound to an instance as a function is (a method object), itself on
    /// the class.
    fn __get__(
        slf: &Bound<'_, Self>,
        obj: Option<&Bound<'_, PyAny>>,
        _owner: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        match obj {
            None => Ok(slf.clone().into_any().unbind()),
            Some(o) if o.is_none() => Ok(slf.clone().into_any().unbind()),
            // types.MethodType, a C type: binding runs no Python code
            Some(o) => Ok(METHOD_TYPE
                .import(py, "types", "MethodType")?
                .call1((slf, o))?
                .unbind()),
        }
    }

    /// Call the function until a call returns without an exception (at most
    /// `tries` calls); the first exception, if any, is raised then.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let Some(func) = self.func.as_ref().map(|f| f.clone_ref(py)) else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "splice: Retrying was cleared",
            ));
        };
        let mut first: Option<PyErr> = None;
        for _ in 0..self.tries {
            match func.call(py, args.clone(), kwargs) {
                Ok(v) => {
                    return match first {
                        Some(e) => Err(e),
                        None => Ok(v),
                    };
                }
                Err(e) => {
                    if first.is_none() {
                        first = Some(e);
                    }
                }
            }
        }
        Err(first.unwrap_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("splice: Retrying ran nothing")
        }))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Retrying>()
}
