//! `splice._native`: the narrow native module behind the `splice` package.
//!
//! What the runtime package uses, and nothing else:
//!
//! - `instrument(code, probes)` with the typed probe specs `LineProbe` and
//!   `CaptureProbe` (`instrument`, `probes`); rewrite errors become the
//!   `splice.errors` exception of their kind (`errors`);
//! - `CallRecord`, the storage and constructor of `splice.CallInfo`, with
//!   a recorded call's arguments and stack until first read (`record`), and
//!   the call-capture hooks `Recorder`, `CaptureHooks` (`capture_hooks`,
//!   reading locals with `frame_locals`);
//! - `LocateIndex` and its exceptions (`locate`);
//! - `disassemble(code)` for `python -m splice show` (`disassemble`);
//! - `event_lines(code)`, the lines where a probe would run (`events`);
//! - `scope_names(code)`, `code_lines(code)`: one pass over a code object
//!   for the template and the source check (`scan`);
//! - `functions_in_heap`, `functions_owning`, `nested_codes`: scans of
//!   `gc.get_objects()` and of `co_consts` for the owner search and the
//!   index of name scopes (`heap`);
//! - `addr(obj)`, `id(obj)` without its audit event, for the registries
//!   keyed by identity (`identity`);
//! - `save_version(f)`, `sync_version(f, saved)`: a function's version
//!   across splice's `__code__` swaps (`func_version`);
//! - `locals_to_fast(frame)`, a debugger's assignments written back into
//!   the frame on 3.11/3.12 (`frame_write`);
//! - `frame_function(frame)`, the function a frame runs (for a name
//!   scope's first call of a function, `frame_function`);
//! - `start_hook_*`: the frame evaluator that sees first calls for lazy
//!   name scopes on 3.11, which has no `sys.monitoring` (`start_hook`);
//! - the constants both sides share: `HOOK_PREFIX`, `CO_*`, `FUTURE_FLAGS`
//!   (`consts`).
//!
//! Tests and tools (doctor, torture, snapshots) use the `testing` submodule
//! (`testing`). All user-facing API lives in plain Python.

use pyo3::prelude::*;

mod call_stack;
mod capture_hooks;
mod code;
mod consts;
mod disassemble;
mod errors;
mod eval_sink;
mod events;
mod frame311;
mod frame_function;
mod frame_locals;
mod frame_write;
mod func_version;
mod heap;
mod identity;
mod instrument;
mod lazy;
mod locate;
mod probes;
mod pyc;
mod record;
mod retrying;
mod scan;
mod start_hook;
mod testing;
mod thread_exit;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    consts::register(m)?;
    probes::register(m)?;
    instrument::register(m)?;
    disassemble::register(m)?;
    events::register(m)?;
    eval_sink::register(m)?;
    scan::register(m)?;
    record::register(m)?;
    capture_hooks::register(m)?;
    locate::register(m)?;
    pyc::register(m)?;
    testing::register(m)?;
    func_version::register(m)?;
    func_version::register_testing(m)?;
    heap::register(m)?;
    identity::register(m)?;
    frame_function::register(m)?;
    frame_write::register(m)?;
    start_hook::register(m)?;
    retrying::register(m)?;
    // The parser's first use on this (usually the main) thread reads
    // /proc/self/maps: pay it at import, not in the first probe.
    splice_locate::prepare_thread();
    // pyo3's own interned names (`PyOnceLock`s, not fork-safe: see `lazy`)
    // that splice reaches: a type's name, qualified name and module (also
    // in every failed conversion's message). Made now, at import, so that
    // no later first use can leave one half made in a forked child.
    let ty = m.py().get_type::<pyo3::types::PyModule>();
    ty.name()?;
    ty.qualname()?;
    ty.module()?;
    Ok(())
}
