//! Function versions across a `__code__` swap (issue 17).
//!
//! CPython specializes calls to a Python function (and `__getitem__`,
//! `__getattribute__` and property loads that run one) on the function's
//! `func_version`. Assigning `__code__` clears it: 3.11 and 3.12 hand out a
//! new one lazily, 3.13+ never again, so on 3.13+ a function splice probed
//! once would never be specialized again after the probe is removed.
//!
//! A valid version `V` on a function promises, to every specialization that
//! cached it, the state `MAKE_FUNCTION` left: the function's code is the code
//! object whose `co_version` is `V` (`co_version` comes from a counter and is
//! never reused), and its defaults, kwdefaults, closure and vectorcall are
//! those its `def` statement gave it. So this module writes only that state:
//!
//! - `save_version(f)` snapshots a function whose version is its code's own
//!   `co_version` (what `MAKE_FUNCTION` leaves), holding its defaults and
//!   kwdefaults objects (so their addresses cannot be reused) and noting its
//!   closure's address only (see `FuncVersion`);
//! - `sync_version(f, saved)`, right after splice assigned `f.__code__ = c`,
//!   gives `f` the version `c.co_version` only if `f`'s version is cleared,
//!   its defaults, kwdefaults, closure and vectorcall are still the
//!   snapshot's objects, and `c` has the snapshot code's signature. For the
//!   original code that is exactly the version `f` had; for a patched code
//!   object it is what `MAKE_FUNCTION` would give a function made from it.
//!
//! Per version: 3.11 needs nothing (lazy versions from one counter, never
//! shared). 3.12 is a plain field write (no cache; it also keeps the
//! function off 3.12's second lazy counter, whose versions can collide with
//! another function's: CPython gh-116916). 3.13+ call the exported
//! `_PyFunction_SetVersion`, which also fills the function-version cache the
//! tier-2 optimizer reads; 3.14+ assert the version is UNSET first, so 0 is
//! written before. Free-threaded builds: off (CPython clears versions with
//! the world stopped; there is no public way to do that).
//!
//! `co_version` lives in the opaque `PyCodeObject`, at a hand-written
//! offset; the layout is verified once, on a function made for the purpose,
//! before anything is ever written, and the feature turns itself off with
//! the reason if any check fails (`testing.func_version_support()`).

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

use crate::lazy::ForkSafeOnce;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use thiserror::Error;

/// `offsetof(PyCodeObject, co_version)` on 64-bit GIL builds of 3.12-3.15
/// (VAR_HEAD 24 + 3 pointers + 11 ints); checked by `verify`.
const CO_VERSION_OFFSET: usize = 92;

/// The smallest valid version: 3.14+ reserve 1 for CLEARED.
#[cfg(Py_3_14)]
const FIRST_VALID: u32 = 2;
#[cfg(not(Py_3_14))]
const FIRST_VALID: u32 = 1;

/// `_PyFunction_SetVersion(func, version)` (3.13+, exported, internal header).
type SetVersionFn = unsafe extern "C" fn(*mut ffi::PyFunctionObject, u32);

/// Why versions are not written on this interpreter (the feature is off).
#[derive(Debug, Error)]
pub enum SupportError {
    #[error("free-threaded build: CPython changes versions with the world stopped, which an extension cannot do")]
    FreeThreaded,
    #[error("{0}")]
    Layout(String),
    #[error("_PyFunction_SetVersion is not exported by this interpreter")]
    NoSetter,
    #[error("the layout check could not run: {0}")]
    Probe(String),
}

impl From<PyErr> for SupportError {
    fn from(e: PyErr) -> Self {
        SupportError::Probe(e.to_string())
    }
}

/// How this interpreter is handled, decided once.
enum Support {
    /// 3.11: versions come back by themselves.
    Lazy,
    /// The layout was verified: versions may be written.
    Write(Writer),
    Off(SupportError),
}

#[derive(Clone, Copy)]
struct Writer {
    /// `None` on 3.12 (no cache: the field is the whole state).
    setter: Option<SetVersionFn>,
}

impl Writer {
    /// Give `func` the version `v`. The caller has checked that `func`'s
    /// current version is invalid, so it is in no cache slot.
    ///
    /// # Safety
    /// `func` is a live function object and the GIL is held.
    unsafe fn write(self, func: *mut ffi::PyFunctionObject, v: u32) {
        // 3.14+ assert UNSET (0) in `_PyFunction_SetVersion`; CLEARED (1) and
        // UNSET are both invalid, so this changes nothing anyone reads.
        (*func).func_version = 0;
        match self.setter {
            Some(set) => set(func, v),
            None => (*func).func_version = v,
        }
    }
}

static SUPPORT: ForkSafeOnce<Support> = ForkSafeOnce::new();

fn support(py: Python<'_>) -> &Support {
    SUPPORT.get_or_init(py, || decide(py))
}

fn decide(py: Python<'_>) -> Support {
    if cfg!(Py_GIL_DISABLED) {
        return Support::Off(SupportError::FreeThreaded);
    }
    if !cfg!(Py_3_12) {
        return Support::Lazy;
    }
    match verify(py) {
        Ok(w) => Support::Write(w),
        Err(e) => Support::Off(e),
    }
}

fn is_valid(v: u32) -> bool {
    v >= FIRST_VALID
}

/// # Safety
/// `code` is a live code object (checked with `PyCode_Check`).
unsafe fn co_version(code: *mut ffi::PyObject) -> u32 {
    code.cast::<u8>()
        .add(CO_VERSION_OFFSET)
        .cast::<u32>()
        .read()
}

fn layout(what: String) -> SupportError {
    SupportError::Layout(what)
}

/// Check every assumption on a function made for the purpose, then write
/// once to it: the struct sizes, the fields pyo3-ffi names, `co_version` at
/// its offset equal to a fresh function's version, fresh code objects
/// getting larger versions, CPython clearing the version on `__code__`
/// assignment, and the write reading back.
fn verify(py: Python<'_>) -> Result<Writer, SupportError> {
    let (fsize, csize) = unsafe {
        (
            ffi::PyFunction_Type.tp_basicsize,
            ffi::PyCode_Type.tp_basicsize,
        )
    };
    let fsize = usize::try_from(fsize).unwrap_or(0);
    if fsize != size_of::<ffi::PyFunctionObject>() {
        return Err(layout(format!(
            "function objects are {fsize} bytes, pyo3-ffi says {}",
            size_of::<ffi::PyFunctionObject>()
        )));
    }
    if usize::try_from(csize).unwrap_or(0) < CO_VERSION_OFFSET + 4 {
        return Err(layout(format!("code objects are only {csize} bytes")));
    }
    let ns = PyDict::new(py);
    py.run(c"def probe(a, b=1):\n    return a\n", Some(&ns), Some(&ns))?;
    let f = ns
        .get_item("probe")?
        .ok_or_else(|| layout("the probe function was not defined".into()))?;
    let code = f.getattr("__code__")?;
    let defaults = f.getattr("__defaults__")?;
    let fo = f.as_ptr().cast::<ffi::PyFunctionObject>();
    let (fcode, fdefaults, v, cv) = unsafe {
        (
            (*fo).func_code,
            (*fo).func_defaults,
            (*fo).func_version,
            co_version(code.as_ptr()),
        )
    };
    if fcode != code.as_ptr() || fdefaults != defaults.as_ptr() {
        return Err(layout(
            "func_code/func_defaults are not at pyo3-ffi's offsets".into(),
        ));
    }
    if !is_valid(v) || v != cv {
        return Err(layout(format!(
            "a new function's func_version ({v}, at offset {}) is not the u32 at code offset {CO_VERSION_OFFSET} ({cv})",
            offset_of!(ffi::PyFunctionObject, func_version)
        )));
    }
    let other = code.call_method0("replace")?;
    let cv2 = unsafe { co_version(other.as_ptr()) };
    if !is_valid(cv2) || cv2 <= cv {
        return Err(layout(format!(
            "a newer code object has co_version {cv2} after {cv}"
        )));
    }
    f.setattr("__code__", &other)?;
    let cleared = unsafe { (*fo).func_version };
    if is_valid(cleared) {
        return Err(layout(format!(
            "assigning __code__ left func_version {cleared}"
        )));
    }
    let writer = Writer {
        setter: find_setter()?,
    };
    unsafe { writer.write(fo, cv2) };
    let back = unsafe { (*fo).func_version };
    if back != cv2 {
        return Err(layout(format!("wrote version {cv2}, read back {back}")));
    }
    Ok(writer)
}

#[cfg(unix)]
extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// Looked up at run time rather than linked: the interpreter loads
/// extensions with RTLD_NOW, so a build that stopped exporting this private
/// function would fail `import splice` instead of turning the feature off.
fn find_setter() -> Result<Option<SetVersionFn>, SupportError> {
    if !cfg!(Py_3_13) {
        return Ok(None);
    }
    #[cfg(target_os = "linux")]
    let default_handle = std::ptr::null_mut::<c_void>();
    #[cfg(all(unix, not(target_os = "linux")))]
    let default_handle = -2isize as *mut c_void; // RTLD_DEFAULT on macOS and the BSDs
    #[cfg(unix)]
    {
        let sym = unsafe { dlsym(default_handle, c"_PyFunction_SetVersion".as_ptr()) };
        if sym.is_null() {
            return Err(SupportError::NoSetter);
        }
        // SAFETY: the symbol is CPython's `void _PyFunction_SetVersion(PyFunctionObject *, uint32_t)`.
        Ok(Some(unsafe {
            std::mem::transmute::<*mut c_void, SetVersionFn>(sym)
        }))
    }
    #[cfg(not(unix))]
    Err(SupportError::NoSetter)
}

/// The parts of a code object's signature a version promises callers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Signature {
    argcount: i64,
    posonlyargcount: i64,
    kwonlyargcount: i64,
    flags: i64,
    nfreevars: usize,
}

fn signature(code: &Bound<'_, PyAny>) -> Option<Signature> {
    let int = |name: &str| code.getattr(name).ok()?.extract::<i64>().ok();
    let free = code.getattr("co_freevars").ok()?;
    Some(Signature {
        argcount: int("co_argcount")?,
        posonlyargcount: int("co_posonlyargcount")?,
        kwonlyargcount: int("co_kwonlyargcount")?,
        flags: int("co_flags")?,
        nfreevars: free.cast::<PyTuple>().ok()?.len(),
    })
}

/// A function's version state, taken while it was what `MAKE_FUNCTION` made
/// (`save_version`). Holds the defaults and kwdefaults objects, so the
/// identity checks in `sync_version` cannot be fooled by a new object at a
/// freed one's address (`__defaults__` and `__kwdefaults__` can be assigned,
/// and a call specialised on the version reads the defaults it expects).
///
/// The closure only by address. The patcher keeps these in a table weakly
/// keyed by the function, whose values the collector takes as reachable:
/// holding the closure kept every function whose closure leads back to it (a
/// method that calls `super()`, a recursive inner function, a method of a
/// class defined in a function) and all it reached alive until the block
/// ended (CPython's `test_weakref` saw it under a capture with no scope).
/// `__closure__` cannot be assigned from Python; only the C API's
/// `PyFunction_SetClosure` can, and nothing specialised on a function's
/// version reads its closure (`COPY_FREE_VARS` reads it at every call).
#[pyclass(frozen, module = "splice._native")]
pub struct FuncVersion {
    func: usize,
    code: Py<PyAny>,
    version: u32,
    signature: Signature,
    defaults: Option<Py<PyAny>>,
    kwdefaults: Option<Py<PyAny>>,
    closure: usize,
    vectorcall: usize,
}

#[pymethods]
impl FuncVersion {
    /// The version the function had when saved.
    #[getter]
    fn version(&self) -> u32 {
        self.version
    }

    /// The code object the function had when saved.
    #[getter]
    fn code(&self, py: Python<'_>) -> Py<PyAny> {
        self.code.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "<FuncVersion {} of function at {:#x}>",
            self.version, self.func
        )
    }
}

fn same_object(held: &Option<Py<PyAny>>, now: *mut ffi::PyObject) -> bool {
    held.as_ref().map_or(std::ptr::null_mut(), |o| o.as_ptr()) == now
}

/// The function object behind `f`, if it is exactly a Python function whose
/// code is a code object.
fn function_of(f: &Bound<'_, PyAny>) -> Option<*mut ffi::PyFunctionObject> {
    unsafe {
        if ffi::PyFunction_Check(f.as_ptr()) == 0 {
            return None;
        }
        let fo = f.as_ptr().cast::<ffi::PyFunctionObject>();
        if ffi::PyCode_Check((*fo).func_code) == 0 {
            return None;
        }
        Some(fo)
    }
}

/// Snapshot `f` before splice first assigns its `__code__`, or `None` when
/// nothing will ever be written for it: versions are not written on this
/// interpreter, or `f`'s version is not its code's own `co_version` (someone
/// already changed its code or defaults, or it was made by `FunctionType`).
#[pyfunction]
pub fn save_version(f: &Bound<'_, PyAny>) -> Option<FuncVersion> {
    let py = f.py();
    if !matches!(support(py), Support::Write(_)) {
        return None;
    }
    let fo = function_of(f)?;
    let code = unsafe { Bound::from_borrowed_ptr(py, (*fo).func_code) };
    let sig = signature(&code)?;
    // No Python code runs from here on: the reads are one consistent state.
    unsafe {
        let version = (*fo).func_version;
        if !is_valid(version) || version != co_version(code.as_ptr()) {
            return None;
        }
        let held = |p| Bound::from_borrowed_ptr_or_opt(py, p).map(Bound::unbind);
        Some(FuncVersion {
            func: fo as usize,
            code: code.unbind(),
            version,
            signature: sig,
            defaults: held((*fo).func_defaults),
            kwdefaults: held((*fo).func_kwdefaults),
            closure: (*fo).func_closure as usize,
            vectorcall: (*fo).vectorcall.map_or(0, |v| v as usize),
        })
    }
}

/// Right after splice assigned `f.__code__`: give `f` the version of the code
/// object it now has, if every guard holds (see the module comment).
/// Returns whether a version was written.
#[pyfunction]
pub fn sync_version(f: &Bound<'_, PyAny>, saved: &FuncVersion) -> bool {
    let py = f.py();
    let Support::Write(writer) = support(py) else {
        return false;
    };
    let Some(fo) = function_of(f) else {
        return false;
    };
    if fo as usize != saved.func {
        return false;
    }
    let code = unsafe { Bound::from_borrowed_ptr(py, (*fo).func_code) };
    if signature(&code) != Some(saved.signature) {
        return false;
    }
    // No Python code runs from here on: nothing can change between the
    // checks and the write (the GIL is held).
    unsafe {
        let cv = co_version(code.as_ptr());
        let guards = !is_valid((*fo).func_version)
            && is_valid(cv)
            && (code.as_ptr() != saved.code.as_ptr() || cv == saved.version)
            && same_object(&saved.defaults, (*fo).func_defaults)
            && same_object(&saved.kwdefaults, (*fo).func_kwdefaults)
            && (*fo).func_closure as usize == saved.closure
            && (*fo).vectorcall.map_or(0, |v| v as usize) == saved.vectorcall;
        if guards {
            writer.write(fo, cv);
        }
        guards
    }
}

/// (mode, reason): `"setter"` (3.13+), `"field"` (3.12), `"lazy"` (3.11,
/// nothing to do) or `"off"`, and why.
#[pyfunction]
fn func_version_support(py: Python<'_>) -> (&'static str, String) {
    match support(py) {
        Support::Lazy => (
            "lazy",
            "3.11 re-versions functions lazily from one counter".into(),
        ),
        Support::Write(w) if w.setter.is_some() => {
            ("setter", "_PyFunction_SetVersion, layout verified".into())
        }
        Support::Write(_) => ("field", "plain field write, layout verified".into()),
        Support::Off(e) => ("off", e.to_string()),
    }
}

/// A function's `func_version` field (tests only).
#[pyfunction]
fn func_version(f: &Bound<'_, PyAny>) -> Option<u32> {
    function_of(f).map(|fo| unsafe { (*fo).func_version })
}

/// A code object's `co_version`, or `None` where splice does not read it
/// (3.11, or the layout check failed) (tests only).
#[pyfunction]
fn code_version(code: &Bound<'_, PyAny>) -> Option<u32> {
    if !matches!(support(code.py()), Support::Write(_)) {
        return None;
    }
    if unsafe { ffi::PyCode_Check(code.as_ptr()) } == 0 {
        return None;
    }
    Some(unsafe { co_version(code.as_ptr()) })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FuncVersion>()?;
    m.add_function(wrap_pyfunction!(save_version, m)?)?;
    m.add_function(wrap_pyfunction!(sync_version, m)?)?;
    Ok(())
}

/// Adds the test helpers to `splice._native.testing` (registered before).
pub fn register_testing(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let testing = m.getattr("testing")?.cast_into::<PyModule>()?;
    testing.add_function(wrap_pyfunction!(func_version_support, &testing)?)?;
    testing.add_function(wrap_pyfunction!(func_version, &testing)?)?;
    testing.add_function(wrap_pyfunction!(code_version, &testing)?)?;
    Ok(())
}
