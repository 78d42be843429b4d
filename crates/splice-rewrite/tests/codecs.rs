//! The `co_linetable` and `co_exceptiontable` codecs against real CPython.
//!
//! `tools/dump_tables.py` runs under every CPython 3.11 / 3.12 / 3.13 found
//! (`SPLICE_PYTHON_311` / `_312` / `_313`, else `/root/.pyenv/versions/3.1X.*`,
//! else `python3.1X` on PATH) and dumps thousands of code objects: stdlib
//! modules compiled from source plus synthetic programs with odd positions.
//! For every code object this test checks
//! - `linetable::decode` equals `list(co_positions())`, unit by unit;
//! - every code unit of an instruction has the instruction's location;
//! - `linetable::encode(version, co_firstlineno, [(location of the
//!   instruction's first unit, size)])` equals `co_linetable` byte for byte,
//!   with one documented exception on 3.12+ ("ambiguous merges", counted and
//!   listed, see `is_ambiguous_merge`);
//! - `linetable::entries` re-encodes (3.11 policy, no merging) to
//!   `co_linetable` byte for byte, on every version;
//! - `exceptiontable::parse` equals `dis._parse_exception_table(code)` and
//!   `encode(parse(t)) == t`.
//!
//! The committed fixtures under `tests/fixtures/codecs/` (small dumps made by
//! the same script, one per version) are checked too, so the test proves
//! something even where no interpreter is installed. Set
//! `SPLICE_REQUIRE_PYTHONS=1` to fail when an interpreter is missing, and
//! `SPLICE_CODECS_MODULES=N` (default 80) or `=all` (the whole standard
//! library, its test suite included: slow) to check more code objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use splice_rewrite::exceptiontable::{self, ExceptionTableEntry};
use splice_rewrite::linetable::{self, Location};
use splice_rewrite::PyVersion;

const MINORS: [u32; 3] = [11, 12, 13];
const SHOW_MISMATCHES: usize = 8;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One code object as dumped.
struct Record {
    version: PyVersion,
    label: String,
    firstlineno: i32,
    n_units: usize,
    linetable: Vec<u8>,
    exceptiontable: Vec<u8>,
    positions: Vec<Location>,
    sizes: Vec<u32>,
    dis_entries: Vec<ExceptionTableEntry>,
}

fn hex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex byte"))
        .collect()
}

fn opt(s: &str) -> Option<i32> {
    if s == "_" {
        None
    } else {
        Some(s.parse().expect("position field"))
    }
}

fn parse_dump(text: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((no, line)) = lines.next() {
        let err = |what: &str| format!("dump line {}: {what}", no + 1);
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 7 || f[0] != "C" {
            return Err(err("expected a C record"));
        }
        let minor: u32 = f[1]
            .strip_prefix("3.")
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| err("bad version"))?;
        let version = PyVersion::from_minor(minor).ok_or_else(|| err("unsupported version"))?;
        let mut body = |tag: &str| -> Result<String, String> {
            let (no, l) = lines.next().ok_or_else(|| err("record cut short"))?;
            l.strip_prefix(tag)
                .map(|s| s.trim().to_string())
                .ok_or_else(|| format!("dump line {}: expected {tag:?}", no + 1))
        };
        let p = body("P")?;
        let i = body("I")?;
        let x = body("X")?;
        let mut positions = Vec::new();
        for item in p.split_whitespace() {
            let (count, tuple) = match item.split_once('*') {
                Some((c, t)) => (c.parse::<usize>().map_err(|_| err("count"))?, t),
                None => (1, item),
            };
            let v: Vec<&str> = tuple.split(',').collect();
            if v.len() != 4 {
                return Err(err("position tuple"));
            }
            let loc = Location {
                line: opt(v[0]),
                end_line: opt(v[1]),
                col: opt(v[2]),
                end_col: opt(v[3]),
            };
            positions.extend(std::iter::repeat_n(loc, count));
        }
        let sizes = i
            .split_whitespace()
            .map(|s| s.parse().map_err(|_| err("size")))
            .collect::<Result<Vec<u32>, _>>()?;
        let mut dis_entries = Vec::new();
        for item in x.split_whitespace() {
            let v: Vec<u32> = item
                .split(',')
                .map(|s| s.parse().map_err(|_| err("exception entry")))
                .collect::<Result<_, _>>()?;
            if v.len() != 5 {
                return Err(err("exception entry arity"));
            }
            dis_entries.push(ExceptionTableEntry {
                start: v[0],
                end: v[1],
                target: v[2],
                depth: v[3],
                lasti: v[4] != 0,
            });
        }
        out.push(Record {
            version,
            label: f[2].to_string(),
            firstlineno: f[3].parse().map_err(|_| err("firstlineno"))?,
            n_units: f[4].parse().map_err(|_| err("n_units"))?,
            linetable: hex(f[5]),
            exceptiontable: hex(f[6]),
            positions,
            sizes,
            dis_entries,
        });
    }
    Ok(out)
}

fn show_loc(l: &Location) -> String {
    let f = |v: Option<i32>| v.map_or("None".to_string(), |v| v.to_string());
    format!(
        "({}, {}, {}, {})",
        f(l.line),
        f(l.end_line),
        f(l.col),
        f(l.end_col)
    )
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// 3.12+ only: CPython split a run that decodes to one location (an entry
/// shorter than 8 units followed by an equal one), because the compiler's
/// locations differed in a way the table cannot express (see the
/// `linetable` module documentation). It is accepted only if our bytes are
/// exactly CPython's entries merged canonically.
fn is_ambiguous_merge(r: &Record, own: &[(Location, u32)], encoded: &[u8]) -> bool {
    r.version != PyVersion::V311
        && own.windows(2).any(|w| w[0].0 == w[1].0 && w[0].1 < 8)
        && linetable::encode(r.version, r.firstlineno, own) == encoded
        && linetable::decode(encoded, r.firstlineno, r.n_units)
            .ok()
            .as_deref()
            == Some(&r.positions[..])
}

/// Check one record; the descriptions of what disagreed. Sets `ambiguous`
/// when the line table differs only by an unexpressible merge.
fn check(r: &Record, ambiguous: &mut bool) -> Vec<String> {
    let mut bad = Vec::new();
    let who = format!("{} {}", r.version, r.label);

    // Dump sanity: co_positions and the instruction sizes cover co_code.
    if r.positions.len() != r.n_units {
        bad.push(format!(
            "{who}: co_positions has {} items for {} code units",
            r.positions.len(),
            r.n_units
        ));
    }
    let total: u32 = r.sizes.iter().sum();
    if total as usize != r.n_units {
        bad.push(format!(
            "{who}: instruction sizes sum to {total}, co_code has {} units",
            r.n_units
        ));
    }

    // Line table: decode.
    match linetable::decode(&r.linetable, r.firstlineno, r.n_units) {
        Err(e) => bad.push(format!("{who}: decode failed: {e}")),
        Ok(decoded) => {
            if let Some(u) =
                (0..r.n_units.min(r.positions.len())).find(|&u| decoded[u] != r.positions[u])
            {
                bad.push(format!(
                    "{who}: decode differs at unit {u}: got {}, co_positions {}",
                    show_loc(&decoded[u]),
                    show_loc(&r.positions[u])
                ));
            }
        }
    }

    // Line table: encode per instruction.
    let mut instrs = Vec::with_capacity(r.sizes.len());
    let mut unit = 0usize;
    for &size in &r.sizes {
        let Some(&first) = r.positions.get(unit) else {
            break;
        };
        if let Some(k) = (unit..unit + size as usize).find(|&k| r.positions.get(k) != Some(&first))
        {
            bad.push(format!(
                "{who}: instruction at unit {unit} (size {size}) has unit {k} at {} but starts at {}",
                r.positions.get(k).map_or("-".into(), show_loc),
                show_loc(&first)
            ));
        }
        instrs.push((first, size));
        unit += size as usize;
    }
    let encoded = linetable::encode(r.version, r.firstlineno, &instrs);
    // The table's own entries re-encode to the same bytes (every version:
    // the 3.11 policy writes each given run as is).
    let own_entries = linetable::entries(&r.linetable, r.firstlineno).unwrap_or_default();
    let entries_again = linetable::encode(PyVersion::V311, r.firstlineno, &own_entries);
    if entries_again != r.linetable {
        bad.push(format!(
            "{who}: the table's own entries re-encode as {} instead of {}",
            hexs(&entries_again),
            hexs(&r.linetable)
        ));
    }
    if encoded != r.linetable && is_ambiguous_merge(r, &own_entries, &encoded) {
        *ambiguous = true;
    } else if encoded != r.linetable {
        let at = encoded
            .iter()
            .zip(&r.linetable)
            .position(|(a, b)| a != b)
            .unwrap_or(encoded.len().min(r.linetable.len()));
        let lo = at.saturating_sub(6);
        bad.push(format!(
            "{who}: encode differs from co_linetable at byte {at} (lengths {} vs {}): \
             ...{} vs ...{}",
            encoded.len(),
            r.linetable.len(),
            hexs(&encoded[lo..(at + 10).min(encoded.len())]),
            hexs(&r.linetable[lo..(at + 10).min(r.linetable.len())])
        ));
    }

    // Exception table.
    match exceptiontable::parse(&r.exceptiontable) {
        Err(e) => bad.push(format!("{who}: exception table parse failed: {e}")),
        Ok(entries) => {
            if entries != r.dis_entries {
                bad.push(format!(
                    "{who}: exception table parse {entries:?} != dis {:?}",
                    r.dis_entries
                ));
            }
            let again = exceptiontable::encode(&entries);
            if again != r.exceptiontable {
                bad.push(format!(
                    "{who}: exception table re-encodes as {} instead of {}",
                    hexs(&again),
                    hexs(&r.exceptiontable)
                ));
            }
        }
    }
    bad
}

/// Interpreter for 3.`minor`, or the places that were looked at.
fn find_python(minor: u32) -> Result<PathBuf, String> {
    let var = format!("SPLICE_PYTHON_3{minor}");
    if let Ok(p) = std::env::var(&var) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("${var}={} does not exist", p.display()))
        };
    }
    let root = Path::new("/root/.pyenv/versions");
    let prefix = format!("3.{minor}.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path().join("bin/python"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    if let Some(p) = found.pop() {
        return Ok(p);
    }
    let on_path = format!("python3.{minor}");
    if Command::new(&on_path)
        .arg("-c")
        .arg("")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(PathBuf::from(on_path));
    }
    Err(format!(
        "no ${var}, no {}/{prefix}*/bin/python, no {on_path} on PATH",
        root.display()
    ))
}

fn run_dump(python: &Path) -> Result<String, String> {
    let script = manifest_dir().join("tools/dump_tables.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script);
    if let Ok(n) = std::env::var("SPLICE_CODECS_MODULES") {
        cmd.arg("--modules").arg(n);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            python.display(),
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

#[derive(Default)]
struct Tally {
    code_objects: usize,
    code_units: usize,
    linetable_bytes: usize,
    exception_entries: usize,
    mismatches: Vec<String>,
    ambiguous: Vec<String>,
}

fn check_all(records: &[Record], tally: &mut Tally) {
    for r in records {
        tally.code_objects += 1;
        tally.code_units += r.n_units;
        tally.linetable_bytes += r.linetable.len();
        tally.exception_entries += r.dis_entries.len();
        let mut ambiguous = false;
        tally.mismatches.extend(check(r, &mut ambiguous));
        if ambiguous {
            tally.ambiguous.push(r.label.clone());
        }
    }
}

fn report(name: &str, t: &Tally, failures: &mut Vec<String>) {
    println!(
        "{name}: {} code objects, {} code units, {} linetable bytes, {} exception entries, \
         {} mismatches, {} ambiguous merges",
        t.code_objects,
        t.code_units,
        t.linetable_bytes,
        t.exception_entries,
        t.mismatches.len(),
        t.ambiguous.len()
    );
    if !t.ambiguous.is_empty() {
        println!(
            "    ambiguous merges (CPython split equal decoded locations; our merge has the \
             same co_positions): {}",
            t.ambiguous.join(" ")
        );
    }
    for m in t.mismatches.iter().take(SHOW_MISMATCHES) {
        println!("    {m}");
        failures.push(m.clone());
    }
    if t.mismatches.len() > SHOW_MISMATCHES {
        failures.push(format!(
            "{name}: ... and {} more",
            t.mismatches.len() - SHOW_MISMATCHES
        ));
    }
}

#[test]
fn codecs_agree_with_cpython() {
    let mut failures = Vec::new();

    // Live interpreters, in parallel.
    let handles: Vec<_> = MINORS
        .iter()
        .map(|&minor| {
            std::thread::spawn(move || {
                let python = find_python(minor)?;
                let text = run_dump(&python)?;
                let records = parse_dump(&text)?;
                if let Some(r) = records.iter().find(|r| r.version.minor() != minor) {
                    return Err(format!(
                        "{} reported version {}",
                        python.display(),
                        r.version
                    ));
                }
                let mut tally = Tally::default();
                check_all(&records, &mut tally);
                Ok((python, tally))
            })
        })
        .collect();
    let mut checked = Vec::new();
    let mut missing = Vec::new();
    for (minor, h) in MINORS.iter().zip(handles) {
        match h.join().expect("dump thread panicked") {
            Ok((python, tally)) => {
                report(
                    &format!("3.{minor} ({})", python.display()),
                    &tally,
                    &mut failures,
                );
                checked.push(format!("3.{minor}"));
            }
            Err(e) if e.starts_with("no $") || e.contains("does not exist") => {
                println!("3.{minor}: not checked live: {e}");
                missing.push(format!("3.{minor}: {e}"));
            }
            Err(e) => failures.push(format!("3.{minor}: {e}")),
        }
    }
    println!("live versions checked: {checked:?}; not found: {missing:?}");

    // Committed fixtures.
    let dir = manifest_dir().join("tests/fixtures/codecs");
    let mut fixtures: BTreeMap<String, Tally> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("fixture directory") {
        let path = entry.expect("fixture entry").path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("fixture text");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match parse_dump(&text) {
            Ok(records) => check_all(&records, fixtures.entry(name).or_default()),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    if fixtures.is_empty() {
        failures.push(format!("no fixtures in {}", dir.display()));
    }
    for (name, t) in &fixtures {
        report(&format!("fixture {name}"), t, &mut failures);
    }

    if std::env::var_os("SPLICE_REQUIRE_PYTHONS").is_some() && !missing.is_empty() {
        failures.push(format!("SPLICE_REQUIRE_PYTHONS is set, but {missing:?}"));
    }
    assert!(
        failures.is_empty(),
        "codec mismatches against CPython:\n  {}",
        failures.join("\n  ")
    );
}
