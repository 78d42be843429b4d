//! Whether a snippet's text stands alone: an expression (`eval`, `cond`) or
//! statements (`exec`) that parse by themselves.
//!
//! splice compiles a snippet given as text by pasting its lines into the
//! text of a template function (`python/splice/template.py`): an
//! expression between `(` and `)`, statements in the template's body. Text
//! that does not parse alone could parse there joined with the template's
//! own lines: an `eval` of `1), (2` closed the call early and passed two
//! arguments, one of `# x` became an empty tuple, and one of
//! `0)); a = 1; ((0` ran a statement. Only text that parses alone takes
//! that path; any other is parsed as an AST by CPython, which raises the
//! error in the snippet's own words.
//!
//! Leniency is safe in one direction only: text refused here takes the
//! slower AST path, which decides; text accepted here must be whole.

/// Whether `text` parses by itself as one expression.
pub fn is_expression(text: &str) -> bool {
    ruff_python_parser::parse_expression(text).is_ok()
}

/// Whether `text` parses by itself as a sequence of statements.
pub fn is_statements(text: &str) -> bool {
    ruff_python_parser::parse_module(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_expressions_stand_alone() {
        for text in [
            "x",
            "a.b[c](d, *e)",
            "(1, 2)",
            "f'{x!r}'",
            "[i for i in y]",
            "lambda: 1",
            "x  # a trailing comment (",
        ] {
            assert!(is_expression(text), "{text}");
        }
    }

    #[test]
    fn text_that_would_join_the_template_does_not() {
        for text in [
            "1), (2",
            "# a comment",
            "0)); a = 'x'; ((0",
            "(",
            "x)",
            "",
            "a = 1",
        ] {
            assert!(!is_expression(text), "{text:?}");
        }
    }

    #[test]
    fn statements_stand_alone_or_not() {
        assert!(is_statements("a = 1\nb = a  # note\n"));
        assert!(is_statements("for i in x:\n    y += i\n"));
        for text in ["y = (1,", "2)", "a = [\n", "x = '''", "if x:"] {
            assert!(!is_statements(text), "{text:?}");
        }
    }
}
