//! `_native.disassemble(code)`: the stable disassembly `python -m splice
//! show` diffs (labels instead of offsets, operand values, stack depth per
//! instruction, handlers, line changes).

use pyo3::prelude::*;

use splice_rewrite::{decode, disasm};

use crate::code::{operands, read_raw};
use crate::errors::rewrite_error;

/// Stable disassembly of `code`.
#[pyfunction]
pub fn disassemble(code: &Bound<'_, PyAny>) -> PyResult<String> {
    let model = decode(&read_raw(code)?).map_err(rewrite_error)?;
    disasm::disassemble(&model, &operands(code)?, None).map_err(rewrite_error)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(disassemble, m)?)?;
    Ok(())
}
