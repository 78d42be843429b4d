//! The outer stack of a captured call, as `(code, lasti)` pairs, stored so
//! that calls share what their stacks have in common.
//!
//! A capture records, at each call's entry, the code object and instruction
//! offset of every outer frame. Stored whole per call, a recursion of depth
//! `d` (or `d` nested generators, as in `json`'s pure-Python encoder) holds
//! `d * d / 2` pairs while the calls are pending: CPython 3.13's own json
//! tests reached 3.7 GB and minutes that way. Here a stack is a linked list
//! from the innermost outer frame outwards, and the outer part it shares
//! with the previous call's stack (compared by content, code object identity
//! and offset) is that call's very nodes: a call one level deeper adds one
//! node, and a loop calling the function from the same place adds none.
//! A call whose caller is itself a pending captured call of a plain function
//! (recursion) needs no walk at all: see `capture_hooks::caller_stack`.

use std::os::raw::c_int;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::ffi;
use pyo3::prelude::*;

/// One outer frame of a recorded stack, and the frames outside it.
pub struct FrameNode {
    code: Py<PyAny>,
    lasti: c_int,
    outer: Option<Arc<FrameNode>>,
}

impl Drop for FrameNode {
    /// Iterative: a chain thousands of frames long, dropped recursively,
    /// could overflow a thread's native stack.
    fn drop(&mut self) {
        let mut next = self.outer.take();
        while let Some(arc) = next {
            match Arc::try_unwrap(arc) {
                Ok(mut node) => next = node.outer.take(),
                Err(_) => break,
            }
        }
    }
}

/// A recorded stack: its innermost outer frame (`None`: no outer frame).
pub type Frames = Option<Arc<FrameNode>>;

/// The stack of a frame called from the frame of `code` at `lasti`, whose
/// own outer stack is `outer`.
pub fn push(code: Py<PyAny>, lasti: c_int, outer: Frames) -> Frames {
    Some(Arc::new(FrameNode { code, lasti, outer }))
}

/// The `(code, lasti)` pairs of `frames`, innermost first.
pub fn pairs(frames: &Frames) -> impl Iterator<Item = (&Py<PyAny>, c_int)> {
    let mut node = frames.as_deref();
    std::iter::from_fn(move || {
        let n = node?;
        node = n.outer.as_deref();
        Some((&n.code, n.lasti))
    })
}

/// The last stack recorded, outermost frame first, whose nodes the next
/// call's stack reuses where they match.
#[derive(Default)]
pub struct StackSharer {
    chain: Mutex<Vec<Arc<FrameNode>>>,
}

impl StackSharer {
    /// The stack from `caller` (the frame that called the captured one)
    /// outwards, sharing nodes with the last one recorded. Holds its lock only over Rust code: nodes it replaces
    /// (which may hold the last reference to a code object, whose weakref
    /// callbacks run Python code) are dropped after it is released.
    pub fn record<'py>(&self, py: Python<'py>, caller: Bound<'py, PyAny>) -> PyResult<Frames> {
        let raw = walk_out(py, caller)?;
        let d = raw.len();
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        let mut k = 0;
        while k < chain.len().min(d) {
            let (code, lasti) = &raw[d - 1 - k];
            if chain[k].lasti != *lasti || chain[k].code.as_ptr() != code.as_ptr() {
                break;
            }
            k += 1;
        }
        let replaced = chain.split_off(k);
        // `raw` outermost first; its first `k` pairs are already in `chain`
        // (held there too: dropping them frees nothing).
        for (code, lasti) in raw.into_iter().rev().skip(k) {
            let outer = chain.last().cloned();
            chain.push(Arc::new(FrameNode {
                code: code.unbind(),
                lasti,
                outer,
            }));
        }
        let top = chain.last().cloned();
        drop(chain);
        drop(replaced);
        Ok(top)
    }

    /// Forget the last stack (dropped outside the lock, as in `record`).
    pub fn clear(&self) {
        let old = std::mem::take(&mut *self.chain.lock().unwrap_or_else(PoisonError::into_inner));
        drop(old);
    }
}

/// `(code, lasti)` of `frame` and every frame outside it, innermost first.
fn walk_out<'py>(
    py: Python<'py>,
    frame: Bound<'py, PyAny>,
) -> PyResult<Vec<(Bound<'py, PyAny>, c_int)>> {
    let mut out = Vec::with_capacity(16);
    // SAFETY: `frame` is a live frame object, owned here; PyFrame_GetBack
    // returns a new reference or NULL (no outer frame, or an allocation
    // failure with an exception set: checked below); PyFrame_GetCode returns
    // a new reference, never NULL.
    unsafe {
        let mut f: *mut ffi::PyFrameObject = frame.into_ptr().cast();
        while !f.is_null() {
            let code = ffi::PyFrame_GetCode(f);
            let lasti = ffi::PyFrame_GetLasti(f);
            out.push((Bound::from_owned_ptr(py, code.cast()), lasti));
            let back = ffi::PyFrame_GetBack(f);
            ffi::Py_DECREF(f.cast());
            f = back;
        }
        if !ffi::PyErr_Occurred().is_null() {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(out)
}
