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
//!
//! No frame object is kept between walks: a frame object that outlives its
//! call keeps all of that call's locals (CPython copies them into it), so a
//! kept caller frame held everything the caller had computed (a model's
//! activations) until the next walk. (Found by CPython's
//! `test_functools.test_lru_cache_weakrefable` run inside a capture; a cache
//! of the last walk keyed by the caller frame, which had to hold it, is gone.)

use std::collections::HashMap;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pyo3::ffi;
use pyo3::prelude::*;

/// One outer frame of a recorded stack, and the frames outside it.
pub struct FrameNode {
    code: Py<PyAny>,
    lasti: c_int,
    outer: Option<Arc<FrameNode>>,
}

/// References to each code object held by live [`FrameNode`]s (one per
/// node), by address, and a generation bumped whenever a node is made or
/// dropped. The owner census (`python/splice/owners.py`) explains them: a
/// capture's records keep their callers' code objects (a training loop, a
/// model's `forward`), and a probe later entered on one of those functions
/// would otherwise search the heap on every enter while the records live.
/// The census reads the generation before its reference count and after
/// this count, and uses the count only if nothing changed in between (a
/// node made on another thread meanwhile would be counted without its
/// reference, which could hide an owner).
static NODE_REFS: LazyLock<Mutex<HashMap<usize, usize>>> = LazyLock::new(Default::default);
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn node_refs() -> std::sync::MutexGuard<'static, HashMap<usize, usize>> {
    NODE_REFS.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FrameNode {
    fn new(code: Py<PyAny>, lasti: c_int, outer: Option<Arc<FrameNode>>) -> Self {
        GENERATION.fetch_add(1, Ordering::SeqCst);
        *node_refs().entry(code.as_ptr() as usize).or_insert(0) += 1;
        FrameNode { code, lasti, outer }
    }
}

/// References to `code` held by recorded stacks now.
pub fn recorded_refs(code: &Bound<'_, PyAny>) -> usize {
    node_refs()
        .get(&(code.as_ptr() as usize))
        .copied()
        .unwrap_or(0)
}

/// The generation of [`recorded_refs`] (see [`NODE_REFS`]).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

impl Drop for FrameNode {
    /// Iterative: a chain thousands of frames long, dropped recursively,
    /// could overflow a thread's native stack. Each node unwrapped here is
    /// dropped in turn (its `outer` already taken) and uncounted then.
    fn drop(&mut self) {
        {
            // Uncounted before the reference goes (a census in between
            // finds the reference unexplained: a search, never a miss).
            GENERATION.fetch_add(1, Ordering::SeqCst);
            let mut refs = node_refs();
            let key = self.code.as_ptr() as usize;
            if let Some(n) = refs.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    refs.remove(&key);
                }
            }
        }
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
    Some(Arc::new(FrameNode::new(code, lasti, outer)))
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
    state: Mutex<Shared>,
}

#[derive(Default)]
struct Shared {
    chain: Vec<Arc<FrameNode>>,
}

impl StackSharer {
    /// The stack from `caller` (the frame that called the captured one)
    /// outwards, sharing nodes with the last one recorded. Holds its lock
    /// only over Rust code: what it replaces (nodes that may hold the last
    /// reference to a code object) is dropped after it is released, since
    /// that may run Python code.
    pub fn record<'py>(&self, py: Python<'py>, caller: Bound<'py, PyAny>) -> PyResult<Frames> {
        let raw = walk_out(py, caller)?;
        let d = raw.len();
        let mut st = self.lock();
        let chain = &mut st.chain;
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
            chain.push(Arc::new(FrameNode::new(code.unbind(), lasti, outer)));
        }
        let top = chain.last().cloned();
        drop(st);
        drop(replaced);
        Ok(top)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forget the last stack (dropped outside the lock, as in `record`).
    pub fn clear(&self) {
        let old = std::mem::take(&mut *self.lock());
        drop(old);
    }
}

/// Code flags of frames whose activation can be resumed from different
/// places: generators, coroutines, async generators.
const RESUMABLE: i64 = 0x20 | 0x80 | 0x100 | 0x200;

/// Whether `frame` runs a generator, coroutine or async generator.
pub fn is_resumable(py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<bool> {
    // SAFETY: `frame` is a live frame object; PyFrame_GetCode returns a new
    // reference, never NULL.
    let code =
        unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame.as_ptr().cast()).cast()) };
    let flags: i64 = code
        .getattr(crate::lazy::interned!(py, "co_flags"))?
        .extract()?;
    Ok(flags & RESUMABLE != 0)
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
