//! `_native.instrument(code, probes)`: build an instrumented copy of a code
//! object (see `splice_rewrite::probe`). Nothing is patched here; the Python
//! patcher decides where the new code object goes.
//!
//! Python objects the probes need (hooks, snippet constants) are appended to
//! the copy's `co_consts`, so injected code reaches them with `LOAD_CONST`:
//! no globals, no helper locals, nothing visible in `locals()`.

use std::collections::HashMap;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyCode, PyDict, PyInt, PyString, PyTuple};

use splice_rewrite::decode;
use splice_rewrite::probe::{self, CaptureHooks, Probe, Scope, Snippet, Target};
use splice_rewrite::verify::assemble_verified;

use crate::code::read_raw;
use crate::errors::rewrite_error;
use crate::probes::{probe_list, type_name, LineProbe, ProbeRef};

fn str_list(code: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<String>> {
    code.getattr(name)?.extract()
}

/// A tuple of `names` that reuses the string objects of `original` where
/// the name at that index is the same (the rewriter only appends names).
/// `code.replace` interns every name it is given: a fresh string costs a
/// lookup in the interpreter's table of interned strings, which holds
/// hundreds of thousands of entries in a process with torch imported and
/// is cold at a first probe (a quarter of instrumenting a 220-line method);
/// an original one is interned already and costs nothing.
fn names_tuple<'py>(
    original: &Bound<'py, PyAny>,
    names: &[String],
) -> PyResult<Bound<'py, PyTuple>> {
    let py = original.py();
    let original = original.cast::<PyTuple>()?;
    let mut items: Vec<Bound<'py, PyAny>> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let same = |item: &Bound<'py, PyAny>| {
            item.cast::<PyString>()
                .is_ok_and(|s| s.to_str().is_ok_and(|t| t == name))
        };
        let reused = original.get_item(i).ok().filter(same);
        items.push(reused.unwrap_or_else(|| PyString::new(py, name).into_any()));
    }
    PyTuple::new(py, items)
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
    py: Python<'py>,
    items: Vec<Bound<'py, PyAny>>,
}

impl<'py> Consts<'py> {
    /// Append `obj` (never shared); its index.
    fn push(&mut self, obj: Bound<'py, PyAny>) -> u32 {
        self.items.push(obj);
        (self.items.len() - 1) as u32
    }

    /// The index of `obj`: an equal simple constant already there, or a new one.
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
        Ok(self.push(obj.clone()))
    }
}

/// The rewriter's view of a line probe's snippet; its constants and hooks
/// are appended to `consts`.
fn snippet_of<'py>(probe: &LineProbe, consts: &mut Consts<'py>) -> PyResult<Snippet> {
    let py = consts.py;
    let snippet = probe.snippet_code(py).as_any();
    let raw = read_raw(snippet)?;
    let code = decode(&raw).map_err(rewrite_error)?;
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
    for (name, v) in probe.hook_items(py) {
        // Hooks are never shared with an equal constant: identity matters.
        hooks.insert(name, consts.push(v));
    }
    Ok(Snippet {
        code,
        scope: scope_of(snippet)?,
        names: str_list(snippet, "co_names")?,
        const_map,
        hooks,
        none_consts,
    })
}

/// The rewriter's probes for `probes`, their objects appended to `consts`.
fn build_probes<'py>(probes: &[ProbeRef<'py>], consts: &mut Consts<'py>) -> PyResult<Vec<Probe>> {
    let mut out = Vec::with_capacity(probes.len());
    for p in probes {
        match p {
            ProbeRef::Line(line) => {
                let line = line.get();
                out.push(Probe::Line {
                    site: line.site(),
                    snippet: Box::new(snippet_of(line, consts)?),
                });
            }
            ProbeRef::Capture(cap) => {
                let (enter, exit, error) = cap.get().hooks(consts.py);
                let keep_entry = if cap.get().keeps_entry() {
                    Some(consts.add(&consts.py.None().into_bound(consts.py))?)
                } else {
                    None
                };
                out.push(Probe::Capture(CaptureHooks {
                    enter: enter.map(|e| consts.push(e)),
                    exit: consts.push(exit),
                    error: consts.push(error),
                    keep_entry,
                }));
            }
        }
    }
    Ok(out)
}

/// `code` as a code object, or a `TypeError` naming what it is.
fn code_arg<'a, 'py>(code: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyAny>> {
    if code.is_instance_of::<PyCode>() {
        Ok(code)
    } else {
        Err(PyTypeError::new_err(format!(
            "instrument() needs a code object, not {}",
            type_name(code)
        )))
    }
}

/// A copy of `code` with `probes` spliced in, verified before it is built.
/// Errors are mapped by `crate::errors`.
pub fn instrumented<'py>(
    code: &Bound<'py, PyAny>,
    probes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = code.py();
    let code = code_arg(code)?;
    let probes = probe_list(probes)?;
    let raw = read_raw(code)?;
    let model = decode(&raw).map_err(rewrite_error)?;
    let co_consts = code.getattr("co_consts")?;
    let mut consts = Consts {
        py,
        items: co_consts.cast::<PyTuple>()?.iter().collect(),
    };
    let probes = build_probes(&probes, &mut consts)?;
    let mut target = Target {
        code: model,
        scope: scope_of(code)?,
        names: str_list(code, "co_names")?,
        n_consts: consts.items.len(),
    };
    probe::instrument(&mut target, &probes).map_err(rewrite_error)?;
    let out = assemble_verified(&target.code).map_err(rewrite_error)?;

    let kw = PyDict::new(py);
    kw.set_item("co_code", PyBytes::new(py, &out.code))?;
    kw.set_item("co_exceptiontable", PyBytes::new(py, &out.exceptiontable))?;
    kw.set_item("co_linetable", PyBytes::new(py, &out.linetable))?;
    kw.set_item("co_stacksize", out.stacksize)?;
    kw.set_item("co_consts", PyTuple::new(py, &consts.items)?)?;
    kw.set_item(
        "co_names",
        names_tuple(&code.getattr("co_names")?, &target.names)?,
    )?;
    kw.set_item(
        "co_varnames",
        names_tuple(&code.getattr("co_varnames")?, &target.scope.varnames)?,
    )?;
    kw.set_item("co_nlocals", target.scope.varnames.len())?;
    code.call_method("replace", (), Some(&kw))
}

/// `instrument(code, probes)`: a copy of `code` with `probes` (`LineProbe`
/// and `CaptureProbe` objects, applied in order) spliced in, verified
/// before it is built. Nothing is patched.
#[pyfunction]
fn instrument<'py>(
    code: &Bound<'py, PyAny>,
    probes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    instrumented(code, probes)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(instrument, m)?)?;
    Ok(())
}
