//! Python functions over code objects: round-trip checks (doctor), padding
//! (torture), disassembly (snapshots, `show`), the opcode table (tests).

use pyo3::prelude::*;
use pyo3::types::PyList;

use splice_rewrite::verify::{assemble_verified, verify};
use splice_rewrite::{decode, disasm, pad, PyVersion};

use crate::code::{build, operands, read_raw, running_version, to_py_err};

/// Decode and re-assemble `code` without changing it. Returns `None` when the
/// result is byte-identical (co_code, co_exceptiontable, co_linetable,
/// co_stacksize), else a description of the first difference. Raises
/// `RewriteError` when decoding or assembling fails.
#[pyfunction]
fn roundtrip_mismatch(code: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let raw = read_raw(code)?;
    let model = decode(&raw).map_err(to_py_err)?;
    let out = splice_rewrite::assemble(&model).map_err(to_py_err)?;
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
        verify(&out).map_err(to_py_err)?;
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
    let mut model = decode(&raw).map_err(to_py_err)?;
    pad::pad_line_starts(&mut model).map_err(to_py_err)?;
    let out = assemble_verified(&model).map_err(to_py_err)?;
    build(code, &out)
}

/// Stable disassembly of `code` (labels, operand values, stack depths,
/// handlers). With `padded=True`, of its padded copy.
#[pyfunction]
#[pyo3(signature = (code, padded = false))]
fn disassemble(code: &Bound<'_, PyAny>, padded: bool) -> PyResult<String> {
    let raw = read_raw(code)?;
    let mut model = decode(&raw).map_err(to_py_err)?;
    if padded {
        pad::pad_line_starts(&mut model).map_err(to_py_err)?;
        // Show exactly what would be built: re-decode the verified bytes.
        let out = assemble_verified(&model).map_err(to_py_err)?;
        model = decode(&out).map_err(to_py_err)?;
    }
    disasm::disassemble(&model, &operands(code)?, None).map_err(to_py_err)
}

/// Run the verifier on an existing code object. Raises `RewriteError`
/// naming the first problem; CPython's own compiler output always passes.
#[pyfunction]
fn verify_code(code: &Bound<'_, PyAny>) -> PyResult<()> {
    verify(&read_raw(code)?).map_err(to_py_err)
}

/// The opcode table for `3.minor` as a list of
/// `(opcode, name, inline cache entries, operand kind)`.
#[pyfunction]
fn opcode_table<'py>(py: Python<'py>, minor: u32) -> PyResult<Bound<'py, PyList>> {
    let v = PyVersion::from_minor(minor)
        .ok_or_else(|| to_py_err(splice_rewrite::RewriteError::UnsupportedVersion(minor)))?;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(roundtrip_mismatch, m)?)?;
    m.add_function(wrap_pyfunction!(pad_code, m)?)?;
    m.add_function(wrap_pyfunction!(disassemble, m)?)?;
    m.add_function(wrap_pyfunction!(opcode_table, m)?)?;
    m.add_function(wrap_pyfunction!(verify_code, m)?)?;
    m.add_function(wrap_pyfunction!(stack_effect, m)?)?;
    Ok(())
}
