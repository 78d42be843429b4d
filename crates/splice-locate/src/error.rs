//! Errors: every message says what the line is and what would work instead.

use std::fmt;

use thiserror::Error;

/// Why a line spec names no place a probe can go, or why the source does not
/// match the running code.
///
/// The `Display` text is the message a user sees (the Python layer raises it
/// as `splice.LocateError`, or `splice.SourceMismatchError` when
/// [`LocateError::is_source_mismatch`] is true). Fields hold the same facts
/// for programs; descriptions of code objects (`scope`, `owner`, `of`) are
/// already rendered, e.g. `function 'forward' (lines 20-60)`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LocateError {
    /// CPython-incompatible or unparsable source text.
    #[error("cannot parse the source: line {line}: {message}")]
    Parse { line: u32, message: String },

    /// A line number below 1.
    #[error("line {line} does not exist; lines are numbered from 1")]
    BadLineNumber { line: i64 },

    /// A line number past the last line.
    #[error("line {line} is past the end of the source, which has {count} lines")]
    PastEnd { line: u32, count: u32 },

    /// A whitespace-only line.
    #[error("line {line} has no code (it is blank); {nearest}")]
    Blank { line: u32, nearest: Nearest },

    /// A line holding only a comment.
    #[error("line {line} is a comment; {nearest}")]
    Comment { line: u32, nearest: Nearest },

    /// A continuation line of a multi-line statement (or of a compound
    /// statement's header).
    #[error(
        "line {line} is inside the statement that starts on line {start} ({text}); \
         a probe can go on line {start}"
    )]
    Inside { line: u32, start: u32, text: Quoted },

    /// A decorator line of a `def` or `class`.
    #[error(
        "line {line} is a decorator of {of}, not a statement; \
         the {keyword} statement it decorates starts on line {def_line}"
    )]
    Decorator {
        line: u32,
        of: String,
        keyword: &'static str,
        def_line: u32,
    },

    /// A line of a docstring.
    #[error("line {line} is part of the docstring of {of}, not a statement; {nearest}")]
    Docstring {
        line: u32,
        of: String,
        nearest: Nearest,
    },

    /// An `else:`, `except ...:`, `finally:` or `case ...:` clause line.
    #[error("{}", clause_message(*.line, .keyword, *.clause_line, .statement, *.start, .nearest))]
    Clause {
        line: u32,
        keyword: &'static str,
        clause_line: u32,
        statement: &'static str,
        start: u32,
        nearest: Nearest,
    },

    /// The `def`/`class` header (or a decorator) of the scope itself;
    /// `body_line` is its first statement, `None` when its body is only a
    /// docstring.
    #[error("{}", header_message(*.line, .of, *.body_line))]
    Header {
        line: u32,
        of: String,
        body_line: Option<u32>,
    },

    /// A statement owned by another code object nested in the scope.
    #[error("line {line} belongs to {owner}, not to {scope}")]
    OtherCode {
        line: u32,
        owner: String,
        scope: String,
    },

    /// A line outside the scope's lines; `owner` says what it is instead
    /// ("is blank", "belongs to class 'Net' (lines 1-6)").
    #[error("line {line} is outside {scope}{}", in_owner(.owner))]
    Outside {
        line: u32,
        scope: String,
        owner: Option<String>,
    },

    /// A lambda, comprehension or generator expression has no statements.
    #[error(
        "{scope} holds an expression, not statements, so only line=None \
         (stop when it is entered) works for it"
    )]
    NoStatements { scope: String },

    /// `line=None` without a function.
    #[error(
        "line=None (stop when a function is entered) needs a function; \
         name one, or give a line number or the line's text"
    )]
    EntryNeedsFunction,

    /// A text spec that is empty after stripping.
    #[error("the line text is empty; give the text of a statement's first line")]
    EmptyText,

    /// A text spec with a line break in it.
    #[error("the line text {text} spans {count} lines; give only the first line of a statement")]
    MultilineText { text: Quoted, count: usize },

    /// No statement's first line has the text.
    #[error("no line in {scope} has the text {text}{}", closest_suffix(.closest))]
    TextNotFound {
        text: Quoted,
        scope: String,
        /// Up to three (line, stripped text) pairs, closest first.
        closest: Vec<(u32, String)>,
    },

    /// The text is on a line where no statement of the scope starts.
    #[error("the text {text} starts no statement in {scope}: line {line} has it, but {reason}")]
    TextNotStatement {
        text: Quoted,
        scope: String,
        line: u32,
        reason: Box<LocateError>,
    },

    /// No code object with this first line and name is defined by the source:
    /// the source does not match the running code.
    #[error("no {kind} named '{name}' starts on line {firstlineno} of this source ({found})")]
    ScopeNotFound {
        kind: &'static str,
        name: String,
        firstlineno: u32,
        found: String,
    },

    /// The running code object has code on a line where the source has none
    /// of it: the source does not match the running code.
    #[error("the running code of {scope} has code on line {line}, but in this source line {line} {what}")]
    CodeLineMismatch {
        line: u32,
        scope: String,
        what: String,
    },

    /// A bug in splice or its parser (a caught panic); never expected.
    #[error("internal error while parsing the source (please report it): {0}")]
    Internal(String),
}

impl LocateError {
    /// True for the errors that mean "this source is not the source of the
    /// running code" (the file was probably edited after it was imported).
    pub fn is_source_mismatch(&self) -> bool {
        matches!(
            self,
            LocateError::ScopeNotFound { .. } | LocateError::CodeLineMismatch { .. }
        )
    }
}

/// The statement lines nearest to a line that is not one, within the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nearest {
    pub before: Option<u32>,
    pub after: Option<u32>,
}

impl fmt::Display for Nearest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.before, self.after) {
            (Some(b), Some(a)) => write!(f, "the nearest statements start on lines {b} and {a}"),
            (Some(l), None) | (None, Some(l)) => {
                write!(f, "the nearest statement starts on line {l}")
            }
            (None, None) => write!(f, "there are no statements here"),
        }
    }
}

/// Source text quoted for a message: single quotes (double if the text
/// holds a single quote), line breaks and tabs shown as `\n`, `\r` and
/// `\t`, shortened to 60 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted(pub String);

impl Quoted {
    pub fn new(text: &str) -> Self {
        Quoted(text.to_string())
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 60;
        let escaped = self
            .0
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t");
        let text: String = if escaped.chars().count() > MAX {
            let mut s: String = escaped.chars().take(MAX - 3).collect();
            s.push_str("...");
            s
        } else {
            escaped
        };
        if text.contains('\'') && !text.contains('"') {
            write!(f, "\"{text}\"")
        } else {
            write!(f, "'{text}'")
        }
    }
}

fn clause_message(
    line: u32,
    keyword: &str,
    clause_line: u32,
    statement: &str,
    start: u32,
    nearest: &Nearest,
) -> String {
    let article = if keyword.starts_with('e') { "an" } else { "a" };
    if line == clause_line {
        format!(
            "line {line} is {article} '{keyword}' clause of the '{statement}' statement that starts \
             on line {start}, not a statement; {nearest}"
        )
    } else {
        format!(
            "line {line} continues the '{keyword}' clause on line {clause_line} of the \
             '{statement}' statement that starts on line {start}, not a statement; {nearest}"
        )
    }
}

fn in_owner(owner: &Option<String>) -> String {
    match owner {
        Some(o) => format!("; it {o}"),
        None => String::new(),
    }
}

fn closest_suffix(closest: &[(u32, String)]) -> String {
    if closest.is_empty() {
        return "; it has no statements".to_string();
    }
    let parts: Vec<String> = closest
        .iter()
        .map(|(line, text)| format!("line {line} {}", Quoted::new(text)))
        .collect();
    format!("; closest: {}", parts.join(", "))
}

fn header_message(line: u32, of: &str, body_line: Option<u32>) -> String {
    match body_line {
        Some(b) => format!(
            "line {line} is the header of {of}, not a statement in it; its first statement \
             starts on line {b} (use line=None to stop when it is entered)"
        ),
        None => format!(
            "line {line} is the header of {of}, not a statement in it; it has no statements \
             besides its docstring (use line=None to stop when it is entered)"
        ),
    }
}
