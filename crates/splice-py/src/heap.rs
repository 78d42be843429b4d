//! Scans of the heap (`gc.get_objects()`) and of nested code objects, for
//! the owner search and the name-scope index (`python/splice/owners.py`,
//! `resolve.py`). An ML process holds hundreds of thousands of objects;
//! these loops in Python took tens of milliseconds each, here a few, and
//! the list of every object never outlives the scan (see `scan_heap`).

use std::collections::HashSet;

use crate::lazy::ForkSafeOnce;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

/// The `gc` module, imported once: a probe entered from a `__del__` while
/// the interpreter shuts down cannot import anything (`sys.meta_path` is
/// None by then), and its owner search failed with ImportError.
static GC: ForkSafeOnce<Py<PyModule>> = ForkSafeOnce::new();

fn gc(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    GC.get_or_try_init(py, || py.import("gc").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// Every tracked object, listed by `gc.get_objects()`, kept only for as long
/// as it takes to pick the functions out of it, without running any Python
/// code or allocating a Python object meanwhile. While the list exists it
/// holds a reference to every object, including a tuple another thread is
/// building (`tuple(generator)` resizes it in place and fails with
/// SystemError if anyone else holds a reference): no other thread may run
/// until the list is gone, and here none can.
fn scan_heap<'py>(
    py: Python<'py>,
    mut keep: impl FnMut(&Bound<'py, PyAny>) -> bool,
) -> PyResult<Vec<Py<PyAny>>> {
    let objects = gc(py)?.getattr("get_objects")?.call0()?;
    let list = objects.cast::<PyList>()?;
    let mut out = Vec::new();
    for o in list.iter() {
        if keep(&o) {
            out.push(o.unbind());
        }
    }
    drop(objects);
    Ok(out)
}

/// `referrers_but_tuples(obj)`: what `gc.get_referrers(obj)` lists, less the
/// exact tuples, taken under the same rule as `scan_heap`: the list of
/// referrers can hold a tuple another thread is still building, so it is
/// filtered and dropped before any Python code runs. For the census's
/// warning, which names what holds a code object; a tuple holding one is a
/// code object's constants (counted by the census) or a user's tuple
/// (reported as a reference the collector does not show).
#[pyfunction]
pub fn referrers_but_tuples(py: Python<'_>, obj: Bound<'_, PyAny>) -> PyResult<Vec<Py<PyAny>>> {
    let found = gc(py)?.getattr("get_referrers")?.call1((obj,))?;
    let list = found.cast::<PyList>()?;
    let mut out = Vec::new();
    for o in list.iter() {
        // SAFETY: a type check on a live object.
        if unsafe { ffi::PyTuple_CheckExact(o.as_ptr()) } == 0 {
            out.push(o.unbind());
        }
    }
    drop(found);
    Ok(out)
}

/// `functions_in_heap()`: every live function the collector tracks.
#[pyfunction]
pub fn functions_in_heap(py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
    // SAFETY: a type check on a live object.
    scan_heap(py, |o| unsafe { ffi::PyFunction_Check(o.as_ptr()) } != 0)
}

/// `functions_owning(codes)`: every live function the collector tracks
/// whose `__code__` is one of `codes`.
#[pyfunction]
pub fn functions_owning(py: Python<'_>, codes: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<Py<PyAny>>> {
    let wanted: HashSet<usize> = codes.iter().map(|c| c.as_ptr() as usize).collect();
    scan_heap(py, |o| {
        // SAFETY: `o` is live; for a function, PyFunction_GetCode returns a
        // borrowed reference to its code (never NULL), only compared.
        unsafe {
            ffi::PyFunction_Check(o.as_ptr()) != 0
                && wanted.contains(&(ffi::PyFunction_GetCode(o.as_ptr()) as usize))
        }
    })
}

/// `nested_codes(roots)`: `(parent, child)` for every code object nested
/// (through `co_consts`, at any depth) in the code objects of `roots`, each
/// child once, depth first. Name scopes index every function of the process
/// (tens of thousands in an ML process); this walk in Python took most of
/// that time.
#[pyfunction]
pub fn nested_codes<'py>(
    py: Python<'py>,
    roots: Vec<Bound<'py, PyAny>>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mut out = Vec::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<Bound<'py, PyAny>> = Vec::new();
    let co_consts = crate::lazy::interned!(py, "co_consts");
    for root in roots {
        if !seen.insert(root.as_ptr() as usize) {
            continue;
        }
        stack.push(root);
        while let Some(c) = stack.pop() {
            let consts = c.getattr(co_consts)?;
            let consts = consts.cast::<PyTuple>()?;
            for k in consts.iter() {
                // SAFETY: a type check on a live object.
                if unsafe { ffi::PyCode_Check(k.as_ptr()) } == 0 {
                    continue;
                }
                let first = seen.insert(k.as_ptr() as usize);
                out.push((c.clone(), k.clone()));
                if first {
                    stack.push(k);
                }
            }
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(functions_in_heap, m)?)?;
    m.add_function(wrap_pyfunction!(functions_owning, m)?)?;
    m.add_function(wrap_pyfunction!(nested_codes, m)?)?;
    m.add_function(wrap_pyfunction!(referrers_but_tuples, m)?)?;
    gc(m.py())?; // now, while imports work
    Ok(())
}
