//! The lines of one statement, guessed from indentation without parsing.
//!
//! A first probe in a file used to parse the top-level statement that holds
//! its code object: for a method of `transformers`' `GenerationMixin` that is
//! a 3,500-line class, several milliseconds, against a fraction of one for
//! the method alone. These functions find a statement's lines by looking at
//! line starts only, and [`excerpt`] cuts them out at their own line numbers,
//! so that [`crate::SourceIndex`] can parse just that text.
//!
//! The result is a guess: a line inside a string literal or inside brackets
//! that starts further left than the statement can end it early. A text cut
//! early that way does not parse (the string or the bracket is left open) or
//! lacks lines of the code object, and the caller then falls back to a larger
//! text; it never gives a different answer. A guess can also run long (a line
//! starting with `else` or `)` is taken to continue the statement), which
//! only adds text.
//!
//! Lines are counted as [`crate::SourceIndex`] counts them: they end at `\n`,
//! `\r\n` or `\r`.

/// Byte offsets of the starts of lines `1..=upto` (index 0 is line 1) and
/// of every later line, computed lazily: a method near the top of a large
/// file should not pay for a scan of the whole file.
struct Lines<'a> {
    src: &'a [u8],
    starts: Vec<usize>,
    /// Offset the scan for the next line start resumes at.
    scanned: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    fn new(src: &'a [u8]) -> Self {
        Lines {
            src,
            starts: {
                // room for lines of 32 bytes on average: a few doublings
                // at most, not one per hundred lines
                let mut v = Vec::with_capacity(src.len() / 32 + 1);
                v.push(0);
                v
            },
            scanned: 0,
            done: false,
        }
    }

    /// Scan until line `n` (1-based) has a known start or the text ends.
    fn reach(&mut self, n: usize) {
        if self.starts.len() >= n || self.done {
            return;
        }
        // One vectorized pass over the text, not a search per line: a
        // method deep in a large module is thousands of lines in.
        let from = self.scanned;
        let mut skip_lf = false;
        for i in memchr::memchr2_iter(b'\n', b'\r', &self.src[from..]) {
            let at = from + i;
            if skip_lf {
                skip_lf = false;
                if self.src[at] == b'\n' && at == self.scanned - 1 {
                    continue; // the `\n` of a `\r\n`
                }
            }
            let next = at + 1;
            if self.src[at] == b'\r' && self.src.get(next) == Some(&b'\n') {
                skip_lf = true;
                self.scanned = next + 1;
                if self.scanned < self.src.len() {
                    self.starts.push(self.scanned);
                }
            } else {
                self.scanned = next;
                if next < self.src.len() {
                    self.starts.push(next);
                }
            }
            if self.starts.len() >= n {
                break;
            }
        }
        if self.starts.len() < n {
            self.scanned = self.src.len();
            self.done = true;
        }
    }

    /// The bytes of line `n` (1-based), its line break included; None past
    /// the last line.
    fn line(&mut self, n: usize) -> Option<&'a [u8]> {
        if n == 0 {
            return None;
        }
        self.reach(n + 1);
        let start = *self.starts.get(n - 1)?;
        if start == self.src.len() {
            return None; // the empty text has no line 1
        }
        let end = self.starts.get(n).copied().unwrap_or(self.src.len());
        Some(&self.src[start..end])
    }
}

/// How a line starts: its indentation (counted in characters, a tab as one:
/// CPython rejects indentation whose order differs between tab sizes 8 and
/// 1, so comparing counts agrees with its blocks) and the text after it;
/// None for a line with no code (blank, or a comment).
fn head(line: &[u8]) -> Option<(usize, &[u8])> {
    let indent = line
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\x0c'))
        .count();
    let rest = &line[indent..];
    match rest.first() {
        None | Some(b'\n' | b'\r' | b'#') => None,
        Some(_) => Some((indent, rest)),
    }
}

fn starts_with_word(rest: &[u8], word: &[u8]) -> bool {
    rest.starts_with(word)
        && !rest
            .get(word.len())
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
}

/// A line that continues the statement before it at its own indentation: a
/// clause keyword, or a closing bracket (a multi-line signature's `) -> T:`).
fn continues(rest: &[u8]) -> bool {
    matches!(rest.first(), Some(b')' | b']' | b'}'))
        || [&b"else"[..], b"elif", b"except", b"finally"]
            .iter()
            .any(|w| starts_with_word(rest, w))
}

/// A line that starts a statement at indentation `at` or further left.
fn ends_block(line: &[u8], at: usize) -> bool {
    matches!(head(line), Some((indent, rest)) if indent <= at && !continues(rest))
}

/// Lines `[start, end)` of the top-level statement that holds `line` (a
/// statement starting in column 0 and the lines up to the next one); None
/// when `line` is not in the text.
pub fn top_level_lines(source: &str, line: u32) -> Option<(u32, u32)> {
    let mut lines = Lines::new(source.as_bytes());
    let line = line as usize;
    lines.line(line)?;
    let starts_top = |l: &[u8]| matches!(head(l), Some((0, rest)) if !continues(rest));
    let mut start = line;
    while start > 1 && !lines.line(start).is_some_and(starts_top) {
        start -= 1;
    }
    let mut end = line + 1;
    while let Some(l) = lines.line(end) {
        if starts_top(l) {
            break;
        }
        end += 1;
    }
    Some((start as u32, end as u32))
}

/// Lines `[start, end)` of the `def` or `class` statement whose first line
/// (its first decorator's, when decorated) is `line`: up to the next line
/// that starts a statement at its indentation or further left. None when
/// `line` does not start a `def`, `async def`, `class` or decorator.
pub fn block_lines(source: &str, line: u32) -> Option<(u32, u32)> {
    block_in(&mut Lines::new(source.as_bytes()), line)
}

/// [`block_lines`] and those lines cut out, with one scan of the text:
/// `(start, end, text, first_line)`, where `text` is the [`excerpt`] without
/// the empty lines before it and `first_line` the line number of its first
/// line (`start`, or `start - 1` for the `if 1:` an indented block gets):
/// `SourceIndex::new_at(text, first_line)` answers as `SourceIndex::new` of
/// the whole excerpt does, without lexing thousands of empty lines for a
/// method far down a file.
/// `source` is UTF-8 text as bytes (a file as read); None also when the
/// excerpt is not valid UTF-8.
pub fn block_excerpt(source: &[u8], line: u32) -> Option<(u32, u32, String, u32)> {
    let mut lines = Lines::new(source);
    let (start, end) = block_in(&mut lines, line)?;
    let (text, first_line) = excerpt_in(&mut lines, start, end, false)?;
    Some((start, end, text, first_line))
}

fn block_in(lines: &mut Lines<'_>, line: u32) -> Option<(u32, u32)> {
    let first = line as usize;
    let (at, rest) = head(lines.line(first)?)?;
    let is_def = |rest: &[u8]| {
        starts_with_word(rest, b"def")
            || starts_with_word(rest, b"class")
            || starts_with_word(rest, b"async")
    };
    // Decorators first: the `def` they decorate is the next line at the
    // same indentation that is not another decorator.
    let mut def_line = first;
    if rest.first() == Some(&b'@') {
        loop {
            def_line += 1;
            match head(lines.line(def_line)?) {
                Some((indent, rest)) if indent == at && is_def(rest) => break,
                Some((indent, rest))
                    if indent <= at && rest.first() != Some(&b'@') && !continues(rest) =>
                {
                    return None;
                }
                _ => {}
            }
        }
    } else if !is_def(rest) {
        return None;
    }
    let mut end = def_line + 1;
    while let Some(l) = lines.line(end) {
        if ends_block(l, at) {
            break;
        }
        end += 1;
    }
    Some((first as u32, end as u32))
}

/// Lines `[start, end)` of `source` alone at their own line numbers (the
/// lines before them empty, each with its own line break). An indented
/// first line is preceded by `if 1:` on the line before it, so that the
/// excerpt parses as a block of its own; None when there is no such line
/// (an indented line 1) or the lines are not in the text.
pub fn excerpt(source: &str, start: u32, end: u32) -> Option<String> {
    excerpt_in(&mut Lines::new(source.as_bytes()), start, end, true).map(|(text, _)| text)
}

/// The excerpt of lines `[start, end)` and the line number of its first
/// line: with the empty lines before it (`padded`, first line 1), or
/// without them.
fn excerpt_in(lines: &mut Lines<'_>, start: u32, end: u32, padded: bool) -> Option<(String, u32)> {
    let (start, end) = (start as usize, end as usize);
    if start == 0 || end <= start {
        return None;
    }
    let first = lines.line(start)?;
    let indented = matches!(first.first(), Some(b' ' | b'\t' | b'\x0c'));
    let from = lines.starts[start - 1];
    lines.reach(end);
    let to = lines
        .starts
        .get(end - 1)
        .copied()
        .unwrap_or(lines.src.len());
    // Cut at line starts, so whole characters of UTF-8 text.
    let body = std::str::from_utf8(&lines.src[from..to]).ok()?;
    // the line the text starts on: the `if 1:` opening an indented block
    // takes the line before the block
    let opening = if indented {
        if start < 2 {
            return None;
        }
        start - 1
    } else {
        start
    };
    let empty = if padded { opening - 1 } else { 0 };
    let mut out = String::with_capacity(empty + body.len() + 8);
    out.extend(std::iter::repeat_n('\n', empty));
    if indented {
        out.push_str("if 1:\n");
    }
    out.push_str(body);
    if !out.ends_with(['\n', '\r']) {
        out.push('\n');
    }
    let first_line = if padded { 1 } else { opening as u32 };
    Some((out, first_line))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
import os

class A:
    x = 1

    @staticmethod
    @other(
        1,
    )
    def f(a,
          b,
    ) -> int:
        s = '''
        not code
        '''
        if a:
            return 1
        else:
            return 2
    # a comment at the method's column

    async def g(self):
        return self
def top():
    return 3
";

    #[test]
    fn block_of_a_decorated_method_runs_to_its_next_sibling() {
        // line 6 is `@staticmethod`; the method ends before `async def g`
        // (the comment and the blank line before it are not statements)
        assert_eq!(block_lines(SRC, 6), Some((6, 22)));
        assert_eq!(block_lines(SRC, 22), Some((22, 24)));
        assert_eq!(block_lines(SRC, 3), Some((3, 24)));
        assert_eq!(block_lines(SRC, 24), Some((24, 26)));
        for line in 0..30 {
            // the excerpt without its empty lines, and where it starts
            let both = block_excerpt(SRC.as_bytes(), line)
                .map(|(s, e, text, first)| (s, e, "\n".repeat(first as usize - 1) + &text));
            let apart = block_lines(SRC, line)
                .map(|(s, e)| (s, e, excerpt(SRC, s, e).expect("lines exist")));
            assert_eq!(both, apart, "line {line}");
        }
    }

    /// The index of an excerpt at its first line answers as the index of
    /// the excerpt with the empty lines before it (what it replaces).
    #[test]
    fn an_excerpt_indexed_at_its_first_line_answers_as_the_padded_one() {
        use crate::{LineSpec, Scope, SourceIndex};
        let mut checked = 0;
        for line in 1..30 {
            let Some((_, _, text, first)) = block_excerpt(SRC.as_bytes(), line) else {
                continue;
            };
            let padded = "\n".repeat(first as usize - 1) + &text;
            let (at, whole) = match (SourceIndex::new_at(&text, first), SourceIndex::new(&padded)) {
                (Ok(a), Ok(w)) => (a, w),
                (a, w) => {
                    assert_eq!(a.err(), w.err(), "line {line}");
                    continue;
                }
            };
            assert_eq!(at.line_count(), whole.line_count());
            for minor in [11, 15] {
                assert_eq!(
                    at.code_objects(minor),
                    whole.code_objects(minor),
                    "line {line}"
                );
                for code in whole.code_objects(minor) {
                    let scope = Scope::Function {
                        firstlineno: code.firstlineno,
                        name: code.name.clone(),
                    };
                    assert_eq!(
                        at.statement_lines(&scope, minor),
                        whole.statement_lines(&scope, minor)
                    );
                    assert_eq!(at.own_text(&scope, minor), whole.own_text(&scope, minor));
                    for l in 0..=whole.line_count() + 1 {
                        assert_eq!(
                            at.locate(&scope, &LineSpec::Number(l), minor),
                            whole.locate(&scope, &LineSpec::Number(l), minor),
                            "line {line}, {l}"
                        );
                    }
                }
            }
            checked += 1;
        }
        assert!(checked >= 3, "{checked}");
    }

    #[test]
    fn block_needs_a_def_class_or_decorator() {
        assert_eq!(block_lines(SRC, 4), None);
        assert_eq!(block_lines(SRC, 2), None);
        assert_eq!(block_lines(SRC, 99), None);
        assert_eq!(block_lines(SRC, 0), None);
        // `definitely = 1` is not `def`
        assert_eq!(block_lines("definitely = 1\n", 1), None);
    }

    #[test]
    fn a_string_line_in_column_zero_cuts_the_guess_short() {
        // `not code` (line 3) starts left of the function: the guess ends
        // there, inside the string, and the excerpt does not parse
        let src = "def f():\n    s = '''\nnot code\n'''\n    return s\n";
        assert_eq!(block_lines(src, 1), Some((1, 3)));
        let text = excerpt(src, 1, 3).expect("lines exist");
        assert!(crate::SourceIndex::new(&text).is_err());
    }

    #[test]
    fn top_level_statement_spans_its_whole_class() {
        assert_eq!(top_level_lines(SRC, 17), Some((3, 24)));
        assert_eq!(top_level_lines(SRC, 25), Some((24, 26)));
        assert_eq!(top_level_lines(SRC, 1), Some((1, 3)));
        assert_eq!(top_level_lines(SRC, 99), None);
    }

    #[test]
    fn excerpt_keeps_line_numbers_and_opens_an_indented_block() {
        let text = excerpt(SRC, 22, 24).expect("lines exist");
        assert_eq!(
            text,
            format!(
                "{}if 1:\n    async def g(self):\n        return self\n",
                "\n".repeat(20)
            )
        );
        let index = crate::SourceIndex::new(&text).expect("parses");
        let found = index
            .locate(
                &crate::Scope::Function {
                    firstlineno: 22,
                    name: "g".into(),
                },
                &crate::LineSpec::Number(23),
                11,
            )
            .expect("located");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].owner_firstlineno), (23, 22));
        assert_eq!(
            excerpt(SRC, 24, 26).expect("lines exist"),
            format!("{}def top():\n    return 3\n", "\n".repeat(23))
        );
        assert_eq!(excerpt("    x = 1\n", 1, 2), None);
    }

    /// Line starts the simple way: after every `\n`, `\r\n` and lone `\r`.
    fn naive_starts(src: &str) -> Vec<usize> {
        let b = src.as_bytes();
        let mut out = vec![0];
        let mut i = 0;
        while i < b.len() {
            let brk = match b[i] {
                b'\r' if b.get(i + 1) == Some(&b'\n') => 2,
                b'\r' | b'\n' => 1,
                _ => 0,
            };
            if brk > 0 {
                i += brk;
                if i < b.len() {
                    out.push(i);
                }
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn line_starts_match_a_plain_scan_in_any_order_of_requests() {
        for src in [
            "a\nb\r\nc\rd\n\n\r\r\ne",
            "\r\n\r\n\n",
            "x = 1\r\n",
            "\n",
            "",
            "no break",
            "é\r\nü\rß\n",
        ] {
            let want = naive_starts(src);
            for order in [
                &[1usize, 2, 3, 4, 5, 6, 7, 8, 9][..],
                &[9, 1, 5, 2],
                &[3, 3, 1],
            ] {
                let mut lines = Lines::new(src.as_bytes());
                for &n in order {
                    let got = lines
                        .line(n)
                        .map(|l| l.as_ptr() as usize - src.as_ptr() as usize);
                    let want = want.get(n - 1).copied().filter(|_| !src.is_empty());
                    assert_eq!(got, want, "{src:?} line {n}");
                }
            }
        }
    }

    #[test]
    fn excerpts_of_bytes_are_whole_characters_or_none() {
        let src = "# é\ndef f():\n    return 'ü'\n";
        let (start, end, text, first) = block_excerpt(src.as_bytes(), 2).expect("a def");
        assert_eq!(
            (start, end, text.as_str(), first),
            (2, 4, "def f():\n    return 'ü'\n", 2)
        );
        let mut broken = src.as_bytes().to_vec();
        let at = broken.len() - 4;
        broken[at] = 0xff; // inside the def: not UTF-8
        assert_eq!(block_excerpt(&broken, 2), None);
    }

    #[test]
    fn line_breaks_count_as_the_index_counts_them() {
        let src = "def f():\r\n    a = 1\r    b = 2\n\ndef g():\n    pass\n";
        assert_eq!(block_lines(src, 1), Some((1, 5)));
        assert_eq!(block_lines(src, 5), Some((5, 7)));
        assert_eq!(
            excerpt(src, 5, 7).expect("lines exist"),
            "\n\n\n\ndef g():\n    pass\n"
        );
    }
}
