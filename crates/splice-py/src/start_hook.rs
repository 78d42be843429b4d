//! The first-call hook of lazy name scopes on CPython 3.11, which has no
//! `sys.monitoring` (3.12+ uses a `PY_START` event, `splice.first_calls`).
//!
//! 3.11 lets an extension replace the function that evaluates frames (PEP
//! 523, `_PyInterpreterState_SetEvalFrameFunc`, the hook torch.compile uses).
//! While a lazy capture watches, splice's evaluator sees every new frame
//! before it runs a single instruction:
//!
//! - a frame whose code object was already decided in this watch generation
//!   (a mark in the code object's `co_extra` slot) goes straight to the
//!   evaluator that was installed before (normally CPython's own);
//! - otherwise the Python callback (`splice.first_calls._on_frame(code,
//!   function)`) decides: `0` not wanted (the code is marked and never asked
//!   again until `restart()`), `1` run it as it is (asked again next time),
//!   `2` the function now runs instrumented code: this frame is not evaluated
//!   at all; the function is called again with the same arguments (read from
//!   the frame, where CPython bound them: nothing of the body has run, no
//!   cell was made, no free variable copied) and its result is returned. The
//!   caller (`_PyEval_Vector`) clears the unevaluated frame as it clears any
//!   other; torch.compile returns results for frames it does not evaluate
//!   the same way.
//!
//! Only frames a function call made are looked at (`owner` is the thread,
//! not a generator or a frame object, and no exception is being thrown in):
//! a generator's or coroutine's resumption never starts anything.
//!
//! Cost while installed: CPython 3.11 stops inlining Python-to-Python calls
//! when an evaluator is set, and every frame pays one `co_extra` read. Every
//! Python call then runs on the C stack: a frame that would start with less
//! than a margin of the thread's stack left raises RecursionError instead of
//! overflowing it (a program that raised `sys.setrecursionlimit` to recurse
//! deeper than the C stack holds crashes otherwise). When
//! the last watcher stops, the previous evaluator is put back (only if ours
//! is still the one installed: torch.compile may have put its own since, and
//! hold ours as its previous: a frame that comes back to ours from the one
//! it passed it to is evaluated by CPython, so that the two never pass
//! frames back and forth).

use pyo3::prelude::*;

#[cfg(all(Py_3_11, not(Py_3_12), not(Py_GIL_DISABLED)))]
mod imp {
    use std::cell::Cell;
    use std::os::raw::{c_int, c_void};
    use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicPtr, AtomicUsize, Ordering};

    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList, PyTuple};

    use crate::frame311::{Frame311, FRAME_OWNED_BY_THREAD};

    type EvalFrame = unsafe extern "C" fn(
        *mut ffi::PyThreadState,
        *mut ffi::_PyInterpreterFrame,
        c_int,
    ) -> *mut ffi::PyObject;

    extern "C" {
        fn _PyEval_EvalFrameDefault(
            tstate: *mut ffi::PyThreadState,
            frame: *mut ffi::_PyInterpreterFrame,
            throwflag: c_int,
        ) -> *mut ffi::PyObject;
        fn _PyCode_GetExtra(
            code: *mut ffi::PyObject,
            index: isize,
            extra: *mut *mut c_void,
        ) -> c_int;
        fn _PyCode_SetExtra(code: *mut ffi::PyObject, index: isize, extra: *mut c_void) -> c_int;
        fn _PyEval_RequestCodeExtraIndex(free: Option<unsafe extern "C" fn(*mut c_void)>) -> isize;
    }

    /// Whether a watcher is on (the hook may stay installed under another
    /// evaluator that chained to it; then it only forwards).
    static ACTIVE: AtomicBool = AtomicBool::new(false);
    /// The evaluator installed before ours (CPython's own when none was).
    static PREVIOUS: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
    /// The `co_extra` slot of the marks (-1: not requested yet).
    static EXTRA_INDEX: AtomicIsize = AtomicIsize::new(-1);
    /// The current watch generation; a code object marked with another one
    /// is asked about again. Never 0 (an unset slot reads as null).
    static GENERATION: AtomicUsize = AtomicUsize::new(1);
    /// `_on_frame(code, function) -> int` (a strong reference, set once per
    /// install under the GIL).
    static CALLBACK: AtomicPtr<ffi::PyObject> = AtomicPtr::new(std::ptr::null_mut());

    thread_local! {
        /// This thread is inside the callback.
        static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
    }

    const NOT_WANTED: i64 = 0;
    const RECALL: i64 = 2;

    /// Pass `frame` on to the evaluator installed before ours. That one may
    /// have been installed again since, over ours, and call ours as *its*
    /// previous (torch.compile's does, when it turns itself on while ours
    /// is set): each would then hand every frame to the other until the C
    /// stack filled, and every Python call of the process failed from then
    /// on. A frame ours already passed on and gets back is evaluated by
    /// CPython itself (`FORWARDING`).
    unsafe fn previous(
        tstate: *mut ffi::PyThreadState,
        frame: *mut ffi::_PyInterpreterFrame,
        throwflag: c_int,
    ) -> *mut ffi::PyObject {
        let p = PREVIOUS.load(Ordering::Acquire);
        if p.is_null()
            || p == splice_eval_frame as EvalFrame as *mut c_void
            || FORWARDING.with(Cell::get) == frame as usize
        {
            return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
        }
        // SAFETY: PREVIOUS only ever holds an evaluator read from the
        // interpreter (`_PyInterpreterState_GetEvalFrameFunc`).
        let f: EvalFrame = std::mem::transmute::<*mut c_void, EvalFrame>(p);
        // (a nested frame never has this address while this one is live)
        let outer = FORWARDING.with(|c| c.replace(frame as usize));
        let result = f(tstate, frame, throwflag);
        FORWARDING.with(|c| c.set(outer));
        result
    }

    thread_local! {
        /// The frame this thread's evaluator is passing on to the previous
        /// one (0: none), so that it is not passed on again if it comes back.
        static FORWARDING: Cell<usize> = const { Cell::new(0) };
    }

    thread_local! {
        /// The lowest stack address at which this thread may still start
        /// evaluating a frame (0: not computed yet; 1: unknown, no guard).
        static STACK_FLOOR: Cell<usize> = const { Cell::new(0) };
    }

    /// Room left below the floor for CPython to raise and handle the
    /// RecursionError (tracebacks, `except` clauses, `finally` blocks).
    const STACK_MARGIN_MIN: usize = 256 * 1024;
    const STACK_MARGIN_MAX: usize = 1024 * 1024;

    /// This thread's floor: the low end of its stack (glibc/musl
    /// `pthread_getattr_np`) plus a margin (an eighth of the stack, within
    /// 256 KiB-1 MiB).
    #[cfg(target_os = "linux")]
    fn compute_floor() -> usize {
        // SAFETY: pthread_getattr_np fills `attr` for the calling thread;
        // it is destroyed after one read.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return 1;
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            if rc != 0 || addr.is_null() || size == 0 {
                return 1;
            }
            let margin = (size / 8)
                .clamp(STACK_MARGIN_MIN, STACK_MARGIN_MAX)
                .min(size / 2);
            addr as usize + margin
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn compute_floor() -> usize {
        1
    }

    /// Whether this thread's C stack is nearly full. With an evaluator set,
    /// CPython 3.11 runs every Python call on the C stack (it inlines them
    /// otherwise): a program that raised `sys.setrecursionlimit` and recurses
    /// deeply would overflow it and crash; it gets a RecursionError instead.
    fn stack_nearly_full() -> bool {
        let marker = 0u8;
        let here = std::ptr::addr_of!(marker) as usize;
        let floor = STACK_FLOOR.with(|f| {
            let v = f.get();
            if v != 0 {
                return v;
            }
            let v = compute_floor();
            f.set(v);
            v
        });
        here < floor
    }

    /// Splice's evaluator: see the module documentation.
    unsafe extern "C" fn splice_eval_frame(
        tstate: *mut ffi::PyThreadState,
        frame: *mut ffi::_PyInterpreterFrame,
        throwflag: c_int,
    ) -> *mut ffi::PyObject {
        if stack_nearly_full() {
            ffi::PyErr_SetString(
                ffi::PyExc_RecursionError,
                c"maximum recursion depth exceeded: the C stack is nearly full (splice: while a \
                  capture by name, module or file is active, CPython 3.11 runs every Python call \
                  on the C stack; SPLICE_EAGER_SCOPES=1 avoids this)"
                    .as_ptr(),
            );
            return std::ptr::null_mut();
        }
        if FORWARDING.with(Cell::get) == frame as usize {
            // back from the evaluator ours passed it to (see `previous`):
            // already decided
            return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
        }
        if throwflag == 0 && ACTIVE.load(Ordering::Relaxed) {
            let f = frame as *mut Frame311;
            if (*f).owner == FRAME_OWNED_BY_THREAD && !(*f).f_func.is_null() {
                let code = (*f).f_code;
                let index = EXTRA_INDEX.load(Ordering::Relaxed);
                let generation = GENERATION.load(Ordering::Relaxed);
                let mut mark: *mut c_void = std::ptr::null_mut();
                if index >= 0 && _PyCode_GetExtra(code, index, &mut mark) == 0 {
                    if mark as usize != generation {
                        if let Some(result) = first_frame(f, code, index, generation) {
                            return result;
                        }
                    }
                } else {
                    ffi::PyErr_Clear();
                }
            }
        }
        previous(tstate, frame, throwflag)
    }

    /// The slow path: ask the callback; `Some(result)` when the frame was
    /// replaced by a call of its (now instrumented) function.
    unsafe fn first_frame(
        f: *mut Frame311,
        code: *mut ffi::PyObject,
        index: isize,
        generation: usize,
    ) -> Option<*mut ffi::PyObject> {
        let callback = CALLBACK.load(Ordering::Acquire);
        if callback.is_null() || IN_CALLBACK.with(Cell::get) {
            // the callback's own frames, and whatever it calls, just run
            // (asked about at their first frame outside it)
            return None;
        }
        let func = (*f).f_func;
        if ffi::PyFunction_Check(func) == 0 || ffi::PyFunction_GetCode(func) != code {
            return None; // not a frame a call of this function made
        }
        let py = Python::assume_attached();
        let cb = Bound::from_borrowed_ptr(py, callback);
        let code_b = Bound::from_borrowed_ptr(py, code);
        let func_b = Bound::from_borrowed_ptr(py, func);
        IN_CALLBACK.with(|c| c.set(true));
        // Untraced, as 3.12+ runs a sys.monitoring callback: with the
        // user's pdb stepping (`s`) into a call, the debugger stopped in
        // splice's callback instead of the called function. (The re-run of
        // the first call below is the user's code: traced.)
        let tstate = ffi::PyThreadState_Get();
        ffi::PyThreadState_EnterTracing(tstate);
        let answer = PyTuple::new(py, [&code_b, &func_b])
            .and_then(|args| crate::thread_exit::call(&cb, &args, None));
        ffi::PyThreadState_LeaveTracing(tstate);
        IN_CALLBACK.with(|c| c.set(false));
        let answer = match answer {
            Ok(v) => v.extract::<i64>().unwrap_or(1),
            Err(e) => {
                // The callback catches every Exception; what reaches here is
                // a KeyboardInterrupt or similar: the call raises it, as an
                // exception in a sys.monitoring callback would.
                e.restore(py);
                return Some(std::ptr::null_mut());
            }
        };
        if answer == NOT_WANTED {
            if _PyCode_SetExtra(code, index, generation as *mut c_void) != 0 {
                ffi::PyErr_Clear();
            }
            return None;
        }
        if answer != RECALL || ffi::PyFunction_GetCode(func) == code {
            return None;
        }
        Some(match recall(py, f, &code_b, &func_b) {
            Ok(v) => v.into_ptr(),
            Err(e) => {
                e.restore(py);
                std::ptr::null_mut()
            }
        })
    }

    /// Call `func` again with the arguments CPython bound into the frame
    /// `f` of `code` (positional parameters, keyword-only ones by name,
    /// `*args`, `**kwargs`), which it has not started to run.
    unsafe fn recall<'py>(
        py: Python<'py>,
        f: *mut Frame311,
        code: &Bound<'py, PyAny>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let argcount: usize = code.getattr("co_argcount")?.extract()?;
        let kwonly: usize = code.getattr("co_kwonlyargcount")?.extract()?;
        let flags: u32 = code.getattr("co_flags")?.extract()?;
        let names = code.getattr("co_varnames")?;
        let names = names.cast::<PyTuple>()?;
        let varargs = flags & crate::consts::CO_VARARGS != 0;
        let varkw = flags & crate::consts::CO_VARKEYWORDS != 0;
        let nargs = argcount + kwonly + usize::from(varargs) + usize::from(varkw);
        if names.len() < nargs || ((*f).stacktop as usize) < nargs {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "splice: a frame's arguments are not where 3.11 puts them",
            ));
        }
        let local = |i: usize| -> PyResult<Bound<'py, PyAny>> {
            // SAFETY: i < nargs <= stacktop: a slot of this frame's locals;
            // bound arguments are never NULL before the body runs.
            let p = crate::frame311::local(f, i);
            if p.is_null() {
                Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "splice: an unbound argument",
                ))
            } else {
                Ok(Bound::from_borrowed_ptr(py, p))
            }
        };
        let positional = PyList::empty(py);
        for i in 0..argcount {
            positional.append(local(i)?)?;
        }
        let kwargs = PyDict::new(py);
        for i in argcount..argcount + kwonly {
            kwargs.set_item(names.get_item(i)?, local(i)?)?;
        }
        let mut next = argcount + kwonly;
        if varargs {
            for item in local(next)?.try_iter()? {
                positional.append(item?)?;
            }
            next += 1;
        }
        if varkw {
            kwargs.update(local(next)?.cast::<PyDict>()?.as_mapping())?;
        }
        crate::thread_exit::call(func, &PyTuple::new(py, positional)?, Some(&kwargs))
    }

    pub fn install(py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
        if EXTRA_INDEX.load(Ordering::Relaxed) < 0 {
            // SAFETY: called with the GIL; no free function (the marks are
            // integers).
            let i = unsafe { _PyEval_RequestCodeExtraIndex(None) };
            if i < 0 {
                return Err(PyErr::fetch(py));
            }
            EXTRA_INDEX.store(i, Ordering::Relaxed);
        }
        let old = CALLBACK.swap(callback.clone().into_ptr(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: the reference the previous install stored.
            unsafe { ffi::Py_DECREF(old) };
        }
        // SAFETY: with the GIL, on the current interpreter.
        unsafe {
            let interp = ffi::PyInterpreterState_Get();
            let ours = splice_eval_frame as EvalFrame;
            let current = ffi::_PyInterpreterState_GetEvalFrameFunc(interp);
            if current as usize != ours as usize {
                PREVIOUS.store(current as *mut c_void, Ordering::Release);
                ffi::_PyInterpreterState_SetEvalFrameFunc(interp, Some(ours));
            }
        }
        ACTIVE.store(true, Ordering::Release);
        Ok(true)
    }

    pub fn uninstall(_py: Python<'_>) {
        ACTIVE.store(false, Ordering::Release);
        // SAFETY: with the GIL, on the current interpreter.
        unsafe {
            let interp = ffi::PyInterpreterState_Get();
            let ours = splice_eval_frame as EvalFrame;
            let current = ffi::_PyInterpreterState_GetEvalFrameFunc(interp);
            let prev = PREVIOUS.load(Ordering::Acquire);
            if current as usize == ours as usize && !prev.is_null() {
                let prev: EvalFrame = std::mem::transmute::<*mut c_void, EvalFrame>(prev);
                ffi::_PyInterpreterState_SetEvalFrameFunc(interp, Some(prev));
            }
        }
    }

    pub fn restart() {
        let g = GENERATION.load(Ordering::Relaxed);
        GENERATION.store(if g == usize::MAX { 1 } else { g + 1 }, Ordering::Relaxed);
    }

    pub fn installed() -> bool {
        // SAFETY: with the GIL (the caller holds it), on the current interpreter.
        unsafe {
            let interp = ffi::PyInterpreterState_Get();
            ffi::_PyInterpreterState_GetEvalFrameFunc(interp) as usize
                == splice_eval_frame as EvalFrame as usize
        }
    }
}

#[cfg(not(all(Py_3_11, not(Py_3_12), not(Py_GIL_DISABLED))))]
mod imp {
    use pyo3::prelude::*;

    pub fn install(_py: Python<'_>, _callback: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(false)
    }
    pub fn uninstall(_py: Python<'_>) {}
    pub fn restart() {}
    pub fn installed() -> bool {
        false
    }
}

/// `start_hook_install(callback) -> bool`: splice's frame evaluator on (3.11;
/// `False` elsewhere, where `sys.monitoring` does this). `callback(code,
/// function) -> int` decides each code object's first frames.
#[pyfunction]
fn start_hook_install(py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<bool> {
    imp::install(py, callback)
}

/// `start_hook_uninstall()`: the evaluator that was there before back, if
/// ours is still the one installed.
#[pyfunction]
fn start_hook_uninstall(py: Python<'_>) {
    imp::uninstall(py)
}

/// `start_hook_restart()`: every code object is asked about again (a new
/// watcher may want what the earlier ones did not).
#[pyfunction]
fn start_hook_restart() {
    imp::restart()
}

/// `start_hook_installed() -> bool`: whether splice's evaluator is the
/// interpreter's now.
#[pyfunction]
fn start_hook_installed() -> bool {
    imp::installed()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start_hook_install, m)?)?;
    m.add_function(wrap_pyfunction!(start_hook_uninstall, m)?)?;
    m.add_function(wrap_pyfunction!(start_hook_restart, m)?)?;
    m.add_function(wrap_pyfunction!(start_hook_installed, m)?)?;
    Ok(())
}
