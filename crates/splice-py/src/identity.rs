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

/// Calls `each` with the code object of `top` and of every frame below it
/// (`f_back`), outermost calls included. Walked with `PyFrame_GetCode` /
/// `PyFrame_GetBack` (reading `frame.f_code` in Python is an audit event
/// per frame).
fn for_each_code<'py>(
    py: Python<'py>,
    top: Bound<'py, PyAny>,
    mut each: impl FnMut(Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    let mut frame = Some(top);
    while let Some(f) = frame {
        let fp: *mut pyo3::ffi::PyFrameObject = f.as_ptr().cast();
        // SAFETY: `f` is a live frame object we hold; PyFrame_GetCode and
        // PyFrame_GetBack return new references (NULL back at the bottom),
        // which the Bound wrappers own.
        each(unsafe { Bound::from_owned_ptr(py, pyo3::ffi::PyFrame_GetCode(fp).cast()) })?;
        let back = unsafe { pyo3::ffi::PyFrame_GetBack(fp) };
        frame = (!back.is_null()).then(|| unsafe { Bound::from_owned_ptr(py, back.cast()) });
    }
    Ok(())
}

/// The distinct code objects named `<module>` with `co_filename ==
/// filename` that run in the frames `tops` or in the frames below them:
/// the census's question of which still-running module code holds a
/// function's code object.
#[pyfunction]
fn stack_module_codes<'py>(
    py: Python<'py>,
    tops: Vec<Bound<'py, PyAny>>,
    filename: &Bound<'py, PyAny>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let mut out: Vec<Bound<'py, PyAny>> = Vec::new();
    for top in tops {
        let top = top.cast_into::<pyo3::types::PyFrame>()?.into_any();
        for_each_code(py, top, |code| {
            if code
                .getattr(crate::lazy::interned!(py, "co_name"))?
                .eq("<module>")?
                && code
                    .getattr(crate::lazy::interned!(py, "co_filename"))?
                    .eq(filename)?
                && !out.iter().any(|c| c.is(&code))
            {
                out.push(code);
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// How many frames of the calling thread's stack run `code` (each holds one
/// reference to it): the census's question when a function whose code
/// object it counts is running, as the parent of a nested function probed
/// from inside it is. The calling thread only: its stack cannot change
/// while the census runs, where another thread's could between the
/// reference count and the walk, and a frame counted that the count did not
/// include would hide an owner. Starts from `PyEval_GetFrame` (no
/// `sys._getframe` audit event).
#[pyfunction]
fn frames_running_here(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<usize> {
    // SAFETY: PyEval_GetFrame returns a borrowed reference to the calling
    // thread's current frame (or NULL), alive while this call runs; it is
    // taken as a new reference before use.
    let top = unsafe { pyo3::ffi::PyEval_GetFrame() };
    if top.is_null() {
        return Ok(0);
    }
    let top = unsafe { Bound::from_borrowed_ptr(py, top.cast::<pyo3::ffi::PyObject>()) };
    let mut count = 0;
    for_each_code(py, top, |running| {
        count += usize::from(running.is(code));
        Ok(())
    })?;
    Ok(count)
}

/// References to `code` that capture records' stacks hold now (one per
/// stack node, see `call_stack::NODE_REFS`).
#[pyfunction]
fn recorded_stack_refs(code: &Bound<'_, PyAny>) -> usize {
    crate::call_stack::recorded_refs(code)
}

/// Bumped whenever a recorded stack node is made or dropped: a count from
/// [`recorded_stack_refs`] holds for a reference count read while this
/// did not change.
#[pyfunction]
fn recorded_stack_generation() -> u64 {
    crate::call_stack::generation()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(addr, m)?)?;
    m.add_function(wrap_pyfunction!(function_code, m)?)?;
    m.add_function(wrap_pyfunction!(stack_module_codes, m)?)?;
    m.add_function(wrap_pyfunction!(frames_running_here, m)?)?;
    m.add_function(wrap_pyfunction!(recorded_stack_refs, m)?)?;
    m.add_function(wrap_pyfunction!(recorded_stack_generation, m)?)?;
    Ok(())
}
