//! The locals of a captured call as a new dict, at its return or when an
//! exception leaves it (`capture_hooks` records them).
//!
//! The general way, [`snapshot`], asks CPython for the frame's locals
//! mapping and copies it: on 3.11 and 3.12 that first writes every fast
//! local into the frame's own locals dict and then copies that dict; on
//! 3.13+ it builds a dict through the frame's locals proxy. Both then drop
//! splice's helper names (`_splice_…`). That was a fifth of the cost of a
//! recorded call.
//!
//! The fast way, [`LocalsLayout`], reads each variable of the running code
//! object once, by its slot (3.11: the interpreter frame's locals array,
//! checked as in `frame311`) or by name (`PyFrame_GetVar`, 3.12+), into a
//! new dict, skipping the helper names. The layout (which slot holds which
//! name, which hold cells) is worked out once per running code object,
//! from `co_varnames`, `co_cellvars` and `co_freevars`, checked name by
//! name against CPython's own `_varname_from_oparg`, and kept with a weak
//! reference to that code object: a layout is only used for the code it
//! was made from. Anything unexpected (a code object that is not a
//! function body, a check that fails) takes the general way.

#[cfg(Py_3_12)]
use pyo3::exceptions::PyNameError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyWeakrefReference};

use crate::consts::{CO_OPTIMIZED, HOOK_PREFIX};

/// Past this many variables, 3.12+ reads a frame's variables through one
/// copy of its locals (the general way), not one `PyFrame_GetVar` each:
/// that call finds a name by a linear search of the code object's
/// variables, so reading all of them one by one is quadratic (test_collections'
/// namedtuple of 150,000 fields took minutes per recorded call). Below it,
/// the reads one by one cost less than the copy.
#[cfg(Py_3_12)]
pub const MANY_VARS: usize = 64;

/// `(slot, name, is a cell or free variable)`: one variable of a layout as
/// `testing.locals_layout` shows it.
pub type VarDescription = (usize, Py<PyString>, bool);

/// One variable of a layout.
struct Var {
    /// Its index in the frame's locals (`co_nlocalsplus` order).
    slot: usize,
    name: Py<PyString>,
    /// A cell or free variable: the slot holds a cell (3.11 reads its
    /// contents).
    deref: bool,
}

/// Where the visible variables of one code object live in its frames.
pub struct LocalsLayout {
    /// The code object described (weak: the layout is kept by capture
    /// hooks, which that code object's constants may hold).
    code: Py<PyWeakrefReference>,
    code_addr: usize,
    /// Its variables in slot order, helper names left out; `None`: read
    /// this code's frames the general way.
    vars: Option<Vec<Var>>,
}

impl LocalsLayout {
    /// The layout of `code` (with no variables when it is not a function
    /// body or its slots do not check out: then the general way is used).
    pub fn of(code: &Bound<'_, PyAny>, own: &[String]) -> PyResult<Self> {
        let vars = Self::vars(code, own)?;
        Ok(LocalsLayout {
            code: PyWeakrefReference::new(code)?.unbind(),
            code_addr: code.as_ptr() as usize,
            vars,
        })
    }

    fn vars(code: &Bound<'_, PyAny>, own: &[String]) -> PyResult<Option<Vec<Var>>> {
        let py = code.py();
        let flags: u32 = code
            .getattr(crate::lazy::interned!(py, "co_flags"))?
            .extract()?;
        if flags & CO_OPTIMIZED == 0 {
            return Ok(None);
        }
        let varnames = code
            .getattr(crate::lazy::interned!(py, "co_varnames"))?
            .cast_into::<PyTuple>()?;
        #[cfg(Py_3_12)]
        if varnames.len() > MANY_VARS {
            return Ok(None);
        }
        let cellvars = code
            .getattr(crate::lazy::interned!(py, "co_cellvars"))?
            .cast_into::<PyTuple>()?;
        let freevars = code
            .getattr(crate::lazy::interned!(py, "co_freevars"))?
            .cast_into::<PyTuple>()?;
        // Slot order (CPython's localsplus): the locals, each cell that is
        // not also a local, then the free variables.
        let mut all: Vec<(Bound<'_, PyString>, bool)> = Vec::new();
        for n in varnames.iter() {
            let cell = cellvars.contains(&n)?;
            all.push((n.cast_into::<PyString>()?, cell));
        }
        for n in cellvars.iter() {
            if !varnames.contains(&n)? {
                all.push((n.cast_into::<PyString>()?, true));
            }
        }
        for n in freevars.iter() {
            all.push((n.cast_into::<PyString>()?, true));
        }
        // CPython's own name of each slot must be ours.
        let name_of = crate::lazy::interned!(py, "_varname_from_oparg");
        let mut vars = Vec::with_capacity(all.len());
        for (slot, (name, deref)) in all.into_iter().enumerate() {
            let Ok(theirs) = code.call_method1(name_of, (slot,)) else {
                return Ok(None);
            };
            if !theirs.eq(&name)? {
                return Ok(None);
            }
            if is_helper(name.to_str()?, own) {
                continue;
            }
            vars.push(Var {
                slot,
                name: name.unbind(),
                deref,
            });
        }
        Ok(Some(vars))
    }

    /// `(slot, name, is a cell or free variable)` of each variable read the
    /// fast way, or `None` (the general way): for `testing.locals_layout`.
    pub fn describe(&self, py: Python<'_>) -> Option<Vec<VarDescription>> {
        let vars = self.vars.as_ref()?;
        Some(
            vars.iter()
                .map(|v| (v.slot, v.name.clone_ref(py), v.deref))
                .collect(),
        )
    }

    /// Whether this is the layout of `code` (alive: same object).
    pub fn describes(&self, py: Python<'_>, code: *mut ffi::PyObject) -> bool {
        code as usize == self.code_addr
            && self
                .code
                .bind(py)
                .upgrade()
                .is_some_and(|c| c.as_ptr() == code)
    }

    /// The variables of `frame` (running this layout's code object) that
    /// are bound, in a new dict, in slot order; `None` if the frame cannot
    /// be read this way.
    pub fn read<'py>(
        &self,
        py: Python<'py>,
        frame: *mut ffi::PyFrameObject,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(vars) = &self.vars else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        #[cfg(all(Py_3_11, not(Py_3_12), not(Py_GIL_DISABLED)))]
        {
            // SAFETY: `frame` is a live frame object; its interpreter frame
            // is checked to run the code object this layout describes (the
            // caller checked that), so every slot index is below its
            // co_nlocalsplus. A cell or free slot holds a cell once the
            // prologue ran (the hooks run after it).
            unsafe {
                let Some(iframe) = crate::frame311::interpreter_frame(frame) else {
                    return Ok(None);
                };
                for var in vars {
                    let v = crate::frame311::local(iframe, var.slot);
                    let value = if v.is_null() {
                        None
                    } else if var.deref && ffi::PyCell_Check(v) != 0 {
                        // a new reference to the contents, or NULL (empty)
                        let inner = ffi::PyCell_Get(v);
                        (!inner.is_null()).then(|| Bound::from_owned_ptr(py, inner))
                    } else {
                        Some(Bound::from_borrowed_ptr(py, v))
                    };
                    if let Some(value) = value {
                        insert(&dict, &var.name, &value)?;
                    }
                }
            }
        }
        #[cfg(Py_3_12)]
        for var in vars {
            // SAFETY: `frame` is a live frame object and the name a str;
            // PyFrame_GetVar returns a new reference, or NULL with an
            // exception (NameError: not bound).
            let v = unsafe { ffi::PyFrame_GetVar(frame, var.name.as_ptr()) };
            if v.is_null() {
                let err = PyErr::fetch(py);
                if !err.is_instance_of::<PyNameError>(py) {
                    return Err(err);
                }
                continue;
            }
            // SAFETY: a new reference, checked non-NULL.
            insert(&dict, &var.name, &unsafe { Bound::from_owned_ptr(py, v) })?;
        }
        Ok(Some(dict))
    }
}

/// `dict[name] = value`, straight to `PyDict_SetItem` (pyo3's `set_item`,
/// generic over what it converts, took three times as long here).
fn insert(dict: &Bound<'_, PyDict>, name: &Py<PyString>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: a dict, a str and an object, all alive; PyDict_SetItem takes
    // its own references and returns -1 with an exception set.
    if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), name.as_ptr(), value.as_ptr()) } < 0 {
        return Err(PyErr::fetch(dict.py()));
    }
    Ok(())
}

/// A new dict with the locals of `frame` (the running frame, or the frame
/// a `sys.monitoring` callback reports), splice's helper names left out:
/// the general way (see the module docs).
pub fn snapshot<'py>(
    py: Python<'py>,
    frame: *mut ffi::PyFrameObject,
    own: &[String],
) -> PyResult<Bound<'py, PyDict>> {
    // 3.13's f_locals is a write-through proxy, copied through its items:
    // PyDict_Update (and PyEval_GetFrameLocals, which uses it) reads a proxy
    // key by key, each a linear search of the code's variables, quadratic
    // in their number (this is the way for code with many variables,
    // `MANY_VARS`). `frame` is the running frame, or the frame a
    // sys.monitoring callback (a Python function) reports the return of.
    #[cfg(Py_3_13)]
    let dict = {
        // SAFETY: `frame` is a live frame object; PyFrame_GetLocals returns
        // a new reference (a FrameLocalsProxy, or the dict of a frame that
        // is not a function's) or NULL with an exception.
        let proxy = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFrame_GetLocals(frame))? };
        // SAFETY: a live mapping; PyMapping_Items returns a new list of
        // (key, value) pairs or NULL with an exception.
        let items =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMapping_Items(proxy.as_ptr()))? };
        PyDict::from_sequence(&items)?
    };
    // 3.11/3.12: the frame's own locals dict, synced; copy it.
    #[cfg(not(Py_3_13))]
    let dict = {
        // SAFETY: `frame` is the running frame; a new reference or NULL
        // with an exception.
        let locals = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFrame_GetLocals(frame))? };
        locals.cast::<PyDict>()?.copy()?
    };
    let mut hidden = Vec::new();
    for (k, _) in dict.iter() {
        if let Ok(s) = k.cast::<PyString>() {
            if s.to_str().is_ok_and(|s| is_helper(s, own)) {
                hidden.push(k);
            }
        }
    }
    for k in hidden {
        dict.del_item(k)?;
    }
    Ok(dict)
}

/// Whether the variable `name` is one of splice's helpers (`_splice_call`),
/// left out of recorded locals: a name with splice's prefix that the
/// function's own code does not have (`own`: its variables with that prefix,
/// nearly always none). A variable of the user's that starts with the prefix
/// was left out too, until December 2026.
pub fn is_helper(name: &str, own: &[String]) -> bool {
    name.starts_with(HOOK_PREFIX) && !own.iter().any(|o| o == name)
}
