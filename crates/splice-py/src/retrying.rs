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
//! A `RecursionError` is not transient: the retries after one run with
//! the recursion limit raised for their moment ([`HEADROOM`]), and it is
//! not raised once a retry has done the work.

use crate::lazy::ForkSafeOnce;
use crate::thread_exit;
use pyo3::exceptions::PyRecursionError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

/// `types.MethodType` (see `crate::lazy` for why not `PyOnceLock`).
static METHOD_TYPE: ForkSafeOnce<Py<PyType>> = ForkSafeOnce::new();

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
                .get_or_try_init(py, || {
                    py.import("types")?
                        .getattr("MethodType")?
                        .cast_into::<PyType>()
                        .map(Bound::unbind)
                        .map_err(PyErr::from)
                })?
                .bind(py)
                .call1((slf, o))?
                .unbind()),
        }
    }

    /// Call the function until a call returns without an exception (at most
    /// `tries` calls); the first exception, if any, is raised then (a
    /// `RecursionError` only if no call returned).
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
        // the first exception that interrupted a try; a RecursionError
        // only while no try has finished (splice's own lack of room, not
        // an event the caller must hear of once the work is done)
        let mut first: Option<PyErr> = None;
        let mut out_of_room: Option<PyErr> = None;
        let mut room: Option<Headroom> = None;
        let mut done: Option<Py<PyAny>> = None;
        for _ in 0..self.tries {
            match thread_exit::call(func.bind(py), args, kwargs).map(Bound::unbind) {
                Ok(v) => {
                    done = Some(v);
                    break;
                }
                Err(e) if e.is_instance_of::<PyRecursionError>(py) => {
                    if room.is_none() {
                        // the same depth would fail the same way every try
                        room = Headroom::give(py);
                    }
                    out_of_room.get_or_insert(e);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(r) = room {
            r.take_back(py);
        }
        match (first, done, out_of_room) {
            (Some(e), _, _) => Err(e),
            (None, Some(v), _) => Ok(v),
            (None, None, Some(e)) => Err(e),
            (None, None, None) => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "splice: Retrying ran nothing",
            )),
        }
    }
}

/// Frames of room a retry gets after a `RecursionError`: a block exited
/// near the recursion limit (entered there, or `__exit__` called deeper
/// than `__enter__`) must still remove its probes, and splice's exit runs
/// a few dozen Python frames.
const HEADROOM: i64 = 200;

/// The recursion limit raised by [`HEADROOM`] for the retries, and what to
/// put back.
struct Headroom {
    old: i64,
}

impl Headroom {
    /// Raise the limit (process-wide: CPython has no other way; for the
    /// moments of the retries only). None if that failed.
    fn give(py: Python<'_>) -> Option<Headroom> {
        let raise = || -> PyResult<Headroom> {
            let sys = py.import("sys")?;
            let old: i64 = sys.call_method0("getrecursionlimit")?.extract()?;
            sys.call_method1("setrecursionlimit", (old.saturating_add(HEADROOM),))?;
            Ok(Headroom { old })
        };
        raise().ok()
    }

    /// Put the limit back, unless someone changed it since (a retry that
    /// set its own); an error doing so is dropped: the exit's own outcome
    /// is what the caller must see.
    fn take_back(self, py: Python<'_>) {
        let restore = || -> PyResult<()> {
            let sys = py.import("sys")?;
            let now: i64 = sys.call_method0("getrecursionlimit")?.extract()?;
            if now == self.old.saturating_add(HEADROOM) {
                sys.call_method1("setrecursionlimit", (self.old,))?;
            }
            Ok(())
        };
        let _ = restore();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Retrying>()
}
