//! The probe specs `instrument` takes: typed, immutable, checked when made.
//!
//! - `LineProbe(lines, snippet, hooks={})`: run the body of `snippet` (a
//!   template function's code object, `python/splice/template.py`) wherever
//!   a `sys.settrace` 'line' event for one of `lines` would fire, or right
//!   after the function's entry when `lines` is `None`. `hooks` maps the
//!   global names the snippet loads (each starts with `HOOK_PREFIX`) to the
//!   objects injected code loads instead, as constants.
//! - `CaptureProbe(enter, exit, error, keep_entry=False)`: call `enter()` at
//!   entry (unless it is `None`), `exit(value)` before every return and
//!   `error(exc)` when an exception leaves the function. With `keep_entry`,
//!   what `enter()` returns is kept in a hidden local of the frame and passed
//!   on: `exit(value, entry)`, `error(exc, entry)` (`entry` is `None` when
//!   `enter` did not return, having raised).
//!
//! Both are frozen: what the patcher planned is what `instrument` splices.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyCode, PyDict, PyInt, PyList, PyString, PyTuple};
use thiserror::Error;

use splice_rewrite::probe::Site;

use crate::consts::HOOK_PREFIX;

/// Why a probe spec was refused (raised as `TypeError` or `ValueError`).
#[derive(Debug, Error)]
pub enum ProbeSpecError {
    #[error("LineProbe lines must be None (function entry) or a list of line numbers, not {0}")]
    LinesType(String),
    #[error("LineProbe lines must be ints, not {0}")]
    LineType(String),
    #[error("LineProbe lines must not be empty (use None for function entry)")]
    NoLines,
    #[error("LineProbe line {0} is not a line number (they start at 1)")]
    BadLine(String),
    #[error("LineProbe snippet must be a code object (a compiled template function), not {0}")]
    SnippetType(String),
    #[error("LineProbe hooks must be a dict of name -> object, not {0}")]
    HooksType(String),
    #[error("LineProbe hook names must be str, not {0}")]
    HookNameType(String),
    #[error("LineProbe hook name '{0}' must start with '{HOOK_PREFIX}'")]
    HookPrefix(String),
    #[error("CaptureProbe {0} must be callable, not {1}")]
    NotCallable(&'static str, String),
    #[error("instrument() probes must be LineProbe or CaptureProbe objects, not {0}")]
    ProbeType(String),
    #[error("CaptureProbe(keep_entry=True) needs an enter hook: it keeps what enter() returns")]
    KeepEntryWithoutEnter,
}

impl From<ProbeSpecError> for PyErr {
    fn from(e: ProbeSpecError) -> PyErr {
        use ProbeSpecError::*;
        match e {
            NoLines | BadLine(_) | HookPrefix(_) | KeepEntryWithoutEnter => {
                PyValueError::new_err(e.to_string())
            }
            _ => PyTypeError::new_err(e.to_string()),
        }
    }
}

/// The type name of `obj`, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn lines_of(lines: &Bound<'_, PyAny>) -> Result<Option<Vec<i32>>, ProbeSpecError> {
    if lines.is_none() {
        return Ok(None);
    }
    if !(lines.is_instance_of::<PyList>() || lines.is_instance_of::<PyTuple>()) {
        return Err(ProbeSpecError::LinesType(type_name(lines)));
    }
    let mut out = Vec::new();
    for item in lines
        .try_iter()
        .map_err(|_| ProbeSpecError::LinesType(type_name(lines)))?
    {
        let item = item.map_err(|_| ProbeSpecError::LinesType(type_name(lines)))?;
        if item.is_instance_of::<PyBool>() || !item.is_instance_of::<PyInt>() {
            return Err(ProbeSpecError::LineType(type_name(&item)));
        }
        match item.extract::<i32>() {
            Ok(n) if n >= 1 => out.push(n),
            _ => return Err(ProbeSpecError::BadLine(item.to_string())),
        }
    }
    if out.is_empty() {
        return Err(ProbeSpecError::NoLines);
    }
    Ok(Some(out))
}

fn hooks_of<'py>(
    py: Python<'py>,
    hooks: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let copy = PyDict::new(py);
    let Some(hooks) = hooks.filter(|h| !h.is_none()) else {
        return Ok(copy);
    };
    let hooks = hooks
        .cast::<PyDict>()
        .map_err(|_| ProbeSpecError::HooksType(type_name(hooks)))?;
    for (k, v) in hooks.iter() {
        let name = k
            .cast::<PyString>()
            .map_err(|_| ProbeSpecError::HookNameType(type_name(&k)))?;
        let name = name.to_str()?;
        if !name.starts_with(HOOK_PREFIX) {
            return Err(ProbeSpecError::HookPrefix(name.to_string()).into());
        }
        copy.set_item(&k, v)?;
    }
    Ok(copy)
}

/// A snippet spliced in at function entry or at lines (see the module docs).
#[pyclass(module = "splice._native", frozen)]
pub struct LineProbe {
    lines: Option<Vec<i32>>,
    snippet: Py<PyCode>,
    /// A private copy: changing the caller's dict does not change the probe.
    hooks: Py<PyDict>,
}

impl LineProbe {
    /// Where the probe goes, for the rewriter.
    pub fn site(&self) -> Site {
        match &self.lines {
            None => Site::Entry,
            Some(lines) => Site::Lines(lines.clone()),
        }
    }

    pub fn snippet_code<'py>(&self, py: Python<'py>) -> &Bound<'py, PyCode> {
        self.snippet.bind(py)
    }

    /// The hooks in the dict's order.
    pub fn hook_items<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyAny>)> {
        self.hooks
            .bind(py)
            .iter()
            .filter_map(|(k, v)| Some((k.extract::<String>().ok()?, v)))
            .collect()
    }
}

#[pymethods]
impl LineProbe {
    /// `LineProbe(lines, snippet, hooks=None)`; `lines` is a list of line
    /// numbers or `None` (function entry).
    #[new]
    #[pyo3(signature = (lines, snippet, hooks = None))]
    fn new<'py>(
        lines: &Bound<'py, PyAny>,
        snippet: &Bound<'py, PyAny>,
        hooks: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let py = lines.py();
        let lines = lines_of(lines)?;
        let snippet = snippet
            .cast::<PyCode>()
            .map_err(|_| ProbeSpecError::SnippetType(type_name(snippet)))?
            .clone()
            .unbind();
        let hooks = hooks_of(py, hooks)?.unbind();
        Ok(LineProbe {
            lines,
            snippet,
            hooks,
        })
    }

    /// The line numbers, or `None` for function entry.
    #[getter]
    fn lines(&self) -> Option<Vec<i32>> {
        self.lines.clone()
    }

    /// The template function's code object whose body is spliced in.
    #[getter]
    fn snippet(&self, py: Python<'_>) -> Py<PyCode> {
        self.snippet.clone_ref(py)
    }

    /// A copy of the hook names and objects.
    #[getter]
    fn hooks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.hooks.bind(py).copy()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let at = match &self.lines {
            None => "None".to_string(),
            Some(l) => format!("{l:?}"),
        };
        let names: Vec<String> = self.hook_items(py).into_iter().map(|(k, _)| k).collect();
        Ok(format!(
            "LineProbe(lines={at}, snippet={}, hooks={names:?})",
            self.snippet.bind(py).repr()?
        ))
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.snippet)?;
        visit.call(&self.hooks)?;
        Ok(())
    }
}

/// Call-capture hooks (see the module docs).
#[pyclass(module = "splice._native", frozen)]
pub struct CaptureProbe {
    enter: Option<Py<PyAny>>,
    exit: Py<PyAny>,
    error: Py<PyAny>,
    keep_entry: bool,
}

impl CaptureProbe {
    /// Whether `enter`'s result is kept in the frame and passed to `exit`
    /// and `error`.
    pub fn keeps_entry(&self) -> bool {
        self.keep_entry
    }

    /// `(enter, exit, error)`.
    pub fn hooks<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        Option<Bound<'py, PyAny>>,
        Bound<'py, PyAny>,
        Bound<'py, PyAny>,
    ) {
        (
            self.enter.as_ref().map(|e| e.bind(py).clone()),
            self.exit.bind(py).clone(),
            self.error.bind(py).clone(),
        )
    }
}

fn callable(what: &'static str, obj: &Bound<'_, PyAny>) -> Result<Py<PyAny>, ProbeSpecError> {
    if obj.is_callable() {
        Ok(obj.clone().unbind())
    } else {
        Err(ProbeSpecError::NotCallable(what, type_name(obj)))
    }
}

#[pymethods]
impl CaptureProbe {
    /// `CaptureProbe(enter, exit, error, keep_entry=False)`; `enter` may be
    /// `None` (an entry probe calls it instead, e.g. behind an instance
    /// filter), except with `keep_entry`.
    #[new]
    #[pyo3(signature = (enter, exit, error, keep_entry = false))]
    fn new(
        enter: &Bound<'_, PyAny>,
        exit: &Bound<'_, PyAny>,
        error: &Bound<'_, PyAny>,
        keep_entry: bool,
    ) -> PyResult<Self> {
        let enter = if enter.is_none() {
            if keep_entry {
                return Err(ProbeSpecError::KeepEntryWithoutEnter.into());
            }
            None
        } else {
            Some(callable("enter", enter)?)
        };
        Ok(CaptureProbe {
            enter,
            exit: callable("exit", exit)?,
            error: callable("error", error)?,
            keep_entry,
        })
    }

    #[getter]
    fn keep_entry(&self) -> bool {
        self.keep_entry
    }

    #[getter]
    fn enter(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.enter.as_ref().map(|e| e.clone_ref(py))
    }

    #[getter]
    fn exit(&self, py: Python<'_>) -> Py<PyAny> {
        self.exit.clone_ref(py)
    }

    #[getter]
    fn error(&self, py: Python<'_>) -> Py<PyAny> {
        self.error.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let enter = match &self.enter {
            None => "None".to_string(),
            Some(e) => e.bind(py).repr()?.to_string(),
        };
        let keep = if self.keep_entry {
            ", keep_entry=True"
        } else {
            ""
        };
        Ok(format!(
            "CaptureProbe(enter={enter}, exit={}, error={}{keep})",
            self.exit.bind(py).repr()?,
            self.error.bind(py).repr()?
        ))
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.enter)?;
        visit.call(&self.exit)?;
        visit.call(&self.error)?;
        Ok(())
    }
}

/// One probe handed to `instrument`.
pub enum ProbeRef<'py> {
    Line(Bound<'py, LineProbe>),
    Capture(Bound<'py, CaptureProbe>),
}

/// The probes of `probes` (any iterable), each checked to be a probe spec.
pub fn probe_list<'py>(probes: &Bound<'py, PyAny>) -> PyResult<Vec<ProbeRef<'py>>> {
    let mut out = Vec::new();
    for p in probes.try_iter()? {
        let p = p?;
        if let Ok(line) = p.cast::<LineProbe>() {
            out.push(ProbeRef::Line(line.clone()));
        } else if let Ok(cap) = p.cast::<CaptureProbe>() {
            out.push(ProbeRef::Capture(cap.clone()));
        } else {
            return Err(ProbeSpecError::ProbeType(type_name(&p)).into());
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LineProbe>()?;
    m.add_class::<CaptureProbe>()?;
    Ok(())
}
