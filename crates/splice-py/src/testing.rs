//! `splice._native.testing`: what only tests and tools use.
//!
//! A real submodule (`from splice._native import testing` and `import
//! splice._native.testing` both work), so the runtime surface of `_native`
//! is what the `splice` package needs and nothing else:
//!
//! - `roundtrip_mismatch(code)`: decode + re-assemble, byte-compared
//!   (`python -m splice doctor`);
//! - `pad_code(code)`: a NOP before every line start (torture `pad` mode);
//! - `verify_code(code)`: the verifier on an existing code object;
//! - `disassemble_padded(code)`, `disassemble_instrumented(code, probes)`:
//!   disassembly of what `pad_code` / `instrument` would build (snapshots);
//! - `opcode_table(minor)`, `stack_effect(op, arg, jump=None)`: splice's
//!   tables, compared with the interpreter's `opcode` and `dis`;
//! - `Counter`: a native counting hook (torture's parity mode, line-parity
//!   tests);
//! - `pending_calls(recorder)`: calls a capture saw enter and not return.
//! - `deferred_slots(recorder)`: slots for the records made while recording.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyList;

use splice_rewrite::verify::{assemble_verified, verify};
use splice_rewrite::{decode, disasm, pad, PyVersion, RewriteError};

use crate::capture_hooks::Recorder;
use crate::code::{build, operands, read_raw, running_version};
use crate::errors::rewrite_error;
use crate::instrument::instrumented;

/// Decode and re-assemble `code` without changing it. Returns `None` when the
/// result is byte-identical (co_code, co_exceptiontable, co_linetable,
/// co_stacksize), else a description of the first difference. Raises
/// `RewriteError` when decoding or assembling fails.
#[pyfunction]
fn roundtrip_mismatch(code: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let raw = read_raw(code)?;
    let model = decode(&raw).map_err(rewrite_error)?;
    let out = splice_rewrite::assemble(&model).map_err(rewrite_error)?;
    let mut diffs = Vec::new();
    if out.code != raw.code {
        let at = out
            .code
            .iter()
            .zip(&raw.code)
            .position(|(a, b)| a != b)
            .unwrap_or(out.code.len().min(raw.code.len()));
        diffs.push(format!(
            "co_code differs at byte {at} (lengths {} vs {})",
            out.code.len(),
            raw.code.len()
        ));
    }
    if out.exceptiontable != raw.exceptiontable {
        diffs.push("co_exceptiontable differs".into());
    }
    if out.linetable != raw.linetable {
        diffs.push("co_linetable differs".into());
    }
    if out.stacksize != raw.stacksize {
        diffs.push(format!(
            "co_stacksize {} vs original {}",
            out.stacksize, raw.stacksize
        ));
    }
    if diffs.is_empty() {
        verify(&out).map_err(rewrite_error)?;
        Ok(None)
    } else {
        Ok(Some(diffs.join("; ")))
    }
}

/// A copy of `code` with a NOP before every instruction that starts a line
/// (nested code objects are not touched). Verified before it is built.
#[pyfunction]
fn pad_code<'py>(code: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let raw = read_raw(code)?;
    let mut model = decode(&raw).map_err(rewrite_error)?;
    pad::pad_line_starts(&mut model).map_err(rewrite_error)?;
    let out = assemble_verified(&model).map_err(rewrite_error)?;
    build(code, &out)
}

/// Stable disassembly of the padded copy of `code` (exactly what `pad_code`
/// builds: the verified bytes decoded again).
#[pyfunction]
fn disassemble_padded(code: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut model = decode(&read_raw(code)?).map_err(rewrite_error)?;
    pad::pad_line_starts(&mut model).map_err(rewrite_error)?;
    let out = assemble_verified(&model).map_err(rewrite_error)?;
    let model = decode(&out).map_err(rewrite_error)?;
    disasm::disassemble(&model, &operands(code)?, None).map_err(rewrite_error)
}

/// The disassembly of `code` after instrumenting it with `probes`
/// (nothing is patched).
#[pyfunction]
fn disassemble_instrumented<'py>(
    code: &Bound<'py, PyAny>,
    probes: &Bound<'py, PyAny>,
) -> PyResult<String> {
    let new = instrumented(code, probes)?;
    let model = decode(&read_raw(&new)?).map_err(rewrite_error)?;
    disasm::disassemble(&model, &operands(&new)?, None).map_err(rewrite_error)
}

/// Run the verifier on an existing code object. Raises `RewriteError`
/// naming the first problem; CPython's own compiler output always passes.
#[pyfunction]
fn verify_code(code: &Bound<'_, PyAny>) -> PyResult<()> {
    verify(&read_raw(code)?).map_err(rewrite_error)
}

/// The opcode table for `3.minor` as a list of
/// `(opcode, name, inline cache entries, operand kind)`.
#[pyfunction]
fn opcode_table<'py>(py: Python<'py>, minor: u32) -> PyResult<Bound<'py, PyList>> {
    let v = PyVersion::from_minor(minor)
        .ok_or_else(|| rewrite_error(RewriteError::UnsupportedVersion(minor)))?;
    let rows: Vec<(u8, &str, u8, String)> = splice_rewrite::opcodes::describe(v)
        .into_iter()
        .map(|(op, name, caches, kind)| (op, name, caches, format!("{kind:?}")))
        .collect();
    PyList::new(py, rows)
}

/// `dis.stack_effect` as splice's table computes it for the running version.
#[pyfunction]
#[pyo3(signature = (op, arg, jump = None))]
fn stack_effect(py: Python<'_>, op: u8, arg: u32, jump: Option<bool>) -> PyResult<Option<i32>> {
    let v = running_version(py)?;
    Ok(splice_rewrite::opcodes::table(v).stack_effect(op, arg, jump))
}

/// Calls `recorder`'s capture saw enter and not return yet (0 once a
/// capture has ended: nothing it held outlives it).
#[pyfunction]
fn pending_calls(recorder: &Bound<'_, Recorder>) -> usize {
    recorder.get().pending_len()
}

/// How many slots `recorder` keeps for the records it made while recording
/// (a record dropped in the block gives its slot to the next one).
#[pyfunction]
fn deferred_slots(recorder: &Bound<'_, Recorder>) -> usize {
    recorder.get().deferred_slots()
}

/// A native counting hook: `hit()` counts one call. With
/// `only_when_tracing=True` it counts only calls made while a
/// `sys.settrace` function is installed (to compare with settrace's line
/// events in the same run).
#[pyclass(module = "splice._native.testing", frozen)]
pub struct Counter {
    n: AtomicU64,
    only_when_tracing: bool,
}

#[pymethods]
impl Counter {
    #[new]
    #[pyo3(signature = (only_when_tracing = false))]
    fn new(only_when_tracing: bool) -> Self {
        Counter {
            n: AtomicU64::new(0),
            only_when_tracing,
        }
    }

    /// Count one call, as a bound builtin method that CPython calls through
    /// vectorcall (a `__call__` goes through `tp_call`, which counts a C
    /// recursion level per call on 3.11 and 3.13: CPython's recursion-limit
    /// tests notice that when a probe calls it on every line). The unused
    /// optional argument keeps pyo3 from making it `METH_NOARGS`, which 3.11
    /// also calls through a recursion-counting path.
    #[pyo3(signature = (_arg = None))]
    fn hit(&self, py: Python<'_>, _arg: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        if self.only_when_tracing {
            let tracing = !py.import("sys")?.getattr("gettrace")?.call0()?.is_none();
            if !tracing {
                return Ok(());
            }
        }
        self.n.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Number of counted calls.
    #[getter]
    fn count(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }
}

/// Build the `testing` submodule of `parent` and register it in
/// `sys.modules` as `splice._native.testing`.
/// `locals_layout(code)`: `[(slot, name, deref), ...]` of the variables a
/// capture reads the fast way from frames running `code`, or `None` when it
/// reads them through CPython's locals mapping (`frame_locals`).
#[pyfunction]
fn locals_layout(
    code: &Bound<'_, PyAny>,
) -> PyResult<Option<Vec<crate::frame_locals::VarDescription>>> {
    Ok(crate::frame_locals::LocalsLayout::of(code, &[])?.describe(code.py()))
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, "testing")?;
    m.add_function(wrap_pyfunction!(roundtrip_mismatch, &m)?)?;
    m.add_function(wrap_pyfunction!(pad_code, &m)?)?;
    m.add_function(wrap_pyfunction!(disassemble_padded, &m)?)?;
    m.add_function(wrap_pyfunction!(disassemble_instrumented, &m)?)?;
    m.add_function(wrap_pyfunction!(verify_code, &m)?)?;
    m.add_function(wrap_pyfunction!(opcode_table, &m)?)?;
    m.add_function(wrap_pyfunction!(stack_effect, &m)?)?;
    m.add_function(wrap_pyfunction!(deferred_slots, &m)?)?;
    m.add_function(wrap_pyfunction!(pending_calls, &m)?)?;
    m.add_function(wrap_pyfunction!(locals_layout, &m)?)?;
    m.add_class::<Counter>()?;
    // how many variables a code object may have and still be read the fast
    // way (`locals_layout`); None: no limit (3.11 reads frame slots)
    #[cfg(Py_3_12)]
    m.add("MANY_VARS", crate::frame_locals::MANY_VARS)?;
    #[cfg(not(Py_3_12))]
    m.add("MANY_VARS", py.None())?;
    parent.add_submodule(&m)?;
    m.setattr("__name__", "splice._native.testing")?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("splice._native.testing", &m)?;
    Ok(())
}
