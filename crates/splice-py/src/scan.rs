//! Facts about a code object that every first probe of a function reads,
//! each one pass over its code units (in Python each was a loop over every
//! unit, a measurable part of a first enter):
//!
//! - `scope_names(code)`: the names it declares `global` (stores or deletes
//!   as globals) and the plain locals it ever unbinds (`del x`, the end of
//!   `except E as x`), for the template (`splice.template`);
//! - `code_lines(code)`: the sorted distinct lines `co_lines()` reports, for
//!   the source check (`splice.locate.check_source`);
//! - `rebinds_local(code, index)`: whether anything stores into or deletes
//!   a local (a bound method's breakpoint tests its first argument).

use std::collections::BTreeSet;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use splice_rewrite::decode::split_instructions;
use splice_rewrite::model::OperandCounts;
use splice_rewrite::{linetable, opcodes, RawCode};

use crate::code::running_version;
use crate::errors::rewrite_error;

/// `co_code` alone, as the instruction splitter reads it.
fn code_units(code: &Bound<'_, PyAny>) -> PyResult<RawCode> {
    let bytes = code.getattr("co_code")?;
    Ok(RawCode {
        version: running_version(code.py())?,
        code: bytes.cast::<PyBytes>()?.as_bytes().to_vec(),
        exceptiontable: Vec::new(),
        linetable: Vec::new(),
        firstlineno: 0,
        stacksize: 0,
        counts: OperandCounts::default(),
    })
}

fn name_at(names: &Bound<'_, PyTuple>, i: u32, what: &str) -> PyResult<String> {
    names
        .get_item(i as usize)
        .map_err(|_| PyValueError::new_err(format!("operand {i} is past the end of {what}")))?
        .extract()
}

/// (names declared `global`, in the order first stored or deleted; plain
/// locals ever deleted, sorted; locals an inlined comprehension clears with
/// `LOAD_FAST_AND_CLEAR`, 3.12+, sorted).
#[pyfunction]
fn scope_names(code: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, Vec<String>, Vec<String>)> {
    let raw = code_units(code)?;
    let known = &opcodes::table(raw.version).known;
    let instrs = split_instructions(&raw).map_err(rewrite_error)?;
    let names = code.getattr("co_names")?;
    let names = names.cast::<PyTuple>()?;
    let varnames = code.getattr("co_varnames")?;
    let varnames = varnames.cast::<PyTuple>()?;
    let mut globals: Vec<String> = Vec::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut cleared: BTreeSet<String> = BTreeSet::new();
    for r in &instrs {
        if r.op == known.store_global || r.op == known.delete_global {
            let name = name_at(names, r.arg, "co_names")?;
            if !globals.contains(&name) {
                globals.push(name);
            }
        } else if r.op == known.delete_fast {
            deleted.insert(name_at(varnames, r.arg, "co_varnames")?);
        } else if Some(r.op) == known.load_fast_and_clear {
            // (a cell or free slot is past co_varnames: not a plain local)
            if let Ok(name) = name_at(varnames, r.arg, "co_varnames") {
                cleared.insert(name);
            }
        }
    }
    Ok((
        globals,
        deleted.into_iter().collect(),
        cleared.into_iter().collect(),
    ))
}

/// Whether any instruction of `code` stores into, deletes or clears the
/// local in slot `index` (as a plain local or as a cell): a breakpoint on
/// a bound method tests its first argument at the line, which must still
/// be the argument there (`splice.actions`).
#[pyfunction]
fn rebinds_local(code: &Bound<'_, PyAny>, index: u32) -> PyResult<bool> {
    let raw = code_units(code)?;
    let table = opcodes::table(raw.version);
    let instrs = split_instructions(&raw).map_err(rewrite_error)?;
    Ok(instrs.iter().any(|r| match table.name(r.op) {
        Some(
            "STORE_FAST" | "DELETE_FAST" | "LOAD_FAST_AND_CLEAR" | "STORE_DEREF" | "DELETE_DEREF",
        ) => r.arg == index,
        Some("STORE_FAST_LOAD_FAST") => r.arg >> 4 == index,
        Some("STORE_FAST_STORE_FAST") => r.arg >> 4 == index || r.arg & 15 == index,
        _ => false,
    }))
}

/// The sorted distinct true line numbers of `code.co_lines()`.
#[pyfunction]
fn code_lines(code: &Bound<'_, PyAny>) -> PyResult<Vec<i32>> {
    let table = code.getattr("co_linetable")?;
    let table = table.cast::<PyBytes>()?.as_bytes();
    let n_units = code.getattr("co_code")?.len()? / 2;
    let first: i32 = code.getattr("co_firstlineno")?.extract()?;
    let locs = linetable::decode(table, first, n_units).map_err(rewrite_error)?;
    let lines: BTreeSet<i32> = locs
        .iter()
        .filter_map(|l| l.line)
        .filter(|&l| l != 0)
        .collect();
    Ok(lines.into_iter().collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scope_names, m)?)?;
    m.add_function(wrap_pyfunction!(code_lines, m)?)?;
    m.add_function(wrap_pyfunction!(rebinds_local, m)?)?;
    Ok(())
}
