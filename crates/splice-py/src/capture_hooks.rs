//! Native call-capture hooks (`python/splice/capture.py` is their only user).
//!
//! A capture probe injects `enter()` after the first `RESUME`, `exit(value)`
//! before every return and `error(exc)` in an outermost exception handler
//! (`splice_rewrite::probe`). Those three are bound methods of one
//! [`CaptureHooks`] per instrumented code object: builtin methods that
//! CPython calls through vectorcall (`METH_FASTCALL | METH_KEYWORDS`). That
//! matters beyond speed: 3.11's specialised call of such a builtin does not
//! count a recursion level (a `tp_call` object such as a pyo3 `__call__`, or
//! a `METH_O` / `METH_NOARGS` builtin, does, and CPython's own recursion-limit
//! tests notice), and a builtin pushes no frame, so `PyEval_GetFrame` is the
//! captured function's frame.
//!
//! A generator's, coroutine's or async generator's probe calls `open()`
//! instead of `enter()` and keeps what it returns (an [`OpenCall`]) in a
//! hidden local of the frame, which it passes to `exit` and `error`: a
//! suspended call's entry then belongs to its frame, so a garbage cycle
//! through it stays garbage (see [`OpenCall`]).
//!
//! All hooks of one capture share a [`Recorder`]: whether it records, the
//! plain calls that entered and have not returned yet (keyed by frame), the
//! open calls the frames hold, and where
//! finished records go (appended to the `CallListCapture`, written into the
//! `CallCapture`, or counted and dropped for the torture run). A record is
//! made by the record class's own constructor and filled natively
//! (`crate::record`; a `CallCapture` is refilled the same way), with the
//! arguments and the stack in their recorded form (`record::Recorded`),
//! which `CallInfo` turns into an `OrderedDict` and a `StackSummary` when
//! they are first read. While the capture records, the collector does not
//! track its records (`record::DeferredTracking`).
//!
//! Rules every hook follows, because it runs inside arbitrary user code:
//! - it never raises into the target: a failure (an `Exception`) is handed to
//!   the capture's `_hook_failed`; only `BaseException`s that are not
//!   `Exception`s (`KeyboardInterrupt`) propagate, as they would from any
//!   line of the target;
//! - it never panics into Python (a panic is caught and reported the same way);
//! - it holds no lock while calling into Python or dropping a Python object:
//!   a `transform` or a finaliser can run Python code that calls the captured
//!   function again, on this thread or (at any bytecode boundary) another.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::thread_exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyException, PyGeneratorExit, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrame, PyList, PyString, PyTuple, PyType, PyWeakrefReference};
use pyo3::PyTraverseError;

use crate::call_stack::{is_resumable, push, Frames, StackSharer};
use crate::frame_locals::{self, LocalsLayout};
use crate::record::{new_record, CallRecord, DeferredTracking, Fields, Recorded};

/// Where finished records go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Append a new record (`info_type(...)`) to the owner (a `list` subclass).
    List,
    /// Refill the owner (a `CallInfo`) with the record's fields.
    Last,
    /// Build the record, count it and drop it (torture runs).
    Discard,
}

/// What `enter` recorded of a call that has not returned yet.
struct Entry {
    /// Argument values at entry, in `argnames` order (`None` where unbound).
    values: Vec<Option<Py<PyAny>>>,
    /// (code, lasti) of every outer frame, innermost first.
    stack: Frames,
}

impl Entry {
    /// The user's values it holds, to let go of through
    /// `thread_exit::release` (its stack holds code objects only).
    fn into_values(self) -> impl Iterator<Item = Py<PyAny>> {
        self.values.into_iter().flatten()
    }
}

/// An open call of the pending map.
struct Pending {
    /// Strong reference: while we hold it, no other frame can get its address
    /// (the key of the pending map).
    frame: Py<PyAny>,
    entry: Entry,
}

/// The entry of an open call that its frame holds (an [`OpenCall`] in a
/// hidden local), shared with the recorder's [`OpenCalls`] so that stopping
/// the capture can forget it.
#[derive(Default)]
struct OpenState {
    entry: Mutex<Option<Entry>>,
}

impl OpenState {
    fn lock(&self) -> MutexGuard<'_, Option<Entry>> {
        self.entry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry, taken (dropped by the caller, outside the lock).
    fn take(&self) -> Option<Entry> {
        self.lock().take()
    }
}

/// The open calls a recorder's frames hold, by the address of their state.
#[derive(Default)]
struct OpenCalls(Mutex<HashMap<usize, Arc<OpenState>, BuildAddrHasher>>);

impl OpenCalls {
    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Arc<OpenState>, BuildAddrHasher>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The state of one open call of a generator or coroutine, which `enter`
/// returns and the instrumented code keeps in a hidden local of its frame
/// (`CaptureProbe(keep_entry=True)`) and hands to `exit`/`error`.
///
/// Why in the frame: a suspended generator or coroutine can be part of a
/// garbage cycle (an asyncio task abandoned while it awaits: future,
/// callbacks, task, coroutine, frame, future). Held by the capture (the
/// pending map, which the program reaches), the open call's arguments kept
/// the whole cycle reachable until the block ended; held by the frame and
/// visited by the collector from there, they are part of the cycle, which is
/// collected as it would be without splice (closing the generator records
/// the call, as its end).
#[pyclass(module = "splice._native", frozen)]
pub struct OpenCall {
    state: Arc<OpenState>,
    /// The recorder's open calls, which this one leaves when it is dropped.
    calls: Arc<OpenCalls>,
}

impl OpenCall {
    fn key(&self) -> usize {
        Arc::as_ptr(&self.state) as usize
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        let mine = {
            let mut calls = self.calls.lock();
            calls.remove(&self.key())
        };
        // the entry (Python objects) is dropped after the lock is released
        let entry = self.state.take();
        drop((mine, entry));
    }
}

#[pymethods]
impl OpenCall {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never blocks: the lock is only held while an entry is put in or
        // taken out, which allocates nothing a collection could start in.
        if let Ok(entry) = self.state.entry.try_lock() {
            if let Some(entry) = entry.as_ref() {
                for v in &entry.values {
                    visit.call(v)?;
                }
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        drop(self.state.take());
    }

    fn __repr__(&self) -> &'static str {
        if self.state.lock().is_some() {
            "<splice open call>"
        } else {
            "<splice finished call>"
        }
    }
}

/// Hashes the pending map's keys, frame addresses: one multiply, its high
/// half folded in (the low bits of an address are always zero). The
/// standard SipHash, built against crafted input, cost more than a tenth
/// of a recorded call's own work here.
#[derive(Default, Clone, Copy)]
struct BuildAddrHasher;

struct AddrHasher(u64);

impl BuildHasher for BuildAddrHasher {
    type Hasher = AddrHasher;
    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(0)
    }
}

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        // not used for `usize` keys; correct for anything else
        for &b in bytes {
            self.write_usize(b as usize);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let x = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

thread_local! {
    /// The recorders (addresses) whose `transform` this thread is running.
    static IN_TRANSFORM: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
    /// How deep this thread is in splice's own formatting of records
    /// (`CallInfo`'s repr, its stack, its HTML display): calls that start
    /// meanwhile are not recorded by any capture. The reprs of recorded
    /// values run Python code (a module's repr calls importlib; a class may
    /// define `__repr__`), which a capture with no scope recorded: printing
    /// its list inside the block appended a record per value shown, whose
    /// repr showed the value again, until memory ran out.
    static PAUSED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Calls that start on this thread are not recorded by any capture until the
/// matching [`resume_recording`] (nested pairs count).
#[pyfunction]
fn pause_recording() {
    PAUSED.with(|p| p.set(p.get().saturating_add(1)));
}

/// Ends one [`pause_recording`].
#[pyfunction]
fn resume_recording() {
    PAUSED.with(|p| p.set(p.get().saturating_sub(1)));
}

/// How many [`pause_recording`]s on this thread have not ended: a Python
/// `__enter__` that an interrupt may cut short right after its pause
/// compares it with the depth before (`splice.enter_guard`).
#[pyfunction]
fn recording_pause_depth() -> u32 {
    PAUSED.with(|p| p.get())
}

/// `with Unrecorded():` pauses recording for its block ([`pause_recording`]
/// at the start, [`resume_recording`] at the end). Written here rather than
/// in Python so that no Python frame starts between the block's end and the
/// resume: a signal handler's KeyboardInterrupt, run where a Python
/// function starts, would skip the resume and leave recording paused on
/// the thread for good. Subclassable for `splice.enter_guard`, whose
/// Python `__enter__` closes the gap CPython 3.14 leaves after a native one.
#[pyclass(module = "splice._native", frozen, subclass)]
pub struct Unrecorded;

#[pymethods]
impl Unrecorded {
    #[new]
    fn new() -> Self {
        Unrecorded
    }

    fn __enter__(&self) {
        pause_recording();
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) {
        resume_recording();
    }
}

/// The shared state of one capture (see the module docs).
#[pyclass(module = "splice._native", frozen)]
pub struct Recorder {
    /// A weak reference to the capture object: the instrumented code objects
    /// hold the hooks in `co_consts` and code objects are invisible to the
    /// cycle collector, so a strong reference here (or from any record,
    /// through the code objects of its stack) would keep the capture and all
    /// its records alive forever. `None` for `Sink::Discard`.
    owner: Option<Py<PyWeakrefReference>>,
    sink: Sink,
    /// The record class (`CallInfo`, a `CallRecord` subclass).
    info_type: Py<PyType>,
    /// While recording only (`set_live`): the instrumented code objects
    /// hold the hooks, which reach this recorder, and the cycle collector
    /// does not see code objects. A transform that reaches the capture's
    /// list (a method of an object keeping its captures) closed a cycle
    /// through a recorded exception's traceback, its frame and that code,
    /// and nothing in it was ever freed. The capture keeps it meanwhile.
    transform: Mutex<Option<Py<PyAny>>>,
    /// Whether the capture has a transform at all (read per recorded call
    /// without taking the lock above).
    transforms: bool,
    keep: Option<Py<PyAny>>,
    max_calls: Option<u64>,
    count: AtomicU64,
    failures: AtomicU64,
    live: AtomicBool,
    pending: Mutex<HashMap<usize, Pending, BuildAddrHasher>>,
    /// Open calls whose frames hold their entries (`OpenCall`).
    open: Arc<OpenCalls>,
    /// The stack the last `enter` recorded, whose nodes the next one shares.
    /// Cleared with the pending calls: it can hold an instrumented code
    /// object (a recursive call's), whose constants hold the hooks.
    stacks: StackSharer,
    /// The records this capture appended while live, which the collector
    /// tracks again when it stops (`record::DeferredTracking`).
    deferred: Arc<DeferredTracking>,
    /// Hook failures whose report to the owner failed in turn, kept for the
    /// owner to collect when it stops (`take_unreported`); at most
    /// `UNREPORTED_MAX`.
    unreported: Mutex<Vec<Py<PyAny>>>,
}

/// How many failures a recorder keeps whose report failed (each holds its
/// traceback's frames until the capture stops).
const UNREPORTED_MAX: usize = 64;

impl Drop for Recorder {
    /// A recorder can outlive its capture's stop only without records left
    /// untracked, but a capture dropped without stopping must not leave any.
    fn drop(&mut self) {
        // SAFETY: a pyclass is dropped in its tp_dealloc, with the thread
        // attached to the interpreter.
        let py = unsafe { Python::assume_attached() };
        self.deferred.track_all(py);
    }
}

impl Recorder {
    fn pending(&self) -> MutexGuard<'_, HashMap<usize, Pending, BuildAddrHasher>> {
        // A panic never happens while the lock is held (only HashMap calls
        // run under it), but a poisoned lock must not abort the user's program.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Slots of the records made while recording (`testing.deferred_slots`).
    pub fn deferred_slots(&self) -> usize {
        self.deferred.slots()
    }

    /// Calls that entered and have not returned (`testing.pending_calls`).
    pub fn pending_len(&self) -> usize {
        self.pending().len() + self.open.lock().len()
    }

    fn below_max(&self) -> bool {
        match self.max_calls {
            None => true,
            Some(m) => self.count.load(Ordering::Relaxed) < m,
        }
    }

    fn is_recording(&self) -> bool {
        self.live.load(Ordering::Relaxed) && self.below_max()
    }

    /// Hand a hook failure to the capture (`_hook_failed`). `Exception`s are
    /// swallowed after that; other `BaseException`s are returned to be
    /// raised, as they would be from any statement of the target.
    fn report(&self, py: Python<'_>, err: PyErr) -> PyResult<()> {
        if !err.is_instance_of::<PyException>(py) {
            return Err(err);
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        let owner = self.owner.as_ref().and_then(|w| w.bind(py).upgrade());
        if let Some(owner) = owner {
            let value = err.into_value(py).into_any();
            let reported = thread_exit::call_method(
                &owner,
                crate::lazy::interned!(py, "_hook_failed"),
                &PyTuple::new(py, [value.clone_ref(py)])?,
            );
            if let Err(e) = reported {
                if !e.is_instance_of::<PyException>(py) {
                    return Err(e);
                }
                // The report failed in turn: most often a RecursionError, a
                // hook that failed at the recursion limit having no room to
                // call Python either. Kept for the owner to collect when it
                // stops (written as unraisable, it printed "Exception ignored
                // in" under the user's function, and hook_errors missed it).
                let mut kept = self
                    .unreported
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if kept.len() < UNREPORTED_MAX {
                    kept.push(value);
                }
            }
        }
        Ok(())
    }

    /// The transform now (a new reference: it can be replaced meanwhile).
    fn current_transform(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.transform
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|t| t.clone_ref(py))
    }

    fn has_transform(&self) -> bool {
        self.transforms
    }

    /// Run `transform` on a kept value; on failure keep the value as is.
    /// Not re-entered on a thread: the calls `transform` itself makes are
    /// recorded with their values as they are (a transform that is itself
    /// in the capture's scope, `capture_calls(transform=lambda v: ...)`
    /// with no scope, would otherwise recurse at every value of its own
    /// calls until the recursion limit, again and again).
    fn apply<'py>(&self, py: Python<'py>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let Some(t) = self.current_transform(py) else {
            return Ok(value);
        };
        let me = self as *const Recorder as usize;
        if IN_TRANSFORM.with(|s| s.borrow().contains(&me)) {
            return Ok(value);
        }
        IN_TRANSFORM.with(|s| s.borrow_mut().push(me));
        let out =
            PyTuple::new(py, [&value]).and_then(|args| thread_exit::call(t.bind(py), &args, None));
        IN_TRANSFORM.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&r| r == me) {
                s.remove(i);
            }
        });
        match out {
            Ok(v) => Ok(v),
            Err(e) => {
                self.report(py, e)?;
                Ok(value)
            }
        }
    }

    /// Drop every pending entry (outside the lock: dropping a frame can run
    /// finalisers that call a captured function; and through
    /// `thread_exit::release`, as they can wait for the GIL).
    fn clear(&self, py: Python<'_>) {
        let old = std::mem::take(&mut *self.pending());
        let mut values: Vec<Py<PyAny>> = Vec::new();
        for (_, pending) in old {
            values.push(pending.frame);
            values.extend(pending.entry.into_values());
        }
        // The frames of open generator calls keep their `OpenCall`s: their
        // entries are emptied, so that nothing of the capture outlives it.
        let open = std::mem::take(&mut *self.open.lock());
        for entry in open.values().filter_map(|s| s.take()) {
            values.extend(entry.into_values());
        }
        drop(open);
        crate::thread_exit::release(py, values);
        self.stacks.clear();
    }
}

#[pymethods]
impl Recorder {
    /// `Recorder(owner, sink, info_type, transform=None, keep=None,
    /// max_calls=None)`; `sink` is `"list"`, `"last"` or `"discard"` (then
    /// `owner` may be `None`); `info_type` is the record class (`CallInfo`).
    #[new]
    #[pyo3(signature = (owner, sink, info_type, transform = None, keep = None, max_calls = None))]
    fn new(
        owner: &Bound<'_, PyAny>,
        sink: &str,
        info_type: Bound<'_, PyAny>,
        transform: Option<Py<PyAny>>,
        keep: Option<Py<PyAny>>,
        max_calls: Option<u64>,
    ) -> PyResult<Self> {
        let is_record_class = info_type
            .cast::<PyType>()
            .is_ok_and(|t| t.is_subclass_of::<CallRecord>().unwrap_or(false));
        if !is_record_class {
            return Err(PyTypeError::new_err(format!(
                "info_type must be the record class (CallInfo, a CallRecord subclass), not {}",
                info_type.repr()?
            )));
        }
        let info_type = info_type.cast_into::<PyType>()?.unbind();
        let py = owner.py();
        let sink = match sink {
            "list" => Sink::List,
            "last" => Sink::Last,
            "discard" => Sink::Discard,
            other => {
                return Err(PyValueError::new_err(format!(
                    "sink must be 'list', 'last' or 'discard', not {other:?}"
                )))
            }
        };
        if sink == Sink::Last && !owner.is_instance_of::<CallRecord>() {
            return Err(PyTypeError::new_err(
                "a 'last' recorder's owner must be a CallInfo (it is refilled per call)",
            ));
        }
        let owner = if owner.is_none() {
            if sink != Sink::Discard {
                return Err(PyValueError::new_err(
                    "only a 'discard' recorder has no owner",
                ));
            }
            None
        } else {
            Some(PyWeakrefReference::new(owner)?.unbind())
        };
        Ok(Recorder {
            owner,
            sink,
            info_type,
            transforms: transform.as_ref().is_some_and(|t| !t.is_none(py)),
            transform: Mutex::new(transform.filter(|t| !t.is_none(py))),
            keep: keep.filter(|k| !k.is_none(py)),
            max_calls,
            count: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            live: AtomicBool::new(false),
            pending: Mutex::new(HashMap::default()),
            open: Arc::default(),
            stacks: StackSharer::default(),
            deferred: Arc::default(),
            unreported: Mutex::default(),
        })
    }

    /// Start or stop recording; stopping forgets the calls still running,
    /// drops the transform (starting gives it again: `transform`) and has
    /// the collector track the records made meanwhile again.
    #[pyo3(signature = (live, transform = None))]
    fn set_live(&self, py: Python<'_>, live: bool, transform: Option<Py<PyAny>>) {
        let transform = if live {
            transform.filter(|t| !t.is_none(py))
        } else {
            None
        };
        // (dropped after the lock is let go: a drop can run Python code)
        let old = std::mem::replace(
            &mut *self
                .transform
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            transform,
        );
        self.live.store(live, Ordering::Relaxed);
        if !live {
            self.deferred.track_all(py);
            self.clear(py);
        }
        crate::thread_exit::release(py, old.into_iter().collect());
    }

    /// The hook failures whose report to the owner failed at the time
    /// (`report`), handed over once: the owner adds them to its
    /// `hook_errors` when it stops.
    fn take_unreported(&self) -> Vec<Py<PyAny>> {
        std::mem::take(
            &mut *self
                .unreported
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Whether `enter` records a new call right now.
    #[getter]
    fn recording(&self) -> bool {
        self.is_recording()
    }

    /// Records made so far.
    #[getter]
    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Hook failures so far (also reported to the owner's `_hook_failed`).
    #[getter]
    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)?;
        visit.call(&self.info_type)?;
        if let Ok(t) = self.transform.try_lock() {
            visit.call(&*t)?;
        }
        visit.call(&self.keep)?;
        // Never blocks: the lock is only held by hook code that does not
        // allocate Python objects, so a collection cannot start inside it.
        if let Ok(p) = self.pending.try_lock() {
            for pending in p.values() {
                visit.call(&pending.frame)?;
                for v in &pending.entry.values {
                    visit.call(v)?;
                }
            }
        }
        Ok(())
    }
}

/// The argument values of `frame`, in `names` order (`None` for one that is
/// not bound). A cell argument gives its contents.
#[cfg(Py_3_12)]
fn arg_values<'py>(
    py: Python<'py>,
    frame: *mut ffi::PyFrameObject,
    names: &Bound<'py, PyTuple>,
    _cells: &[bool],
) -> PyResult<Vec<Option<Py<PyAny>>>> {
    // Many arguments: one copy of the locals, not a linear search of the
    // code's variables per argument (`frame_locals::MANY_VARS`). 3.13+ only:
    // 3.12's copy would go through the frame's own locals dict, which then
    // holds every argument until its next sync (a generator suspended at a
    // `yield` would keep alive what it let go).
    #[cfg(Py_3_13)]
    if names.len() > crate::frame_locals::MANY_VARS {
        let locals = crate::frame_locals::snapshot(py, frame, &[])?;
        return names
            .iter()
            .map(|name| Ok(locals.get_item(&name)?.map(Bound::unbind)))
            .collect();
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names.iter() {
        // SAFETY: `frame` is the running frame (borrowed, alive during this
        // call) and `name` a str; PyFrame_GetVar returns a new reference or
        // NULL with an exception (NameError when the name is not bound). It
        // reads one variable without building the frame's locals dict.
        let v = unsafe { ffi::PyFrame_GetVar(frame, name.as_ptr()) };
        if v.is_null() {
            let err = PyErr::fetch(py);
            if !err.is_instance_of::<pyo3::exceptions::PyNameError>(py) {
                return Err(err);
            }
            out.push(None);
        } else {
            // SAFETY: a new reference, checked non-NULL.
            out.push(Some(unsafe { Bound::from_owned_ptr(py, v) }.unbind()));
        }
    }
    Ok(out)
}

/// 3.11 has no `PyFrame_GetVar`. The arguments are the first slots of the
/// interpreter frame's locals (a cell argument's slot holds its cell once the
/// prologue made it: its contents are the value); read there, checked
/// (`frame311`), so that the frame's locals dict is not synced: a synced
/// dict would hold every argument until the next sync, which keeps alive
/// what the function itself let go (a generator suspended at a `yield`: for
/// as long as it stays there). Where the layout check fails, the synced dict.
#[cfg(not(Py_3_12))]
fn arg_values<'py>(
    py: Python<'py>,
    frame: *mut ffi::PyFrameObject,
    names: &Bound<'py, PyTuple>,
    cells: &[bool],
) -> PyResult<Vec<Option<Py<PyAny>>>> {
    #[cfg(all(Py_3_11, not(Py_GIL_DISABLED)))]
    // SAFETY: `frame` is the running frame (alive during this call); the
    // interpreter frame is checked to be its own, and slot i < len(names)
    // <= co_nlocalsplus (the arguments come first).
    unsafe {
        if cells.len() == names.len() {
            if let Some(iframe) = crate::frame311::interpreter_frame(frame) {
                let mut out = Vec::with_capacity(names.len());
                for (i, &cell) in cells.iter().enumerate() {
                    let v = crate::frame311::local(iframe, i);
                    if v.is_null() {
                        out.push(None);
                    } else if cell && ffi::PyCell_Check(v) != 0 {
                        // a new reference to the contents, or NULL (empty)
                        let inner = ffi::PyCell_Get(v);
                        out.push(
                            (!inner.is_null()).then(|| Bound::from_owned_ptr(py, inner).unbind()),
                        );
                    } else {
                        out.push(Some(Bound::from_borrowed_ptr(py, v).unbind()));
                    }
                }
                return Ok(out);
            }
        }
    }
    // SAFETY: `frame` is the running frame; PyFrame_GetLocals returns a new
    // reference or NULL with an exception.
    let locals = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFrame_GetLocals(frame))? };
    let locals = locals.cast::<PyDict>()?;
    let mut out = Vec::with_capacity(names.len());
    for name in names.iter() {
        out.push(locals.get_item(&name)?.map(Bound::unbind));
    }
    Ok(out)
}

/// The running frame (the captured function's when a hook is called from
/// instrumented code: a builtin pushes no frame), borrowed, or NULL.
fn running_frame() -> *mut ffi::PyFrameObject {
    // SAFETY: the GIL is held (every caller is a pymethod).
    unsafe { ffi::PyEval_GetFrame() }
}

/// The frame that called the running `frame` (`None` at the outermost).
fn caller_frame<'py>(
    py: Python<'py>,
    frame: *mut ffi::PyFrameObject,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    // SAFETY: `frame` is alive; PyFrame_GetBack returns a new reference, or
    // NULL with or without an exception set.
    let back = unsafe { ffi::PyFrame_GetBack(frame) };
    if back.is_null() {
        return match PyErr::take(py) {
            Some(err) => Err(err),
            None => Ok(None),
        };
    }
    // SAFETY: a new reference, owned from here.
    Ok(Some(unsafe { Bound::from_owned_ptr(py, back.cast()) }))
}

/// The outer stack of a call made from `caller` without walking it, when
/// `caller` is a pending call this recorder captured of a plain function (a
/// recursion): `caller` itself, then the stack recorded at its entry. That
/// stack still holds: every frame outside the caller has been suspended in
/// the same call since then. Not for a resumable caller (a generator resumed
/// from elsewhere has other outer frames), nor when the caller was not
/// captured: `None`, and the stack is walked.
fn caller_stack(
    py: Python<'_>,
    rec: &Recorder,
    caller: &Bound<'_, PyAny>,
) -> PyResult<Option<Frames>> {
    let outer = match rec.pending().get(&(caller.as_ptr() as usize)) {
        Some(pending) => pending.entry.stack.clone(),
        None => return Ok(None),
    };
    if is_resumable(py, caller)? {
        return Ok(None);
    }
    // SAFETY: `caller` is a live frame object; PyFrame_GetCode returns a new
    // reference, never NULL.
    let code =
        unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(caller.as_ptr().cast()).cast()) };
    // SAFETY: `caller` is a live frame object.
    let lasti = unsafe { ffi::PyFrame_GetLasti(caller.as_ptr().cast()) };
    Ok(Some(push(code.unbind(), lasti, outer)))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// The hooks of one capture on one code object: `enter`, `exit` and
/// `error` are what the instrumented code calls.
#[pyclass(module = "splice._native", frozen)]
pub struct CaptureHooks {
    recorder: Py<Recorder>,
    /// The original code object's name, file and first line (they describe
    /// the call: the stack's innermost entry). The code object itself is not
    /// kept: see `record::Recorded::file`.
    name: Py<PyAny>,
    file: Py<PyAny>,
    firstline: Py<PyAny>,
    argnames: Py<PyTuple>,
    /// Per argument, whether it is also a cell variable (3.11 reads the
    /// arguments from the frame's slots, see `arg_values`); empty when the
    /// names are not the code object's first `co_varnames`.
    arg_cells: Vec<bool>,
    /// Where the running code object keeps its locals (made at the first
    /// return; remade when another code object runs: see `frame_locals`).
    layout: Mutex<Option<Arc<LocalsLayout>>>,
    /// The function's own variables whose names start with splice's
    /// prefix: recorded, not taken for helpers (`frame_locals::is_helper`).
    own_prefixed: Vec<String>,
}

impl CaptureHooks {
    /// The locals of `frame` (a live frame running a version of the
    /// captured code) in a new dict, helper names left out.
    fn locals<'py>(
        &self,
        py: Python<'py>,
        frame: *mut ffi::PyFrameObject,
    ) -> PyResult<Bound<'py, PyDict>> {
        // SAFETY: `frame` is a live frame object; PyFrame_GetCode returns a
        // new reference, never NULL.
        let code = unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame).cast()) };
        let cached = self.lock_layout().clone();
        let layout = match cached {
            Some(l) if l.describes(py, code.as_ptr()) => l,
            _ => {
                let l = Arc::new(LocalsLayout::of(&code, &self.own_prefixed)?);
                // the one replaced is dropped after the lock is released
                let old = self.lock_layout().replace(Arc::clone(&l));
                drop(old);
                l
            }
        };
        match layout.read(py, frame)? {
            Some(dict) => Ok(dict),
            None => frame_locals::snapshot(py, frame, &self.own_prefixed),
        }
    }

    fn lock_layout(&self) -> MutexGuard<'_, Option<Arc<LocalsLayout>>> {
        self.layout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run a hook body: failures go to the capture, never into the target.
    fn guard(&self, py: Python<'_>, body: impl FnOnce() -> PyResult<()>) -> PyResult<()> {
        let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| {
            Err(PyRuntimeError::new_err(format!(
                "splice capture hook panicked: {}",
                panic_message(p.as_ref())
            )))
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) => self.recorder.get().report(py, e),
        }
    }

    /// Record the entry of the call running in `frame` (a borrowed frame
    /// object, or NULL: nothing to record) in the pending map.
    fn do_enter(&self, py: Python<'_>, frame: *mut ffi::PyFrameObject) -> PyResult<()> {
        let Some(entry) = self.entry(py, frame)? else {
            return Ok(());
        };
        let pending = Pending {
            // SAFETY: `frame` is a live frame object (borrowed).
            frame: unsafe { Bound::from_borrowed_ptr(py, frame.cast()) }.unbind(),
            entry,
        };
        // A replaced entry (cannot happen: one enter per frame) is dropped
        // after the lock is released.
        let old = self
            .recorder
            .get()
            .pending()
            .insert(frame as usize, pending);
        drop(old);
        Ok(())
    }

    /// The entry of the call running in `frame` as an [`OpenCall`] that
    /// the frame keeps, or `None` when nothing is recorded.
    fn do_open(&self, py: Python<'_>, frame: *mut ffi::PyFrameObject) -> PyResult<Py<PyAny>> {
        let Some(entry) = self.entry(py, frame)? else {
            return Ok(py.None());
        };
        let rec = self.recorder.get();
        let state = Arc::new(OpenState {
            entry: Mutex::new(Some(entry)),
        });
        let call = OpenCall {
            state: Arc::clone(&state),
            calls: Arc::clone(&rec.open),
        };
        let key = call.key();
        let call = Py::new(py, call)?;
        rec.open.lock().insert(key, state);
        Ok(call.into_any())
    }

    /// What `enter` records of the call running in `frame`, or `None`.
    fn entry(&self, py: Python<'_>, frame: *mut ffi::PyFrameObject) -> PyResult<Option<Entry>> {
        let rec = self.recorder.get();
        if !rec.is_recording() || frame.is_null() || PAUSED.with(|p| p.get()) != 0 {
            return Ok(None);
        }
        let mut values = arg_values(py, frame, self.argnames.bind(py), &self.arg_cells)?;
        // The arguments as they are at entry: `transform` runs now (a copy
        // made by it shows the value before the body changed it in place,
        // and a call suspended in a generator holds what it returned, not
        // the argument itself).
        if rec.has_transform() {
            for v in values.iter_mut() {
                if let Some(value) = v.take() {
                    *v = Some(rec.apply(py, value.into_bound(py))?.unbind());
                }
            }
        }
        let stack = match caller_frame(py, frame)? {
            None => None,
            Some(caller) => match caller_stack(py, rec, &caller)? {
                Some(stack) => stack,
                None => rec.stacks.record(py, caller)?,
            },
        };
        Ok(Some(Entry { values, stack }))
    }

    /// At a return (`value`) or an exception leaving the function (`exc`):
    /// the record of the running frame's call, if its entry was recorded.
    /// `frame` is the call's frame (borrowed; NULL: nothing to record).
    fn finish(
        &self,
        py: Python<'_>,
        frame: *mut ffi::PyFrameObject,
        value: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let rec = self.recorder.get();
        if rec.pending().is_empty() || frame.is_null() {
            return Ok(());
        }
        let pending = rec.pending().remove(&(frame as usize));
        let Some(pending) = pending else {
            return Ok(());
        };
        self.finish_entry(py, frame, pending.entry, value, exc)
    }

    /// `exit`/`error`: finish the call from the pending map, or from the
    /// entry its frame kept (`call`, what `open` returned).
    fn end(
        &self,
        py: Python<'_>,
        call: Option<&Bound<'_, PyAny>>,
        value: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.guard(py, || match call {
            None => self.finish(py, running_frame(), value, exc),
            Some(call) => self.finish_open(py, call, value, exc),
        })
    }

    /// `finish` for a call whose frame keeps its entry in `call` (what
    /// `open` returned: an [`OpenCall`] of this recorder, or `None`).
    fn finish_open(
        &self,
        py: Python<'_>,
        call: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Ok(call) = call.cast::<OpenCall>() else {
            return Ok(());
        };
        let call = call.get();
        let rec = self.recorder.get();
        if !Arc::ptr_eq(&call.calls, &rec.open) {
            return Ok(());
        }
        let Some(entry) = call.state.take() else {
            return Ok(());
        };
        let listed = rec.open.lock().remove(&call.key());
        drop(listed);
        let frame = running_frame();
        if frame.is_null() {
            return Ok(());
        }
        self.finish_entry(py, frame, entry, value, exc)
    }

    /// Make and deliver the record of a finished call from its `entry`.
    fn finish_entry(
        &self,
        py: Python<'_>,
        frame: *mut ffi::PyFrameObject,
        entry: Entry,
        value: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let rec = self.recorder.get();
        if !rec.live.load(Ordering::Relaxed) || !rec.below_max() {
            return Ok(());
        }
        let locals = kept_locals(py, rec, self.locals(py, frame)?)?;
        let ret = match (exc, value) {
            (None, Some(v)) => v.clone(),
            _ => py.None().into_bound(py),
        };
        let (names, values) = self.bound_args(py, entry.values)?;
        let (locals, ret) = self.transform_exit(py, locals, ret, exc.is_none())?;
        // SAFETY: `frame` is still the running frame; a new reference.
        let globals = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFrame_GetGlobals(frame))? };
        // Counted only now, and only below max_calls: a transform or a
        // recursive call may have recorded in between.
        let counted = rec
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                match rec.max_calls {
                    Some(m) if c >= m => None,
                    _ => Some(c + 1),
                }
            });
        let Ok(before) = counted else {
            return Ok(());
        };
        if rec.sink == Sink::Discard {
            return Ok(());
        }
        let Some(owner) = rec.owner.as_ref().and_then(|w| w.bind(py).upgrade()) else {
            return Ok(());
        };
        // the last call max_calls keeps: the capture removes its probes
        // (after this record is in), so later calls cost nothing
        let full = rec.max_calls == Some(before + 1);
        // CallInfo(name, file, args, locals, globals, return_value, exception, stack),
        // args and stack as recorded
        let fields: Fields = [
            Some(self.name.clone_ref(py)),
            Some(self.file.clone_ref(py)),
            None,
            Some(locals.into_any().unbind()),
            Some(globals.unbind()),
            Some(ret.unbind()),
            exc.map(|e| recordable_exception(py, e)),
            None,
        ];
        let recorded = Recorded {
            arg_names: names.unbind(),
            arg_values: values,
            frames: entry.stack,
            file: self.file.clone_ref(py),
            name: self.name.clone_ref(py),
            firstline: self.firstline.clone_ref(py),
        };
        if rec.sink == Sink::List {
            let info = new_record(rec.info_type.bind(py))?;
            CallRecord::fill(&info, fields, Some(recorded))?;
            owner.cast::<PyList>()?.append(&info)?;
            // Checked again here: the allocations above can run a
            // finaliser (Python code) that stops the capture.
            if rec.live.load(Ordering::Relaxed) {
                rec.deferred.untrack(&info)?;
            }
        } else {
            CallRecord::fill(owner.cast::<CallRecord>()?, fields, Some(recorded))?;
        }
        if full {
            thread_exit::call_method(
                &owner,
                crate::lazy::interned!(py, "_on_full"),
                &PyTuple::empty(py),
            )?;
        }
        Ok(())
    }

    /// The names and values of the bound arguments (transformed at entry);
    /// when all are bound, `values` itself becomes the record's vector.
    fn bound_args<'py>(
        &self,
        py: Python<'py>,
        values: Vec<Option<Py<PyAny>>>,
    ) -> PyResult<(Bound<'py, PyTuple>, Vec<Py<PyAny>>)> {
        let argnames = self.argnames.bind(py);
        if values.iter().all(Option::is_some) {
            return Ok((argnames.clone(), values.into_iter().flatten().collect()));
        }
        let mut names = Vec::with_capacity(values.len());
        let mut kept = Vec::with_capacity(values.len());
        for (name, v) in argnames.iter().zip(values) {
            if let Some(v) = v {
                names.push(name);
                kept.push(v);
            }
        }
        Ok((PyTuple::new(py, names)?, kept))
    }

    /// The recorder's `transform` applied to each local and to the return
    /// value (only when the call returned); unchanged without one.
    fn transform_exit<'py>(
        &self,
        py: Python<'py>,
        locals: Bound<'py, PyDict>,
        ret: Bound<'py, PyAny>,
        returned: bool,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyAny>)> {
        let rec = self.recorder.get();
        if !rec.has_transform() {
            return Ok((locals, ret));
        }
        let applied = PyDict::new(py);
        for (k, v) in locals.iter() {
            applied.set_item(k, rec.apply(py, v)?)?;
        }
        let ret = if returned { rec.apply(py, ret)? } else { ret };
        Ok((applied, ret))
    }
}

/// The exception a record keeps for a call that `exc` ended: `exc` itself,
/// except a `GeneratorExit` (a generator or coroutine closed before its end,
/// by `close()`, `aclose()` or the collector), which is kept as a new
/// `GeneratorExit` with the same arguments and no traceback. The thrown
/// one's traceback holds the closed frame itself, and with it every local of
/// the call: a record kept them alive (and their finalizers and weakref
/// callbacks waiting) for as long as it lived, whatever `keep_locals` said
/// (found by CPython's weakref and asyncio tests under a lazy
/// `capture_call(keep_locals=())`). Nothing else sees that exception: the
/// closing `close()` swallows it. A subclass, or a failure to make the
/// copy, keeps the original.
fn recordable_exception(py: Python<'_>, exc: &Bound<'_, PyAny>) -> Py<PyAny> {
    let generator_exit = py.get_type::<PyGeneratorExit>();
    if exc.get_type().is(&generator_exit) {
        if let Ok(copy) = exc
            .getattr(crate::lazy::interned!(py, "args"))
            .and_then(|args| generator_exit.call1(args.cast_into::<PyTuple>()?))
        {
            return copy.unbind();
        }
    }
    exc.clone().unbind()
}

/// `locals` restricted to the recorder's `keep_locals`, if it has any.
fn kept_locals<'py>(
    py: Python<'py>,
    rec: &Recorder,
    locals: Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let Some(keep) = &rec.keep else {
        return Ok(locals);
    };
    let keep = keep.bind(py);
    let kept = PyDict::new(py);
    for (k, v) in locals.iter() {
        if keep.contains(&k)? {
            kept.set_item(k, v)?;
        }
    }
    Ok(kept)
}

#[pymethods]
impl CaptureHooks {
    /// `CaptureHooks(recorder, code, argnames)`: `argnames` are the names
    /// whose values `enter` records (all arguments, in `co_varnames` order).
    #[new]
    fn new(
        recorder: Py<Recorder>,
        code: &Bound<'_, PyAny>,
        argnames: Bound<'_, PyTuple>,
    ) -> PyResult<Self> {
        for n in argnames.iter() {
            n.cast::<PyString>()?;
        }
        let varnames = code.getattr("co_varnames")?;
        let cellvars = code.getattr("co_cellvars")?;
        let mut own_prefixed = Vec::new();
        for attr in ["co_varnames", "co_cellvars", "co_freevars"] {
            for n in code.getattr(attr)?.cast_into::<PyTuple>()?.iter() {
                let n: String = n.extract()?;
                if n.starts_with(crate::consts::HOOK_PREFIX) && !own_prefixed.contains(&n) {
                    own_prefixed.push(n);
                }
            }
        }
        let mut arg_cells = Vec::with_capacity(argnames.len());
        for (i, n) in argnames.iter().enumerate() {
            if !varnames
                .get_item(i)
                .is_ok_and(|v| v.eq(&n).unwrap_or(false))
            {
                arg_cells.clear();
                break;
            }
            arg_cells.push(cellvars.contains(&n)?);
        }
        Ok(CaptureHooks {
            recorder,
            name: code.getattr("co_name")?.unbind(),
            file: code.getattr("co_filename")?.unbind(),
            firstline: code.getattr("co_firstlineno")?.unbind(),
            argnames: argnames.unbind(),
            arg_cells,
            layout: Mutex::new(None),
            own_prefixed,
        })
    }

    /// Called at entry: records the arguments and the outer stack.
    ///
    /// The unused optional argument is there for 3.11: pyo3 makes a method
    /// without arguments `METH_NOARGS`, which 3.11 never specialises for a
    /// builtin method, and its generic call counts a recursion level; with
    /// an (optional) argument it is `METH_FASTCALL | METH_KEYWORDS`, which
    /// 3.11 specialises (`PRECALL_BUILTIN_FAST_WITH_KEYWORDS`) without one.
    #[pyo3(signature = (_unused = None))]
    fn enter(&self, py: Python<'_>, _unused: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.guard(py, || self.do_enter(py, running_frame()))
    }

    /// `enter` for code that keeps the call's entry in its frame
    /// (`CaptureProbe(keep_entry=True)`, generators and coroutines): returns
    /// it, an [`OpenCall`] (`None` when nothing is recorded), which the code
    /// passes to `exit` or `error`.
    #[pyo3(signature = (_unused = None))]
    fn open(&self, py: Python<'_>, _unused: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let mut out = py.None();
        self.guard(py, || {
            out = self.do_open(py, running_frame())?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Called before a return with the value returned (and the call's
    /// `open` result, for code that keeps it).
    #[pyo3(signature = (value, call = None))]
    fn exit(
        &self,
        py: Python<'_>,
        value: &Bound<'_, PyAny>,
        call: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.end(py, call, Some(value), None)
    }

    /// Called when an exception leaves the function (with the call's `open`
    /// result, for code that keeps it).
    #[pyo3(signature = (exc, call = None))]
    fn error(
        &self,
        py: Python<'_>,
        exc: &Bound<'_, PyAny>,
        call: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.end(py, call, None, Some(exc))
    }

    /// `enter` for the call running in `frame`, from a `sys.monitoring`
    /// callback (a call that started in the original code: see
    /// splice.first_calls).
    fn enter_frame(&self, py: Python<'_>, frame: &Bound<'_, PyFrame>) -> PyResult<()> {
        self.guard(py, || self.do_enter(py, frame.as_ptr().cast()))
    }

    /// `exit` for the call running in `frame`.
    fn exit_frame(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyFrame>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.guard(py, || {
            self.finish(py, frame.as_ptr().cast(), Some(value), None)
        })
    }

    /// `error` for the call running in `frame`.
    fn error_frame(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyFrame>,
        exc: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.guard(py, || {
            self.finish(py, frame.as_ptr().cast(), None, Some(exc))
        })
    }

    /// Pickling: cloudpickle pickles a function defined in `__main__` or a
    /// closure by value, constants included, so the hooks of a captured
    /// function must pickle. A copy in another process has no capture to
    /// record into: it unpickles as hooks that do nothing.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, ())> {
        let detached = py
            .import("splice.capture")?
            .getattr("DetachedCaptureHooks")?;
        Ok((detached, ()))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.recorder)?;
        visit.call(&self.argnames)?;
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Recorder>()?;
    m.add_class::<CaptureHooks>()?;
    m.add_class::<OpenCall>()?;
    m.add_class::<Unrecorded>()?;
    m.add_function(wrap_pyfunction!(pause_recording, m)?)?;
    m.add_function(wrap_pyfunction!(resume_recording, m)?)?;
    m.add_function(wrap_pyfunction!(recording_pause_depth, m)?)?;
    Ok(())
}
