//! Unit tests of the public API: line tables, scopes, specs, messages, and
//! the running-code check.

use splice_locate::{
    locate, statement_lines, LineSpec, LocateError, Located, Nearest, Quoted, Scope, SourceIndex,
};

fn index(src: &str) -> SourceIndex {
    match SourceIndex::new(src) {
        Ok(ix) => ix,
        Err(e) => panic!("does not parse: {e}"),
    }
}

fn func(firstlineno: u32, name: &str) -> Scope {
    Scope::Function {
        firstlineno,
        name: name.to_string(),
    }
}

fn at(line: u32, owner_firstlineno: u32, owner_name: &str) -> Located {
    Located {
        line,
        owner_firstlineno,
        owner_name: owner_name.to_string(),
    }
}

fn err(r: Result<Vec<Located>, LocateError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

const MODEL: &str = "\
class Attention:
    def forward(self, x):
        attn = x * 2
        # scale it

        attn = attn.softmax(
            dim=-1,
        )

        def helper(y):
            return y + 1

        return helper(attn)
";

/// The five messages the issue asks for, exactly as a user reads them.
#[test]
fn messages_users_see() {
    let ix = index(MODEL);
    let forward = func(2, "forward");
    let n = |line| ix.locate(&forward, &LineSpec::Number(line), 12);
    assert_eq!(
        err(n(5)),
        "line 5 has no code (it is blank); the nearest statements start on lines 3 and 6"
    );
    assert_eq!(
        err(n(4)),
        "line 4 is a comment; the nearest statements start on lines 3 and 6"
    );
    assert_eq!(
        err(n(7)),
        "line 7 is inside the statement that starts on line 6 ('attn = attn.softmax('); \
         a probe can go on line 6"
    );
    assert_eq!(
        err(ix.locate(&forward, &LineSpec::Text("attn = attn.softmx(".into()), 12)),
        "no line in forward() has the text 'attn = attn.softmx('; closest: \
         line 6 'attn = attn.softmax(', line 3 'attn = x * 2', line 13 'return helper(attn)'"
    );
    assert_eq!(
        err(n(11)),
        "line 11 belongs to function 'helper' (lines 10-11), not to function 'forward' (lines 2-13)"
    );
}

#[test]
fn numbers_texts_and_entry() {
    let ix = index(MODEL);
    let forward = func(2, "forward");
    assert_eq!(
        ix.locate(&forward, &LineSpec::Number(6), 12),
        Ok(vec![at(6, 2, "forward")])
    );
    assert_eq!(
        ix.locate(
            &forward,
            &LineSpec::Text("  return helper(attn) ".into()),
            12
        ),
        Ok(vec![at(13, 2, "forward")])
    );
    assert_eq!(
        ix.locate(&forward, &LineSpec::Entry, 12),
        Ok(vec![at(2, 2, "forward")])
    );
    assert_eq!(
        ix.locate(&Scope::File, &LineSpec::Number(11), 12),
        Ok(vec![at(11, 10, "helper")])
    );
    assert_eq!(
        err(ix.locate(&Scope::File, &LineSpec::Entry, 12)),
        "line=None (stop when a function is entered) needs a function; \
         name one, or give a line number or the line's text"
    );
    assert_eq!(
        err(ix.locate(&forward, &LineSpec::Number(0), 12)),
        "line 0 does not exist; lines are numbered from 1"
    );
}

#[test]
fn convenience_functions_parse_each_time() {
    assert_eq!(
        locate(MODEL, &func(10, "helper"), &LineSpec::Number(11), 11),
        Ok(vec![at(11, 10, "helper")])
    );
    assert_eq!(
        statement_lines(MODEL, &func(10, "helper"), 11),
        Ok(vec![at(11, 10, "helper")])
    );
}

#[test]
fn a_text_on_several_statements_returns_all() {
    let src = "def f(x):\n    x += 1\n    if x:\n        x += 1\n    return x\n";
    assert_eq!(
        locate(src, &func(1, "f"), &LineSpec::Text("x += 1".into()), 12),
        Ok(vec![at(2, 1, "f"), at(4, 1, "f")])
    );
}

#[test]
fn trailing_comment_may_be_left_out() {
    let src = "def f(x):\n    x += 1  # bump\n    return x\n";
    assert_eq!(
        locate(src, &func(1, "f"), &LineSpec::Text("x += 1".into()), 12),
        Ok(vec![at(2, 1, "f")])
    );
    assert_eq!(
        locate(
            src,
            &func(1, "f"),
            &LineSpec::Text("x += 1  # bump".into()),
            12
        ),
        Ok(vec![at(2, 1, "f")])
    );
}

#[test]
fn line_breaks_of_every_kind_count() {
    for src in [
        "x = 1\r\ny = 2\r\n",
        "x = 1\ry = 2\r",
        "x = 1\ny = 2",
        "\u{feff}x = 1\ny = 2\n",
    ] {
        let ix = index(src);
        assert_eq!(ix.line_count(), 2, "{src:?}");
        assert_eq!(ix.line_text(2), "y = 2", "{src:?}");
        assert_eq!(
            ix.locate(&Scope::File, &LineSpec::Number(2), 12),
            Ok(vec![at(2, 1, "<module>")]),
            "{src:?}"
        );
    }
}

#[test]
fn empty_and_unicode_sources() {
    let empty = index("");
    assert_eq!(empty.line_count(), 0);
    assert_eq!(
        err(empty.locate(&Scope::File, &LineSpec::Number(1), 12)),
        "line 1 is past the end of the source, which has 0 lines"
    );
    let src = "def größe(ä):\n    \"\"\"Größe — ünïcode.\"\"\"\n    return ä  # ✓\n";
    let ix = index(src);
    assert_eq!(
        ix.locate(&func(1, "größe"), &LineSpec::Text("return ä".into()), 12),
        Ok(vec![at(3, 1, "größe")])
    );
    assert_eq!(
        err(ix.locate(&func(1, "größe"), &LineSpec::Number(2), 12)),
        "line 2 is part of the docstring of function 'größe' (lines 1-3), not a statement; \
         the nearest statement starts on line 3"
    );
}

#[test]
fn parse_errors_name_the_line() {
    let e = SourceIndex::new("x = 1\ndef f(:\n    pass\n").err();
    match e {
        Some(LocateError::Parse { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// CPython 3.15 accepts `case +0:`, which the pinned parser flags but
/// recovers from; a real syntax error next to it is still an error.
#[test]
fn unary_plus_patterns_parse_and_real_errors_still_fail() {
    let ok = "match x:\n    case +0:\n        y = 1\n";
    let ix = SourceIndex::new(ok).expect("3.15 syntax parses");
    assert_eq!(
        ix.locate(&Scope::File, &LineSpec::Number(3), 15)
            .expect("statement")
            .len(),
        1
    );
    let bad = "match x:\n    case +0:\n        y = (\n";
    assert!(matches!(
        SourceIndex::new(bad).err(),
        Some(LocateError::Parse { .. })
    ));
}

#[test]
fn decorated_and_nested_code_objects_are_found_by_co_firstlineno() {
    let src = "\
@(
    deco
)
@other
def f(
    a=lambda: 1,
):
    return sum(
        i for i in a
    )
";
    let ix = index(src);
    // co_firstlineno of a decorated function: its first decorator's expression.
    assert_eq!(
        ix.locate(&func(2, "f"), &LineSpec::Number(8), 12),
        Ok(vec![at(8, 2, "f")])
    );
    // A generator expression that is a call's sole argument starts at the '('.
    assert_eq!(
        ix.locate(&func(8, "<genexpr>"), &LineSpec::Entry, 12),
        Ok(vec![at(8, 8, "<genexpr>")])
    );
    assert_eq!(
        ix.locate(&func(6, "<lambda>"), &LineSpec::Entry, 12),
        Ok(vec![at(6, 6, "<lambda>")])
    );
    assert_eq!(
        ix.locate(&Scope::File, &LineSpec::Number(5), 12),
        Ok(vec![at(5, 1, "<module>")])
    );
    assert!(ix.locate(&func(1, "f"), &LineSpec::Entry, 12).is_err());
}

#[test]
fn running_code_must_fit_the_source() {
    let original = "def f(x):\n    y = x + 1\n    return y\n";
    let ix = index(original);
    // Lines CPython reports for f: 1 (RESUME), 2, 3.
    assert_eq!(ix.check_code_lines(&func(1, "f"), &[1, 2, 3], 12), Ok(()));
    assert_eq!(ix.check_code_lines(&Scope::File, &[0, 1], 12), Ok(()));

    // A line was added above the function after it was imported.
    let moved = SourceIndex::new(&format!("import os\n{original}")).ok();
    let e = moved.map(|m| m.check_code_lines(&func(1, "f"), &[1, 2, 3], 12));
    match e {
        Some(Err(e)) => {
            assert!(e.is_source_mismatch());
            assert_eq!(
                e.to_string(),
                "no function or class named 'f' starts on line 1 of this source \
                 (line 1 reads 'import os'; 'f' starts on line 2)"
            );
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }

    // A blank line was added inside it.
    let edited = index("def f(x):\n\n    y = x + 1\n    return y\n");
    let e = edited.check_code_lines(&func(1, "f"), &[1, 2, 3], 12);
    assert_eq!(
        e.as_ref().map_err(|e| e.to_string()),
        Err("the running code of function 'f' has code on line 2, \
             but in this source line 2 is blank"
            .to_string())
    );
    assert!(e.is_err_and(|e| e.is_source_mismatch()));

    // Its body moved into a nested function.
    let nested = index("def f(x):\n    def g():\n        y = x + 1\n        return y\n");
    assert_eq!(
        nested
            .check_code_lines(&func(1, "f"), &[1, 3], 12)
            .map_err(|e| e.to_string()),
        Err("the running code of function 'f' has code on line 3, \
             but in this source line 3 belongs to function 'g' (lines 2-4)"
            .to_string())
    );
}

#[test]
fn nearest_and_quoted_render_as_sentences() {
    let both = Nearest {
        before: Some(3),
        after: Some(9),
    };
    let after = Nearest {
        before: None,
        after: Some(9),
    };
    let none = Nearest {
        before: None,
        after: None,
    };
    assert_eq!(
        both.to_string(),
        "the nearest statements start on lines 3 and 9"
    );
    assert_eq!(after.to_string(), "the nearest statement starts on line 9");
    assert_eq!(none.to_string(), "there are no statements here");
    assert_eq!(Quoted::new("it's").to_string(), "\"it's\"");
    assert_eq!(Quoted::new("a\tb\n").to_string(), "'a\\tb\\n'");
    let long = "x".repeat(100);
    assert_eq!(Quoted::new(&long).to_string().len(), 62);
}

#[test]
fn comprehension_code_objects_depend_on_the_version() {
    let src = "def f(a):\n    return [i for i in a]\n";
    let ix = index(src);
    let listcomp = func(2, "<listcomp>");
    assert_eq!(
        ix.locate(&listcomp, &LineSpec::Entry, 11),
        Ok(vec![at(2, 2, "<listcomp>")])
    );
    let e = ix.locate(&listcomp, &LineSpec::Entry, 12);
    assert!(e.is_err_and(|e| e
        .to_string()
        .contains("inlined into their function (PEP 709)")));
}

#[test]
fn clause_and_header_lines() {
    let src = "\
def f(a,
      b):
    try:
        pass
    except (ValueError,
            TypeError):
        pass
";
    let ix = index(src);
    let f = func(1, "f");
    assert_eq!(
        err(ix.locate(&f, &LineSpec::Number(2), 12)),
        "line 2 is the header of function 'f' (lines 1-7), not a statement in it; its first \
         statement starts on line 3 (use line=None to stop when it is entered)"
    );
    assert_eq!(
        err(ix.locate(&f, &LineSpec::Number(6), 12)),
        "line 6 continues the 'except' clause on line 5 of the 'try' statement that starts on \
         line 3, not a statement; the nearest statements start on lines 4 and 7"
    );
}

/// A function whose body is only a docstring: the header's message points
/// at no line (the docstring's line is refused too), only at entry.
#[test]
fn the_header_of_a_docstring_only_function_suggests_entry() {
    let src = "def hook(self):\n    \"\"\"Only a docstring.\n\n    More.\n    \"\"\"\n";
    let ix = index(src);
    let f = func(1, "hook");
    assert_eq!(
        err(ix.locate(&f, &LineSpec::Number(1), 12)),
        "line 1 is the header of function 'hook' (lines 1-5), not a statement in it; it has \
         no statements besides its docstring (use line=None to stop when it is entered)"
    );
}

/// A blank line between two methods is outside both, and is said to be
/// blank (not to belong to the module, as the class statement around it
/// made it look).
#[test]
fn a_blank_line_between_methods_is_said_to_be_blank() {
    let src =
        "class Net:\n    def a(self):\n        return 1\n\n    def b(self):\n        return 2\n";
    let ix = index(src);
    let b = func(5, "b");
    assert_eq!(
        err(ix.locate(&b, &LineSpec::Number(4), 12)),
        "line 4 is outside function 'b' (lines 5-6); it is blank"
    );
    assert_eq!(
        err(ix.locate(&b, &LineSpec::Number(3), 12)),
        "line 3 is outside function 'b' (lines 5-6); it belongs to function 'a' (lines 2-3)"
    );
}

#[test]
fn own_text_keeps_the_holder_and_the_headers_around_it() {
    let src = "\
import os

@decorate(
    1)
class A(
    Base,
):
    x = 1

    def f(self):
        def inner():
            return os.sep
        return inner

    g = lambda self: 2

def h():
    return [i for i in (lambda: 3)()]
top = lambda: 4
";
    let ix = index(src);
    let lines = |text: Option<String>| -> Vec<String> {
        match text {
            Some(t) => t.split('\n').map(str::to_string).collect(),
            None => panic!("no own text"),
        }
    };
    // A method: the class header (decorators to ':') and the whole def.
    let f = lines(ix.own_text(&func(10, "f"), 12));
    assert_eq!(f.len(), 14, "ends after line 13, then an empty last piece");
    assert_eq!(
        &f[2..7],
        ["@decorate(", "    1)", "class A(", "    Base,", "):"]
    );
    assert_eq!(f[7], "", "class body lines outside the def are dropped");
    assert_eq!(f[9], "    def f(self):");
    assert_eq!(f[12], "        return inner");
    assert!(f[..2].iter().all(String::is_empty));
    // A function nested in it: the same lines (its holder is itself, and
    // both headers around it are kept; f is kept as inner's header only).
    let inner = lines(ix.own_text(&func(11, "inner"), 12));
    assert_eq!(inner[9], "    def f(self):");
    assert_eq!(inner[11], "            return os.sep");
    assert_eq!(inner[12], "", "f's body after inner is not needed");
    // A lambda in a class body: held by the class, kept whole.
    let g = lines(ix.own_text(&func(15, "<lambda>"), 12));
    assert_eq!(g[7], "    x = 1");
    assert_eq!(g[14], "    g = lambda self: 2");
    // A comprehension (a code object on 3.11) and a lambda inside a function.
    let comp = lines(ix.own_text(&func(18, "<listcomp>"), 11));
    assert_eq!(
        comp[16..18],
        ["def h():", "    return [i for i in (lambda: 3)()]"]
    );
    assert!(comp[..16].iter().all(String::is_empty));
    // Held by the module, or not a code object here: no own text.
    assert_eq!(ix.own_text(&func(19, "<lambda>"), 12), None);
    assert_eq!(
        ix.own_text(&func(18, "<listcomp>"), 12),
        None,
        "inlined on 3.12"
    );
    assert_eq!(ix.own_text(&func(3, "nothing"), 12), None);
    assert_eq!(ix.own_text(&Scope::File, 12), None);
}
