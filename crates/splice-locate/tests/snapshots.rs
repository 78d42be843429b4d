//! Snapshots of locate results for `tests/fixtures/fixture.py`, one readable
//! table per question, stored in the top-level `snapshots/locate/`.

use splice_locate::{CodeKind, CodeObject, LineSpec, LocateError, Located, Scope, SourceIndex};

const FIXTURE: &str = include_str!("fixtures/fixture.py");

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "../../../snapshots/locate",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn index() -> SourceIndex {
    match SourceIndex::new(FIXTURE) {
        Ok(ix) => ix,
        Err(e) => panic!("fixture does not parse: {e}"),
    }
}

fn show(result: &Result<Vec<Located>, LocateError>) -> String {
    match result {
        Ok(v) => v
            .iter()
            .map(|l| format!("{} in {}@{}", l.line, l.owner_name, l.owner_firstlineno))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("ERROR {e}"),
    }
}

fn scope_of(ix: &SourceIndex, name: &str) -> Scope {
    match ix.code_objects(12).into_iter().find(|c| c.name == name) {
        Some(c) => Scope::Function {
            firstlineno: c.firstlineno,
            name: c.name,
        },
        None => panic!("no code object named {name} in the fixture"),
    }
}

/// Every line of a source, located in the whole file, as a table.
fn file_lines(ix: &SourceIndex, minor: u8) -> String {
    let mut out = String::new();
    for line in 1..=ix.line_count() {
        let text: String = ix.line_text(line).chars().take(44).collect();
        let r = ix.locate(&Scope::File, &LineSpec::Number(line), minor);
        out.push_str(&format!("{line:>3} | {text:<44} | {}\n", show(&r)));
    }
    out
}

/// Every line of the fixture, located in the whole file.
#[test]
fn every_line_in_file_scope() {
    snapshot!("file_lines", file_lines(&index(), 12));
}

/// Syntax new in 3.14 (t-strings, `except A, B:`) and 3.15 (`case +0:`,
/// lazy imports): every line of each fixture, located in the whole file.
#[test]
fn newer_syntax_every_line() {
    for (name, source, minor) in [
        (
            "file_lines_314",
            include_str!("fixtures/fixture_314.py"),
            14,
        ),
        (
            "file_lines_315",
            include_str!("fixtures/fixture_315.py"),
            15,
        ),
    ] {
        let ix = match SourceIndex::new(source) {
            Ok(ix) => ix,
            Err(e) => panic!("{name}: the fixture does not parse: {e}"),
        };
        snapshot!(name, file_lines(&ix, minor));
    }
}

/// Every code object (3.11: with comprehensions; 3.12: without), its entry
/// line, and for functions and classes its statement lines ("47 helper@46"
/// marks a statement owned by a nested code object).
#[test]
fn code_objects_and_statement_lines() {
    let ix = index();
    let mut out = String::new();
    for minor in [11u8, 12] {
        out.push_str(&format!("== Python 3.{minor}\n"));
        for code in ix.code_objects(minor) {
            let CodeObject {
                kind,
                firstlineno,
                name,
                first_line: first,
                last_line: last,
            } = code;
            let scope = Scope::Function {
                firstlineno,
                name: name.clone(),
            };
            let entry = ix.locate(&scope, &LineSpec::Entry, minor);
            out.push_str(&format!(
                "{name}@{firstlineno} ({kind:?}, lines {first}-{last}): entry {}\n",
                show(&entry)
            ));
            if minor == 12 && matches!(kind, CodeKind::Function | CodeKind::Class) {
                let lines = match ix.statement_lines(&scope, minor) {
                    Ok(v) => v
                        .iter()
                        .map(|l| {
                            if (l.owner_firstlineno, l.owner_name.as_str())
                                == (firstlineno, name.as_str())
                            {
                                l.line.to_string()
                            } else {
                                format!("{} {}@{}", l.line, l.owner_name, l.owner_firstlineno)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    Err(e) => format!("ERROR {e}"),
                };
                out.push_str(&format!("    statements: {lines}\n"));
            }
        }
    }
    snapshot!("code_objects", out);
}

/// Line specs by number and by text in function scopes, errors included.
#[test]
fn specs_in_function_scopes() {
    let ix = index();
    let cases: &[(&str, LineSpec)] = &[
        ("plain", LineSpec::Number(10)),
        ("plain", LineSpec::Number(11)),
        ("plain", LineSpec::Number(12)),
        ("plain", LineSpec::Number(13)),
        ("plain", LineSpec::Number(15)),
        ("plain", LineSpec::Number(30)),
        ("plain", LineSpec::Number(500)),
        ("plain", LineSpec::Text("total += 1".into())),
        ("plain", LineSpec::Text("  total = a + b  ".into())),
        ("plain", LineSpec::Text("total += 2".into())),
        (
            "plain",
            LineSpec::Text("# a comment inside a function".into()),
        ),
        (
            "plain",
            LineSpec::Text("\"\"\"Docstring of plain.\"\"\"".into()),
        ),
        ("plain", LineSpec::Text("".into())),
        ("plain", LineSpec::Text("a\nb".into())),
        ("plain", LineSpec::Entry),
        ("cached", LineSpec::Entry),
        ("decorated", LineSpec::Number(25)),
        ("decorated", LineSpec::Number(26)),
        ("decorated", LineSpec::Number(29)),
        ("decorated", LineSpec::Number(30)),
        ("forward", LineSpec::Number(46)),
        ("forward", LineSpec::Number(47)),
        ("forward", LineSpec::Number(48)),
        ("forward", LineSpec::Number(53)),
        ("forward", LineSpec::Number(56)),
        ("forward", LineSpec::Number(57)),
        ("forward", LineSpec::Text("z = y + 1".into())),
        ("forward", LineSpec::Text("attn = attn * self.scal".into())),
        ("forward", LineSpec::Text("attn,".into())),
        (
            "forward",
            LineSpec::Text("attn = helper(x)  # with a comment".into()),
        ),
        ("forward", LineSpec::Text("attn = helper(x)".into())),
        ("helper", LineSpec::Number(47)),
        ("helper", LineSpec::Number(50)),
        ("Attention", LineSpec::Number(34)),
        ("Attention", LineSpec::Number(36)),
        ("Attention", LineSpec::Number(38)),
        ("Attention", LineSpec::Number(39)),
        ("Attention", LineSpec::Number(41)),
        ("Attention", LineSpec::Number(42)),
        ("Attention", LineSpec::Text("self.dim = dim".into())),
        ("comprehensions", LineSpec::Number(64)),
        ("comprehensions", LineSpec::Number(70)),
        ("multiline_strings", LineSpec::Number(77)),
        ("multiline_strings", LineSpec::Number(79)),
        ("multiline_strings", LineSpec::Number(80)),
        ("control", LineSpec::Number(86)),
        ("control", LineSpec::Number(87)),
        ("control", LineSpec::Number(89)),
        ("control", LineSpec::Number(93)),
        ("control", LineSpec::Number(97)),
        ("control", LineSpec::Number(100)),
        ("control", LineSpec::Number(102)),
        ("control", LineSpec::Text("flag = True".into())),
        (
            "control",
            LineSpec::Text("if command == 1: flag = True".into()),
        ),
        ("errors", LineSpec::Number(112)),
        ("errors", LineSpec::Number(114)),
        ("errors", LineSpec::Number(115)),
        ("errors", LineSpec::Number(119)),
        ("errors", LineSpec::Number(121)),
        ("errors", LineSpec::Number(124)),
        ("errors", LineSpec::Number(126)),
        ("errors", LineSpec::Number(128)),
        ("fetch", LineSpec::Number(132)),
        ("fetch", LineSpec::Text("await item".into())),
        ("tiny", LineSpec::Number(138)),
        ("<lambda>", LineSpec::Number(56)),
        ("<lambda>", LineSpec::Entry),
        ("<module>", LineSpec::Number(138)),
        ("<module>", LineSpec::Number(139)),
        ("<module>", LineSpec::Number(47)),
        ("<module>", LineSpec::Text("x = 1; y = 2".into())),
        ("<module>", LineSpec::Entry),
    ];
    let mut out = String::new();
    for (name, spec) in cases {
        let scope = scope_of(&ix, name);
        let r = ix.locate(&scope, spec, 12);
        out.push_str(&format!("{name} {spec:?}\n    {}\n", show(&r)));
    }
    snapshot!("function_specs", out);
}

/// Line texts in the whole file, including one that appears in two functions.
#[test]
fn texts_in_file_scope() {
    let ix = index();
    let texts = [
        "total += 1",
        "return x",
        "flag = flag",
        "value = None",
        "kind = op",
        "message = f\"hello {name[\"key\"] if isinstance(name, dict) else name!r}\"",
        "nested = f\"{f'{name}'}\"",
        "attn = attn.softmx(dim=-1)",
        "@staticmethod",
        "else:",
        "0,",
    ];
    let mut out = String::new();
    for text in texts {
        let r = ix.locate(&Scope::File, &LineSpec::Text(text.to_string()), 12);
        out.push_str(&format!("{text:?}\n    {}\n", show(&r)));
    }
    snapshot!("file_texts", out);
}

/// Version-dependent scopes: comprehensions are code objects on 3.11 only.
#[test]
fn comprehension_scopes_by_version() {
    let ix = index();
    let scope = Scope::Function {
        firstlineno: 62,
        name: "<listcomp>".to_string(),
    };
    let mut out = String::new();
    for minor in [11u8, 12, 13] {
        let r = ix.locate(&scope, &LineSpec::Entry, minor);
        out.push_str(&format!("3.{minor} entry: {}\n", show(&r)));
        let r = ix.locate(&scope, &LineSpec::Number(62), minor);
        out.push_str(&format!("3.{minor} line 62: {}\n", show(&r)));
    }
    snapshot!("comprehension_versions", out);
}
