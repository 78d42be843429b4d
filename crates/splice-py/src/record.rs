//! `CallRecord`: the storage and the one constructor of a captured call.
//!
//! `splice.CallInfo` is a Python subclass that adds the views (`args` and
//! `stack` built from what was recorded when first read, `repr`,
//! `print_stack`); the fields and the constructor are here:
//!
//! `CallRecord(name=None, file=None, args=None, locals=None, globals=None,
//! return_value=None, exception=None, stack=None)`
//!
//! Python code calls it as `CallInfo(...)`; the capture hooks make every
//! record with the same constructor ([`new_record`], then [`CallRecord::fill`])
//! and refill a `CallCapture` (itself a `CallInfo`) the same way. Neither
//! runs Python code or counts a recursion level: a record is often made at
//! the recursion limit (in the `error` hook of a call that raised
//! `RecursionError`).
//!
//! A record the hooks made holds the call's arguments and stack in their
//! recorded form ([`Recorded`]: argument names and values, `(code,
//! offset)` pairs of the outer frames) until `CallInfo` first reads `args`
//! or `stack` and builds the `OrderedDict` and `StackSummary`: line numbers
//! need a walk of each code object's location table, and most records are
//! never looked at. The recorded form is inside the record, not an object
//! of its own: one collector-tracked object less per call.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyType};
use pyo3::PyTraverseError;

use crate::call_stack::{pairs, Frames};

/// The fields of a record, in constructor order.
pub type Fields = [Option<Py<PyAny>>; 8];

/// A captured call as recorded, until `CallInfo` builds `args` and `stack`.
pub struct Recorded {
    /// The names of the bound arguments, in `co_varnames` order.
    pub arg_names: Py<PyTuple>,
    /// Their values at entry (after the capture's `transform`).
    pub arg_values: Vec<Py<PyAny>>,
    /// The outer frames, innermost first. Shared with other records made
    /// from the same place: never visited by `__traverse__` (each owner
    /// would count the one reference again); code objects are not
    /// collector-visible anyway.
    pub frames: Frames,
    /// The captured function's file, name and first line (strings and an
    /// int, not its code object: a record kept after its capture must not
    /// hold a reference to the original code, which the owner census in
    /// `python/splice/owners.py` would have to explain by a heap search).
    pub file: Py<PyAny>,
    pub name: Py<PyAny>,
    pub firstline: Py<PyAny>,
}

/// The stack part of a [`Recorded`] (the arguments part is dropped on its
/// own once `args` is built).
struct RecordedStack {
    frames: Frames,
    file: Py<PyAny>,
    name: Py<PyAny>,
    firstline: Py<PyAny>,
}

#[pyclass(subclass, weakref, module = "splice._native")]
pub struct CallRecord {
    /// `co_name` of the called function.
    #[pyo3(get, set)]
    name: Option<Py<PyAny>>,
    /// `co_filename` of the called function.
    #[pyo3(get, set)]
    file: Option<Py<PyAny>>,
    /// The arguments (a mapping), or `None` (see `recorded_args`).
    args: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    locals: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    globals: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    return_value: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    exception: Option<Py<PyAny>>,
    /// The stack (a `StackSummary`), or `None` (see `recorded_stack`).
    stack: Option<Py<PyAny>>,
    /// The recorded arguments, until `args` is set (by `CallInfo` building
    /// it from them, or by the user).
    recorded_args: Option<(Py<PyTuple>, Vec<Py<PyAny>>)>,
    /// The recorded stack, until `stack` is set.
    recorded_stack: Option<RecordedStack>,
    /// Set while the collector does not track this record (see
    /// [`DeferredTracking`]): where to say that it is gone.
    deferred: Option<Deferral>,
}

/// Records made while a capture runs, which the cycle collector does not
/// track until the capture stops (each with its `locals` dict).
///
/// Why: a capture that keeps every call holds its records in a list that
/// grows for the whole block, and each collection of the oldest generation
/// walks all of them again: measured on 3.11, the collector's walks were
/// about 45% of the time of a recorded call; on 3.14, where every dict is
/// tracked, the locals dicts doubled it again. While the capture runs, its
/// list is held by the running `with` block, so no record in it can be
/// part of unreachable garbage: not tracking them changes no collection.
/// When the capture stops, every record still alive is tracked again
/// ([`DeferredTracking::track_all`]), wherever it is by then, and so is the
/// dict in its `locals` if that is untracked, so a cycle through a record
/// (its `globals` holding the list that holds it, in an `exec` namespace)
/// is collected as before. A record the user took out of the list during
/// the block and dropped into a cycle is collected after the block, not
/// during it. (One case stays untracked: a locals dict taken out of its
/// record during the block, whose record then dies or gets another
/// `locals` before the block ends; a cycle through that dict alone is not
/// collected on 3.14+, where a dict stays as tracked as it was made. On
/// 3.11-3.13 CPython tracks it again when a container is put into it.)
///
/// A record that dies first says so from its `Drop` (it is not left as a
/// dangling address here); an epoch tells stale slots of an earlier run
/// from this run's.
#[derive(Default)]
pub struct DeferredTracking {
    state: Mutex<DeferredState>,
}

#[derive(Default)]
struct DeferredState {
    epoch: u64,
    /// Addresses of untracked live records of this epoch (0: gone).
    records: Vec<usize>,
    /// Slots of `records` whose record is gone, for the next records: a
    /// block that records millions of calls and drops them as it goes
    /// (a training loop) kept 8 bytes per call until it exited.
    free: Vec<usize>,
}

/// A record's place in a [`DeferredTracking`].
struct Deferral {
    set: Arc<DeferredTracking>,
    epoch: u64,
    slot: usize,
}

impl DeferredTracking {
    fn lock(&self) -> std::sync::MutexGuard<'_, DeferredState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stop the collector tracking `record` (a record this recorder just
    /// made) until [`track_all`](Self::track_all).
    pub fn untrack(self: &Arc<Self>, record: &Bound<'_, CallRecord>) -> PyResult<()> {
        let mut r = record.try_borrow_mut()?;
        if r.deferred.is_some() {
            return Ok(());
        }
        let (epoch, slot) = {
            let mut st = self.lock();
            let addr = record.as_ptr() as usize;
            let slot = match st.free.pop() {
                Some(slot) => {
                    st.records[slot] = addr;
                    slot
                }
                None => {
                    st.records.push(addr);
                    st.records.len() - 1
                }
            };
            (st.epoch, slot)
        };
        r.deferred = Some(Deferral {
            set: Arc::clone(self),
            epoch,
            slot,
        });
        // SAFETY: live objects of GC types (CallRecord and its subclasses,
        // an exact dict); untracking a tracked object is always allowed,
        // and dealloc only untracks a tracked one.
        unsafe {
            if let Some(locals) = &r.locals {
                if ffi::PyDict_CheckExact(locals.as_ptr()) != 0 {
                    ffi::PyObject_GC_UnTrack(locals.as_ptr().cast());
                }
            }
            ffi::PyObject_GC_UnTrack(record.as_ptr().cast());
        }
        Ok(())
    }

    /// Track again every record untracked since the last call (the capture
    /// stopped). Runs no Python code. The GIL is held (a pymethod or the
    /// recorder's drop), so no record can be freed meanwhile: a record
    /// leaves its slot under the GIL too, from its `Drop`.
    pub fn track_all(&self, py: Python<'_>) {
        let records = {
            let mut st = self.lock();
            st.epoch += 1;
            st.free.clear();
            std::mem::take(&mut st.records)
        };
        for addr in records.into_iter().filter(|&a| a != 0) {
            let obj = addr as *mut ffi::PyObject;
            // SAFETY: a non-zero slot is a live record (its Drop zeroes the
            // slot before it is freed), an instance of CallRecord; track
            // only what is untracked (tracking twice is a fatal error), and
            // of its locals only an exact dict.
            unsafe {
                let record = Bound::from_borrowed_ptr(py, obj).cast_into_unchecked::<CallRecord>();
                if let Ok(r) = record.try_borrow() {
                    if let Some(locals) = &r.locals {
                        let l = locals.as_ptr();
                        if ffi::PyDict_CheckExact(l) != 0 && ffi::PyObject_GC_IsTracked(l) == 0 {
                            ffi::PyObject_GC_Track(l.cast());
                        }
                    }
                }
                if ffi::PyObject_GC_IsTracked(obj) == 0 {
                    ffi::PyObject_GC_Track(obj.cast());
                }
            }
        }
        // The records keep their (now stale) deferral: a record is only
        // ever untracked once, when made, and its drop checks the epoch.
    }

    /// Slots in use or free (`testing.deferred_slots`): at most the most
    /// records alive and untracked at once in this run.
    pub fn slots(&self) -> usize {
        self.lock().records.len()
    }

    fn forget(&self, epoch: u64, slot: usize) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.epoch == epoch {
            if let Some(a) = st.records.get_mut(slot) {
                if *a != 0 {
                    *a = 0;
                    st.free.push(slot);
                }
            }
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if let Some(d) = self.deferred.take() {
            d.set.forget(d.epoch, d.slot);
        }
    }
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
            recorded_args: None,
            recorded_stack: None,
            deferred: None,
        }
    }

    /// Put `fields` and `recorded` in `record` (a new record, or a
    /// `CallCapture` keeping the last call). The old values are dropped
    /// after the record is released: a finaliser they run may read it.
    pub fn fill(
        record: &Bound<'_, CallRecord>,
        fields: Fields,
        recorded: Option<Recorded>,
    ) -> PyResult<()> {
        let (recorded_args, recorded_stack) = match recorded {
            Some(r) => (
                Some((r.arg_names, r.arg_values)),
                Some(RecordedStack {
                    frames: r.frames,
                    file: r.file,
                    name: r.name,
                    firstline: r.firstline,
                }),
            ),
            None => (None, None),
        };
        let (old_fields, old_args, old_stack) = {
            let mut r = record.try_borrow_mut()?;
            (
                r.replace_fields(fields),
                std::mem::replace(&mut r.recorded_args, recorded_args),
                std::mem::replace(&mut r.recorded_stack, recorded_stack),
            )
        };
        // The previous call's values (a capture_call keeps only the last):
        // their finalizers run here, inside a hook (see `thread_exit`).
        let mut values: Vec<Py<PyAny>> = old_fields.into_iter().flatten().collect();
        if let Some((args, rest)) = old_args {
            values.push(args.into_any());
            values.extend(rest);
        }
        crate::thread_exit::release(record.py(), values);
        drop(old_stack);
        Ok(())
    }

    /// Put `fields` in and return the old ones (the deferral stays).
    fn replace_fields(&mut self, fields: Fields) -> Fields {
        let [name, file, args, locals, globals, return_value, exception, stack] = fields;
        [
            std::mem::replace(&mut self.name, name),
            std::mem::replace(&mut self.file, file),
            std::mem::replace(&mut self.args, args),
            std::mem::replace(&mut self.locals, locals),
            std::mem::replace(&mut self.globals, globals),
            std::mem::replace(&mut self.return_value, return_value),
            std::mem::replace(&mut self.exception, exception),
            std::mem::replace(&mut self.stack, stack),
        ]
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

    /// The arguments (a mapping) once built or set; `None` before.
    #[getter(_args)]
    fn get_args(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.args.as_ref().map(|a| a.clone_ref(py))
    }

    /// Setting the arguments drops the recorded ones.
    #[setter(_args)]
    fn set_args(slf: &Bound<'_, Self>, value: Option<Py<PyAny>>) -> PyResult<()> {
        let old = {
            let mut r = slf.try_borrow_mut()?;
            (
                std::mem::replace(&mut r.args, value),
                r.recorded_args.take(),
            )
        };
        drop(old);
        Ok(())
    }

    /// The stack (a `StackSummary`) once built or set; `None` before.
    #[getter(_stack)]
    fn get_stack(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stack.as_ref().map(|s| s.clone_ref(py))
    }

    /// Setting the stack drops the recorded one.
    #[setter(_stack)]
    fn set_stack(slf: &Bound<'_, Self>, value: Option<Py<PyAny>>) -> PyResult<()> {
        let old = {
            let mut r = slf.try_borrow_mut()?;
            (
                std::mem::replace(&mut r.stack, value),
                r.recorded_stack.take(),
            )
        };
        drop(old);
        Ok(())
    }

    /// `(names, values)` of the recorded arguments, or `None` (not a
    /// recorded call, or `args` was set since).
    fn _recorded_args<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Py<PyTuple>, Bound<'py, PyTuple>)>> {
        let Some((names, values)) = &self.recorded_args else {
            return Ok(None);
        };
        let values = PyTuple::new(py, values.iter().map(|v| v.bind(py)))?;
        Ok(Some((names.clone_ref(py), values)))
    }

    /// `([(code, lasti), ...] innermost frame first, file, name, firstline)`
    /// of the recorded stack (the last three describe the captured call
    /// itself), or `None` (not a recorded call, or `stack` was set since).
    fn _recorded_stack<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(st) = &self.recorded_stack else {
            return Ok(None);
        };
        let outer = PyList::empty(py);
        for (code, lasti) in pairs(&st.frames) {
            outer.append((code.bind(py), lasti))?;
        }
        let unpacked = PyTuple::new(
            py,
            [
                outer.as_any(),
                st.file.bind(py),
                st.name.bind(py),
                st.firstline.bind(py),
            ],
        )?;
        Ok(Some(unpacked))
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
        if let Some((names, values)) = &self.recorded_args {
            visit.call(names)?;
            for v in values {
                visit.call(v)?;
            }
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        // (the deferral stays: a cleared record still says when it is freed)
        drop(self.replace_fields(Default::default()));
        drop(self.recorded_args.take());
        drop(self.recorded_stack.take());
    }
}

/// A new, empty record of class `cls` (a `CallRecord` subclass: the
/// caller checks), made by its constructor, `cls.__new__(cls)`, called
/// through the type's `tp_new` slot; the caller fills it
/// ([`CallRecord::fill`]). Calling the class itself would go through its
/// `tp_call`, which counts a recursion level on 3.11 and so fails in the
/// `error` hook of a call that raised `RecursionError`. (`CallRecord` has
/// no `__init__`: `__new__` is the whole constructor.)
pub fn new_record<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, CallRecord>> {
    let py = cls.py();
    let args = PyTuple::empty(py);
    let tp = cls.as_type_ptr();
    // SAFETY: `tp` is a valid type object (we hold a reference to it) and
    // reading its slot is what `type_call` does; `tp_new` takes the type, an
    // argument tuple and NULL keywords, and returns a new reference or NULL
    // with an exception set.
    let record = unsafe {
        let Some(new) = (*tp).tp_new else {
            return Err(PyTypeError::new_err(
                "the record class cannot be instantiated",
            ));
        };
        Bound::from_owned_ptr_or_err(py, new(tp, args.as_ptr(), std::ptr::null_mut()))?
    };
    Ok(record.cast_into::<CallRecord>()?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CallRecord>()?;
    Ok(())
}
