//! `addr(obj)`: the number `id(obj)` gives, without the `builtins.id` audit
//! event; `function_code(f)`: `f.__code__`, without the `object.__getattr__`
//! one; `stack_module_codes(frames, filename)`: the module code objects of a
//! file running on the given stacks, read without a `frame.f_code` event per
//! frame.
//!
//! splice's registries key objects by identity (code objects compare by
//! value, so they cannot key a dict themselves; a list capture is not
//! hashable), and one enter+exit of a probe takes 60-120 identities. CPython
//! raises the `builtins.id` audit event on every `id()` call, and a process
//! with a Python audit hook pays a Python call for each: filelock installs
//! one on 3.12+, and transformers and huggingface_hub import filelock, so a
//! typical ML process had a nested function's capture enter+exit cost a
//! third more with those imported. The value is the same (`id()` is the
//! object's address in CPython); nothing leaves splice that `id()` would
//! not have given. The same holds for reading a function's `__code__`
//! (CPython audits the read; a census of a nested function reads it about
//! thirty times). Assigning `__code__`, the act the audit is about, stays
//! a plain (audited) assignment.

use pyo3::prelude::*;

/// The address of `obj`, as `id(obj)` gives it.
#[pyfunction]
fn addr(obj: &Bound<'_, PyAny>) -> usize {
    obj.as_ptr() as usize
}

/// `f.__code__`: read from the function object when `f` is a Python
/// function, else looked up as an attribute (what `f.__code__` would do).
#[pyfunction]
fn function_code<'py>(f: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `f` is a live object (borrowed for the call); the check is
    // the exact-type test, and PyFunction_GetCode returns a borrowed
    // reference to the function's code object, never NULL for a function.
    unsafe {
        if pyo3::ffi::PyFunction_Check(f.as_ptr()) == 0 {
            return f.getattr("__code__");
        }
        let code = pyo3::ffi::PyFunction_GetCode(f.as_ptr());
        Ok(Bound::from_borrowed_ptr(f.py(), code))
    }
}

/// The distinct code objects named `<module>` with `co_filename ==
/// filename` that run in the frames `tops` or in the frames below them
/// (`f_back`), outermost calls included: the census's question of which
/// still-running module code holds a function's code object. Walked with
/// `PyFrame_GetCode`/`PyFrame_GetBack` (reading `frame.f_code` in Python is
/// an audit event per frame).
#[pyfunction]
fn stack_module_codes<'py>(
    py: Python<'py>,
    tops: Vec<Bound<'py, PyAny>>,
    filename: &Bound<'py, PyAny>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let mut out: Vec<Bound<'py, PyAny>> = Vec::new();
    for top in tops {
        let top = top.cast_into::<pyo3::types::PyFrame>()?;
        // SAFETY: `top` is a live frame object we hold; PyFrame_GetBack and
        // PyFrame_GetCode return new references (NULL back at the bottom),
        // which the Bound wrappers own.
        let mut frame: Option<Bound<'py, PyAny>> = Some(top.into_any());
        while let Some(f) = frame {
            let fp: *mut pyo3::ffi::PyFrameObject = f.as_ptr().cast();
            let code = unsafe {
                Bound::from_owned_ptr(
                    py,
                    pyo3::ffi::PyFrame_GetCode(fp).cast::<pyo3::ffi::PyObject>(),
                )
            };
            if code.getattr(pyo3::intern!(py, "co_name"))?.eq("<module>")?
                && code
                    .getattr(pyo3::intern!(py, "co_filename"))?
                    .eq(filename)?
                && !out.iter().any(|c| c.is(&code))
            {
                out.push(code);
            }
            let back = unsafe { pyo3::ffi::PyFrame_GetBack(fp) };
            frame = if back.is_null() {
                None
            } else {
                Some(unsafe { Bound::from_owned_ptr(py, back.cast::<pyo3::ffi::PyObject>()) })
            };
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(addr, m)?)?;
    m.add_function(wrap_pyfunction!(function_code, m)?)?;
    m.add_function(wrap_pyfunction!(stack_module_codes, m)?)?;
    Ok(())
}
