//! Shared helpers for integration tests that need real CPython code objects:
//! find the interpreters, run the dumper, parse its output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use splice_rewrite::disasm::Operands;
use splice_rewrite::model::OperandCounts;
use splice_rewrite::{PyVersion, RawCode};

/// A CPython 3.`minor` interpreter: `$SPLICE_PYTHON_3<minor>`, then
/// `python3.<minor>` on PATH, then pyenv's newest 3.<minor>.*.
pub fn find_python(minor: u32) -> Option<PathBuf> {
    let ok = |p: &Path| {
        Command::new(p)
            .args([
                "-c",
                &format!("import sys; sys.exit(sys.version_info[:2] != (3, {minor}))"),
            ])
            // a pyenv shim for a version that is installed but not selected
            // prints a page of advice on stderr before failing
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if let Ok(p) = std::env::var(format!("SPLICE_PYTHON_3{minor}")) {
        let p = PathBuf::from(p);
        if ok(&p) {
            return Some(p);
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(format!("python3.{minor}"));
            if p.exists() && ok(&p) {
                return Some(p);
            }
        }
    }
    let root = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".pyenv")
        });
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("3.{minor}.")))
        })
        .map(|p| p.join("bin/python"))
        .filter(|p| ok(p))
        .collect();
    found.sort();
    found.pop()
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
            "const" => ops.consts.push(value.to_string()),
            "name" => ops.names.push(value.to_string()),
            "local" => ops.localsplus.push(value.to_string()),
            "end" => {
                let (name, mut raw, ops) = cur.take().expect("case");
                raw.counts = OperandCounts {
                    consts: ops.consts.len(),
                    names: ops.names.len(),
                    localsplus: ops.localsplus.len(),
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
