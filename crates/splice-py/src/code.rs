//! CPython code objects <-> the `splice-rewrite` model.
//!
//! Reading goes through the code object's public attributes; writing goes
//! through `code.replace(...)`, never `PyCode_New` (its C signature changed in
//! 3.11 and again later). Every code object built here has passed the
//! verifier first.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use splice_rewrite::disasm::Operands;
use splice_rewrite::model::{LocalCounts, OperandCounts};
use splice_rewrite::{PyVersion, RawCode, RewriteError};

use crate::errors::rewrite_error;

/// The running interpreter's version, or an error naming it.
///
/// Read once per process: `version_info()` formats and parses
/// `Py_GetVersion()`'s string on every call, which was a twentieth of
/// instrumenting a function (two code objects read per probe).
pub fn running_version(py: Python<'_>) -> PyResult<PyVersion> {
    static MINOR: OnceLock<u32> = OnceLock::new();
    let minor = *MINOR.get_or_init(|| u32::from(py.version_info().minor));
    PyVersion::from_minor(minor)
        .ok_or_else(|| rewrite_error(RewriteError::UnsupportedVersion(minor)))
}

fn bytes_attr(code: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    let v = code.getattr(name)?;
    let b = v.cast::<PyBytes>()?;
    Ok(b.as_bytes().to_vec())
}

fn str_tuple(code: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<String>> {
    code.getattr(name)?.extract()
}

/// Localsplus names in index order: `co_varnames`, then cell variables that
/// are not also arguments/locals, then `co_freevars` (CPython's
/// `compute_localsplus_info`).
pub fn localsplus_names(code: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let mut names = str_tuple(code, "co_varnames")?;
    let cells = str_tuple(code, "co_cellvars")?;
    let n_vars = names.len();
    for c in cells {
        if !names[..n_vars].contains(&c) {
            names.push(c);
        }
    }
    names.extend(str_tuple(code, "co_freevars")?);
    Ok(names)
}

/// How many leading locals a call binds: the parameters (positional and
/// keyword-only, then `*args` and `**kwargs` if the code has them).
fn param_count(code: &Bound<'_, PyAny>) -> PyResult<usize> {
    const CO_VARARGS: u32 = 0x04;
    const CO_VARKEYWORDS: u32 = 0x08;
    let flags: u32 = code.getattr("co_flags")?.extract()?;
    let argcount: usize = code.getattr("co_argcount")?.extract()?;
    let kwonly: usize = code.getattr("co_kwonlyargcount")?.extract()?;
    Ok(argcount
        + kwonly
        + usize::from(flags & CO_VARARGS != 0)
        + usize::from(flags & CO_VARKEYWORDS != 0))
}

/// Read the rewrite-relevant fields of a code object.
pub fn read_raw(code: &Bound<'_, PyAny>) -> PyResult<RawCode> {
    let py = code.py();
    Ok(RawCode {
        version: running_version(py)?,
        code: bytes_attr(code, "co_code")?,
        exceptiontable: bytes_attr(code, "co_exceptiontable")?,
        linetable: bytes_attr(code, "co_linetable")?,
        firstlineno: code.getattr("co_firstlineno")?.extract()?,
        stacksize: code.getattr("co_stacksize")?.extract()?,
        counts: OperandCounts {
            consts: code.getattr("co_consts")?.len()?,
            names: code.getattr("co_names")?.len()?,
            localsplus: localsplus_names(code)?.len(),
            locals: Some(LocalCounts {
                params: param_count(code)?,
                varnames: code.getattr("co_nlocals")?.extract()?,
            }),
        },
    })
}

/// Operand values for the disassembler.
pub fn operands(code: &Bound<'_, PyAny>) -> PyResult<Operands> {
    let consts = code.getattr("co_consts")?;
    let consts = consts.cast::<PyTuple>()?;
    let mut reprs = Vec::with_capacity(consts.len());
    for c in consts.iter() {
        let is_code = c.hasattr("co_code")?;
        reprs.push(if is_code {
            format!("<code {}>", c.getattr("co_qualname")?.extract::<String>()?)
        } else {
            c.repr()?.extract::<String>()?
        });
    }
    Ok(Operands {
        consts: reprs,
        names: str_tuple(code, "co_names")?,
        localsplus: localsplus_names(code)?,
    })
}

/// A new code object: `code` with the bytecode fields of `raw`. `raw` must
/// have passed the verifier.
pub fn build<'py>(code: &Bound<'py, PyAny>, raw: &RawCode) -> PyResult<Bound<'py, PyAny>> {
    let py = code.py();
    let kw = PyDict::new(py);
    kw.set_item("co_code", PyBytes::new(py, &raw.code))?;
    kw.set_item("co_exceptiontable", PyBytes::new(py, &raw.exceptiontable))?;
    kw.set_item("co_linetable", PyBytes::new(py, &raw.linetable))?;
    kw.set_item("co_stacksize", raw.stacksize)?;
    code.call_method("replace", (), Some(&kw))
}
