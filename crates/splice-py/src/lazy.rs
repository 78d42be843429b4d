//! Values made once per process on first use, safely across `os.fork()`.
//!
//! pyo3's `PyOnceLock` (and its `intern!`, built on it) releases the GIL
//! before it takes the cell's lock and takes the GIL back inside it, so that
//! a thread waiting for the cell never holds the GIL. In that window another
//! thread can run and fork: the child inherits a cell marked "being made" by
//! a thread that does not exist there, and its first use of that cell waits
//! forever (found by an adversarial run: a DataLoader-style fork while
//! another thread made the process's first capture hung the child in 2 runs
//! of 5). [`ForkSafeOnce`] makes the value with the GIL held and no cell
//! state in progress, then stores it in one step that cannot release the
//! GIL: two threads may both make it (the first stored wins, the other is
//! dropped), and a fork can never see it half made.

use pyo3::prelude::*;
use std::sync::OnceLock;

/// A value made once, on first use, under the GIL (see the module docs).
pub struct ForkSafeOnce<T>(OnceLock<T>);

impl<T> ForkSafeOnce<T> {
    pub const fn new() -> Self {
        ForkSafeOnce(OnceLock::new())
    }

    /// The value, made by `make` if no thread has stored one yet.
    pub fn get_or_init(&self, py: Python<'_>, make: impl FnOnce() -> T) -> &T {
        self.get_or_try_init(py, || Ok::<T, std::convert::Infallible>(make()))
            .unwrap_or_else(|never| match never {})
    }

    /// As [`Self::get_or_init`], for a `make` that can fail (nothing is
    /// stored then, and the next use tries again).
    pub fn get_or_try_init<E>(
        &self,
        _py: Python<'_>,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<&T, E> {
        if let Some(v) = self.0.get() {
            return Ok(v);
        }
        let made = make()?;
        // Storing moves the value and runs no Python code, so the GIL is
        // held throughout: no other Python thread (and no fork) can run
        // while the cell is being written. A value another thread stored
        // meanwhile wins; `made` is dropped here, with the GIL held.
        Ok(self.0.get_or_init(move || made))
    }
}

impl<T> Default for ForkSafeOnce<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// `interned!(py, "name")`: the interned Python string, made once per call
/// site, as `pyo3::intern!` but fork-safe ([`ForkSafeOnce`]).
macro_rules! interned {
    ($py:expr, $text:expr) => {{
        static INTERNED: $crate::lazy::ForkSafeOnce<pyo3::Py<pyo3::types::PyString>> =
            $crate::lazy::ForkSafeOnce::new();
        INTERNED
            .get_or_init($py, || pyo3::types::PyString::intern($py, $text).unbind())
            .bind($py)
    }};
}
pub(crate) use interned;
