//! Splicing probes into a decoded code object.
//!
//! A *line probe* is the body of a template function that CPython compiled in
//! a scope mirroring the target (see `python/splice/template.py`). Its
//! instructions are relocated onto the target ([`snippet`]), and copied to
//! every place where a `sys.settrace` 'line' event for the probe's line
//! would fire ([`lines`] decides where, [`line`] splices). A *capture probe*
//! calls hooks on entry, return and exception ([`capture`]).
//!
//! One concern per module:
//! - [`scope`]: the target's localsplus layout and variable mapping;
//! - [`callgen`]: calls of hook constants in each version's convention;
//! - [`lines`]: line-event planning over the control-flow graph;
//! - [`snippet`]: snippet relocation and its hot/cold split;
//! - [`borrow`]: borrowed loads a snippet could invalidate (3.14+);
//! - [`unbound`]: checked loads of the locals a snippet deletes (3.12+);
//! - [`line`]: placement of line probes;
//! - [`capture`]: call-capture code generation.

pub mod borrow;
pub mod callgen;
pub mod capture;
pub mod line;
pub mod lines;
pub mod scope;
pub mod snippet;
pub mod unbound;

pub use capture::CaptureHooks;
pub use scope::{Scope, VarKind};
pub use snippet::Snippet;

use crate::model::Code;
use crate::RewriteError;

/// The code object being instrumented, with the tables its operands index.
#[derive(Clone, Debug)]
pub struct Target {
    pub code: Code,
    pub scope: Scope,
    pub names: Vec<String>,
    /// Length of `co_consts`, including constants the bindings appended for
    /// snippets and hooks.
    pub n_consts: usize,
}

/// Where a line probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Site {
    /// Right after the first `RESUME`.
    Entry,
    /// Wherever a 'line' event for one of these lines would fire.
    Lines(Vec<i32>),
}

/// One probe.
#[derive(Clone, Debug)]
pub enum Probe {
    Line { site: Site, snippet: Box<Snippet> },
    Capture(CaptureHooks),
}

/// Result summary, for tests and `show`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Number of places a line probe was copied to.
    pub sites: usize,
    /// Plain locals appended to `co_varnames` by snippets.
    pub new_locals: Vec<String>,
}

/// Apply `probes` to `target`; where they share a site, they run in the
/// order given.
pub fn instrument(target: &mut Target, probes: &[Probe]) -> Result<Report, RewriteError> {
    let mut report = Report::default();
    // Each probe is spliced in front of what is at its site, earlier probes'
    // code included: applied last to first, probes that share a site run in
    // the order given, which is the order they were enabled (two breakpoints
    // on one line: the one enabled first runs first, as NoPdb's trace
    // function calls them).
    for p in probes.iter().rev() {
        match p {
            Probe::Line { site, snippet } => line::apply(target, site, snippet, &mut report)?,
            Probe::Capture(h) => capture::apply(target, *h)?,
        }
    }
    target.code.counts.consts = target.n_consts;
    target.code.counts.names = target.names.len();
    target.code.counts.localsplus = target.scope.localsplus().len();
    Ok(report)
}
