//! Disassembly snapshots, before and after instrumentation, of breakpoint
//! and capture probes on real functions (`tests/snapshot_cases/` at the
//! workspace root). The probes are applied through the built extension
//! (`splice._native.instrument`), so this runs the interpreters of the
//! per-version virtualenvs that `make test` builds (`.venv-3.X`); a version
//! whose virtualenv is missing is reported as not checked, and in CI
//! (`CI=true`) fails the test.
//! Snapshots live in the top-level `snapshots/instrument/` directory.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn instrumentation_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tests/snapshot_cases/dump_instrumented.py");
    let mut checked = Vec::new();
    let mut missing = Vec::new();
    for minor in [11, 12, 13, 14, 15] {
        let python = root.join(format!(".venv-3.{minor}/bin/python"));
        if !python.exists() {
            eprintln!(
                "instrument snapshots: {} missing, CPython 3.{minor} NOT checked (make test builds it)",
                python.display()
            );
            missing.push(format!("3.{minor}"));
            continue;
        }
        let out = Command::new(&python)
            .arg(&script)
            .output()
            .expect("run dumper");
        assert!(
            out.status.success(),
            "3.{minor}: dumper failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf8");
        let mut n = 0;
        for block in text.split("\nend\n") {
            let block = block.trim_start_matches("end\n").trim();
            let Some(rest) = block.strip_prefix("case ") else {
                continue;
            };
            let (name, body) = rest.split_once('\n').expect("case body");
            insta::with_settings!({
                snapshot_path => "../../../snapshots/instrument",
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("3.{minor}__{name}"), body);
            });
            n += 1;
        }
        assert!(n >= 20, "3.{minor}: expected at least 20 cases, got {n}");
        checked.push(format!("3.{minor}"));
    }
    eprintln!(
        "instrument snapshots: checked CPython {}",
        checked.join(", ")
    );
    assert!(
        !checked.is_empty(),
        "no virtualenv found: nothing was checked"
    );
    if common::require_all_versions() {
        assert!(missing.is_empty(), "not checked: {missing:?}");
    }
}
