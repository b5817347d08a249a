//! A small scanner for colouring what is being typed: keywords, strings,
//! numbers, comments and brackets. It only ever sees the entry being edited
//! (never the history), runs on every keystroke, and never fails: text it does
//! not recognise is plain. Whether an entry is *complete* is the parser's
//! question (`syntax::is_complete`), not this scanner's.

/// What a stretch of the line is, for choosing its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Keyword,
    Str,
    Number,
    Comment,
    Bracket,
    Name,
    Punct,
}

/// A token: byte range of the scanned text and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// Where a line starts: in code, or inside a triple-quoted string opened on an
/// earlier line of the same entry (the quote byte).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    Code,
    Triple(u8),
}

/// The keywords of section 2 (and of `grammar/proc.pest`'s `keyword` rule).
pub const KEYWORDS: &[&str] = &[
    "let", "fn", "return", "if", "elif", "else", "while", "for", "in", "break", "continue", "true",
    "false", "nil", "and", "or", "not", "class", "extends", "self", "super", "spawn", "go",
    "yield", "try", "catch", "finally", "throw", "with", "as", "import",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Scans `text` starting in `state`; returns its tokens (whitespace is not a
/// token) and the state at its end.
pub fn scan(text: &str, state: State) -> (Vec<Token>, State) {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    if let State::Triple(q) = state {
        match close_triple(bytes, 0, q) {
            Some(end) => {
                out.push(tok(0, end, Kind::Str));
                i = end;
            }
            None => {
                if !text.is_empty() {
                    out.push(tok(0, text.len(), Kind::Str));
                }
                return (out, state);
            }
        }
    }
    // the last token that was not whitespace: after `.` keywords are names
    let mut after_dot = false;
    while i < bytes.len() {
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        let start = i;
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let string_prefix =
            matches!(c, 'f' | 'b' | 'r') && matches!(bytes.get(i + 1), Some(b'"') | Some(b'\''));
        if c == '"' || c == '\'' || string_prefix {
            let q = if string_prefix { i + 1 } else { i };
            let quote = bytes[q];
            if bytes.get(q + 1) == Some(&quote) && bytes.get(q + 2) == Some(&quote) {
                match close_triple(bytes, q + 3, quote) {
                    Some(end) => i = end,
                    None => {
                        out.push(tok(start, text.len(), Kind::Str));
                        return (out, State::Triple(quote));
                    }
                }
            } else {
                i = close_single(bytes, q + 1, quote);
            }
            out.push(tok(start, i, Kind::Str));
            after_dot = false;
            continue;
        }
        let kind = match c {
            '#' => {
                i = text[i..].find('\n').map_or(text.len(), |n| i + n);
                Kind::Comment
            }
            '0'..='9' => {
                i = number_end(bytes, i);
                Kind::Number
            }
            c if is_name_start(c) => {
                i += text[i..]
                    .find(|c: char| !is_name_char(c))
                    .unwrap_or(text.len() - i);
                if !after_dot && is_keyword(&text[start..i]) {
                    Kind::Keyword
                } else {
                    Kind::Name
                }
            }
            '(' | ')' | '[' | ']' | '{' | '}' => {
                i += 1;
                Kind::Bracket
            }
            _ => {
                i += c.len_utf8();
                Kind::Punct
            }
        };
        after_dot = c == '.';
        out.push(tok(start, i, kind));
    }
    (out, State::Code)
}

fn tok(start: usize, end: usize, kind: Kind) -> Token {
    Token { start, end, kind }
}

/// The end of a triple-quoted string whose body starts at `from`.
fn close_triple(bytes: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote
            && bytes.get(i + 1) == Some(&quote)
            && bytes.get(i + 2) == Some(&quote)
        {
            return Some(i + 3);
        } else {
            i += 1;
        }
    }
    None
}

/// The end of a one-line string whose body starts at `from` (the line's end
/// when it is unterminated).
fn close_single(bytes: &[u8], from: usize, quote: u8) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a number literal: digits, `_`, letters (hex digits, exponents,
/// prefixes), a fraction, and a sign right after an exponent.
fn number_end(bytes: &[u8], from: usize) -> usize {
    let hex = bytes
        .get(from + 1)
        .is_some_and(|b| matches!(b, b'x' | b'X'));
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        let fraction = b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        let sign = matches!(b, b'+' | b'-') && !hex && matches!(bytes[i - 1], b'e' | b'E');
        if b.is_ascii_alphanumeric() || b == b'_' || fraction || sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// The state at the end of a whole (multi-line) text.
pub fn end_state(text: &str) -> State {
    scan(text, State::Code).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&str, Kind)> {
        scan(text, State::Code)
            .0
            .iter()
            .map(|t| (&text[t.start..t.end], t.kind))
            .collect()
    }

    #[test]
    fn tokens_of_a_line() {
        assert_eq!(
            kinds("let s = f\"a{b}\" + 0x1f # hi"),
            vec![
                ("let", Kind::Keyword),
                ("s", Kind::Name),
                ("=", Kind::Punct),
                ("f\"a{b}\"", Kind::Str),
                ("+", Kind::Punct),
                ("0x1f", Kind::Number),
                ("# hi", Kind::Comment),
            ]
        );
        assert_eq!(
            kinds("x.in(1.5e-3)"),
            vec![
                ("x", Kind::Name),
                (".", Kind::Punct),
                ("in", Kind::Name),
                ("(", Kind::Bracket),
                ("1.5e-3", Kind::Number),
                (")", Kind::Bracket),
            ]
        );
    }

    #[test]
    fn strings_hide_keywords_and_brackets() {
        assert_eq!(
            kinds("'if (' \"a\\\"b\""),
            vec![("'if ('", Kind::Str), ("\"a\\\"b\"", Kind::Str)]
        );
        // unterminated one-line string: coloured to the end, no state carried
        let (t, st) = scan("\"abc", State::Code);
        assert_eq!(t.len(), 1);
        assert_eq!(st, State::Code);
    }

    #[test]
    fn triple_quoted_strings_carry_over_lines() {
        let (_, st) = scan("let s = \"\"\"one", State::Code);
        assert_eq!(st, State::Triple(b'"'));
        let (t, st2) = scan("two", st);
        assert_eq!(t, vec![tok(0, 3, Kind::Str)]);
        assert_eq!(st2, st);
        let (t, st3) = scan("end\"\"\" + 1", st);
        assert_eq!(t[0], tok(0, 6, Kind::Str));
        assert_eq!(t[2].kind, Kind::Number);
        assert_eq!(st3, State::Code);
        assert_eq!(end_state("x = '''a\nb'''"), State::Code);
    }

    #[test]
    fn never_panics_on_random_text() {
        // every tricky character, in pseudo-random order (a fixed LCG)
        let alphabet: Vec<char> = "aéf b'\"\\#.0x1e+-([{}])\n\t😀_:".chars().collect();
        let mut seed: u64 = 7;
        let interp = crate::Interpreter::new();
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            for start in [State::Code, State::Triple(b'"')] {
                let (tokens, _) = scan(&text, start);
                for t in &tokens {
                    assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
                }
                for cursor in 0..=text.len() {
                    let h = crate::repl::highlight::highlight(&text, start, Some(cursor));
                    assert!(h.len() >= text.len());
                }
            }
            for pos in 0..=text.len() {
                let _ = crate::repl::complete::complete(&interp.vm, &text, pos, State::Code);
            }
        }
    }

    #[test]
    fn never_panics_on_odd_text() {
        for text in [
            "é\"", "1e", "0x", "'", "\\", "\"\"\"\\", "f", "b'", "1.", "#", "é.é",
        ] {
            let _ = scan(text, State::Code);
            let _ = scan(text, State::Triple(b'\''));
        }
    }
}
