//! `_native.instrument(code, probes)`: build an instrumented copy of a code
//! object (see `splice_rewrite::probe`). Nothing is patched here; the Python
//! patcher decides where the new code object goes.
//!
//! Python objects the probes need (hooks, snippet constants) are appended to
//! the copy's `co_consts`, so injected code reaches them with `LOAD_CONST`:
//! no globals, no helper locals, nothing visible in `locals()`.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

use splice_rewrite::decode;
use splice_rewrite::disasm;
use splice_rewrite::probe::{self, CaptureHooks, Probe, Scope, Site, Snippet, Target};
use splice_rewrite::verify::assemble_verified;

use crate::code::{read_raw, to_py_err};

fn str_list(code: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<String>> {
    code.getattr(name)?.extract()
}

fn scope_of(code: &Bound<'_, PyAny>) -> PyResult<Scope> {
    Ok(Scope {
        varnames: str_list(code, "co_varnames")?,
        cellvars: str_list(code, "co_cellvars")?,
        freevars: str_list(code, "co_freevars")?,
    })
}

/// The target's constants, growing as probes add theirs. Simple immutable
/// constants are shared with an equal existing one of the same type.
struct Consts<'py> {
    items: Vec<Bound<'py, PyAny>>,
}

impl<'py> Consts<'py> {
    fn add(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<u32> {
        let shareable = obj.is_none()
            || obj.is_instance_of::<PyBool>()
            || obj.is_instance_of::<PyInt>()
            || obj.is_instance_of::<PyString>()
            || obj.is_instance_of::<PyBytes>();
        if shareable {
            for (i, c) in self.items.iter().enumerate() {
                if c.get_type().is(obj.get_type()) && c.eq(obj)? {
                    return Ok(i as u32);
                }
            }
        }
        self.items.push(obj.clone());
        Ok((self.items.len() - 1) as u32)
    }
}

fn snippet_of<'py>(probe: &Bound<'py, PyDict>, consts: &mut Consts<'py>) -> PyResult<Snippet> {
    let snippet = probe
        .get_item("snippet")?
        .ok_or_else(|| PyValueError::new_err("a line probe needs a 'snippet' code object"))?;
    let raw = read_raw(&snippet)?;
    let code = decode(&raw).map_err(to_py_err)?;
    let sconsts = snippet.getattr("co_consts")?;
    let sconsts = sconsts.cast::<PyTuple>()?;
    let mut const_map = Vec::with_capacity(sconsts.len());
    let mut none_consts = Vec::new();
    for (i, c) in sconsts.iter().enumerate() {
        if c.is_none() {
            none_consts.push(i as u32);
        }
        const_map.push(consts.add(&c)?);
    }
    let mut hooks = HashMap::new();
    if let Some(h) = probe.get_item("hooks")? {
        let h = h.cast::<PyDict>()?;
        for (k, v) in h.iter() {
            let name: String = k.extract()?;
            // Hooks are never shared with an equal constant: identity matters.
            consts.items.push(v.clone());
            hooks.insert(name, (consts.items.len() - 1) as u32);
        }
    }
    Ok(Snippet {
        code,
        scope: scope_of(&snippet)?,
        names: str_list(&snippet, "co_names")?,
        const_map,
        hooks,
        none_consts,
    })
}

fn site_of(probe: &Bound<'_, PyDict>) -> PyResult<Option<Site>> {
    let at = probe
        .get_item("at")?
        .ok_or_else(|| PyValueError::new_err("a probe needs 'at'"))?;
    if let Ok(s) = at.extract::<String>() {
        return match s.as_str() {
            "entry" => Ok(Some(Site::Entry)),
            "capture" => Ok(None),
            other => Err(PyValueError::new_err(format!(
                "probe 'at' must be 'entry', 'capture' or a list of line numbers, not {other:?}"
            ))),
        };
    }
    Ok(Some(Site::Lines(at.extract::<Vec<i32>>()?)))
}

fn build_probes<'py>(
    probes: &Bound<'py, PyList>,
    consts: &mut Consts<'py>,
) -> PyResult<Vec<Probe>> {
    let mut out = Vec::with_capacity(probes.len());
    for p in probes.iter() {
        let p = p.cast::<PyDict>()?;
        match site_of(p)? {
            Some(site) => out.push(Probe::Line {
                site,
                snippet: Box::new(snippet_of(p, consts)?),
            }),
            None => {
                let mut hook = |key: &str| -> PyResult<Option<u32>> {
                    match p.get_item(key)? {
                        Some(v) if !v.is_none() => {
                            consts.items.push(v);
                            Ok(Some((consts.items.len() - 1) as u32))
                        }
                        _ => Ok(None),
                    }
                };
                let enter = hook("enter")?;
                let exit = hook("exit")?
                    .ok_or_else(|| PyValueError::new_err("a capture probe needs 'exit'"))?;
                let error = hook("error")?
                    .ok_or_else(|| PyValueError::new_err("a capture probe needs 'error'"))?;
                out.push(Probe::Capture(CaptureHooks { enter, exit, error }));
            }
        }
    }
    Ok(out)
}

/// Instrument, verify and build. Returns the new code object and, for
/// `show`, the disassembly before and after.
fn run<'py>(
    code: &Bound<'py, PyAny>,
    probes: &Bound<'py, PyList>,
) -> PyResult<(Bound<'py, PyAny>, Target, Vec<Bound<'py, PyAny>>)> {
    let py = code.py();
    let raw = read_raw(code)?;
    let model = decode(&raw).map_err(to_py_err)?;
    let co_consts = code.getattr("co_consts")?;
    let mut consts = Consts {
        items: co_consts.cast::<PyTuple>()?.iter().collect(),
    };
    let probes = build_probes(probes, &mut consts)?;
    let mut target = Target {
        code: model,
        scope: scope_of(code)?,
        names: str_list(code, "co_names")?,
        n_consts: consts.items.len(),
    };
    probe::instrument(&mut target, &probes).map_err(to_py_err)?;
    let out = assemble_verified(&target.code).map_err(to_py_err)?;

    let kw = PyDict::new(py);
    kw.set_item("co_code", PyBytes::new(py, &out.code))?;
    kw.set_item("co_exceptiontable", PyBytes::new(py, &out.exceptiontable))?;
    kw.set_item("co_linetable", PyBytes::new(py, &out.linetable))?;
    kw.set_item("co_stacksize", out.stacksize)?;
    kw.set_item("co_consts", PyTuple::new(py, &consts.items)?)?;
    kw.set_item("co_names", PyTuple::new(py, &target.names)?)?;
    kw.set_item("co_varnames", PyTuple::new(py, &target.scope.varnames)?)?;
    kw.set_item("co_nlocals", target.scope.varnames.len())?;
    let new = code.call_method("replace", (), Some(&kw))?;
    Ok((new, target, consts.items))
}

/// A copy of `code` with `probes` spliced in, verified before it is built.
/// See `python/splice/patcher.py` for the probe dictionaries.
#[pyfunction]
fn instrument<'py>(
    code: &Bound<'py, PyAny>,
    probes: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(run(code, probes)?.0)
}

/// The disassembly of `code` after instrumenting it with `probes`
/// (nothing is patched).
#[pyfunction]
fn disassemble_instrumented<'py>(
    code: &Bound<'py, PyAny>,
    probes: &Bound<'py, PyList>,
) -> PyResult<String> {
    let (new, _, _) = run(code, probes)?;
    let raw = read_raw(&new)?;
    let model = decode(&raw).map_err(to_py_err)?;
    disasm::disassemble(&model, &crate::code::operands(&new)?, None).map_err(to_py_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(instrument, m)?)?;
    m.add_function(wrap_pyfunction!(disassemble_instrumented, m)?)?;
    Ok(())
}
