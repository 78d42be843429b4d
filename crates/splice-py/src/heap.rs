//! Scans of the object lists that `gc.get_objects()` returns, for the
//! owner search and the name-scope index (`python/splice/owners.py`,
//! `resolve.py`). An ML process holds hundreds of thousands of objects;
//! these loops in Python took tens of milliseconds each, here a few.

use std::collections::HashSet;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

/// `functions_in(objects)`: the function objects of `objects`, in order.
#[pyfunction]
pub fn functions_in<'py>(objects: &Bound<'py, PyList>) -> Vec<Bound<'py, PyAny>> {
    objects
        .iter()
        // SAFETY: a type check on a live object.
        .filter(|o| unsafe { ffi::PyFunction_Check(o.as_ptr()) } != 0)
        .collect()
}

/// `functions_owning(objects, codes)`: the function objects of `objects`
/// whose `__code__` is one of `codes`.
#[pyfunction]
pub fn functions_owning<'py>(
    objects: &Bound<'py, PyList>,
    codes: Vec<Bound<'py, PyAny>>,
) -> Vec<Bound<'py, PyAny>> {
    let wanted: HashSet<usize> = codes.iter().map(|c| c.as_ptr() as usize).collect();
    objects
        .iter()
        .filter(|o| {
            // SAFETY: `o` is live; for a function, PyFunction_GetCode returns
            // a borrowed reference to its code (never NULL), only compared.
            unsafe {
                ffi::PyFunction_Check(o.as_ptr()) != 0
                    && wanted.contains(&(ffi::PyFunction_GetCode(o.as_ptr()) as usize))
            }
        })
        .collect()
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
    let co_consts = pyo3::intern!(py, "co_consts");
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
    m.add_function(wrap_pyfunction!(functions_in, m)?)?;
    m.add_function(wrap_pyfunction!(functions_owning, m)?)?;
    m.add_function(wrap_pyfunction!(nested_codes, m)?)?;
    Ok(())
}
