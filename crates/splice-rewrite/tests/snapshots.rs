//! Disassembly snapshots, before and after padding, of real CPython code
//! objects for each interpreter found (`fixtures/snapshot_cases.py`).
//! Snapshots live in the top-level `snapshots/pad/` directory.

mod common;

use splice_rewrite::verify::{assemble_verified, verify};
use splice_rewrite::{assemble, decode, disasm, pad};

#[test]
fn padding_snapshots() {
    let mut checked = Vec::new();
    let mut missing = Vec::new();
    for minor in [11, 12, 13, 14, 15] {
        let Some(python) = common::find_python(minor) else {
            eprintln!("snapshots: CPython 3.{minor} not found, its snapshots were NOT checked");
            missing.push(format!("3.{minor}"));
            continue;
        };
        for d in common::dump(&python, "snapshot_cases.py") {
            let model = decode(&d.raw).expect("decode");
            // The untouched model must assemble back to the same bytes.
            let same = assemble(&model).expect("assemble");
            assert_eq!(same, d.raw, "3.{minor} {}: round trip differs", d.name);
            verify(&same)
                .unwrap_or_else(|e| panic!("3.{minor} {}: verify original: {e:?}", d.name));

            let before = disasm::disassemble(&model, &d.operands, None).expect("disasm");
            let mut padded = model.clone();
            let n = pad::pad_line_starts(&mut padded).expect("pad");
            let raw = assemble_verified(&padded).expect("assemble padded");
            let after = disasm::disassemble(&decode(&raw).expect("re-decode"), &d.operands, None)
                .expect("disasm");
            let ext = splice_rewrite::opcodes::table(d.raw.version)
                .by_name("EXTENDED_ARG")
                .expect("EXTENDED_ARG");
            let count_ext = |code: &[u8]| code.chunks(2).filter(|u| u[0] == ext).count();
            let text = format!(
                "# {} on CPython 3.{minor}: {n} NOPs inserted, stack size {} -> {}, \
                 {} -> {} code units, EXTENDED_ARG prefixes {} -> {}\n\n\
                 --- before ---\n{before}\n--- after padding ---\n{after}",
                d.name,
                d.raw.stacksize,
                raw.stacksize,
                d.raw.code.len() / 2,
                raw.code.len() / 2,
                count_ext(&d.raw.code),
                count_ext(&raw.code),
            );
            insta::with_settings!({
                snapshot_path => "../../../snapshots/pad",
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(format!("3.{minor}__{}", d.name), text);
            });
        }
        checked.push(format!("3.{minor}"));
    }
    eprintln!("snapshots: checked CPython {}", checked.join(", "));
    assert!(!checked.is_empty(), "no CPython interpreter found");
    if common::require_all_versions() {
        assert!(missing.is_empty(), "not checked: {missing:?}");
    }
}
