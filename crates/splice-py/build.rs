//! Exposes pyo3's `Py_3_12`/`Py_3_13` cfgs to this crate: the capture hooks
//! use frame APIs that only exist on some versions (`PyFrame_GetVar` 3.12+,
//! `PyEval_GetFrameLocals` 3.13+).
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
