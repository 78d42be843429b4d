//! Bindings for splice-pyc: the code objects of a `.pyc`, found and
//! compared without unmarshalling it (locate.py's source check).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use splice_pyc::{MarshalError, Marshalled};

fn to_py_err(e: MarshalError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// The code objects in one marshalled module, `data[start:]` (a `.pyc`
/// after its 16-byte header), read once; raises ValueError for data this
/// reader does not know (the caller then unmarshals with CPython).
#[pyclass(frozen, module = "splice._native")]
pub struct PycIndex {
    module: Marshalled,
}

#[pymethods]
impl PycIndex {
    #[new]
    #[pyo3(signature = (data, start = 0))]
    fn new(py: Python<'_>, data: &[u8], start: usize) -> PyResult<Self> {
        let data = data
            .get(start..)
            .ok_or_else(|| {
                PyValueError::new_err(format!("start {start} is past the end of the data"))
            })?
            .to_vec();
        let module = py
            .detach(move || Marshalled::read(data))
            .map_err(to_py_err)?;
        Ok(PycIndex { module })
    }

    /// How many code objects the module holds, itself included.
    #[getter]
    fn code_count(&self) -> usize {
        self.module.codes().len()
    }

    /// Whether the module holds a code object equal to `dump`, a code
    /// object as `marshal.dumps` writes it: the same first line, name and
    /// qualified name, and the same object (splice-pyc's crate docs say
    /// what is compared). ValueError when `dump` is not a code object.
    fn holds(&self, py: Python<'_>, dump: &[u8]) -> PyResult<bool> {
        let dump = dump.to_vec();
        py.detach(|| {
            let code = Marshalled::read(dump)?;
            let root = code.root_code().ok_or(MarshalError::NotCode)?;
            let (name, qualname) = (
                code.bytes(root.name.clone()),
                code.bytes(root.qualname.clone()),
            );
            for candidate in self.module.find(root.first_line, name, qualname) {
                if self.module.same(candidate.at, &code, root.at)? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .map_err(to_py_err)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PycIndex>()
}
