//! Rendering errors the way section 8 shows them: a headline, the location, the
//! source line with a caret under the spot, and for runtime errors a traceback.

use std::fmt;
use std::rc::Rc;

/// A source file (or `-e` text, or REPL entry) with its line index.
pub struct Source {
    /// The name diagnostics and tracebacks show (a path, `<eval 1>`...).
    pub name: String,
    /// The text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// A source named `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Rc<Source> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Rc::new(Source {
            name: name.into(),
            text,
            line_starts,
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line, col)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e - 1);
        self.text
            .get(start..end.max(start))
            .unwrap_or("")
            .trim_end_matches('\r')
    }
}

/// One line of a traceback: `file:line in function`.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The source's name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The function's name (`<script>` for top-level code).
    pub function: String,
}

/// A fully located, renderable error.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// `ParseError`, or the error kind (`ZeroDivisionError`, `NameError`...).
    pub kind: String,
    /// The message, without kind or location.
    pub message: String,
    /// The name of the source the error is in (empty when unknown).
    pub file: String,
    /// 1-based line, when the error has a location.
    pub line: Option<usize>,
    /// 1-based column in characters, when the error has a location.
    pub column: Option<usize>,
    /// The text of the error's line, shown under the headline.
    pub source_line: Option<String>,
    /// Most recent call last; empty for parse and compile errors.
    pub traceback: Vec<Frame>,
}

impl Diagnostic {
    /// A diagnostic at `offset` of `src` without a traceback.
    pub fn at(kind: &str, message: impl Into<String>, src: &Source, offset: usize) -> Diagnostic {
        let (line, col) = src.line_col(offset);
        Diagnostic {
            kind: kind.to_string(),
            message: message.into(),
            file: src.name.clone(),
            line: Some(line),
            column: Some(col),
            source_line: Some(src.line_text(line).to_string()),
            traceback: Vec::new(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == "ParseError" {
            writeln!(f, "error: {}", self.message)?;
        } else {
            writeln!(f, "error: {}: {}", self.kind, self.message)?;
        }
        if let (Some(line), Some(col)) = (self.line, self.column) {
            let gutter = line.to_string().len();
            writeln!(f, "{:gutter$}--> {}:{}:{}", "", self.file, line, col)?;
            if let Some(text) = &self.source_line {
                let (shown, caret_col) = window(text, col);
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{line} | {shown}")?;
                // keep tabs so that the caret lines up under the same character
                let pad: String = shown
                    .chars()
                    .take(caret_col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, "{:gutter$} | {pad}^", "")?;
            }
        }
        if !self.traceback.is_empty() {
            writeln!(f, "traceback (most recent call last):")?;
            let mut i = 0;
            while i < self.traceback.len() {
                let fr = &self.traceback[i];
                let mut same = 1;
                while i + same < self.traceback.len() && self.traceback[i + same] == *fr {
                    same += 1;
                }
                // as Python does: a run of identical frames (deep recursion) is shown three times
                for _ in 0..same.min(3) {
                    writeln!(f, "  {}:{} in {}", fr.file, fr.line, fr.function)?;
                }
                if same > 3 {
                    writeln!(f, "  [previous line repeated {} more times]", same - 3)?;
                }
                i += same;
            }
        }
        Ok(())
    }
}

/// Longest source line shown whole; longer ones are cut around the column.
const MAX_SHOWN: usize = 120;

/// The part of `text` to show and the caret's column within it.
fn window(text: &str, col: usize) -> (String, usize) {
    let n = text.chars().count();
    if n <= MAX_SHOWN {
        return (text.to_string(), col);
    }
    let start = col
        .saturating_sub(MAX_SHOWN / 2)
        .min(n.saturating_sub(MAX_SHOWN));
    let body: String = text.chars().skip(start).take(MAX_SHOWN).collect();
    let prefix = if start > 0 { "..." } else { "" };
    let suffix = if start + MAX_SHOWN < n { "..." } else { "" };
    (
        format!("{prefix}{body}{suffix}"),
        col - start + prefix.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_contract() {
        let src = Source::new("demo.proc", "let x = 1\nlet y = 2\n    print(x, y {\n");
        let off = src.text.find('{').unwrap();
        let d = Diagnostic::at("ParseError", "expected `)` or `,`, found `{`", &src, off);
        assert_eq!(
            d.to_string(),
            // the contract's example shows this layout; its caret sits under the
            // brace, at column 16 of this line
            "error: expected `)` or `,`, found `{`\n --> demo.proc:3:16\n  |\n3 |     print(x, y {\n  |                ^\n"
        );
    }

    #[test]
    fn long_lines_and_deep_tracebacks_are_shortened() {
        let long = "x".repeat(1000) + "!";
        let src = Source::new("l.proc", long.clone());
        let d = Diagnostic::at("ParseError", "bad", &src, 1000);
        let text = d.to_string();
        assert!(text.lines().all(|l| l.len() < 200), "{text}");
        assert!(text.contains("x!"));
        let mut d = Diagnostic::at("RecursionError", "deep", &src, 0);
        d.traceback = vec![
            Frame {
                file: "l.proc".into(),
                line: 1,
                function: "f".into()
            };
            50
        ];
        let text = d.to_string();
        assert_eq!(text.matches("in f").count(), 3);
        assert!(text.contains("repeated 47 more times"));
    }

    #[test]
    fn line_col_counts_characters() {
        let src = Source::new("u", "é = 1\nab");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(3), (1, 3));
        assert_eq!(src.line_col(7), (2, 1));
        assert_eq!(src.line_text(2), "ab");
        assert_eq!(src.line_col(1000), (2, 3));
    }
}
