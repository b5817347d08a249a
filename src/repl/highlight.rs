//! Colouring the line being edited: keywords, strings, numbers and comments
//! (from `lexer`), and the bracket matching the one at the cursor. Work is
//! proportional to the line, never to the history.

use super::lexer::{self, Kind, State, Token};

const KEYWORD: &str = "\x1b[1;35m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[36m";
const COMMENT: &str = "\x1b[90m";
const MATCH: &str = "\x1b[1;4;33m";
const RESET: &str = "\x1b[0m";

fn colour(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Keyword => Some(KEYWORD),
        Kind::Str => Some(STRING),
        Kind::Number => Some(NUMBER),
        Kind::Comment => Some(COMMENT),
        Kind::Bracket | Kind::Name | Kind::Punct => None,
    }
}

/// `line` with colour escapes; `cursor` (a byte offset) selects the bracket
/// pair to mark, `None` marks none. The display width is unchanged.
pub fn highlight(line: &str, state: State, cursor: Option<usize>) -> String {
    let (tokens, _) = lexer::scan(line, state);
    let partner = cursor.and_then(|c| matching_bracket(line, &tokens, c));
    let mut out = String::with_capacity(line.len() + 16 * tokens.len());
    let mut at = 0;
    for (i, t) in tokens.iter().enumerate() {
        out.push_str(&line[at..t.start]);
        let code = if partner == Some(i) {
            Some(MATCH)
        } else {
            colour(t.kind)
        };
        match code {
            Some(code) => {
                out.push_str(code);
                out.push_str(&line[t.start..t.end]);
                out.push_str(RESET);
            }
            None => out.push_str(&line[t.start..t.end]),
        }
        at = t.end;
    }
    out.push_str(&line[at..]);
    out
}

fn opening(b: u8) -> Option<u8> {
    match b {
        b')' => Some(b'('),
        b']' => Some(b'['),
        b'}' => Some(b'{'),
        _ => None,
    }
}

/// The index (in `tokens`) of the bracket matching the one under the cursor
/// or just before it; brackets inside strings and comments do not count.
pub fn matching_bracket(line: &str, tokens: &[Token], cursor: usize) -> Option<usize> {
    let bytes = line.as_bytes();
    let is_bracket_at = |pos: usize| {
        tokens
            .iter()
            .position(|t| t.kind == Kind::Bracket && t.start == pos)
    };
    let here = is_bracket_at(cursor).or_else(|| cursor.checked_sub(1).and_then(is_bracket_at))?;
    let brackets: Vec<usize> = (0..tokens.len())
        .filter(|&i| tokens[i].kind == Kind::Bracket)
        .collect();
    let pos = brackets.iter().position(|&i| i == here)?;
    let b = bytes[tokens[here].start];
    if let Some(open) = opening(b) {
        // a closing bracket: walk back to its opener
        let mut depth = 0usize;
        for &i in brackets[..pos].iter().rev() {
            let c = bytes[tokens[i].start];
            if opening(c).is_some() {
                depth += 1;
            } else if depth == 0 {
                return (c == open).then_some(i);
            } else {
                depth -= 1;
            }
        }
        None
    } else {
        let mut depth = 0usize;
        for &i in &brackets[pos + 1..] {
            let c = bytes[tokens[i].start];
            match opening(c) {
                None => depth += 1,
                Some(o) if depth == 0 => return (o == b).then_some(i),
                Some(_) => depth -= 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn colours_keep_the_text() {
        for line in [
            "let x = [1, 2.5, \"s\"] # c",
            "fn f(a) { return a if a else nil }",
            "é = 'ü' + \"\"\"x",
            "",
        ] {
            let h = highlight(line, State::Code, Some(0));
            assert_eq!(strip(&h), line);
        }
        let h = highlight("let x = 1", State::Code, None);
        assert!(h.starts_with(&format!("{KEYWORD}let{RESET}")));
        assert!(h.ends_with(&format!("{NUMBER}1{RESET}")));
    }

    #[test]
    fn a_long_line_takes_microseconds() {
        let line: String = (0..40).map(|i| format!("f({i}, \"s\") + ")).collect();
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(highlight(&line, State::Code, Some(line.len())));
        }
        let per_call = start.elapsed() / 1000;
        eprintln!("highlighting {} bytes: {per_call:?}", line.len());
        assert!(
            per_call < std::time::Duration::from_millis(5),
            "{per_call:?}"
        );
    }

    #[test]
    fn marks_the_matching_bracket() {
        let line = "f(a[1], \")\")";
        let (tokens, _) = lexer::scan(line, State::Code);
        let at = |i: Option<usize>| i.map(|i| tokens[i].start);
        // cursor just after the final `)`: its partner is the `(` at 1
        assert_eq!(at(matching_bracket(line, &tokens, line.len())), Some(1));
        // cursor on `(`: the last `)` (the one in the string does not count)
        assert_eq!(at(matching_bracket(line, &tokens, 1)), Some(line.len() - 1));
        assert_eq!(at(matching_bracket(line, &tokens, 3)), Some(5));
        assert_eq!(
            matching_bracket("(]", &lexer::scan("(]", State::Code).0, 0),
            None
        );
        let h = highlight(line, State::Code, Some(line.len()));
        assert!(h.starts_with(&format!("f{MATCH}({RESET}")));
    }
}
