//! Shared helpers for integration tests that need real CPython code objects:
//! find the interpreters, run the dumper, parse its output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use splice_rewrite::disasm::Operands;
use splice_rewrite::model::{LocalCounts, OperandCounts};
use splice_rewrite::{PyVersion, RawCode};

/// A CPython 3.`minor` interpreter, from the project's one discovery
/// helper, `scripts/find-python` (an explicit `SPLICE_PYTHON_3X`, PATH,
/// pyenv, the get-cpython cache).
pub fn find_python(minor: u32) -> Option<PathBuf> {
    let finder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/find-python");
    let out = Command::new(finder)
        .arg(minor.to_string())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    let path = path.trim();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// True when every supported version must be checked: in CI (`CI=true`)
/// or with `SPLICE_REQUIRE_ALL_PYTHONS=1`. Elsewhere a missing interpreter
/// is reported as not checked, never counted as a pass.
pub fn require_all_versions() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SPLICE_REQUIRE_ALL_PYTHONS").is_ok_and(|v| v == "1")
}

/// One dumped code object.
pub struct Dumped {
    pub name: String,
    pub raw: RawCode,
    pub operands: Operands,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Run `fixtures/dump_code.py` on `fixture` with `python` and parse it.
pub fn dump(python: &Path, fixture: &str) -> Vec<Dumped> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = Command::new(python)
        .arg(dir.join("dump_code.py"))
        .arg(dir.join(fixture))
        .output()
        .expect("run dumper");
    assert!(
        out.status.success(),
        "dumper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut result = Vec::new();
    let mut cur: Option<(String, RawCode, Operands)> = None;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        if key == "case" {
            cur = Some((
                value.to_string(),
                RawCode {
                    version: PyVersion::V311,
                    code: vec![],
                    exceptiontable: vec![],
                    linetable: vec![],
                    firstlineno: 0,
                    stacksize: 0,
                    counts: OperandCounts::default(),
                },
                Operands::default(),
            ));
            continue;
        }
        let (_, raw, ops) = cur.as_mut().expect("case first");
        match key {
            "version" => {
                let minor: u32 = value.trim_start_matches("3.").parse().expect("minor");
                raw.version = PyVersion::from_minor(minor).expect("supported");
            }
            "code" => raw.code = unhex(value),
            "exc" => raw.exceptiontable = unhex(value),
            "lines" => raw.linetable = unhex(value),
            "first" => raw.firstlineno = value.parse().expect("int"),
            "stack" => raw.stacksize = value.parse().expect("int"),
            "locals" => {
                let (p, v) = value.split_once(' ').expect("params varnames");
                raw.counts.locals = Some(LocalCounts {
                    params: p.parse().expect("int"),
                    varnames: v.parse().expect("int"),
                });
            }
            "const" => ops.consts.push(value.to_string()),
            "name" => ops.names.push(value.to_string()),
            "local" => ops.localsplus.push(value.to_string()),
            "end" => {
                let (name, mut raw, ops) = cur.take().expect("case");
                raw.counts = OperandCounts {
                    consts: ops.consts.len(),
                    names: ops.names.len(),
                    localsplus: ops.localsplus.len(),
                    locals: raw.counts.locals,
                };
                result.push(Dumped {
                    name,
                    raw,
                    operands: ops,
                });
            }
            _ => panic!("unexpected dump line {line:?}"),
        }
    }
    result
}
