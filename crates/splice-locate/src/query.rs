//! Questions asked of a [`SourceIndex`]: locate a line spec, list statement
//! lines, check that a running code object fits the source.

use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::error::{LocateError, Nearest, Quoted};
use crate::index::{is_code_token, merge_ranges, CodeKind, Look, SourceIndex, StmtKind};
use crate::{CodeObject, LineSpec, Located, Scope};

/// A scope resolved against the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    File,
    Code(usize),
}

impl SourceIndex {
    /// Locate `spec` in `scope`, for CPython 3.`minor`.
    ///
    /// Returns one [`Located`] per (line, owning code object), sorted by line
    /// (outer code objects first when several own statements on one line,
    /// which only [`Scope::File`] can return). [`LineSpec::Number`] returns
    /// one line, [`LineSpec::Text`] every matching statement, and
    /// [`LineSpec::Entry`] the scope's `co_firstlineno`.
    pub fn locate(
        &self,
        scope: &Scope,
        spec: &LineSpec,
        minor: u8,
    ) -> Result<Vec<Located>, LocateError> {
        let r = self.resolve(scope, minor)?.0;
        match spec {
            LineSpec::Entry => match r {
                Resolved::File => Err(LocateError::EntryNeedsFunction),
                Resolved::Code(c) => Ok(vec![self.located(self.codes[c].firstlineno, c)]),
            },
            LineSpec::Number(line) => self.locate_number(r, *line),
            LineSpec::Text(text) => self.locate_text(r, text),
        }
    }

    /// Every statement start line in `scope`, with the code object that owns
    /// it: the scope's own statements and those of code objects nested in
    /// it, sorted by line. Docstrings are not listed. Lambdas,
    /// comprehensions and generator expressions have none.
    pub fn statement_lines(&self, scope: &Scope, minor: u8) -> Result<Vec<Located>, LocateError> {
        let r = self.resolve(scope, minor)?.0;
        let span = match r {
            Resolved::File => 0..self.stmts.len(),
            Resolved::Code(c) => self.codes[c].stmt_span.clone(),
        };
        let mut out: Vec<(u32, usize, usize)> = span
            .filter(|&i| !self.stmts[i].is_docstring())
            .map(|i| (self.stmts[i].line, i, self.stmts[i].owner))
            .collect();
        out.sort_by_key(|&(line, i, _)| (line, i));
        out.dedup_by_key(|&mut (line, _, owner)| (line, owner));
        Ok(out
            .into_iter()
            .map(|(line, _, owner)| self.located(line, owner))
            .collect())
    }

    /// Check that a running code object fits this source: a code object
    /// named `co_name` must start on `co_firstlineno` (`scope`), and every
    /// line in `lines` (from `code.co_lines()`; 0 is ignored) must be a line
    /// where this source has code that runs in that code object (its header,
    /// or its body outside nested defs and classes). Fails with
    /// [`LocateError::ScopeNotFound`] or [`LocateError::CodeLineMismatch`],
    /// for which [`LocateError::is_source_mismatch`] is true.
    pub fn check_code_lines(
        &self,
        scope: &Scope,
        lines: &[u32],
        minor: u8,
    ) -> Result<(), LocateError> {
        let (r, candidates) = self.resolve(scope, minor)?;
        let candidates = match r {
            Resolved::File => vec![0],
            Resolved::Code(_) => candidates,
        };
        let n = self.lines.count as usize + 2;
        let mut allowed = vec![false; n];
        for &c in &candidates {
            self.mark_code_lines(c, &mut allowed);
        }
        let first = candidates.first().copied().unwrap_or(0);
        for &line in lines {
            if line == 0 || allowed.get(line as usize).copied().unwrap_or(false) {
                continue;
            }
            return Err(LocateError::CodeLineMismatch {
                line,
                scope: self.named(first),
                what: self.why_not_code_of(line, first),
            });
        }
        Ok(())
    }

    /// Every code object the source defines on CPython 3.`minor`, in source
    /// order (the module first).
    pub fn code_objects(&self, minor: u8) -> Vec<CodeObject> {
        self.codes
            .iter()
            .filter(|c| c.exists_on(minor))
            .map(|c| CodeObject {
                kind: c.kind,
                firstlineno: c.firstlineno,
                name: c.name.clone(),
                first_line: c.first_line,
                last_line: c.last_line,
            })
            .collect()
    }

    // ---- scopes -------------------------------------------------------

    /// The scope, and (for a code scope) every code object that fits it:
    /// several only for lambdas or generator expressions sharing a line.
    fn resolve(&self, scope: &Scope, minor: u8) -> Result<(Resolved, Vec<usize>), LocateError> {
        let (firstlineno, name) = match scope {
            Scope::File => return Ok((Resolved::File, Vec::new())),
            Scope::Function { firstlineno, name } => (*firstlineno, name.as_str()),
        };
        if name == "<module>" {
            return Ok((Resolved::Code(0), vec![0]));
        }
        let found: Vec<usize> = self
            .by_name
            .get(&(firstlineno, name.to_string()))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| self.codes[i].exists_on(minor))
                    .collect()
            })
            .unwrap_or_default();
        match found.first() {
            Some(&c) => Ok((Resolved::Code(c), found)),
            None => Err(self.scope_not_found(firstlineno, name, minor)),
        }
    }

    fn scope_not_found(&self, firstlineno: u32, name: &str, minor: u8) -> LocateError {
        let kind = match name {
            "<lambda>" => "lambda",
            "<listcomp>" | "<setcomp>" | "<dictcomp>" => "comprehension",
            "<genexpr>" => "generator expression",
            _ => "function or class",
        };
        let mut found = if firstlineno == 0 || firstlineno > self.lines.count {
            format!("it has {} lines", self.lines.count)
        } else {
            format!(
                "line {firstlineno} reads {}",
                Quoted::new(self.line_text(firstlineno).trim())
            )
        };
        let elsewhere: Vec<String> = self
            .codes
            .iter()
            .filter(|c| c.name == name && c.exists_on(minor))
            .map(|c| c.firstlineno.to_string())
            .collect();
        if kind == "comprehension" && minor >= 12 {
            found.push_str(&format!(
                "; on Python 3.{minor} comprehensions are inlined into their function (PEP 709)"
            ));
        } else if elsewhere.is_empty() {
            found.push_str(&format!("; nothing named '{name}' is defined in it"));
        } else {
            let s = if elsewhere.len() == 1 { "" } else { "s" };
            found.push_str(&format!(
                "; '{name}' starts on line{s} {}",
                elsewhere.join(", ")
            ));
        }
        LocateError::ScopeNotFound {
            kind,
            name: name.to_string(),
            firstlineno,
            found,
        }
    }

    fn located(&self, line: u32, owner: usize) -> Located {
        let code = &self.codes[owner];
        Located {
            line,
            owner_firstlineno: code.firstlineno,
            owner_name: code.name.clone(),
        }
    }

    /// `function 'forward' (lines 20-60)`, `the lambda on line 5`, ...
    pub(crate) fn describe(&self, c: usize) -> String {
        let code = &self.codes[c];
        let lines = if code.first_line == code.last_line {
            format!("line {}", code.first_line)
        } else {
            format!("lines {}-{}", code.first_line, code.last_line)
        };
        match code.kind {
            CodeKind::Module => "the module".to_string(),
            CodeKind::Function => format!("function '{}' ({lines})", code.name),
            CodeKind::Class => format!("class '{}' ({lines})", code.name),
            CodeKind::Lambda => format!("the lambda on line {}", code.firstlineno),
            CodeKind::Comprehension => {
                let what = match code.name.as_str() {
                    "<setcomp>" => "set comprehension",
                    "<dictcomp>" => "dict comprehension",
                    _ => "list comprehension",
                };
                format!("the {what} on line {}", code.firstlineno)
            }
            CodeKind::GenExpr => format!("the generator expression on line {}", code.firstlineno),
        }
    }

    /// A scope by kind and name, without the extent the source gives it: for
    /// "the running code of ...", whose own extent may differ from this
    /// source's when the file was edited.
    fn named(&self, c: usize) -> String {
        let code = &self.codes[c];
        match code.kind {
            CodeKind::Function => format!("function '{}'", code.name),
            CodeKind::Class => format!("class '{}'", code.name),
            _ => self.describe(c),
        }
    }

    /// Short name of a scope for "no line in ... has the text".
    fn short_name(&self, r: Resolved) -> String {
        match r {
            Resolved::File => "this file".to_string(),
            Resolved::Code(0) => "the module's top level".to_string(),
            Resolved::Code(c) => {
                let code = &self.codes[c];
                match code.kind {
                    CodeKind::Function => format!("{}()", code.name),
                    CodeKind::Class => format!("class {}", code.name),
                    _ => self.describe(c),
                }
            }
        }
    }

    // ---- line numbers -------------------------------------------------

    fn locate_number(&self, r: Resolved, line: u32) -> Result<Vec<Located>, LocateError> {
        if line == 0 {
            return Err(LocateError::BadLineNumber { line: 0 });
        }
        if line > self.lines.count {
            return Err(LocateError::PastEnd {
                line,
                count: self.lines.count,
            });
        }
        let starts = &self.starts[line as usize];
        let c = match r {
            Resolved::File => {
                if starts.is_empty() {
                    return Err(self.classify(line, r));
                }
                let mut out: Vec<Located> = Vec::new();
                for &s in starts {
                    let loc = self.located(line, self.stmts[s].owner);
                    if !out.contains(&loc) {
                        out.push(loc);
                    }
                }
                return Ok(out);
            }
            Resolved::Code(c) => c,
        };
        let code = &self.codes[c];
        if !code.holds_statements() {
            return Err(LocateError::NoStatements {
                scope: self.describe(c),
            });
        }
        if starts.iter().any(|&s| self.stmts[s].owner == c) {
            return Ok(vec![self.located(line, c)]);
        }
        if c != 0 {
            if line < code.first_line || line > code.last_line {
                // a blank or comment line between two functions belongs to
                // no statement: say what it is (the statement around it, a
                // class, would be named as its owner)
                let what = match self.look.get(line as usize).copied() {
                    Some(Look::Blank) => Some("is blank".to_string()),
                    Some(Look::Comment) => Some("is a comment".to_string()),
                    _ => self
                        .owner_of_line(line)
                        .map(|o| format!("belongs to {}", self.describe(o))),
                };
                return Err(LocateError::Outside {
                    line,
                    scope: self.describe(c),
                    owner: what,
                });
            }
            if line <= code.header_end {
                return Err(LocateError::Header {
                    line,
                    of: self.describe(c),
                    body_line: self.first_statement(c),
                });
            }
        }
        if let Some(&s) = starts.last() {
            return Err(LocateError::OtherCode {
                line,
                owner: self.describe(self.stmts[s].owner),
                scope: self.describe(c),
            });
        }
        Err(self.classify(line, r))
    }

    /// First statement line of code `c` (its docstring excluded).
    fn first_statement(&self, c: usize) -> Option<u32> {
        self.own_lines[c].first().copied()
    }

    /// The innermost def/class/module whose statements cover `line`.
    fn owner_of_line(&self, line: u32) -> Option<usize> {
        if let Some(&s) = self.starts.get(line as usize).and_then(|v| v.last()) {
            return Some(self.stmts[s].owner);
        }
        let s = self.deepest.get(line as usize).copied().flatten()?;
        let st = &self.stmts[s];
        // A decorator line runs in the owner of the def statement.
        Some(st.owner)
    }

    /// The statement lines nearest to `line` within the scope.
    fn nearest(&self, line: u32, r: Resolved) -> Nearest {
        let lines = match r {
            Resolved::File => &self.all_lines,
            Resolved::Code(c) => &self.own_lines[c],
        };
        let i = lines.partition_point(|&l| l < line);
        let j = lines.partition_point(|&l| l <= line);
        Nearest {
            before: i.checked_sub(1).and_then(|k| lines.get(k)).copied(),
            after: lines.get(j).copied(),
        }
    }

    /// Why `line` (in the scope, not a statement line of it) is no place for
    /// a probe.
    fn classify(&self, line: u32, r: Resolved) -> LocateError {
        let nearest = self.nearest(line, r);
        let look = self.look.get(line as usize).copied().unwrap_or(Look::Blank);
        match look {
            Look::Blank => return LocateError::Blank { line, nearest },
            Look::Comment => return LocateError::Comment { line, nearest },
            Look::Code | Look::InToken => {}
        }
        let Some(si) = self.deepest.get(line as usize).copied().flatten() else {
            return LocateError::Blank { line, nearest };
        };
        let s = &self.stmts[si];
        if let StmtKind::Docstring { of } = s.kind {
            return LocateError::Docstring {
                line,
                of: self.describe(of),
                nearest,
            };
        }
        if let Resolved::Code(c) = r {
            if s.owner != c {
                return LocateError::OtherCode {
                    line,
                    owner: self.describe(s.owner),
                    scope: self.describe(c),
                };
            }
        }
        let inside = || LocateError::Inside {
            line,
            start: s.line,
            text: Quoted::new(self.line_text(s.line).trim()),
        };
        if line < s.line {
            if let Some(d) = s.defines {
                let keyword = if self.codes[d].kind == CodeKind::Class {
                    "class"
                } else {
                    "def"
                };
                return LocateError::Decorator {
                    line,
                    of: self.describe(d),
                    keyword,
                    def_line: s.line,
                };
            }
            return inside();
        }
        match &s.kind {
            StmtKind::Compound {
                keyword,
                header_end,
                clauses,
            } => {
                if line <= *header_end {
                    return inside();
                }
                for cl in clauses {
                    if cl.line <= line && line <= cl.header_end {
                        return LocateError::Clause {
                            line,
                            keyword: cl.keyword,
                            clause_line: cl.line,
                            statement: keyword,
                            start: s.line,
                            nearest,
                        };
                    }
                }
                inside()
            }
            _ => inside(),
        }
    }

    // ---- line texts ---------------------------------------------------

    /// Does `line`, stripped (or stripped of a trailing comment), equal `text`?
    fn line_matches(&self, line: u32, text: &str) -> bool {
        let raw = self.line_text(line);
        if raw.trim() == text {
            return true;
        }
        match self.comment_at.get(line as usize).copied().flatten() {
            Some(at) => {
                let (start, _) = self.lines.span(&self.source, line);
                let cut = (at as usize).saturating_sub(start).min(raw.len());
                raw.get(..cut).is_some_and(|code| code.trim() == text)
            }
            None => false,
        }
    }

    fn locate_text(&self, r: Resolved, text: &str) -> Result<Vec<Located>, LocateError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(LocateError::EmptyText);
        }
        if t.contains(['\n', '\r']) {
            return Err(LocateError::MultilineText {
                text: Quoted::new(t),
                count: t.lines().count(),
            });
        }
        if let Resolved::Code(c) = r {
            if !self.codes[c].holds_statements() {
                return Err(LocateError::NoStatements {
                    scope: self.describe(c),
                });
            }
        }
        let all: Vec<usize>;
        let scope_stmts: &[usize] = match r {
            Resolved::File => {
                all = self.own_stmts.iter().flatten().copied().collect();
                &all
            }
            Resolved::Code(c) => &self.own_stmts[c],
        };
        let mut found: Vec<Located> = Vec::new();
        let mut candidates: Vec<u32> = Vec::new();
        for s in scope_stmts.iter().map(|&i| &self.stmts[i]) {
            candidates.push(s.line);
            if self.line_matches(s.line, t) {
                let loc = self.located(s.line, s.owner);
                if !found.contains(&loc) {
                    found.push(loc);
                }
            }
        }
        if !found.is_empty() {
            found.sort();
            return Ok(found);
        }
        // The text is on some line, but no statement of the scope starts there.
        let (lo, hi) = match r {
            Resolved::Code(c) if c != 0 => (self.codes[c].first_line, self.codes[c].last_line),
            _ => (1, self.lines.count),
        };
        let elsewhere = (lo..=hi)
            .chain(1..=self.lines.count)
            .find(|&l| self.line_matches(l, t));
        if let Some(line) = elsewhere {
            let reason = match self.locate_number(r, line) {
                Err(e) => e,
                Ok(_) => self.classify(line, r),
            };
            return Err(LocateError::TextNotStatement {
                text: Quoted::new(t),
                scope: self.short_name(r),
                line,
                reason: Box::new(reason),
            });
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut scored: Vec<(usize, u32, String)> = candidates
            .into_iter()
            .map(|l| {
                let s = self.line_text(l).trim().to_string();
                (edit_distance(&s, t), l, s)
            })
            .collect();
        scored.sort();
        Err(LocateError::TextNotFound {
            text: Quoted::new(t),
            scope: self.short_name(r),
            closest: scored.into_iter().take(3).map(|(_, l, s)| (l, s)).collect(),
        })
    }

    // ---- running code vs source --------------------------------------

    /// The part of the source that compiling code object `scope` needs: the
    /// innermost `def` or `class` that holds it (itself when it is one), in
    /// full, and the header lines (decorators to `:`) of every `def` and
    /// `class` around that one; every other line is left empty, so line
    /// numbers stay. Compiling this instead of the whole top-level statement
    /// gives the same code object lines for the scope (its text and its
    /// enclosing names are the same) at a fraction of the cost for a method
    /// of a large class. `None` when the scope is not a code object here or
    /// when the module holds it directly (then only the top-level statement
    /// around it can stand for it). The text may fail to compile (a
    /// `nonlocal` naming a variable of a dropped line); the caller then
    /// compiles more.
    pub fn own_text(&self, scope: &Scope, minor: u8) -> Option<String> {
        let (Resolved::Code(_), candidates) = self.resolve(scope, minor).ok()? else {
            return None;
        };
        let defines = |k: CodeKind| matches!(k, CodeKind::Function | CodeKind::Class);
        let mut keep = vec![false; self.lines.count as usize + 2];
        let mut mark = |from: u32, to: u32| {
            for l in from..=to {
                if let Some(slot) = keep.get_mut(l as usize) {
                    *slot = true;
                }
            }
        };
        for &c in &candidates {
            let range = self.codes[c].range;
            // The innermost def/class whose body holds `c`, or `c` itself.
            let holder = if defines(self.codes[c].kind) {
                c
            } else {
                (1..c).rev().find(|&h| {
                    defines(self.codes[h].kind) && self.codes[h].body.contains_range(range)
                })?
            };
            let held = &self.codes[holder];
            mark(held.first_line, held.last_line);
            for outer in self.codes[1..holder].iter() {
                if defines(outer.kind) && outer.body.contains_range(held.range) {
                    mark(outer.first_line, outer.header_end);
                }
            }
        }
        let last = keep.iter().rposition(|&k| k)?;
        let mut out = String::with_capacity(self.source.len().min(1 << 20));
        for (line, &kept) in keep.iter().enumerate().take(last + 1).skip(1) {
            if kept {
                out.push_str(self.line_text(line as u32));
            }
            out.push('\n');
        }
        Some(out)
    }

    /// Mark the lines where the source has code that runs in code `c`.
    fn mark_code_lines(&self, c: usize, allowed: &mut [bool]) {
        let code = &self.codes[c];
        if matches!(code.kind, CodeKind::Function | CodeKind::Class) {
            for l in code.first_line..=code.header_end {
                if let Some(slot) = allowed.get_mut(l as usize) {
                    *slot = true;
                }
            }
        }
        // Bodies of defs and classes nested in it run in their own code objects.
        // (Code objects are numbered in source order, so those nested in `c`
        // follow it.)
        let nested: Vec<TextRange> = if code.holds_statements() {
            self.codes[c + 1..]
                .iter()
                .take_while(|n| n.range.start() < code.range.end())
                .filter(|n| {
                    matches!(n.kind, CodeKind::Function | CodeKind::Class)
                        && code.body.contains_range(n.range)
                })
                .map(|n| n.body)
                .collect()
        } else {
            Vec::new()
        };
        let nested = merge_ranges(nested);
        let scan = if code.holds_statements() {
            code.body
        } else {
            code.range
        };
        let from = self.tokens.partition_point(|t| t.start() < scan.start());
        let mut k = 0usize;
        for t in &self.tokens[from..] {
            let start: TextSize = t.start();
            if start >= scan.end() {
                break;
            }
            if !is_code_token(t.kind()) {
                continue;
            }
            while k < nested.len() && nested[k].end() <= start {
                k += 1;
            }
            if k < nested.len() && nested[k].contains(start) {
                continue;
            }
            let l = self.lines.line_of(start) as usize;
            if let Some(slot) = allowed.get_mut(l) {
                *slot = true;
            }
        }
    }

    /// Why `line` has no code of code `c`, for a mismatch message.
    fn why_not_code_of(&self, line: u32, c: usize) -> String {
        let code = &self.codes[c];
        if line > self.lines.count {
            return format!(
                "is past the end (the source has {} lines)",
                self.lines.count
            );
        }
        if line < code.first_line || line > code.last_line {
            return "is outside it".to_string();
        }
        match self.look.get(line as usize).copied().unwrap_or(Look::Blank) {
            Look::Blank => return "is blank".to_string(),
            Look::Comment => return "is a comment".to_string(),
            Look::InToken => return "is inside a string".to_string(),
            Look::Code => {}
        }
        match self.owner_of_line(line) {
            Some(o) if o != c => format!("belongs to {}", self.describe(o)),
            _ => "has none of its code".to_string(),
        }
    }
}

/// Levenshtein distance over characters (each side cut to 200 characters).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(200).collect();
    let b: Vec<char> = b.chars().take(200).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
