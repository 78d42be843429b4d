//! Checks the opcode tables of `splice_rewrite::opcodes` against the real
//! interpreters: `opcode.opmap`, the `has*` lists, `HAVE_ARGUMENT`,
//! `_inline_cache_entries` and `dis.stack_effect` over a range of arguments
//! and all three `jump` values, for every opcode number 0..=255.
//!
//! Interpreters come from `scripts/find-python` (see `common::find_python`).
//! Versions with no interpreter are reported as not checked; in CI
//! (`CI=true`) or with `SPLICE_REQUIRE_ALL_PYTHONS=1` that is a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use splice_rewrite::opcodes::{self, ArgKind};
use splice_rewrite::PyVersion;

/// Dumps what the test compares, one fact a line:
///   VERSION <major> <minor> <micro>
///   HAVE_ARGUMENT <n>
///   OP <name> <number> <inline cache entries>        (opmap entries < 256)
///   LIST <name> <numbers...>                          (hasconst, ..., hasarg)
///   SE <op> <arg|-> <jump=None> <jump=True> <jump=False>
/// where each stack effect is a number, `E:arg` (CPython refused the
/// argument / its absence), `E:inv` (invalid opcode or oparg) or `E:<type>`.
const HARNESS: &str = r#"
import dis, opcode, sys
out = []
w = out.append
w("VERSION %d %d %d" % sys.version_info[:3])
w("HAVE_ARGUMENT %d" % opcode.HAVE_ARGUMENT)
ice = opcode._inline_cache_entries
for name, num in sorted(opcode.opmap.items(), key=lambda kv: kv[1]):
    if num < 256:
        caches = ice.get(name, 0) if hasattr(ice, "get") else ice[num]
        w("OP %s %d %d" % (name, num, caches))
cc = getattr(opcode, "_common_constants", None)
w("COMMON_NONE %s" % (cc.index(None) if cc is not None and None in cc else "-"))
for c in cc or ():
    w("COMMON_CONSTANT %s" % (getattr(c, "__name__", None) or repr(c)))
for lst in ("hasconst", "hasname", "haslocal", "hasfree", "hasjrel", "hasjabs",
            "hascompare", "hasarg"):
    if hasattr(opcode, lst):
        w("LIST %s %s" % (lst, " ".join(str(o) for o in getattr(opcode, lst))))
ARGS = [None] + list(range(0, 301)) + [
    511, 512, 1000, 4095, 4096, 65535, 65536, 1 << 20, 1 << 24,
    (1 << 31) - 1, 1 << 31, (1 << 31) + 1, (1 << 32) - 2, (1 << 32) - 1]
def eff(op, arg, jump):
    try:
        return str(dis.stack_effect(op, arg, jump=jump))
    except ValueError as e:
        msg = str(e)
        return "E:arg" if ("requires oparg" in msg or "not permit oparg" in msg) else "E:inv"
    except Exception as e:
        return "E:" + type(e).__name__
for op in range(256):
    for arg in ARGS:
        w("SE %d %s %s %s %s" % (op, "-" if arg is None else arg,
                                 eff(op, arg, None), eff(op, arg, True), eff(op, arg, False)))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// What the harness printed.
#[derive(Default)]
struct Dump {
    version: (u32, u32, u32),
    have_argument: u32,
    /// The index of `None` in `opcode._common_constants` (3.15+).
    common_none: Option<u32>,
    /// `opcode._common_constants` as text (3.14+).
    common: Vec<String>,
    /// number -> (name, caches)
    ops: BTreeMap<u8, (String, u8)>,
    lists: BTreeMap<String, BTreeSet<u32>>,
    /// (op, arg or None) -> results for jump None, True, False
    effects: Vec<(u8, Option<u32>, [String; 3])>,
}

fn parse(text: &str) -> Dump {
    let mut d = Dump::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first().copied() {
            Some("VERSION") => {
                d.version = (
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                )
            }
            Some("HAVE_ARGUMENT") => d.have_argument = f[1].parse().unwrap(),
            Some("COMMON_NONE") => d.common_none = f[1].parse().ok(),
            Some("COMMON_CONSTANT") => d.common.push(f[1..].join(" ")),
            Some("OP") => {
                d.ops.insert(
                    f[2].parse().unwrap(),
                    (f[1].to_string(), f[3].parse().unwrap()),
                );
            }
            Some("LIST") => {
                let set = f[2..].iter().map(|n| n.parse().unwrap()).collect();
                d.lists.insert(f[1].to_string(), set);
            }
            Some("SE") => {
                let arg = if f[2] == "-" {
                    None
                } else {
                    Some(f[2].parse().unwrap())
                };
                d.effects.push((
                    f[1].parse().unwrap(),
                    arg,
                    [f[3].to_string(), f[4].to_string(), f[5].to_string()],
                ));
            }
            Some(other) => panic!("unexpected harness line {other:?}"),
            None => {}
        }
    }
    d
}

/// The operand kind the `opcode` module implies, by the rules the tables
/// document (see `tools/gen_opcodes.py`).
fn expected_kind(d: &Dump, minor: u32, op: u8, name: &str) -> Result<ArgKind, String> {
    let has = |l: &str| d.lists.get(l).is_some_and(|s| s.contains(&u32::from(op)));
    let has_arg = if d.lists.contains_key("hasarg") {
        has("hasarg")
    } else {
        u32::from(op) >= d.have_argument
    };
    if !has_arg {
        return Ok(ArgKind::None);
    }
    let mut kinds = Vec::new();
    if has("hasconst") {
        kinds.push(ArgKind::Const);
    }
    if has("hasname") {
        let shift = match name {
            "LOAD_GLOBAL" => 1,
            "LOAD_ATTR" if minor >= 12 => 1,
            "LOAD_SUPER_ATTR" | "INSTRUMENTED_LOAD_SUPER_ATTR" if minor >= 12 => 2,
            "IMPORT_NAME" if minor >= 15 => 2,
            _ => 0,
        };
        kinds.push(ArgKind::Name { shift });
    }
    if has("haslocal") && name == "LOAD_DEREF" {
        // 3.14+ lists LOAD_DEREF in haslocal; it still reads a cell.
        kinds.push(ArgKind::Free);
    } else if has("haslocal") {
        let pair = matches!(
            name,
            "LOAD_FAST_LOAD_FAST"
                | "STORE_FAST_STORE_FAST"
                | "STORE_FAST_LOAD_FAST"
                | "LOAD_FAST_BORROW_LOAD_FAST_BORROW"
        );
        kinds.push(if pair {
            ArgKind::LocalPair
        } else {
            ArgKind::Local
        });
    }
    if has("hasfree") {
        kinds.push(ArgKind::Free);
    }
    if has("hasjrel") {
        let backward = if minor == 11 {
            name.starts_with("POP_JUMP_BACKWARD_IF_") || name.starts_with("JUMP_BACKWARD")
        } else if minor <= 13 {
            matches!(name, "JUMP_BACKWARD" | "JUMP_BACKWARD_NO_INTERRUPT")
        } else {
            matches!(
                name,
                "JUMP_BACKWARD"
                    | "JUMP_BACKWARD_NO_INTERRUPT"
                    | "END_ASYNC_FOR"
                    | "INSTRUMENTED_END_ASYNC_FOR"
            )
        };
        kinds.push(if backward {
            ArgKind::JumpBackward
        } else {
            ArgKind::JumpForward
        });
    }
    if has("hasjabs") {
        return Err(format!("{name} is an absolute jump"));
    }
    if has("hascompare") {
        kinds.push(ArgKind::Compare);
    }
    match kinds.len() {
        0 => Ok(ArgKind::Plain),
        1 => Ok(kinds[0]),
        _ => Err(format!("{name} is in several has* lists: {kinds:?}")),
    }
}

fn parse_effect(s: &str) -> Option<i32> {
    s.parse().ok()
}

/// Compare one version; returns the mismatches.
fn check(version: PyVersion, d: &Dump) -> Vec<String> {
    let minor = version.minor();
    let t = opcodes::table(version);
    let mut bad = Vec::new();

    if (d.version.0, d.version.1) != (3, minor) {
        bad.push(format!(
            "interpreter is {:?}, expected 3.{minor}",
            d.version
        ));
        return bad;
    }
    if u32::from(t.have_argument()) != d.have_argument {
        bad.push(format!(
            "HAVE_ARGUMENT: rust {} python {}",
            t.have_argument(),
            d.have_argument
        ));
    }

    if t.known.common_constant_none != d.common_none {
        bad.push(format!(
            "index of None in LOAD_COMMON_CONSTANT's table: rust {:?} python {:?}",
            t.known.common_constant_none, d.common_none
        ));
    }
    if t.common_constants() != d.common.as_slice() {
        bad.push(format!(
            "LOAD_COMMON_CONSTANT's table: rust {:?} python {:?}",
            t.common_constants(),
            d.common
        ));
    }
    for (name, code) in t.known.named() {
        let py = d.ops.iter().find(|(_, (n, _))| n == name).map(|(&c, _)| c);
        if code != py {
            bad.push(format!("Known {name}: rust {code:?} python {py:?}"));
        }
    }

    // Opcodes, numbers, names, caches, kinds.
    for (&num, (name, caches)) in &d.ops {
        match t.info(num) {
            None => bad.push(format!("{name} ({num}) missing from the table")),
            Some(info) => {
                if info.name != name {
                    bad.push(format!("opcode {num}: rust {} python {name}", info.name));
                }
                if info.caches != *caches {
                    bad.push(format!(
                        "{name} caches: rust {} python {caches}",
                        info.caches
                    ));
                }
                match expected_kind(d, minor, num, name) {
                    Ok(k) if k != info.arg => {
                        bad.push(format!("{name} arg kind: rust {:?} python {k:?}", info.arg))
                    }
                    Ok(_) => {}
                    Err(e) => bad.push(e),
                }
            }
        }
        if t.by_name(name) != Some(num) {
            bad.push(format!(
                "by_name({name}): rust {:?} python {num}",
                t.by_name(name)
            ));
        }
    }
    for (list, ops) in &d.lists {
        // Pseudo-ops (>= 256) are not real bytecode; report stale entries.
        let stale: Vec<_> = ops
            .iter()
            .filter(|&&o| o < 256 && !d.ops.contains_key(&(o as u8)))
            .collect();
        if !stale.is_empty() {
            eprintln!("  3.{minor}: note: opcode.{list} has {stale:?}, not in opmap (ignored)");
        }
    }
    for info in t.ops() {
        if !d.ops.contains_key(&info.code) {
            bad.push(format!(
                "{} ({}) is not in opcode.opmap",
                info.name, info.code
            ));
        }
    }

    // Stack effects, grouped per (op, jump) so one wrong formula is one entry.
    let jumps = [None, Some(true), Some(false)];
    let mut per_op: BTreeMap<(u8, usize), (usize, String)> = BTreeMap::new();
    let mut compared = 0usize;
    for (op, arg, results) in &d.effects {
        let (op, known) = (*op, t.info(*op));
        for (j, (jump, py)) in jumps.iter().zip(results).enumerate() {
            if py == "E:arg" {
                // CPython refused the argument (or its absence): the calling
                // convention, not the effect. It must agree with has_arg.
                if let Some(info) = known {
                    let wants_arg = arg.is_none();
                    if version < PyVersion::V313 && (info.arg != ArgKind::None) != wants_arg {
                        bad.push(format!(
                            "{} arg {arg:?}: python refused the operand, rust kind {:?}",
                            info.name, info.arg
                        ));
                    }
                }
                continue;
            }
            let expected = parse_effect(py);
            if expected.is_none() && py != "E:inv" {
                bad.push(format!("op {op} arg {arg:?}: python raised {py}"));
                continue;
            }
            let got = t.stack_effect(op, arg.unwrap_or(0), *jump);
            compared += 1;
            if got != expected {
                let e = per_op.entry((op, j)).or_insert((0, String::new()));
                if e.0 == 0 {
                    e.1 = format!("arg {arg:?}: rust {got:?} python {py}");
                }
                e.0 += 1;
            }
        }
    }
    for ((op, j), (n, first)) in per_op {
        let name = t.name(op).map_or_else(|| format!("<{op}>"), str::to_string);
        bad.push(format!(
            "stack_effect {name} jump={:?}: {n} mismatches, first {first}",
            jumps[j]
        ));
    }
    eprintln!(
        "  3.{minor}: {} opcodes, {compared} stack effects compared",
        d.ops.len()
    );
    bad
}

#[test]
fn opcode_tables_match_cpython() {
    let mut checked = Vec::new();
    let mut missing = Vec::new();
    let mut failures = Vec::new();
    for version in PyVersion::ALL {
        let minor = version.minor();
        let Some(python) = common::find_python(minor) else {
            missing.push(format!("3.{minor}"));
            continue;
        };
        let out = Command::new(&python)
            .arg("-I")
            .arg("-c")
            .arg(HARNESS)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
        assert!(
            out.status.success(),
            "{} failed: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = parse(&String::from_utf8(out.stdout).expect("utf-8 output"));
        let (a, b, c) = dump.version;
        eprintln!(
            "checking 3.{minor} against {} (Python {a}.{b}.{c})",
            python.display()
        );
        let bad = check(version, &dump);
        eprintln!("  3.{minor}: {} mismatches", bad.len());
        for m in &bad {
            eprintln!("    3.{minor}: {m}");
        }
        checked.push(format!("{a}.{b}.{c}"));
        failures.extend(bad.into_iter().map(|m| format!("3.{minor}: {m}")));
    }
    eprintln!("checked: {checked:?}; no interpreter found for: {missing:?}");
    if common::require_all_versions() {
        assert!(missing.is_empty(), "no interpreter for {missing:?}");
    }
    assert!(
        !checked.is_empty(),
        "no interpreter found: nothing was checked"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
