//! Building the index of one source text: its lines, its statements (with the
//! code object that owns each) and the code objects it defines.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, ExceptHandler, Expr, PySourceType, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::error::LocateError;

/// What kind of code object a [`SourceIndex`] entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    Module,
    Function,
    Class,
    Lambda,
    /// List, set or dict comprehension: a code object on 3.11 only.
    Comprehension,
    GenExpr,
}

/// A code object the source defines.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub kind: CodeKind,
    /// `co_name`.
    pub name: String,
    /// `co_firstlineno`: the first decorator's line for a decorated def/class.
    pub firstlineno: u32,
    /// First line of its text (decorators included) and last line.
    pub first_line: u32,
    pub last_line: u32,
    /// Last line of the `def`/`class` header (the line of its `:`).
    pub header_end: u32,
    /// Its whole text (decorators included; the call's parentheses for a
    /// generator expression that is a call's sole argument).
    pub range: TextRange,
    /// The part of `range` whose code runs in this code object: the body of a
    /// def/class (decorators, defaults and annotations run in the parent).
    pub body: TextRange,
    /// Python minor version from which this code object is inlined into its
    /// parent (list/set/dict comprehensions: 12, PEP 709).
    pub inlined_since: Option<u8>,
    /// For a def/class/module: the statements nested in it (pre-order keeps
    /// them contiguous), as indexes into `SourceIndex::stmts`.
    pub stmt_span: std::ops::Range<usize>,
}

impl Code {
    pub fn exists_on(&self, minor: u8) -> bool {
        self.inlined_since.is_none_or(|since| minor < since)
    }

    pub fn holds_statements(&self) -> bool {
        matches!(
            self.kind,
            CodeKind::Module | CodeKind::Function | CodeKind::Class
        )
    }
}

/// A clause of a compound statement that is not itself a statement.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub keyword: &'static str,
    pub line: u32,
    pub header_end: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum StmtKind {
    Simple,
    Compound {
        keyword: &'static str,
        header_end: u32,
        clauses: Vec<Clause>,
    },
    /// The docstring of this code object.
    Docstring {
        of: usize,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct StmtInfo {
    /// The statement's line (`ast` `lineno`).
    pub line: u32,
    /// First line of its text (its decorators for a decorated def/class).
    pub first_line: u32,
    pub end_line: u32,
    /// The code object that runs it.
    pub owner: usize,
    pub kind: StmtKind,
    /// The code object a def/class statement creates.
    pub defines: Option<usize>,
}

impl StmtInfo {
    pub fn is_docstring(&self) -> bool {
        matches!(self.kind, StmtKind::Docstring { .. })
    }
}

/// How a line looks, from its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Some token other than a comment starts on it.
    Code,
    /// It is inside a token that started on an earlier line (a string).
    InToken,
    Comment,
    Blank,
}

/// Byte offsets of line starts. Lines end at `\n`, `\r\n` or `\r`, as in
/// CPython's tokenizer. A text that starts on line `base + 1` of its file
/// (an excerpt) has `base` empty lines before it, all starting at offset 0:
/// line numbers are the file's, as if those lines were in the text.
#[derive(Debug, Clone)]
pub(crate) struct LineTable {
    starts: Vec<u32>,
    len: u32,
    pub count: u32,
}

impl LineTable {
    fn new(src: &str, base: u32) -> Self {
        let bytes = src.as_bytes();
        let mut starts = vec![0u32; base as usize + 1];
        let mut i = 0usize;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i as u32 + 1),
                b'\r' => {
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    starts.push(i as u32 + 1);
                }
                _ => {}
            }
            i += 1;
        }
        let len = bytes.len() as u32;
        let count = if starts.last() == Some(&len) {
            starts.len() - 1
        } else {
            starts.len()
        } as u32;
        LineTable { starts, len, count }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: TextSize) -> u32 {
        self.starts.partition_point(|&s| s <= offset.to_u32()) as u32
    }

    /// Line of the last character of a range.
    pub fn last_line(&self, range: TextRange) -> u32 {
        let end = range.end().to_u32();
        let last = if end > range.start().to_u32() {
            end - 1
        } else {
            end
        };
        self.line_of(TextSize::new(last))
    }

    /// Byte range of a 1-based line, without its line break.
    pub fn span(&self, src: &str, line: u32) -> (usize, usize) {
        let i = (line as usize).saturating_sub(1);
        let start = self.starts.get(i).copied().unwrap_or(self.len) as usize;
        let end = self.starts.get(i + 1).copied().unwrap_or(self.len) as usize;
        let bytes = src.as_bytes();
        let mut e = end.min(bytes.len());
        while e > start && matches!(bytes[e - 1], b'\n' | b'\r') {
            e -= 1;
        }
        (start, e)
    }
}

/// The parsed, indexed form of one source text; build it once per source and
/// ask it many questions.
#[derive(Debug, Clone)]
pub struct SourceIndex {
    pub(crate) source: String,
    pub(crate) lines: LineTable,
    pub(crate) tokens: Vec<Token>,
    /// Index 0 is the module.
    pub(crate) codes: Vec<Code>,
    /// In source pre-order (a statement before the statements nested in it).
    pub(crate) stmts: Vec<StmtInfo>,
    /// Per line (index = line number): statements (not docstrings) starting on it.
    pub(crate) starts: Vec<Vec<usize>>,
    /// Per line: the most deeply nested statement whose lines include it.
    pub(crate) deepest: Vec<Option<usize>>,
    /// Per line: how it looks.
    pub(crate) look: Vec<Look>,
    /// Per line: byte offset of a comment on it.
    pub(crate) comment_at: Vec<Option<u32>>,
    /// Per code object: its own statements (not docstrings), in pre-order.
    pub(crate) own_stmts: Vec<Vec<usize>>,
    /// Per code object: sorted distinct lines of its own statements.
    pub(crate) own_lines: Vec<Vec<u32>>,
    /// Sorted distinct lines of all statements.
    pub(crate) all_lines: Vec<u32>,
    /// (co_firstlineno, co_name) -> code objects.
    pub(crate) by_name: HashMap<(u32, String), Vec<usize>>,
}

/// The last line an excerpt may start on ([`SourceIndex::new_at`]).
pub const MAX_FIRST_LINE: u32 = 1 << 24;

impl SourceIndex {
    /// Parse and index `source`. Fails with [`LocateError::Parse`] when the
    /// source is not valid Python.
    pub fn new(source: &str) -> Result<SourceIndex, LocateError> {
        Self::new_at(source, 1)
    }

    /// Parse and index `source`, a text that starts on line `first_line` of
    /// its file (an excerpt, `crate::block::block_excerpt`): every line
    /// number, asked or answered, is the file's, and the answers are those
    /// of [`SourceIndex::new`] over the text with `first_line - 1` empty
    /// lines before it, which it costs less than parsing.
    pub fn new_at(source: &str, first_line: u32) -> Result<SourceIndex, LocateError> {
        if source.len() >= (u32::MAX / 2) as usize {
            return Err(LocateError::Parse {
                line: 0,
                message: "the source is larger than 2 GiB".to_string(),
            });
        }
        if !(1..=MAX_FIRST_LINE).contains(&first_line) {
            // (the index keeps a few words per line, the empty ones too)
            return Err(LocateError::Parse {
                line: 0,
                message: format!(
                    "a text cannot start on line {first_line} (1 to {MAX_FIRST_LINE})"
                ),
            });
        }
        match panic::catch_unwind(AssertUnwindSafe(|| Self::build(source, first_line - 1))) {
            Ok(result) => result,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_string());
                Err(LocateError::Internal(what))
            }
        }
    }

    /// Number of lines in the source.
    pub fn line_count(&self) -> u32 {
        self.lines.count
    }

    /// The text of a 1-based line (without its line break), or "" past the end.
    pub fn line_text(&self, line: u32) -> &str {
        if line == 0 || line > self.lines.count {
            return "";
        }
        let (s, e) = self.lines.span(&self.source, line);
        self.source.get(s..e).unwrap_or("")
    }

    /// Parse and index `source`. Syntax errors are errors, except those
    /// [`accepted_by_newer_python`].
    fn build(source: &str, base: u32) -> Result<SourceIndex, LocateError> {
        let lines = LineTable::new(source, base);
        let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
        if let Some(e) = parsed
            .errors()
            .iter()
            .find(|e| !accepted_by_newer_python(e))
        {
            return Err(LocateError::Parse {
                line: lines.line_of(e.location.start()),
                message: e.error.to_string(),
            });
        }
        let tokens: Vec<Token> = parsed.tokens().iter().copied().collect();
        let module = parsed.syntax();
        let count = lines.count;
        let whole = TextRange::new(TextSize::new(0), TextSize::new(lines.len));

        let mut b = Builder {
            lines: &lines,
            tokens: &tokens,
            codes: vec![Code {
                kind: CodeKind::Module,
                name: "<module>".to_string(),
                firstlineno: 1,
                first_line: 1,
                last_line: count.max(1),
                header_end: 0,
                range: whole,
                body: whole,
                inlined_since: None,
                stmt_span: 0..0,
            }],
            stmts: Vec::new(),
            owners: vec![0],
            docstrings: HashMap::new(),
            sole_genexp: HashMap::new(),
        };
        b.note_docstring(&module.body, 0);
        b.visit_body(&module.body);
        let Builder {
            mut codes, stmts, ..
        } = b;
        codes[0].stmt_span = 0..stmts.len();
        let mut by_name: HashMap<(u32, String), Vec<usize>> = HashMap::new();
        for (i, c) in codes.iter().enumerate() {
            by_name
                .entry((c.firstlineno, c.name.clone()))
                .or_default()
                .push(i);
        }

        let n = count as usize + 2;
        let mut starts = vec![Vec::new(); n];
        let mut deepest = vec![None; n];
        for (i, s) in stmts.iter().enumerate() {
            if !s.is_docstring() {
                if let Some(v) = starts.get_mut(s.line as usize) {
                    v.push(i);
                }
            }
            for l in s.first_line..=s.end_line {
                if let Some(slot) = deepest.get_mut(l as usize) {
                    *slot = Some(i);
                }
            }
        }

        let mut own_stmts = vec![Vec::new(); codes.len()];
        let mut all_lines = Vec::new();
        for (i, s) in stmts.iter().enumerate() {
            if !s.is_docstring() {
                own_stmts[s.owner].push(i);
                all_lines.push(s.line);
            }
        }
        let own_lines = own_stmts
            .iter()
            .map(|v| {
                let mut lines: Vec<u32> = v.iter().map(|&i| stmts[i].line).collect();
                lines.sort_unstable();
                lines.dedup();
                lines
            })
            .collect();
        all_lines.sort_unstable();
        all_lines.dedup();

        let mut code_start = vec![false; n];
        let mut comment_at = vec![None; n];
        let mut in_token = vec![false; n];
        for t in &tokens {
            match t.kind() {
                TokenKind::Newline
                | TokenKind::NonLogicalNewline
                | TokenKind::Indent
                | TokenKind::Dedent
                | TokenKind::EndOfFile => continue,
                _ => {}
            }
            let l = lines.line_of(t.start()) as usize;
            if l >= n {
                continue;
            }
            if t.kind() == TokenKind::Comment {
                comment_at[l].get_or_insert(t.start().to_u32());
            } else {
                code_start[l] = true;
            }
            let last = lines.last_line(t.range()) as usize;
            for slot in in_token.iter_mut().take(last.min(n - 1) + 1).skip(l + 1) {
                *slot = true;
            }
        }
        let look = (0..n)
            .map(|l| {
                if code_start[l] {
                    Look::Code
                } else if in_token[l] {
                    Look::InToken
                } else if comment_at[l].is_some() {
                    Look::Comment
                } else {
                    Look::Blank
                }
            })
            .collect();

        Ok(SourceIndex {
            source: source.to_string(),
            lines,
            tokens,
            codes,
            stmts,
            starts,
            deepest,
            look,
            comment_at,
            own_stmts,
            own_lines,
            all_lines,
            by_name,
        })
    }
}

fn is_layout(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Newline
            | TokenKind::NonLogicalNewline
            | TokenKind::Comment
            | TokenKind::Indent
            | TokenKind::Dedent
            | TokenKind::EndOfFile
    )
}

pub(crate) fn is_code_token(kind: TokenKind) -> bool {
    !is_layout(kind)
}

struct Builder<'a> {
    lines: &'a LineTable,
    tokens: &'a [Token],
    codes: Vec<Code>,
    stmts: Vec<StmtInfo>,
    /// Stack of def/class/module codes whose body is being visited.
    owners: Vec<usize>,
    /// Start offset of each docstring statement -> the code object it documents.
    docstrings: HashMap<TextSize, usize>,
    /// Start of a generator expression that is a call's sole argument -> start
    /// of the call's parentheses (CPython's position for such a genexpr).
    sole_genexp: HashMap<TextSize, TextSize>,
}

impl Builder<'_> {
    fn owner(&self) -> usize {
        self.owners.last().copied().unwrap_or(0)
    }

    fn line(&self, offset: TextSize) -> u32 {
        self.lines.line_of(offset)
    }

    /// Line of the last code token before `offset` (the `:` ending a header).
    fn header_end(&self, offset: TextSize) -> u32 {
        let idx = self.tokens.partition_point(|t| t.start() < offset);
        self.tokens[..idx]
            .iter()
            .rev()
            .find(|t| is_code_token(t.kind()))
            .map(|t| self.line(t.start()))
            .unwrap_or_else(|| self.line(offset))
    }

    /// Header end for a body (its first statement), or `fallback`.
    fn header_end_of(&self, body: &[Stmt], fallback: u32) -> u32 {
        body.first()
            .map(|s| self.header_end(s.start()))
            .unwrap_or(fallback)
    }

    /// Line of the first code token at or after `offset`.
    fn code_line_after(&self, offset: TextSize) -> Option<u32> {
        let idx = self.tokens.partition_point(|t| t.start() < offset);
        self.tokens[idx..]
            .iter()
            .find(|t| is_code_token(t.kind()))
            .map(|t| self.line(t.start()))
    }

    /// Line of the last `kind` token before `offset` (an `else`/`finally`).
    fn keyword_line_before(&self, offset: TextSize, kind: TokenKind) -> Option<u32> {
        let idx = self.tokens.partition_point(|t| t.start() < offset);
        self.tokens[..idx]
            .iter()
            .rev()
            .find(|t| t.kind() == kind)
            .map(|t| self.line(t.start()))
    }

    fn keyword_clause(
        &self,
        keyword: &'static str,
        kind: TokenKind,
        body: &[Stmt],
    ) -> Option<Clause> {
        let first = body.first()?;
        let line = self.keyword_line_before(first.start(), kind)?;
        Some(Clause {
            keyword,
            line,
            header_end: self.header_end(first.start()),
        })
    }

    fn note_docstring(&mut self, body: &[Stmt], of: usize) {
        if let Some(Stmt::Expr(e)) = body.first() {
            if e.value.is_string_literal_expr() {
                self.docstrings.insert(e.range.start(), of);
            }
        }
    }

    fn note_sole_genexp(&mut self, arguments: &ast::Arguments) {
        if let ([Expr::Generator(g)], true) = (&*arguments.args, arguments.keywords.is_empty()) {
            if !g.parenthesized {
                self.sole_genexp
                    .insert(g.range.start(), arguments.range.start());
            }
        }
    }

    /// A def or class statement: its code object.
    fn def_code(
        &mut self,
        kind: CodeKind,
        name: &str,
        range: TextRange,
        decorators: &[ast::Decorator],
        body: &[Stmt],
    ) -> (usize, u32, u32) {
        let first_line = self.line(range.start());
        let def_line = match decorators.last() {
            Some(d) => self.code_line_after(d.end()).unwrap_or(first_line),
            None => first_line,
        };
        let firstlineno = decorators
            .first()
            .map(|d| self.line(d.expression.start()))
            .unwrap_or(def_line);
        let header_end = self.header_end_of(body, def_line);
        let body_start = body.first().map(|s| s.start()).unwrap_or(range.end());
        let idx = self.codes.len();
        self.codes.push(Code {
            kind,
            name: name.to_string(),
            firstlineno,
            first_line,
            last_line: self.lines.last_line(range),
            header_end,
            range,
            body: TextRange::new(body_start, range.end()),
            inlined_since: None,
            stmt_span: 0..0,
        });
        self.note_docstring(body, idx);
        (idx, def_line, header_end)
    }

    fn expr_code(
        &mut self,
        kind: CodeKind,
        name: &str,
        range: TextRange,
        inlined_since: Option<u8>,
    ) {
        let line = self.line(range.start());
        self.codes.push(Code {
            kind,
            name: name.to_string(),
            firstlineno: line,
            first_line: line,
            last_line: self.lines.last_line(range),
            header_end: line,
            range,
            body: range,
            inlined_since,
            stmt_span: 0..0,
        });
    }

    fn handler_clauses(&self, handlers: &[ExceptHandler], is_star: bool) -> Vec<Clause> {
        handlers
            .iter()
            .map(|ExceptHandler::ExceptHandler(h)| {
                let line = self.line(h.range.start());
                Clause {
                    keyword: if is_star { "except*" } else { "except" },
                    line,
                    header_end: self.header_end_of(&h.body, line),
                }
            })
            .collect()
    }
}

impl<'a> Visitor<'a> for Builder<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        let owner = self.owner();
        let range = stmt.range();
        let first_line = self.line(range.start());
        let end_line = self.lines.last_line(range);
        let mut line = first_line;
        let mut defines = None;
        let compound =
            |keyword: &'static str, header_end: u32, clauses: Vec<Clause>| StmtKind::Compound {
                keyword,
                header_end,
                clauses,
            };
        let kind = match stmt {
            Stmt::FunctionDef(f) => {
                let (idx, def_line, header_end) = self.def_code(
                    CodeKind::Function,
                    f.name.id.as_str(),
                    range,
                    &f.decorator_list,
                    &f.body,
                );
                line = def_line;
                defines = Some(idx);
                compound(
                    if f.is_async { "async def" } else { "def" },
                    header_end,
                    Vec::new(),
                )
            }
            Stmt::ClassDef(c) => {
                if let Some(arguments) = &c.arguments {
                    self.note_sole_genexp(arguments);
                }
                let (idx, def_line, header_end) = self.def_code(
                    CodeKind::Class,
                    c.name.id.as_str(),
                    range,
                    &c.decorator_list,
                    &c.body,
                );
                line = def_line;
                defines = Some(idx);
                compound("class", header_end, Vec::new())
            }
            Stmt::If(s) => {
                let clauses = s
                    .elif_else_clauses
                    .iter()
                    .filter(|c| c.test.is_none())
                    .map(|c| {
                        let l = self.line(c.range.start());
                        Clause {
                            keyword: "else",
                            line: l,
                            header_end: self.header_end_of(&c.body, l),
                        }
                    })
                    .collect();
                compound("if", self.header_end_of(&s.body, first_line), clauses)
            }
            Stmt::For(s) => {
                let clauses = self
                    .keyword_clause("else", TokenKind::Else, &s.orelse)
                    .into_iter()
                    .collect();
                let kw = if s.is_async { "async for" } else { "for" };
                compound(kw, self.header_end_of(&s.body, first_line), clauses)
            }
            Stmt::While(s) => {
                let clauses = self
                    .keyword_clause("else", TokenKind::Else, &s.orelse)
                    .into_iter()
                    .collect();
                compound("while", self.header_end_of(&s.body, first_line), clauses)
            }
            Stmt::With(s) => {
                let kw = if s.is_async { "async with" } else { "with" };
                compound(kw, self.header_end_of(&s.body, first_line), Vec::new())
            }
            Stmt::Match(s) => {
                let clauses = s
                    .cases
                    .iter()
                    .map(|c| {
                        let l = self.line(c.range.start());
                        Clause {
                            keyword: "case",
                            line: l,
                            header_end: self.header_end_of(&c.body, l),
                        }
                    })
                    .collect();
                // The header of a match is its first line up to the `:`.
                let header_end = s
                    .cases
                    .first()
                    .map(|c| self.header_end(c.range.start()))
                    .unwrap_or(first_line);
                compound("match", header_end, clauses)
            }
            Stmt::Try(s) => {
                let mut clauses = self.handler_clauses(&s.handlers, s.is_star);
                clauses.extend(self.keyword_clause("else", TokenKind::Else, &s.orelse));
                clauses.extend(self.keyword_clause("finally", TokenKind::Finally, &s.finalbody));
                compound("try", self.header_end_of(&s.body, first_line), clauses)
            }
            _ => match self.docstrings.get(&range.start()) {
                Some(&of) if matches!(stmt, Stmt::Expr(_)) => StmtKind::Docstring { of },
                _ => StmtKind::Simple,
            },
        };
        self.stmts.push(StmtInfo {
            line,
            first_line,
            end_line,
            owner,
            kind,
            defines,
        });
        if let Some(idx) = defines {
            let start = self.stmts.len();
            self.owners.push(idx);
            visitor::walk_stmt(self, stmt);
            self.owners.pop();
            self.codes[idx].stmt_span = start..self.stmts.len();
        } else {
            visitor::walk_stmt(self, stmt);
        }
    }

    fn visit_elif_else_clause(&mut self, clause: &'a ast::ElifElseClause) {
        if clause.test.is_some() {
            // `elif` is an `If` statement in CPython's `ast`.
            let line = self.line(clause.range.start());
            let header_end = self.header_end_of(&clause.body, line);
            self.stmts.push(StmtInfo {
                line,
                first_line: line,
                end_line: self.lines.last_line(clause.range),
                owner: self.owner(),
                kind: StmtKind::Compound {
                    keyword: "elif",
                    header_end,
                    clauses: Vec::new(),
                },
                defines: None,
            });
        }
        visitor::walk_elif_else_clause(self, clause);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(e) => self.expr_code(CodeKind::Lambda, "<lambda>", e.range, None),
            Expr::ListComp(e) => {
                self.expr_code(CodeKind::Comprehension, "<listcomp>", e.range, Some(12))
            }
            Expr::SetComp(e) => {
                self.expr_code(CodeKind::Comprehension, "<setcomp>", e.range, Some(12))
            }
            Expr::DictComp(e) => {
                self.expr_code(CodeKind::Comprehension, "<dictcomp>", e.range, Some(12))
            }
            Expr::Generator(e) => {
                let start = self
                    .sole_genexp
                    .get(&e.range.start())
                    .copied()
                    .unwrap_or(e.range.start());
                let range = TextRange::new(start.min(e.range.start()), e.range.end());
                self.expr_code(CodeKind::GenExpr, "<genexpr>", range, None)
            }
            Expr::Call(e) => self.note_sole_genexp(&e.arguments),
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// Merge ranges into disjoint sorted ones.
pub(crate) fn merge_ranges(mut ranges: Vec<TextRange>) -> Vec<TextRange> {
    ranges.sort_by_key(|r| (r.start(), r.end()));
    let mut out: Vec<TextRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start() <= last.end() => {
                if r.end() > last.end() {
                    *last = TextRange::new(last.start(), r.end());
                }
            }
            _ => out.push(r),
        }
    }
    out
}

/// True for the errors the pinned parser (ruff_python_parser 0.0.10, which
/// knows Python up to 3.14) reports for syntax a newer CPython accepts and
/// whose tree it still builds completely (its error recovery keeps the
/// node): CPython 3.15 allows a unary `+` before a number in a literal
/// pattern (`case +0:`). Accepting it for older versions too is harmless:
/// their interpreter refuses such a file before any probe could be set.
fn accepted_by_newer_python(e: &ruff_python_parser::ParseError) -> bool {
    matches!(
        &e.error,
        ruff_python_parser::ParseErrorType::OtherError(m)
            if m == "Unary '+' is not allowed as a literal pattern"
    )
}
